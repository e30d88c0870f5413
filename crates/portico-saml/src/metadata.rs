//! IdP metadata (entity ID, SSO endpoints, signing certificates) and the SP metadata Portico
//! publishes.

use base64::Engine as _;
use portico_core::idp::IdpError;
use roxmltree::Node;

use crate::config::{parse_certificate, parse_certificates, IdpCertificate, IdpSource};
use crate::xml::{self, NS_DSIG, NS_METADATA, NS_PROTOCOL};

/// HTTP-Redirect binding URI.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// HTTP-POST binding URI.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What Portico needs to know about an IdP.
#[derive(Clone, Debug)]
pub struct IdpMetadata {
    /// Entity ID (the Issuer of its responses).
    pub entity_id: String,
    /// HTTP-Redirect SSO endpoint.
    pub sso_redirect_url: Option<String>,
    /// HTTP-POST SSO endpoint (reported, not used).
    pub sso_post_url: Option<String>,
    /// Signing certificates (at least one).
    pub signing_certs: Vec<IdpCertificate>,
    /// `WantAuthnRequestsSigned`.
    pub want_authn_requests_signed: bool,
}

fn md(reason: impl Into<String>) -> IdpError {
    IdpError::Metadata(reason.into())
}

/// Parses IdP metadata: an `EntityDescriptor`, or an `EntitiesDescriptor` from which the IdP is
/// chosen by `entity_id` (required when it lists several IdPs).
pub fn parse_idp_metadata(text: &str, entity_id: Option<&str>) -> Result<IdpMetadata, IdpError> {
    xml::check_text(text).map_err(md)?;
    let doc = xml::parse(text).map_err(md)?;
    let root = doc.root_element();
    let candidates: Vec<Node<'_, '_>> = if xml::is(&root, NS_METADATA, "EntityDescriptor") {
        vec![root]
    } else if xml::is(&root, NS_METADATA, "EntitiesDescriptor") {
        root.descendants()
            .filter(|n| xml::is(n, NS_METADATA, "EntityDescriptor"))
            .collect()
    } else {
        return Err(md("the document is not SAML metadata (no EntityDescriptor)"));
    };
    let idps: Vec<(Node<'_, '_>, Node<'_, '_>)> = candidates
        .into_iter()
        .filter_map(|e| {
            xml::children(e, NS_METADATA, "IDPSSODescriptor")
                .find(|d| {
                    d.attribute("protocolSupportEnumeration")
                        .is_some_and(|p| p.split_whitespace().any(|x| x == NS_PROTOCOL))
                })
                .map(|d| (e, d))
        })
        .filter(|(e, _)| entity_id.is_none_or(|want| e.attribute("entityID") == Some(want)))
        .collect();
    let (entity, idp) = match idps.as_slice() {
        [one] => *one,
        [] => {
            return Err(md(match entity_id {
                Some(id) => format!("no SAML 2.0 IdP with entityID {id} in the metadata"),
                None => "no SAML 2.0 IDPSSODescriptor in the metadata".into(),
            }))
        }
        _ => return Err(md("the metadata describes several IdPs: set idpEntityId to choose one")),
    };
    let entity_id = entity
        .attribute("entityID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| md("EntityDescriptor without entityID"))?;
    let endpoint = |binding: &str| {
        xml::children(idp, NS_METADATA, "SingleSignOnService")
            .find(|s| s.attribute("Binding") == Some(binding))
            .and_then(|s| s.attribute("Location"))
            .map(str::to_owned)
    };
    let mut certs_text = Vec::new();
    for use_filter in [Some("signing"), None] {
        for kd in xml::children(idp, NS_METADATA, "KeyDescriptor") {
            let key_use = kd.attribute("use").filter(|u| !u.is_empty());
            if key_use != use_filter {
                continue;
            }
            for c in kd.descendants().filter(|n| xml::is(n, NS_DSIG, "X509Certificate")) {
                certs_text.push(xml::text(c).map_err(md)?);
            }
        }
        if !certs_text.is_empty() {
            break;
        }
    }
    let signing_certs = parse_certificates(&certs_text).map_err(|e| md(format!("{e} in the IdP metadata")))?;
    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        sso_redirect_url: endpoint(BINDING_REDIRECT),
        sso_post_url: endpoint(BINDING_POST),
        signing_certs,
        want_authn_requests_signed: idp
            .attribute("WantAuthnRequestsSigned")
            .is_some_and(|v| v == "true" || v == "1"),
    })
}

/// The IdP of an explicit configuration.
pub fn explicit_idp(entity_id: &str, sso_url: &str, certificates: &[String]) -> Result<IdpMetadata, IdpError> {
    if entity_id.trim().is_empty() {
        return Err(IdpError::Config("idpEntityId is empty".into()));
    }
    if url::Url::parse(sso_url).is_err() {
        return Err(IdpError::Config("idpSsoUrl is not a URL".into()));
    }
    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        sso_redirect_url: Some(sso_url.to_owned()),
        sso_post_url: None,
        signing_certs: parse_certificates(certificates)?,
        want_authn_requests_signed: false,
    })
}

/// Checks a configuration that can be checked without the network (creation time): explicit
/// settings and pasted metadata must yield at least one usable signing certificate.
pub fn check_offline(source: &IdpSource) -> Result<(), IdpError> {
    match source {
        IdpSource::Explicit {
            entity_id,
            sso_url,
            certificates,
        } => explicit_idp(entity_id, sso_url, certificates).map(|_| ()),
        IdpSource::MetadataXml { xml, entity_id } => parse_idp_metadata(xml, entity_id.as_deref()).map(|_| ()),
        IdpSource::MetadataUrl { url, .. } => url::Url::parse(url)
            .map(|_| ())
            .map_err(|_| IdpError::Config("metadataUrl is not a URL".into())),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The SP metadata XML: entity ID, the ACS (plus the IdP-initiated ACS when enabled), the SP
/// certificate for signing and for encryption (with the accepted encryption algorithms).
pub fn sp_metadata_xml(
    sp_entity_id: &str,
    acs_url: &str,
    idp_initiated_acs_url: Option<&str>,
    sp_cert_pem: Option<&str>,
) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<md:EntityDescriptor xmlns:md=\"{NS_METADATA}\" entityID=\"{}\">\n",
        escape(sp_entity_id)
    ));
    let signed = sp_cert_pem.is_some();
    out.push_str(&format!(
        "  <md:SPSSODescriptor AuthnRequestsSigned=\"{signed}\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"{NS_PROTOCOL}\">\n"
    ));
    if let Some(der) = sp_cert_pem
        .and_then(|p| openssl::x509::X509::from_pem(p.as_bytes()).ok())
        .and_then(|x| x.to_der().ok())
    {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let key_info = format!(
            "<ds:KeyInfo xmlns:ds=\"{NS_DSIG}\"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        );
        out.push_str(&format!(
            "    <md:KeyDescriptor use=\"signing\">\n      {key_info}\n    </md:KeyDescriptor>\n"
        ));
        out.push_str(&format!(
            "    <md:KeyDescriptor use=\"encryption\">\n      {key_info}\n"
        ));
        for alg in [
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        ] {
            out.push_str(&format!("      <md:EncryptionMethod Algorithm=\"{alg}\"/>\n"));
        }
        out.push_str("    </md:KeyDescriptor>\n");
    }
    out.push_str("    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\n");
    out.push_str("    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\n");
    out.push_str(&format!(
        "    <md:AssertionConsumerService Binding=\"{BINDING_POST}\" Location=\"{}\" index=\"0\" isDefault=\"true\"/>\n",
        escape(acs_url)
    ));
    if let Some(acs) = idp_initiated_acs_url {
        out.push_str(&format!(
            "    <md:AssertionConsumerService Binding=\"{BINDING_POST}\" Location=\"{}\" index=\"1\"/>\n",
            escape(acs)
        ));
    }
    out.push_str("  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
    out
}

/// Days until the nearest certificate expiry (negative when one has expired).
pub fn days_to_nearest_expiry(certs: &[IdpCertificate], now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    certs.iter().map(|c| (c.not_after - now).num_days()).min()
}

/// Parses a single certificate for reports (re-exported helper).
pub fn certificate_info(text: &str) -> Result<IdpCertificate, String> {
    parse_certificate(text)
}
