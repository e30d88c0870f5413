//! Throttling of the public sign-in routes: fixed one-minute windows per key (client IP, and
//! organization + connection), held in process memory — a cache that is safe to lose; each
//! replica throttles on its own. Answers `RATE_LIMITED` with `Retry-After` only when a window is full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitSettings;
use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(60);

/// Counters per key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Counts one hit on `key`; refuses once `limit` hits fell in the current window.
    pub fn hit(&self, key: &str, limit: u32) -> Result<(), ApiError> {
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 50_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let retry_after = WINDOW.saturating_sub(now.duration_since(entry.0)).as_secs().max(1);
            return Err(ApiError::RateLimited { retry_after });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Throttles a sign-in attempt by client IP and, when known, by organization + connection.
    pub fn sign_in(
        &self,
        limits: &RateLimitSettings,
        ip: Option<&str>,
        scope: Option<(&str, &str)>,
    ) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            self.hit(&format!("ip:{ip}"), limits.sign_in_per_ip_per_minute)?;
        }
        if let Some((org, conn)) = scope {
            self.hit(&format!("conn:{org}:{conn}"), limits.sign_in_per_connection_per_minute)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_fill_and_refuse_with_retry_after() {
        let l = RateLimiter::default();
        for _ in 0..3 {
            assert!(l.hit("k", 3).is_ok());
        }
        match l.hit("k", 3) {
            Err(ApiError::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
            other => panic!("{other:?}"),
        }
        assert!(l.hit("other", 3).is_ok());
        assert!(l.hit("k", 0).is_ok(), "0 disables the limit");
    }
}
