//! Process-wide SAML state: the guarded HTTP client and the IdP metadata cache (by URL).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_core::idp::IdpError;
use portico_http::{OutboundClient, OutboundError, OutboundPolicy};

use crate::metadata::{parse_idp_metadata, IdpMetadata};

/// How long fetched metadata is used before it is fetched again.
pub const METADATA_TTL: Duration = Duration::from_secs(600);
/// How long stale metadata keeps serving when a refresh fails.
pub const METADATA_STALE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Shared by every SAML provider of the process; cheap to clone.
#[derive(Clone)]
pub struct SamlRuntime {
    inner: Arc<Inner>,
}

/// Metadata by (URL, selected entity ID), with the time it was fetched.
type Cache = HashMap<(String, Option<String>), (Arc<IdpMetadata>, Instant)>;

struct Inner {
    http: Result<OutboundClient, OutboundError>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for SamlRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlRuntime").finish_non_exhaustive()
    }
}

impl SamlRuntime {
    /// A runtime whose metadata fetches follow `policy`.
    pub fn new(policy: OutboundPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: OutboundClient::new(policy),
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The outbound policy.
    pub fn policy(&self) -> Option<&OutboundPolicy> {
        self.inner.http.as_ref().ok().map(OutboundClient::policy)
    }

    fn cached(&self, key: &(String, Option<String>)) -> Option<(Arc<IdpMetadata>, Instant)> {
        self.inner.cache.lock().ok()?.get(key).cloned()
    }

    /// The IdP metadata at `url` (selecting `entity_id`), from the cache while fresh; a failed
    /// refresh keeps serving the previous copy for a day.
    pub async fn metadata(&self, url: &str, entity_id: Option<&str>) -> Result<Arc<IdpMetadata>, IdpError> {
        let key = (url.to_owned(), entity_id.map(str::to_owned));
        let cached = self.cached(&key);
        if let Some((m, at)) = &cached {
            if at.elapsed() < METADATA_TTL {
                return Ok(m.clone());
            }
        }
        match self.fetch(url, entity_id).await {
            Ok(m) => {
                let m = Arc::new(m);
                if let Ok(mut c) = self.inner.cache.lock() {
                    c.insert(key, (m.clone(), Instant::now()));
                }
                Ok(m)
            }
            Err(e) => match cached {
                Some((m, at)) if at.elapsed() < METADATA_STALE_GRACE => {
                    tracing::warn!(error = %e, "SAML metadata refresh failed; using the cached copy");
                    Ok(m)
                }
                _ => Err(e),
            },
        }
    }

    /// Fetches and parses metadata without the cache.
    pub async fn fetch(&self, url: &str, entity_id: Option<&str>) -> Result<IdpMetadata, IdpError> {
        let http = self.inner.http.as_ref().map_err(|e| IdpError::from(e.clone()))?;
        let req = portico_http::http::Request::get(url)
            .header("accept", "application/samlmetadata+xml, application/xml, text/xml")
            .body(Vec::new())
            .map_err(|e| IdpError::Config(format!("metadataUrl: {e}")))?;
        let res = http.send(req).await?;
        if !res.status().is_success() {
            return Err(IdpError::Unavailable(format!(
                "metadata URL answered HTTP {}",
                res.status().as_u16()
            )));
        }
        let text =
            String::from_utf8(res.into_body()).map_err(|_| IdpError::Metadata("metadata is not UTF-8".into()))?;
        parse_idp_metadata(&text, entity_id)
    }
}
