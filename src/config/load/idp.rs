//! The `idp` section: where the IdP is reached.

use marked_yaml::Node;

use super::super::model::Idp;
use super::super::reader::{Map, Sink};
use super::values::url;

pub(super) fn idp(sink: &mut Sink, node: &Node) -> Option<Idp> {
    let m = Map::new(sink, node, "idp", &["base_url"])?;
    let base = m.req_string(
        sink,
        "base_url",
        "the URL where the IdP is reached, e.g. http://127.0.0.1:7000",
    )?;
    let base_url = url(sink, base.clone())?;
    if base_url.query().is_some() || base_url.fragment().is_some() {
        sink.error(
            base.pos,
            &base.path,
            "the base URL must not have a query or fragment",
        );
        return None;
    }
    if base_url.port_or_known_default().is_none() {
        sink.error(base.pos, &base.path, "the base URL needs a port");
        return None;
    }
    Some(Idp { base_url })
}
