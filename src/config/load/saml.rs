//! A SAML app's keys: issuer, audience, ACS URL, SP certificate and key, what is signed, the
//! NameID and attribute statements. The SP certificate and key files are read and parsed here, so
//! `fakta check` refuses what `serve` could not use.

use std::path::{Path, PathBuf};

use marked_yaml::Node;

use super::super::model::*;
use super::super::reader::{self, At, Map, Pos, Sink, choice, index, join};
use super::super::{files, lint};
use super::Declared;
use super::app::{name_id, user_field};
use super::values::{seconds, url};

pub(super) fn saml_app(
    sink: &mut Sink,
    m: &Map<'_>,
    id: Option<&str>,
    base_dir: &Path,
    declared: &Declared,
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
        Some(n) => name_id(sink, n, &m.key_path("name_id"), declared),
        None => Some(NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: NameIdValue::Field(UserField::Email),
        }),
    };
    let attributes = match m.get("attributes") {
        Some(n) => attributes(sink, n, &m.key_path("attributes")),
        None => Vec::new(),
    };
    // Okta's advanced settings (Application Integration Wizard SAML field reference,
    // help.okta.com/en-us/content/topics/apps/aiw-saml-reference.htm): "Recipient URL" and
    // "Destination URL" when "Use this for Recipient URL and Destination URL" is cleared.
    let recipient_url = m.string(sink, "recipient_url").and_then(|s| url(sink, s));
    let destination_url = m.string(sink, "destination_url").and_then(|s| url(sink, s));
    if let Some(a) = &acs {
        lint::recipient_and_destination(sink, m, a, &recipient_url, &destination_url);
    }
    let other_sso_urls = match m.get("other_sso_urls") {
        Some(n) => other_sso_urls(sink, n, &m.key_path("other_sso_urls"), acs.as_ref()),
        None => Vec::new(),
    };
    let class_choices: Vec<(&str, AuthnContextClass)> = AuthnContextClass::ALL
        .iter()
        .map(|c| (c.name(), *c))
        .collect();
    let authn_context_class = m
        .choice(sink, "authn_context_class", &class_choices)
        .map_or(AuthnContextClass::PasswordProtectedTransport, |c| c.value);
    // Okta's "Honor Force Authentication" defaults to Yes.
    let honor_force_authn = m.bool(sink, "honor_force_authn").unwrap_or(true);
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
        recipient_url: recipient_url.map(String::from),
        destination_url: destination_url.map(String::from),
        other_sso_urls,
        authn_context_class,
        honor_force_authn,
        allow_idp_initiated,
        default_relay_state,
        assertion_lifetime_secs: lifetime?,
    }))
}

/// `other_sso_urls`: Okta's "Other Requestable SSO URLs", each `{url, index}`. URLs and
/// indexes are unique, and none repeats `acs_url` (the request could not tell them apart).
fn other_sso_urls(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    acs: Option<&url::Url>,
) -> Vec<OtherSsoUrl> {
    let Some(list) = reader::seq(sink, node, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut urls: Vec<At<String>> = Vec::new();
    let mut indexes: Vec<At<String>> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let p = index(path, i);
        let Some(m) = Map::new(sink, item, &p, &["url", "index"]) else {
            continue;
        };
        let u = m
            .req_string(sink, "url", "the ACS URL the SP may request")
            .and_then(|s| {
                urls.push(s.clone());
                url(sink, s)
            });
        let ix = m
            .req_string(sink, "index", "the AssertionConsumerServiceIndex naming it (0-65535)")
            .and_then(|s| {
                indexes.push(s.clone());
                match s.value.parse::<u16>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        sink.error(
                            s.pos,
                            &s.path,
                            format!(
                                "`{}` is not an index; expected a whole number from 0 to 65535 (an AssertionConsumerServiceIndex is an unsignedShort, SAML Core 3.4.1)",
                                s.value
                            ),
                        );
                        None
                    }
                }
            });
        if let (Some(u), Some(a)) = (&u, acs) {
            if u == a {
                sink.error(
                    m.key_pos("url"),
                    &join(&p, "url"),
                    "this is the app's `acs_url` already; list only the other URLs",
                );
            }
        }
        if let (Some(url), Some(index)) = (u, ix) {
            out.push(OtherSsoUrl { url, index });
        }
    }
    reader::report_duplicates(sink, &urls, "requestable SSO URL");
    reader::report_duplicates(sink, &indexes, "requestable SSO URL index");
    out
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

/// Okta's attribute statements have a "Name format" of Unspecified, URI Reference or Basic
/// (Okta's field reference; "Pass Dynamic Authentication Context": "In Name format, select
/// Unspecified"), written as the SAML Core 8.2 `NameFormat` URNs.
///
/// `attributes`: attribute name -> a user field (`email: user.email`, NameFormat unspecified),
/// or a mapping with the field under `value` and Okta's "Name format" under `name_format`
/// (`email: { value: user.email, name_format: uri }`).
fn attributes(sink: &mut Sink, node: &Node, path: &str) -> Vec<SamlAttribute> {
    let Some(map) = node.as_mapping() else {
        sink.error(
            Pos::of(node.span()),
            path,
            format!(
                "expected a mapping of attribute name to user field (`email: user.email`), found {}",
                reader::kind(node)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let p = join(path, k.as_str());
        let (field, name_format) = if v.as_mapping().is_some() {
            let Some(m) = Map::new(sink, v, &p, &["value", "name_format"]) else {
                continue;
            };
            let field = m
                .req_string(sink, "value", "the user field, e.g. user.email")
                .and_then(|s| user_field(sink, s));
            let choices: Vec<(&str, AttrNameFormat)> =
                AttrNameFormat::ALL.iter().map(|f| (f.name(), *f)).collect();
            let format = m
                .choice(sink, "name_format", &choices)
                .map_or(AttrNameFormat::Unspecified, |f| f.value);
            (field, format)
        } else {
            let field = reader::string(sink, v, &p).and_then(|s| user_field(sink, s));
            (field, AttrNameFormat::Unspecified)
        };
        if let Some(field) = field {
            out.push(SamlAttribute {
                name: k.as_str().to_owned(),
                field,
                name_format,
            });
        }
    }
    out
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
