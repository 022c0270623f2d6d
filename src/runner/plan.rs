//! Which trials a connection file yields: its own scenarios, and the role matrix generated from
//! its `expectations` (no scenario written by hand), each named `<pack>::<id>_<name>`.

use std::sync::Arc;

use super::oracle;

mod attacks;
mod binding;
mod flavor;
mod logout;
mod revocation;
mod roles;

use crate::config::{
    App, Connection, Emit, ExpectedValue, LoginFrom, LoginOutcome, SessionExpectation,
    SessionState, Step, UserField,
};
pub use attacks::attack_pack;
pub use binding::binding_pack;
pub use logout::logout_pack;
pub use revocation::revocation_pack;
pub use roles::{honest_logins, role_matrix};

/// One trial to run.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// `<pack>::<id>_<name>`.
    pub name: String,
    pub conn: Arc<Connection>,
    pub app: String,
    /// The user's id.
    pub user: String,
    pub emit: Emit,
    /// The user's groups at the IdP for this trial (None: as in the directory).
    pub groups: Option<Vec<String>>,
    pub steps: Vec<Step>,
    /// Why the expected role is what it is.
    pub why: Option<String>,
    /// Users get identities of their own in this trial (revocation and logout trials, whose
    /// "end every session of this user" must not reach other trials).
    pub isolate: bool,
    /// The attack the IdP applies to this trial's logins.
    pub saml_fault: Option<crate::saml::faults::Fault>,
    pub oidc_fault: Option<crate::oidc::faults::Fault>,
    /// The session-binding attack the runner makes in this trial's login (O15-O17, O20, S26).
    pub binding: Option<super::binding::BindingAttack>,
    /// What the IdP's end_session does with the state it returns to the RP (G3's variants).
    pub post_logout_state: Option<crate::oidc::logout::PostLogoutState>,
    /// Why the trial cannot run on this file (listed as ignored with the reason, never
    /// dropped).
    pub ignored: Option<String>,
    /// O26: the refreshes the SP is made to do after the honest login (rotating refresh
    /// tokens).
    pub rotation_check: Option<RotationCheck>,
}

/// O26: how often a trial makes the SP refresh after its honest login, with the app's refresh
/// tokens rotating (`target.refresh_url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationCheck {
    /// The honest twin: one refresh, which presents the login's token; the session stays.
    Once,
    /// Two refreshes: the second must present the token the first one returned (RFC 6749 §6),
    /// and the session stays.
    Twice,
}

impl TrialSpec {
    /// Whether the trial passes by a refusal that needs no earlier accepted login of its own:
    /// such a pass means something only when the honest login works ("cannot judge" else).
    pub fn rests_on_a_refusal(&self) -> bool {
        for step in &self.steps {
            match step {
                Step::Login {
                    expect: LoginOutcome::Accepted,
                    ..
                } => return false,
                Step::Login { .. } | Step::Replay => return true,
                _ => {}
            }
        }
        false
    }

    /// Whether the trial sends something forged (a login fault, a faulty revocation or logout,
    /// a login the SP must refuse).
    pub fn is_fault_trial(&self) -> bool {
        self.saml_fault.is_some()
            || self.oidc_fault.is_some()
            || self.binding.is_some()
            || self.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::Revoke { fault: Some(_), .. }
                        | Step::Revoke {
                            expect_status: Some(400..),
                            ..
                        }
                        | Step::Logout { fault: Some(_), .. }
                        | Step::Replay
                        | Step::Login {
                            expect: LoginOutcome::Rejected,
                            ..
                        }
                )
            })
    }

    /// The case id (`S7`, `R4`, `L0`, ...): the name's first part after the pack.
    pub fn case(&self) -> &str {
        let id = self
            .name
            .split_once("::")
            .map(|(_, n)| n)
            .unwrap_or(&self.name);
        id.split('_').next().unwrap_or(id)
    }

    /// What this file cannot tell for this trial, if anything: a wrapping case (or O12) on a
    /// file that reads no identity from the session cannot tell "accepted, not fooled" from
    /// "fooled", so any session after the forgery reads as fooled.
    pub fn caveat(&self) -> Option<String> {
        let may_keep_honest = self.saml_fault.is_some_and(|f| f.wrapping())
            || self.oidc_fault == Some(crate::oidc::faults::Fault::UserinfoSubDiffers);
        let reads_identity = self.conn.target.as_ref().is_some_and(|t| {
            super::exec::IDENTITY_READERS
                .iter()
                .any(|k| t.session.read.contains_key(*k))
        });
        if may_keep_honest && !reads_identity {
            return Some(
                "the file reads no identity from the session (add target.session.read.email or \
.subject): an SP that kept the signed identity cannot be told from one that was fooled, so any \
session after this forgery fails the trial"
                    .to_owned(),
            );
        }
        let left_to_tls =
            self.oidc_fault.is_some_and(|f| f.in_signature())
                && self.conn.target.as_ref().is_some_and(|t| {
                    !t.verifies_id_token_signature && !t.response_type.has_id_token()
                });
        left_to_tls.then(|| {
            "the forgery is in the id_token from the token endpoint, whose signature OpenID \
Connect Core §3.1.3.7 step 6 lets the SP leave to TLS: a refusal passes, an acceptance is not \
judged (set target.verifies_id_token_signature: true if the SP checks it)"
                .to_owned()
        })
    }

    /// The honest login this trial's refusal is judged against: the same app and user, no
    /// fault, nothing left out.
    pub fn honest_twin(&self) -> TrialSpec {
        let pack = self.name.split_once("::").map(|(p, _)| p).unwrap_or("");
        // A forged launch's twin is the honest launch (L0_idp_initiated_login).
        let (name, first) = if self.oidc_fault.is_some_and(|f| f.at_launch()) {
            (
                "L0_idp_initiated_login",
                Step::Login {
                    expect: LoginOutcome::Accepted,
                    from: LoginFrom::Idp,
                    browser: "main".into(),
                    user: None,
                },
            )
        } else {
            ("L0_honest_login", login(LoginOutcome::Accepted))
        };
        TrialSpec {
            name: format!("{pack}::{name} (the honest twin)"),
            emit: Emit::default(),
            groups: None,
            steps: vec![first],
            why: None,
            isolate: false,
            saml_fault: None,
            oidc_fault: None,
            binding: None,
            post_logout_state: None,
            rotation_check: None,
            ignored: None,
            ..self.clone()
        }
    }
}

pub(super) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub(super) fn expect_role(role: &str) -> Step {
    let mut e = SessionExpectation {
        session: Some(SessionState::Active),
        ..Default::default()
    };
    e.values
        .insert("role".into(), ExpectedValue::One(role.to_owned()));
    Step::Expect(e)
}

pub(super) fn login(expect: LoginOutcome) -> Step {
    Step::Login {
        expect,
        from: LoginFrom::Sp,
        browser: "main".into(),
        user: None,
    }
}

/// The name under which the app sends a user field (SAML attribute or OIDC claim).
pub fn sent_name(app: &App, field: &UserField, default: &str) -> String {
    let found = match (app.saml(), app.oidc()) {
        (Some(s), _) => s
            .attributes
            .iter()
            .find(|a| a.field == *field)
            .map(|a| a.name.clone()),
        (_, Some(o)) => o
            .claims
            .iter()
            .find(|(_, f)| f == field)
            .map(|(n, _)| n.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| default.to_owned())
}

/// Every trial of a pack: the file's scenarios, the role matrix, the revocation and logout
/// packs, and the attack pack when the target asks for it (`attacks: true`) or `attacks` is set.
pub fn plan(pack: &str, conn: Arc<Connection>, attacks: bool) -> Vec<TrialSpec> {
    let mut out = Vec::new();
    for s in &conn.scenarios {
        let Some(app) = s
            .app
            .clone()
            .or_else(|| conn.target.as_ref().map(|t| t.app.clone()))
        else {
            continue;
        };
        let Some(user) = conn.user(&s.user) else {
            continue;
        };
        let why = match (&conn.expectations, conn.app(&app)) {
            (Some(exp), Some(a)) => {
                let omitted = a
                    .groups
                    .as_ref()
                    .is_some_and(|g| s.emit.omit_attributes.contains(&g.attribute));
                let exp = oracle::by_name(exp, &conn.directory);
                Some(
                    oracle::expected_role(&exp, a.groups.as_ref(), &user.groups, omitted)
                        .derivation,
                )
            }
            _ => None,
        };
        out.push(TrialSpec {
            name: format!("{pack}::{}", s.name),
            conn: conn.clone(),
            app,
            user: user.id.clone(),
            emit: s.emit.clone(),
            groups: None,
            steps: s.steps.clone(),
            why,
            isolate: s
                .steps
                .iter()
                .any(|st| matches!(st, Step::Revoke { .. } | Step::Logout { .. })),
            saml_fault: None,
            oidc_fault: None,
            binding: None,
            post_logout_state: None,
            rotation_check: None,
            ignored: None,
        });
    }
    let mut generated = honest_logins(pack, &conn);
    generated.extend(role_matrix(pack, &conn));
    generated.extend(flavor::flavor_pack(pack, &conn));
    generated.extend(revocation_pack(pack, &conn));
    generated.extend(logout_pack(pack, &conn));
    if attacks || conn.target.as_ref().is_some_and(|t| t.attacks) {
        generated.extend(attack_pack(pack, &conn));
        generated.extend(binding_pack(pack, &conn));
    }
    // A scenario of the file named like a generated trial replaces it: one trial per name.
    let written: std::collections::BTreeSet<String> = out.iter().map(|t| t.name.clone()).collect();
    out.extend(generated.into_iter().filter(|t| !written.contains(&t.name)));
    out
}
