//! SAML sign-in end to end against the real pysaml2 IdP: connections created through the API
//! (so the production validation path runs), SP metadata, the SP-initiated browser flow and the
//! SDK callback, opt-in IdP-initiated login, and the attack corpus — every case refused with no
//! session, no 5xx, and its reason in the audit log.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::oidc::browser;
use crate::support::saml::{self, b64, xml_of, Idp};
use crate::support::{error_of, session_cookie, sessions_by_method, Owner, Resp, TestApp};

/// Creates a SAML connection to the harness IdP for `example.com` (`extra` overrides fields).
pub(crate) async fn create(app: &TestApp, o: &Owner, idp: &Idp, extra: Value) -> Value {
    let mut body = json!({
        "name": "Test SAML", "protocol": "saml",
        "idpEntityId": idp.entity_id, "idpSsoUrl": format!("{}/sso/redirect", idp.base), "idpCertificate": idp.cert(),
        "domains": ["example.com"], "jitProvisioning": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn failure_details(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT reason, details->>'detail' FROM audit_events WHERE action = 'sign_in.sso' AND outcome = 'failure' ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn sp_metadata_key_sealing_and_keyless_connections_refused() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlmd").await;
    let conn = create(&app, &o, idp, json!({})).await;
    let id = conn["id"].as_str().unwrap();
    assert_eq!(
        conn["spEntityId"],
        format!("{}/api/auth/sso/saml/{id}/metadata", app.base)
    );
    assert_eq!(conn["spAcsUrl"], format!("{}/api/auth/sso/callback", app.base));
    assert_eq!(conn["allowIdpInitiated"], Value::Null);
    let (sealed, cert): (String, String) =
        sqlx::query_as("SELECT sp_private_key, config->>'spCertificate' FROM sso_connections WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains("PRIVATE KEY"));
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));

    let r = TestApp::read(
        app.http
            .get(format!("{}/api/auth/sso/saml/{id}/metadata", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/samlmetadata+xml");
    assert!(
        r.text
            .contains(&format!("entityID=\"{}/api/auth/sso/saml/{id}/metadata\"", app.base)),
        "{}",
        r.text
    );
    assert!(r
        .text
        .contains(&format!("Location=\"{}/api/auth/sso/callback\"", app.base)));
    assert!(r.text.contains("<ds:X509Certificate>MII"));
    assert!(!r.text.contains("/acs\""), "no IdP-initiated ACS unless opted in");
    let r = app
        .http
        .get(format!(
            "{}/api/auth/sso/saml/sso_01ARZ3NDEKTSV4RRFFQ69G5FAV/metadata",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Test connection: certificates valid, days to expiry reported.
    let r = app
        .call(
            Method::POST,
            &format!("/v1/sso/connections/{id}/test"),
            Some(&o.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true, "{}", r.text);
    assert!(r.text.contains("nearest expiry in"), "{}", r.text);

    // Refused at creation: metadata without a signing key, a certificate that is not one.
    let md = idp.metadata();
    let start = md.find("KeyDescriptor").map(|i| md[..i].rfind('<').unwrap()).unwrap();
    let close = md.rfind("KeyDescriptor>").unwrap() + "KeyDescriptor>".len();
    let keyless = format!("{}{}", &md[..start], &md[close..]);
    let mut body = json!({"name": "keyless", "protocol": "saml", "metadataXml": keyless});
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body.clone()))
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    assert!(
        r.text.contains("metadataXml") && r.text.contains("no IdP signing certificate"),
        "{}",
        r.text
    );
    body = json!({"name": "junk", "protocol": "saml", "idpEntityId": idp.entity_id, "idpSsoUrl": format!("{}/sso/redirect", idp.base), "idpCertificate": "not a certificate"});
    let r = app
        .call(Method::POST, "/v1/sso/connections", Some(&o.key), Some(body))
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    assert!(r.text.contains("idpCertificate"), "{}", r.text);
    // Pasted metadata with its key is accepted.
    let r = app
        .call(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            Some(json!({"name": "md", "protocol": "saml", "metadataXml": md})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.count("sso_connections").await, 2);

    // A metadata URL is fetched at creation (through the outbound guard): the IdP's real
    // metadata is accepted; an unreachable URL or a document that is not metadata is refused,
    // and so is an update to one, leaving the row as it was.
    let by_url = app
        .call(
            Method::POST,
            "/v1/sso/connections",
            Some(&o.key),
            Some(json!({"name": "url", "protocol": "saml", "metadataUrl": format!("{}/metadata", idp.base)})),
        )
        .await;
    assert_eq!(by_url.status, 201, "{}", by_url.text);
    for bad in [
        "http://127.0.0.1:1/metadata".to_owned(),
        format!("{}/response?kind=valid", idp.base),
    ] {
        let r = app
            .call(
                Method::POST,
                "/v1/sso/connections",
                Some(&o.key),
                Some(json!({"name": "bad", "protocol": "saml", "metadataUrl": bad})),
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{bad}: {}", r.text);
        assert!(r.text.contains("metadataUrl"), "{}", r.text);
        let url_id = by_url.body["id"].as_str().unwrap();
        let r = app
            .call(
                Method::PATCH,
                &format!("/v1/sso/connections/{url_id}"),
                Some(&o.key),
                Some(json!({"metadataUrl": bad})),
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{bad}: {}", r.text);
        let stored: String = sqlx::query_scalar("SELECT config->>'metadataUrl' FROM sso_connections WHERE id = $1")
            .bind(url_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, format!("{}/metadata", idp.base));
    }
    assert_eq!(app.count("sso_connections").await, 3);
}

#[tokio::test]
async fn sp_initiated_browser_login_end_to_end() {
    let idp = saml::idp().await;
    let app = TestApp::start_with(|s| s.app.allowed_return_urls = vec!["http://app.example.test/home".into()]).await;
    let o = app.owner("samlb").await;
    let conn = create(&app, &o, idp, json!({"groupMappings": {"admins": ["admin:all"]}})).await;
    let t = std::time::Instant::now();
    let b = browser();
    let form = saml::to_idp_form(
        &app,
        &b,
        "/api/auth/sso/samlb/login?email=alice%40example.com&returnTo=http%3A%2F%2Fapp.example.test%2Fhome",
    )
    .await;
    assert_eq!(form.action, format!("{}/api/auth/sso/callback", app.base));
    assert!(form.relay_state.len() <= 80);
    let r = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
    eprintln!("SP-initiated browser login: {:?}", t.elapsed());
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.headers["location"], "http://app.example.test/home");
    let cookie = session_cookie(&r).expect("session cookie");
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["user"]["email"], "alice@example.com");
    assert_eq!(me.body["data"]["user"]["name"], "Alice Example");
    assert_eq!(me.body["data"]["authentication"]["method"], "saml");
    assert_eq!(me.body["data"]["authentication"]["mfa"], false);
    let (subject, cid): (String, String) = sqlx::query_as("SELECT subject, connection_id FROM external_identities")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(subject, "alice@example.com");
    assert_eq!(cid, conn["id"].as_str().unwrap());
    let (groups, scopes): (Vec<String>, Vec<String>) =
        sqlx::query_as("SELECT groups, mapped_scopes FROM sessions WHERE method = 'saml'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(groups, vec!["admins", "users"]);
    assert_eq!(scopes, vec!["admin:all"]);
    let replay_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM saml_replay_cache WHERE expires_at > now()")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(replay_rows, 1);
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM audit_events WHERE action = 'sign_in.sso'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(outcome, "success");

    // The same POST again: the transaction is gone.
    let again = saml::post(&b, &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&again), "INVALID_STATE");
    // Completed in a browser that did not start the login: refused (login CSRF).
    let form = saml::to_idp_form(&app, &browser(), "/api/auth/sso/samlb/login?email=alice%40example.com").await;
    let r = saml::post(&browser(), &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&r), "LOGIN_BINDING_MISMATCH");
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
}

#[tokio::test]
async fn binding_cookie_survives_the_cross_site_post_on_https() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlc").await;
    create(&app, &o, idp, json!({})).await;
    let r = app
        .http
        .get(format!("{}/api/auth/sso/samlc/login?email=a%40example.com", app.base))
        .send()
        .await
        .unwrap();
    let c = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        c.contains("SameSite=Lax") && !c.contains("Secure"),
        "plain http keeps Lax: {c}"
    );
    let app = TestApp::start_with(|s| s.server.public_url = "https://sso.example.test".into()).await;
    let o = app.owner("samlh").await;
    create(&app, &o, idp, json!({})).await;
    let r = app
        .http
        .get(format!("{}/api/auth/sso/samlh/login?email=a%40example.com", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let c = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        c.contains("SameSite=None") && c.contains("Secure") && c.contains("HttpOnly"),
        "{c}"
    );
}

#[tokio::test]
async fn sdk_callback_returns_the_callback_result() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samls").await;
    let conn = create(&app, &o, idp, json!({})).await;
    let r = app
        .call(
            Method::GET,
            "/sso/login?org=samls&domain=example.com",
            Some(&o.key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["protocol"], "saml");
    let form = saml::idp_form(&reqwest::Client::new(), r.body["authorizeUrl"].as_str().unwrap()).await;
    assert_eq!(
        form.action,
        format!("{}/api/auth/sso/callback", app.base),
        "the SDK ACS is spAcsUrl"
    );
    // An SDK transaction presented at the browser ACS is refused (and consumed).
    let r = saml::post(&browser(), &form.action, &form.saml_response, &form.relay_state).await;
    assert_eq!(error_of(&r), "LOGIN_MODE_MISMATCH");
    let r = app
        .call(
            Method::GET,
            "/sso/login?org=samls&domain=example.com",
            Some(&o.key),
            None,
        )
        .await;
    let form = saml::idp_form(&reqwest::Client::new(), r.body["authorizeUrl"].as_str().unwrap()).await;
    let body2 = json!({"SAMLResponse": form.saml_response, "RelayState": form.relay_state});
    let r = app
        .call(Method::POST, "/sso/callback/saml", Some(&o.key), Some(body2.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "alice@example.com");
    assert_eq!(r.body["sub"], "alice@example.com");
    assert_eq!(r.body["connectionId"], conn["id"]);
    assert_eq!(r.body["developerId"], o.org_id.as_str());
    assert_eq!(r.body["groups"], json!(["admins", "users"]));
    assert_eq!(r.body["provisioned"], true);
    let token = r.body["sessionToken"].as_str().unwrap();
    let me = TestApp::read(
        app.http
            .get(format!("{}/api/user/me", app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["authentication"]["method"], "saml");
    // Replayed: the transaction is single use.
    let r = app
        .call(Method::POST, "/sso/callback/saml", Some(&o.key), Some(body2))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], "INVALID_STATE");
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
}

#[tokio::test]
async fn idp_initiated_is_off_by_default_and_replay_checked_when_on() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samli").await;
    let conn = create(&app, &o, idp, json!({})).await;
    let id = conn["id"].as_str().unwrap();
    let sp = conn["spEntityId"].as_str().unwrap();
    let acs = format!("{}/api/auth/sso/saml/{id}/acs", app.base);
    let unsolicited = idp.fixture("valid", None, sp, &acs).await;
    let r = saml::post(&browser(), &acs, &unsolicited, "").await;
    assert_eq!(error_of(&r), "IDP_INITIATED_DISABLED");
    // Unsolicited at the shared callback: there is no transaction to route it.
    let shared = idp
        .fixture("valid", None, sp, &format!("{}/api/auth/sso/callback", app.base))
        .await;
    let r = saml::post(&browser(), &format!("{}/api/auth/sso/callback", app.base), &shared, "").await;
    assert_eq!(error_of(&r), "INVALID_STATE");
    assert_eq!(sessions_by_method(&app, "saml").await, 0);

    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/sso/connections/{id}"),
            Some(&o.key),
            Some(json!({"allowIdpInitiated": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let md = app
        .http
        .get(format!("{}/api/auth/sso/saml/{id}/metadata", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.contains(&format!("Location=\"{acs}\"")), "{md}");
    let r = saml::post(&browser(), &acs, &unsolicited, "http://app.example.test/").await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers);
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
    // The same assertion again: replayed.
    let r = saml::post(&browser(), &acs, &unsolicited, "").await;
    assert_eq!(error_of(&r), "ASSERTION_REPLAYED");
    // A solicited response (with InResponseTo) is not accepted as unsolicited.
    let solicited = idp.fixture("valid", Some("_some-request"), sp, &acs).await;
    let r = saml::post(&browser(), &acs, &solicited, "").await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    // Another connection (opted in too) does not accept this connection's response.
    let other = create(
        &app,
        &o,
        idp,
        json!({"name": "Other", "domains": ["other.example"], "allowIdpInitiated": true}),
    )
    .await;
    let other_acs = format!("{}/api/auth/sso/saml/{}/acs", app.base, other["id"].as_str().unwrap());
    let fresh = idp.fixture("valid", None, sp, &acs).await;
    let r = saml::post(&browser(), &other_acs, &fresh, "").await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
    let details = failure_details(&app).await;
    assert!(
        details
            .iter()
            .any(|(c, d)| c == "INVALID_ASSERTION" && d.contains("audience:") || d.contains("destination:")),
        "{details:?}"
    );
    assert!(details.iter().any(|(c, _)| c == "ASSERTION_REPLAYED"), "{details:?}");
}

/// A change made to a valid response XML (given the SP entity ID) before it is signed again.
type Edit = fn(&str, &str) -> String;

/// One attack: a fresh browser login whose IdP answer is replaced by `make(request_id)`.
async fn attack(app: &TestApp, slug: &str, saml_response: impl AsyncFnOnce(String) -> String) -> Resp {
    let b = browser();
    let form = saml::to_idp_form(
        app,
        &b,
        &format!("/api/auth/sso/{slug}/login?email=alice%40example.com"),
    )
    .await;
    let forged = saml_response(form.request_id()).await;
    saml::post(&b, &form.action, &forged, &form.relay_state).await
}

#[tokio::test]
async fn attack_corpus_is_refused_without_a_session() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samla").await;
    // Both knobs on, so the single-signature shapes are refused too (the default accepts them).
    let conn = create(
        &app,
        &o,
        idp,
        json!({"requireSignedResponse": true, "requireSignedAssertion": true}),
    )
    .await;
    let sp = conn["spEntityId"].as_str().unwrap().to_owned();
    let acs = format!("{}/api/auth/sso/callback", app.base);
    let t = std::time::Instant::now();
    let mut cases = 0;
    let kinds = [
        ("expired", "time:"),
        ("not_yet_valid", "time:"),
        ("wrong_audience", "audience:"),
        ("wrong_destination", "destination:"),
        ("wrong_issuer", "issuer:"),
        ("wrong_in_response_to", "in_response_to:"),
        ("unsigned", "signature:"),
        ("assertion_signed_only", "signature:"),
        ("response_signed_only", "signature:"),
        (
            "untrusted_key",
            "signature: not valid with the configured IdP certificate",
        ),
        ("tampered", "signature:"),
        ("sha1", "signature: algorithm"),
        ("xsw_prepend", "wrapping:"),
        ("xsw_wrap", "wrapping:"),
    ];
    for (kind, reason) in kinds {
        let r = attack(&app, "samla", async |id| idp.fixture(kind, Some(&id), &sp, &acs).await).await;
        assert_eq!(error_of(&r), "INVALID_ASSERTION", "{kind}");
        assert!(session_cookie(&r).is_none(), "{kind}");
        let details = failure_details(&app).await;
        assert!(
            details.last().is_some_and(|(_, d)| d.contains(reason)),
            "{kind}: {:?}",
            details.last()
        );
        cases += 1;
    }
    // Validly signed crafted attacks.
    let crafted: [(&str, &str, Edit); 4] = [
        ("comment-truncated NameID", "format: XML comments", |x, _| {
            x.replace(
                ">alice@example.com</ns1:NameID>",
                ">alice@example.com.evil.com</ns1:NameID>",
            )
        }),
        ("failure status with an assertion", "status:", |x, _| {
            x.replace("status:Success", "status:Responder")
        }),
        ("audience that starts with the SP's", "audience:", |x, sp| {
            x.replace(
                &format!(">{sp}</ns1:Audience>"),
                &format!(">{sp}.evil.example</ns1:Audience>"),
            )
        }),
        ("wrong Recipient", "recipient:", |x, _| {
            let at = x.find("Recipient=\"").unwrap() + "Recipient=\"".len();
            let end = at + x[at..].find('"').unwrap();
            format!("{}http://evil.example/acs{}", &x[..at], &x[end..])
        }),
    ];
    for (name, reason, edit) in crafted {
        let r = attack(&app, "samla", async |id| {
            let valid = xml_of(&idp.fixture("valid", Some(&id), &sp, &acs).await);
            let mut signed = idp.resign(&edit(&valid, &sp)).await;
            if name.starts_with("comment") {
                signed = signed.replace(">alice@example.com.evil.com<", ">alice@example.com<!---->.evil.com<");
            }
            b64(&signed)
        })
        .await;
        assert_eq!(error_of(&r), "INVALID_ASSERTION", "{name}");
        let details = failure_details(&app).await;
        assert!(
            details.last().is_some_and(|(_, d)| d.contains(reason)),
            "{name}: {:?}",
            details.last()
        );
        cases += 1;
    }
    // DOCTYPE / entity expansion, oversized SAMLResponse, a response for another SP.
    let r = attack(&app, "samla", async |id| {
        let valid = xml_of(&idp.fixture("valid", Some(&id), &sp, &acs).await);
        b64(&valid.replacen(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>",
            1,
        ))
    })
    .await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert!(failure_details(&app).await.last().unwrap().1.contains("dtd:"));
    let r = attack(&app, "samla", async |_| "PHg+".repeat(160 * 1024)).await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert!(failure_details(&app).await.last().unwrap().1.contains("size:"));
    let r = attack(&app, "samla", async |id| {
        idp.fixture("valid", Some(&id), "http://127.0.0.1:9/other-sp", &acs)
            .await
    })
    .await;
    assert_eq!(error_of(&r), "INVALID_ASSERTION");
    assert!(failure_details(&app).await.last().unwrap().1.contains("audience:"));
    cases += 3;
    // A 1 MiB+ body never reaches the handler: 413, no 5xx, no session.
    let b = browser();
    let form = saml::to_idp_form(&app, &b, "/api/auth/sso/samla/login?email=alice%40example.com").await;
    let r = saml::post(&b, &form.action, &"A".repeat(1100 * 1024), &form.relay_state).await;
    assert_eq!(r.status, 413, "{}", r.text);
    cases += 1;
    eprintln!("attack corpus: {cases} cases in {:?}", t.elapsed());
    assert_eq!(sessions_by_method(&app, "saml").await, 0);
    assert_eq!(app.count("external_identities").await, 0);
    assert_eq!(app.count("users").await, 1, "only the owner");
    let five_xx: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE reason = 'INTERNAL_ERROR'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(five_xx, 0);
}

#[tokio::test]
async fn assertion_only_signing_can_be_allowed_per_connection_but_wrapping_never() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samlrelax").await;
    let conn = create(&app, &o, idp, json!({"requireSignedAssertion": true})).await;
    assert_eq!(conn["requireSignedAssertion"], true);
    let sp = conn["spEntityId"].as_str().unwrap().to_owned();
    let acs = format!("{}/api/auth/sso/callback", app.base);
    // Entra ID / Google style: only the assertion is signed — accepted (also by default).
    let r = attack(&app, "samlrelax", async |id| {
        idp.fixture("assertion_signed_only", Some(&id), &sp, &acs).await
    })
    .await;
    assert!(session_cookie(&r).is_some(), "{:?}", r.headers.get("location"));
    // The unsigned response, a response-only signature (this connection demands the
    // assertion's own) and wrapping stay refused.
    for kind in ["unsigned", "response_signed_only", "xsw_prepend", "xsw_wrap"] {
        let r = attack(&app, "samlrelax", async |id| {
            idp.fixture(kind, Some(&id), &sp, &acs).await
        })
        .await;
        assert_eq!(error_of(&r), "INVALID_ASSERTION", "{kind}");
        assert!(session_cookie(&r).is_none(), "{kind}");
    }
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
    // A PATCH that leaves the connection without a usable IdP certificate is refused.
    let r = app
        .call(
            Method::PATCH,
            &format!(
                "/api/user/organizations/{}/sso/connections/{}",
                o.org_id,
                conn["id"].as_str().unwrap()
            ),
            Some(&o.key),
            Some(json!({"idpCertificate": "not a certificate"})),
        )
        .await;
    crate::support::assert_envelope_error(&r, 400, "VALIDATION_ERROR");
}

/// The SP certificate a connection's metadata offers for encryption.
async fn encryption_cert(app: &TestApp, connection_id: &str) -> String {
    let md = app
        .http
        .get(format!("{}/api/auth/sso/saml/{connection_id}/metadata", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let part = md
        .split("<md:KeyDescriptor use=\"encryption\">")
        .nth(1)
        .expect("encryption key");
    assert!(part.contains("xmlenc11#aes256-gcm"), "{md}");
    part.split("<ds:X509Certificate>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn encrypted_assertions_are_decrypted_with_the_connections_sealed_key() {
    let idp = saml::idp().await;
    let app = TestApp::start().await;
    let o = app.owner("samle").await;
    let conn = create(&app, &o, idp, json!({})).await;
    let sp = conn["spEntityId"].as_str().unwrap();
    let cert = encryption_cert(&app, conn["id"].as_str().unwrap()).await;
    // Another connection's certificate (another SP key).
    let other = create(&app, &o, idp, json!({"name": "other", "domains": ["other.example"]})).await;
    let other_cert = encryption_cert(&app, other["id"].as_str().unwrap()).await;

    // The IdP encrypts the assertion to this connection's certificate: the login completes.
    let b = browser();
    let form = saml::to_idp_form(&app, &b, "/api/auth/sso/samle/login?email=alice%40example.com").await;
    let encrypted = idp
        .fixture_with(
            "valid",
            Some(&form.request_id()),
            sp,
            &form.action,
            &[("encrypt_cert", &cert)],
        )
        .await;
    assert!(xml_of(&encrypted).contains("EncryptedAssertion"));
    let r = saml::post(&b, &form.action, &encrypted, &form.relay_state).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let cookie = session_cookie(&r).expect("session cookie");
    let me = app.me_with_cookie(&cookie).await;
    assert_eq!(me.body["data"]["user"]["email"], "alice@example.com", "{}", me.text);
    assert_eq!(me.body["data"]["authentication"]["method"], "saml");

    // Encrypted to the other connection's key, or with 3DES: refused, no session.
    for extra in [
        vec![("encrypt_cert", other_cert.as_str())],
        vec![("encrypt_cert", cert.as_str()), ("encryption", "tripledes-cbc")],
    ] {
        let b = browser();
        let form = saml::to_idp_form(&app, &b, "/api/auth/sso/samle/login?email=alice%40example.com").await;
        let encrypted = idp
            .fixture_with("valid", Some(&form.request_id()), sp, &form.action, &extra)
            .await;
        let r = saml::post(&b, &form.action, &encrypted, &form.relay_state).await;
        assert_eq!(error_of(&r), "INVALID_ASSERTION", "{extra:?}");
        assert!(session_cookie(&r).is_none());
    }
    let reasons = failure_details(&app).await;
    let details: Vec<&str> = reasons.iter().map(|(_, d)| d.as_str()).collect();
    assert!(
        details[0].contains("encryption: the assertion cannot be decrypted"),
        "{details:?}"
    );
    assert!(details[1].contains("encryption: content algorithm"), "{details:?}");
    assert_eq!(sessions_by_method(&app, "saml").await, 1);
}
