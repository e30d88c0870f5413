//! SCIM resources in and out: what a client sends is normalised (known attribute names to their
//! canonical case, Entra's `"True"`/`"False"` strings to booleans, read-only and write-only
//! attributes dropped, unknown attributes and undeclared extensions kept so they round-trip),
//! and rows are rendered with `id`, `schemas`, `meta` and the membership attribute.

use portico_store::scim::filter::canonical;
use portico_store::scim::groups::{Member, ScimGroup};
use portico_store::scim::users::ScimUser;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ScimFault};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The ListResponse message.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The PatchOp message.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM error (RFC 7644 §3.12): the fault becomes `scimType` (its status is decided in
/// [`crate::error`]), `detail` the human text.
pub fn scim_error(fault: ScimFault, detail: impl Into<String>) -> ApiError {
    ApiError::Scim {
        fault,
        message: detail.into(),
    }
}

/// 400 `invalidValue`.
pub fn invalid_value(detail: impl Into<String>) -> ApiError {
    scim_error(ScimFault::InvalidValue, detail)
}

/// The normalised fields of a user resource.
#[derive(Debug)]
pub struct UserInput {
    /// The resource to store.
    pub resource: Value,
    /// `userName`.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Linking address.
    pub primary_email: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `active`.
    pub active: bool,
}

/// The normalised fields of a group resource; members apart.
#[derive(Debug)]
pub struct GroupInput {
    /// The resource to store.
    pub resource: Value,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Member ids, deduplicated, in order.
    pub members: Vec<String>,
}

/// `"True"`/`"false"` strings as booleans (Entra sends them).
pub fn loose_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Canonical key case, boolean strings fixed, `$ref: null` dropped, recursively.
pub fn normalise(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = if k.contains(':') { k } else { canonical(&k) };
                if v.is_null() && key == "$ref" {
                    continue;
                }
                let v = if matches!(key.as_str(), "active" | "primary") {
                    loose_bool(&v).map(Value::Bool).unwrap_or(v)
                } else {
                    normalise(v)
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_value(format!("{key} must be a string"))),
    }
}

/// Checks and normalises a user resource (POST, PUT, or the result of a PATCH).
pub fn user_input(body: Value) -> Result<UserInput, ApiError> {
    let Value::Object(m) = normalise(body) else {
        return Err(scim_error(ScimFault::InvalidSyntax, "the body must be a JSON object"));
    };
    let mut m = m;
    for k in ["id", "meta", "groups", "password", "schemas"] {
        m.remove(k);
    }
    let user_name = match m.get("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 512 => s.clone(),
        Some(Value::String(_)) => return Err(invalid_value("userName must be 1-512 characters")),
        None | Some(Value::Null) => return Err(invalid_value("userName is required")),
        Some(_) => return Err(invalid_value("userName must be a string")),
    };
    // An absent `active` (never sent, or removed) leaves the user active and unassigned.
    let active = match m.get("active") {
        None => true,
        Some(Value::Null) => {
            m.remove("active");
            true
        }
        Some(v) => {
            let a = loose_bool(v).ok_or_else(|| invalid_value("active must be a boolean"))?;
            m.insert("active".into(), Value::Bool(a));
            a
        }
    };
    let external_id = opt_string(&m, "externalId")?;
    let display_name = opt_string(&m, "displayName")?;
    if external_id.as_ref().is_some_and(|e| e.len() > 512) {
        return Err(invalid_value("externalId is longer than 512 characters"));
    }
    if m.get("emails").is_some_and(|e| !e.is_array() && !e.is_null()) {
        return Err(invalid_value("emails must be an array"));
    }
    let primary_email = linking_email(&m, &user_name);
    Ok(UserInput {
        resource: Value::Object(m),
        user_name,
        external_id,
        primary_email,
        display_name,
        active,
    })
}

/// The address a SCIM user is linked by: the primary email, else the first work email, else
/// `userName` when it is an address.
fn linking_email(m: &Map<String, Value>, user_name: &str) -> Option<String> {
    let emails: Vec<&Map<String, Value>> = m
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let value = |e: &&Map<String, Value>| e.get("value").and_then(Value::as_str).map(str::to_owned);
    emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                .and_then(value)
        })
        .or_else(|| user_name.contains('@').then(|| user_name.to_owned()))
        .filter(|e| is_email(e))
}

/// A plausible address: one `@`, something each side, no spaces, short enough.
pub fn is_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 320
}

/// Checks and normalises a group resource.
pub fn group_input(body: Value) -> Result<GroupInput, ApiError> {
    let Value::Object(m) = normalise(body) else {
        return Err(scim_error(ScimFault::InvalidSyntax, "the body must be a JSON object"));
    };
    let mut m = m;
    for k in ["id", "meta", "schemas"] {
        m.remove(k);
    }
    let display_name = match m.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 512 => s.clone(),
        None | Some(Value::Null) => return Err(invalid_value("displayName is required")),
        Some(_) => return Err(invalid_value("displayName must be a 1-512 character string")),
    };
    let external_id = opt_string(&m, "externalId")?;
    let members = member_ids(m.remove("members").unwrap_or(Value::Null))?;
    Ok(GroupInput {
        resource: Value::Object(m),
        display_name,
        external_id,
        members,
    })
}

/// The ids named by a `members` value (an array of `{value}` objects, or one such object).
pub fn member_ids(v: Value) -> Result<Vec<String>, ApiError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(invalid_value("members must be an array of {\"value\": id}")),
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        let id = i
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_value("each member needs a string value (the member's id)"))?;
        if !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

/// `W/"<version>"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn meta(
    kind: &str,
    base: &str,
    id: &str,
    created: &chrono::DateTime<chrono::Utc>,
    modified: &chrono::DateTime<chrono::Utc>,
    version: i64,
) -> Value {
    let plural = if kind == "User" { "Users" } else { "Groups" };
    json!({
        "resourceType": kind,
        "created": created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModified": modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "location": format!("{base}/{plural}/{id}"),
        "version": etag(version),
    })
}

fn schemas_of(core: &str, m: &Map<String, Value>) -> Value {
    let mut s = vec![Value::String(core.to_owned())];
    for k in m
        .keys()
        .filter(|k| k.starts_with("urn:") && m.get(*k).is_some_and(Value::is_object))
    {
        s.push(Value::String(k.clone()));
    }
    Value::Array(s)
}

/// A user as SCIM shows it; `groups` are its memberships.
pub fn render_user(u: &ScimUser, groups: &[&Member], base: &str) -> Value {
    let mut m = u.resource.as_object().cloned().unwrap_or_default();
    m.insert("schemas".into(), schemas_of(USER_SCHEMA, &m));
    m.insert("id".into(), json!(u.id));
    m.insert("userName".into(), json!(u.user_name));
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| json!({"value": g.group_id, "display": g.group_display, "$ref": format!("{base}/Groups/{}", g.group_id), "type": "direct"}))
        .collect();
    m.insert("groups".into(), Value::Array(groups));
    m.insert(
        "meta".into(),
        meta("User", base, &u.id, &u.created_at, &u.updated_at, u.version),
    );
    Value::Object(m)
}

/// A group as SCIM shows it.
pub fn render_group(g: &ScimGroup, members: &[&Member], base: &str) -> Value {
    let mut m = g.resource.as_object().cloned().unwrap_or_default();
    m.insert("schemas".into(), schemas_of(GROUP_SCHEMA, &m));
    m.insert("id".into(), json!(g.id));
    m.insert("displayName".into(), json!(g.display_name));
    let members: Vec<Value> = members
        .iter()
        // `display` is not returned: it is optional and read-only (RFC 7643 §4.2), and a value
        // the client did not send fails clients that compare members as they patched them.
        .map(|x| json!({"value": x.user_id, "$ref": format!("{base}/Users/{}", x.user_id), "type": "User"}))
        .collect();
    m.insert("members".into(), Value::Array(members));
    m.insert(
        "meta".into(),
        meta("Group", base, &g.id, &g.created_at, &g.updated_at, g.version),
    );
    Value::Object(m)
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9), comma-separated, case-insensitive.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    include: Vec<(Option<String>, String, Option<String>)>,
    exclude: Vec<(Option<String>, String, Option<String>)>,
}

fn parse_attr_list(s: &str) -> Vec<(Option<String>, String, Option<String>)> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (uri, rest) = match a.rfind(':') {
                Some(i) if a.starts_with("urn:") => (Some(a[..i].to_ascii_lowercase()), &a[i + 1..]),
                _ => (None, a),
            };
            let (name, sub) = match rest.split_once('.') {
                Some((n, s)) => (n, Some(s.to_ascii_lowercase())),
                None => (rest, None),
            };
            (uri, name.to_ascii_lowercase(), sub)
        })
        .collect()
}

impl Projection {
    /// From the query parameters.
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        Self {
            include: attributes.map(parse_attr_list).unwrap_or_default(),
            exclude: excluded.map(parse_attr_list).unwrap_or_default(),
        }
    }

    /// Applies the projection to a rendered resource (`id`, `schemas` and `meta` always stay).
    pub fn apply(&self, v: Value, core: &str) -> Value {
        let Value::Object(mut m) = v else { return v };
        let core = core.to_ascii_lowercase();
        let always = |k: &str| matches!(k, "id" | "schemas" | "meta");
        if !self.include.is_empty() {
            let mut out = Map::new();
            for (k, val) in m {
                if always(&k) {
                    out.insert(k, val);
                    continue;
                }
                if k.starts_with("urn:") {
                    let uri = k.to_ascii_lowercase();
                    let Value::Object(ext) = val else { continue };
                    let whole = self
                        .include
                        .iter()
                        .any(|(u, n, _)| u.as_deref().is_some_and(|u| format!("{u}:{n}") == uri));
                    if whole {
                        out.insert(k, Value::Object(ext));
                        continue;
                    }
                    let kept: Map<String, Value> = ext
                        .into_iter()
                        .filter(|(ek, _)| {
                            self.include
                                .iter()
                                .any(|(u, n, _)| u.as_deref() == Some(uri.as_str()) && *n == ek.to_ascii_lowercase())
                        })
                        .collect();
                    if !kept.is_empty() {
                        out.insert(k, Value::Object(kept));
                    }
                    continue;
                }
                let lk = k.to_ascii_lowercase();
                let rules: Vec<&Option<String>> = self
                    .include
                    .iter()
                    .filter(|(u, n, _)| (u.is_none() || u.as_deref() == Some(core.as_str())) && *n == lk)
                    .map(|(_, _, s)| s)
                    .collect();
                if rules.is_empty() {
                    continue;
                }
                if rules.iter().any(|s| s.is_none()) {
                    out.insert(k, val);
                } else {
                    let subs: Vec<String> = rules.iter().filter_map(|s| (*s).clone()).collect();
                    out.insert(k, keep_subs(val, &subs));
                }
            }
            m = out;
        }
        for (u, n, s) in &self.exclude {
            if u.as_deref().is_some_and(|u| u != core) {
                let Some(key) = m
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(u.as_deref().unwrap_or_default()))
                    .cloned()
                else {
                    continue;
                };
                if let Some(Value::Object(ext)) = m.get_mut(&key) {
                    ext.retain(|k, _| !k.eq_ignore_ascii_case(n));
                }
                continue;
            }
            if always(n) {
                continue;
            }
            let Some(key) = m.keys().find(|k| k.eq_ignore_ascii_case(n)).cloned() else {
                continue;
            };
            match s {
                None => {
                    m.remove(&key);
                }
                Some(sub) => {
                    if let Some(v) = m.get_mut(&key) {
                        drop_sub(v, sub);
                    }
                }
            }
        }
        Value::Object(m)
    }
}

fn keep_subs(v: Value, subs: &[String]) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| subs.contains(&k.to_ascii_lowercase()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|e| keep_subs(e, subs)).collect()),
        other => other,
    }
}

fn drop_sub(v: &mut Value, sub: &str) {
    match v {
        Value::Object(o) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(a) => a.iter_mut().for_each(|e| drop_sub(e, sub)),
        _ => {}
    }
}
