//! SSO: provision (filled in by the OIDC issue).
