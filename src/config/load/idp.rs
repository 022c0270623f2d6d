//! The `idp` section: where the IdP is reached, which web origins may call it from
//! JavaScript (Okta's Trusted Origins, CORS scope), and which vendor it plays (`flavor`, with
//! Entra's `tenant`, Keycloak's `realm` or Google's Workspace `domain`).

use super::super::tree::Node;

use super::super::model::Idp;
use super::super::reader::{At, Map, Sink};
use super::values::url;
use crate::flavor::Flavor;

/// The keys naming a flavor's tenant (`Flavor::tenant_key`; the test below holds them to it).
const TENANT_KEYS: [&str; 3] = ["tenant", "realm", "domain"];

pub(super) fn idp(sink: &mut Sink, node: &Node) -> Option<Idp> {
    let m = Map::new(
        sink,
        node,
        "idp",
        &[
            "base_url",
            "trusted_origins",
            "flavor",
            TENANT_KEYS[0],
            TENANT_KEYS[1],
            TENANT_KEYS[2],
        ],
    )?;
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
    let choices: Vec<(&str, Flavor)> = Flavor::ALL.iter().map(|f| (f.name(), *f)).collect();
    let flavor = m
        .choice(sink, "flavor", &choices)
        .map_or(Flavor::Okta, |f| f.value);
    let mut tenant = flavor.default_tenant().to_owned();
    for key in TENANT_KEYS {
        let Some(value) = m.string(sink, key) else {
            continue;
        };
        if flavor.tenant_key() != Some(key) {
            let what = match flavor.tenant_key() {
                Some(k) => format!("a {} file names its tenant with `idp.{k}`", flavor.title()),
                None => format!("{} has no {key}", flavor.title()),
            };
            sink.error(
                value.pos,
                &value.path,
                format!("`{key}` is for idp.flavor {}: {what}", tenant_flavor(key)),
            );
            continue;
        }
        // It becomes a path segment of every URL (`/{tenant}/v2.0`, `/realms/{realm}`).
        if value.value.chars().all(|c| c == '.')
            || !value
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            sink.error(
                value.pos,
                &value.path,
                format!(
                    "`{}` cannot be a URL path segment: use letters, digits, `-`, `_` and `.` (not dots alone)",
                    value.value
                ),
            );
            continue;
        }
        tenant = value.value;
    }
    Some(Idp {
        base_url,
        trusted_origins,
        flavor,
        tenant,
    })
}

/// The flavors whose tenant a key names (`entra`, `google`).
fn tenant_flavor(key: &str) -> String {
    let names: Vec<&str> = Flavor::ALL
        .iter()
        .filter(|f| f.tenant_key() == Some(key))
        .map(|f| f.name())
        .collect();
    names.join(" or ")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flavor's tenant key is read, and no other.
    #[test]
    fn tenant_keys_are_the_flavors() {
        let mut from_flavors: Vec<&str> =
            Flavor::ALL.iter().filter_map(|f| f.tenant_key()).collect();
        from_flavors.sort_unstable();
        from_flavors.dedup();
        let mut keys = TENANT_KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(keys, from_flavors);
    }

    #[test]
    fn a_tenant_key_names_every_flavor_it_is_for() {
        assert_eq!(tenant_flavor("tenant"), "entra");
        assert_eq!(tenant_flavor("domain"), "google");
    }
}
