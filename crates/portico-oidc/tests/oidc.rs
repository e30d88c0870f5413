//! Integration tests of the OIDC adapter: against the real OpenID Provider
//! (`tests/peers/oidc-provider.sh`, started once per process unless `PORTICO_TEST_OIDC_ISSUER`
//! names a running one) and against a hostile provider written here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "oidc/fixture.rs"]
mod fixture;
#[path = "oidc/hostile.rs"]
mod hostile;
#[path = "oidc/real.rs"]
mod real;
#[path = "oidc/support.rs"]
mod support;
