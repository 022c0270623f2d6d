//! The `apps` section: what every app has (id, protocol, group statement, logout, revocation),
//! the keys each protocol accepts, and the pieces SAML and OIDC apps share.

use std::path::Path;

use super::super::tree::Node;

use super::super::model::*;
use super::super::reader::{self, At, Map, Pos, Sink, index, join};
use super::Declared;
use super::sp_metadata::{self, Imported};
use super::values::{one_of, regex_error, slug, url};
use super::{oidc, saml};

pub(crate) const COMMON_APP_KEYS: &[&str] = &[
    "id",
    "name",
    "protocol",
    "groups",
    "global_token_revocation",
];

pub(crate) const SAML_APP_KEYS: &[&str] = &[
    "issuer",
    "sp_metadata",
    "audience",
    "acs_url",
    "sp_certificate",
    "sp_private_key",
    "sp_signs",
    "sign",
    "name_id",
    "attributes",
    "recipient_url",
    "destination_url",
    "other_sso_urls",
    "authn_context_class",
    "honor_force_authn",
    "allow_idp_initiated",
    "default_relay_state",
    "assertion_lifetime_secs",
    "signature_algorithm",
    "digest_algorithm",
    "encryption",
    "logout",
];

pub(crate) const OIDC_APP_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "token_endpoint_auth_method",
    "signing_alg",
    "claims",
    "authorization_server",
    "require_pkce",
    "access_token_lifetime_secs",
    "id_token_lifetime_secs",
    "initiate_login_uri",
    "grant_types",
    "wildcard_redirect",
    "jwks",
    "client_private_key",
    "refresh_token",
];

/// The keys an app may have given what its `protocol` says, the keys of the other protocol,
/// and the protocol's name.
fn app_keys(node: &Node) -> (Vec<&'static str>, &'static [&'static str], &'static str) {
    let protocol = node
        .as_mapping()
        .and_then(|m| m.get_scalar("protocol"))
        .map(|p| p.as_str().to_owned());
    let mut keys = COMMON_APP_KEYS.to_vec();
    match protocol.as_deref() {
        Some("saml") => {
            keys.extend(SAML_APP_KEYS);
            (keys, OIDC_APP_KEYS, "saml")
        }
        Some("oidc") => {
            keys.extend(OIDC_APP_KEYS);
            (keys, SAML_APP_KEYS, "oidc")
        }
        _ => {
            keys.extend(SAML_APP_KEYS);
            keys.extend(OIDC_APP_KEYS);
            (keys, &[], "")
        }
    }
}

pub(super) fn apps(
    sink: &mut Sink,
    node: &Node,
    declared: &mut Declared,
    base_dir: &Path,
) -> Vec<App> {
    let Some(list) = reader::seq(sink, node, "apps") else {
        return Vec::new();
    };
    declared.apps = Some(
        list.iter()
            .filter_map(|a| a.as_mapping()?.get_scalar("id"))
            .map(|id| id.as_str().to_owned())
            .collect(),
    );
    let mut apps = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = index("apps", i);
        if let Some((app, id)) = app(sink, item, &path, declared, base_dir) {
            apps.push(app);
            ids.push(id);
        }
    }
    if list.is_empty() {
        sink.error(Pos::of(node.span()), "apps", "expected at least one app");
    }
    reader::report_duplicates(sink, &ids, "app id");
    // Client ids must be unique across OIDC apps; report each repeat at its `client_id`.
    let client_ids: Vec<At<String>> = list
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let map = item.as_mapping()?;
            if map.get_scalar("protocol").map(|p| p.as_str()) != Some("oidc") {
                return None;
            }
            let node = map.get_node("client_id")?;
            let s = node.as_scalar()?;
            Some(At {
                value: s.as_str().to_owned(),
                pos: Pos::of(node.span()),
                path: format!("apps[{i}].client_id"),
            })
        })
        .collect();
    reader::report_duplicates(sink, &client_ids, "client id");
    apps
}

fn app(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    declared: &mut Declared,
    base_dir: &Path,
) -> Option<(App, At<String>)> {
    let (keys, foreign, protocol_name) = app_keys(node);
    // Keys of the other protocol get their own message rather than "unknown key".
    let m = Map::with_foreign(sink, node, path, &keys, foreign)?;
    for key in m.node.keys() {
        if foreign.contains(&key.as_str()) {
            let other = if protocol_name == "oidc" {
                "SAML"
            } else {
                "OIDC"
            };
            sink.error(
                Pos::of(key.span()),
                &join(path, key.as_str()),
                format!(
                    "`{}` is a key of {other} apps, and this app says `protocol: {protocol_name}`",
                    key.as_str()
                ),
            );
        }
    }
    let id = m.req_string(sink, "id", "the app instance id, e.g. 0oa1qovery");
    let id = slug(sink, id);
    let name = m.string(sink, "name");
    let name = slug(sink, name);
    let protocol = m.req_string(sink, "protocol", "`saml` or `oidc`");
    let kind = if protocol.as_ref().is_some_and(|p| p.value == "saml") {
        crate::flavor::TokenKind::Saml
    } else {
        crate::flavor::TokenKind::Jwt
    };
    let groups = m
        .get("groups")
        .and_then(|n| groups(sink, n, &m.key_path("groups"), declared, kind));
    if let (None, Some(_), Some(id)) = (&groups, m.get("groups"), &id) {
        declared.apps_with_bad_groups.push(id.value.clone());
    }
    // The SP's metadata fills SAML keys, `logout` among them; read before them.
    let imported = match protocol.as_ref().map(|p| p.value.as_str()) {
        Some("saml") => sp_metadata::load(sink, &m, base_dir),
        _ => None,
    };
    let logout = match m.get("logout") {
        Some(n) => logout(sink, n, &m.key_path("logout"), imported.as_ref()),
        None => imported
            .as_ref()
            .and_then(|i| i.meta.slo.as_ref())
            .map(|slo| Logout {
                slo_url: slo.url.clone(),
            }),
    };
    let app_id = id.as_ref().map(|i| i.value.as_str());
    let gtr = m
        .get("global_token_revocation")
        .and_then(|n| revocation(sink, n, &m.key_path("global_token_revocation")));
    let protocol = match protocol {
        Some(p) if p.value == "saml" => {
            saml::saml_app(sink, &m, app_id, base_dir, declared, imported.as_ref())
        }
        Some(p) if p.value == "oidc" => oidc::oidc_app(sink, &m, base_dir),
        Some(p) => {
            sink.error(
                p.pos,
                &p.path,
                format!("unknown protocol `{}`; expected `saml` or `oidc`", p.value),
            );
            None
        }
        None => None,
    };
    let id = id?;
    Some((
        App {
            name: name.map(|n| n.value).unwrap_or_else(|| id.value.clone()),
            id: id.value.clone(),
            protocol: protocol?,
            groups,
            logout,
            global_token_revocation: gtr,
            pos: m.pos,
        },
        id,
    ))
}

pub(super) fn user_field(sink: &mut Sink, s: At<String>) -> Option<UserField> {
    match UserField::parse(&s.value) {
        Some(f) => Some(f),
        None => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "`{}` is not a user field; expected user.id, user.login, user.email, user.name or user.<attribute>",
                    s.value
                ),
            );
            None
        }
    }
}

/// `name_id`: `format` and `value`. The value is one of Okta's "Application username" words
/// (`okta_username`, `email`, `email_prefix`, `custom` with `expression`) or, as files written
/// before those words say, a user field (`user.email`). Okta's field reference
/// (help.okta.com, "Application Integration Wizard SAML field reference", Application
/// username: "The default value to use for a user's app username") offers Okta username,
/// Email, Email prefix and Custom, among others; fakta's Custom is a template, not Okta's
/// expression language: only `${user.field}` and text, so nothing in a file is evaluated.
pub(super) fn name_id(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    declared: &Declared,
) -> Option<NameIdSpec> {
    let m = Map::new(sink, node, path, &["format", "value", "expression"])?;
    let formats: Vec<(&str, NameIdFormat)> =
        NameIdFormat::ALL.iter().map(|f| (f.name(), *f)).collect();
    let format = m
        .choice(sink, "format", &formats)
        .map(|f| f.value)
        .unwrap_or(NameIdFormat::Unspecified);
    let expression = m.string(sink, "expression");
    let value = match m.string(sink, "value") {
        Some(s) if s.value == "okta_username" => NameIdValue::Field(UserField::Login),
        Some(s) if s.value == "email" => NameIdValue::Field(UserField::Email),
        Some(s) if s.value == "email_prefix" => {
            if format == NameIdFormat::EmailAddress {
                not_an_email(sink, &s, "`email_prefix` is the email up to its `@`");
            }
            NameIdValue::EmailPrefix
        }
        Some(s) if s.value == "custom" => {
            let Some(e) = expression else {
                sink.error(
                    s.pos,
                    &s.path,
                    "`value: custom` needs `expression`, a template such as `${user.login}@corp.example`",
                );
                return None;
            };
            let t = template(sink, e.clone(), declared)?;
            let has_email = t.fields().any(|f| *f == UserField::Email)
                || t.0
                    .iter()
                    .any(|p| matches!(p, TemplatePart::Text(x) if x.contains('@')));
            if format == NameIdFormat::EmailAddress && !has_email {
                not_an_email(sink, &e, "this template has no `@` and no user.email");
            }
            return Some(NameIdSpec {
                format,
                value: NameIdValue::Custom(t),
            });
        }
        Some(s) if s.value.starts_with("user.") => NameIdValue::Field(user_field(sink, s)?),
        Some(s) => {
            sink.error(
                s.pos,
                &s.path,
                format!(
                    "unknown value `{}`; expected `okta_username`, `email`, `email_prefix`, `custom` (with `expression`) or a user field such as `user.id`",
                    s.value
                ),
            );
            return None;
        }
        None => NameIdValue::Field(UserField::Email),
    };
    if let Some(e) = expression {
        sink.error(
            e.pos,
            &e.path,
            "`expression` is read only with `value: custom`",
        );
    }
    Some(NameIdSpec { format, value })
}

/// `format: email_address` with a value that is no email address: SAML Core 8.3.2 says the
/// value is an addr-spec (RFC 2822), and an SP reading the format may refuse or misfile it.
fn not_an_email(sink: &mut Sink, at: &At<String>, why: &str) {
    sink.warning(
        at.pos,
        &at.path,
        format!(
            "the NameID format is email_address, but {why}: the value is no email address (SAML Core 8.3.2)"
        ),
    );
}

/// A custom NameID template: its syntax, then every `user.<attribute>` it names must be an
/// attribute some user of the directory has (a typo would otherwise send every NameID as the
/// email fallback).
fn template(sink: &mut Sink, e: At<String>, declared: &Declared) -> Option<Template> {
    let t = match Template::parse(&e.value) {
        Ok(t) => t,
        Err(err) => {
            sink.error(e.pos, &e.path, format!("in `{}`: {err}", e.value));
            return None;
        }
    };
    let mut ok = true;
    if let Some(known) = &declared.user_attributes {
        for f in t.fields() {
            if let UserField::Extra(k) = f {
                if !known.contains(k) {
                    let names: Vec<String> = known.iter().map(|k| format!("user.{k}")).collect();
                    sink.error(
                        e.pos,
                        &e.path,
                        format!(
                            "`{f}` is not a field of any user: the directory's users have user.id, user.login, user.email, user.name{}",
                            if names.is_empty() {
                                String::new()
                            } else {
                                format!(", {}", names.join(", "))
                            }
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    ok.then_some(t)
}

pub(super) fn attribute_statements(
    sink: &mut Sink,
    node: &Node,
    path: &str,
) -> Vec<(String, UserField)> {
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
        if let Some(field) = reader::string(sink, v, &p).and_then(|s| user_field(sink, s)) {
            out.push((k.as_str().to_owned(), field));
        }
    }
    out
}

fn groups(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    declared: &Declared,
    kind: crate::flavor::TokenKind,
) -> Option<GroupStatement> {
    let m = Map::new(
        sink,
        node,
        path,
        &["attribute", "filter", "when_none", "full_path"],
    )?;
    let vendor = declared.vendor();
    let default_attribute = vendor.default_group_attribute(kind);
    // Keycloak's Group Membership mapper "Full group path" (on unless set).
    let full_path = match (m.bool(sink, "full_path"), m.get("full_path")) {
        (Some(_), Some(n)) if !vendor.group_paths() => {
            sink.error(
                Pos::of(n.span()),
                &m.key_path("full_path"),
                "`full_path` is Keycloak's \"Full group path\": only an `idp.flavor: keycloak` file sets it",
            );
            true
        }
        (Some(b), _) => b,
        _ => true,
    };
    if let Some(why) = vendor.no_groups(kind) {
        sink.error(Pos::of(node.span()), path, why);
        return None;
    }
    // `groups` (Okta), or the vendor's name for it (Entra's SAML claim URI).
    let named = m.string(sink, "attribute");
    let at = named.as_ref().map_or(Pos::of(node.span()), |s| s.pos);
    let attribute = named
        .map(|s| s.value)
        .unwrap_or_else(|| default_attribute.to_owned());
    if let Some(why) = vendor.refuses_group_claim(kind, &attribute) {
        sink.error(at, &m.key_path("attribute"), why);
        return None;
    }
    let when_none = m
        .choice(
            sink,
            "when_none",
            &[("absent", WhenNone::Absent), ("empty", WhenNone::Empty)],
        )
        .map(|w| w.value)
        .unwrap_or(WhenNone::Absent);
    let filter = match m.get("filter") {
        Some(n) => group_filter(sink, n, &m.key_path("filter"))?,
        None => GroupFilter::regex(".*").ok()?,
    };
    Some(GroupStatement {
        attribute,
        filter,
        when_none,
        full_path,
    })
}

fn group_filter(sink: &mut Sink, node: &Node, path: &str) -> Option<GroupFilter> {
    let (kind, s) = one_of(
        sink,
        node,
        path,
        &["regex", "starts_with", "equals", "contains"],
    )?;
    Some(match kind {
        "regex" => match GroupFilter::regex(&s.value) {
            Ok(f) => f,
            Err(e) => {
                sink.error(s.pos, &s.path, regex_error(&s.value, &e));
                return None;
            }
        },
        "starts_with" => GroupFilter::StartsWith(s.value),
        "equals" => GroupFilter::Equals(s.value),
        _ => GroupFilter::Contains(s.value),
    })
}

fn logout(sink: &mut Sink, node: &Node, path: &str, imported: Option<&Imported>) -> Option<Logout> {
    let m = Map::new(sink, node, path, &["slo_url"])?;
    let slo = m.req_string(sink, "slo_url", "the SP's Single Logout URL")?;
    let at = (slo.pos, slo.path.clone());
    let slo_url = url(sink, slo)?;
    if let Some((i, there)) = imported.and_then(|i| Some((i, &i.meta.slo.as_ref()?.url))) {
        if *there != slo_url {
            let here = At {
                value: (),
                pos: at.0,
                path: at.1,
            };
            i.disagree(sink, &here, "slo_url", slo_url.as_str(), there.as_str());
        }
    }
    Some(Logout { slo_url })
}

fn revocation(sink: &mut Sink, node: &Node, path: &str) -> Option<GlobalTokenRevocation> {
    let m = Map::new(sink, node, path, &["endpoint", "subject_format"])?;
    let endpoint = m
        .req_string(
            sink,
            "endpoint",
            "the SP's Global Token Revocation endpoint URL",
        )
        .and_then(|s| url(sink, s));
    let subject_format = m
        .choice(
            sink,
            "subject_format",
            &[
                ("iss_sub", SubjectFormat::IssSub),
                ("email", SubjectFormat::Email),
            ],
        )
        .map(|f| f.value)
        .unwrap_or(SubjectFormat::IssSub);
    Some(GlobalTokenRevocation {
        endpoint: endpoint?,
        subject_format,
    })
}
