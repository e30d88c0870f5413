//! The authorization request's parameters: parsed once (a repeated or oversized parameter is
//! refused) and checked against SPEC §6 once the client and its exact redirect URI are known.

use std::collections::HashMap;

use portico_store::oauth_clients::Client;

use crate::services::provider::{AuthorizeRequest, SCOPES};

/// The query's parameters as pairs (first value of each name wins; a repeated parameter is refused).
pub(super) fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if out.iter().any(|(x, _)| *x == k) {
            return Err(format!("parameter {k} is repeated"));
        }
        if k.len() > 64 || v.len() > 2048 {
            return Err(format!("parameter {k} is too long"));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// Validates everything after the redirect URI; Err is the error redirect.
pub(super) fn validate(
    client: &Client,
    req: &mut AuthorizeRequest,
    q: &HashMap<&str, &str>,
) -> Result<(), (&'static str, String)> {
    if q.get("response_type") != Some(&"code") {
        return Err((
            "unsupported_response_type",
            "only response_type=code is supported".into(),
        ));
    }
    if q.contains_key("request") || q.contains_key("request_uri") {
        return Err(("request_not_supported", "request objects are not supported".into()));
    }
    let scopes = q.get("scope").copied().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(("invalid_scope", "scope must include openid".into()));
    }
    let mut granted: Vec<&str> = Vec::new();
    for s in scopes.split(' ').filter(|s| SCOPES.contains(s)) {
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    req.scope = granted.join(" ");
    match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(_), Some(m)) if *m != "S256" => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)".into(),
            ))
        }
        (Some(_), None) => {
            return Err((
                "invalid_request",
                "code_challenge_method=S256 is required (plain is refused)".into(),
            ))
        }
        (Some(c), Some(_)) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(("invalid_request", "code_challenge must be a base64url SHA-256".into()));
            }
            req.code_challenge = Some((*c).to_owned());
        }
        (None, Some(_)) => return Err(("invalid_request", "code_challenge_method without code_challenge".into())),
        (None, None) if client.public => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge with S256) is required for this client".into(),
            ))
        }
        (None, None) => {}
    }
    if q.get("max_age").is_some_and(|m| m.parse::<u32>().is_err()) {
        return Err((
            "invalid_request",
            "max_age must be a non-negative number of seconds".into(),
        ));
    }
    if let Some(p) = q.get("prompt") {
        let ps: Vec<&str> = p.split(' ').collect();
        if ps
            .iter()
            .any(|x| !matches!(*x, "none" | "login" | "consent" | "select_account"))
        {
            return Err(("invalid_request", "unsupported prompt value".into()));
        }
        if ps.contains(&"none") && ps.len() > 1 {
            return Err(("invalid_request", "prompt=none cannot be combined".into()));
        }
    }
    Ok(())
}
