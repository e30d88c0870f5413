//! The real SAML IdP peer (`tests/peers/saml-idp.sh`: pysaml2, signing with Debian's `xmlsec1`)
//! and what the SAML tests do with its output.
//!
//! [`peer`] is the one shared by the whole run when `scripts/test` started it
//! (`PORTICO_TEST_SAML_DIR`, its `env` file), otherwise one started once for this process on a
//! free loopback port, which exits by itself within a second of this process (`SAML_WATCH_PID`).
//! Fixtures are produced at test time (signed responses carry time windows).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use base64::Engine as _;

/// A running pysaml2 IdP.
#[derive(Debug)]
pub struct SamlPeer {
    /// Base URL, e.g. `http://127.0.0.1:9500`.
    pub base: String,
    /// The IdP's entity ID (the `Issuer` of its responses).
    pub entity_id: String,
    /// Its folder: `idp.key`/`idp.crt`, `attacker.crt`, `idp-metadata.xml`, the `idp` tool.
    pub dir: PathBuf,
}

/// The signatures of a pysaml2 response in the order they must be signed again: the assertion's
/// (the innermost, last one when a wrapped copy exists), then the response's.
pub const RESIGN_XPATHS: &[&str] = &[
    "(//*[local-name()='Assertion']/*[local-name()='Signature'])[last()]",
    "/*[local-name()='Response']/*[local-name()='Signature']",
];

/// The IdP shared by this process (see the module documentation). Blocks while it starts; from
/// async code call it through `tokio::task::spawn_blocking` the first time.
pub fn peer() -> &'static SamlPeer {
    static PEER: OnceLock<SamlPeer> = OnceLock::new();
    PEER.get_or_init(|| {
        let dir = match std::env::var("PORTICO_TEST_SAML_DIR") {
            Ok(d) if !d.is_empty() => PathBuf::from(d),
            _ => start(),
        };
        let env = read_env(&dir);
        let base = env
            .get("PORTICO_TEST_SAML_IDP_URL")
            .cloned()
            .unwrap_or_else(|| panic!("no PORTICO_TEST_SAML_IDP_URL in {}/env", dir.display()));
        let entity_id = env
            .get("PORTICO_TEST_SAML_IDP_ENTITY_ID")
            .cloned()
            .unwrap_or_else(|| format!("{base}/metadata"));
        SamlPeer { base, entity_id, dir }
    })
}

/// Starts an IdP for this process on a free port; returns its folder.
fn start() -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let dir = std::env::temp_dir().join(format!("portico-saml-peer-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(crate::repo_root().join("tests/peers/saml-idp.sh"))
        .arg("start")
        .arg(&dir)
        .env("SAML_PORT", port.to_string())
        .env("SAML_WATCH_PID", std::process::id().to_string())
        .env("SAML_VENV_CACHE", std::env::temp_dir().join("portico-saml-venv"))
        .output()
        .expect("run tests/peers/saml-idp.sh");
    assert!(
        out.status.success(),
        "the SAML IdP peer failed to start: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn read_env(dir: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(dir.join("env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

impl SamlPeer {
    /// The IdP's signing certificate file (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("idp.crt")
    }

    /// The IdP's signing key file (PEM).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("idp.key")
    }

    /// The fixture URL: a base64 SAMLResponse of `kind` answering `in_response_to`, for SP `sp`
    /// at `acs`, with `extra` query parameters (e.g. `encrypt_cert`).
    pub fn fixture_url(
        &self,
        kind: &str,
        in_response_to: Option<&str>,
        sp: &str,
        acs: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url = url::Url::parse(&format!("{}/response", self.base)).expect("the IdP base URL");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("kind", kind)
                .append_pair("sp", sp)
                .append_pair("acs", acs);
            if let Some(id) = in_response_to {
                q.append_pair("in_response_to", id);
            }
            q.extend_pairs(extra);
        }
        url.into()
    }

    /// A fixture fetched with `curl` (for synchronous tests and benchmarks).
    pub fn fixture(&self, kind: &str, in_response_to: Option<&str>, sp: &str, acs: &str) -> String {
        let url = self.fixture_url(kind, in_response_to, sp, acs, &[]);
        let out = Command::new("curl").arg("-sf").arg(&url).output().expect("run curl");
        assert!(
            out.status.success(),
            "fixture {kind} from {}: {}",
            self.base,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("a base64 fixture")
            .trim()
            .to_owned()
    }

    /// Blanks the signature values of `xml` and signs it again with the IdP key (assertion, then
    /// response), so a crafted change carries valid signatures and is refused for its own reason.
    pub fn resign(&self, xml: &str) -> String {
        sign_with(xml, &self.key_file(), &self.cert_file(), RESIGN_XPATHS, &self.dir)
    }
}

/// Blanks every `DigestValue` and `SignatureValue` of `xml` and signs the signatures at `xpaths`,
/// in that order, with `xmlsec1` and the PEM key and certificate given; the algorithms are the
/// template's own. Work files go to `work_dir` and are removed.
pub fn sign_with(xml: &str, key_file: &Path, cert_file: &Path, xpaths: &[&str], work_dir: &Path) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tag = format!("{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let file = |step: usize| work_dir.join(format!("sign-{tag}-{step}.xml"));
    std::fs::write(file(0), blank_signature_values(xml)).expect("write the signing template");
    let key = format!("{},{}", key_file.display(), cert_file.display());
    for (i, xpath) in xpaths.iter().enumerate() {
        let o = Command::new("xmlsec1")
            .args(["--sign", "--privkey-pem", &key])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .args(["--node-xpath", xpath, "--output"])
            .arg(file(i + 1))
            .arg(file(i))
            .output()
            .expect("run xmlsec1");
        assert!(o.status.success(), "xmlsec1: {}", String::from_utf8_lossy(&o.stderr));
    }
    let signed = std::fs::read_to_string(file(xpaths.len())).expect("read the signed file");
    for step in 0..=xpaths.len() {
        let _ = std::fs::remove_file(file(step));
    }
    signed
}

/// `xml` with the text of every `DigestValue` and `SignatureValue` element removed (an
/// `xmlsec1 --sign` template).
pub fn blank_signature_values(xml: &str) -> String {
    blank_values(&blank_values(xml, "DigestValue"), "SignatureValue")
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
        rest = &tail[tail.find('<').unwrap_or(tail.len())..];
    }
    out.push_str(rest);
    out
}

/// Base64 (standard alphabet) of `xml`, as a SAMLResponse form field carries it.
pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// The XML of a base64 SAMLResponse.
pub fn xml_of(encoded: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .expect("base64 SAMLResponse");
    String::from_utf8(bytes).expect("UTF-8 SAMLResponse")
}
