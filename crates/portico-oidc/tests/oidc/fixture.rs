//! A hostile OpenID Provider: a raw HTTP/1.1 server on 127.0.0.1:0 serving discovery, a JWKS, a
//! token endpoint that returns whatever ID token the test forged for a code, and userinfo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ISSUER_KEY_PEM: &str = include_str!("keys/issuer-test-only.pem");
pub const ISSUER_PUBLIC_PEM: &str = include_str!("keys/issuer-test-only.pub.pem");
pub const ATTACKER_KEY_PEM: &str = include_str!("keys/attacker-test-only.pem");
pub const KID: &str = "hostile-k1";
pub const CLIENT_ID: &str = "portico-client";

/// What the token endpoint answers for a code.
#[derive(Clone)]
pub enum TokenReply {
    /// 200 with this ID token (None: no `id_token` field).
    IdToken(Option<String>),
    /// This status and JSON body.
    Error(u16, Value),
}

#[derive(Default)]
pub struct State {
    /// `issuer` in the discovery document (default: the server's base URL).
    pub issuer: Option<String>,
    pub jwks: Value,
    pub tokens: HashMap<String, TokenReply>,
    pub userinfo: Option<Value>,
    pub hits: HashMap<String, usize>,
    /// The last token request's form body and `Authorization` header.
    pub last_token_form: Option<String>,
    pub last_token_authorization: Option<String>,
    /// `token_endpoint_auth_methods_supported` (default: post, basic; `Value::Null`: absent).
    pub auth_methods: Option<Value>,
    /// Advertise `authorization_response_iss_parameter_supported: true` (RFC 9207).
    pub iss_advertised: bool,
}

#[derive(Clone)]
pub struct Hostile {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl Hostile {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            jwks: json!({ "keys": [issuer_jwk()] }),
            ..State::default()
        }));
        let server = Hostile { base, state };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move { s.handle(stream).await });
            }
        });
        server
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    pub fn on_code(&self, code: &str, reply: TokenReply) {
        self.state.lock().unwrap().tokens.insert(code.to_owned(), reply);
    }

    fn discovery(&self, issuer: &str) -> Value {
        let b = &self.base;
        let (methods, iss_advertised) = {
            let st = self.state.lock().unwrap();
            (st.auth_methods.clone(), st.iss_advertised)
        };
        let mut doc = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{b}/authorize"),
            "token_endpoint": format!("{b}/token"),
            "userinfo_endpoint": format!("{b}/userinfo"),
            "jwks_uri": format!("{b}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        });
        if iss_advertised {
            doc["authorization_response_iss_parameter_supported"] = json!(true);
        }
        match methods {
            Some(Value::Null) => {
                doc.as_object_mut()
                    .unwrap()
                    .remove("token_endpoint_auth_methods_supported");
            }
            Some(m) => doc["token_endpoint_auth_methods_supported"] = m,
            None => {}
        }
        doc
    }

    async fn handle(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let path = target.split('?').next().unwrap_or("/").to_owned();
        *self.state.lock().unwrap().hits.entry(path.clone()).or_default() += 1;

        if path.starts_with("/slow/") {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        if path.starts_with("/html/") {
            let page = "<html><body>Sign in to continue</body></html>";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        let (status, json) = if path.starts_with("/huge/") {
            (200, json!({ "padding": "x".repeat(2 << 20) }))
        } else if path.ends_with("/.well-known/openid-configuration") {
            // Served at any prefix; the issuer is the base unless a test overrides it.
            let issuer = self
                .state
                .lock()
                .unwrap()
                .issuer
                .clone()
                .unwrap_or_else(|| self.base.clone());
            (200, self.discovery(&issuer))
        } else if path == "/jwks" {
            (200, self.state.lock().unwrap().jwks.clone())
        } else if path == "/token" {
            let code = form_value(&body, "code").unwrap_or_default();
            let mut state = self.state.lock().unwrap();
            state.last_token_form = Some(body.clone());
            state.last_token_authorization = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("authorization:")
                    .then(|| l[14..].trim().to_owned())
            });
            match state.tokens.get(&code).cloned() {
                Some(TokenReply::IdToken(id_token)) => {
                    let mut resp =
                        json!({ "access_token": format!("at-{code}"), "token_type": "Bearer", "expires_in": 300 });
                    if let Some(t) = id_token {
                        resp["id_token"] = Value::String(t);
                    }
                    (200, resp)
                }
                Some(TokenReply::Error(status, body)) => (status, body),
                None => (
                    400,
                    json!({ "error": "invalid_grant", "error_description": "unknown code" }),
                ),
            }
        } else if path == "/userinfo" {
            match self.state.lock().unwrap().userinfo.clone() {
                Some(v) => (200, v),
                None => (404, json!({ "error": "not_found" })),
            }
        } else {
            (404, json!({ "error": "not_found" }))
        };
        let body = json.to_string();
        let reason = if status == 200 { "OK" } else { "Error" };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

fn form_value(body: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_owned()))).unwrap()
}

/// The issuer key's public JWK.
pub fn issuer_jwk() -> Value {
    let mut jwk = serde_json::to_value(key(ISSUER_KEY_PEM, KID).as_verification_key()).unwrap();
    jwk["alg"] = json!("RS256");
    jwk
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// How to sign a forged token.
pub enum Signer<'a> {
    /// RS256 with the issuer's key (the honest case).
    Issuer,
    /// RS256 with a key the JWKS does not hold, under this kid.
    Attacker(&'a str),
    /// `alg: none`, empty signature.
    None,
    /// HS256 keyed with the issuer's *public* key (algorithm confusion).
    HmacWithPublicKey,
}

/// A compact JWS of `claims`.
pub fn sign(claims: &Value, signer: Signer<'_>) -> String {
    let payload = b64(claims.to_string().as_bytes());
    let header = |h: Value| b64(h.to_string().as_bytes());
    match signer {
        Signer::Issuer | Signer::Attacker(_) => {
            let (pem, kid) = match signer {
                Signer::Attacker(kid) => (ATTACKER_KEY_PEM, kid),
                _ => (ISSUER_KEY_PEM, KID),
            };
            let input = format!(
                "{}.{payload}",
                header(json!({ "alg": "RS256", "typ": "JWT", "kid": kid }))
            );
            let sig = key(pem, kid)
                .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes())
                .unwrap();
            format!("{input}.{}", b64(&sig))
        }
        Signer::None => format!("{}.{payload}.", header(json!({ "alg": "none", "typ": "JWT" }))),
        Signer::HmacWithPublicKey => {
            let input = format!(
                "{}.{payload}",
                header(json!({ "alg": "HS256", "typ": "JWT", "kid": KID }))
            );
            let mut mac = Hmac::<Sha256>::new_from_slice(ISSUER_PUBLIC_PEM.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            format!("{input}.{}", b64(&mac.finalize().into_bytes()))
        }
    }
}
