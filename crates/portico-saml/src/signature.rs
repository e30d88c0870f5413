//! Step 2 of response validation, before any cryptography: the document's shape. A protocol
//! `Response` root with exactly one `Assertion` as its direct child (no second assertion
//! anywhere: signature wrapping), unique IDs and no `xml:id`, and every `Signature` enveloped in
//! the Response or the Assertion, referencing exactly that element, with pinned algorithms
//! ([`crate::dsig::parse`]).

use std::collections::HashSet;

use portico_core::idp::IdpError;
use roxmltree::{Document, Node};

use crate::dsig::{self, Parsed};
use crate::xml::{self, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// A signature found in its place, with its accepted algorithms.
pub(crate) struct PlacedSignature<'a, 'i> {
    /// The `Signature` element.
    pub(crate) node: Node<'a, 'i>,
    /// Its algorithms and values.
    pub(crate) parsed: Parsed,
}

/// The document's shape: its one Assertion and the signatures of the Response and the Assertion.
pub(crate) struct Shape<'a, 'i> {
    /// The `Assertion`, or the `EncryptedAssertion` in its place.
    pub(crate) assertion: Node<'a, 'i>,
    /// Whether `assertion` is an `EncryptedAssertion`.
    pub(crate) encrypted: bool,
    pub(crate) response_signature: Option<PlacedSignature<'a, 'i>>,
    pub(crate) assertion_signature: Option<PlacedSignature<'a, 'i>>,
}

pub(crate) fn inspect<'a, 'i>(doc: &'a Document<'i>, allow_sha1: bool) -> Result<Shape<'a, 'i>, IdpError> {
    let root = doc.root_element();
    if !xml::is(&root, NS_PROTOCOL, "Response") {
        return Err(invalid("format: the document is not a SAML 2.0 Response"));
    }
    if root
        .descendants()
        .any(|n| n.is_element() && matches!(n.tag_name().name(), "EncryptedID" | "EncryptedAttribute"))
    {
        return Err(IdpError::Unsupported(
            "encrypted NameIDs and attributes are not supported: encrypt the whole assertion instead".into(),
        ));
    }
    // Exactly one assertion, plain or encrypted, anywhere: a second one is signature wrapping.
    let assertions: Vec<Node<'_, '_>> = root
        .descendants()
        .filter(|n| n.is_element() && matches!(n.tag_name().name(), "Assertion" | "EncryptedAssertion"))
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
    let encrypted = xml::is(&assertion, NS_ASSERTION, "EncryptedAssertion");
    if !(encrypted || xml::is(&assertion, NS_ASSERTION, "Assertion")) || assertion.parent_element() != Some(root) {
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
    // An encrypted assertion has no ID (and may not carry a signature of its own).
    let assertion_id = if encrypted {
        ""
    } else {
        assertion
            .attribute("ID")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| invalid("format: Assertion ID missing or longer than 256"))?
    };
    let (mut response_signature, mut assertion_signature) = (None, None);
    for sig in root.descendants().filter(|n| xml::is(n, NS_DSIG, "Signature")) {
        let parent = sig.parent_element();
        let (slot, id) = if parent == Some(root) {
            (&mut response_signature, response_id)
        } else if parent == Some(assertion) && !encrypted {
            (&mut assertion_signature, assertion_id)
        } else {
            return Err(invalid(
                "wrapping: a Signature outside the Response and Assertion elements",
            ));
        };
        if slot.is_some() {
            return Err(invalid("wrapping: several signatures on one element"));
        }
        *slot = Some(PlacedSignature {
            node: sig,
            parsed: dsig::parse(sig, id, allow_sha1)?,
        });
    }
    Ok(Shape {
        assertion,
        encrypted,
        response_signature,
        assertion_signature,
    })
}
