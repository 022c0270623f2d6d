//! The flavor trials (F1-F3, docs/catalogue.md): what breaks when the same SP meets another
//! IdP vendor's shapes. Planned only for a file whose `idp.flavor` is not Okta.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{TrialSpec, login, sanitize, sent_name};
use crate::config::{
    Connection, Emit, ExpectedValue, LoginOutcome, SessionExpectation, Step, UserField,
};
use crate::flavor::{Flavor, TokenKind};
use crate::runner::oracle;

/// F1 and F3 for the target app, or nothing for an Okta file.
pub fn flavor_pack(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    if conn.idp.flavor == Flavor::Okta {
        return Vec::new();
    }
    let mut out = Vec::new();
    out.extend(overage(pack, conn));
    out.extend(group_path(pack, conn));
    out.extend(claim_names(pack, conn));
    out
}

fn spec(pack: &str, conn: &Arc<Connection>, name: String, user: &str) -> TrialSpec {
    let app = conn
        .target
        .as_ref()
        .map(|t| t.app.clone())
        .unwrap_or_default();
    TrialSpec {
        name: format!("{pack}::{name}"),
        conn: conn.clone(),
        app,
        user: user.to_owned(),
        emit: Emit::default(),
        groups: None,
        steps: Vec::new(),
        why: None,
        isolate: false,
        saml_fault: None,
        oidc_fault: None,
        binding: None,
        post_logout_state: None,
        ignored: None,
        rotation_check: None,
    }
}

/// F1: the user is in a mapped group and in more groups than the vendor puts in a token, so
/// the token carries the overage (Entra: no groups, a link to fetch them). The SP must fetch
/// them and give the mapped role, or refuse the login; the default role, as if the user had no
/// groups, fails.
fn overage(pack: &str, conn: &Arc<Connection>) -> Option<TrialSpec> {
    let target = conn.target.as_ref()?;
    let app = conn.app(&target.app)?;
    let exp = oracle::by_name(conn.expectations.as_ref()?, &conn.directory);
    let base = conn.directory.users.first()?;
    let vendor = conn.idp.vendor();
    let kind = if app.saml().is_some() {
        TokenKind::Saml
    } else {
        TokenKind::Jwt
    };
    let limit = vendor.overage_limit(kind)?;
    vendor.overage_link(&conn.idp, base)?;
    let statement = app.groups.as_ref()?;
    let (role, group) = mapped_group(&exp, statement)?;
    let mut t = spec(
        pack,
        conn,
        format!("F1_overage_{}_fetched_or_refused", sanitize(&role)),
        &base.id,
    );
    // The mapped group first, then enough other groups that pass the app's filter to go over
    // the vendor's limit.
    let mut groups = vec![group.clone()];
    groups.extend((1..=limit).map(|i| format!("{group}-overage-{i:03}")));
    let passing = groups.iter().filter(|g| statement.filter.passes(g)).count();
    if passing <= limit {
        t.ignored = Some(format!(
            "the app's group filter ({}) lets through {passing} of the {} groups fakta makes for the trial, not more than {} sends ({limit})",
            statement.filter,
            groups.len(),
            conn.idp.flavor.title(),
        ));
    }
    if !exp.enforce_group_sync {
        t.ignored =
            Some("group sync is off: the SP gives the default role whatever the groups".into());
    }
    let mut values = BTreeMap::new();
    values.insert("role".to_owned(), ExpectedValue::One(role.clone()));
    t.why = Some(format!(
        "groups [{group}, +{limit} more] -> over {}'s limit of {limit} -> overage, no groups in the token -> fetched: mapping {role} (group {group}), or the login refused",
        conn.idp.flavor.title()
    ));
    t.steps = vec![
        login(LoginOutcome::Either),
        Step::Expect(SessionExpectation {
            values,
            only_if_signed_in: true,
            ..Default::default()
        }),
    ];
    t.groups = Some(groups);
    Some(t)
}

/// A role other than the default and the first group mapped to it, when the app's filter lets
/// that group through: what F1 and F2 send.
fn mapped_group(
    exp: &crate::config::Expectations,
    statement: &crate::config::GroupStatement,
) -> Option<(String, String)> {
    exp.group_mappings.iter().find_map(|(role, groups)| {
        let g = groups.first()?;
        (*role != exp.default_role && statement.filter.passes(g)).then(|| (role.clone(), g.clone()))
    })
}

/// F2: a user in a mapped group, sent as its full path (Keycloak's `/Qovery-Admins`, the Group
/// Membership mapper with "Full group path" on) to an SP whose mappings name the group: the
/// SP, connected to Keycloak, must map the path like the name. When the app's mapper already
/// sends full paths, the role matrix checks that (the trial is listed ignored).
fn group_path(pack: &str, conn: &Arc<Connection>) -> Option<TrialSpec> {
    let target = conn.target.as_ref()?;
    let app = conn.app(&target.app)?;
    if !conn.idp.vendor().group_paths() {
        return None;
    }
    let exp = oracle::by_name(conn.expectations.as_ref()?, &conn.directory);
    let base = conn.directory.users.first()?;
    let statement = app.groups.as_ref()?;
    let (role, group) = mapped_group(&exp, statement)?;
    let mut t = spec(
        pack,
        conn,
        format!("F2_group_path_maps_like_its_name_{}", sanitize(&role)),
        &base.id,
    );
    if statement.full_path {
        t.ignored = Some(
            "the app's mapper already sends full paths (`groups.full_path` is on): the role matrix (R1) checks them"
                .into(),
        );
    }
    if !exp.enforce_group_sync {
        t.ignored =
            Some("group sync is off: the SP gives the default role whatever the groups".into());
    }
    let path = conn.idp.vendor().group_value(&conn.directory, &group, true);
    t.why = Some(format!(
        "groups [{group}] -> sent as the full path {path} -> the group {group} -> mapping {role}"
    ));
    t.emit = Emit {
        full_group_paths: true,
        ..Emit::default()
    };
    t.groups = Some(vec![group]);
    t.steps = vec![login(LoginOutcome::Accepted), super::expect_role(&role)];
    Some(t)
}

/// F3: a user whose username (the vendor's NameID / `preferred_username`, Entra's UPN) is not
/// their email: the SP must show the email from the vendor's email attribute or claim.
fn claim_names(pack: &str, conn: &Arc<Connection>) -> Option<TrialSpec> {
    let target = conn.target.as_ref()?;
    let app = conn.app(&target.app)?;
    let reads_email = target.session.read.contains_key("email");
    let user = conn.directory.users.iter().find(|u| u.login != u.email);
    let email_attr = sent_name(app, &UserField::Email, "email");
    let mut t = spec(
        pack,
        conn,
        "F3_email_from_the_email_claim".to_owned(),
        user.map_or("", |u| u.id.as_str()),
    );
    match (user, reads_email) {
        (Some(u), true) => {
            let mut values = BTreeMap::new();
            values.insert("email".to_owned(), ExpectedValue::One(u.email.clone()));
            t.why = Some(format!(
                "user {} signs in as {}; the email is sent in `{email_attr}`: {}",
                u.id, u.login, u.email
            ));
            t.steps = vec![
                login(LoginOutcome::Accepted),
                Step::Expect(SessionExpectation {
                    session: Some(crate::config::SessionState::Active),
                    values,
                    ..Default::default()
                }),
            ];
        }
        (None, _) => {
            t.ignored = Some(
                "no user of the directory has a login (the vendor's username) other than their email"
                    .into(),
            );
        }
        (_, false) => {
            t.ignored = Some("target.session.read has no `email` to compare".into());
        }
    }
    Some(t)
}
