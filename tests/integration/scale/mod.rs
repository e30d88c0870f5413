//! Issue 19, cost that does not grow with the data: the seed of `scripts/scale` at a small size,
//! the plans of the measured paths ([`plans`]), exact keyset paging ([`paging`]), the batched
//! purges and audit retention ([`purge`]), what goes with a deleted session ([`cascade`]), and an
//! index behind every foreign key ([`foreign_keys`]).

mod cascade;
mod cascade_owners;
mod foreign_keys;
mod paging;
mod plans;
mod purge;

use sqlx::{Connection, PgConnection};

/// The SQL that builds a large database (`scripts/scale` runs the same file through psql).
const SEED: &str = include_str!("../../scale/seed.sql");

/// The fixture's organizations and keys (tests/scale/seed.sql).
pub const BIG_ORG: &str = "00SCA1EB1G0000000000000000";
pub const SMALL_ORG: &str = "00SCA1ESMA1100000000000000";
pub const ADMIN_KEY: &str = "ptk_scaleadm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
pub const SDK_KEY: &str = "ptk_scalesdk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Seeds the migrated database at `url` with `users` background users and `audit_per_user`
/// audit events each, plus the fixture (its big organization with 300 members: at this size
/// 10,000 would be most of the memberships), then ANALYZEs.
pub async fn seed(url: &str, users: u32, audit_per_user: u32) {
    let mut c = PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(&format!(
        "SET portico.scale_users = '{users}'; SET portico.scale_audit_per_user = '{audit_per_user}';
         SET portico.scale_fixture_members = '300';\n{SEED}"
    ))
    .execute(&mut c)
    .await
    .expect("seed");
    c.close().await.expect("close");
}
