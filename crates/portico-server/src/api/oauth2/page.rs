//! The browser-facing page family: the sign-in page, every error a person may meet on the
//! provider's routes (SPEC §3: never raw JSON) and the SAML ACS's self-posting page.
//! Server-rendered, accessible HTML that works with JavaScript off, no third-party assets, a strict
//! `Content-Security-Policy` (the one inline style, and the self-posting page's one script, carry a
//! per-response nonce).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}\
h1{font-size:1.5rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box;border:1px solid #767676;border-radius:4px}\
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;background:#1f4fd1;color:#fff;border:0;border-radius:4px}\
button:focus,input:focus{outline:3px solid #ffbf47}.note{background:#fff4e5;border-left:4px solid #b45f06;padding:.5rem .75rem}\
.meta{color:#555;font-size:.85rem;margin-top:2rem}";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with `title` and pre-escaped `body`, the request id at the bottom.
pub fn render(status: StatusCode, title: &str, body: &str, request_id: Option<&str>) -> Response {
    render_with_script(status, title, body, None, request_id)
}

/// [`render`] with an optional script (trusted, ours): it runs under the same per-response nonce
/// as the style (`script-src 'nonce-…'`), so the CSP still forbids every other script.
fn render_with_script(
    status: StatusCode,
    title: &str,
    body: &str,
    script: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let nonce = portico_core::token::random_urlsafe(16);
    let meta = request_id
        .map(|r| format!("<p class=\"meta\">Request id: <code>{}</code></p>", esc(r)))
        .unwrap_or_default();
    let (script_tag, script_src) = match script {
        Some(js) => (
            format!("<script nonce=\"{nonce}\">{js}</script>"),
            format!("; script-src 'nonce-{nonce}'"),
        ),
        None => (String::new(), String::new()),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t} · Portico</title>\
<style nonce=\"{nonce}\">{STYLE}</style></head><body><main><h1>{t}</h1>{body}{meta}</main>{script_tag}</body></html>",
        t = esc(title)
    );
    let csp =
        format!("default-src 'none'; style-src 'nonce-{nonce}'{script_src}; base-uri 'none'; frame-ancestors 'none'");
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", v);
    }
    res
}

/// A page that posts `fields` to `action` (a fixed URL of this deployment, never one taken from
/// the request) again: from this page the POST
/// is same-site, so the browser now sends the `SameSite=Lax` cookies a cross-site POST went
/// without. It submits itself with JavaScript (a nonce'd script, CSP-safe) and shows a button
/// that does the same with JavaScript off. No `form-action` directive: the POST's answer
/// redirects to the application's origin, which `form-action 'self'` would block.
pub fn self_post(action: &str, fields: &[(&str, &str)], request_id: Option<&str>) -> Response {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    let body = format!(
        "<p>Your organization's sign-in is complete; one more step finishes it in this browser.</p>\
<form id=\"repost\" method=\"post\" action=\"{}\">{hidden}<button type=\"submit\">Continue</button></form>",
        esc(action)
    );
    render_with_script(
        StatusCode::OK,
        "Finishing sign-in",
        &body,
        Some("document.getElementById('repost').submit();"),
        request_id,
    )
}

/// An error page: what happened and what to do.
pub fn error(status: StatusCode, title: &str, what: &str, todo: &str, request_id: Option<&str>) -> Response {
    let body = format!("<p>{}</p><p>{}</p>", esc(what), esc(todo));
    render(status, title, &body, request_id)
}

/// The sign-in page: a work-email form that re-enters `/oauth2/authorize` with `login_hint`,
/// carrying the original request in hidden fields (so it works with JavaScript off and keeps no
/// server state). `note` is a plain message above the form (an unknown domain).
pub fn sign_in(
    params: &[(String, String)],
    email: Option<&str>,
    note: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let mut hidden = String::new();
    for (k, v) in params {
        if matches!(k.as_str(), "login_hint" | "domain_hint" | "prompt") {
            continue;
        }
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        ));
    }
    let note = note
        .map(|n| format!("<p class=\"note\" role=\"alert\" id=\"note\">{}</p>", esc(n)))
        .unwrap_or_default();
    let described = if note.is_empty() {
        ""
    } else {
        " aria-describedby=\"note\""
    };
    let body = format!(
        "{note}<form method=\"get\" action=\"/oauth2/authorize\">{hidden}\
<label for=\"email\">Work email</label>\
<input id=\"email\" name=\"login_hint\" type=\"email\" autocomplete=\"email\" required maxlength=\"320\" value=\"{}\"{described}>\
<button type=\"submit\">Continue</button></form>\
<p>You will be sent to your organization's sign-in.</p>",
        esc(email.unwrap_or_default())
    );
    let status = if note.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    render(status, "Sign in", &body, request_id)
}
