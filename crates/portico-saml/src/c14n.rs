//! XML canonicalization of one element subtree of a parsed document, for XML signature
//! verification: Exclusive XML Canonicalization 1.0 (with an optional `InclusiveNamespaces`
//! prefix list) and Canonical XML 1.0 / 1.1, both without comments.
//!
//! The output is computed from the same [`roxmltree`] tree the validator reads afterwards, so what
//! the signature covers and what Portico uses cannot differ (no parser differential between a
//! verifier and a reader). Intake ([`crate::xml`]) has already refused DTDs, entities, comments
//! and processing instructions; the parser has normalized line ends and attribute values.
//!
//! Canonical XML 1.0 and 1.1 differ only in how `xml:*` attributes of ancestors are inherited by
//! the apex; the inclusive methods therefore refuse any `xml:*` attribute on the apex's
//! ancestors, and then both produce the same bytes.

use roxmltree::{Node, NodeId};

/// The `xml` namespace.
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// A canonicalization method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Exclusive XML Canonicalization 1.0: only visibly utilized namespaces are rendered, plus
    /// those whose prefixes are listed (`#default` for the default namespace).
    Exclusive {
        /// The `InclusiveNamespaces` `PrefixList`.
        inclusive_prefixes: Vec<String>,
    },
    /// Canonical XML 1.0 / 1.1: every namespace in scope is rendered on the apex.
    Inclusive,
}

/// One namespace declaration in effect in the output.
struct Rendered<'a> {
    prefix: &'a str,
    uri: &'a str,
}

/// Canonicalizes the subtree of `apex`, leaving out the element `exclude` and its subtree (the
/// enveloped signature), into `out`.
pub fn canonicalize(
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
    method: &Method,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if !apex.is_element() {
        return Err("c14n: the apex is not an element".into());
    }
    if *method == Method::Inclusive
        && apex
            .ancestors()
            .skip(1)
            .any(|a| a.attributes().any(|at| at.namespace() == Some(NS_XML)))
    {
        return Err("c14n: xml:* attributes above a signed element are not accepted".into());
    }
    let mut rendered: Vec<Rendered<'_>> = Vec::new();
    element(apex, exclude, method, &mut rendered, out, 0)
}

/// The qualified name of an element and its prefix, read from the source (the tree keeps only
/// the namespace URI).
fn element_qname<'i>(n: Node<'_, 'i>) -> Result<(&'i str, &'i str), String> {
    let src = n.document().input_text();
    let tag = src
        .get(n.range().start + 1..)
        .ok_or_else(|| "c14n: element position out of range".to_owned())?;
    let end = tag
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .ok_or_else(|| "c14n: unterminated start tag".to_owned())?;
    let qname = &tag[..end];
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    if local != n.tag_name().name() {
        return Err("c14n: element name does not match its source".into());
    }
    Ok((qname, prefix))
}

/// The qualified name of an attribute and its prefix, read from the source.
fn attribute_qname<'i>(n: Node<'_, 'i>, a: &roxmltree::Attribute<'_, 'i>) -> Result<(&'i str, &'i str), String> {
    let qname = n
        .document()
        .input_text()
        .get(a.range_qname())
        .ok_or_else(|| "c14n: attribute position out of range".to_owned())?;
    let (prefix, local) = qname.split_once(':').unwrap_or(("", qname));
    if local != a.name() {
        return Err("c14n: attribute name does not match its source".into());
    }
    Ok((qname, prefix))
}

fn in_effect<'a>(rendered: &[Rendered<'a>], prefix: &str) -> Option<&'a str> {
    rendered.iter().rev().find(|r| r.prefix == prefix).map(|r| r.uri)
}

/// The namespace bound to `prefix` at `n` (`""` is the default namespace; unbound default = "").
fn bound<'a>(n: Node<'a, '_>, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        Some(n.lookup_namespace_uri(None).unwrap_or(""))
    } else {
        n.lookup_namespace_uri(Some(prefix))
    }
}

/// The namespace declarations `n` must render, sorted (default first, then by prefix).
fn namespace_axis<'a>(
    n: Node<'a, '_>,
    prefix: &'a str,
    attr_prefixes: &[&'a str],
    method: &'a Method,
    rendered: &[Rendered<'a>],
) -> Result<Vec<Rendered<'a>>, String> {
    let mut wanted: Vec<&str> = Vec::new();
    match method {
        Method::Exclusive { inclusive_prefixes } => {
            wanted.push(prefix);
            wanted.extend(attr_prefixes.iter().copied().filter(|p| !p.is_empty()));
            for p in inclusive_prefixes {
                let p = if p == "#default" { "" } else { p.as_str() };
                // A listed prefix that is not in scope has no namespace node to render.
                if p.is_empty() || n.lookup_namespace_uri(Some(p)).is_some() {
                    wanted.push(p);
                }
            }
        }
        Method::Inclusive => {
            wanted.push("");
            wanted.extend(n.namespaces().filter_map(|ns| ns.name()));
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = Vec::new();
    for p in wanted {
        if p == "xml" {
            continue;
        }
        let uri = bound(n, p).ok_or_else(|| format!("c14n: prefix {p:?} is not bound"))?;
        let current = in_effect(rendered, p);
        let render = if p.is_empty() {
            // The default namespace: declare it when it changes; undeclare (xmlns="") only when
            // an output ancestor declared a non-empty one.
            current.unwrap_or("") != uri
        } else {
            current != Some(uri)
        };
        if render {
            out.push(Rendered { prefix: p, uri });
        }
    }
    Ok(out)
}

fn element<'a>(
    n: Node<'a, '_>,
    exclude: Option<NodeId>,
    method: &'a Method,
    rendered: &mut Vec<Rendered<'a>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), String> {
    if depth > crate::xml::MAX_DEPTH {
        return Err("c14n: elements nested too deep".into());
    }
    let (qname, prefix) = element_qname(n)?;
    let mut attrs = Vec::new();
    for a in n.attributes() {
        let (qname, p) = attribute_qname(n, &a)?;
        attrs.push((a.namespace().unwrap_or(""), a.name(), qname, p, a.value()));
    }
    let attr_prefixes: Vec<&str> = attrs.iter().map(|a| a.3).collect();
    let axis = namespace_axis(n, prefix, &attr_prefixes, method, rendered)?;
    // Attributes sort by (namespace URI, local name); unqualified ones (URI "") come first.
    attrs.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));

    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for ns in &axis {
        if ns.prefix.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(ns.prefix.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attribute(ns.uri, out);
        out.push(b'"');
    }
    for (_, _, qname, _, value) in &attrs {
        out.push(b' ');
        out.extend_from_slice(qname.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attribute(value, out);
        out.push(b'"');
    }
    out.push(b'>');

    let depth = rendered.len();
    rendered.extend(axis);
    for c in n.children() {
        if Some(c.id()) == exclude {
            continue;
        }
        if c.is_element() {
            element(c, exclude, method, rendered, out, depth + 1)?;
        } else if c.is_text() {
            escape_text(c.text().unwrap_or_default(), out);
        } else {
            return Err("c14n: comments and processing instructions are not accepted".into());
        }
    }
    rendered.truncate(depth);

    out.extend_from_slice(b"</");
    out.extend_from_slice(qname.as_bytes());
    out.push(b'>');
    Ok(())
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn escape_attribute(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, select: &str, exclude: Option<&str>, method: &Method) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let apex = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == select)
            .unwrap();
        let ex = exclude.map(|e| {
            doc.descendants()
                .find(|n| n.is_element() && n.tag_name().name() == e)
                .unwrap()
                .id()
        });
        let mut out = Vec::new();
        canonicalize(apex, ex, method, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn exc() -> Method {
        Method::Exclusive {
            inclusive_prefixes: vec![],
        }
    }

    #[test]
    fn exclusive_renders_only_utilized_namespaces_at_first_use() {
        let xml = r#"<r:Root xmlns:r="urn:r" xmlns:a="urn:a" xmlns:unused="urn:u"><a:A b="2" a:x="1"><a:B>t</a:B><C/></a:A></r:Root>"#;
        assert_eq!(
            c14n(xml, "A", None, &exc()),
            r#"<a:A xmlns:a="urn:a" b="2" a:x="1"><a:B>t</a:B><C></C></a:A>"#
        );
    }

    #[test]
    fn exclusive_prefix_list_and_default_namespace() {
        let xml = r#"<Root xmlns="urn:d" xmlns:u="urn:u"><A xmlns:z="urn:z"><B xmlns=""/></A></Root>"#;
        assert_eq!(
            c14n(
                xml,
                "A",
                None,
                &Method::Exclusive {
                    inclusive_prefixes: vec!["u".into()]
                }
            ),
            r#"<A xmlns="urn:d" xmlns:u="urn:u"><B xmlns=""></B></A>"#
        );
    }

    #[test]
    fn inclusive_renders_every_namespace_in_scope_on_the_apex() {
        let xml = r#"<r:Root xmlns:r="urn:r" xmlns:b="urn:b"><r:A z="1" a="2"><r:B/></r:A></r:Root>"#;
        assert_eq!(
            c14n(xml, "A", None, &Method::Inclusive),
            r#"<r:A xmlns:b="urn:b" xmlns:r="urn:r" a="2" z="1"><r:B></r:B></r:A>"#
        );
    }

    #[test]
    fn escapes_and_excludes_the_enveloped_signature() {
        let xml = "<A x=\"a&amp;b&#x9;&lt;&quot;\">1 &lt; 2 &amp;&gt; 3&#xD;<Sig><In/></Sig><C/></A>";
        assert_eq!(
            c14n(xml, "A", Some("Sig"), &exc()),
            "<A x=\"a&amp;b&#x9;&lt;&quot;\">1 &lt; 2 &amp;&gt; 3&#xD;<C></C></A>"
        );
    }

    #[test]
    fn attributes_sort_by_namespace_uri_then_local_name() {
        let xml = r#"<A xmlns:z="urn:a" xmlns:a="urn:z" a:b="1" z:c="2" d="3"/>"#;
        assert_eq!(
            c14n(xml, "A", None, &exc()),
            r#"<A xmlns:a="urn:z" xmlns:z="urn:a" d="3" z:c="2" a:b="1"></A>"#
        );
    }

    #[test]
    fn redeclared_prefix_is_rendered_again() {
        let xml = r#"<p:A xmlns:p="urn:1"><p:B xmlns:p="urn:2"><p:C xmlns:p="urn:2"/></p:B></p:A>"#;
        assert_eq!(
            c14n(xml, "A", None, &exc()),
            r#"<p:A xmlns:p="urn:1"><p:B xmlns:p="urn:2"><p:C></p:C></p:B></p:A>"#
        );
    }

    #[test]
    fn inclusive_refuses_inherited_xml_attributes() {
        let doc = roxmltree::Document::parse(r#"<R xml:lang="en"><A/></R>"#).unwrap();
        let a = doc.descendants().find(|n| n.has_tag_name("A")).unwrap();
        assert!(canonicalize(a, None, &Method::Inclusive, &mut Vec::new()).is_err());
        assert!(canonicalize(a, None, &exc(), &mut Vec::new()).is_ok());
    }
}
