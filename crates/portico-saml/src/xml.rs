//! Safe XML intake shared by responses and metadata: size caps, UTF-8 only, no DTD, no entity
//! declarations, no comments or processing instructions (comment truncation of a NameID is the
//! classic parser-differential attack), and a bounded node count.

use portico_core::idp::IdpError;
use roxmltree::{Document, Node, ParsingOptions};

/// SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 metadata namespace.
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML digital signature namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML encryption namespace.
pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";

/// The largest base64 `SAMLResponse` accepted (characters, whitespace included).
pub const MAX_ENCODED_RESPONSE: usize = 512 * 1024;
/// The largest decoded response or metadata document accepted (bytes).
pub const MAX_XML_BYTES: usize = 384 * 1024;
/// The most nodes a parsed document may hold.
pub const MAX_NODES: u32 = 50_000;
/// The deepest element nesting accepted (SAML messages and metadata nest about ten deep; the
/// parser and the signature check recurse per level).
pub const MAX_DEPTH: usize = 64;

fn invalid(reason: impl Into<String>) -> IdpError {
    IdpError::InvalidAssertion(reason.into())
}

/// Decodes a POST-binding `SAMLResponse` (base64, line breaks tolerated) into checked XML text.
pub fn decode_response(encoded: &str) -> Result<String, IdpError> {
    if encoded.len() > MAX_ENCODED_RESPONSE {
        return Err(invalid(format!(
            "size: SAMLResponse of {} bytes exceeds {MAX_ENCODED_RESPONSE}",
            encoded.len()
        )));
    }
    let compact: Vec<u8> = encoded.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(invalid("format: empty SAMLResponse"));
    }
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| invalid(format!("format: SAMLResponse is not base64: {e}")))?;
    if bytes.len() > MAX_XML_BYTES {
        return Err(invalid(format!(
            "size: decoded response of {} bytes exceeds {MAX_XML_BYTES}",
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| invalid("format: response is not UTF-8"))?;
    check_text(&text).map_err(invalid)?;
    Ok(text)
}

/// Refuses what no SAML message or metadata needs and parsers disagree on: NUL bytes, DTDs and
/// entity declarations (billion laughs, XXE), and any encoding other than UTF-8.
pub fn check_text(xml: &str) -> Result<(), String> {
    if xml.len() > MAX_XML_BYTES {
        return Err(format!("size: document of {} bytes exceeds {MAX_XML_BYTES}", xml.len()));
    }
    if xml.contains('\0') {
        return Err("format: NUL byte in document".into());
    }
    let lower = xml.to_ascii_lowercase();
    if lower.contains("<!doctype")
        || lower.contains("<!entity")
        || lower.contains("<!element")
        || lower.contains("<!attlist")
    {
        return Err("dtd: DOCTYPE or entity declarations are not accepted".into());
    }
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    if let Some(rest) = body.strip_prefix("<?xml") {
        let decl = rest.split("?>").next().unwrap_or_default().to_ascii_lowercase();
        if let Some(pos) = decl.find("encoding") {
            let value = decl[pos + "encoding".len()..]
                .trim_start()
                .trim_start_matches('=')
                .trim_start();
            let value = value.trim_start_matches(['"', '\'']);
            if !value.starts_with("utf-8") && !value.starts_with("utf8") {
                return Err("format: only UTF-8 documents are accepted".into());
            }
        }
    }
    Ok(())
}

/// Whether elements in `xml` nest deeper than `max`, found by a scan of the text before any
/// parser sees it (the parser recurses per level: a deep document would overflow the stack).
/// Quoted attribute values, comments and CDATA sections are skipped; anything odd can only count
/// too deep, which refuses the document.
fn nesting_exceeds(xml: &str, max: usize) -> bool {
    let b = xml.as_bytes();
    let skip_to = |from: usize, end: &[u8]| {
        b.get(from..)
            .and_then(|rest| rest.windows(end.len()).position(|w| w == end))
            .map_or(b.len(), |p| from + p + end.len())
    };
    let (mut i, mut depth) = (0, 0usize);
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i += 2;
        } else if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, b"]]>");
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i += 2;
        } else {
            let (mut j, mut quote) = (i + 1, 0u8);
            while j < b.len() {
                let c = b[j];
                if quote != 0 {
                    if c == quote {
                        quote = 0;
                    }
                } else if c == b'"' || c == b'\'' {
                    quote = c;
                } else if c == b'>' {
                    break;
                }
                j += 1;
            }
            if b.get(j.wrapping_sub(1)) != Some(&b'/') {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            i = j + 1;
        }
    }
    false
}

/// Parses checked text: bounded nesting (checked first), DTDs refused by the parser too, bounded
/// node count, and no comments or processing instructions anywhere.
pub fn parse(xml: &str) -> Result<Document<'_>, String> {
    if nesting_exceeds(xml, MAX_DEPTH) {
        return Err(format!("format: elements nested deeper than {MAX_DEPTH}"));
    }
    let doc = Document::parse_with_options(
        xml,
        ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
        },
    )
    .map_err(|e| format!("format: malformed XML: {e}"))?;
    if doc.root().descendants().any(|n| n.is_comment()) {
        return Err("format: XML comments are not accepted (comment truncation)".into());
    }
    if doc.root().descendants().any(|n| n.is_pi()) {
        return Err("format: processing instructions are not accepted".into());
    }
    Ok(doc)
}

/// True when `n` is the element `{ns}name`.
pub fn is(n: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

/// The element children `{ns}name` of `n`.
pub fn children<'a, 'i>(n: Node<'a, 'i>, ns: &'static str, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| is(c, ns, name))
}

/// The only element child `{ns}name` of `n`; an error when there are several.
pub fn only_child<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> Result<Option<Node<'a, 'i>>, String> {
    let mut it = children(n, ns, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(format!("format: several {name} elements"));
    }
    Ok(first)
}

/// The text content of a simple element: its text children joined, trimmed. Element content is
/// refused (a text value never contains markup).
pub fn text(n: Node<'_, '_>) -> Result<String, String> {
    let mut out = String::new();
    for c in n.children() {
        if c.is_element() {
            return Err(format!("format: unexpected element inside {}", n.tag_name().name()));
        }
        if let Some(t) = c.text() {
            out.push_str(t);
        }
    }
    Ok(out.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_before_parsing() {
        assert!(!nesting_exceeds("<a><b x='>' y=\"/>\"/><c/><d></d></a>", 2));
        assert!(nesting_exceeds("<a><b><c></c></b></a>", 2));
        assert!(!nesting_exceeds("<a><![CDATA[<x><y><z>]]><!-- <p><q> --></a>", 1));
        let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
        assert!(parse(&deep).unwrap_err().contains("nested deeper than 64"));
        let ok = format!("{}{}", "<x>".repeat(64), "</x>".repeat(64));
        assert!(parse(&ok).is_ok());
    }
}
