//! The `openidconnect` client Portico uses, and the token endpoint exchange.
//!
//! The token response keeps the `id_token` as the raw compact JWS: parsing it is part of ID token
//! validation (so that a token without `sub` is an invalid assertion, not a failed exchange).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreIdToken, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AsyncHttpClient, AuthType, AuthorizationCode, ClientId, ClientSecret, EmptyAdditionalClaims,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, OAuth2TokenResponse,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use portico_core::idp::IdpError;
use portico_http::{OutboundClient, OutboundError};
use serde::{Deserialize, Serialize};

use crate::discovery::clip;
use crate::ClientAuth;

/// The `openidconnect` client type for a discovered provider.
pub(crate) type OidcClient = openidconnect::Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    RawTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Builds the client for `meta` (whose JWKS, when set, is used for signed userinfo responses).
pub(crate) fn client(
    meta: CoreProviderMetadata,
    client_id: &str,
    secret: ClientSecret,
    auth: ClientAuth,
    redirect_uri: &str,
) -> Result<OidcClient, IdpError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| IdpError::Config(format!("redirect URI `{}` is not a URL: {e}", clip(redirect_uri))))?;
    Ok(
        OidcClient::from_provider_metadata(meta, ClientId::new(client_id.to_owned()), Some(secret))
            .set_auth_type(match auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Post => AuthType::RequestBody,
            })
            .set_redirect_uri(redirect),
    )
}

/// The token response's extra fields: the ID token, unparsed.
#[derive(Deserialize, Serialize)]
pub(crate) struct RawIdToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for RawIdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawIdToken([redacted])")
    }
}

impl ExtraTokenFields for RawIdToken {}

/// A token endpoint response whose ID token is kept raw.
#[derive(Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub(crate) struct RawTokenResponse(StandardTokenResponse<RawIdToken, CoreTokenType>);

impl RawTokenResponse {
    /// The compact JWS `id_token`, if the response had one.
    pub(crate) fn raw_id_token(&self) -> Option<&str> {
        self.0.extra_fields().id_token.as_deref()
    }
}

impl OAuth2TokenResponse for RawTokenResponse {
    type TokenType = CoreTokenType;
    fn access_token(&self) -> &AccessToken {
        self.0.access_token()
    }
    fn token_type(&self) -> &CoreTokenType {
        self.0.token_type()
    }
    fn expires_in(&self) -> Option<Duration> {
        self.0.expires_in()
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.0.refresh_token()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.0.scopes()
    }
}

impl TokenResponse<EmptyAdditionalClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>
    for RawTokenResponse
{
    /// Always `None`: Portico parses [`RawTokenResponse::raw_id_token`] itself.
    fn id_token(&self) -> Option<&CoreIdToken> {
        None
    }
}

/// `openidconnect`'s HTTP client: Portico's guarded client, optionally recording the last
/// response status (to tell server trouble from refusals).
/// (Owned, not borrowed: a lifetime here makes the login futures fail to be `Send`.)
pub(crate) struct Transport {
    pub http: OutboundClient,
    pub last_status: Option<Arc<AtomicU16>>,
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.http.send(request).await?;
            if let Some(status) = &self.last_status {
                status.store(response.status().as_u16(), Ordering::Relaxed);
            }
            Ok(response)
        })
    }
}

/// Redeems `code` at the token endpoint.
pub(crate) async fn exchange(
    client: &OidcClient,
    http: &OutboundClient,
    code: String,
    verifier: String,
) -> Result<RawTokenResponse, IdpError> {
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| IdpError::Metadata(format!("cannot exchange the code: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier));
    let status = Arc::new(AtomicU16::new(0));
    let transport = Transport {
        http: http.clone(),
        last_status: Some(status.clone()),
    };
    let result = request.request_async(&transport).await;
    result.map_err(|e| exchange_error(e, status.load(Ordering::Relaxed)))
}

fn exchange_error(
    err: RequestTokenError<OutboundError, StandardErrorResponse<CoreErrorResponseType>>,
    status: u16,
) -> IdpError {
    let msg = match err {
        RequestTokenError::Request(e) => return IdpError::from(e),
        RequestTokenError::ServerResponse(e) => {
            let mut msg = format!(
                "the token endpoint answered HTTP {status} `{}`",
                clip(e.error().as_ref())
            );
            if let Some(desc) = e.error_description() {
                msg.push_str(&format!(": {}", clip(desc)));
            }
            msg
        }
        // The body may hold tokens: only the JSON path and serde's reason are reported.
        RequestTokenError::Parse(e, _body) => format!(
            "the token endpoint answered HTTP {status} with an unreadable body (at `{}`: {})",
            e.path(),
            clip(&e.inner().to_string())
        ),
        RequestTokenError::Other(m) => {
            format!("the token endpoint answered HTTP {status}: {}", clip(&m))
        }
    };
    // Server trouble is unavailability; anything else is a deterministic refusal.
    if status >= 500 || status == 429 {
        IdpError::Unavailable(msg)
    } else {
        IdpError::TokenExchange(msg)
    }
}
