//! The honest logins (L0) and the role matrix (R1-R8), from the file's `expectations`.

use std::sync::Arc;

use super::{TrialSpec, expect_role, login, sanitize, sent_name};
use crate::config::SessionExpectation;
use crate::config::{Connection, Emit, LoginFrom, LoginOutcome, Step, UserField};
use crate::runner::oracle;

/// The honest logins (L0) every refusal trial is paired with: for every file with a target,
/// with or without `expectations` (with them, the expected role is checked too). The
/// identity the SP shows is checked against what the IdP asserted whenever the file reads one.
pub fn honest_logins(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    let Some(target) = &conn.target else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(base) = conn.directory.users.first() else {
        return Vec::new();
    };
    let (role, why) = match &conn.expectations {
        Some(exp) => {
            let e = oracle::expected_role(exp, app.groups.as_ref(), &base.groups, false);
            (Some(e.role), Some(e.derivation))
        }
        None => (None, None),
    };
    let then = |first: Step| {
        let mut steps = vec![first];
        match &role {
            Some(r) => steps.push(expect_role(r)),
            None => steps.push(Step::Expect(SessionExpectation {
                session: Some(crate::config::SessionState::Active),
                ..Default::default()
            })),
        }
        steps
    };
    let spec = |name: &str, steps: Vec<Step>| TrialSpec {
        name: format!("{pack}::L0_{name}"),
        conn: conn.clone(),
        app: app.id.clone(),
        user: base.id.clone(),
        emit: Emit::default(),
        groups: None,
        steps,
        why: why.clone(),
        isolate: false,
        saml_fault: None,
        oidc_fault: None,
        ignored: None,
    };
    let mut out = vec![spec("honest_login", then(login(LoginOutcome::Accepted)))];
    if app.saml().is_some_and(|s| s.allow_idp_initiated) {
        out.push(spec(
            "idp_initiated_login",
            then(Step::Login {
                expect: LoginOutcome::Accepted,
                from: LoginFrom::Idp,
                browser: "main".into(),
                user: None,
            }),
        ));
    }
    out
}

/// The role matrix (R1-R8, docs/catalogue.md) for the target app, from `expectations`.
pub fn role_matrix(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    let (Some(target), Some(exp)) = (&conn.target, &conn.expectations) else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(base) = conn.directory.users.first() else {
        return Vec::new();
    };
    let statement = app.groups.as_ref();
    let groups_attr = statement.map(|g| g.attribute.clone());
    let email_attr = sent_name(app, &UserField::Email, "email");
    let name_attr = sent_name(app, &UserField::Name, "name");
    let mut out = Vec::new();
    let mut add =
        |id: &str, name: String, groups: Option<Vec<String>>, emit: Emit, steps: Vec<Step>| {
            let user_groups = groups.clone().unwrap_or_else(|| base.groups.clone());
            let omitted = groups_attr
                .as_ref()
                .is_some_and(|a| emit.omit_attributes.contains(a));
            let why = oracle::expected_role(exp, statement, &user_groups, omitted).derivation;
            out.push(TrialSpec {
                name: format!("{pack}::{id}_{name}"),
                conn: conn.clone(),
                app: app.id.clone(),
                user: base.id.clone(),
                emit,
                groups,
                steps,
                why: Some(why),
                isolate: false,
                saml_fault: None,
                oidc_fault: None,
                ignored: None,
            });
        };
    let role_for = |groups: &[String], omitted: bool| {
        oracle::expected_role(exp, statement, groups, omitted).role
    };

    let passes = |g: &str| statement.is_some_and(|s| s.filter.passes(g));
    let mut passing_mapped: Vec<(String, String)> = Vec::new();
    for (role, groups) in &exp.group_mappings {
        let Some(g) = groups.first() else { continue };
        let groups = vec![g.clone()];
        let expected = role_for(&groups, false);
        let id = if !passes(g) {
            "R2"
        } else if exp.enforce_group_sync {
            passing_mapped.push((role.clone(), g.clone()));
            "R1"
        } else {
            "R3"
        };
        let name = match id {
            "R2" => format!("{}_group_{}_hidden_by_filter", sanitize(role), sanitize(g)),
            "R3" => format!("sync_off_ignores_{}", sanitize(role)),
            _ => format!("{}_from_{}", sanitize(role), sanitize(g)),
        };
        add(
            id,
            name,
            Some(groups),
            Emit::default(),
            vec![login(LoginOutcome::Accepted), expect_role(&expected)],
        );
    }
    let unmapped = vec!["fakta-unmapped-group".to_owned()];
    let expected = role_for(&unmapped, false);
    add(
        "R2",
        "no_mapping".into(),
        Some(unmapped),
        Emit::default(),
        vec![login(LoginOutcome::Accepted), expect_role(&expected)],
    );
    if let Some(attr) = &groups_attr {
        let emit = Emit {
            omit_attributes: vec![attr.clone()],
        };
        let expected = role_for(&base.groups, true);
        add(
            "R2",
            "no_groups_attribute".into(),
            None,
            emit,
            vec![login(LoginOutcome::Accepted), expect_role(&expected)],
        );
    }
    if passing_mapped.len() >= 2 {
        // Lowest precedence first, so an SP that takes the first mapped group is caught.
        let rank = |r: &str| {
            exp.role_precedence
                .iter()
                .position(|x| x == r)
                .unwrap_or(usize::MAX)
        };
        let mut by_rank = passing_mapped.clone();
        by_rank.sort_by_key(|(r, _)| std::cmp::Reverse(rank(r)));
        let groups: Vec<String> = by_rank.iter().map(|(_, g)| g.clone()).collect();
        let expected = role_for(&groups, false);
        add(
            "R4",
            "precedence".into(),
            Some(groups),
            Emit::default(),
            vec![login(LoginOutcome::Accepted), expect_role(&expected)],
        );
    }
    if let Some((role, g)) = passing_mapped.iter().find(|(r, _)| *r != exp.default_role) {
        let after = role_for(&[], false);
        add(
            "R5",
            "group_removed_then_login_again".into(),
            Some(vec![g.clone()]),
            Emit::default(),
            vec![
                login(LoginOutcome::Accepted),
                expect_role(role),
                Step::SetGroups { groups: Vec::new() },
                login(LoginOutcome::Accepted),
                expect_role(&after),
            ],
        );
    }
    add(
        "R7",
        "missing_email_refused".into(),
        None,
        Emit {
            omit_attributes: vec![email_attr],
        },
        vec![login(LoginOutcome::Rejected)],
    );
    if exp.require_name {
        add(
            "R8",
            "missing_name_refused".into(),
            None,
            Emit {
                omit_attributes: vec![name_attr],
            },
            vec![login(LoginOutcome::Rejected)],
        );
    } else {
        add(
            "R8",
            "missing_name_accepted".into(),
            None,
            Emit {
                omit_attributes: vec![name_attr],
            },
            vec![login(LoginOutcome::Accepted)],
        );
    }
    out
}
