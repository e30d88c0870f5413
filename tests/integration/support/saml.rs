//! The real SAML IdP (pysaml2 + Debian xmlsec1, `tests/peers/saml-idp.sh`) shared by the run:
//! from `PORTICO_TEST_SAML_DIR` (its `env` file, set by `scripts/test`), or started once per
//! process on a free port, exiting with this process. Fixtures are produced at test time.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine as _;
use reqwest::StatusCode;
use tokio::sync::OnceCell;

use super::TestApp;

/// The running IdP.
pub struct Idp {
    /// Base URL.
    pub base: String,
    /// Entity ID.
    pub entity_id: String,
    /// Its folder (keys, metadata, the `idp` tool).
    pub dir: PathBuf,
}

static IDP: OnceCell<Idp> = OnceCell::const_new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_env(dir: &std::path::Path) -> HashMap<String, String> {
    std::fs::read_to_string(dir.join("env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The shared IdP.
pub async fn idp() -> &'static Idp {
    IDP.get_or_init(|| async {
        let dir = match std::env::var("PORTICO_TEST_SAML_DIR") {
            Ok(d) => PathBuf::from(d),
            Err(_) => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let dir = std::env::temp_dir().join(format!("portico-it-saml-{}", std::process::id()));
                let out = tokio::process::Command::new("bash")
                    .arg(repo_root().join("tests/peers/saml-idp.sh"))
                    .arg("start")
                    .arg(&dir)
                    .env("SAML_PORT", port.to_string())
                    .env("SAML_WATCH_PID", std::process::id().to_string())
                    .env("SAML_VENV_CACHE", std::env::temp_dir().join("portico-saml-venv"))
                    .output()
                    .await
                    .expect("run saml-idp.sh");
                assert!(
                    out.status.success(),
                    "saml-idp failed to start: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                dir
            }
        };
        let env = read_env(&dir);
        Idp {
            base: env["PORTICO_TEST_SAML_IDP_URL"].clone(),
            entity_id: env["PORTICO_TEST_SAML_IDP_ENTITY_ID"].clone(),
            dir,
        }
    })
    .await
}

impl Idp {
    /// The IdP signing certificate (PEM).
    pub fn cert(&self) -> String {
        std::fs::read_to_string(self.dir.join("idp.crt")).unwrap()
    }

    /// The IdP metadata XML.
    pub fn metadata(&self) -> String {
        std::fs::read_to_string(self.dir.join("idp-metadata.xml")).unwrap()
    }

    /// A fixture (base64 SAMLResponse) of `kind` for SP `sp` at `acs`.
    pub async fn fixture(&self, kind: &str, in_response_to: Option<&str>, sp: &str, acs: &str) -> String {
        self.fixture_with(kind, in_response_to, sp, acs, &[]).await
    }

    /// [`Idp::fixture`] with more query parameters (e.g. `encrypt_cert`: the IdP encrypts the
    /// assertion to that SP certificate).
    pub async fn fixture_with(
        &self,
        kind: &str,
        in_response_to: Option<&str>,
        sp: &str,
        acs: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url = url::Url::parse(&format!("{}/response", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("kind", kind)
            .append_pair("sp", sp)
            .append_pair("acs", acs);
        if let Some(id) = in_response_to {
            url.query_pairs_mut().append_pair("in_response_to", id);
        }
        url.query_pairs_mut().extend_pairs(extra);
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "fixture {kind}");
        r.text().await.unwrap()
    }

    /// Blanks the signature values of `xml` and signs it again with the IdP key (assertion,
    /// then response), so a crafted change carries valid signatures.
    pub async fn resign(&self, xml: &str) -> String {
        let blank = blank_values(&blank_values(xml, "DigestValue"), "SignatureValue");
        let tag = ulid::Ulid::new().to_string();
        let (tpl, mid, out) = (
            self.dir.join(format!("t-{tag}.xml")),
            self.dir.join(format!("m-{tag}.xml")),
            self.dir.join(format!("o-{tag}.xml")),
        );
        std::fs::write(&tpl, blank).unwrap();
        let key = format!(
            "{},{}",
            self.dir.join("idp.key").display(),
            self.dir.join("idp.crt").display()
        );
        for (xpath, input, output) in [
            (
                "(//*[local-name()='Assertion']/*[local-name()='Signature'])[last()]",
                &tpl,
                &mid,
            ),
            ("/*[local-name()='Response']/*[local-name()='Signature']", &mid, &out),
        ] {
            let o = tokio::process::Command::new("xmlsec1")
                .args(["--sign", "--privkey-pem", &key])
                .args([
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                ])
                .args(["--node-xpath", xpath, "--output"])
                .arg(output)
                .arg(input)
                .output()
                .await
                .unwrap();
            assert!(o.status.success(), "xmlsec1: {}", String::from_utf8_lossy(&o.stderr));
        }
        let signed = std::fs::read_to_string(&out).unwrap();
        for f in [tpl, mid, out] {
            let _ = std::fs::remove_file(f);
        }
        signed
    }
}

fn blank_values(xml: &str, element: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    let open = format!("{element}>");
    while let Some(i) = rest.find(&open) {
        let (head, tail) = rest.split_at(i + open.len());
        out.push_str(head);
        if head.ends_with(&format!("/{open}")) {
            rest = tail;
            continue;
        }
        rest = &tail[tail.find('<').unwrap()..];
    }
    out.push_str(rest);
    out
}

/// Base64 helpers.
pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// Decodes a base64 SAMLResponse.
pub fn xml_of(encoded: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap(),
    )
    .unwrap()
}

/// What the IdP's auto-post form carries.
pub struct PostForm {
    /// Where it posts (the ACS).
    pub action: String,
    /// The base64 response.
    pub saml_response: String,
    /// The RelayState.
    pub relay_state: String,
}

impl PostForm {
    /// The AuthnRequest ID the response answers.
    pub fn request_id(&self) -> String {
        let xml = xml_of(&self.saml_response);
        xml.split("InResponseTo=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned()
    }
}

fn attr(html: &str, marker: &str) -> String {
    let v = html
        .split(marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    v.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Follows an IdP URL (the AuthnRequest redirect) in `b` and reads the auto-post form.
pub async fn idp_form(b: &reqwest::Client, idp_url: &str) -> PostForm {
    let r = b.get(idp_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "IdP answered {}", r.status());
    let html = r.text().await.unwrap();
    PostForm {
        action: attr(&html, "action=\""),
        saml_response: attr(&html, "name=\"SAMLResponse\" value=\""),
        relay_state: attr(&html, "name=\"RelayState\" value=\""),
    }
}

/// Starts a browser login at `login_path` and returns the IdP's auto-post form.
pub async fn to_idp_form(app: &TestApp, b: &reqwest::Client, login_path: &str) -> PostForm {
    let r = b.get(format!("{}{login_path}", app.base)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "login start: {}",
        r.text().await.unwrap_or_default()
    );
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("SAMLRequest="), "{loc}");
    idp_form(b, &loc).await
}

/// Posts a SAMLResponse form to `action` in browser `b`.
pub async fn post(b: &reqwest::Client, action: &str, saml_response: &str, relay_state: &str) -> super::Resp {
    let mut form = vec![("SAMLResponse", saml_response)];
    if !relay_state.is_empty() {
        form.push(("RelayState", relay_state));
    }
    TestApp::read(b.post(action).form(&form).send().await.unwrap()).await
}
