//! A small pool of service-account connections (bound as the connection's service DN), keyed by
//! a digest of the settings that made them, so every login does not pay a TCP + TLS handshake and
//! a service bind. Only service-bound connections are pooled: user binds always use a fresh
//! connection that is closed afterwards. A connection that failed at the transport level is
//! dropped, never returned; idle ones expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldap3::Ldap;

/// Idle connections kept per settings digest.
pub const MAX_IDLE_PER_KEY: usize = 4;
/// Settings digests remembered at once (the least recently used is dropped beyond that).
pub const MAX_KEYS: usize = 256;
/// An idle connection older than this is closed instead of reused (servers drop idle clients).
pub const MAX_IDLE: Duration = Duration::from_secs(120);

struct Idle {
    ldap: Ldap,
    since: Instant,
}

#[derive(Default)]
struct Slots {
    idle: Vec<Idle>,
    last_used: Option<Instant>,
}

/// The shared pool; cheap to clone (one pool per process is the intended use).
#[derive(Clone, Default)]
pub struct LdapPool {
    inner: Arc<Mutex<HashMap<[u8; 32], Slots>>>,
}

impl std::fmt::Debug for LdapPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapPool").field("idle", &self.idle_count()).finish()
    }
}

impl LdapPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Slots>> {
        // A panic while holding the lock leaves only connections behind: keep using the map.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes an idle, still open connection for `key`.
    pub(crate) fn take(&self, key: &[u8; 32]) -> Option<Ldap> {
        let mut map = self.lock();
        let slots = map.get_mut(key)?;
        slots.last_used = Some(Instant::now());
        while let Some(mut idle) = slots.idle.pop() {
            if idle.since.elapsed() < MAX_IDLE && !idle.ldap.is_closed() {
                return Some(idle.ldap);
            }
        }
        None
    }

    /// Returns a healthy connection for reuse (dropped, and so closed, when the pool is full).
    pub(crate) fn put(&self, key: [u8; 32], mut ldap: Ldap) {
        if ldap.is_closed() {
            return;
        }
        let mut map = self.lock();
        if !map.contains_key(&key) && map.len() >= MAX_KEYS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        let slots = map.entry(key).or_default();
        slots.last_used = Some(Instant::now());
        slots.idle.retain(|i| i.since.elapsed() < MAX_IDLE);
        if slots.idle.len() < MAX_IDLE_PER_KEY {
            slots.idle.push(Idle {
                ldap,
                since: Instant::now(),
            });
        }
    }

    /// Drops every idle connection of `key` (one of them turned out broken: the others, opened
    /// to the same server, are likely stale too).
    pub(crate) fn discard(&self, key: &[u8; 32]) {
        if let Some(slots) = self.lock().get_mut(key) {
            slots.idle.clear();
        }
    }

    /// Idle connections currently held (all keys).
    pub fn idle_count(&self) -> usize {
        self.lock().values().map(|s| s.idle.len()).sum()
    }

    /// Closes every idle connection.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
