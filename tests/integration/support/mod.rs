//! The test harness: a real Portico on 127.0.0.1:0 over a fresh database in the shared cluster.

pub mod contract;
pub mod db;
pub mod dns;
pub mod ldap;
pub mod logs;
pub mod oidc;
pub mod saml;

use portico_core::secretbox::SecretBox;
use portico_server::{AppState, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running Portico for one test.
pub struct TestApp {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// Direct database access for assertions.
    pub db: sqlx::PgPool,
    /// The application state the server runs with.
    pub state: AppState,
    /// A plain client (no cookie jar).
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A bootstrapped owner with an organization and a pinned key.
pub struct Owner {
    /// Organization id.
    pub org_id: String,
    /// Organization slug.
    pub slug: String,
    /// Owner user id.
    pub user_id: String,
    /// The pinned API key.
    pub key: String,
    /// The owner's email.
    pub email: String,
}

/// A response: status and JSON body (Null when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

fn method_name(m: &Method) -> &str {
    m.as_str()
}

impl Resp {
    /// Fails the test when the OpenAPI document does not describe this answer to `method path`
    /// (see [`contract`]); every answer `call` and `raw` receive is checked.
    pub fn conforms(&self, method: &str, path: &str) -> &Self {
        let ct = self.headers.get("content-type").and_then(|v| v.to_str().ok());
        contract::check(method, path, self.status.as_u16(), ct, &self.text);
        self
    }

    /// [`Resp::conforms`] for an answer read by hand ([`TestApp::read`]), passed on.
    pub fn checked(self, method: &str, path: &str) -> Self {
        self.conforms(method, path);
        self
    }
}

impl TestApp {
    /// Starts an app with default test settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts an app after `tweak` adjusts the settings.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        logs::install();
        let url = db::fresh_database().await;
        Self::start_on(&url, tweak).await
    }

    /// Starts an app on the (migrated) database at `url`, e.g. a private cluster a test stops.
    pub async fn start_on(url: &str, tweak: impl FnOnce(&mut Settings)) -> Self {
        logs::install();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let mut settings = Settings::default();
        settings.server.public_url = base.clone();
        settings.app.url = "http://app.example.test/".into();
        settings.outbound.allow_private_networks = true;
        settings.outbound.allow_insecure_http = true;
        settings.outbound.timeout_secs = 3;
        tweak(&mut settings);
        let pool = portico_store::connect_with(
            url,
            8,
            std::time::Duration::from_millis(settings.database.acquire_timeout_ms),
            std::time::Duration::from_millis(settings.database.statement_timeout_ms),
        )
        .await
        .expect("connect");
        let secrets = SecretBox::from_specs(&[SecretBox::generate_spec("t1")]).expect("keys");
        let state = AppState::new(settings, pool.clone(), secrets);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            let _ = portico_server::serve(listener, st, async {
                let _ = rx.await;
            })
            .await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base,
            db: pool,
            state,
            http,
            shutdown: Some(tx),
        }
    }

    /// Bootstraps an owner/org/key like `portico bootstrap`.
    pub async fn owner(&self, slug: &str) -> Owner {
        let email = format!("owner@{slug}.example");
        let b = portico_server::cli::bootstrap::run(
            &self.db,
            &format!("Org {slug}"),
            slug,
            &email,
            Some("owner-password-1"),
        )
        .await
        .expect("bootstrap");
        use secrecy::ExposeSecret;
        Owner {
            org_id: b.organization_id,
            slug: b.organization_slug,
            user_id: b.user_id,
            key: b.api_key.expose_secret().to_owned(),
            email,
        }
    }

    /// Sends a request with an optional `X-Api-Key` and JSON body.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let rb_method = method.clone();
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = Self::read(rb.send().await.expect("send")).await;
        r.conforms(method_name(&rb_method), path);
        r
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(&self, method: Method, path: &str, key: Option<&str>, content_type: &str, body: Vec<u8>) -> Resp {
        let rb_method = method.clone();
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            rb = rb.header("x-api-key", k);
        }
        let r = Self::read(rb.send().await.expect("send")).await;
        r.conforms(method_name(&rb_method), path);
        r
    }

    /// Reads a response.
    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
            text,
        }
    }

    /// `GET /api/user/me` carrying a `portico_session=…` cookie pair.
    pub async fn me_with_cookie(&self, cookie: &str) -> Resp {
        let r = self
            .http
            .get(format!("{}/api/user/me", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("send");
        Self::read(r).await
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db)
            .await
            .expect("count")
    }
}

/// Asserts an Organization-API error envelope.
pub fn assert_envelope_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "status; body: {}", r.text);
    assert_eq!(r.body["success"], false, "{}", r.text);
    assert_eq!(r.body["status"], status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["data"].is_null(), "{}", r.text);
    assert!(r.body["requestId"].is_string(), "{}", r.text);
    assert!(r.headers.contains_key("x-request-id"));
}

/// The `portico_session=…` pair a response sets, if any.
pub fn session_cookie(r: &Resp) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portico_session=pss_"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The `?error=` code of a failed browser sign-in (a 302 to the app URL).
pub fn error_of(r: &Resp) -> String {
    assert_eq!(r.status, 302, "{}", r.text);
    let loc = r.headers["location"].to_str().unwrap();
    assert!(loc.starts_with("http://app.example.test/"), "{loc}");
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Sessions created by a sign-in method.
pub async fn sessions_by_method(app: &TestApp, method: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE method = $1")
        .bind(method)
        .fetch_one(&app.db)
        .await
        .unwrap()
}
