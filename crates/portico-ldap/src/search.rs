//! Finding the user: a subtree search under `ldapSearchBase` with the escaped filter, asking the
//! server for at most two entries. Exactly one entry is a match; none or several are refusals.

use ldap3::{Ldap, Scope, SearchOptions};
use portico_core::idp::IdpError;

use crate::connect::{diag, timed, Fail};
use crate::entry::Entry;
use crate::settings::Resolved;

/// What the user search found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// No entry matches.
    None,
    /// Exactly one entry matches.
    One(Box<Entry>),
    /// At least this many entries match (the search stops at two).
    Many(usize),
}

/// The attributes read from a user entry (never `userPassword`).
pub(crate) fn user_attributes(r: &Resolved) -> Vec<String> {
    let mut attrs: Vec<String> = [
        "mail",
        "displayName",
        "cn",
        "uid",
        "sAMAccountName",
        "entryUUID",
        "objectGUID",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if !attrs
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&r.settings.group_attribute))
    {
        attrs.push(r.settings.group_attribute.clone());
    }
    attrs
}

fn time_limit(r: &Resolved) -> i32 {
    i32::try_from(r.settings.op_timeout.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Searches for the user with the rendered `filter` on a service-bound connection.
pub(crate) async fn find_user(r: &Resolved, ldap: &mut Ldap, filter: &str) -> Result<Lookup, Fail> {
    let attrs = user_attributes(r);
    let opts = SearchOptions::new().sizelimit(2).timelimit(time_limit(r));
    let res = timed(
        r,
        "user search",
        ldap.with_search_options(opts)
            .search(&r.settings.search_base, Scope::Subtree, filter, attrs),
    )
    .await?;
    let (entries, result) = (res.0, res.1);
    match result.rc {
        // success, sizeLimitExceeded (more than two), referral (entries still count)
        0 | 4 | 10 => {}
        32 => {
            return Err(IdpError::Config(format!(
                "ldapSearchBase {:?} does not exist (rc=32 noSuchObject)",
                r.settings.search_base
            ))
            .into());
        }
        rc => {
            return Err(IdpError::Unavailable(format!(
                "user search refused by the directory (rc={rc}{})",
                diag(&result.text)
            ))
            .into());
        }
    }
    let total = entries.len();
    let mut decoded: Vec<Entry> = entries.into_iter().filter_map(Entry::decode).collect();
    Ok(match (decoded.len(), result.rc) {
        (_, 4) => Lookup::Many(total.max(2)),
        (0, _) if total > 0 => {
            return Err(IdpError::Unavailable(
                "the directory answered the user search with undecodable entries".into(),
            )
            .into());
        }
        (0, _) => Lookup::None,
        (1, _) => match decoded.pop() {
            Some(e) => Lookup::One(Box::new(e)),
            None => Lookup::None,
        },
        (n, _) => Lookup::Many(n),
    })
}

/// True when `base` exists (a base-scope search sees it).
pub(crate) async fn base_exists(r: &Resolved, ldap: &mut Ldap, base: &str) -> Result<Result<(), String>, Fail> {
    let opts = SearchOptions::new().sizelimit(1).timelimit(time_limit(r));
    let res = timed(
        r,
        "base search",
        ldap.with_search_options(opts)
            .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"]),
    )
    .await?;
    Ok(match (res.1.rc, res.0.len()) {
        (0, 1) => Ok(()),
        (0, _) | (32, _) => Err(format!(
            "{base:?} does not exist or is not visible to the service account"
        )),
        (rc, _) => Err(format!("searching {base:?} failed (rc={rc}{})", diag(&res.1.text))),
    })
}
