//! A SAML app's keys: issuer, audience, ACS URL, SP certificate and key, what is signed, the
//! NameID and attribute statements. The SP certificate and key files are read and parsed here, so
//! `fakta check` refuses what `serve` could not use.

use std::path::{Path, PathBuf};

use super::super::files;
use super::super::model::*;
use super::super::reader::{At, Map, Pos, Sink, choice};
use super::app::{attribute_statements, name_id};
use super::sp_metadata::{self, Imported};
use super::values::{seconds, url};

pub(super) fn saml_app(
    sink: &mut Sink,
    m: &Map<'_>,
    id: Option<&str>,
    base_dir: &Path,
    imported: Option<&Imported>,
) -> Option<Protocol> {
    let issuer = m.string(sink, "issuer");
    let audience = sp_metadata::string_key(
        sink,
        m,
        "audience",
        "the SP entity id (the SAML Audience)",
        imported,
        |meta| meta.entity_id.clone(),
    );
    let acs = sp_metadata::string_key(
        sink,
        m,
        "acs_url",
        "the SP's Assertion Consumer Service URL",
        imported,
        |meta| meta.acs.url.to_string(),
    )
    .and_then(|s| url(sink, s));
    let sp_certificate = sp_metadata::certificate(sink, m, base_dir, imported);
    let sp_private_key = m.string(sink, "sp_private_key");
    if let Some(k) = &sp_private_key {
        if let Err(e) = files::read_private_key(&base_dir.join(&k.value)) {
            sink.error(k.pos, &k.path, e.to_string());
        }
    }
    if let (Some(k), None) = (&sp_private_key, &sp_certificate) {
        sink.error(
            k.pos,
            &k.path,
            "an SP private key without `sp_certificate`: the IdP would not know to check its signatures",
        );
    }
    let sp_private_key = sp_private_key.map(|s| PathBuf::from(s.value));
    let sp_signs = sp_signs(sink, m, sp_certificate.is_some(), imported);
    let sign = m
        .choice(
            sink,
            "sign",
            &[
                ("both", SignWhat::Both),
                ("response", SignWhat::Response),
                ("assertion", SignWhat::Assertion),
            ],
        )
        .map(|s| {
            // WantAssertionsSigned: the SP wants the Assertion itself signed (SAML metadata
            // 2.4.4); `both` and `assertion` do that.
            if let Some(i) = imported.filter(|i| i.meta.want_assertions_signed) {
                if s.value == SignWhat::Response {
                    i.disagree(
                        sink,
                        &s,
                        "sign",
                        "response",
                        "WantAssertionsSigned=\"true\"",
                    );
                }
            }
            s.value
        })
        .unwrap_or(SignWhat::Both);
    let name_id = match m.get("name_id") {
        Some(n) => name_id(sink, n, &m.key_path("name_id")),
        None => Some(NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: UserField::Email,
        }),
    };
    let name_id = name_id.map(|n| name_id_from_metadata(sink, m, n, imported));
    let attributes = match m.get("attributes") {
        Some(n) => attribute_statements(sink, n, &m.key_path("attributes")),
        None => Vec::new(),
    };
    let allow_idp_initiated = m.bool(sink, "allow_idp_initiated").unwrap_or(true);
    let default_relay_state = m.string(sink, "default_relay_state").map(|s| s.value);
    let lifetime = seconds(sink, m, "assertion_lifetime_secs", 300, 86_400);
    let issuer = issuer
        .map(|s| s.value)
        .unwrap_or_else(|| format!("http://www.okta.com/{}", id.unwrap_or("app")));
    Some(Protocol::Saml(SamlApp {
        issuer,
        audience: audience?.value,
        acs_url: acs?,
        sp_certificate,
        sp_private_key,
        sp_signs,
        sign,
        name_id: name_id?,
        attributes,
        allow_idp_initiated,
        default_relay_state,
        assertion_lifetime_secs: lifetime?,
        metadata_wants_signed_assertions: imported
            .filter(|i| i.meta.want_assertions_signed)
            .map(|i| i.source.clone()),
    }))
}

/// The NameID format: the file's `name_id.format` if written (a warning when the SP's metadata
/// lists formats and not this one), else the first of the metadata's that fakta can issue.
fn name_id_from_metadata(
    sink: &mut Sink,
    m: &Map<'_>,
    mut spec: NameIdSpec,
    imported: Option<&Imported>,
) -> NameIdSpec {
    let Some(i) = imported.filter(|i| !i.meta.name_id_formats.is_empty()) else {
        return spec;
    };
    let listed = i.meta.name_id_formats.join(", ");
    let written = m
        .get("name_id")
        .and_then(|n| n.as_mapping())
        .and_then(|n| n.get_node("format"));
    if let Some(node) = written {
        if !i
            .meta
            .name_id_formats
            .iter()
            .any(|u| u == spec.format.urn())
        {
            let at = At {
                value: (),
                pos: Pos::of(node.span()),
                path: format!("{}.format", m.key_path("name_id")),
            };
            i.differs(
                sink,
                &at,
                &format!(
                    "name_id.format is `{}` ({})",
                    spec.format.name(),
                    spec.format.urn()
                ),
                &listed,
            );
        }
        return spec;
    }
    match sp_metadata::name_id_format(&i.meta) {
        Some(f) => spec.format = f,
        None => sink.warning(
            m.key_pos("sp_metadata"),
            &m.key_path("sp_metadata"),
            format!(
                "the SP's metadata {} asks for NameID formats fakta cannot issue ({listed}); the NameID is sent as {}",
                i.source,
                spec.format.urn()
            ),
        ),
    }
    spec
}

/// `sp_signs`: which SP messages must be signed. Without it, all of them when there is an SP
/// certificate (so a certificate alone keeps meaning "everything signed"), none without one;
/// with the SP's metadata, what the metadata implies ([`sp_metadata::default_sp_signs`]), and a
/// written list that leaves out AuthnRequests the metadata says are signed (or requires them
/// where it says they are not) is warned about.
fn sp_signs(
    sink: &mut Sink,
    m: &Map<'_>,
    has_certificate: bool,
    imported: Option<&Imported>,
) -> Vec<SpMessage> {
    let Some(words) = m.strings(sink, "sp_signs") else {
        return match (has_certificate && m.get("sp_signs").is_none(), imported) {
            (false, _) => Vec::new(),
            (true, Some(i)) => sp_metadata::default_sp_signs(&i.meta),
            (true, None) => SpMessage::ALL.to_vec(),
        };
    };
    if !has_certificate {
        sink.error(
            m.key_pos("sp_signs"),
            &m.key_path("sp_signs"),
            "`sp_signs` without `sp_certificate`: the IdP would have no certificate to check the signatures with",
        );
    }
    let choices: Vec<(&str, SpMessage)> = SpMessage::ALL.iter().map(|k| (k.name(), *k)).collect();
    let mut kinds = Vec::new();
    for w in words {
        if let Some(k) = choice(sink, w, &choices) {
            if !kinds.contains(&k.value) {
                kinds.push(k.value);
            }
        }
    }
    if let Some(i) = imported {
        let here = kinds.contains(&SpMessage::AuthnRequests);
        if here != i.meta.authn_requests_signed {
            let at = At {
                value: (),
                pos: m.key_pos("sp_signs"),
                path: m.key_path("sp_signs"),
            };
            let (h, t) = if here {
                (
                    "sp_signs includes `authn_requests`",
                    "AuthnRequestsSigned=\"false\"",
                )
            } else {
                (
                    "sp_signs leaves out `authn_requests`",
                    "AuthnRequestsSigned=\"true\"",
                )
            };
            i.differs(sink, &at, h, t);
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::super::load_str;
    use super::*;

    /// The SAML example, with an SP certificate and `extra` under it, loaded from a folder that
    /// holds the certificate: the app's `sp_signs`.
    fn sp_signs_of(extra: &str) -> Vec<SpMessage> {
        let dir = tempfile::tempdir().unwrap();
        let cert = crate::keys::SigningKey::generate()
            .unwrap()
            .certificate
            .pem();
        std::fs::write(dir.path().join("sp.crt"), cert).unwrap();
        let yaml = include_str!("../../../scenarios/qovery-saml.yaml").replace(
            "# sp_certificate: sp.crt",
            &format!("sp_certificate: sp.crt{extra}"),
        );
        let (conn, _) = load_str(&yaml, "test.yaml", dir.path()).unwrap_or_else(|d| panic!("{d}"));
        conn.apps[0].saml().unwrap().sp_signs.clone()
    }

    #[test]
    fn a_certificate_alone_means_every_message_is_signed() {
        assert_eq!(sp_signs_of(""), SpMessage::ALL);
    }

    #[test]
    fn sp_signs_narrows_it_and_an_empty_list_requires_none() {
        use SpMessage::*;
        assert_eq!(
            sp_signs_of("\n    sp_signs: [logout_responses, logout_requests, logout_requests]"),
            [LogoutResponses, LogoutRequests]
        );
        assert_eq!(sp_signs_of("\n    sp_signs: []"), []);
    }

    #[test]
    fn every_kind_has_its_own_word() {
        let mut names: Vec<&str> = SpMessage::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SpMessage::ALL.len());
    }
}
