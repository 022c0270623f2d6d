//! A SAML app's keys: issuer, audience, ACS URL, SP certificate and key, what is signed, the
//! NameID and attribute statements. The SP certificate and key files are read and parsed here, so
//! `fakta check` refuses what `serve` could not use.

use std::path::{Path, PathBuf};

use super::super::files;
use super::super::model::*;
use super::super::reader::{Map, Sink, choice};
use super::app::{attribute_statements, name_id};
use super::values::{seconds, url};

pub(super) fn saml_app(
    sink: &mut Sink,
    m: &Map<'_>,
    id: Option<&str>,
    base_dir: &Path,
) -> Option<Protocol> {
    let issuer = m.string(sink, "issuer");
    let audience = m.req_string(sink, "audience", "the SP entity id (the SAML Audience)");
    let acs = m
        .req_string(sink, "acs_url", "the SP's Assertion Consumer Service URL")
        .and_then(|s| url(sink, s));
    let sp_certificate = m.string(sink, "sp_certificate");
    if let Some(c) = &sp_certificate {
        if let Err(e) = files::read_certificate(&base_dir.join(&c.value)) {
            sink.error(c.pos, &c.path, e.to_string());
        }
    }
    let sp_certificate = sp_certificate.map(|s| PathBuf::from(s.value));
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
    let sp_signs = sp_signs(sink, m, sp_certificate.is_some());
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
        .map(|s| s.value)
        .unwrap_or(SignWhat::Both);
    let name_id = match m.get("name_id") {
        Some(n) => name_id(sink, n, &m.key_path("name_id")),
        None => Some(NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: UserField::Email,
        }),
    };
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
    }))
}

/// `sp_signs`: which SP messages must be signed. Without it, all of them when there is an SP
/// certificate (so a certificate alone keeps meaning "everything signed"), none without one.
fn sp_signs(sink: &mut Sink, m: &Map<'_>, has_certificate: bool) -> Vec<SpMessage> {
    let Some(words) = m.strings(sink, "sp_signs") else {
        return if has_certificate && m.get("sp_signs").is_none() {
            SpMessage::ALL.to_vec()
        } else {
            Vec::new()
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
