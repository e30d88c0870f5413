//! Discovery (`/.well-known/openid-configuration`), the issuer rule, and JWKS retrieval.

use openidconnect::core::{
    CoreClientAuthMethod, CoreJsonWebKey, CoreJsonWebKeySet, CoreJsonWebKeyType, CoreJsonWebKeyUse,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use portico_core::idp::IdpError;
use portico_http::{http, redact_url, OutboundClient};
use url::Url;

use crate::ClientAuth;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The discovery URL of a configured issuer: one trailing `/` is dropped, then
/// `/.well-known/openid-configuration` is appended (OpenID Connect Discovery 1.0 §4).
pub(crate) fn discovery_url(issuer: &str) -> Result<Url, IdpError> {
    let issuer = issuer.trim();
    let parsed =
        Url::parse(issuer).map_err(|e| IdpError::Config(format!("issuer URL `{issuer}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(IdpError::Config(format!("issuer URL `{issuer}` must use https")));
    }
    if parsed.host().is_none() {
        return Err(IdpError::Config(format!("issuer URL `{issuer}` has no host")));
    }
    if parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(IdpError::Config(format!(
            "issuer URL `{}` must not contain credentials, a query or a fragment",
            redact_url(&parsed)
        )));
    }
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    Url::parse(&format!("{base}{WELL_KNOWN}"))
        .map_err(|e| IdpError::Config(format!("issuer URL `{issuer}` gives no discovery URL: {e}")))
}

/// The configured issuer and the discovered one are the same issuer: equal, or equal but for a
/// single trailing `/` on one side (`https://idp` vs `https://idp/`). Nothing else is normalised:
/// not case, not default ports, not paths.
pub(crate) fn issuer_matches(configured: &str, discovered: &str) -> bool {
    let configured = configured.trim();
    configured == discovered
        || configured.strip_suffix('/') == Some(discovered)
        || discovered.strip_suffix('/') == Some(configured)
}

/// Refuses a discovered issuer that does not match the configured one.
pub(crate) fn check_issuer(configured: &str, meta: &CoreProviderMetadata) -> Result<(), IdpError> {
    let discovered = meta.issuer().as_str();
    if issuer_matches(configured, discovered) {
        Ok(())
    } else {
        Err(IdpError::Metadata(format!(
            "issuer mismatch: the connection is configured for `{}` but its discovery document names `{}`",
            configured.trim(),
            clip(discovered)
        )))
    }
}

/// Non-2xx answers: server trouble (5xx, 429) means unavailable, anything else bad metadata.
fn status_error(what: &str, url: &Url, status: http::StatusCode) -> IdpError {
    let msg = format!("{what} at {} answered HTTP {status}", redact_url(url));
    if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        IdpError::Unavailable(msg)
    } else {
        IdpError::Metadata(msg)
    }
}

/// The one discovery field Portico reads beyond the standard set (RFC 9207 §3).
#[derive(serde::Deserialize)]
struct IssParameter {
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<serde_json::Value>,
}

/// Fetches and parses a discovery document; checks what a code-flow login needs from it.
/// Also answers whether the provider advertises the authorization response `iss` parameter.
pub(crate) async fn fetch_metadata(http: &OutboundClient, url: &Url) -> Result<(CoreProviderMetadata, bool), IdpError> {
    let resp = http.get_json(url.as_str()).await?;
    if resp.status() != http::StatusCode::OK {
        return Err(status_error("discovery", url, resp.status()));
    }
    let meta: CoreProviderMetadata =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(resp.body())).map_err(|e| {
            IdpError::ResponseInvalid(format!(
                "discovery document at {} is invalid at `{}`: {}",
                redact_url(url),
                e.path(),
                clip(&e.inner().to_string())
            ))
        })?;
    if meta.token_endpoint().is_none() {
        return Err(IdpError::Metadata(format!(
            "discovery document at {} has no token_endpoint (the authorization code flow needs one)",
            redact_url(url)
        )));
    }
    // Any value but JSON `true` is "not advertised" (the document already parsed as JSON).
    let iss = serde_json::from_slice::<IssParameter>(resp.body())
        .ok()
        .and_then(|p| p.authorization_response_iss_parameter_supported)
        == Some(serde_json::Value::Bool(true));
    Ok((meta, iss))
}

/// Refuses endpoints the browser or Portico must not use under `http`'s policy: a plain-http
/// authorization endpoint is as bad as a plain-http token endpoint.
pub(crate) fn check_endpoints(http: &OutboundClient, meta: &CoreProviderMetadata) -> Result<(), IdpError> {
    let auth = meta.authorization_endpoint().url();
    if auth.scheme() != "https" && !(auth.scheme() == "http" && http.policy().allow_insecure_http) {
        return Err(IdpError::Metadata(format!(
            "authorization_endpoint {} must use https",
            redact_url(auth)
        )));
    }
    let mut urls = vec![("jwks_uri", meta.jwks_uri().url())];
    if let Some(token) = meta.token_endpoint() {
        urls.push(("token_endpoint", token.url()));
    }
    if let Some(userinfo) = meta.userinfo_endpoint() {
        urls.push(("userinfo_endpoint", userinfo.url()));
    }
    for (name, url) in urls {
        http.check_url(url)
            .map_err(|e| IdpError::Metadata(format!("{name}: {e}")))?;
    }
    Ok(())
}

/// Fetches and parses a JWKS (keys of unknown types are skipped, as RFC 7517 asks).
pub(crate) async fn fetch_jwks(http: &OutboundClient, jwks_uri: &str) -> Result<CoreJsonWebKeySet, IdpError> {
    let url = Url::parse(jwks_uri)
        .map_err(|e| IdpError::Metadata(format!("jwks_uri `{}` is not a URL: {e}", clip(jwks_uri))))?;
    let resp = http.get_json(url.as_str()).await?;
    if resp.status() != http::StatusCode::OK {
        return Err(status_error("JWKS", &url, resp.status()));
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(resp.body())).map_err(|e| {
        IdpError::ResponseInvalid(format!(
            "JWKS at {} is invalid at `{}`: {}",
            redact_url(&url),
            e.path(),
            clip(&e.inner().to_string())
        ))
    })
}

/// The allow-listed algorithms, as `openidconnect` values.
pub(crate) fn allowed_algs() -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm::*;
    vec![
        RsaSsaPkcs1V15Sha256,
        RsaSsaPkcs1V15Sha384,
        RsaSsaPkcs1V15Sha512,
        RsaSsaPssSha256,
        RsaSsaPssSha384,
        RsaSsaPssSha512,
        EcdsaP256Sha256,
        EcdsaP384Sha384,
    ]
}

fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{alg:?}"))
}

/// `kid/alg` of every key that can verify an allow-listed algorithm: a signature key (no `use`
/// or `use: sig`), RSA or EC on P-256/P-384, whose `alg` (when given) is allowed.
pub(crate) fn usable_signing_keys(jwks: &CoreJsonWebKeySet) -> Vec<String> {
    jwks.keys()
        .iter()
        .filter_map(|key| {
            if key.key_use().is_some_and(|u| *u != CoreJsonWebKeyUse::Signature) {
                return None;
            }
            let algs = key_algs(key)?;
            let kid = key
                .key_id()
                .map_or_else(|| "(no kid)".to_owned(), |k| k.as_str().to_owned());
            Some(format!("{kid}/{algs}"))
        })
        .collect()
}

fn key_algs(key: &CoreJsonWebKey) -> Option<String> {
    let compatible: Vec<CoreJwsSigningAlgorithm> = match key.key_type() {
        CoreJsonWebKeyType::RSA => allowed_algs()
            .into_iter()
            .filter(|a| alg_name(a).starts_with(['R', 'P']))
            .collect(),
        CoreJsonWebKeyType::EllipticCurve => {
            // The curve is not exposed by CoreJsonWebKey; read it from the key's JSON form.
            let crv = serde_json::to_value(key).ok()?.get("crv")?.as_str()?.to_owned();
            match crv.as_str() {
                "P-256" => vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256],
                "P-384" => vec![CoreJwsSigningAlgorithm::EcdsaP384Sha384],
                _ => return None,
            }
        }
        _ => return None,
    };
    match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => Some(compatible.iter().map(alg_name).collect::<Vec<_>>().join("|")),
        JsonWebKeyAlgorithm::Algorithm(alg) if compatible.contains(alg) => Some(alg_name(alg)),
        _ => None,
    }
}

/// The token endpoint authentication: the configured one, else `client_secret_basic` when the
/// provider lists it or says nothing (RFC 8414's default), else `client_secret_post`.
pub(crate) fn choose_client_auth(
    configured: Option<ClientAuth>,
    meta: &CoreProviderMetadata,
) -> Result<ClientAuth, IdpError> {
    if let Some(auth) = configured {
        return Ok(auth);
    }
    let Some(methods) = meta.token_endpoint_auth_methods_supported() else {
        return Ok(ClientAuth::Basic);
    };
    if methods.contains(&CoreClientAuthMethod::ClientSecretBasic) {
        Ok(ClientAuth::Basic)
    } else if methods.contains(&CoreClientAuthMethod::ClientSecretPost) {
        Ok(ClientAuth::Post)
    } else {
        let listed: Vec<String> = methods
            .iter()
            .map(|m| {
                serde_json::to_value(m)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        Err(IdpError::Config(format!(
            "the provider supports neither client_secret_basic nor client_secret_post at its token endpoint (it lists: {})",
            clip(&listed.join(", "))
        )))
    }
}

/// Keeps IdP-controlled text in messages short.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 200;
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= MAX {
        clean
    } else {
        format!("{}…", clean.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn discovery_url_drops_one_trailing_slash() {
        let u = |s| discovery_url(s).unwrap().to_string();
        assert_eq!(
            u("https://idp.example.com"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            u("https://idp.example.com/"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            u("https://idp.example.com/t/abc"),
            "https://idp.example.com/t/abc/.well-known/openid-configuration"
        );
        assert_eq!(
            u("https://idp.example.com/t/abc/"),
            "https://idp.example.com/t/abc/.well-known/openid-configuration"
        );
        for bad in [
            "idp.example.com",
            "ftp://idp.example.com",
            "https://idp.example.com/?tenant=1",
            "https://u:p@idp.example.com",
        ] {
            assert!(matches!(discovery_url(bad), Err(IdpError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn issuer_rule_is_exact_but_for_one_trailing_slash() {
        assert!(issuer_matches("https://idp", "https://idp"));
        assert!(issuer_matches("https://idp/", "https://idp"));
        assert!(issuer_matches("https://idp", "https://idp/"));
        assert!(!issuer_matches("https://idp/tenant", "https://idp"));
        assert!(!issuer_matches("https://idp", "https://idp/tenant"));
        assert!(!issuer_matches("https://IDP", "https://idp"));
        assert!(!issuer_matches("https://idp:443", "https://idp"));
        assert!(!issuer_matches("https://idp//", "https://idp"));
    }

    #[test]
    fn clip_bounds_idp_text() {
        assert_eq!(clip("a\nb"), "a b");
        assert_eq!(clip(&"x".repeat(500)).chars().count(), 201);
    }
}
