//! Cross-checks between sections, made after every section has been read: settings that
//! contradict another section (errors), and files that are valid but say something they cannot
//! mean (warnings, lint findings).

use super::tree::Node;

use super::load::{Declared, MappingAt};
use super::model::*;
use super::reader::{Map, Pos, Sink, join};

/// `recipient_url` / `destination_url` apart from `acs_url` is what Okta allows ("Use this
/// for Recipient URL and Destination URL" cleared), but an SP checks the bearer Recipient
/// (SAML Profiles 4.1.4.3) and the Destination (SAML Core 3.2.2) against the ACS URL the
/// Response arrives at, so most SPs will refuse every login: a warning at the key.
pub(crate) fn recipient_and_destination(
    sink: &mut Sink,
    app: &Map<'_>,
    acs: &url::Url,
    recipient: &Option<url::Url>,
    destination: &Option<url::Url>,
) {
    for (key, what, rule, u) in [
        (
            "recipient_url",
            "Recipient",
            "SAML Profiles 4.1.4.3",
            recipient,
        ),
        (
            "destination_url",
            "Destination",
            "SAML Core 3.2.2",
            destination,
        ),
    ] {
        if u.as_ref().is_some_and(|u| u != acs) {
            sink.warning(
                app.key_pos(key),
                &app.key_path(key),
                format!(
                    "`{key}` differs from `acs_url` `{acs}`: an SP refuses a Response whose {what} is not the ACS URL it arrives at ({rule}), so logins to an SP that checks will fail"
                ),
            );
        }
    }
}

pub(super) fn expectations_without_target(sink: &mut Sink, top: &Map<'_>) {
    sink.warning(
        top.key_pos("expectations"),
        "expectations",
        "expectations without a `target`: no SP to check them against",
    );
}

/// `target.requires_signed_assertions` is about SAML assertions: an error for an OIDC app, and a
/// warning when the app is set to sign only the Response (then every honest login fails).
/// Without it, a hint when the app's SP metadata says `WantAssertionsSigned="true"` (the target
/// may be another SP than the metadata's, so it is not set from there).
/// `node` is the `target` mapping, for the key's position.
pub(super) fn signed_assertions(sink: &mut Sink, node: &Node, apps: &[App], target: &Target) {
    let Some(app) = apps.iter().find(|a| a.id == target.app) else {
        return;
    };
    let at = |key: &str| {
        let pos = node
            .as_mapping()
            .and_then(|m| m.keys().find(|k| k.as_str() == key))
            .map_or_else(|| Pos::of(node.span()), |k| Pos::of(k.span()));
        (pos, join("target", key))
    };
    if target.allows_sha1 && app.saml().is_none() {
        let (pos, path) = at("allows_sha1");
        sink.error(
            pos,
            &path,
            format!(
                "`allows_sha1` is about SAML signatures, and app `{}` is an OIDC app",
                app.id
            ),
        );
    }
    if target.verifies_id_token_signature && app.saml().is_some() {
        let (pos, path) = at("verifies_id_token_signature");
        sink.error(
            pos,
            &path,
            format!(
                "`verifies_id_token_signature` is about OIDC id_tokens, and app `{}` is a SAML app",
                app.id
            ),
        );
    }
    let key = "requires_signed_assertions";
    let (pos, path) = at(key);
    if !target.requires_signed_assertions {
        if let Some(source) = app
            .saml()
            .and_then(|s| s.metadata_wants_signed_assertions.as_ref())
        {
            sink.warning(
                pos,
                &path,
                format!(
                    "the SP's metadata of app `{}` ({source}) says WantAssertionsSigned=\"true\": if the SP under test is that SP, set `{key}: true` (the signed-Response variant of S1 then runs)",
                    app.id
                ),
            );
        }
        return;
    }
    match &app.protocol {
        Protocol::Oidc(_) => sink.error(
            pos,
            &path,
            format!(
                "`{key}` is for a SAML target, and app `{}` is an OIDC app",
                app.id
            ),
        ),
        Protocol::Saml(s) if s.sign == SignWhat::Response => sink.warning(
            pos,
            &path,
            format!(
                "the SP requires signed assertions, but app `{}` signs only the Response (`sign: response`): every login would be refused",
                app.id
            ),
        ),
        Protocol::Saml(_) => {}
    }
}

/// `target.response_type` is what the SP asks the IdP for: an OIDC setting, and one the app's
/// grant types must allow (Okta answers `unauthorized_client` otherwise: the implicit flow
/// needs "Implicit (hybrid)" ticked, the hybrid flow that and "Authorization Code"). An error
/// at the key, naming the grants that are missing; a warning there when an implicit response
/// type meets `target.refresh_url` (no refresh token to refresh with).
pub(super) fn response_type(sink: &mut Sink, node: &Node, apps: &[App], target: &Target) {
    let key = "response_type";
    let Some(k) = node
        .as_mapping()
        .and_then(|m| m.keys().find(|k| k.as_str() == key))
    else {
        return;
    };
    let Some(app) = apps.iter().find(|a| a.id == target.app) else {
        return;
    };
    let (pos, path) = (Pos::of(k.span()), join("target", key));
    let asked = target.response_type.name();
    let Some(oidc) = app.oidc() else {
        sink.error(
            pos,
            &path,
            format!(
                "`{key}` is about OIDC authorization requests, and app `{}` is a SAML app",
                app.id
            ),
        );
        return;
    };
    let missing: Vec<&str> = target
        .response_type
        .grants()
        .iter()
        .filter(|g| !oidc.grant_types.contains(g))
        .map(|g| g.name())
        .collect();
    if !missing.is_empty() {
        sink.error(
            pos,
            &path,
            format!(
                "response_type `{asked}` needs the grant type(s) {} on app `{}` (its grant_types: {}): the IdP would answer unauthorized_client",
                missing.join(", "),
                app.id,
                crate::oidc::grant_names(&oidc.grant_types)
            ),
        );
    }
    // The implicit flows redeem no code: no token response, so no refresh token to refresh
    // with. A warning, not an error: the file may serve other SPs too.
    if !target.response_type.has_code() && target.refresh_url.is_some() {
        sink.warning(
            pos,
            &path,
            format!(
                "response_type `{asked}` redeems no code, so the SP gets no refresh token: target.refresh_url goes unused, and O18, O19 and O26 are ignored"
            ),
        );
    }
}

/// A mapped group that the target app's group filter never emits makes its role unreachable.
/// Findings are placed at the role (no group is sent at all) or at the group that is never sent.
/// An app whose group statement is itself in error is left alone: that error says it all.
pub(super) fn lint_mappings(
    sink: &mut Sink,
    at: &[MappingAt],
    apps: &[App],
    declared: &Declared,
    target: &Target,
) {
    let Some(app) = apps.iter().find(|a| a.id == target.app) else {
        return;
    };
    if declared.apps_with_bad_groups.contains(&app.id) {
        return;
    }
    for m in at {
        let role = &m.role.value;
        match &app.groups {
            None => sink.warning(
                m.role.pos,
                &m.role.path,
                format!(
                    "app `{}` has no `groups` statement, so it never sends groups: role `{role}` can never be given by this mapping",
                    app.id
                ),
            ),
            Some(gs) => {
                // A mapping may name a group by the object id `directory.groups` gives it.
                let by_name = |g: &str| {
                    declared
                        .groups
                        .iter()
                        .find(|d| d.id.as_deref() == Some(g))
                        .map_or(g.to_owned(), |d| d.name.clone())
                };
                for g in m
                    .groups
                    .iter()
                    .filter(|g| !gs.filter.passes(&by_name(&g.value)))
                {
                    sink.warning(
                        g.pos,
                        &g.path,
                        format!(
                            "app `{}` never sends group `{}`: its group filter ({}) drops it, so this mapping to role `{role}` can never apply",
                            app.id, g.value, gs.filter
                        ),
                    );
                }
            }
        }
    }
}
