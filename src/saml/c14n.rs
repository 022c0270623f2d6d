//! Exclusive XML Canonicalization 1.0 without comments (<http://www.w3.org/2001/10/xml-exc-c14n#>),
//! for the documents fakta signs itself: an element subtree of a parsed document, one element
//! (the enveloped `ds:Signature`) left out. No InclusiveNamespaces prefix list, no comments, no
//! processing instructions: fakta writes neither. Pure: no I/O.
//!
//! Reference: W3C Exclusive XML Canonicalization 1.0, and Canonical XML 1.0 for the rendering
//! (attribute order, escaping, empty elements written as start and end tags).

use std::collections::BTreeMap;
use std::rc::Rc;

use roxmltree::{Node, NodeId};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The canonical form of the subtree rooted at `apex`, without the element `exclude` (and its
/// subtree). The walk is iterative (an explicit stack), so the document's depth costs heap,
/// never call stack.
pub fn canonicalize(apex: Node<'_, '_>, exclude: Option<NodeId>) -> String {
    canonicalize_filled(apex, exclude, &[])
}

/// [`canonicalize`] as if each element of `fills` (empty in the parsed document) held its text:
/// a signer fills the DigestValue and SignatureValue of one template and then canonicalizes an
/// enclosing element over that signature from the same parse, instead of parsing the document
/// again after writing the values in.
pub fn canonicalize_filled(
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
    fills: &[(NodeId, &str)],
) -> String {
    let fill = |node: Node<'_, '_>, out: &mut String| {
        if let Some((_, text)) = fills.iter().find(|(id, _)| *id == node.id()) {
            escape_text(text, out);
        }
    };
    let mut out = String::with_capacity(4096);
    // Per open element: its qualified name, the namespaces rendered in scope, and the child to
    // visit next.
    struct Open<'a, 'i> {
        qname: String,
        rendered: Rc<BTreeMap<String, String>>,
        next: Option<Node<'a, 'i>>,
    }
    let (qname, rendered) = start_tag(apex, &Rc::default(), &mut out);
    fill(apex, &mut out);
    let mut stack = vec![Open {
        qname,
        rendered,
        next: apex.first_child(),
    }];
    while let Some(top) = stack.last_mut() {
        let Some(child) = top.next else {
            out.push_str("</");
            out.push_str(&top.qname);
            out.push('>');
            stack.pop();
            continue;
        };
        top.next = child.next_sibling();
        if Some(child.id()) == exclude {
            continue;
        }
        if child.is_element() {
            let (qname, rendered) = start_tag(child, &top.rendered, &mut out);
            fill(child, &mut out);
            stack.push(Open {
                qname,
                rendered,
                next: child.first_child(),
            });
        } else if child.is_text() {
            escape_text(child.text().unwrap_or_default(), &mut out);
        }
    }
    out
}

/// The prefix an element or attribute namespace is bound to in scope (None: the default
/// namespace).
fn prefix_of<'a>(node: Node<'a, '_>, uri: &str) -> Option<&'a str> {
    if uri == XML_NS {
        return Some("xml");
    }
    node.namespaces()
        .find(|ns| ns.uri() == uri)
        .and_then(|ns| ns.name())
}

/// Writes the element's canonical start tag; returns its qualified name and the namespaces
/// rendered in scope for its children (shared with the parent's unless it declares one).
fn start_tag(
    node: Node<'_, '_>,
    rendered: &Rc<BTreeMap<String, String>>,
    out: &mut String,
) -> (String, Rc<BTreeMap<String, String>>) {
    let tag = node.tag_name();
    let element_prefix = tag.namespace().and_then(|uri| prefix_of(node, uri));
    let qname = match element_prefix {
        Some(p) => format!("{p}:{}", tag.name()),
        None => tag.name().to_owned(),
    };
    // Namespaces visibly utilized: the element's own, and those of its attributes.
    let mut utilized: BTreeMap<String, String> = BTreeMap::new();
    utilized.insert(
        element_prefix.unwrap_or_default().to_owned(),
        tag.namespace().unwrap_or_default().to_owned(),
    );
    let mut attrs: Vec<(&str, &str, String, &str)> = Vec::new();
    for a in node.attributes() {
        let uri = a.namespace().unwrap_or_default();
        let name = match a.namespace() {
            Some(u) => {
                let p = prefix_of(node, u).unwrap_or_default();
                if p != "xml" {
                    utilized.insert(p.to_owned(), u.to_owned());
                }
                format!("{p}:{}", a.name())
            }
            None => a.name().to_owned(),
        };
        attrs.push((uri, a.name(), name, a.value()));
    }
    // Attributes sorted by namespace URI (none first), then local name.
    attrs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    let mut now_rendered = Rc::clone(rendered);
    out.push('<');
    out.push_str(&qname);
    for (prefix, uri) in &utilized {
        let already = rendered.get(prefix).map(String::as_str);
        // The default namespace "none" needs no declaration unless an ancestor set another.
        let needed = if prefix.is_empty() && uri.is_empty() {
            already.is_some_and(|u| !u.is_empty())
        } else {
            already != Some(uri.as_str())
        };
        if needed {
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                out.push_str("=\"");
            }
            escape_attr(uri, out);
            out.push('"');
            Rc::make_mut(&mut now_rendered).insert(prefix.clone(), uri.clone());
        }
    }
    for (_, _, name, value) in &attrs {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        escape_attr(value, out);
        out.push('"');
    }
    out.push('>');
    (qname, now_rendered)
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        canonicalize(doc.root_element(), None)
    }

    #[test]
    fn namespaces_only_where_first_used_and_attributes_sorted() {
        assert_eq!(
            c14n(
                r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" z="1" b:y="2" x="3"><a:c xmlns:a="urn:a"/><b:d/></a:r>"#
            ),
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" x="3" z="1" b:y="2"><a:c></a:c><b:d></b:d></a:r>"#
        );
    }

    #[test]
    fn a_namespace_used_only_in_a_value_is_dropped() {
        assert_eq!(
            c14n(
                r#"<v xmlns:xs="urn:xs" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">t</v>"#
            ),
            r#"<v xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">t</v>"#
        );
    }

    #[test]
    fn escaping_is_canonical() {
        assert_eq!(
            c14n(
                "<e a=\"&apos;&quot;&lt;&gt;&#9;&#10;&#13;&amp;\">&apos;&quot;&lt;&gt;&#13;&amp;</e>"
            ),
            "<e a=\"'&quot;&lt;>&#x9;&#xA;&#xD;&amp;\">'\"&lt;&gt;&#xD;&amp;</e>"
        );
    }

    #[test]
    fn deep_documents_cost_no_call_stack() {
        // roxmltree itself recurses, so the tree is built on a big stack; the c14n then runs
        // on a small one.
        let n = 20_000;
        let xml = format!("{}{}", "<a xmlns:p=\"urn:p\">".repeat(n), "</a>".repeat(n));
        let expected = format!("<a>{}{}", "<a>".repeat(n - 1), "</a>".repeat(n));
        let out = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                let doc = roxmltree::Document::parse(&xml).unwrap();
                std::thread::scope(|s| {
                    std::thread::Builder::new()
                        .stack_size(128 << 10)
                        .spawn_scoped(s, || canonicalize(doc.root_element(), None))
                        .unwrap()
                        .join()
                        .unwrap()
                })
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn a_filled_element_reads_as_if_its_text_were_there() {
        let doc = roxmltree::Document::parse("<r><d></d><s/></r>").unwrap();
        let d = doc.root_element().first_child().unwrap();
        assert_eq!(
            canonicalize_filled(doc.root_element(), None, &[(d.id(), "a<b")]),
            "<r><d>a&lt;b</d><s></s></r>"
        );
        let filled = roxmltree::Document::parse("<r><d>a&lt;b</d><s/></r>").unwrap();
        assert_eq!(
            canonicalize_filled(doc.root_element(), None, &[(d.id(), "a<b")]),
            canonicalize(filled.root_element(), None)
        );
    }

    #[test]
    fn the_excluded_element_is_left_out() {
        let doc = roxmltree::Document::parse("<r><s><t/></s><u/></r>").unwrap();
        let s = doc.root_element().first_child().unwrap();
        assert_eq!(
            canonicalize(doc.root_element(), Some(s.id())),
            "<r><u></u></r>"
        );
    }
}
