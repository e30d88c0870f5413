//! SCIM Groups. Every write locks the group row first (`FOR UPDATE`), so concurrent PATCHes of
//! one group apply one after another and none loses another's members; a member id that is
//! not a user of the directory refuses the whole request (400 `invalidValue`, nothing written).

use portico_store::audit;
use portico_store::scim::groups::{self, Member, ScimGroup};
use portico_store::scim::Kind;
use serde_json::{json, Value};

use super::query::RawParams;
use super::resource::{group_input, invalid_value, render_group, scim_error, GroupInput, GROUP_SCHEMA, LIST_SCHEMA};
use super::{check_if_match, effects, patch, Scope};
use crate::error::{ApiError, ScimFault};

fn not_found() -> ApiError {
    scim_error(ScimFault::NotFound, "no such group")
}

async fn render(s: &Scope<'_>, g: &ScimGroup) -> Result<Value, ApiError> {
    let m = groups::members_of(&s.state.db, std::slice::from_ref(&g.id)).await?;
    Ok(render_group(g, &m.iter().collect::<Vec<&Member>>(), &s.base()))
}

async fn check_members(tx: &mut sqlx::PgConnection, s: &Scope<'_>, ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = groups::existing_users(&mut *tx, &s.dir.id, ids).await?;
    if let Some(missing) = ids.iter().find(|i| !found.contains(i)) {
        return Err(invalid_value(format!(
            "member {missing:?} is not a user of this directory"
        )));
    }
    Ok(())
}

/// Sets the members of `group` to `want`; returns the users whose membership changed, sorted
/// (a fixed lock order for the role updates that follow).
async fn set_members(
    tx: &mut sqlx::PgConnection,
    s: &Scope<'_>,
    group: &str,
    want: &[String],
) -> Result<Vec<String>, ApiError> {
    let current = groups::member_ids(&mut *tx, group).await?;
    let added: Vec<String> = want.iter().filter(|w| !current.contains(w)).cloned().collect();
    check_members(tx, s, &added).await?;
    let mut changed = groups::remove_all_but(&mut *tx, group, want).await?;
    changed.extend(groups::add_members(&mut *tx, group, &added).await?);
    changed.sort();
    changed.dedup();
    Ok(changed)
}

async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    s: &Scope<'_>,
    g: &ScimGroup,
    changed: &[String],
    action: &'static str,
) -> Result<(), ApiError> {
    effects::groups_changed(&mut tx, s.dir, changed, s.ctx).await?;
    let mut e = effects::event(s.dir, s.ctx, action, &g.id);
    e.details = Some(json!({ "directoryId": s.dir.id, "membersChanged": changed.len() }));
    audit::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(())
}

/// POST /Groups.
pub async fn create(s: &Scope<'_>, body: Value) -> Result<Value, ApiError> {
    let input = group_input(body)?;
    let mut tx = s.state.db.begin().await?;
    check_members(&mut tx, s, &input.members).await?;
    let id = portico_core::ids::prefixed("scg_");
    let g = groups::insert(
        &mut *tx,
        &id,
        &s.dir.id,
        &input.display_name,
        input.external_id.as_deref(),
        &input.resource,
    )
    .await?;
    let mut changed = groups::add_members(&mut *tx, &id, &input.members).await?;
    changed.sort();
    finish(tx, s, &g, &changed, "scim.group.create").await?;
    render(s, &g).await
}

/// GET /Groups/{id}.
pub async fn get(s: &Scope<'_>, id: &str, with_members: bool) -> Result<(Value, i64), ApiError> {
    let g = groups::get(&s.state.db, &s.dir.id, id, false)
        .await?
        .ok_or_else(not_found)?;
    let v = if with_members {
        render(s, &g).await?
    } else {
        render_group(&g, &[], &s.base())
    };
    Ok((v, g.version))
}

async fn write(
    s: &Scope<'_>,
    id: &str,
    if_match: Option<&str>,
    change: impl FnOnce(&ScimGroup, &[String]) -> Result<GroupInput, ApiError>,
) -> Result<(Value, i64), ApiError> {
    let mut tx = s.state.db.begin().await?;
    let cur = groups::get(&mut *tx, &s.dir.id, id, true)
        .await?
        .ok_or_else(not_found)?;
    check_if_match(if_match, cur.version)?;
    let members = groups::member_ids(&mut *tx, id).await?;
    let input = change(&cur, &members)?;
    let mut changed = set_members(&mut tx, s, id, &input.members).await?;
    if !input.display_name.eq_ignore_ascii_case(&cur.display_name) {
        // A renamed group may gain or lose a mapping: every member before and after is re-applied.
        changed.extend(members.iter().chain(&input.members).cloned());
        changed.sort();
        changed.dedup();
    }
    let g = groups::update(
        &mut *tx,
        &s.dir.id,
        id,
        &input.display_name,
        input.external_id.as_deref(),
        &input.resource,
    )
    .await?;
    finish(tx, s, &g, &changed, "scim.group.update").await?;
    Ok((render(s, &g).await?, g.version))
}

/// PUT /Groups/{id}: the whole resource, members included.
pub async fn replace(s: &Scope<'_>, id: &str, if_match: Option<&str>, body: Value) -> Result<(Value, i64), ApiError> {
    write(s, id, if_match, |_, _| group_input(body)).await
}

/// PATCH /Groups/{id}: operations over the group with its members as `members: [{value}]`.
pub async fn patch(s: &Scope<'_>, id: &str, if_match: Option<&str>, body: Value) -> Result<(Value, i64), ApiError> {
    write(s, id, if_match, |cur, members| {
        let mut res = cur.resource.clone();
        if let Some(o) = res.as_object_mut() {
            o.insert("displayName".into(), json!(cur.display_name));
            let list: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
            o.insert("members".into(), Value::Array(list));
        }
        patch::apply(&mut res, &body)?;
        group_input(res)
    })
    .await
}

/// DELETE /Groups/{id}.
pub async fn delete(s: &Scope<'_>, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
    let mut tx = s.state.db.begin().await?;
    let cur = groups::get(&mut *tx, &s.dir.id, id, true)
        .await?
        .ok_or_else(not_found)?;
    check_if_match(if_match, cur.version)?;
    let members = groups::member_ids(&mut *tx, id).await?;
    groups::delete(&mut *tx, &s.dir.id, id).await?;
    finish(tx, s, &cur, &members, "scim.group.delete").await
}

/// GET /Groups and POST /Groups/.search.
pub async fn list(s: &Scope<'_>, raw: &RawParams) -> Result<Value, ApiError> {
    let p = raw.validate(Kind::Group)?;
    let (total, rows) = groups::search(&s.state.db, &s.dir.id, p.filter.as_ref(), p.start_index - 1, p.count).await?;
    let probe = p.projection.apply(json!({ "members": [] }), GROUP_SCHEMA);
    let ids: Vec<String> = rows.iter().map(|g| g.id.clone()).collect();
    let members = if ids.is_empty() || probe.get("members").is_none() {
        Vec::new()
    } else {
        groups::members_of(&s.state.db, &ids).await?
    };
    let base = s.base();
    let resources: Vec<Value> = rows
        .iter()
        .map(|g| {
            let m: Vec<&Member> = members.iter().filter(|m| m.group_id == g.id).collect();
            p.projection.apply(render_group(g, &m, &base), GROUP_SCHEMA)
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
