//! OIDC mix-up through the shared callback (RFC 9700 §4.4, SPEC §3): with one redirect URI for
//! every IdP, an attacker's IdP can bounce a person to another organization's IdP and have its
//! code sent to the attacker's token endpoint. Two protections:
//! - RFC 9207 `iss`, checked by the OIDC adapter (when sent; required when the provider
//!   advertises it, for the logins answered at Portico's own callback);
//! - the opt-in dedicated callback, here: a connection with `dedicatedCallback` sends its
//!   browser logins to `{public_url}/api/auth/sso/callback/{connectionId}`, and a transaction
//!   that comes back on another connection's path, or on the shared path when its connection has
//!   a dedicated one, is refused (`CALLBACK_MISMATCH`) before any code is exchanged.

use portico_core::connection::Protocol;
use portico_store::connections::Connection;

use super::failure::{Failure, Kind};
use crate::config::Settings;
use crate::services::connections::settings::{OidcSettings, ProtocolFields};

/// The dedicated callback URL of connection `id`.
pub fn dedicated_url(settings: &Settings, id: &str) -> String {
    format!("{}/{id}", settings.callback_url())
}

/// True when `conn` is an OIDC connection with `dedicatedCallback` (settings that cannot be
/// read count as no: every login then fails on them anyway).
fn has_dedicated(conn: &Connection) -> bool {
    conn.protocol == Protocol::Oidc && OidcSettings::of(conn).is_ok_and(|s| s.dedicated())
}

/// Where `conn`'s browser logins come back: its dedicated callback, else `shared`.
pub(super) fn browser_redirect_uri(settings: &Settings, conn: &Connection, shared: String) -> String {
    if has_dedicated(conn) {
        dedicated_url(settings, &conn.id)
    } else {
        shared
    }
}

/// Refuses a browser OIDC transaction of `conn` that arrived on the wrong path: `arrived_on` is
/// the connection id of a dedicated callback path, `None` for the shared one.
pub(super) fn check_arrival(conn: &Connection, arrived_on: Option<&str>) -> Result<(), Failure> {
    let refused = |reason: String| Err(Failure::on(conn, Kind::Invalid, "CALLBACK_MISMATCH", reason));
    match arrived_on {
        Some(path_id) if path_id != conn.id => refused(format!(
            "a transaction of connection {} arrived on the dedicated callback of {:.40} (mix-up)",
            conn.id, path_id
        )),
        None if has_dedicated(conn) => refused(format!(
            "a transaction of connection {}, which has a dedicated callback, arrived on the shared one (mix-up)",
            conn.id
        )),
        _ => Ok(()),
    }
}
