//! The validator against a real IdP: every fixture is produced at test time by the pysaml2 IdP
//! of `tests/peers/saml-idp.sh` (signed with Debian's xmlsec1), and the crafted attacks are
//! re-signed with the IdP's own key by `xmlsec1`, so each one is refused for its own reason and
//! not for a broken signature.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

use base64::Engine as _;
use chrono::Utc;
use portico_core::idp::{
    CompleteContext, IdentityProvider, IdpError, LoginContext, LoginInput, LoginStart, PendingLogin,
};
use portico_saml::config::{AttributeMapping, IdpSource, SamlConfig, SignaturePolicy};
use portico_saml::response::{Expected, SamlAttribute, ValidatedAssertion};
use portico_saml::{generate_sp_credentials, parse_idp_metadata, SamlProvider, SamlRuntime};
use portico_test_support::saml::{b64, peer, xml_of, RESIGN_XPATHS};

#[path = "saml/differential.rs"]
mod differential;
#[path = "saml/encrypted.rs"]
mod encrypted;

const SP: &str = "http://127.0.0.1:1/api/auth/sso/saml/sso_TEST/metadata";
const ACS: &str = "http://127.0.0.1:1/api/auth/sso/callback";
const IDP_ACS: &str = "http://127.0.0.1:1/api/auth/sso/saml/sso_TEST/acs";

fn fixture(kind: &str, in_response_to: Option<&str>) -> String {
    fixture_to(kind, in_response_to, ACS)
}

fn fixture_to(kind: &str, in_response_to: Option<&str>, acs: &str) -> String {
    peer().fixture(kind, in_response_to, SP, acs)
}

/// Blanks the signature values and signs again with the IdP key (assertion first, then response).
fn resign(xml: &str) -> String {
    peer().resign(xml)
}

/// [`resign`] with another key (PEM files): the algorithms are the template's own.
fn resign_with(xml: &str, key_file: &std::path::Path, cert_file: &std::path::Path) -> String {
    sign_with(xml, key_file, cert_file, RESIGN_XPATHS)
}

/// Blanks every visible signature value and signs the signatures at `xpaths`, in order, with
/// `xmlsec1`.
fn sign_with(xml: &str, key_file: &std::path::Path, cert_file: &std::path::Path, xpaths: &[&str]) -> String {
    portico_test_support::saml::sign_with(xml, key_file, cert_file, xpaths, &peer().dir)
}

fn config(policy: SignaturePolicy, allow_sha1: bool, idp_initiated: bool) -> SamlConfig {
    let p = peer();
    let cert = std::fs::read_to_string(p.dir.join("idp.crt")).unwrap();
    SamlConfig {
        sp_entity_id: SP.into(),
        acs_url: ACS.into(),
        idp_initiated_acs_url: Some(IDP_ACS.into()),
        sp_key_pem: None,
        sp_cert_pem: None,
        idp: IdpSource::Explicit {
            entity_id: p.entity_id.clone(),
            sso_url: format!("{}/sso/redirect", p.base),
            certificates: vec![cert],
        },
        allow_sha1,
        allow_idp_initiated: idp_initiated,
        signatures: policy,
        attribute_mapping: AttributeMapping::default(),
        group_attribute: None,
    }
}

fn provider_with(cfg: SamlConfig) -> SamlProvider {
    SamlProvider::new(
        cfg,
        SamlRuntime::new(portico_http::OutboundPolicy {
            allow_private_networks: true,
            allow_insecure_http: true,
            ..Default::default()
        }),
    )
    .unwrap()
}

fn strict() -> SamlProvider {
    provider_with(config(SignaturePolicy::both(), false, false))
}

fn run(
    p: &SamlProvider,
    encoded: &str,
    request_id: Option<&str>,
) -> Result<portico_core::idp::ExternalIdentity, IdpError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let idp = rt.block_on(p.idp()).unwrap();
    let acs = if request_id.is_some() { ACS } else { IDP_ACS };
    p.validate_response(
        &idp,
        encoded,
        &Expected {
            acs,
            request_id,
            now: Utc::now(),
        },
    )
}

fn refused(p: &SamlProvider, encoded: &str, request_id: Option<&str>, reason: &str) {
    match run(p, encoded, request_id) {
        Ok(id) => panic!("accepted (wanted {reason}): {id:?}"),
        Err(e) => assert!(
            e.to_string().contains(reason),
            "refused for another reason: {e} (wanted {reason})"
        ),
    }
}

#[test]
fn valid_response_yields_the_identity() {
    let t = std::time::Instant::now();
    let r = run(&strict(), &fixture("valid", Some("_req1")), Some("_req1")).unwrap();
    eprintln!("first validation (with peer start) {:?}", t.elapsed());
    assert_eq!(r.subject, "alice@example.com");
    assert_eq!(r.email.as_deref(), Some("alice@example.com"));
    assert_eq!(r.name.as_deref(), Some("Alice Example"));
    assert_eq!(r.groups, vec!["admins", "users"]);
    assert_eq!(r.issuer, peer().entity_id);
    assert!(!r.mfa);
    assert!(r.assertion_id.as_deref().is_some_and(|id| id.starts_with("id-")));
    let exp = r.expires_at.unwrap();
    assert!(
        exp > Utc::now() + chrono::Duration::minutes(10) && exp < Utc::now() + chrono::Duration::minutes(20),
        "{exp}"
    );
    // Timing of the validation alone (fixture reused; replay is the server's job).
    let p = strict();
    let enc = fixture("valid", Some("_req2"));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let idp = rt.block_on(p.idp()).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..50 {
        p.validate_response(
            &idp,
            &enc,
            &Expected {
                acs: ACS,
                request_id: Some("_req2"),
                now: Utc::now(),
            },
        )
        .unwrap();
    }
    eprintln!(
        "validation: {:?} per response (build profile of this run)",
        t.elapsed() / 50
    );
}

#[test]
fn every_fixture_attack_is_refused() {
    let p = strict();
    for (kind, reason) in [
        ("expired", "time:"),
        ("not_yet_valid", "time:"),
        ("wrong_audience", "audience:"),
        ("wrong_destination", "destination:"),
        ("wrong_issuer", "issuer:"),
        ("wrong_in_response_to", "in_response_to:"),
        ("unsigned", "signature: the response is not signed"),
        (
            "assertion_signed_only",
            "signature: the Response element must be signed",
        ),
        (
            "response_signed_only",
            "signature: the Assertion element must be signed",
        ),
        (
            "untrusted_key",
            "signature: not valid with the configured IdP certificate",
        ),
        ("tampered", "signature: digest mismatch"),
        (
            "sha1",
            "signature: algorithm http://www.w3.org/2000/09/xmldsig#rsa-sha1 not accepted",
        ),
        ("xsw_prepend", "wrapping: 2 Assertion elements"),
        ("xsw_wrap", "wrapping: 2 Assertion elements"),
    ] {
        eprintln!("{kind}");
        refused(&p, &fixture(kind, Some("_req1")), Some("_req1"), reason);
    }
}

#[test]
fn relaxed_policies_still_refuse_wrapping_and_foreign_keys() {
    // The default is the relaxed rule: the used Assertion covered by one valid signature.
    assert_eq!(
        SignaturePolicy::default(),
        SignaturePolicy {
            require_signed_response: false,
            require_signed_assertion: false,
        }
    );
    let lenient = provider_with(config(SignaturePolicy::default(), false, false));
    for kind in ["assertion_signed_only", "response_signed_only"] {
        let id = run(&lenient, &fixture(kind, Some("_r")), Some("_r")).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(id.subject, "alice@example.com");
    }
    refused(&lenient, &fixture("xsw_prepend", Some("_r")), Some("_r"), "wrapping:");
    refused(&lenient, &fixture("xsw_wrap", Some("_r")), Some("_r"), "wrapping:");
    refused(
        &lenient,
        &fixture("untrusted_key", Some("_r")),
        Some("_r"),
        "signature:",
    );
    refused(&lenient, &fixture("unsigned", Some("_r")), Some("_r"), "signature:");
    refused(
        &lenient,
        &fixture("sha1", Some("_r")),
        Some("_r"),
        "signature: algorithm",
    );
    let sha1 = provider_with(config(SignaturePolicy::default(), true, false));
    assert!(
        run(&sha1, &fixture("sha1", Some("_r")), Some("_r")).is_ok(),
        "allowSha1 accepts SHA-1"
    );
}

#[test]
fn crafted_attacks_validly_signed_are_refused() {
    let p = strict();
    let valid = xml_of(&fixture("valid", Some("_req1")));
    // Sanity: re-signing alone keeps a response valid.
    assert!(
        run(&p, &b64(&resign(&valid)), Some("_req1")).is_ok(),
        "re-signed valid response"
    );

    // Comment truncation: the IdP signed alice@example.com.evil.com; a comment splits it.
    let evil = resign(&valid.replace(
        ">alice@example.com</ns1:NameID>",
        ">alice@example.com.evil.com</ns1:NameID>",
    ));
    let injected = evil.replace(">alice@example.com.evil.com<", ">alice@example.com<!---->.evil.com<");
    refused(
        &p,
        &b64(&injected),
        Some("_req1"),
        "format: XML comments are not accepted",
    );
    // Failure status with an assertion attached.
    let failed = resign(&valid.replace(
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
    ));
    refused(&p, &b64(&failed), Some("_req1"), "status:");
    // An audience that only starts with this SP's entity ID.
    let prefix = resign(&valid.replace(
        &format!(">{SP}</ns1:Audience>"),
        &format!(">{SP}.evil.example</ns1:Audience>"),
    ));
    refused(&p, &b64(&prefix), Some("_req1"), "audience:");
    // Wrong Recipient with the right Destination.
    let recipient = resign(&valid.replace(&format!("Recipient=\"{ACS}\""), "Recipient=\"http://evil.example/acs\""));
    refused(&p, &b64(&recipient), Some("_req1"), "recipient:");
    // DOCTYPE / entity expansion.
    let dtd = valid.replacen(
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>",
        1,
    );
    refused(&p, &b64(&dtd), Some("_req1"), "dtd:");
    // 1 MiB+ body.
    let big = valid.replace(
        "</ns0:Response>",
        &format!("<!--{}--></ns0:Response>", "x".repeat(1024 * 1024)),
    );
    refused(&p, &b64(&big), Some("_req1"), "size:");
    // Encrypted assertions are refused cleanly (samael cannot decrypt and then verify them).
    let (head, _, tail) = split_assertion(&valid);
    let encrypted = format!(
        "{head}<ns1:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></ns1:EncryptedAssertion>{tail}"
    );
    let e = run(&p, &b64(&encrypted), Some("_req1")).unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED", "{e}");
    // Deep nesting (the signature check walks the tree recursively).
    let deep = valid.replacen(
        "</ns1:NameID>",
        &format!("</ns1:NameID>{}{}", "<x>".repeat(20_000), "</x>".repeat(20_000)),
        1,
    );
    refused(&p, &b64(&deep), Some("_req1"), "format: elements nested deeper than 64");
    // An assertion ID longer than the replay cache accepts.
    let long_id = valid.replace("ID=\"id-", &format!("ID=\"id-{}", "x".repeat(300)));
    refused(&p, &b64(&long_id), Some("_req1"), "longer than 256");
    // Foreign encoding declaration (parser differential).
    let utf16 = valid.replacen(
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
        1,
    );
    refused(&p, &b64(&utf16), Some("_req1"), "format: only UTF-8");
}

fn split_assertion(xml: &str) -> (String, String, String) {
    let start = xml.find("<ns1:Assertion ").unwrap();
    let end = xml.find("</ns1:Assertion>").unwrap() + "</ns1:Assertion>".len();
    (
        xml[..start].to_owned(),
        xml[start..end].to_owned(),
        xml[end..].to_owned(),
    )
}

fn evil_copy(assertion: &str, same_id: bool) -> String {
    let sig_start = assertion.find("<ns2:Signature").unwrap();
    let sig_end = assertion.find("</ns2:Signature>").unwrap() + "</ns2:Signature>".len();
    let mut evil = format!("{}{}", &assertion[..sig_start], &assertion[sig_end..])
        .replace("alice@example.com", "admin@example.com");
    if !same_id {
        evil = evil.replacen("ID=\"id-", "ID=\"evil-", 1);
    }
    evil
}

#[test]
fn signature_wrapping_shapes_are_refused() {
    // The response is signed by the IdP over the assertion-only shape (as real IdPs that sign
    // only the assertion do), then rewrapped.
    let lenient = provider_with(config(
        SignaturePolicy {
            require_signed_response: false,
            require_signed_assertion: true,
        },
        false,
        false,
    ));
    let xml = xml_of(&fixture("assertion_signed_only", Some("_req1")));
    assert!(run(&lenient, &b64(&xml), Some("_req1")).is_ok());
    let (head, signed, tail) = split_assertion(&xml);
    // Forged assertion after the signed one.
    let after = format!("{head}{signed}{}{tail}", evil_copy(&signed, false));
    refused(&lenient, &b64(&after), Some("_req1"), "wrapping: 2 Assertion elements");
    // Signed assertion hidden in Extensions, forged one in its place.
    let hidden = format!(
        "{head}<ns0:Extensions>{signed}</ns0:Extensions>{}{tail}",
        evil_copy(&signed, false)
    );
    refused(&lenient, &b64(&hidden), Some("_req1"), "wrapping:");
    // Duplicate IDs: the forged assertion carries the signed one's ID.
    let dup = format!("{head}{}{signed}{tail}", evil_copy(&signed, true));
    refused(&lenient, &b64(&dup), Some("_req1"), "wrapping:");
    // A lone forged assertion whose signature references another element.
    let moved = signed.replacen("URI=\"#id-", "URI=\"#other-", 1);
    refused(
        &lenient,
        &b64(&format!("{head}{moved}{tail}")),
        Some("_req1"),
        "wrapping: the signature does not reference",
    );
}

#[test]
fn idp_initiated_only_when_enabled_and_only_unsolicited() {
    let on = provider_with(config(SignaturePolicy::default(), false, true));
    let unsolicited = fixture_to("valid", None, IDP_ACS);
    let id = run(&on, &unsolicited, None).unwrap();
    assert_eq!(id.subject, "alice@example.com");
    // A response to an SP-initiated request is not accepted as unsolicited.
    refused(
        &on,
        &fixture_to("valid", Some("_req1"), IDP_ACS),
        None,
        "in_response_to:",
    );
    // Off by default: refused before anything else.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let off = strict();
    let e = rt
        .block_on(off.complete_login(
            &CompleteContext {
                pending: None,
                now: Utc::now(),
            },
            LoginInput::SamlResponse {
                saml_response: unsolicited,
            },
        ))
        .unwrap_err();
    assert!(e.to_string().contains("unsolicited: IdP-initiated login is off"), "{e}");
}

#[tokio::test]
async fn begin_login_sends_a_signed_redirect_authn_request() {
    let (key, cert) = generate_sp_credentials("portico test sp").unwrap();
    let mut cfg = config(SignaturePolicy::default(), false, false);
    cfg.sp_key_pem = Some(key);
    cfg.sp_cert_pem = Some(cert.clone());
    let p = provider_with(cfg);
    let start = p
        .begin_login(&LoginContext {
            state: "relay-state-123".into(),
            redirect_uri: ACS.into(),
            login_hint: None,
            force_authn: false,
            now: Utc::now(),
        })
        .await
        .unwrap();
    let LoginStart::Redirect { url, pending } = start else {
        panic!("redirect expected")
    };
    let u = url::Url::parse(&url).unwrap();
    assert!(url.starts_with(&format!("{}/sso/redirect?", peer().base)));
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["RelayState"], "relay-state-123");
    assert_eq!(q["SigAlg"], "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    assert!(q.contains_key("Signature"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&q["SAMLRequest"])
        .unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&raw[..]), &mut xml).unwrap();
    let id = pending.request_id.clone().unwrap();
    assert!(id.len() > 30 && id.starts_with('_'));
    assert!(xml.contains(&format!("ID=\"{id}\"")), "{xml}");
    assert!(xml.contains(&format!("AssertionConsumerServiceURL=\"{ACS}\"")));
    assert!(xml.contains(&format!(">{SP}<")));
    assert_eq!(
        pending,
        PendingLogin {
            request_id: Some(id),
            redirect_uri: ACS.into(),
            ..Default::default()
        }
    );
    // The IdP accepts it: its auto-post form answers InResponseTo = our ID.
    let page = String::from_utf8(Command::new("curl").arg("-sf").arg(&url).output().unwrap().stdout).unwrap();
    assert!(page.contains("name=\"SAMLResponse\""), "{page}");
    let sp_md = p.sp_metadata_xml();
    assert!(
        sp_md.contains(&format!("entityID=\"{SP}\""))
            && sp_md.contains(&format!("Location=\"{ACS}\""))
            && sp_md.contains("X509Certificate")
    );
    assert!(
        parse_idp_metadata(&sp_md, None).is_err(),
        "SP metadata is not IdP metadata"
    );
}

/// The AuthnRequest is written without `samael` in the product; it stays the document samael's
/// schema type wrote (byte for byte), with the entity ID escaped as text.
#[test]
fn authn_request_is_the_document_samael_wrote() {
    use samael::schema::{AuthnRequest, Issuer};
    use samael::traits::ToXml;
    let now = Utc::now();
    for entity in [SP, "https://sp.example.com/saml?a=1&b=<2>"] {
        let ours =
            portico_saml::request::authn_request_xml("_id1", entity, ACS, "https://idp.example.com/sso", now, false)
                .unwrap();
        let escaped = entity.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let reference = AuthnRequest {
            id: "_id1".into(),
            version: "2.0".into(),
            issue_instant: now,
            destination: Some("https://idp.example.com/sso".into()),
            issuer: Some(Issuer {
                format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:entity".into()),
                value: Some(escaped.clone()),
                ..Issuer::default()
            }),
            protocol_binding: Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST".into()),
            assertion_consumer_service_url: Some(ACS.into()),
            ..AuthnRequest::default()
        }
        .to_string()
        .unwrap();
        assert_eq!(ours, reference);
        assert!(ours.contains(&format!(">{escaped}</saml2:Issuer>")), "{ours}");
    }
}

#[test]
fn metadata_is_parsed_and_unsafe_or_keyless_configs_refused() {
    let p = peer();
    let xml = std::fs::read_to_string(p.dir.join("idp-metadata.xml")).unwrap();
    let md = parse_idp_metadata(&xml, None).unwrap();
    assert_eq!(md.entity_id, p.entity_id);
    assert_eq!(
        md.sso_redirect_url.as_deref(),
        Some(format!("{}/sso/redirect", p.base).as_str())
    );
    assert_eq!(md.signing_certs.len(), 1);
    assert!(parse_idp_metadata(&xml, Some("http://other.example/idp")).is_err());
    let start = xml
        .find("<md:KeyDescriptor")
        .or_else(|| xml.find("<ns0:KeyDescriptor"))
        .expect("key descriptor");
    let tag = &xml[start + 1..xml[start..].find(' ').unwrap() + start];
    let end = xml.rfind(&format!("</{tag}>")).unwrap() + tag.len() + 3;
    let keyless = format!("{}{}", &xml[..start], &xml[end..]);
    let e = parse_idp_metadata(&keyless, None).unwrap_err();
    assert!(e.to_string().contains("no IdP signing certificate"), "{e}");
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        xml.trim_start_matches(|c| c != '<')
            .split_once("?>")
            .map(|(_, r)| r)
            .unwrap_or(&xml)
    );
    assert!(parse_idp_metadata(&dtd, None).unwrap_err().to_string().contains("dtd:"));
    let mut cfg = config(SignaturePolicy::default(), false, false);
    cfg.idp = IdpSource::Explicit {
        entity_id: p.entity_id.clone(),
        sso_url: format!("{}/sso/redirect", p.base),
        certificates: vec![],
    };
    let e = SamlProvider::new(cfg, SamlRuntime::new(Default::default())).unwrap_err();
    assert_eq!(e.code(), "SSO_MISCONFIGURED");
    let mut cfg = config(SignaturePolicy::default(), false, false);
    cfg.idp = IdpSource::MetadataXml {
        xml: keyless,
        entity_id: None,
    };
    assert!(SamlProvider::new(cfg, SamlRuntime::new(Default::default())).is_err());
}

#[tokio::test]
async fn metadata_url_is_fetched_through_the_guard_and_checked() {
    let p = peer();
    let mut cfg = config(SignaturePolicy::default(), false, false);
    cfg.idp = IdpSource::MetadataUrl {
        url: format!("{}/metadata", p.base),
        entity_id: None,
    };
    let guarded = SamlProvider::new(cfg.clone(), SamlRuntime::new(Default::default())).unwrap();
    let e = guarded.idp().await.unwrap_err();
    assert_eq!(e.code(), "IDP_UNAVAILABLE", "{e}");
    let open = provider_with(cfg);
    let report = open.check().await;
    assert!(report.success(), "{report:?}");
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.name == "certificates" && c.message.contains("nearest expiry in")),
        "{report:?}"
    );
}

fn assertion(attrs: Vec<(&str, Vec<&str>)>, contexts: &[&str]) -> ValidatedAssertion {
    ValidatedAssertion {
        assertion_id: "_a".into(),
        issuer: "https://idp.example".into(),
        name_id: "00u1abcd".into(),
        name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
        attributes: attrs
            .into_iter()
            .map(|(n, v)| SamlAttribute {
                name: n.into(),
                friendly_name: None,
                values: v.into_iter().map(String::from).collect(),
            })
            .collect(),
        authn_contexts: contexts.iter().map(|s| s.to_string()).collect(),
        session_not_on_or_after: None,
        acceptable_until: Utc::now(),
        response_signed: true,
        assertion_signed: true,
    }
}

#[test]
fn attribute_defaults_for_okta_entra_google_and_mfa() {
    use portico_saml::attributes::identity;
    let none = AttributeMapping::default();
    // Entra ID claim URIs, MFA by AuthnContextClassRef.
    let entra = assertion(
        vec![
            (
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                vec!["Carol@Contoso.com"],
            ),
            (
                "http://schemas.microsoft.com/identity/claims/displayname",
                vec!["Carol C"],
            ),
            (
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
                vec!["g1", "g2"],
            ),
        ],
        &["http://schemas.microsoft.com/claims/multipleauthn"],
    );
    let id = identity(&entra, &none, None);
    assert_eq!(id.email.as_deref(), Some("Carol@Contoso.com"));
    assert_eq!(id.name.as_deref(), Some("Carol C"));
    assert_eq!(id.groups, vec!["g1", "g2"]);
    assert!(id.mfa);
    assert_eq!(id.subject, "00u1abcd");
    // Okta-style names; a persistent NameID is never taken as the email.
    let okta = assertion(
        vec![
            ("firstName", vec!["Dan"]),
            ("lastName", vec!["D"]),
            ("groups", vec!["eng"]),
        ],
        &["urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"],
    );
    let id = identity(&okta, &none, None);
    assert_eq!(id.name.as_deref(), Some("Dan D"));
    assert_eq!(id.email, None);
    assert!(!id.mfa);
    // Entra's authnmethodsreferences attribute also signals MFA.
    let amr = assertion(
        vec![(
            "http://schemas.microsoft.com/claims/authnmethodsreferences",
            vec!["http://schemas.microsoft.com/claims/multipleauthn"],
        )],
        &[],
    );
    assert!(identity(&amr, &none, None).mfa);
    // Explicit mapping and groupAttribute win.
    let custom = assertion(
        vec![
            ("mail2", vec!["e@x.example"]),
            ("roles", vec!["r1"]),
            ("groups", vec!["ignored"]),
        ],
        &[],
    );
    let mut map = std::collections::BTreeMap::new();
    map.insert("email".to_owned(), "mail2".to_owned());
    let id = identity(&custom, &AttributeMapping::from_map(&map), Some("roles"));
    assert_eq!(id.email.as_deref(), Some("e@x.example"));
    assert_eq!(id.groups, vec!["r1"]);
}
