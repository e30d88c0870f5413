//! Portico's integration tests: one binary, real PostgreSQL (one cluster, a fresh database per
//! test), real identity providers started by `scripts/test` (or on demand).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

mod support;

mod api_fuzz;
mod connection_settings;
mod connection_views;
mod domains_policy;
mod faults;
mod foundation;
mod foundation_auth;
mod foundation_ops;
mod hygiene;
mod ldap_login;
mod oidc_login;
mod openapi;
mod provider;
mod provider_browser;
mod provider_cors;
mod provider_faults;
mod provider_flows;
mod provider_ldap;
mod provider_ldap_rp;
mod provider_sessions;
mod saml_login;
mod saml_repost;
mod scale;
mod scim;
mod sdk_api;
mod sdk_python;
mod security;
mod signin_pending;
mod signin_writes;
mod startup;
mod statement_timeout;
