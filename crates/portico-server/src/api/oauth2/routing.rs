//! Where an authorization request goes: the browser's live Portico session that may answer it,
//! and the organization's connection named by `connection`, `organization`, `login_hint` or
//! `domain_hint` (SPEC §6 routing, the same domain rules as `/sso/login`).

use std::collections::HashMap;

use axum::http::HeaderMap;
use portico_core::account::UserStatus;
use portico_core::token;
use portico_store::connections::{self, Connection};
use portico_store::{orgs, sessions};

use crate::auth::{cookie, SESSION_COOKIE};
use crate::error::ApiError;
use crate::services::signin;
use crate::state::AppState;

/// A live SSO session presented by the browser: (id, user id, auth time, organization, connection).
pub(super) async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<sessions::SessionView>, ApiError> {
    let Some(t) = cookie(headers, SESSION_COOKIE).filter(|t| t.len() <= 256) else {
        return Ok(None);
    };
    let s = sessions::live_by_digest(&state.db, &token::digest(&t)).await?;
    Ok(s.filter(|s| {
        s.user_status == UserStatus::Active && s.session.method.is_sso() && s.session.connection_id.is_some()
    }))
}

/// The routing decision.
pub(super) enum Route {
    /// The connection the hints name.
    To(Box<Connection>),
    /// The hints name nothing known here: the plain message for the sign-in page.
    Unknown(String),
    /// No hint: the sign-in page.
    None,
}

/// Routing, first that applies: `connection`, `organization`, `login_hint`/`domain_hint`.
pub(super) async fn route(state: &AppState, q: &HashMap<&str, &str>) -> Result<Route, ApiError> {
    if let Some(id) = q.get("connection") {
        let c = match id.starts_with("sso_") && id.len() <= 40 {
            true => connections::by_id(&state.db, id, None).await?,
            false => None,
        };
        return Ok(c.filter(|c| c.status.is_active()).map_or_else(
            || Route::Unknown("That sign-in connection does not exist.".into()),
            |c| Route::To(Box::new(c)),
        ));
    }
    if let Some(o) = q.get("organization") {
        let org = match orgs::by_id(&state.db, o).await? {
            Some(org) => Some(org),
            None if portico_core::slug::is_valid(o) => orgs::by_slug(&state.db, o).await?,
            None => None,
        };
        let Some(org) = org else {
            return Ok(Route::Unknown("That organization does not exist.".into()));
        };
        return match signin::pick_connection(state, &org, None, true).await {
            Ok(c) => Ok(Route::To(Box::new(c))),
            // No default connection (only `settings/sso` sets one): the organization's only
            // active connection, such as an LDAP directory made through the connections API.
            Err(ApiError::NotFound(_)) => Ok(only_active(state, &org.id).await?.map_or_else(
                || Route::Unknown("That organization has no single sign-on set up.".into()),
                |c| Route::To(Box::new(c)),
            )),
            Err(e) => Err(e),
        };
    }
    let domain = match (q.get("login_hint"), q.get("domain_hint")) {
        (Some(h), _) if h.contains('@') => portico_core::domain::of_email(h),
        (_, Some(d)) => portico_core::domain::normalize(d).ok(),
        _ => None,
    };
    let Some(domain) = domain else { return Ok(Route::None) };
    if let Some((_org, conn)) = crate::services::domains::sso_route(state, &domain).await? {
        return Ok(Route::To(Box::new(conn)));
    }
    // No organization verified the domain: a connection's own domain list routes it only when
    // exactly one organization claims it (verified domains stay authoritative at admission).
    let claiming = connections::active_claiming(&state.db, &domain).await?;
    let mut orgs_of = claiming.iter().map(|c| c.organization_id.as_str()).collect::<Vec<_>>();
    orgs_of.dedup();
    if orgs_of.len() == 1 {
        if let Some(c) = claiming.into_iter().next() {
            return Ok(Route::To(Box::new(c)));
        }
    }
    Ok(Route::Unknown(format!(
        "No organization signs in with {domain} addresses here. Check the address, or ask your administrator."
    )))
}

/// The organization's only active connection (None with none or several).
async fn only_active(state: &AppState, org_id: &str) -> Result<Option<Connection>, ApiError> {
    let mut active = connections::for_org(&state.db, org_id)
        .await?
        .into_iter()
        .filter(|c| c.status.is_active());
    Ok(match (active.next(), active.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    })
}
