//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource held as JSON (a group's members included
//! as `members: [{value}]`), accepting what real clients send on purpose: Entra's capitalised
//! `Add`/`Replace`/`Remove`, a path-less `replace` whose value names dotted or extension
//! attributes, `remove` of `members` with the members in `value` (removes those only), and a
//! `replace` of a value path that matches nothing (Entra's `emails[type eq "work"].value` on a
//! user without one) creating the element from the filter's `eq` terms.

use std::str::FromStr;

use portico_store::scim::filter::canonical;
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::resource::{invalid_value, normalise, scim_error};
use crate::error::{ApiError, ScimFault};

/// One operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies the `Operations` of a PatchOp body to `res` (an object with canonical keys).
pub fn apply(res: &mut Value, body: &Value) -> Result<(), ApiError> {
    let ops = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("operations")))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| scim_error(ScimFault::InvalidSyntax, "a PatchOp body needs an Operations array"))?;
    if ops.len() > 1000 {
        return Err(scim_error(ScimFault::TooMany, "at most 1000 operations per PATCH"));
    }
    for o in ops {
        let obj = o
            .as_object()
            .ok_or_else(|| scim_error(ScimFault::InvalidSyntax, "each operation must be an object"))?;
        let field = |name: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let op = match field("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            _ => {
                return Err(scim_error(
                    ScimFault::InvalidSyntax,
                    "op must be add, replace or remove",
                ))
            }
        };
        let value = field("value").cloned().map(normalise);
        let path = match field("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => return Err(scim_error(ScimFault::InvalidPath, "path must be a string")),
        };
        match path {
            None => pathless(res, op, value)?,
            Some(p) => with_path(res, op, &p, value)?,
        }
    }
    Ok(())
}

fn pathless(res: &mut Value, op: Op, value: Option<Value>) -> Result<(), ApiError> {
    if op == Op::Remove {
        return Err(scim_error(ScimFault::NoTarget, "remove needs a path"));
    }
    let Some(Value::Object(m)) = value else {
        return Err(invalid_value("an operation without a path needs an object value"));
    };
    for (k, v) in m {
        // `name.familyName`, `urn:…:User:department` and whole extensions (`urn:…:User`) alike
        with_path(res, op, &k, Some(v))?;
    }
    Ok(())
}

/// An operation whose path is a whole schema extension (`urn:…:User`).
fn extension(res: &mut Value, op: Op, urn: &str, value: Option<Value>) -> Result<(), ApiError> {
    match (op, value) {
        (Op::Remove, _) => {
            if let Some(root) = res.as_object_mut() {
                root.retain(|k, _| !k.eq_ignore_ascii_case(urn));
            }
            Ok(())
        }
        (_, Some(Value::Object(ext))) => {
            for (k, v) in ext {
                set_attr(res, op, Some(urn), &canonical(&k), None, v)?;
            }
            Ok(())
        }
        _ => Err(invalid_value("an extension's value must be an object")),
    }
}

fn is_schema_urn(k: &str) -> bool {
    let last = k.rsplit(':').next().unwrap_or_default();
    last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn parse_path(p: &str) -> Result<PatchPath, ApiError> {
    if p.len() > 400 {
        return Err(scim_error(ScimFault::InvalidPath, "path is too long"));
    }
    PatchPath::from_str(p).map_err(|_| scim_error(ScimFault::InvalidPath, format!("{p:?} is not a valid path")))
}

fn with_path(res: &mut Value, op: Op, p: &str, value: Option<Value>) -> Result<(), ApiError> {
    if p.starts_with("urn:") && is_schema_urn(p) {
        return extension(res, op, p, value);
    }
    match parse_path(p)? {
        PatchPath::Attr(a) => {
            let name = canonical(&a.name);
            let sub = a.sub_attr.as_deref().map(canonical);
            match (op, value) {
                (Op::Remove, v) => remove_attr(res, a.uri.as_deref(), &name, sub.as_deref(), v),
                (_, None) => Err(invalid_value("add and replace need a value")),
                (_, Some(v)) => set_attr(res, op, a.uri.as_deref(), &name, sub.as_deref(), v),
            }
        }
        PatchPath::Value(vp) => {
            let name = canonical(&vp.attr.name);
            let sub = vp.sub_attr.as_deref().map(canonical);
            let base = base_mut(res, vp.attr.uri.as_deref(), op != Op::Remove)?;
            let Some(base) = base else { return Ok(()) };
            value_path(base, op, &name, &vp.filter, sub.as_deref(), value)
        }
    }
}

/// The object an attribute lives in: the resource, or an extension object inside it.
fn base_mut<'a>(
    res: &'a mut Value,
    uri: Option<&str>,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ApiError> {
    let root = res
        .as_object_mut()
        .ok_or_else(|| ApiError::Internal("resource is not an object".into()))?;
    let Some(uri) = uri.filter(|u| {
        !u.eq_ignore_ascii_case(super::resource::USER_SCHEMA) && !u.eq_ignore_ascii_case(super::resource::GROUP_SCHEMA)
    }) else {
        return Ok(Some(root));
    };
    let key = root
        .keys()
        .find(|k| k.eq_ignore_ascii_case(uri))
        .cloned()
        .unwrap_or_else(|| uri.to_owned());
    if !root.contains_key(&key) {
        if !create {
            return Ok(None);
        }
        root.insert(key.clone(), Value::Object(Map::new()));
    }
    Ok(root.get_mut(&key).and_then(Value::as_object_mut))
}

fn set_attr(
    res: &mut Value,
    op: Op,
    uri: Option<&str>,
    name: &str,
    sub: Option<&str>,
    v: Value,
) -> Result<(), ApiError> {
    let Some(base) = base_mut(res, uri, true)? else {
        return Ok(());
    };
    match sub {
        None => {
            let existing = base.get_mut(name);
            match (op, existing, v) {
                // add to a multi-valued attribute appends (identical values are not repeated)
                (Op::Add, Some(Value::Array(cur)), new) => {
                    let items = match new {
                        Value::Array(a) => a,
                        one => vec![one],
                    };
                    for i in items {
                        if !cur.iter().any(|c| same_value(c, &i)) {
                            cur.push(i);
                        }
                    }
                }
                // add of a complex value merges its sub-attributes
                (Op::Add, Some(Value::Object(cur)), Value::Object(new)) => {
                    cur.extend(new);
                }
                (_, _, new) => {
                    base.insert(name.to_owned(), new);
                }
            }
        }
        Some(sub) => {
            let target = base.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            match target {
                Value::Object(o) => {
                    o.insert(sub.to_owned(), v);
                }
                Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| {
                    o.insert(sub.to_owned(), v.clone());
                }),
                other => *other = Value::Object(Map::from_iter([(sub.to_owned(), v)])),
            }
        }
    }
    Ok(())
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (else equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn remove_attr(
    res: &mut Value,
    uri: Option<&str>,
    name: &str,
    sub: Option<&str>,
    v: Option<Value>,
) -> Result<(), ApiError> {
    let Some(base) = base_mut(res, uri, false)? else {
        return Ok(());
    };
    match (sub, base.get_mut(name), v) {
        // Entra: remove members (or any multi-valued elements) listed in `value`.
        (None, Some(Value::Array(cur)), Some(v)) if !v.is_null() => {
            let listed = match v {
                Value::Array(a) => a,
                one => vec![one],
            };
            cur.retain(|c| !listed.iter().any(|l| same_value(c, l)));
        }
        (None, _, _) => {
            base.remove(name);
        }
        (Some(sub), Some(Value::Object(o)), _) => {
            o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
        }
        (Some(sub), Some(Value::Array(items)), _) => {
            for o in items.iter_mut().filter_map(Value::as_object_mut) {
                o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
            }
        }
        (Some(_), _, _) => {}
    }
    Ok(())
}

fn value_path(
    base: &mut Map<String, Value>,
    op: Op,
    name: &str,
    filter: &ValFilter,
    sub: Option<&str>,
    value: Option<Value>,
) -> Result<(), ApiError> {
    let items = match base.get_mut(name) {
        Some(Value::Array(a)) => a,
        _ if op == Op::Remove => return Ok(()),
        _ => {
            base.insert(name.to_owned(), Value::Array(Vec::new()));
            match base.get_mut(name) {
                Some(Value::Array(a)) => a,
                _ => return Err(ApiError::Internal("array just inserted is missing".into())),
            }
        }
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(filter, e))
        .map(|(i, _)| i)
        .collect();
    match op {
        Op::Remove => {
            if let Some(sub) = sub {
                for i in &matched {
                    if let Some(o) = items[*i].as_object_mut() {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                }
            } else {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        Op::Add | Op::Replace => {
            let v = value.ok_or_else(|| invalid_value("add and replace need a value"))?;
            if matched.is_empty() {
                let mut el = eq_terms(filter);
                match (sub, &v) {
                    (Some(sub), v) => {
                        el.insert(sub.to_owned(), v.clone());
                    }
                    (None, Value::Object(o)) => el.extend(o.clone()),
                    (None, _) => {
                        return Err(invalid_value(
                            "a value path without a sub-attribute needs an object value",
                        ))
                    }
                }
                items.push(Value::Object(el));
            }
            for i in matched {
                match (sub, items[i].as_object_mut()) {
                    (Some(sub), Some(o)) => {
                        o.insert(sub.to_owned(), v.clone());
                    }
                    (None, Some(o)) => match &v {
                        Value::Object(new) if op == Op::Add => o.extend(new.clone()),
                        Value::Object(new) => *o = new.clone(),
                        _ => {
                            return Err(invalid_value(
                                "a value path without a sub-attribute needs an object value",
                            ))
                        }
                    },
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The `attr eq value` terms of an `and` filter, as an element's fields.
fn eq_terms(f: &ValFilter) -> Map<String, Value> {
    let mut m = Map::new();
    let mut add = |e: &AttrExp| {
        if let AttrExp::Comparison(p, CompareOp::Eq, v) = e {
            m.insert(canonical(&p.name), comp_json(v));
        }
    };
    match f {
        ValFilter::Attr(e) => add(e),
        ValFilter::And(items) => items.as_slice().iter().for_each(|i| {
            if let ValFilter::Attr(e) = i {
                add(e)
            }
        }),
        _ => {}
    }
    m
}

fn comp_json(v: &CompValue) -> Value {
    match v {
        CompValue::False => Value::Bool(false),
        CompValue::True => Value::Bool(true),
        CompValue::Null => Value::Null,
        CompValue::Number(n) => Value::Number(n.clone()),
        CompValue::Str(s) => Value::String(s.clone()),
    }
}

/// True when element `e` satisfies `f` (strings compare case-insensitively).
pub fn matches(f: &ValFilter, e: &Value) -> bool {
    match f {
        ValFilter::Attr(AttrExp::Present(p)) => {
            lookup(e, p).is_some_and(|v| !v.is_null() && v != &Value::String(String::new()))
        }
        ValFilter::Attr(AttrExp::Comparison(p, op, want)) => compare(lookup(e, p), op, want),
        ValFilter::Not(inner) => !matches(inner, e),
        ValFilter::And(items) => items.as_slice().iter().all(|i| matches(i, e)),
        ValFilter::Or(items) => items.as_slice().iter().any(|i| matches(i, e)),
    }
}

fn lookup<'a>(e: &'a Value, p: &AttrPath) -> Option<&'a Value> {
    let o = e.as_object()?;
    let v = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&p.name))
        .map(|(_, v)| v)?;
    match &p.sub_attr {
        None => Some(v),
        Some(s) => v
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(s))
            .map(|(_, v)| v),
    }
}

fn compare(have: Option<&Value>, op: &CompareOp, want: &CompValue) -> bool {
    let have = have.unwrap_or(&Value::Null);
    if let CompareOp::Ne = op {
        return !compare(Some(have), &CompareOp::Eq, want);
    }
    match (have, want) {
        (Value::Null, CompValue::Null) => matches!(op, CompareOp::Eq),
        (Value::Bool(_), CompValue::True) => matches!(op, CompareOp::Eq) && have == &Value::Bool(true),
        (Value::Bool(_), CompValue::False) => matches!(op, CompareOp::Eq) && have == &Value::Bool(false),
        (Value::Number(h), CompValue::Number(w)) => match (h.as_f64(), w.as_f64()) {
            (Some(h), Some(w)) => match op {
                CompareOp::Eq => h == w,
                CompareOp::Gt => h > w,
                CompareOp::Ge => h >= w,
                CompareOp::Lt => h < w,
                CompareOp::Le => h <= w,
                _ => false,
            },
            _ => false,
        },
        (Value::String(h), CompValue::Str(w)) => {
            let (h, w) = (h.to_lowercase(), w.to_lowercase());
            match op {
                CompareOp::Eq => h == w,
                CompareOp::Co => h.contains(&w),
                CompareOp::Sw => h.starts_with(&w),
                CompareOp::Ew => h.ends_with(&w),
                CompareOp::Gt => h > w,
                CompareOp::Ge => h >= w,
                CompareOp::Lt => h < w,
                CompareOp::Le => h <= w,
                CompareOp::Ne => h != w,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut res: Value, ops: Value) -> Value {
        apply(&mut res, &json!({ "Operations": ops })).unwrap();
        res
    }

    #[test]
    fn entra_capitalised_ops_and_string_booleans() {
        let r = run(
            json!({"userName": "a", "active": true}),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        let input = super::super::resource::user_input(r).unwrap();
        assert!(!input.active);
        assert_eq!(input.resource["active"], false);
    }

    #[test]
    fn remove_member_by_value_removes_only_that_member() {
        let r = run(
            json!({"members": [{"value": "a"}, {"value": "b"}]}),
            json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}]}]),
        );
        assert_eq!(r["members"], json!([{"value": "b"}]));
    }

    #[test]
    fn value_paths_filter_elements_and_create_missing_ones() {
        let r = run(
            json!({"emails": [{"type": "home", "value": "h@x.test"}]}),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.test"}]),
        );
        assert_eq!(r["emails"][1], json!({"type": "work", "value": "w@x.test"}));
        let r = run(r, json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
        assert_eq!(r["emails"], json!([{"type": "work", "value": "w@x.test"}]));
    }

    #[test]
    fn pathless_replace_with_dotted_and_extension_keys() {
        let r = run(
            json!({"userName": "a", "name": {"givenName": "A"}}),
            json!([{"op": "replace", "value": {
                "name.familyName": "B",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
            }}]),
        );
        assert_eq!(r["name"], json!({"givenName": "A", "familyName": "B"}));
        let ext = &r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(ext["department"], "R&D");
        assert_eq!(ext["employeeNumber"], "7");
    }

    #[test]
    fn members_filter_removal() {
        let r = run(
            json!({"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}),
            json!([{"op": "remove", "path": "members[value eq \"b\" or value eq \"c\"]"}]),
        );
        assert_eq!(r["members"], json!([{"value": "a"}]));
    }
}
