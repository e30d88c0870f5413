//! Step 2 of response validation, before any cryptography: the document's shape. A protocol
//! `Response` root with exactly one `Assertion` as its direct child (no second assertion
//! anywhere: signature wrapping), unique IDs and no `xml:id`, and every `Signature` enveloped in
//! the Response or the Assertion, referencing exactly that element, with pinned algorithms.

use std::collections::HashSet;

use portico_core::idp::IdpError;
use roxmltree::{Document, Node};
use samael::crypto::AllowedSignatureAlgorithm;

use crate::xml::{self, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Signature algorithms always accepted.
pub const STRONG_SIGNATURE_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
/// Digest algorithms always accepted.
pub const STRONG_DIGESTS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// RSA-SHA1, only with `allow_sha1`.
pub const SIG_RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
/// SHA-1 digest, only with `allow_sha1`.
pub const DIGEST_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub(crate) const SAMAEL_STRONG: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];
const C14N: &[&str] = &[
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
];
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

pub(crate) struct Shape {
    pub(crate) response_id: String,
    pub(crate) assertion_id: String,
    pub(crate) response_signed: bool,
    pub(crate) assertion_signed: bool,
}

pub(crate) fn inspect(doc: &Document<'_>, allow_sha1: bool) -> Result<Shape, IdpError> {
    let root = doc.root_element();
    if !xml::is(&root, NS_PROTOCOL, "Response") {
        return Err(invalid("format: the document is not a SAML 2.0 Response"));
    }
    if root.descendants().any(|n| {
        n.is_element()
            && matches!(
                n.tag_name().name(),
                "EncryptedAssertion" | "EncryptedID" | "EncryptedAttribute"
            )
    }) {
        return Err(IdpError::Unsupported(
            "encrypted assertions are not supported: turn assertion encryption off at the IdP".into(),
        ));
    }
    let assertions: Vec<Node<'_, '_>> = root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "Assertion")
        .collect();
    let assertion = match assertions.as_slice() {
        [one] => *one,
        [] => return Err(invalid("format: the response holds no Assertion")),
        many => {
            return Err(invalid(format!(
                "wrapping: {} Assertion elements (exactly one is accepted)",
                many.len()
            )))
        }
    };
    if !xml::is(&assertion, NS_ASSERTION, "Assertion") || assertion.parent_element() != Some(root) {
        return Err(invalid("wrapping: the Assertion is not a direct child of the Response"));
    }
    let mut ids = HashSet::new();
    for n in root.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            if a.namespace() == Some(XML_NS) && a.name() == "id" {
                return Err(invalid("wrapping: xml:id attributes are not accepted"));
            }
            if a.namespace().is_none() && a.name() == "ID" && !ids.insert(a.value()) {
                return Err(invalid(format!("wrapping: duplicate ID {}", a.value())));
            }
        }
    }
    let response_id = root
        .attribute("ID")
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| invalid("format: Response ID missing or longer than 256"))?;
    let assertion_id = assertion
        .attribute("ID")
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| invalid("format: Assertion ID missing or longer than 256"))?;
    let (mut response_signed, mut assertion_signed) = (false, false);
    for sig in root.descendants().filter(|n| xml::is(n, NS_DSIG, "Signature")) {
        let parent = sig.parent_element();
        let (slot, id) = if parent == Some(root) {
            (&mut response_signed, response_id)
        } else if parent == Some(assertion) {
            (&mut assertion_signed, assertion_id)
        } else {
            return Err(invalid(
                "wrapping: a Signature outside the Response and Assertion elements",
            ));
        };
        if *slot {
            return Err(invalid("wrapping: several signatures on one element"));
        }
        check_signature(sig, id, allow_sha1)?;
        *slot = true;
    }
    Ok(Shape {
        response_id: response_id.to_owned(),
        assertion_id: assertion_id.to_owned(),
        response_signed,
        assertion_signed,
    })
}

fn algorithm<'a>(n: Option<Node<'a, '_>>, what: &str) -> Result<&'a str, IdpError> {
    n.and_then(|n| n.attribute("Algorithm"))
        .ok_or_else(|| invalid(format!("signature: no {what}")))
}

fn check_signature(sig: Node<'_, '_>, parent_id: &str, allow_sha1: bool) -> Result<(), IdpError> {
    let si = xml::only_child(sig, NS_DSIG, "SignedInfo")
        .map_err(invalid)?
        .ok_or_else(|| invalid("signature: no SignedInfo"))?;
    let c14n = algorithm(
        xml::only_child(si, NS_DSIG, "CanonicalizationMethod").map_err(invalid)?,
        "CanonicalizationMethod",
    )?;
    if !C14N.contains(&c14n) {
        return Err(invalid(format!("signature: canonicalization {c14n} not accepted")));
    }
    let method = algorithm(
        xml::only_child(si, NS_DSIG, "SignatureMethod").map_err(invalid)?,
        "SignatureMethod",
    )?;
    if !(STRONG_SIGNATURE_ALGORITHMS.contains(&method) || (allow_sha1 && method == SIG_RSA_SHA1)) {
        return Err(invalid(format!(
            "signature: algorithm {method} not accepted (SHA-1 needs allowSha1)"
        )));
    }
    let refs: Vec<Node<'_, '_>> = xml::children(si, NS_DSIG, "Reference").collect();
    let [reference] = refs.as_slice() else {
        return Err(invalid("wrapping: a signature must have exactly one Reference"));
    };
    if reference.attribute("URI") != Some(format!("#{parent_id}").as_str()) {
        return Err(invalid(
            "wrapping: the signature does not reference the element that contains it",
        ));
    }
    if let Some(transforms) = xml::only_child(*reference, NS_DSIG, "Transforms").map_err(invalid)? {
        for t in xml::children(transforms, NS_DSIG, "Transform") {
            let alg = algorithm(Some(t), "Transform algorithm")?;
            if alg != ENVELOPED && !C14N.contains(&alg) {
                return Err(invalid(format!("signature: transform {alg} not accepted")));
            }
            if t.children()
                .any(|c| c.is_element() && c.tag_name().name() != "InclusiveNamespaces")
            {
                return Err(invalid("signature: transform parameters not accepted"));
            }
        }
    }
    let digest = algorithm(
        xml::only_child(*reference, NS_DSIG, "DigestMethod").map_err(invalid)?,
        "DigestMethod",
    )?;
    if !(STRONG_DIGESTS.contains(&digest) || (allow_sha1 && digest == DIGEST_SHA1)) {
        return Err(invalid(format!(
            "signature: digest {digest} not accepted (SHA-1 needs allowSha1)"
        )));
    }
    Ok(())
}
