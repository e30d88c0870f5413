//! The `Set-Cookie` values of sign-in: the session cookie and the browser-binding cookie of a
//! login transaction. Apart from [`super::signin_edge`] so that the OpenID Provider's edge can
//! set them without importing the sign-in redirects (which import the provider's resume URL).

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::SESSION_COOKIE;
use crate::config::Settings;
use crate::services::signin::transaction::BINDING_COOKIE_PATH;
use crate::services::signin::BindingCookie;

/// `Set-Cookie` of a binding cookie (set at the start, cleared at the callback).
pub fn binding_set_cookie(c: &BindingCookie) -> String {
    let (name, value, same_site, max_age) = (&c.name, &c.value, c.same_site, c.max_age_secs);
    if max_age == 0 {
        // Cleared: the attributes in the order the clearing cookie has always had.
        let secure = if c.secure { "; Secure" } else { "" };
        format!("{name}=; Path={BINDING_COOKIE_PATH}; HttpOnly; SameSite={same_site}{secure}; Max-Age=0")
    } else {
        let secure = if c.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={BINDING_COOKIE_PATH}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}")
    }
}

/// `Set-Cookie` for a session: HttpOnly, SameSite=Lax, Secure when the public URL is https.
pub fn session_cookie(settings: &Settings, token: &SecretString, expires_at: DateTime<Utc>) -> String {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let secure = if settings.secure_cookies() { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        token.expose_secret()
    )
}

/// `Set-Cookie` that clears the session cookie.
pub fn clear_session_cookie(settings: &Settings) -> String {
    let secure = if settings.secure_cookies() { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}
