//! Shared state for every OIDC provider of a process: the guarded HTTP client and the discovery /
//! JWKS cache keyed by issuer.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use portico_core::idp::IdpError;
use portico_http::{OutboundClient, OutboundError, OutboundPolicy};
use url::Url;

use crate::{discovery, CACHE_TTL, JWKS_REFETCH_INTERVAL};

/// Counters of the network work the cache did, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Discovery documents fetched.
    pub discovery_fetches: u64,
    /// JWKS documents fetched (all reasons).
    pub jwks_fetches: u64,
    /// Of those, refetches caused by an ID token whose key was not in the cached JWKS.
    pub jwks_refetches: u64,
}

/// The process-wide OIDC state: one guarded HTTP client and the discovery/JWKS cache, shared by
/// every [`crate::OidcProvider`] built on it. Cheap to clone.
#[derive(Clone)]
pub struct OidcRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    http: Result<OutboundClient, OutboundError>,
    cache: Mutex<HashMap<String, IssuerEntry>>,
    discovery_fetches: AtomicU64,
    jwks_fetches: AtomicU64,
    jwks_refetches: AtomicU64,
}

#[derive(Default)]
struct IssuerEntry {
    /// The discovery document, whether it advertises RFC 9207 `iss`, and when it was fetched.
    metadata: Option<(Arc<CoreProviderMetadata>, bool, Instant)>,
    /// The JWKS, with the URI it came from.
    jwks: Option<(String, Arc<CoreJsonWebKeySet>, Instant)>,
    last_forced_jwks: Option<Instant>,
}

impl IssuerEntry {
    fn is_stale(&self, now: Instant) -> bool {
        let fresh = |at: &Instant| now.duration_since(*at) < CACHE_TTL;
        !self.metadata.as_ref().is_some_and(|(_, _, at)| fresh(at))
            && !self.jwks.as_ref().is_some_and(|(_, _, at)| fresh(at))
    }
}

impl fmt::Debug for OidcRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcRuntime")
            .field("policy", &self.inner.http.as_ref().map(OutboundClient::policy))
            .field("stats", &self.stats())
            .finish()
    }
}

/// Whether a lookup may be answered from the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Use the cache when it is younger than [`CACHE_TTL`].
    Cached,
    /// Always fetch (connection tests), then refresh the cache.
    Fresh,
}

impl OidcRuntime {
    /// Builds the runtime for an outbound `policy`. If the HTTP client cannot be built (it never
    /// should), every call made through this runtime fails with [`IdpError::Config`].
    pub fn new(policy: OutboundPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: OutboundClient::new(policy),
                cache: Mutex::new(HashMap::new()),
                discovery_fetches: AtomicU64::new(0),
                jwks_fetches: AtomicU64::new(0),
                jwks_refetches: AtomicU64::new(0),
            }),
        }
    }

    /// What the cache has fetched so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            discovery_fetches: self.inner.discovery_fetches.load(Ordering::Relaxed),
            jwks_fetches: self.inner.jwks_fetches.load(Ordering::Relaxed),
            jwks_refetches: self.inner.jwks_refetches.load(Ordering::Relaxed),
        }
    }

    /// Drops everything cached for every issuer.
    pub fn clear_cache(&self) {
        self.cache().clear();
    }

    pub(crate) fn http(&self) -> Result<&OutboundClient, IdpError> {
        self.inner.http.as_ref().map_err(|e| IdpError::from(e.clone()))
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, IssuerEntry>> {
        // A panic while holding the lock cannot leave the map inconsistent (plain inserts).
        self.inner.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The discovery document at `url` (which is also the cache key of its issuer), and whether
    /// it advertises `authorization_response_iss_parameter_supported` (RFC 9207).
    pub(crate) async fn metadata(
        &self,
        url: &Url,
        freshness: Freshness,
    ) -> Result<(Arc<CoreProviderMetadata>, bool), IdpError> {
        let key = url.as_str();
        if freshness == Freshness::Cached {
            let now = Instant::now();
            if let Some((meta, iss, _)) = self
                .cache()
                .get(key)
                .and_then(|e| e.metadata.as_ref())
                .filter(|(_, _, at)| now.duration_since(*at) < CACHE_TTL)
            {
                return Ok((meta.clone(), *iss));
            }
        }
        self.inner.discovery_fetches.fetch_add(1, Ordering::Relaxed);
        let (meta, iss) = discovery::fetch_metadata(self.http()?, url).await?;
        let meta = Arc::new(meta);
        let now = Instant::now();
        let mut cache = self.cache();
        cache.retain(|_, e| !e.is_stale(now));
        cache.entry(key.to_owned()).or_default().metadata = Some((meta.clone(), iss, now));
        Ok((meta, iss))
    }

    /// The JWKS at `jwks_uri` for the issuer cached under `key`.
    pub(crate) async fn jwks(
        &self,
        key: &Url,
        jwks_uri: &str,
        freshness: Freshness,
    ) -> Result<Arc<CoreJsonWebKeySet>, IdpError> {
        if freshness == Freshness::Cached {
            let now = Instant::now();
            if let Some((_, jwks, _)) = self
                .cache()
                .get(key.as_str())
                .and_then(|e| e.jwks.as_ref())
                .filter(|(uri, _, at)| uri == jwks_uri && now.duration_since(*at) < CACHE_TTL)
            {
                return Ok(jwks.clone());
            }
        }
        self.fetch_jwks(key, jwks_uri).await
    }

    /// Refetches the JWKS after an ID token named a key the cached set does not have, unless
    /// that already happened for this issuer within [`JWKS_REFETCH_INTERVAL`] (then `None`).
    pub(crate) async fn refetch_jwks(
        &self,
        key: &Url,
        jwks_uri: &str,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, IdpError> {
        {
            let now = Instant::now();
            let mut cache = self.cache();
            let entry = cache.entry(key.as_str().to_owned()).or_default();
            if entry
                .last_forced_jwks
                .is_some_and(|at| now.duration_since(at) < JWKS_REFETCH_INTERVAL)
            {
                return Ok(None);
            }
            entry.last_forced_jwks = Some(now);
        }
        self.inner.jwks_refetches.fetch_add(1, Ordering::Relaxed);
        self.fetch_jwks(key, jwks_uri).await.map(Some)
    }

    async fn fetch_jwks(&self, key: &Url, jwks_uri: &str) -> Result<Arc<CoreJsonWebKeySet>, IdpError> {
        self.inner.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let jwks = Arc::new(discovery::fetch_jwks(self.http()?, jwks_uri).await?);
        let now = Instant::now();
        self.cache().entry(key.as_str().to_owned()).or_default().jwks = Some((jwks_uri.to_owned(), jwks.clone(), now));
        Ok(jwks)
    }
}
