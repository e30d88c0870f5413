//! SSO: sso_settings (filled in by the OIDC issue).
