//! Validation of a POST-binding `SAMLResponse`. The order is the defence:
//! 1. intake ([`crate::xml`]): size, base64, UTF-8, no DTD/entities/comments/PIs;
//! 2. shape: a protocol `Response` root with exactly one `Assertion`, its direct child (no second
//!    assertion anywhere: signature wrapping), unique IDs, every `Signature` enveloped in the
//!    Response or the Assertion and referencing exactly that element, with pinned algorithms;
//! 3. cryptography ([`crate::dsig`]): every signature verified with the configured IdP keys only
//!    (the response's own KeyInfo is never used), its digest computed from the very tree that is
//!    read afterwards (no second parser whose view could differ);
//! 4. semantics, read from the signed elements only (the signed Response, which covers the
//!    Assertion, else the signed Assertion): Destination, Recipient, Audience, Issuer, Status,
//!    InResponseTo and every time window.

use chrono::{DateTime, Duration, Utc};
use openssl::pkey::{PKey, Private};
use portico_core::idp::IdpError;
use roxmltree::Node;

use crate::config::{SignaturePolicy, MAX_CLOCK_SKEW_SECS, MAX_ISSUE_AGE_SECS};
use crate::metadata::IdpMetadata;
use crate::signature::inspect;
use crate::xml::{self, NS_ASSERTION, NS_PROTOCOL};
use crate::{decrypt, dsig};

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// What the response is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The ACS the response must be addressed to (Destination and Recipient).
    pub acs: &'a str,
    /// The AuthnRequest ID (SP-initiated); `None` for an unsolicited response, which must then
    /// carry no `InResponseTo` at all.
    pub request_id: Option<&'a str>,
    /// The current time.
    pub now: DateTime<Utc>,
}

/// The connection-side rules.
#[derive(Clone, Copy, Debug)]
pub struct Validator<'a> {
    /// The SP entity ID (exact Audience).
    pub sp_entity_id: &'a str,
    /// The IdP (entity ID and signing certificates).
    pub idp: &'a IdpMetadata,
    /// Accept SHA-1 signatures and digests.
    pub allow_sha1: bool,
    /// Which elements must be signed.
    pub signatures: SignaturePolicy,
    /// The SP's private key, which decrypts encrypted assertions.
    pub sp_key: Option<&'a PKey<Private>>,
}

/// One attribute of the assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlAttribute {
    /// `Name`.
    pub name: String,
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// The values' text.
    pub values: Vec<String>,
}

/// A validated assertion: everything here came from signed content.
#[derive(Clone, Debug)]
pub struct ValidatedAssertion {
    /// Assertion `ID` (for the replay cache).
    pub assertion_id: String,
    /// The IdP entity ID.
    pub issuer: String,
    /// NameID value.
    pub name_id: String,
    /// NameID format.
    pub name_id_format: Option<String>,
    /// Attributes.
    pub attributes: Vec<SamlAttribute>,
    /// AuthnContextClassRef values.
    pub authn_contexts: Vec<String>,
    /// The smallest `SessionNotOnOrAfter`.
    pub session_not_on_or_after: Option<DateTime<Utc>>,
    /// The end of the window in which this assertion is acceptable (skew included): the replay
    /// cache must remember it until then.
    pub acceptable_until: DateTime<Utc>,
    /// Whether the Response element was signed.
    pub response_signed: bool,
    /// Whether the Assertion carried its own signature.
    pub assertion_signed: bool,
}

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

/// Validates a base64 POST-binding `SAMLResponse`.
pub fn validate(v: &Validator<'_>, encoded: &str, exp: &Expected<'_>) -> Result<ValidatedAssertion, IdpError> {
    let text = xml::decode_response(encoded)?;
    validate_xml(v, &text, exp)
}

/// Validates a decoded response document.
pub fn validate_xml(v: &Validator<'_>, text: &str, exp: &Expected<'_>) -> Result<ValidatedAssertion, IdpError> {
    validate_document(v, text, exp, false)
}

/// One pass over a document. An `EncryptedAssertion` is handled in a first pass: the Response
/// signature (which covers the encrypted form) is verified there, the assertion decrypted with
/// the SP key and put in its place, and the result validated by a second pass as a plain
/// response whose Response signature is already verified.
fn validate_document(
    v: &Validator<'_>,
    text: &str,
    exp: &Expected<'_>,
    response_verified: bool,
) -> Result<ValidatedAssertion, IdpError> {
    xml::check_text(text).map_err(invalid)?;
    let doc = xml::parse(text).map_err(invalid)?;
    let shape = inspect(&doc, v.allow_sha1)?;
    if shape.encrypted {
        if response_verified {
            return Err(invalid("encryption: the decrypted assertion is encrypted again"));
        }
        let key = v.sp_key.ok_or_else(|| {
            IdpError::Unsupported("encrypted assertion, but the connection has no SP key to decrypt it".into())
        })?;
        if let Some(s) = &shape.response_signature {
            dsig::verify(&s.parsed, s.node, doc.root_element(), &v.idp.signing_certs)?;
        }
        let plain = decrypt::assertion(shape.assertion, key)?;
        let at = shape.assertion.range();
        let (before, after) = (text.get(..at.start), text.get(at.end..));
        let (Some(before), Some(after)) = (before, after) else {
            return Err(invalid("encryption: EncryptedAssertion position out of range"));
        };
        let substituted = format!("{before}{plain}{after}");
        return validate_document(v, &substituted, exp, shape.response_signature.is_some());
    }
    let (response_signed, assertion_signed) = (shape.response_signature.is_some(), shape.assertion_signature.is_some());
    if !response_signed && !assertion_signed {
        return Err(invalid("signature: the response is not signed"));
    }
    if v.signatures.require_signed_response && !response_signed {
        return Err(invalid("signature: the Response element must be signed"));
    }
    if v.signatures.require_signed_assertion && !assertion_signed {
        return Err(invalid("signature: the Assertion element must be signed"));
    }
    if v.idp.signing_certs.is_empty() {
        return Err(IdpError::Config("no IdP signing certificate configured".into()));
    }
    let root = doc.root_element();
    let assertion = shape.assertion;
    // A Response signature over an encrypted assertion was verified by the first pass.
    let response_signature = shape.response_signature.as_ref().filter(|_| !response_verified);
    for (placed, signed) in [
        (response_signature, root),
        (shape.assertion_signature.as_ref(), assertion),
    ] {
        if let Some(s) = placed {
            dsig::verify(&s.parsed, s.node, signed, &v.idp.signing_certs)?;
        }
    }
    // Everything below is read from the verified tree itself: the signed Response (which covers
    // the Assertion), else the signed Assertion; the envelope is read unsigned only when the
    // policy accepts assertion-only signatures.
    check_response(v, root, exp)?;
    let mut out = check_assertion(v, assertion, exp)?;
    out.response_signed = response_signed;
    out.assertion_signed = assertion_signed;
    Ok(out)
}

fn instant(n: Node<'_, '_>, attr: &str) -> Result<Option<DateTime<Utc>>, IdpError> {
    match n.attribute(attr) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| invalid(format!("format: {attr} {s:?} is not a dateTime"))),
    }
}

fn skew() -> Duration {
    Duration::seconds(MAX_CLOCK_SKEW_SECS)
}

fn check_issue_instant(n: Node<'_, '_>, what: &str, now: DateTime<Utc>) -> Result<(), IdpError> {
    let at = instant(n, "IssueInstant")?.ok_or_else(|| invalid(format!("format: {what} without IssueInstant")))?;
    if at > now + skew() {
        return Err(invalid(format!("time: {what} issued in the future ({at})")));
    }
    if at + Duration::seconds(MAX_ISSUE_AGE_SECS) + skew() < now {
        return Err(invalid(format!("time: {what} issued too long ago ({at})")));
    }
    Ok(())
}

/// Checks NotBefore / NotOnOrAfter of `n` at `now`; returns NotOnOrAfter.
fn check_window(n: Node<'_, '_>, what: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, IdpError> {
    if let Some(nb) = instant(n, "NotBefore")? {
        if now + skew() < nb {
            return Err(invalid(format!("time: {what} not valid before {nb}")));
        }
    }
    let noa = instant(n, "NotOnOrAfter")?;
    if let Some(noa) = noa {
        if now >= noa + skew() {
            return Err(invalid(format!("time: {what} expired at {noa}")));
        }
    }
    Ok(noa)
}

fn check_issuer(n: Node<'_, '_>, what: &str, expected: &str, required: bool) -> Result<(), IdpError> {
    match xml::only_child(n, NS_ASSERTION, "Issuer").map_err(invalid)? {
        None if required => Err(invalid(format!("issuer: {what} without Issuer"))),
        None => Ok(()),
        Some(i) => {
            let got = xml::text(i).map_err(invalid)?;
            if got != expected {
                return Err(invalid(format!(
                    "issuer: {what} Issuer {got:?} is not the IdP {expected:?}"
                )));
            }
            Ok(())
        }
    }
}

fn check_in_response_to(got: Option<&str>, exp: &Expected<'_>, what: &str) -> Result<(), IdpError> {
    match (exp.request_id, got) {
        (Some(want), Some(got)) if got == want => Ok(()),
        (Some(_), Some(got)) => Err(invalid(format!(
            "in_response_to: {what} answers {got:?}, not this login's request"
        ))),
        (Some(_), None) => Err(invalid(format!(
            "in_response_to: {what} has no InResponseTo (unsolicited)"
        ))),
        (None, None) => Ok(()),
        (None, Some(_)) => Err(invalid(format!(
            "in_response_to: unsolicited response but {what} has InResponseTo"
        ))),
    }
}

fn check_response(v: &Validator<'_>, r: Node<'_, '_>, exp: &Expected<'_>) -> Result<(), IdpError> {
    if r.attribute("Version") != Some("2.0") {
        return Err(invalid("format: Response Version is not 2.0"));
    }
    let status = xml::only_child(r, NS_PROTOCOL, "Status")
        .map_err(invalid)?
        .ok_or_else(|| invalid("status: Response without Status"))?;
    let code = xml::only_child(status, NS_PROTOCOL, "StatusCode")
        .map_err(invalid)?
        .ok_or_else(|| invalid("status: no StatusCode"))?;
    let value = code.attribute("Value").unwrap_or_default();
    if value != STATUS_SUCCESS {
        let sub = xml::only_child(code, NS_PROTOCOL, "StatusCode")
            .ok()
            .flatten()
            .and_then(|c| c.attribute("Value"))
            .unwrap_or_default();
        return Err(invalid(
            format!("status: the IdP answered {value} {sub}").trim_end().to_owned(),
        ));
    }
    match r.attribute("Destination") {
        Some(d) if d == exp.acs => {}
        Some(d) => {
            return Err(invalid(format!(
                "destination: Response Destination {d:?} is not the ACS {:?}",
                exp.acs
            )))
        }
        None => return Err(invalid("destination: Response without Destination")),
    }
    check_issuer(r, "Response", &v.idp.entity_id, false)?;
    check_issue_instant(r, "Response", exp.now)?;
    check_in_response_to(r.attribute("InResponseTo"), exp, "the Response")
}

fn check_assertion(v: &Validator<'_>, a: Node<'_, '_>, exp: &Expected<'_>) -> Result<ValidatedAssertion, IdpError> {
    let now = exp.now;
    if a.attribute("Version") != Some("2.0") {
        return Err(invalid("format: Assertion Version is not 2.0"));
    }
    let assertion_id = a.attribute("ID").unwrap_or_default().to_owned();
    check_issuer(a, "Assertion", &v.idp.entity_id, true)?;
    check_issue_instant(a, "Assertion", now)?;

    let subject = xml::only_child(a, NS_ASSERTION, "Subject")
        .map_err(invalid)?
        .ok_or_else(|| invalid("subject: Assertion without Subject"))?;
    let name_id = xml::only_child(subject, NS_ASSERTION, "NameID")
        .map_err(invalid)?
        .ok_or_else(|| invalid("subject: no NameID"))?;
    let name_id_value = xml::text(name_id).map_err(invalid)?;
    let name_id_format = name_id.attribute("Format").map(str::to_owned);
    if name_id_value.is_empty() || name_id_value.len() > 1024 {
        return Err(invalid("subject: NameID empty or longer than 1024 bytes"));
    }
    if name_id_format.as_deref() == Some(NAMEID_TRANSIENT) {
        return Err(invalid(
            "subject: transient NameID cannot identify a user (configure a persistent or emailAddress NameID)",
        ));
    }

    // Bearer confirmation: Recipient = ACS, time window, InResponseTo.
    let mut scd_until = None;
    let mut first_err = None;
    let bearers: Vec<Node<'_, '_>> = xml::children(subject, NS_ASSERTION, "SubjectConfirmation")
        .filter(|c| c.attribute("Method") == Some(CM_BEARER))
        .collect();
    if bearers.is_empty() {
        return Err(invalid("subject: no bearer SubjectConfirmation"));
    }
    for c in bearers {
        let r = (|| {
            let d = xml::only_child(c, NS_ASSERTION, "SubjectConfirmationData")
                .map_err(invalid)?
                .ok_or_else(|| invalid("subject: no SubjectConfirmationData"))?;
            match d.attribute("Recipient") {
                Some(r) if r == exp.acs => {}
                Some(r) => {
                    return Err(invalid(format!(
                        "recipient: Recipient {r:?} is not the ACS {:?}",
                        exp.acs
                    )))
                }
                None => return Err(invalid("recipient: SubjectConfirmationData without Recipient")),
            }
            let noa = check_window(d, "SubjectConfirmationData", now)?
                .ok_or_else(|| invalid("time: SubjectConfirmationData without NotOnOrAfter"))?;
            check_in_response_to(d.attribute("InResponseTo"), exp, "the SubjectConfirmationData")?;
            Ok(noa)
        })();
        match r {
            Ok(noa) => {
                scd_until = Some(noa);
                break;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let Some(scd_until) = scd_until else {
        return Err(first_err.unwrap_or_else(|| invalid("subject: no usable SubjectConfirmation")));
    };

    let conditions = xml::only_child(a, NS_ASSERTION, "Conditions")
        .map_err(invalid)?
        .ok_or_else(|| invalid("audience: Assertion without Conditions"))?;
    let cond_until = check_window(conditions, "Conditions", now)?;
    let restrictions: Vec<Node<'_, '_>> = xml::children(conditions, NS_ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(invalid("audience: no AudienceRestriction"));
    }
    for r in restrictions {
        let mut ok = false;
        let mut seen = Vec::new();
        for aud in xml::children(r, NS_ASSERTION, "Audience") {
            let t = xml::text(aud).map_err(invalid)?;
            ok |= t == v.sp_entity_id;
            seen.push(t);
        }
        if !ok {
            return Err(invalid(format!(
                "audience: {seen:?} does not include this SP {:?}",
                v.sp_entity_id
            )));
        }
    }

    let authn: Vec<Node<'_, '_>> = xml::children(a, NS_ASSERTION, "AuthnStatement").collect();
    if authn.is_empty() {
        return Err(invalid("format: Assertion without AuthnStatement"));
    }
    let mut session_not_on_or_after: Option<DateTime<Utc>> = None;
    let mut authn_contexts = Vec::new();
    for s in authn {
        if let Some(t) = instant(s, "SessionNotOnOrAfter")? {
            session_not_on_or_after = Some(session_not_on_or_after.map_or(t, |c| c.min(t)));
        }
        for ctx in xml::children(s, NS_ASSERTION, "AuthnContext") {
            for r in xml::children(ctx, NS_ASSERTION, "AuthnContextClassRef") {
                authn_contexts.push(xml::text(r).map_err(invalid)?);
            }
        }
    }

    let mut attributes = Vec::new();
    for st in xml::children(a, NS_ASSERTION, "AttributeStatement") {
        for at in xml::children(st, NS_ASSERTION, "Attribute") {
            let name = at.attribute("Name").unwrap_or_default().to_owned();
            let values = xml::children(at, NS_ASSERTION, "AttributeValue")
                .map(|val| {
                    val.descendants()
                        .filter_map(|n| n.text().filter(|_| n.is_text()))
                        .collect::<String>()
                        .trim()
                        .to_owned()
                })
                .filter(|s| !s.is_empty())
                .collect();
            attributes.push(SamlAttribute {
                name,
                friendly_name: at.attribute("FriendlyName").map(str::to_owned),
                values,
            });
        }
    }

    let until = cond_until.map_or(scd_until, |c| c.min(scd_until)) + skew();
    Ok(ValidatedAssertion {
        assertion_id,
        issuer: v.idp.entity_id.clone(),
        name_id: name_id_value,
        name_id_format,
        attributes,
        authn_contexts,
        session_not_on_or_after,
        acceptable_until: until,
        response_signed: false,
        assertion_signed: false,
    })
}
