//! SSO: login (filled in by the OIDC issue).
