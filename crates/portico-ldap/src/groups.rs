//! Group names: the values of the user entry's group attribute (`memberOf`: group DNs, reported
//! by their first RDN value, `cn=admins,ou=groups,…` → `admins`), plus, when `ldapGroupSearchBase`
//! is set, the groups a search with `ldapGroupSearchFilter` finds (their `cn`).

use std::collections::BTreeSet;

use ldap3::{Ldap, Scope, SearchOptions};
use portico_core::idp::IdpError;

use crate::connect::{diag, timed, Fail};
use crate::entry::{first_rdn_value, Entry};
use crate::escape;
use crate::settings::Resolved;

/// Groups read from a search at most.
pub const MAX_GROUPS: i32 = 1000;

/// Group names from the entry's group attribute.
pub(crate) fn from_entry(entry: &Entry, attribute: &str) -> BTreeSet<String> {
    entry
        .strings(attribute)
        .into_iter()
        .filter_map(|v| {
            let v = v.trim();
            (!v.is_empty()).then(|| first_rdn_value(v).unwrap_or_else(|| v.to_owned()))
        })
        .collect()
}

/// Group names found by the group search for the user `dn` (`member_uid`: the entry's `uid`).
pub(crate) async fn search(
    r: &Resolved,
    ldap: &mut Ldap,
    base: &str,
    dn: &str,
    member_uid: &str,
) -> Result<BTreeSet<String>, Fail> {
    let filter = escape::render(&r.settings.group_search_filter, member_uid, Some(dn))?;
    let opts = SearchOptions::new()
        .sizelimit(MAX_GROUPS)
        .timelimit(i32::try_from(r.settings.op_timeout.as_secs().max(1)).unwrap_or(i32::MAX));
    let res = timed(
        r,
        "group search",
        ldap.with_search_options(opts)
            .search(base, Scope::Subtree, &filter, vec!["cn"]),
    )
    .await?;
    match res.1.rc {
        0 | 10 => {}
        4 => tracing::warn!(base, "group search stopped at {MAX_GROUPS} groups"),
        32 => {
            return Err(IdpError::Config(format!(
                "ldapGroupSearchBase {base:?} does not exist (rc=32 noSuchObject)"
            ))
            .into())
        }
        rc => {
            return Err(IdpError::Unavailable(format!(
                "group search refused by the directory (rc={rc}{})",
                diag(&res.1.text)
            ))
            .into())
        }
    }
    Ok(res
        .0
        .into_iter()
        .filter_map(Entry::decode)
        .filter_map(|g| g.first("cn").or_else(|| first_rdn_value(&g.dn)))
        .collect())
}
