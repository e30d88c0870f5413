//! Portico verifies XML signatures with its own canonicalization over the validator's tree
//! (`c14n` + `dsig`). These tests hold it to the reference: `samael`'s xmlsec verification
//! (libxml2 + xmlsec1) must give the same verdict on every document — responses signed by the real
//! pysaml2 IdP, the same responses rewritten in ways canonicalization must ignore (both accept)
//! or must not (both refuse), and responses re-signed by `xmlsec1` with the other canonicalization
//! methods, an `InclusiveNamespaces` prefix list, and ECDSA.

use std::path::{Path, PathBuf};

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};

use super::*;

/// xmlsec's verdict: every signature in `xml` valid with `cert_file`'s key.
fn xmlsec_accepts(xml: &str, cert_file: &Path) -> bool {
    let pem = std::fs::read(cert_file).unwrap();
    let der = openssl::x509::X509::from_pem(&pem).unwrap().to_der().unwrap();
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(xml, &[CertificateDer::from(der)], ReduceMode::PreDigest, None)
        .is_ok()
}

/// Portico's verdict: accepted, or refused by the signature check (any other refusal is a bug in
/// the test's document).
fn portico_accepts(p: &SamlProvider, xml: &str) -> bool {
    match run(p, &b64(xml), Some("_req1")) {
        Ok(id) => {
            assert_eq!(id.subject, "alice@example.com");
            true
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("signature: digest mismatch") || m.contains("signature: not valid"),
                "refused before the signature check: {m}"
            );
            false
        }
    }
}

fn idp_cert() -> PathBuf {
    peer().dir.join("idp.crt")
}

fn changed(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "fixture lacks {from:?}");
    xml.replacen(from, to, 1)
}

fn assertion_id(xml: &str) -> String {
    let a = &xml[xml.find("<ns1:Assertion ").unwrap()..];
    let id = &a[a.find(" ID=\"").unwrap() + 5..];
    id[..id.find('"').unwrap()].to_owned()
}

#[test]
fn rewrites_canonicalization_ignores_are_accepted_by_both() {
    let p = strict();
    let valid = xml_of(&fixture("valid", Some("_req1")));
    let id = assertion_id(&valid);
    let cases = [
        ("original", valid.clone()),
        (
            "single quotes",
            changed(&valid, "<ns1:Assertion Version=\"2.0\"", "<ns1:Assertion Version='2.0'"),
        ),
        (
            "attribute order",
            changed(
                &valid,
                &format!("<ns1:Assertion Version=\"2.0\" ID=\"{id}\""),
                &format!("<ns1:Assertion ID=\"{id}\"   Version=\"2.0\""),
            ),
        ),
        (
            "redundant namespace declaration",
            changed(
                &valid,
                "<ns1:Subject>",
                "<ns1:Subject xmlns:ns1=\"urn:oasis:names:tc:SAML:2.0:assertion\">",
            ),
        ),
        (
            "unused namespace declaration",
            changed(&valid, "<ns1:Subject>", "<ns1:Subject xmlns:unused=\"urn:unused\" >"),
        ),
        (
            "character reference",
            changed(
                &valid,
                ">alice@example.com</ns1:NameID>",
                ">&#97;lice@example.com</ns1:NameID>",
            ),
        ),
        (
            "empty element as a pair",
            changed(
                &valid,
                "<ns0:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>",
                "<ns0:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"></ns0:StatusCode>",
            ),
        ),
    ];
    for (what, xml) in cases {
        assert!(xmlsec_accepts(&xml, &idp_cert()), "xmlsec refused: {what}");
        assert!(portico_accepts(&p, &xml), "Portico refused: {what}");
    }
}

#[test]
fn rewrites_of_signed_content_are_refused_by_both() {
    let p = strict();
    let valid = xml_of(&fixture("valid", Some("_req1")));
    let cases = [
        (
            "NameID",
            changed(
                &valid,
                ">alice@example.com</ns1:NameID>",
                ">alice@example.com </ns1:NameID>",
            ),
        ),
        (
            "new attribute",
            changed(&valid, "<ns1:Subject>", "<ns1:Subject Extra=\"1\">"),
        ),
        (
            "whitespace between elements",
            changed(&valid, "<ns1:Subject>", "<ns1:Subject>\n"),
        ),
        (
            "namespace prefix renamed",
            valid.replace("ns1:", "saml:").replacen(
                "xmlns:ns1=",
                "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:ns1=",
                1,
            ),
        ),
        (
            "namespace URI changed",
            changed(
                &valid,
                "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
                "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance#\"",
            ),
        ),
        (
            "Response attribute",
            changed(
                &valid,
                "InResponseTo=\"_req1\" Version=\"2.0\"",
                "InResponseTo=\"_req1\" Version=\"2.0\" Consent=\"x\"",
            ),
        ),
        (
            "digest value",
            valid.replacen("<ns2:DigestValue>", "<ns2:DigestValue>AAAA", 1),
        ),
        (
            "signature value",
            valid.replacen("<ns2:SignatureValue>", "<ns2:SignatureValue>AAAA", 1),
        ),
    ];
    for (what, xml) in cases {
        assert!(!xmlsec_accepts(&xml, &idp_cert()), "xmlsec accepted: {what}");
        assert!(!portico_accepts(&p, &xml), "Portico accepted: {what}");
    }
}

const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

#[test]
fn other_canonicalizations_signed_by_xmlsec1_are_accepted_by_both() {
    let p = strict();
    let valid = xml_of(&fixture("valid", Some("_req1")));
    let exc_transform = format!("<ns2:Transform Algorithm=\"{EXC}\"/>");
    let exc_method = format!("<ns2:CanonicalizationMethod Algorithm=\"{EXC}\"/>");
    let cases = [
        (
            "Canonical XML 1.0",
            valid.replace(EXC, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        ),
        (
            "Canonical XML 1.1",
            valid.replace(EXC, "http://www.w3.org/2006/12/xml-c14n11"),
        ),
        ("enveloped transform only", valid.replace(&exc_transform, "")),
        (
            "InclusiveNamespaces prefix lists",
            valid
                .replace(
                    &exc_transform,
                    &format!("<ns2:Transform Algorithm=\"{EXC}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC}\" PrefixList=\"xsi ns0\"/></ns2:Transform>"),
                )
                .replace(
                    &exc_method,
                    &format!("<ns2:CanonicalizationMethod Algorithm=\"{EXC}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC}\" PrefixList=\"#default ns1\"/></ns2:CanonicalizationMethod>"),
                ),
        ),
        ("default namespaces (Entra ID style)", default_namespaces(&valid)),
    ];
    for (what, template) in cases {
        let signed = resign(&template);
        assert!(xmlsec_accepts(&signed, &idp_cert()), "xmlsec refused: {what}");
        assert!(portico_accepts(&p, &signed), "Portico refused: {what}");
        let altered = changed(&signed, ">alice@example.com</", ">alice@example.org</");
        assert!(
            !xmlsec_accepts(&altered, &idp_cert()),
            "xmlsec accepted altered: {what}"
        );
        assert!(!portico_accepts(&p, &altered), "Portico accepted altered: {what}");
    }
}

/// The Assertion rewritten the way Entra ID writes it: unprefixed, the assertion namespace as the
/// default, and its Signature redeclaring the default as the XML-DSig namespace.
fn default_namespaces(xml: &str) -> String {
    let start = xml.find("<ns1:Assertion ").unwrap();
    let end = xml.find("</ns1:Assertion>").unwrap() + "</ns1:Assertion>".len();
    let assertion = xml[start..end]
        .replacen(
            "<ns1:Assertion ",
            "<Assertion xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\" ",
            1,
        )
        .replacen(
            "<ns2:Signature ",
            "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\" ",
            1,
        )
        .replace("<ns1:", "<")
        .replace("</ns1:", "</")
        .replace("<ns2:", "<")
        .replace("</ns2:", "</");
    format!("{}{assertion}{}", &xml[..start], &xml[end..])
}

#[test]
fn ecdsa_signatures_verify_with_the_ec_certificate_only() {
    let dir = peer().dir.join(format!("ec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let pkey = openssl::pkey::PKey::from_ec_key(key).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ec-idp").unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&pkey, openssl::hash::MessageDigest::sha256()).unwrap();
    let cert_pem = String::from_utf8(b.build().to_pem().unwrap()).unwrap();
    let (key_file, cert_file) = (dir.join("ec.key"), dir.join("ec.crt"));
    std::fs::write(&key_file, pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&cert_file, &cert_pem).unwrap();

    let valid = xml_of(&fixture("valid", Some("_req1")));
    let template = valid.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    );
    let signed = resign_with(&template, &key_file, &cert_file);
    let mut cfg = config(SignaturePolicy::default(), false, false);
    if let IdpSource::Explicit { certificates, .. } = &mut cfg.idp {
        *certificates = vec![cert_pem];
    }
    let ec = provider_with(cfg);
    assert!(xmlsec_accepts(&signed, &cert_file), "xmlsec refused ECDSA");
    assert!(portico_accepts(&ec, &signed), "Portico refused ECDSA");
    // The RSA IdP certificate does not verify it, and a forged value is refused.
    assert!(!xmlsec_accepts(&signed, &idp_cert()));
    assert!(!portico_accepts(&strict(), &signed));
    let forged = signed.replacen("<ns2:SignatureValue>", "<ns2:SignatureValue>AAAA", 1);
    assert!(!xmlsec_accepts(&forged, &cert_file));
    assert!(!portico_accepts(&ec, &forged));
    std::fs::remove_dir_all(&dir).ok();
}
