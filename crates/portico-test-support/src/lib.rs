//! Test support shared by the workspace's test suites and benchmarks (a dev-dependency only).
//!
//! - [`saml`]: the real SAML IdP of `tests/peers/saml-idp.sh` (pysaml2, signing with Debian's
//!   `xmlsec1`), reused from `scripts/test` or started once per process, and `xmlsec1` re-signing
//!   of crafted responses.
//!
//! Failures here are test failures, so this crate panics with the reason instead of returning
//! errors (hence the `unwrap`/`expect` allowance).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod saml;

use std::path::PathBuf;

/// The repository's root folder (where `tests/peers/` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
