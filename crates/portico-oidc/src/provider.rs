//! [`OidcProvider`]: the [`IdentityProvider`] of one OIDC connection.

use std::sync::Arc;

use openidconnect::core::{CoreAuthenticationFlow, CoreJsonWebKeySet, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessToken, ClientSecret, CsrfToken, LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge, Scope,
    SubjectIdentifier, UserInfoError,
};
use portico_core::idp::{
    CheckReport, CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart,
    PendingLogin, Protocol,
};
use portico_http::OutboundError;
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use crate::claims::{self, Profile};
use crate::discovery::{self, check_endpoints, check_issuer, choose_client_auth, clip, usable_signing_keys};
use crate::runtime::Freshness;
use crate::token::{self, OidcClient, Transport};
use crate::verify::{self, Expected, Failure, Verified};
use crate::{OidcRuntime, OidcSettings, DEFAULT_SCOPES};

/// The OIDC identity provider of one connection. Cheap to build per request: discovery and keys
/// live in the shared [`OidcRuntime`].
#[derive(Debug)]
pub struct OidcProvider {
    settings: OidcSettings,
    runtime: OidcRuntime,
}

/// A discovered provider whose issuer matched the settings.
struct Discovered {
    /// Cache key of the issuer (its discovery URL).
    key: Url,
    meta: Arc<CoreProviderMetadata>,
    /// The provider advertises RFC 9207 `iss` in authorization responses.
    iss_supported: bool,
}

impl Discovered {
    /// The issuer as discovered: the value every later comparison uses, exactly.
    fn issuer(&self) -> &str {
        self.meta.issuer().as_str()
    }
}

impl OidcProvider {
    /// A provider for `settings`, using `runtime`'s HTTP client and caches. Settings are checked
    /// when used: unusable ones fail with [`IdpError::Config`].
    pub fn new(settings: OidcSettings, runtime: OidcRuntime) -> Self {
        Self { settings, runtime }
    }

    /// The settings this provider was built with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn check_settings(&self) -> Result<(), IdpError> {
        if self.settings.client_id.trim().is_empty() {
            return Err(IdpError::Config("client ID is empty".into()));
        }
        if self.settings.client_secret.expose_secret().is_empty() {
            return Err(IdpError::Config("client secret is empty".into()));
        }
        Ok(())
    }

    /// Discovery (cached), issuer rule and endpoint policy.
    async fn discover(&self) -> Result<Discovered, IdpError> {
        let key = discovery::discovery_url(&self.settings.issuer_url)?;
        let (meta, iss_supported) = self.runtime.metadata(&key, Freshness::Cached).await?;
        check_issuer(&self.settings.issuer_url, &meta)?;
        check_endpoints(self.runtime.http()?, &meta)?;
        Ok(Discovered {
            key,
            meta,
            iss_supported,
        })
    }

    fn client(&self, meta: CoreProviderMetadata, redirect_uri: &str) -> Result<OidcClient, IdpError> {
        let auth = choose_client_auth(self.settings.client_auth, &meta)?;
        let secret = ClientSecret::new(self.settings.client_secret.expose_secret().to_owned());
        token::client(meta, &self.settings.client_id, secret, auth, redirect_uri)
    }

    fn scopes(&self) -> Vec<String> {
        let configured: Vec<String> = self
            .settings
            .scopes
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let scopes = if configured.is_empty() {
            DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            configured
        };
        // `openid` is added by the client itself.
        scopes.into_iter().filter(|s| s != "openid").collect()
    }

    /// Verifies the ID token, refetching the JWKS once (rate-limited) when its key is unknown.
    /// Returns the verified token and the JWKS that verified it.
    async fn verify_id_token(
        &self,
        found: &Discovered,
        raw: &str,
        expected: &Expected<'_>,
    ) -> Result<(Verified, Arc<CoreJsonWebKeySet>), IdpError> {
        let jwks_uri = found.meta.jwks_uri().as_str();
        let jwks = self.runtime.jwks(&found.key, jwks_uri, Freshness::Cached).await?;
        match verify::verify(raw, &jwks, expected) {
            Ok(v) => Ok((v, jwks)),
            Err(Failure::Invalid(m)) => Err(IdpError::InvalidAssertion(m)),
            Err(Failure::UnknownKey(m)) => match self.runtime.refetch_jwks(&found.key, jwks_uri).await? {
                None => Err(IdpError::InvalidAssertion(format!(
                    "{m} (the JWKS was refetched less than {} s ago)",
                    crate::JWKS_REFETCH_INTERVAL.as_secs()
                ))),
                Some(fresh) => match verify::verify(raw, &fresh, expected) {
                    Ok(v) => Ok((v, fresh)),
                    Err(Failure::UnknownKey(m)) => {
                        Err(IdpError::InvalidAssertion(format!("{m}, even after refetching it")))
                    }
                    Err(failure) => Err(IdpError::InvalidAssertion(failure.message())),
                },
            },
        }
    }

    /// Fetches userinfo (`None` when the provider has no endpoint); its `sub` must be `sub`.
    /// Signed (JWT) responses are verified with `jwks`.
    async fn userinfo(
        &self,
        found: &Discovered,
        jwks: &CoreJsonWebKeySet,
        redirect_uri: &str,
        access_token: AccessToken,
        sub: &str,
    ) -> Result<Option<CoreUserInfoClaims>, IdpError> {
        let client = self.client((*found.meta).clone().set_jwks(jwks.clone()), redirect_uri)?;
        let Ok(request) = client.user_info(access_token, Some(SubjectIdentifier::new(sub.to_owned()))) else {
            return Ok(None); // no userinfo endpoint
        };
        let transport = Transport {
            http: self.runtime.http()?.clone(),
            last_status: None,
        };
        match request.request_async(&transport).await {
            Ok(claims) => Ok(Some(claims)),
            Err(e) => Err(userinfo_error(e)),
        }
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn userinfo_error(err: UserInfoError<OutboundError>) -> IdpError {
    match err {
        UserInfoError::Request(e) => IdpError::from(e),
        UserInfoError::ClaimsVerification(openidconnect::ClaimsVerificationError::InvalidSubject(m)) => {
            IdpError::InvalidAssertion(format!("userinfo `sub` differs from the ID token's: {}", clip(&m)))
        }
        UserInfoError::ClaimsVerification(e) => {
            IdpError::InvalidAssertion(format!("signed userinfo response refused: {}", clip(&e.to_string())))
        }
        UserInfoError::Parse(e) => IdpError::InvalidAssertion(format!(
            "userinfo response is invalid at `{}`: {}",
            e.path(),
            clip(&e.inner().to_string())
        )),
        UserInfoError::Response(status, _body, m) => {
            let msg = format!("userinfo endpoint answered HTTP {status}: {}", clip(&m));
            if status.is_server_error() || status.as_u16() == 429 {
                IdpError::Unavailable(msg)
            } else {
                IdpError::TokenExchange(msg)
            }
        }
        other => IdpError::Unavailable(format!("userinfo request failed: {}", clip(&other.to_string()))),
    }
}

#[async_trait::async_trait]
impl IdentityProvider for OidcProvider {
    fn protocol(&self) -> Protocol {
        Protocol::Oidc
    }

    async fn begin_login(&self, ctx: &LoginContext) -> Result<LoginStart, IdpError> {
        self.check_settings()?;
        if ctx.state.trim().is_empty() {
            return Err(IdpError::Config("the login transaction has no state".into()));
        }
        let found = self.discover().await?;
        let client = self.client((*found.meta).clone(), &ctx.redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = ctx.state.clone();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .add_scopes(self.scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(challenge);
        if let Some(hint) = ctx.login_hint.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
            request = request.set_login_hint(LoginHint::new(hint.to_owned()));
        }
        if ctx.force_authn {
            // OIDC Core §3.1.2.1: prompt=login re-authenticates; max_age=0 makes the IdP state
            // `auth_time`, which completion checks (an IdP ignoring prompt cannot pass off an old
            // session as a fresh one).
            request = request
                .add_prompt(openidconnect::core::CoreAuthPrompt::Login)
                .set_max_age(std::time::Duration::from_secs(0));
        }
        let (url, _state, nonce) = request.url();
        Ok(LoginStart::Redirect {
            url: url.to_string(),
            pending: PendingLogin {
                nonce: Some(nonce.secret().clone()),
                pkce_verifier: Some(verifier.secret().clone()),
                request_id: None,
                redirect_uri: ctx.redirect_uri.clone(),
                reauth_since: ctx.force_authn.then(|| ctx.now.timestamp()),
                // Set by the server for the logins answered at its own callback.
                iss_expected: false,
            },
        })
    }

    async fn complete_login(&self, ctx: &CompleteContext, input: LoginInput) -> Result<ExternalIdentity, IdpError> {
        self.check_settings()?;
        let LoginInput::OidcCode { code, iss } = input else {
            return Err(IdpError::Unsupported(
                "an OIDC connection completes with an authorization code".into(),
            ));
        };
        let Some(pending) = ctx.pending.as_ref() else {
            return Err(IdpError::Unsupported(
                "OIDC logins must start at Portico (no IdP-initiated login)".into(),
            ));
        };
        let (Some(nonce), Some(verifier)) = (non_empty(&pending.nonce), non_empty(&pending.pkce_verifier)) else {
            return Err(IdpError::InvalidAssertion(
                "the login transaction has no nonce or PKCE verifier".into(),
            ));
        };
        if code.is_empty() {
            return Err(IdpError::TokenExchange("the authorization response has no code".into()));
        }
        let found = self.discover().await?;

        // RFC 9207: refuse a response from another issuer before its code goes anywhere, and,
        // where the whole response reached Portico, one without `iss` from a provider that
        // advertises sending it (§2.4).
        match iss.as_deref() {
            Some(iss) if iss != found.issuer() => {
                return Err(IdpError::InvalidAssertion(format!(
                    "the authorization response's `iss` is `{}`, not the connection's issuer `{}` (RFC 9207)",
                    clip(iss),
                    found.issuer()
                )));
            }
            None if found.iss_supported && pending.iss_expected => {
                return Err(IdpError::InvalidAssertion(format!(
                    "the authorization response has no `iss`, but `{}` advertises \
                     authorization_response_iss_parameter_supported (RFC 9207)",
                    found.issuer()
                )));
            }
            _ => {}
        }

        let client = self.client((*found.meta).clone(), &pending.redirect_uri)?;
        let tokens = token::exchange(&client, self.runtime.http()?, code, verifier.to_owned()).await?;
        let raw = tokens
            .raw_id_token()
            .ok_or_else(|| IdpError::InvalidAssertion("the token response has no id_token".into()))?;
        let expected = Expected {
            issuer: found.issuer(),
            client_id: &self.settings.client_id,
            nonce,
            now: ctx.now,
        };
        let (
            Verified {
                claims,
                payload: mut raw_claims,
            },
            jwks,
        ) = self.verify_id_token(&found, raw, &expected).await?;
        if let Some(since) = pending.reauth_since {
            check_reauthenticated(claims.auth_time(), since)?;
        }

        let mut profile = Profile::from_id_token(&claims);
        if !profile.is_complete() {
            let sub = claims.subject().as_str();
            let access_token = tokens.access_token().clone();
            if let Some(info) = self
                .userinfo(&found, &jwks, &pending.redirect_uri, access_token, sub)
                .await?
            {
                profile.fill_from(Profile::from_userinfo(&info));
                if let Ok(Value::Object(extra)) = serde_json::to_value(&info) {
                    for (k, v) in extra {
                        raw_claims.entry(k).or_insert(v);
                    }
                }
            }
        }
        tracing::debug!(issuer = found.issuer(), "OIDC login verified");
        Ok(claims::identity(found.issuer(), &claims, profile, raw_claims))
    }

    async fn check(&self) -> CheckReport {
        let mut report = CheckReport::default();
        let key = match self
            .check_settings()
            .and_then(|()| discovery::discovery_url(&self.settings.issuer_url))
        {
            Ok(key) => key,
            Err(e) => {
                report.push("discovery", false, e.to_string());
                return report;
            }
        };
        let (meta, iss_supported) = match self.runtime.metadata(&key, Freshness::Fresh).await {
            Ok(found) => found,
            Err(e) => {
                report.push("discovery", false, e.to_string());
                return report;
            }
        };
        let endpoints = self.runtime.http().and_then(|http| check_endpoints(http, &meta));
        if let Err(e) = endpoints.and_then(|()| choose_client_auth(self.settings.client_auth, &meta).map(|_| ())) {
            report.push("discovery", false, e.to_string());
            return report;
        }
        report.push("discovery", true, format!("fetched {key}"));
        report.fact("issuer", meta.issuer().as_str());
        report.fact("authorizationEndpoint", meta.authorization_endpoint().as_str());
        if let Some(t) = meta.token_endpoint() {
            report.fact("tokenEndpoint", t.as_str());
        }
        report.fact("jwksUri", meta.jwks_uri().as_str());
        report.fact("issParameterSupported", iss_supported);

        if let Err(e) = check_issuer(&self.settings.issuer_url, &meta) {
            report.push("issuer", false, e.to_string());
            return report;
        }
        report.push("issuer", true, format!("issuer `{}` matches", meta.issuer().as_str()));

        let jwks_uri = meta.jwks_uri().as_str();
        match self.runtime.jwks(&key, jwks_uri, Freshness::Fresh).await {
            Err(e) => report.push("jwks", false, e.to_string()),
            Ok(jwks) => {
                let usable = usable_signing_keys(&jwks);
                if usable.is_empty() {
                    report.push(
                        "jwks",
                        false,
                        format!(
                            "JWKS at {jwks_uri} has {} key(s) but none can verify {}",
                            jwks.keys().len(),
                            crate::ALLOWED_ID_TOKEN_ALGS.join(", ")
                        ),
                    );
                } else {
                    report.push(
                        "jwks",
                        true,
                        format!("{} usable signing key(s): {}", usable.len(), usable.join(", ")),
                    );
                }
            }
        }
        report
    }
}

/// Clock skew allowed on `auth_time` when re-authentication was demanded.
const REAUTH_SKEW_SECS: i64 = 180;

/// With `prompt=login`/`max_age=0` sent, the ID token must carry an `auth_time` no older than
/// the login's start (minus the skew): otherwise the IdP reused an earlier authentication.
fn check_reauthenticated(auth_time: Option<chrono::DateTime<chrono::Utc>>, since: i64) -> Result<(), IdpError> {
    match auth_time {
        Some(t) if t.timestamp() >= since - REAUTH_SKEW_SECS => Ok(()),
        Some(t) => Err(IdpError::InvalidAssertion(format!(
            "re-authentication was required, but the IdP's auth_time {} is older than the login ({} s earlier)",
            t.timestamp(),
            since - t.timestamp()
        ))),
        None => Err(IdpError::InvalidAssertion(
            "re-authentication was required (max_age=0), but the ID token has no auth_time".into(),
        )),
    }
}

#[cfg(test)]
mod reauth_tests {
    use super::*;

    #[test]
    fn auth_time_must_follow_the_demand() {
        let now = chrono::Utc::now();
        assert!(check_reauthenticated(Some(now), now.timestamp()).is_ok());
        assert!(check_reauthenticated(Some(now - chrono::Duration::seconds(100)), now.timestamp()).is_ok());
        assert!(check_reauthenticated(Some(now - chrono::Duration::seconds(600)), now.timestamp()).is_err());
        assert!(check_reauthenticated(None, now.timestamp()).is_err());
    }
}
