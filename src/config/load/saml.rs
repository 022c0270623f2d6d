//! A SAML app's keys: issuer, audience, ACS URL, SP certificate and key, what is signed, the
//! NameID and attribute statements. The SP certificate and key files are read and parsed here, so
//! `fakta check` refuses what `serve` could not use.

use std::path::{Path, PathBuf};

use super::super::tree::Node;

use super::super::model::*;
use super::super::reader::{self, At, Map, Pos, Sink, choice, index, join};
use super::super::{files, lint};
use super::Declared;
use super::app::{name_id, user_field};
use super::sp_metadata::{self, Imported};
use super::values::{seconds, url};

pub(super) fn saml_app(
    sink: &mut Sink,
    m: &Map<'_>,
    id: Option<&str>,
    base_dir: &Path,
    declared: &Declared,
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
    if let Some(why) = declared.vendor().saml_not_played() {
        sink.warning(m.key_pos("protocol"), &m.key_path("protocol"), why);
    }
    let name_id = match m.get("name_id") {
        Some(n) => name_id(sink, n, &m.key_path("name_id"), declared),
        // The vendor's default ("Application username" for Okta, the UPN for Entra).
        None => Some(declared.vendor().default_name_id()),
    };
    let name_id = name_id.map(|n| name_id_from_metadata(sink, m, n, imported));
    let attributes = match m.get("attributes") {
        Some(n) => attributes(sink, n, &m.key_path("attributes")),
        // Okta sends none unless configured; Entra's default claims (`crate::flavor::entra`).
        None => declared.vendor().default_saml_attributes(),
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
    // Okta's Advanced Settings: "Signature Algorithm" and "Digest Algorithm", SHA-256 unless
    // set (https://support.okta.com/help/Documentation/Knowledge_Article/102619923-SAML-2-0-Encryption-Early-Access).
    let algorithms: Vec<(&str, SignatureAlgorithm)> = SignatureAlgorithm::ALL
        .iter()
        .map(|a| (a.name(), *a))
        .collect();
    let signature_algorithm = m
        .choice(sink, "signature_algorithm", &algorithms)
        .map_or(SignatureAlgorithm::RsaSha256, |a| a.value);
    let digests: Vec<(&str, DigestAlgorithm)> = DigestAlgorithm::ALL
        .iter()
        .map(|a| (a.name(), *a))
        .collect();
    let digest_algorithm = m
        .choice(sink, "digest_algorithm", &digests)
        .map_or(DigestAlgorithm::Sha256, |a| a.value);
    let encryption = match m.get("encryption") {
        Some(n) => encryption(sink, n, &m.key_path("encryption"), base_dir),
        None => None,
    };
    // Okta: `http://www.okta.com/{id}`; the other vendors' issuers are per tenant.
    let issuer = issuer
        .map(|s| s.value)
        .unwrap_or_else(|| match &declared.idp {
            Some(idp) => idp.vendor().saml_issuer(idp, id.unwrap_or("app")),
            None => format!("http://www.okta.com/{}", id.unwrap_or("app")),
        });
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
        metadata_wants_signed_assertions: imported
            .filter(|i| i.meta.want_assertions_signed)
            .map(|i| i.source.clone()),
        signature_algorithm,
        digest_algorithm,
        encryption,
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

/// `encryption`: Okta's "Assertion Encryption: Encrypted" with its "Encryption Algorithm",
/// "Key Transport Algorithm" and "Encryption Certificate" (an RSA certificate: Okta wraps the
/// content key with RSA). `private_key` is the SP's, for the reference SP; it must match the
/// certificate.
fn encryption(sink: &mut Sink, node: &Node, path: &str, base_dir: &Path) -> Option<Encryption> {
    let m = Map::new(
        sink,
        node,
        path,
        &["certificate", "block", "key_transport", "private_key"],
    )?;
    let certificate = m.req_string(
        sink,
        "certificate",
        "the SP's encryption certificate (PEM), e.g. sp-enc.crt",
    );
    let mut public = None;
    if let Some(c) = &certificate {
        match files::read_certificate(&base_dir.join(&c.value)) {
            Ok(cert) => match cert.public_key().and_then(|k| k.rsa()) {
                Ok(rsa) => public = Some(rsa),
                Err(_) => sink.error(
                    c.pos,
                    &c.path,
                    "the encryption certificate's key is not RSA: Okta wraps the content key with RSA (rsa-oaep or rsa-1_5)",
                ),
            },
            Err(e) => sink.error(c.pos, &c.path, e.to_string()),
        }
    }
    let blocks: Vec<(&str, BlockCipher)> =
        BlockCipher::ALL.iter().map(|b| (b.name(), *b)).collect();
    let block = m
        .choice(sink, "block", &blocks)
        .map_or(BlockCipher::Aes256Cbc, |b| b.value);
    let transports: Vec<(&str, KeyTransport)> =
        KeyTransport::ALL.iter().map(|k| (k.name(), *k)).collect();
    let key_transport = m
        .choice(sink, "key_transport", &transports)
        .map_or(KeyTransport::RsaOaep, |k| k.value);
    let private_key = m.string(sink, "private_key");
    if let Some(k) = &private_key {
        match files::read_private_key(&base_dir.join(&k.value)) {
            Ok(key) => {
                let matches = match (&public, key.rsa()) {
                    (Some(p), Ok(r)) => p.n() == r.n() && p.e() == r.e(),
                    (None, _) => true,
                    (Some(_), Err(_)) => false,
                };
                if !matches {
                    sink.error(
                        k.pos,
                        &k.path,
                        "this private key does not match the encryption certificate: the SP could not decrypt what the IdP encrypts",
                    );
                }
            }
            Err(e) => sink.error(k.pos, &k.path, e.to_string()),
        }
    }
    Some(Encryption {
        certificate: PathBuf::from(certificate?.value),
        block,
        key_transport,
        private_key: private_key.map(|k| PathBuf::from(k.value)),
    })
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

    /// The SAML example with `encryption` (key pair files written beside it) and `extra`
    /// app keys: the app, or the diagnostics.
    fn with_encryption(encryption: &str, key_matches: bool) -> Result<SamlApp, String> {
        let dir = tempfile::tempdir().unwrap();
        let k = crate::keys::SigningKey::generate().unwrap();
        let other = crate::keys::SigningKey::generate().unwrap();
        std::fs::write(dir.path().join("sp-enc.crt"), k.certificate.pem()).unwrap();
        let key = if key_matches { &k } else { &other };
        std::fs::write(
            dir.path().join("sp-enc.key"),
            key.pkey().private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
        let yaml = include_str!("../../../scenarios/qovery-saml.yaml").replace(
            "# sp_certificate: sp.crt",
            &format!("encryption: {encryption}"),
        );
        load_str(&yaml, "test.yaml", dir.path())
            .map(|(conn, _)| conn.apps[0].saml().unwrap().clone())
            .map_err(|d| d.to_string())
    }

    #[test]
    fn encryption_defaults_to_okta_s_and_the_key_must_match_the_certificate() {
        let app =
            with_encryption("{ certificate: sp-enc.crt, private_key: sp-enc.key }", true).unwrap();
        let enc = app.encryption.unwrap();
        assert_eq!(
            (enc.block, enc.key_transport),
            (BlockCipher::Aes256Cbc, KeyTransport::RsaOaep)
        );
        assert_eq!(app.signature_algorithm, SignatureAlgorithm::RsaSha256);
        assert_eq!(app.digest_algorithm, DigestAlgorithm::Sha256);
        let app = with_encryption(
            "{ certificate: sp-enc.crt, block: aes128-gcm, key_transport: rsa-1_5 }",
            true,
        )
        .unwrap();
        let enc = app.encryption.unwrap();
        assert_eq!(
            (enc.block, enc.key_transport),
            (BlockCipher::Aes128Gcm, KeyTransport::Rsa15)
        );
        let err = with_encryption(
            "{ certificate: sp-enc.crt, private_key: sp-enc.key }",
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("apps[0].encryption.private_key: this private key does not match the encryption certificate"),
            "{err}"
        );
    }

    #[test]
    fn every_algorithm_has_its_own_word() {
        let words = |v: Vec<&str>| {
            let mut w = v.clone();
            w.sort_unstable();
            w.dedup();
            w.len() == v.len()
        };
        assert!(words(BlockCipher::ALL.iter().map(|b| b.name()).collect()));
        assert!(words(KeyTransport::ALL.iter().map(|b| b.name()).collect()));
        assert!(words(
            SignatureAlgorithm::ALL.iter().map(|b| b.name()).collect()
        ));
        assert!(words(
            DigestAlgorithm::ALL.iter().map(|b| b.name()).collect()
        ));
    }

    #[test]
    fn every_kind_has_its_own_word() {
        let mut names: Vec<&str> = SpMessage::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SpMessage::ALL.len());
    }
}
