//! The `idp` section: where the IdP is reached, and which web origins may call it from
//! JavaScript (Okta's Trusted Origins, CORS scope).

use marked_yaml::Node;

use super::super::model::Idp;
use super::super::reader::{At, Map, Sink};
use super::values::url;

pub(super) fn idp(sink: &mut Sink, node: &Node) -> Option<Idp> {
    let m = Map::new(sink, node, "idp", &["base_url", "trusted_origins"])?;
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
    let trusted_origins = m.strings(sink, "trusted_origins").map(|listed| {
        let mut origins: Vec<String> = listed.into_iter().filter_map(|s| origin(sink, s)).collect();
        origins.sort();
        origins.dedup();
        origins
    });
    Some(Idp {
        base_url,
        trusted_origins,
    })
}

/// One trusted origin: scheme, host and port, nothing else (what a browser sends in `Origin`).
fn origin(sink: &mut Sink, s: At<String>) -> Option<String> {
    if s.value == "*" || s.value == "null" {
        sink.error(
            s.pos,
            &s.path,
            format!(
                "`{}` is not an origin fakta will trust: Okta's Trusted Origins are listed one by one (scheme, host and port, e.g. http://127.0.0.1:5173)",
                s.value
            ),
        );
        return None;
    }
    let written = s.value.clone();
    let (pos, path) = (s.pos, s.path.clone());
    let u = url(sink, s)?;
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        let origin = u.origin().ascii_serialization();
        sink.error(
            pos,
            &path,
            format!(
                "`{written}` is not an origin: an origin is scheme, host and port only; write `{origin}`"
            ),
        );
        return None;
    }
    Some(u.origin().ascii_serialization())
}
