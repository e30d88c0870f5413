//! Sign-in discovery and login routing: only verified domains of organizations with SSO route.

use reqwest::Method;
use serde_json::json;

use super::{add_domain, app_with_dns, configure_oidc, verified_domain, verify_domain, with_bearer};
use crate::support::assert_envelope_error;
use crate::support::dns::DnsServer;
use crate::support::oidc::{self, browser};

#[tokio::test]
async fn discovery_and_login_routing_use_verified_domains_only() {
    let p = oidc::provider().await;
    let dns = DnsServer::start().await;
    let app = app_with_dns(&dns).await;
    let o = app.owner("disc").await;
    let plain = app.owner("disc-plain").await;
    let discover = |email: &str| {
        let body = json!({ "email": email });
        let app = &app;
        async move {
            app.call(Method::POST, "/api/auth/sign-in/discover", None, Some(body))
                .await
        }
    };
    assert_envelope_error(&discover("not-an-email").await, 400, "VALIDATION_ERROR");
    let r = discover("someone@unknown.example").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!({"method": "password"}));

    configure_oidc(&app, &o, &p.issuer).await;
    // A connection's own `domains` list is not proof of ownership: no routing from it.
    let conn = json!({"name": "Listed", "protocol": "oidc", "issuerUrl": p.issuer, "clientId": "test-client", "clientSecret": "test-secret", "domains": ["listed.example"]});
    let r = with_bearer(&app, Method::POST, "/v1/sso/connections", &o.key, Some(conn)).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        discover("x@listed.example").await.body["data"],
        json!({"method": "password"})
    );

    // Pending: still password. Verified by an SSO organization: SSO with its login URL.
    let r = add_domain(&app, &o, "corp-disc.example").await;
    let pending_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        discover("jane@corp-disc.example").await.body["data"],
        json!({"method": "password"})
    );
    let sdk_login = format!("/sso/login?org={}&domain=corp-disc.example", o.org_id);
    let r = with_bearer(&app, Method::GET, &sdk_login, &o.key, None).await;
    assert_eq!(r.status, 404, "an unverified, unlisted domain is not routed");
    let value: String = sqlx::query_scalar(
        "SELECT 'portico-verification=' || verification_token FROM organization_domains WHERE id = $1",
    )
    .bind(&pending_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    dns.set_txt("_portico-verification.corp-disc.example", &[&value]).await;
    let r = verify_domain(&app, &o, &pending_id).await;
    assert_eq!(r.body["data"]["result"], "verified", "{}", r.text);
    let r = discover("Jane@Corp-Disc.Example").await;
    assert_eq!(r.body["data"]["method"], "sso", "{}", r.text);
    assert_eq!(r.body["data"]["protocol"], "oidc");
    let login_url = r.body["data"]["loginUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        login_url,
        format!("{}/api/auth/sso/disc/login?email=Jane%40Corp-Disc.Example", app.base)
    );
    // The login URL picks the organization's connection for that domain and goes to the IdP.
    let b = browser();
    let r = b.get(&login_url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&p.issuer), "{to}");
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&to).unwrap().query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "test-client");
    assert_eq!(q["login_hint"], "Jane@Corp-Disc.Example");
    let default_id: String = sqlx::query_scalar("SELECT id FROM sso_connections WHERE is_default")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let tx_conn: String = sqlx::query_scalar("SELECT connection_id FROM login_transactions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tx_conn, default_id);
    // The SDK's domain routing now finds it too.
    let r = with_bearer(&app, Method::GET, &sdk_login, &o.key, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connectionId"], default_id.as_str());

    // A verified domain of an organization without SSO: password, like any unknown domain.
    verified_domain(&app, &dns, &plain, "nosso.example").await;
    assert_eq!(
        discover("bob@nosso.example").await.body["data"],
        json!({"method": "password"})
    );
    // Once the SSO connection is gone, so is the redirect.
    sqlx::query("DELETE FROM sso_connections")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        discover("jane@corp-disc.example").await.body["data"],
        json!({"method": "password"})
    );
}
