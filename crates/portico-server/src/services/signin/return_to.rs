//! Where a browser may be sent after sign-in: the `returnTo` / `RelayState` rule.

/// The validated `returnTo`: an allowed target, or None (the caller falls back to `app.url`).
/// Allowed: an exact entry of `app.allowed_return_urls`, or anything under an entry (or under
/// `app.url`) that ends with `/`. No userinfo, no backslashes, http(s) only.
pub fn allowed_return(settings: &crate::config::Settings, candidate: &str) -> Option<String> {
    if candidate.len() > 2048 || candidate.contains('\\') || candidate.chars().any(char::is_control) {
        return None;
    }
    let url = url::Url::parse(candidate).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let normalized = url.to_string();
    let app = settings.app.url.as_str();
    let ok = std::iter::once(app)
        .chain(settings.app.allowed_return_urls.iter().map(String::as_str))
        .any(|allowed| {
            let allowed_norm = url::Url::parse(allowed).map(|u| u.to_string()).unwrap_or_default();
            normalized == allowed_norm || (allowed_norm.ends_with('/') && normalized.starts_with(&allowed_norm))
        });
    ok.then_some(normalized)
}
