//! XML Signature verification of one enveloped signature (the only kind SAML uses), over the
//! validator's own parsed tree: the referenced element's digest is computed from the tree with
//! [`crate::c14n`], the `SignedInfo` is canonicalized the same way and its signature checked with
//! OpenSSL against the configured IdP keys only (the signature's `KeyInfo` is never read).
//!
//! Algorithms are pinned here: RSA-SHA256/384/512 and ECDSA-SHA256/384/512 signatures, SHA-256/
//! 384/512 digests (RSA-SHA1 and SHA-1 only when the connection allows SHA-1), exclusive or
//! inclusive canonicalization without comments, and the transforms `enveloped-signature`
//! followed by at most one canonicalization.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use portico_core::idp::IdpError;
use roxmltree::Node;

use crate::c14n::{self, Method};
use crate::config::IdpCertificate;
use crate::xml::{self, NS_DSIG};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C14N_11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

/// The key type a signature method needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    Ecdsa,
}

/// A signature whose algorithms and structure were accepted, ready to verify.
pub(crate) struct Parsed {
    signed_info_c14n: Method,
    signature_digest: MessageDigest,
    key_kind: KeyKind,
    signature_value: Vec<u8>,
    reference_c14n: Method,
    digest: MessageDigest,
    digest_value: Vec<u8>,
}

fn signature_method(uri: &str, allow_sha1: bool) -> Result<(MessageDigest, KeyKind), IdpError> {
    Ok(match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), KeyKind::Rsa),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384(), KeyKind::Rsa),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), KeyKind::Rsa),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), KeyKind::Ecdsa),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (MessageDigest::sha384(), KeyKind::Ecdsa),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (MessageDigest::sha512(), KeyKind::Ecdsa),
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" if allow_sha1 => (MessageDigest::sha1(), KeyKind::Rsa),
        other => {
            return Err(invalid(format!(
                "signature: algorithm {other} not accepted (SHA-1 needs allowSha1)"
            )))
        }
    })
}

fn digest_method(uri: &str, allow_sha1: bool) -> Result<MessageDigest, IdpError> {
    Ok(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        "http://www.w3.org/2000/09/xmldsig#sha1" if allow_sha1 => MessageDigest::sha1(),
        other => {
            return Err(invalid(format!(
                "signature: digest {other} not accepted (SHA-1 needs allowSha1)"
            )))
        }
    })
}

fn algorithm<'a>(n: Option<Node<'a, '_>>, what: &str) -> Result<&'a str, IdpError> {
    n.and_then(|n| n.attribute("Algorithm"))
        .ok_or_else(|| invalid(format!("signature: no {what}")))
}

/// A canonicalization method element (`CanonicalizationMethod` or a `Transform`): the algorithm,
/// and for exclusive canonicalization its `InclusiveNamespaces` `PrefixList`.
fn c14n_method(n: Node<'_, '_>) -> Result<Method, IdpError> {
    let alg = algorithm(Some(n), "canonicalization algorithm")?;
    let mut params = n.children().filter(|c| c.is_element());
    match alg {
        EXC_C14N => {
            let prefixes = match (params.next(), params.next()) {
                (None, _) => Vec::new(),
                (Some(p), None) if xml::is(&p, EXC_C14N, "InclusiveNamespaces") => p
                    .attribute("PrefixList")
                    .unwrap_or_default()
                    .split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect(),
                _ => return Err(invalid("signature: canonicalization parameters not accepted")),
            };
            Ok(Method::Exclusive {
                inclusive_prefixes: prefixes,
            })
        }
        C14N_10 | C14N_11 if params.next().is_none() => Ok(Method::Inclusive),
        other => Err(invalid(format!("signature: canonicalization {other} not accepted"))),
    }
}

fn base64_text(n: Node<'_, '_>, what: &str) -> Result<Vec<u8>, IdpError> {
    use base64::Engine as _;
    let text = xml::text(n).map_err(invalid)?;
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| invalid(format!("signature: {what} is not base64")))
}

fn required<'a, 'i>(parent: Node<'a, 'i>, name: &'static str) -> Result<Node<'a, 'i>, IdpError> {
    xml::only_child(parent, NS_DSIG, name)
        .map_err(invalid)?
        .ok_or_else(|| invalid(format!("signature: no {name}")))
}

/// Checks the structure and algorithms of `sig`, an enveloped signature of the element whose ID
/// is `signed_id`: one `SignedInfo` with one `Reference` to `#signed_id`, pinned algorithms and
/// transforms, nothing but `SignedInfo`, `SignatureValue` and `KeyInfo` in the signature.
pub(crate) fn parse(sig: Node<'_, '_>, signed_id: &str, allow_sha1: bool) -> Result<Parsed, IdpError> {
    if sig.children().filter(|c| c.is_element()).any(|c| {
        !(xml::is(&c, NS_DSIG, "SignedInfo")
            || xml::is(&c, NS_DSIG, "SignatureValue")
            || xml::is(&c, NS_DSIG, "KeyInfo"))
    }) {
        return Err(invalid("signature: unexpected element in Signature"));
    }
    let si = required(sig, "SignedInfo")?;
    let signed_info_c14n = c14n_method(required(si, "CanonicalizationMethod")?)?;
    let (signature_digest, key_kind) = signature_method(
        algorithm(Some(required(si, "SignatureMethod")?), "SignatureMethod")?,
        allow_sha1,
    )?;
    let refs: Vec<Node<'_, '_>> = xml::children(si, NS_DSIG, "Reference").collect();
    let [reference] = refs.as_slice() else {
        return Err(invalid("wrapping: a signature must have exactly one Reference"));
    };
    if reference.attribute("URI").and_then(|u| u.strip_prefix('#')) != Some(signed_id) {
        return Err(invalid(
            "wrapping: the signature does not reference the element that contains it",
        ));
    }
    let transforms: Vec<Node<'_, '_>> = match xml::only_child(*reference, NS_DSIG, "Transforms").map_err(invalid)? {
        Some(t) => xml::children(t, NS_DSIG, "Transform").collect(),
        None => Vec::new(),
    };
    // The signature sits inside the element it signs: the enveloped transform must come first;
    // the node set is then canonicalized by the next transform, or by Canonical XML 1.0.
    let reference_c14n = match transforms.as_slice() {
        [env] if algorithm(Some(*env), "Transform algorithm")? == ENVELOPED => Method::Inclusive,
        [env, c] if algorithm(Some(*env), "Transform algorithm")? == ENVELOPED => c14n_method(*c)?,
        _ => {
            return Err(invalid(
                "signature: transforms must be enveloped-signature then at most one canonicalization",
            ))
        }
    };
    if transforms.first().is_some_and(|t| t.children().any(|c| c.is_element())) {
        return Err(invalid("signature: transform parameters not accepted"));
    }
    let digest = digest_method(
        algorithm(Some(required(*reference, "DigestMethod")?), "DigestMethod")?,
        allow_sha1,
    )?;
    let digest_value = base64_text(required(*reference, "DigestValue")?, "DigestValue")?;
    let signature_value = base64_text(required(sig, "SignatureValue")?, "SignatureValue")?;
    Ok(Parsed {
        signed_info_c14n,
        signature_digest,
        key_kind,
        signature_value,
        reference_c14n,
        digest,
        digest_value,
    })
}

/// Verifies `sig` (already [`parse`]d as `p`), enveloped in `signed`: the digest of `signed`
/// without `sig`, then the signature of `SignedInfo` by the key of one of `certs`.
pub(crate) fn verify(
    p: &Parsed,
    sig: Node<'_, '_>,
    signed: Node<'_, '_>,
    certs: &[IdpCertificate],
) -> Result<(), IdpError> {
    let mut buf = Vec::with_capacity(signed.range().len());
    c14n::canonicalize(signed, Some(sig.id()), &p.reference_c14n, &mut buf).map_err(invalid)?;
    let digest = hash(p.digest, &buf).map_err(|_| invalid("signature: digest failed"))?;
    if digest.len() != p.digest_value.len() || !openssl::memcmp::eq(&digest, &p.digest_value) {
        return Err(invalid("signature: digest mismatch (the signed content was altered)"));
    }
    let si = required(sig, "SignedInfo")?;
    buf.clear();
    c14n::canonicalize(si, None, &p.signed_info_c14n, &mut buf).map_err(invalid)?;
    if certs.iter().any(|c| check(p, &c.public_key, &buf)) {
        Ok(())
    } else {
        Err(invalid("signature: not valid with the configured IdP certificate(s)"))
    }
}

/// One key's verdict on the canonical `SignedInfo`; a key of the wrong type says no.
fn check(p: &Parsed, key: &PKey<Public>, signed_info: &[u8]) -> bool {
    let der;
    let signature: &[u8] = match (p.key_kind, key.id()) {
        (KeyKind::Rsa, Id::RSA) => &p.signature_value,
        (KeyKind::Ecdsa, Id::EC) => match ecdsa_der(&p.signature_value) {
            Some(d) => {
                der = d;
                &der
            }
            None => return false,
        },
        _ => return false,
    };
    Verifier::new(p.signature_digest, key)
        .and_then(|mut v| v.verify_oneshot(signature, signed_info))
        .unwrap_or(false)
}

/// XML Signature ECDSA values are `r || s` (fixed width each); OpenSSL wants DER.
fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 264 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let sig = EcdsaSig::from_private_components(BigNum::from_slice(r).ok()?, BigNum::from_slice(s).ok()?).ok()?;
    sig.to_der().ok()
}
