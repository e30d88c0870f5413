//! The real SAML IdP (pysaml2 + Debian xmlsec1, `tests/peers/saml-idp.sh`) shared by the run,
//! found or started by `portico_test_support::saml::peer` (from `PORTICO_TEST_SAML_DIR`, set by
//! `scripts/test`, or started once per process on a free port, exiting with this process), with
//! the async helpers these tests use. Fixtures are produced at test time.

use reqwest::StatusCode;
use tokio::sync::OnceCell;

use portico_test_support::saml::SamlPeer;
pub use portico_test_support::saml::{b64, xml_of};

use super::TestApp;

/// The running IdP (its base URL, entity ID and folder through `Deref`).
pub struct Idp(&'static SamlPeer);

impl std::ops::Deref for Idp {
    type Target = SamlPeer;

    fn deref(&self) -> &SamlPeer {
        self.0
    }
}

static IDP: OnceCell<Idp> = OnceCell::const_new();

/// The shared IdP.
pub async fn idp() -> &'static Idp {
    IDP.get_or_init(|| async {
        Idp(tokio::task::spawn_blocking(portico_test_support::saml::peer)
            .await
            .unwrap())
    })
    .await
}

impl Idp {
    /// The IdP signing certificate (PEM).
    pub fn cert(&self) -> String {
        std::fs::read_to_string(self.cert_file()).unwrap()
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
        let r = reqwest::get(self.fixture_url(kind, in_response_to, sp, acs, extra))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "fixture {kind}");
        r.text().await.unwrap()
    }

    /// Blanks the signature values of `xml` and signs it again with the IdP key (assertion,
    /// then response), so a crafted change carries valid signatures.
    pub async fn resign(&self, xml: &str) -> String {
        let (peer, xml) = (self.0, xml.to_owned());
        tokio::task::spawn_blocking(move || peer.resign(&xml)).await.unwrap()
    }
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
    let r = TestApp::read(b.post(action).form(&form).send().await.unwrap()).await;
    if !is_self_post(&r) {
        return r;
    }
    // The ACS's self-posting page (the binding cookie was not sent): post again from it, as a
    // browser does.
    form.push(("portico_reposted", "1"));
    TestApp::read(b.post(action).form(&form).send().await.unwrap()).await
}

/// Whether `r` is the ACS's self-posting page.
pub fn is_self_post(r: &super::Resp) -> bool {
    r.status == 200 && r.text.contains("<form id=\"repost\"")
}
