//! Portico's LDAP identity provider: search-then-bind on `ldap3` (tokio, rustls).
//!
//! A login ([`LdapProvider`]'s `complete_login`):
//! 1. refuses, before any LDAP traffic, an empty or oversized username or password
//!    ([`check_credentials`]) — many servers treat "DN + empty password" as an anonymous bind and
//!    answer success;
//! 2. on a pooled service-account connection ([`LdapPool`]), searches `ldapSearchBase` with the
//!    filter template, the username escaped per RFC 4515 ([`escape`]); exactly one entry or refuse;
//! 3. binds as that entry's DN with the password on a fresh connection (a decoy bind keeps an
//!    unknown username as slow as a wrong password), then asks Who Am I? to refuse a bind the
//!    server turned anonymous;
//! 4. reads `mail`, `displayName`/`cn`, `uid` and the groups (`memberOf` and/or a group search).
//!
//! Every connection is LDAPS or StartTLS (certificates always verified, optionally against the
//! connection's own CA) unless the connection explicitly allows plain text; a failed StartTLS
//! never falls back. Each connect and each operation has a deadline. The precise failure reason is
//! in the error's `Display` (for the audit log, never containing the password); callers show only
//! the stable code.
#![forbid(unsafe_code)]

mod bind;
mod check;
mod connect;
pub mod entry;
pub mod escape;
mod groups;
pub mod identity;
mod pool;
mod search;
mod settings;
mod tls;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use ldap3::Ldap;
use portico_core::idp::{
    CheckReport, CompleteContext, ExternalIdentity, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart,
    Protocol,
};

pub use bind::check_credentials;
pub use pool::LdapPool;
pub use settings::{
    throttle_key, AddressGuard, LdapSettings, Transport, DEFAULT_GROUP_ATTRIBUTE, DEFAULT_GROUP_SEARCH_FILTER,
    DEFAULT_SEARCH_FILTER, MAX_PASSWORD, MAX_USERNAME,
};
pub use tls::check_ca_certificate;

use connect::Fail;
use search::Lookup;
use settings::Resolved;

/// An LDAP connection's provider. Cheap to build per request; the pool is shared.
#[derive(Debug, Clone)]
pub struct LdapProvider {
    r: Arc<Resolved>,
    pool: LdapPool,
}

impl LdapProvider {
    /// Checks `settings` (URL, transport, CA, filter templates) and builds the provider.
    pub fn new(settings: LdapSettings, pool: LdapPool) -> Result<Self, IdpError> {
        Ok(Self {
            r: Arc::new(Resolved::new(settings)?),
            pool,
        })
    }

    /// The transport this provider uses.
    pub fn transport(&self) -> Transport {
        self.r.transport
    }

    /// A service-bound connection: from the pool (`true`) or new (`false`).
    async fn service(&self) -> Result<(Ldap, bool), IdpError> {
        if let Some(l) = self.pool.take(&self.r.pool_key) {
            return Ok((l, true));
        }
        let mut l = connect::open(&self.r).await?;
        bind::service(&self.r, &mut l).await?;
        Ok((l, false))
    }

    /// Runs `op` on a service connection; a pooled connection that turns out broken is dropped
    /// and the operation retried once on a new one. Healthy connections go back to the pool.
    async fn on_service<T, F, Fut>(&self, mut op: F) -> Result<T, IdpError>
    where
        F: FnMut(Ldap) -> Fut,
        Fut: Future<Output = Result<T, Fail>>,
    {
        let mut last = None;
        for _ in 0..2 {
            let (ldap, reused) = self.service().await?;
            match op(ldap.clone()).await {
                Ok(v) => {
                    self.pool.put(self.r.pool_key, ldap);
                    return Ok(v);
                }
                Err(Fail::Broken(b)) if reused => {
                    tracing::debug!(reason = %b.0, "pooled LDAP connection was broken; retrying on a new one");
                    self.pool.discard(&self.r.pool_key);
                    last = Some(b);
                }
                Err(Fail::Broken(b)) => return Err(b.into()),
                Err(Fail::Idp(e)) => {
                    self.pool.put(self.r.pool_key, ldap);
                    return Err(e);
                }
            }
        }
        Err(last
            .map(IdpError::from)
            .unwrap_or_else(|| IdpError::Unavailable("no usable LDAP connection".into())))
    }

    /// Verifies `username`/`password` and returns the directory identity.
    async fn sign_in(&self, username: &str, password: &secrecy::SecretString) -> Result<ExternalIdentity, IdpError> {
        check_credentials(username, password)?;
        // Directories ignore surrounding spaces in usernames; the throttle key does too.
        let username = username.trim();
        let r = &*self.r;
        let filter = escape::render(&r.settings.search_filter, username, None)?;
        let lookup = self
            .on_service(|mut l| {
                let filter = &filter;
                async move { search::find_user(r, &mut l, filter).await }
            })
            .await?;
        let entry = match lookup {
            Lookup::One(e) if !e.dn.trim().is_empty() => e,
            Lookup::One(_) => {
                return Err(IdpError::InvalidCredentials(
                    "the matching entry has an empty DN".into(),
                ))
            }
            Lookup::None => {
                bind::decoy(r).await;
                return Err(IdpError::InvalidCredentials(
                    "no directory entry matches the username".into(),
                ));
            }
            Lookup::Many(n) => {
                bind::decoy(r).await;
                return Err(IdpError::InvalidCredentials(format!(
                    "{n} or more directory entries match the username; refusing to choose"
                )));
            }
        };
        bind::user(r, &entry.dn, password).await?;
        let mut names: BTreeSet<String> = groups::from_entry(&entry, &r.settings.group_attribute);
        if let Some(base) = &r.settings.group_search_base {
            let member_uid = entry
                .first("uid")
                .or_else(|| entry.first("sAMAccountName"))
                .unwrap_or_else(|| username.to_owned());
            let (dn, uid) = (&entry.dn, &member_uid);
            let found = self
                .on_service(|mut l| async move { groups::search(r, &mut l, base, dn, uid).await })
                .await?;
            names.extend(found);
        }
        Ok(identity::build(&r.base_url, &entry, names))
    }
}

#[async_trait::async_trait]
impl IdentityProvider for LdapProvider {
    fn protocol(&self) -> Protocol {
        Protocol::Ldap
    }

    async fn begin_login(&self, _ctx: &LoginContext) -> Result<LoginStart, IdpError> {
        Ok(LoginStart::CollectCredentials)
    }

    async fn complete_login(&self, _ctx: &CompleteContext, input: LoginInput) -> Result<ExternalIdentity, IdpError> {
        match input {
            LoginInput::Credentials { username, password } => self.sign_in(&username, &password).await,
            _ => Err(IdpError::Unsupported(
                "an LDAP connection takes a username and a password".into(),
            )),
        }
    }

    async fn check(&self) -> CheckReport {
        check::run(&self.r).await
    }
}
