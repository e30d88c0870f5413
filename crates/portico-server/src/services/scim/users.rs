//! SCIM Users: create, read, replace, patch, delete and search, each write in one transaction
//! with its effects on access ([`super::effects`]) and its audit event.

use portico_store::audit;
use portico_store::scim::groups::{self, Member};
use portico_store::scim::users::{self, ScimUser, UserFields, USER_NAME_UNIQUE};
use portico_store::scim::Kind;
use portico_store::StoreError;
use serde_json::{json, Value};

use super::query::{ListParams, RawParams};
use super::resource::{render_user, scim_error, user_input, UserInput, LIST_SCHEMA, USER_SCHEMA};
use super::{check_if_match, effects, patch, Scope};
use crate::error::{ApiError, ScimFault};

fn fields(i: &UserInput) -> UserFields<'_> {
    UserFields {
        user_name: &i.user_name,
        external_id: i.external_id.as_deref(),
        primary_email: i.primary_email.as_deref(),
        display_name: i.display_name.as_deref(),
        active: i.active,
        resource: &i.resource,
    }
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(c) if c == USER_NAME_UNIQUE => scim_error(
            ScimFault::Uniqueness,
            "a user with this userName already exists in the directory",
        ),
        other => other.into(),
    }
}

fn not_found() -> ApiError {
    scim_error(ScimFault::NotFound, "no such user")
}

async fn render(s: &Scope<'_>, u: &ScimUser) -> Result<Value, ApiError> {
    let g = groups::groups_of(&s.state.db, std::slice::from_ref(&u.id)).await?;
    Ok(render_user(u, &g.iter().collect::<Vec<&Member>>(), &s.base()))
}

/// POST /Users.
pub async fn create(s: &Scope<'_>, body: Value) -> Result<Value, ApiError> {
    let input = user_input(body)?;
    let mut tx = s.state.db.begin().await?;
    let id = portico_core::ids::prefixed("scu_");
    let u = users::insert(&mut *tx, &id, &s.dir.id, &fields(&input))
        .await
        .map_err(store_err)?;
    effects::sync_user(&mut tx, s.dir, &u, s.ctx).await?;
    let u = users::get(&mut *tx, &s.dir.id, &id, false)
        .await?
        .ok_or_else(not_found)?;
    audit::record(&mut *tx, effects::event(s.dir, s.ctx, "scim.user.create", &u.id)).await?;
    tx.commit().await?;
    Ok(render_user(&u, &[], &s.base()))
}

/// GET /Users/{id}.
pub async fn get(s: &Scope<'_>, id: &str) -> Result<(Value, i64), ApiError> {
    let u = users::get(&s.state.db, &s.dir.id, id, false)
        .await?
        .ok_or_else(not_found)?;
    Ok((render(s, &u).await?, u.version))
}

async fn write(
    s: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    change: impl FnOnce(&ScimUser) -> Result<UserInput, ApiError>,
) -> Result<(Value, i64), ApiError> {
    let mut tx = s.state.db.begin().await?;
    let cur = users::get(&mut *tx, &s.dir.id, id, true).await?.ok_or_else(not_found)?;
    check_if_match(if_match, cur.version)?;
    let input = change(&cur)?;
    let u = users::update(&mut *tx, &s.dir.id, id, &fields(&input))
        .await
        .map_err(store_err)?;
    effects::sync_user(&mut tx, s.dir, &u, s.ctx).await?;
    let u = users::get(&mut *tx, &s.dir.id, id, false)
        .await?
        .ok_or_else(not_found)?;
    let mut e = effects::event(s.dir, s.ctx, "scim.user.update", id);
    if cur.active != u.active {
        e.details = Some(json!({ "directoryId": s.dir.id, "active": u.active }));
    }
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok((render(s, &u).await?, u.version))
}

/// PUT /Users/{id}: the whole resource.
pub async fn replace(s: &Scope<'_>, id: &str, if_match: Option<&str>, body: Value) -> Result<(Value, i64), ApiError> {
    write(s, id, if_match, |_| user_input(body)).await
}

/// PATCH /Users/{id}.
pub async fn patch(s: &Scope<'_>, id: &str, if_match: Option<&str>, body: Value) -> Result<(Value, i64), ApiError> {
    write(s, id, if_match, |cur| {
        let mut res = cur.resource.clone();
        if let Some(o) = res.as_object_mut() {
            o.insert("userName".into(), json!(cur.user_name));
        }
        patch::apply(&mut res, &body)?;
        user_input(res)
    })
    .await
}

/// DELETE /Users/{id}: the person's access to the organization is suspended at once.
pub async fn delete(s: &Scope<'_>, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
    let mut tx = s.state.db.begin().await?;
    let cur = users::get(&mut *tx, &s.dir.id, id, true).await?.ok_or_else(not_found)?;
    check_if_match(if_match, cur.version)?;
    // The row goes first, then the membership: group writes lock the user row (by their
    // foreign key) before the membership, so this order cannot deadlock with them. The groups'
    // versions are not bumped, for the same reason.
    users::delete(&mut *tx, &s.dir.id, id).await?;
    effects::deprovision(&mut tx, s.dir, &cur, s.ctx).await?;
    audit::record(&mut *tx, effects::event(s.dir, s.ctx, "scim.user.delete", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// GET /Users and POST /Users/.search: a ListResponse.
pub async fn list(s: &Scope<'_>, raw: &RawParams) -> Result<Value, ApiError> {
    let p: ListParams = raw.validate(Kind::User)?;
    let (total, rows) = users::search(&s.state.db, &s.dir.id, p.filter.as_ref(), p.start_index - 1, p.count).await?;
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let memberships = if ids.is_empty() {
        Vec::new()
    } else {
        groups::groups_of(&s.state.db, &ids).await?
    };
    let base = s.base();
    let resources: Vec<Value> = rows
        .iter()
        .map(|u| {
            let g: Vec<&Member> = memberships.iter().filter(|m| m.user_id == u.id).collect();
            p.projection.apply(render_user(u, &g, &base), USER_SCHEMA)
        })
        .collect();
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": p.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}
