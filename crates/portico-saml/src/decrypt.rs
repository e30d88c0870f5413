//! Encrypted assertions (XML Encryption 1.0/1.1): the content key is unwrapped with the SP's
//! private key (RSA-OAEP only: RSA PKCS#1 v1.5 key transport is refused, Bleichenbacher), the
//! assertion decrypted with AES-GCM or AES-CBC, and the plaintext checked to be exactly one SAML
//! `Assertion` element before it takes the encrypted element's place.
//!
//! Decryption proves nothing about the sender (anyone can encrypt to the SP's public key): the
//! decrypted assertion goes through the same signature and semantic checks as a plain one. Every
//! failure here has one message, so the response never says which step failed.

use openssl::encrypt::Decrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{decrypt_aead, Cipher, Crypter, Mode};
use portico_core::idp::IdpError;
use roxmltree::Node;

use crate::xml::{self, NS_ASSERTION, NS_DSIG, NS_XENC};

const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";

/// The one refusal a decryption failure produces (no oracle on which step failed).
fn undecryptable() -> IdpError {
    IdpError::InvalidAssertion("encryption: the assertion cannot be decrypted with this connection's SP key".into())
}

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

/// A content-encryption algorithm.
#[derive(Clone, Copy)]
enum Content {
    Gcm(Cipher),
    Cbc(Cipher),
}

fn content_algorithm(uri: &str) -> Result<Content, IdpError> {
    Ok(match uri {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Content::Gcm(Cipher::aes_128_gcm()),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => Content::Gcm(Cipher::aes_192_gcm()),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Content::Gcm(Cipher::aes_256_gcm()),
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Content::Cbc(Cipher::aes_128_cbc()),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => Content::Cbc(Cipher::aes_192_cbc()),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Content::Cbc(Cipher::aes_256_cbc()),
        other => {
            return Err(invalid(format!(
                "encryption: content algorithm {other} not accepted (AES-GCM or AES-CBC)"
            )))
        }
    })
}

fn digest(uri: &str) -> Result<MessageDigest, IdpError> {
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        other => return Err(invalid(format!("encryption: OAEP digest {other} not accepted"))),
    })
}

fn mgf(uri: &str) -> Result<MessageDigest, IdpError> {
    Ok(match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => MessageDigest::sha512(),
        other => return Err(invalid(format!("encryption: OAEP mask function {other} not accepted"))),
    })
}

fn required<'a, 'i>(n: Node<'a, 'i>, ns: &'static str, name: &'static str) -> Result<Node<'a, 'i>, IdpError> {
    xml::only_child(n, ns, name)
        .map_err(invalid)?
        .ok_or_else(|| invalid(format!("encryption: no {name}")))
}

fn algorithm<'a>(n: Node<'a, '_>) -> Result<&'a str, IdpError> {
    n.attribute("Algorithm")
        .ok_or_else(|| invalid("encryption: EncryptionMethod without Algorithm"))
}

/// The base64 `CipherData/CipherValue` of `n` (a `CipherReference` is never followed).
fn cipher_value(n: Node<'_, '_>) -> Result<Vec<u8>, IdpError> {
    use base64::Engine as _;
    let data = required(n, NS_XENC, "CipherData")?;
    let value = required(data, NS_XENC, "CipherValue")?;
    let text = xml::text(value).map_err(invalid)?;
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| invalid("encryption: CipherValue is not base64"))
}

/// Unwraps the content key of one `EncryptedKey` with the SP key.
fn unwrap_key(ek: Node<'_, '_>, sp_key: &PKey<Private>) -> Result<Vec<u8>, IdpError> {
    let method = required(ek, NS_XENC, "EncryptionMethod")?;
    let (mut oaep_md, mut mgf_md) = (MessageDigest::sha1(), MessageDigest::sha1());
    match algorithm(method)? {
        RSA_OAEP_MGF1P => {}
        RSA_OAEP => {
            if let Some(m) = xml::only_child(method, NS_XENC11, "MGF").map_err(invalid)? {
                mgf_md = mgf(algorithm(m)?)?;
            }
        }
        other => {
            return Err(invalid(format!(
                "encryption: key transport {other} not accepted (RSA-OAEP only)"
            )))
        }
    }
    if let Some(d) = xml::only_child(method, NS_DSIG, "DigestMethod").map_err(invalid)? {
        oaep_md = digest(algorithm(d)?)?;
    }
    if xml::only_child(method, NS_XENC, "OAEPparams")
        .map_err(invalid)?
        .is_some()
    {
        return Err(invalid("encryption: OAEPparams are not accepted"));
    }
    let wrapped = cipher_value(ek)?;
    let decrypt = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut d = Decrypter::new(sp_key)?;
        d.set_rsa_padding(Padding::PKCS1_OAEP)?;
        d.set_rsa_oaep_md(oaep_md)?;
        d.set_rsa_mgf1_md(mgf_md)?;
        let mut out = vec![0; d.decrypt_len(&wrapped)?];
        let n = d.decrypt(&wrapped, &mut out)?;
        out.truncate(n);
        Ok(out)
    };
    decrypt().map_err(|_| undecryptable())
}

fn decrypt_content(alg: Content, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    match alg {
        Content::Gcm(c) => {
            if key.len() != c.key_len() || data.len() < 12 + 16 {
                return None;
            }
            let (iv, rest) = data.split_at(12);
            let (ct, tag) = rest.split_at(rest.len() - 16);
            decrypt_aead(c, key, Some(iv), &[], ct, tag).ok()
        }
        Content::Cbc(c) => {
            let block = 16;
            if key.len() != c.key_len() || data.len() < 2 * block || !data.len().is_multiple_of(block) {
                return None;
            }
            let (iv, ct) = data.split_at(block);
            let mut crypter = Crypter::new(c, Mode::Decrypt, key, Some(iv)).ok()?;
            crypter.pad(false);
            let mut out = vec![0; ct.len() + block];
            let mut n = crypter.update(ct, &mut out).ok()?;
            n += crypter.finalize(&mut out[n..]).ok()?;
            out.truncate(n);
            // XML Encryption padding: the last byte says how many bytes to drop (1..=16).
            let pad = usize::from(*out.last()?);
            if pad == 0 || pad > block || pad > out.len() {
                return None;
            }
            out.truncate(out.len() - pad);
            Some(out)
        }
    }
}

/// Decrypts `encrypted` (a SAML `EncryptedAssertion`) with `sp_key` and returns the assertion's
/// XML text, checked to be exactly one `Assertion` element once placed where `encrypted` was (the
/// namespaces in scope there are declared around it for the check).
pub(crate) fn assertion(encrypted: Node<'_, '_>, sp_key: &PKey<Private>) -> Result<String, IdpError> {
    let data = required(encrypted, NS_XENC, "EncryptedData")?;
    if encrypted
        .children()
        .any(|c| c.is_element() && !(xml::is(&c, NS_XENC, "EncryptedData") || xml::is(&c, NS_XENC, "EncryptedKey")))
    {
        return Err(invalid("encryption: unexpected element in EncryptedAssertion"));
    }
    let alg = content_algorithm(algorithm(required(data, NS_XENC, "EncryptionMethod")?)?)?;
    let ciphertext = cipher_value(data)?;
    // The key: inside the data's KeyInfo, or beside the data (several recipients are possible).
    let mut keys: Vec<Node<'_, '_>> = Vec::new();
    if let Some(ki) = xml::only_child(data, NS_DSIG, "KeyInfo").map_err(invalid)? {
        keys.extend(xml::children(ki, NS_XENC, "EncryptedKey"));
    }
    keys.extend(xml::children(encrypted, NS_XENC, "EncryptedKey"));
    if keys.is_empty() {
        return Err(invalid("encryption: no EncryptedKey"));
    }
    let mut plaintext = None;
    for ek in keys.iter().take(4) {
        match unwrap_key(*ek, sp_key) {
            Ok(key) => {
                if let Some(p) = decrypt_content(alg, &key, &ciphertext) {
                    plaintext = Some(p);
                    break;
                }
            }
            // A lone key says why (e.g. an unsupported key transport); several stay generic.
            Err(e) if keys.len() == 1 => return Err(e),
            Err(_) => {}
        }
    }
    let plaintext = plaintext.ok_or_else(undecryptable)?;
    let text = String::from_utf8(plaintext).map_err(|_| undecryptable())?;
    check_single_assertion(encrypted, &text)
}

/// The plaintext must be one `Assertion` element and nothing else (whitespace aside), parsed
/// with the namespaces in scope at `at` declared around it. Returns it without any XML
/// declaration, ready to take the place of `at`.
fn check_single_assertion(at: Node<'_, '_>, text: &str) -> Result<String, IdpError> {
    let body = text.trim_start_matches('\u{feff}');
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, b)| b).ok_or_else(undecryptable)?,
        None => body,
    };
    // Every refusal of the plaintext is the same one: distinct messages after a successful
    // CBC decryption would be the XML Encryption padding/parsing oracle.
    xml::check_text(body).map_err(|_| undecryptable())?;
    let mut wrapper = String::from("<w");
    for ns in at.namespaces() {
        match ns.name() {
            Some("xml") => {}
            Some(p) => wrapper.push_str(&format!(" xmlns:{p}=\"{}\"", attr_escape(ns.uri()))),
            None => wrapper.push_str(&format!(" xmlns=\"{}\"", attr_escape(ns.uri()))),
        }
    }
    wrapper.push('>');
    wrapper.push_str(body);
    wrapper.push_str("</w>");
    let doc = xml::parse(&wrapper).map_err(|_| undecryptable())?;
    let w = doc.root_element();
    let mut elements = w.children().filter(|c| c.is_element());
    let only = matches!((elements.next(), elements.next()), (Some(a), None) if xml::is(&a, NS_ASSERTION, "Assertion"));
    let stray_text = w
        .children()
        .any(|c| c.is_text() && !c.text().unwrap_or_default().trim().is_empty());
    if !only || stray_text {
        return Err(undecryptable());
    }
    Ok(body.to_owned())
}

fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use openssl::encrypt::Encrypter;
    use openssl::rsa::Rsa;
    use openssl::symm::encrypt_aead;

    use super::*;

    const ASSERTION: &str = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a1" Version="2.0"><saml:Issuer>idp</saml:Issuer></saml:Assertion>"#;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// An EncryptedAssertion as an IdP on XML Encryption 1.1 writes it: RSA-OAEP with SHA-256
    /// and MGF1-SHA-256, the key beside the data.
    fn encrypted(sp: &PKey<Private>, content: &str, plaintext: &[u8]) -> String {
        let pub_key = PKey::public_key_from_pem(&sp.public_key_to_pem().unwrap()).unwrap();
        let mut e = Encrypter::new(&pub_key).unwrap();
        e.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
        e.set_rsa_oaep_md(MessageDigest::sha256()).unwrap();
        e.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
        let key = [7u8; 32];
        let mut wrapped = vec![0; e.encrypt_len(&key).unwrap()];
        let n = e.encrypt(&key, &mut wrapped).unwrap();
        wrapped.truncate(n);
        let data = if content.ends_with("gcm") {
            let iv = [1u8; 12];
            let mut tag = [0u8; 16];
            let ct = encrypt_aead(Cipher::aes_256_gcm(), &key, Some(&iv), &[], plaintext, &mut tag).unwrap();
            [&iv[..], &ct, &tag].concat()
        } else {
            // XML Encryption padding: arbitrary bytes, then the count.
            let iv = [2u8; 16];
            let mut padded = plaintext.to_vec();
            let pad = 16 - padded.len() % 16;
            padded.extend(std::iter::repeat_n(0xAB, pad - 1));
            padded.push(u8::try_from(pad).unwrap());
            let mut c = Crypter::new(Cipher::aes_256_cbc(), Mode::Encrypt, &key, Some(&iv)).unwrap();
            c.pad(false);
            let mut out = vec![0; padded.len() + 16];
            let mut n = c.update(&padded, &mut out).unwrap();
            n += c.finalize(&mut out[n..]).unwrap();
            out.truncate(n);
            [&iv[..], &out].concat()
        };
        format!(
            r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{content}"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></saml:EncryptedAssertion>"#,
            b64(&data),
            b64(&wrapped)
        )
    }

    fn decrypt_with(sp: &PKey<Private>, xml: &str) -> Result<String, IdpError> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        assertion(doc.root_element(), sp)
    }

    #[test]
    fn xml_encryption_11_oaep_sha256_with_gcm_and_cbc() {
        let sp = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        for content in [
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        ] {
            assert_eq!(
                decrypt_with(&sp, &encrypted(&sp, content, ASSERTION.as_bytes())).unwrap(),
                ASSERTION
            );
        }
        // Not one Assertion: refused after decryption.
        let two = format!("{ASSERTION}{ASSERTION}");
        let e = decrypt_with(
            &sp,
            &encrypted(&sp, "http://www.w3.org/2009/xmlenc11#aes256-gcm", two.as_bytes()),
        );
        assert!(e.unwrap_err().to_string().contains("cannot be decrypted"));
        let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let e = decrypt_with(
            &other,
            &encrypted(&sp, "http://www.w3.org/2009/xmlenc11#aes256-gcm", ASSERTION.as_bytes()),
        );
        assert!(e.unwrap_err().to_string().contains("cannot be decrypted"));
    }
}
