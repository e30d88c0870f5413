//! Encrypted assertions: responses from the real pysaml2 IdP whose assertion is then encrypted to
//! the SP's certificate by the real `xmlsec1` (as an IdP configured for encryption does), the
//! Response re-signed over the encrypted form.

use std::path::{Path, PathBuf};

use super::*;

const GCM256: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
const CBC128: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
const OAEP_MGF1P: &str = r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>"#;
const RSA_15: &str = r#"<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/>"#;
const RESPONSE_SIGNATURE: &str = "/*[local-name()='Response']/*[local-name()='Signature']";

/// An SP with its own key pair (the certificate written where xmlsec1 can read it).
struct Sp {
    cert_file: PathBuf,
    provider: SamlProvider,
}

fn sp(policy: SignaturePolicy) -> Sp {
    let (key, cert) = generate_sp_credentials("portico encryption test").unwrap();
    let tid = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let cert_file = peer().dir.join(format!("sp-{}-{tid}.crt", std::process::id()));
    std::fs::write(&cert_file, &cert).unwrap();
    let mut cfg = config(policy, false, false);
    cfg.sp_key_pem = Some(key);
    cfg.sp_cert_pem = Some(cert);
    Sp {
        cert_file,
        provider: provider_with(cfg),
    }
}

fn lenient() -> SignaturePolicy {
    SignaturePolicy {
        require_signed_response: false,
        require_signed_assertion: false,
    }
}

/// Puts the assertion of `xml` in an `EncryptedAssertion` and encrypts it with xmlsec1 to
/// `cert_file` (content algorithm `content`, key transport `key_method`); the Response signature,
/// if any, is then made again over the encrypted form.
fn encrypt(xml: &str, cert_file: &Path, content: &str, key_method: &str) -> String {
    let p = peer();
    let wrapped = xml
        .replacen("<ns1:Assertion ", "<ns1:EncryptedAssertion><ns1:Assertion ", 1)
        .replacen("</ns1:Assertion>", "</ns1:Assertion></ns1:EncryptedAssertion>", 1);
    let template = format!(
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{content}"/><ds:KeyInfo><xenc:EncryptedKey>{key_method}<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
    );
    let tid = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let file = |name: &str| p.dir.join(format!("enc-{}-{tid}-{name}.xml", std::process::id()));
    std::fs::write(file("data"), wrapped).unwrap();
    std::fs::write(file("tpl"), template).unwrap();
    let session = if content.contains("128") { "aes-128" } else { "aes-256" };
    let o = Command::new("xmlsec1")
        .args(["--encrypt", "--pubkey-cert-pem"])
        .arg(cert_file)
        .args(["--session-key", session, "--xml-data"])
        .arg(file("data"))
        .args([
            "--node-xpath",
            "//*[local-name()='EncryptedAssertion']/*[local-name()='Assertion']",
            "--output",
        ])
        .arg(file("out"))
        .arg(file("tpl"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "xmlsec1 --encrypt: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = std::fs::read_to_string(file("out")).unwrap();
    assert!(out.contains("<ns1:EncryptedAssertion><xenc:EncryptedData") && !out.contains("alice@"));
    if out.contains("<ns2:Signature") {
        sign_with(
            &out,
            &p.dir.join("idp.key"),
            &p.dir.join("idp.crt"),
            &[RESPONSE_SIGNATURE],
        )
    } else {
        out
    }
}

#[test]
fn encrypted_assertions_are_decrypted_and_then_fully_validated() {
    let strict_sp = sp(SignaturePolicy::both());
    let valid = xml_of(&fixture("valid", Some("_req1")));
    // (Debian's xmlsec1 1.2 only does OAEP with SHA-1; the XML Encryption 1.1 `rsa-oaep` with
    // SHA-256 is covered by the unit tests of `decrypt`.)
    for (content, key) in [(GCM256, OAEP_MGF1P), (CBC128, OAEP_MGF1P)] {
        let enc = encrypt(&valid, &strict_sp.cert_file, content, key);
        let id = run(&strict_sp.provider, &b64(&enc), Some("_req1")).unwrap_or_else(|e| panic!("{content}: {e}"));
        assert_eq!(id.subject, "alice@example.com");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        // The decrypted assertion is still checked: another request's response is refused.
        refused(&strict_sp.provider, &b64(&enc), Some("_req2"), "in_response_to:");
    }
    // Without an SP key there is nothing to decrypt with.
    let enc = encrypt(&valid, &strict_sp.cert_file, GCM256, OAEP_MGF1P);
    let e = run(&strict(), &b64(&enc), Some("_req1")).unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED", "{e}");
    // Encrypted to another SP's key.
    let other = sp(SignaturePolicy::default());
    refused(
        &other.provider,
        &b64(&enc),
        Some("_req1"),
        "encryption: the assertion cannot be decrypted",
    );
    // RSA PKCS#1 v1.5 key transport is refused (Bleichenbacher).
    let v15 = encrypt(&valid, &strict_sp.cert_file, GCM256, RSA_15);
    refused(
        &strict_sp.provider,
        &b64(&v15),
        Some("_req1"),
        "encryption: key transport",
    );
}

#[test]
fn encrypted_assertions_keep_the_signature_rules() {
    // Assertion-only signing (Entra ID style): the Response is unsigned.
    let relaxed = sp(SignaturePolicy {
        require_signed_response: false,
        require_signed_assertion: true,
    });
    let assertion_signed = xml_of(&fixture("assertion_signed_only", Some("_req1")));
    let enc = encrypt(&assertion_signed, &relaxed.cert_file, GCM256, OAEP_MGF1P);
    assert!(!enc.contains("<ns2:Signature"), "nothing visible is signed");
    let id = run(&relaxed.provider, &b64(&enc), Some("_req1")).unwrap();
    assert_eq!(id.subject, "alice@example.com");
    let strict_sp = sp(SignaturePolicy::both());
    let enc = encrypt(&assertion_signed, &strict_sp.cert_file, GCM256, OAEP_MGF1P);
    refused(
        &strict_sp.provider,
        &b64(&enc),
        Some("_req1"),
        "signature: the Response element must be signed",
    );

    // Ciphertext altered where no signature covers it: decryption fails (GCM tag), one message.
    let enc = encrypt(&assertion_signed, &relaxed.cert_file, GCM256, OAEP_MGF1P);
    let last = enc.rfind("</xenc:CipherValue>").unwrap();
    let mut bytes = enc.into_bytes();
    bytes[last - 5] = if bytes[last - 5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    refused(
        &relaxed.provider,
        &b64(&tampered),
        Some("_req1"),
        "encryption: the assertion cannot be decrypted",
    );

    // The decrypted assertion unsigned, the Response signed over the ciphertext: accepted only
    // when the connection does not require signed assertions.
    let response_signed = xml_of(&fixture("response_signed_only", Some("_req1")));
    let enc = encrypt(&response_signed, &strict_sp.cert_file, GCM256, OAEP_MGF1P);
    refused(
        &strict_sp.provider,
        &b64(&enc),
        Some("_req1"),
        "signature: the Assertion element must be signed",
    );
    let no_assertion_sig = sp(SignaturePolicy {
        require_signed_response: true,
        require_signed_assertion: false,
    });
    let enc = encrypt(&response_signed, &no_assertion_sig.cert_file, GCM256, OAEP_MGF1P);
    assert_eq!(
        run(&no_assertion_sig.provider, &b64(&enc), Some("_req1"))
            .unwrap()
            .subject,
        "alice@example.com"
    );
    // ...and the Response signature really covers the ciphertext.
    let last = enc.rfind("</xenc:CipherValue>").unwrap();
    let mut bytes = enc.into_bytes();
    bytes[last - 5] = if bytes[last - 5] == b'A' { b'B' } else { b'A' };
    refused(
        &no_assertion_sig.provider,
        &b64(&String::from_utf8(bytes).unwrap()),
        Some("_req1"),
        "signature: digest mismatch",
    );

    // Wrapping: a plain forged assertion beside the encrypted one.
    let lenient_sp = sp(lenient());
    let enc = encrypt(&assertion_signed, &lenient_sp.cert_file, GCM256, OAEP_MGF1P);
    let (_, plain, _) = split_assertion(&assertion_signed);
    let wrapped = enc.replacen(
        "<ns1:EncryptedAssertion>",
        &format!("{plain}<ns1:EncryptedAssertion>"),
        1,
    );
    refused(
        &lenient_sp.provider,
        &b64(&wrapped),
        Some("_req1"),
        "wrapping: 2 Assertion elements",
    );
}

/// A response whose assertion the pysaml2 IdP itself encrypted to `cert_file` with `encryption`.
fn pysaml2_encrypted(cert_file: &Path, encryption: &str) -> Result<String, String> {
    let p = peer();
    let cert = std::fs::read_to_string(cert_file).unwrap();
    let mut url = url::Url::parse(&format!("{}/response", p.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("kind", "valid")
        .append_pair("sp", SP)
        .append_pair("acs", ACS)
        .append_pair("in_response_to", "_req1")
        .append_pair("encrypt_cert", &cert)
        .append_pair("encryption", encryption);
    let out = Command::new("curl")
        .arg("-s")
        .arg("-w")
        .arg("\n%{http_code}")
        .arg(url.as_str())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    if code == "200" {
        Ok(body.to_owned())
    } else {
        Err(format!("{code}: {body}"))
    }
}

#[test]
fn assertions_encrypted_by_the_pysaml2_idp_are_accepted() {
    let s = sp(SignaturePolicy::default());
    for encryption in ["aes256-cbc", "aes128-cbc"] {
        let enc = pysaml2_encrypted(&s.cert_file, encryption).unwrap();
        let xml = xml_of(&enc);
        assert!(
            xml.contains("EncryptedAssertion") && !xml.contains(">alice@"),
            "{encryption}: {xml}"
        );
        let id = run(&s.provider, &enc, Some("_req1")).unwrap_or_else(|e| panic!("{encryption}: {e}"));
        assert_eq!(id.subject, "alice@example.com");
        assert_eq!(id.groups, vec!["admins", "users"]);
    }
    // pysaml2's default, 3DES, is refused by name.
    let enc = pysaml2_encrypted(&s.cert_file, "tripledes-cbc").unwrap();
    refused(
        &s.provider,
        &enc,
        Some("_req1"),
        "encryption: content algorithm http://www.w3.org/2001/04/xmlenc#tripledes-cbc not accepted",
    );
}
