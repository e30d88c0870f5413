//! SP-initiated login: the AuthnRequest sent by the HTTP-Redirect binding, signed with the SP key
//! (RSA-SHA256) when the connection has one. The XML is written with `quick-xml` (which escapes
//! every value); it is the same document `samael`'s schema type wrote, without building `samael`
//! (whose build script needs bindgen and libclang) into the product.

use std::io::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use portico_core::idp::IdpError;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::metadata::BINDING_POST;

/// RSA-SHA256 signature algorithm URI.
pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// ECDSA-SHA256 signature algorithm URI.
pub const SIG_ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// The longest RelayState sent (SAML bindings §3.4.3: 80 bytes).
pub const MAX_RELAY_STATE: usize = 80;

/// A new AuthnRequest ID: an NCName with 192 bits of randomness.
pub fn new_request_id() -> String {
    format!("_{}", portico_core::token::random_urlsafe(24))
}

/// The AuthnRequest XML: `ID`, `Version`, `IssueInstant` (UTC, milliseconds), `Destination`,
/// `ProtocolBinding` (HTTP-POST) and `AssertionConsumerServiceURL`, with the SP's entity ID as
/// `Issuer`; with `force_authn`, `ForceAuthn="true"` (core §3.4.1: the IdP must authenticate
/// the person afresh rather than reuse its session).
pub fn authn_request_xml(
    id: &str,
    sp_entity_id: &str,
    acs_url: &str,
    sso_url: &str,
    now: DateTime<Utc>,
    force_authn: bool,
) -> Result<String, IdpError> {
    const REQUEST: &str = "saml2p:AuthnRequest";
    const ISSUER: &str = "saml2:Issuer";
    let instant = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut root = BytesStart::new(REQUEST);
    root.push_attribute(("xmlns:saml2p", "urn:oasis:names:tc:SAML:2.0:protocol"));
    root.push_attribute(("ID", id));
    root.push_attribute(("Version", "2.0"));
    root.push_attribute(("IssueInstant", instant.as_str()));
    root.push_attribute(("Destination", sso_url));
    root.push_attribute(("ProtocolBinding", BINDING_POST));
    root.push_attribute(("AssertionConsumerServiceURL", acs_url));
    if force_authn {
        root.push_attribute(("ForceAuthn", "true"));
    }
    let mut issuer = BytesStart::new(ISSUER);
    issuer.push_attribute(("xmlns:saml2", "urn:oasis:names:tc:SAML:2.0:assertion"));
    issuer.push_attribute(("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"));
    let mut w = Writer::new(Vec::new());
    [
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
        Event::Start(root),
        Event::Start(issuer),
        Event::Text(BytesText::new(sp_entity_id)),
        Event::End(BytesEnd::new(ISSUER)),
        Event::End(BytesEnd::new(REQUEST)),
    ]
    .into_iter()
    .try_for_each(|e| w.write_event(e))
    .map_err(|e| IdpError::Config(format!("AuthnRequest cannot be serialised: {e}")))?;
    String::from_utf8(w.into_inner()).map_err(|e| IdpError::Config(format!("AuthnRequest is not UTF-8: {e}")))
}

/// The HTTP-Redirect binding URL: `SAMLRequest` (raw DEFLATE + base64), `RelayState`, and, with a
/// key, `SigAlg` + `Signature` over exactly those parameters (bindings §3.4.4.1).
pub fn redirect_url(
    sso_url: &str,
    request_xml: &str,
    relay_state: &str,
    key: Option<&PKey<Private>>,
) -> Result<String, IdpError> {
    if relay_state.len() > MAX_RELAY_STATE {
        return Err(IdpError::Config("RelayState longer than 80 bytes".into()));
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(request_xml.as_bytes())
        .map_err(|e| IdpError::Config(format!("deflate: {e}")))?;
    let deflated = enc.finish().map_err(|e| IdpError::Config(format!("deflate: {e}")))?;
    let saml_request = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", &saml_request);
    q.append_pair("RelayState", relay_state);
    if let Some(key) = key {
        let alg = if key.ec_key().is_ok() {
            SIG_ECDSA_SHA256
        } else {
            SIG_RSA_SHA256
        };
        q.append_pair("SigAlg", alg);
        let signed_part = q.finish();
        let mut signer =
            Signer::new(MessageDigest::sha256(), key).map_err(|e| IdpError::Config(format!("signer: {e}")))?;
        signer
            .update(signed_part.as_bytes())
            .map_err(|e| IdpError::Config(format!("signer: {e}")))?;
        let sig = signer
            .sign_to_vec()
            .map_err(|e| IdpError::Config(format!("signer: {e}")))?;
        q = url::form_urlencoded::Serializer::for_suffix(signed_part, 0);
        q.append_pair("Signature", &base64::engine::general_purpose::STANDARD.encode(sig));
    }
    let query = q.finish();
    let sep = if sso_url.contains('?') { '&' } else { '?' };
    Ok(format!("{sso_url}{sep}{query}"))
}
