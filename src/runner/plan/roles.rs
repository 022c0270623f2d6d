//! The honest logins (L0) and the role matrix (R1-R8), from the file's `expectations`.

use std::sync::Arc;

use super::{TrialSpec, expect_role, login, sanitize, sent_name};
use crate::config::SessionExpectation;
use crate::config::{
    App, Connection, Emit, Expectations, LoginFrom, LoginOutcome, Step, User, UserField,
};
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
            let exp = oracle::by_name(exp, &conn.directory);
            let e = oracle::expected_role(&exp, app.groups.as_ref(), &base.groups, false);
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
        binding: None,
        post_logout_state: None,
        rotation_check: None,
        ignored: None,
    };
    let mut out = vec![spec("honest_login", then(login(LoginOutcome::Accepted)))];
    // Started from the IdP: SAML's unsolicited Response, or an OIDC app's tile sending the
    // browser to its initiate login URI (OIDC Core §4, third-party-initiated login).
    if app.saml().is_some_and(|s| s.allow_idp_initiated)
        || app.oidc().is_some_and(|o| o.initiate_login_uri.is_some())
    {
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
    let exp = &oracle::by_name(exp, &conn.directory);
    let mut m = Matrix {
        pack,
        conn,
        app,
        exp,
        base,
        out: Vec::new(),
    };
    let passing_mapped = m.mapping_trials();
    m.default_role_trials();
    m.precedence_trial(&passing_mapped);
    m.resync_trial(&passing_mapped);
    m.profile_trials();
    m.out
}

/// The role matrix being built: the first user of the directory, the target app and the
/// file's expectations.
struct Matrix<'a> {
    pack: &'a str,
    conn: &'a Arc<Connection>,
    app: &'a App,
    exp: &'a Expectations,
    base: &'a User,
    out: Vec<TrialSpec>,
}

impl Matrix<'_> {
    fn role_for(&self, groups: &[String], omitted: bool) -> String {
        oracle::expected_role(self.exp, self.app.groups.as_ref(), groups, omitted).role
    }

    fn add(
        &mut self,
        id: &str,
        name: String,
        groups: Option<Vec<String>>,
        emit: Emit,
        steps: Vec<Step>,
    ) {
        let statement = self.app.groups.as_ref();
        let user_groups = groups.clone().unwrap_or_else(|| self.base.groups.clone());
        let omitted = statement.is_some_and(|g| emit.omit_attributes.contains(&g.attribute));
        let why = oracle::expected_role(self.exp, statement, &user_groups, omitted).derivation;
        self.out.push(TrialSpec {
            name: format!("{}::{id}_{name}", self.pack),
            conn: self.conn.clone(),
            app: self.app.id.clone(),
            user: self.base.id.clone(),
            emit,
            groups,
            steps,
            why: Some(why),
            isolate: false,
            saml_fault: None,
            oidc_fault: None,
            binding: None,
            post_logout_state: None,
            rotation_check: None,
            ignored: None,
        });
    }

    /// A login with `groups` at the IdP, expecting the role the oracle derives.
    fn add_role(&mut self, id: &str, name: String, groups: Vec<String>) {
        let expected = self.role_for(&groups, false);
        self.add(
            id,
            name,
            Some(groups),
            Emit::default(),
            vec![login(LoginOutcome::Accepted), expect_role(&expected)],
        );
    }

    /// R1 (sync on, the mapped group passes the filter), R2 (hidden by the filter), R3 (sync
    /// off), one per mapping; returns the (role, group) pairs that pass the filter with sync on.
    fn mapping_trials(&mut self) -> Vec<(String, String)> {
        let statement = self.app.groups.as_ref();
        let mut passing_mapped = Vec::new();
        for (role, groups) in &self.exp.group_mappings {
            let Some(g) = groups.first() else { continue };
            let (id, name) = if !statement.is_some_and(|s| s.filter.passes(g)) {
                let name = format!("{}_group_{}_hidden_by_filter", sanitize(role), sanitize(g));
                ("R2", name)
            } else if self.exp.enforce_group_sync {
                passing_mapped.push((role.clone(), g.clone()));
                ("R1", format!("{}_from_{}", sanitize(role), sanitize(g)))
            } else {
                ("R3", format!("sync_off_ignores_{}", sanitize(role)))
            };
            self.add_role(id, name, vec![g.clone()]);
        }
        passing_mapped
    }

    /// R2: a user in no mapped group, and a login without the groups attribute.
    fn default_role_trials(&mut self) {
        self.add_role(
            "R2",
            "no_mapping".into(),
            vec!["fakta-unmapped-group".to_owned()],
        );
        if let Some(attr) = self.app.groups.as_ref().map(|g| g.attribute.clone()) {
            let expected = self.role_for(&self.base.groups, true);
            self.add(
                "R2",
                "no_groups_attribute".into(),
                None,
                Emit {
                    omit_attributes: vec![attr],
                    ..Default::default()
                },
                vec![login(LoginOutcome::Accepted), expect_role(&expected)],
            );
        }
    }

    /// R4: a user in several mapped groups, lowest precedence first, so that an SP taking the
    /// first mapped group is caught.
    fn precedence_trial(&mut self, passing_mapped: &[(String, String)]) {
        if passing_mapped.len() < 2 {
            return;
        }
        let rank = |r: &str| {
            self.exp
                .role_precedence
                .iter()
                .position(|x| x == r)
                .unwrap_or(usize::MAX)
        };
        let mut by_rank = passing_mapped.to_vec();
        by_rank.sort_by_key(|(r, _)| std::cmp::Reverse(rank(r)));
        let groups: Vec<String> = by_rank.into_iter().map(|(_, g)| g).collect();
        self.add_role("R4", "precedence".into(), groups);
    }

    /// R5: the mapped group removed at the IdP, then a new login: the role is downgraded.
    fn resync_trial(&mut self, passing_mapped: &[(String, String)]) {
        let Some((role, g)) = passing_mapped
            .iter()
            .find(|(r, _)| *r != self.exp.default_role)
        else {
            return;
        };
        let after = self.role_for(&[], false);
        self.add(
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

    /// R7 (no email: refused) and R8 (no name: refused, or accepted with `require_name: false`).
    fn profile_trials(&mut self) {
        let omit = |field: UserField, default: &str| Emit {
            omit_attributes: vec![sent_name(self.app, &field, default)],
            ..Default::default()
        };
        let (no_email, no_name) = (
            omit(UserField::Email, "email"),
            omit(UserField::Name, "name"),
        );
        self.add(
            "R7",
            "missing_email_refused".into(),
            None,
            no_email,
            vec![login(LoginOutcome::Rejected)],
        );
        let (name, expect) = if self.exp.require_name {
            ("missing_name_refused", LoginOutcome::Rejected)
        } else {
            ("missing_name_accepted", LoginOutcome::Accepted)
        };
        self.add("R8", name.into(), None, no_name, vec![login(expect)]);
    }
}
