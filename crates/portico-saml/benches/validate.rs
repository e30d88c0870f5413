//! `cargo bench -p portico-saml`: validating one signed SAML response with the production
//! validator (`SamlProvider::validate_response`, strict policy: Response and Assertion both
//! signed, RSA-SHA256 with the IdP's 2048-bit key), and the raw pieces it is made of, so that the
//! figures say what dominates:
//!
//! - `saml/validate_response`: the whole validation (base64, intake checks, roxmltree parse, shape
//!   and signature placement, Portico's own verification of both signatures — exclusive
//!   canonicalization over the same tree, SHA-256 digests, RSA with the IdP key loaded once —
//!   every semantic check on the signed elements, the attribute mapping);
//! - `saml/piece/decode_base64`: base64 + UTF-8 + the DTD/encoding scan of the intake;
//! - `saml/piece/parse_roxmltree`: the XML parse the validator does before any cryptography
//!   (roxmltree, no DTD, comment/PI scan);
//! - `saml/piece/samael_reduce`: samael's `reduce_xml_to_signed_with_allowed_algorithms` alone
//!   (libxml2 parse, xmlsec verification of the two signatures, pre-digest output) — what the
//!   validator used before it verified signatures itself, kept for comparison (the tests use it
//!   as the reference verifier);
//! - `saml/piece/rsa2048_verify`: one RSA-2048/SHA-256 signature check with OpenSSL (the floor of
//!   the cryptography: a response carries two).
//!
//! The response comes from the real pysaml2 IdP of `tests/peers/saml-idp.sh` (signed by Debian's
//! xmlsec1), through `portico_test_support::saml::peer`: the one `scripts/test` started
//! (`PORTICO_TEST_SAML_DIR`), else one started here on a free port that exits with this process.
//! Signed responses carry time windows (issued at most 10 minutes ago), so every benchmark asks
//! for a fresh one when it starts, and checks that it is still accepted when it ends. Under
//! `cargo test --all-targets` criterion runs each benchmark once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Utc;
use criterion::Criterion;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use portico_saml::config::{AttributeMapping, IdpSource, SamlConfig, SignaturePolicy};
use portico_saml::response::Expected;
use portico_saml::{IdpMetadata, SamlProvider, SamlRuntime};
use portico_test_support::saml::SamlPeer;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

const SP: &str = "http://127.0.0.1:1/api/auth/sso/saml/sso_BENCH/metadata";
const ACS: &str = "http://127.0.0.1:1/api/auth/sso/callback";
const REQUEST_ID: &str = "_bench_request_1";
/// The signature algorithms the validator accepts without `allowSha1` (as in `signature.rs`).
const STRONG: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// A fresh valid response (base64) to `REQUEST_ID`, for this SP at this ACS.
fn fresh_response(peer: &SamlPeer) -> String {
    peer.fixture("valid", Some(REQUEST_ID), SP, ACS)
}

struct Bench {
    peer: &'static SamlPeer,
    provider: SamlProvider,
    idp: Arc<IdpMetadata>,
    certs: Vec<CertificateDer>,
}

impl Bench {
    fn new() -> Self {
        let peer = portico_test_support::saml::peer();
        let cert = std::fs::read_to_string(peer.dir.join("idp.crt")).unwrap();
        let cfg = SamlConfig {
            sp_entity_id: SP.into(),
            acs_url: ACS.into(),
            idp_initiated_acs_url: None,
            sp_key_pem: None,
            sp_cert_pem: None,
            idp: IdpSource::Explicit {
                entity_id: peer.entity_id.clone(),
                sso_url: format!("{}/sso/redirect", peer.base),
                certificates: vec![cert],
            },
            allow_sha1: false,
            allow_idp_initiated: false,
            signatures: SignaturePolicy::both(),
            attribute_mapping: AttributeMapping::default(),
            group_attribute: None,
        };
        assert!(
            cfg.signatures.require_signed_response && cfg.signatures.require_signed_assertion,
            "the benchmark checks both signatures"
        );
        let provider = SamlProvider::new(
            cfg,
            SamlRuntime::new(portico_http::OutboundPolicy {
                allow_private_networks: true,
                allow_insecure_http: true,
                ..Default::default()
            }),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let idp = rt.block_on(provider.idp()).unwrap();
        let certs = idp
            .signing_certs
            .iter()
            .map(|c| CertificateDer::from(c.der.clone()))
            .collect();
        Bench {
            peer,
            provider,
            idp,
            certs,
        }
    }

    fn validate(&self, encoded: &str) -> Result<portico_core::idp::ExternalIdentity, portico_core::idp::IdpError> {
        self.provider.validate_response(
            &self.idp,
            encoded,
            &Expected {
                acs: ACS,
                request_id: Some(REQUEST_ID),
                now: Utc::now(),
            },
        )
    }

    /// A fresh response, checked to be accepted (so that no benchmark times a refusal).
    fn fresh(&self) -> (String, String) {
        let encoded = fresh_response(self.peer);
        let id = self
            .validate(&encoded)
            .unwrap_or_else(|e| panic!("the fresh IdP response is refused: {e}"));
        assert_eq!(id.subject, "alice@example.com");
        let xml = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&encoded).unwrap()).unwrap();
        assert!(
            xml.contains("rsa-sha256") && xml.matches("SignatureValue>").count() == 4,
            "expected Response and Assertion signed with RSA-SHA256"
        );
        (encoded, xml)
    }

    /// Fails the run if the response went stale while it was being timed.
    fn still_valid(&self, encoded: &str, what: &str) {
        if let Err(e) = self.validate(encoded) {
            panic!("{what}: the response stopped validating during the benchmark ({e}); keep each benchmark under 10 minutes");
        }
    }
}

fn benches(c: &mut Criterion, b: &Bench) {
    let mut g = c.benchmark_group("saml");

    let (encoded, _) = b.fresh();
    g.bench_function("validate_response", |bn| {
        bn.iter(|| b.validate(black_box(&encoded)).unwrap())
    });
    b.still_valid(&encoded, "validate_response");

    let (encoded, _) = b.fresh();
    g.bench_function("piece/decode_base64", |bn| {
        bn.iter(|| portico_saml::xml::decode_response(black_box(&encoded)).unwrap())
    });

    let (_, xml) = b.fresh();
    g.bench_function("piece/parse_roxmltree", |bn| {
        bn.iter(|| {
            let doc = portico_saml::xml::parse(black_box(&xml)).unwrap();
            black_box(doc.descendants().len())
        })
    });

    let (encoded, xml) = b.fresh();
    g.bench_function("piece/samael_reduce", |bn| {
        bn.iter(|| {
            Crypto::reduce_xml_to_signed_with_allowed_algorithms(
                black_box(&xml),
                &b.certs,
                ReduceMode::PreDigest,
                Some(STRONG),
            )
            .unwrap()
        })
    });
    b.still_valid(&encoded, "samael_reduce");

    // One RSA-2048 PKCS#1 v1.5 / SHA-256 verification with the IdP's own key, over a buffer the
    // size of a SignedInfo.
    let key = PKey::private_key_from_pem(&std::fs::read(b.peer.dir.join("idp.key")).unwrap()).unwrap();
    assert_eq!(key.bits(), 2048, "the IdP key is RSA-2048");
    let public = X509::from_pem(&std::fs::read(b.peer.dir.join("idp.crt")).unwrap())
        .unwrap()
        .public_key()
        .unwrap();
    let message = vec![b'x'; 600];
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(&message).unwrap();
    let signature = signer.sign_to_vec().unwrap();
    g.bench_function("piece/rsa2048_verify", |bn| {
        bn.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            v.update(black_box(&message)).unwrap();
            assert!(v.verify(black_box(&signature)).unwrap());
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let b = Bench::new();
    benches(&mut c, &b);
    drop(b);
    c.final_summary();
}
