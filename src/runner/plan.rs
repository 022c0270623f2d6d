//! Which trials a connection file yields: its own scenarios, and the role matrix generated from
//! its `expectations` (no scenario written by hand), each named `<pack>::<id>_<name>`.

use std::sync::Arc;

use super::oracle;
use crate::config::{
    App, Connection, Emit, ExpectedValue, LoginFrom, LoginOutcome, SessionExpectation,
    SessionState, Step, UserField,
};

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
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn expect_role(role: &str) -> Step {
    let mut e = SessionExpectation {
        session: Some(SessionState::Active),
        ..Default::default()
    };
    e.values
        .insert("role".into(), ExpectedValue::One(role.to_owned()));
    Step::Expect(e)
}

fn login(expect: LoginOutcome) -> Step {
    Step::Login {
        expect,
        from: LoginFrom::Sp,
        browser: "main".into(),
        user: None,
    }
}

/// The name under which the app sends a user field (SAML attribute or OIDC claim).
pub fn sent_name(app: &App, field: &UserField, default: &str) -> String {
    let statements = match (app.saml(), app.oidc()) {
        (Some(s), _) => &s.attributes,
        (_, Some(o)) => &o.claims,
        _ => return default.to_owned(),
    };
    statements
        .iter()
        .find(|(_, f)| f == field)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| default.to_owned())
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
                Some(
                    oracle::expected_role(exp, a.groups.as_ref(), &user.groups, omitted).derivation,
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
        });
    }
    out.extend(role_matrix(pack, &conn));
    out.extend(revocation_pack(pack, &conn));
    out.extend(logout_pack(pack, &conn));
    if attacks || conn.target.as_ref().is_some_and(|t| t.attacks) {
        out.extend(attack_pack(pack, &conn));
    }
    out
}

/// The role matrix (CONFORMANCE.md R1-R8) for the target app, from `expectations`.
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
            });
        };
    let role_for = |groups: &[String], omitted: bool| {
        oracle::expected_role(exp, statement, groups, omitted).role
    };

    // L0: the honest login every refusal trial is paired with.
    let honest = role_for(&base.groups, false);
    add(
        "L0",
        "honest_login".into(),
        None,
        Emit::default(),
        vec![login(LoginOutcome::Accepted), expect_role(&honest)],
    );
    if app.saml().is_some_and(|s| s.allow_idp_initiated) {
        add(
            "L0",
            "idp_initiated_login".into(),
            None,
            Emit::default(),
            vec![
                Step::Login {
                    expect: LoginOutcome::Accepted,
                    from: LoginFrom::Idp,
                    browser: "main".into(),
                    user: None,
                },
                expect_role(&honest),
            ],
        );
    }

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

/// A revocation or logout trial: the first user of the directory, with an identity of its own.
fn isolated_trial(
    pack: &str,
    conn: &Arc<Connection>,
    app: &str,
    user: &str,
    name: String,
    steps: Vec<Step>,
) -> TrialSpec {
    TrialSpec {
        name: format!("{pack}::{name}"),
        conn: conn.clone(),
        app: app.to_owned(),
        user: user.to_owned(),
        emit: Emit::default(),
        groups: None,
        steps,
        why: None,
        isolate: true,
        saml_fault: None,
        oidc_fault: None,
    }
}

fn revoke(fault: Option<crate::revocation::Fault>) -> Step {
    Step::Revoke {
        expect_status: None,
        fault,
        format: None,
    }
}

fn session(state: SessionState) -> Step {
    Step::Expect(SessionExpectation {
        session: Some(state),
        ..Default::default()
    })
}

/// Global Token Revocation trials (CONFORMANCE.md T1-T9) for a target app with an endpoint:
/// the honest request ends the session (and only that user's), every faulty one is refused and
/// the session survives.
pub fn revocation_pack(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    use crate::revocation::Fault;
    let Some(target) = &conn.target else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(g) = &app.global_token_revocation else {
        return Vec::new();
    };
    let (Some(main), other) = (conn.directory.users.first(), conn.directory.users.get(1)) else {
        return Vec::new();
    };
    let spec =
        |name: String, steps: Vec<Step>| isolated_trial(pack, conn, &app.id, &main.id, name, steps);
    let mut out = vec![spec(
        "T1_revocation_ends_the_session".into(),
        vec![
            login(LoginOutcome::Accepted),
            revoke(None),
            session(SessionState::Ended),
            Step::Expect(SessionExpectation {
                idp_session: Some(SessionState::Ended),
                ..Default::default()
            }),
        ],
    )];
    let email_supported = g.subject_format == crate::config::SubjectFormat::Email;
    out.push(spec(
        if email_supported {
            "T2_email_format_ends_the_session"
        } else {
            "T2_email_format_refused_when_unsupported"
        }
        .into(),
        vec![
            login(LoginOutcome::Accepted),
            Step::Revoke {
                expect_status: Some(if email_supported { 204 } else { 400 }),
                fault: None,
                format: Some(crate::config::SubjectFormat::Email),
            },
            session(if email_supported {
                SessionState::Ended
            } else {
                SessionState::Active
            }),
        ],
    ));
    for f in Fault::ALL {
        let steps = if *f == Fault::ReplayedJti {
            // The honest request ends the first session; the same request again must not end
            // the next one.
            vec![
                login(LoginOutcome::Accepted),
                revoke(None),
                session(SessionState::Ended),
                login(LoginOutcome::Accepted),
                revoke(Some(*f)),
                session(SessionState::Active),
            ]
        } else {
            vec![
                login(LoginOutcome::Accepted),
                revoke(Some(*f)),
                session(SessionState::Active),
            ]
        };
        out.push(spec(format!("{}_{}_refused", f.case(), f.name()), steps));
    }
    if let Some(other) = other {
        out.push(spec(
            "T9_other_users_keep_their_sessions".into(),
            vec![
                login(LoginOutcome::Accepted),
                Step::Login {
                    expect: LoginOutcome::Accepted,
                    from: LoginFrom::Sp,
                    browser: "other".into(),
                    user: Some(other.id.clone()),
                },
                revoke(None),
                session(SessionState::Ended),
                Step::Expect(SessionExpectation {
                    session: Some(SessionState::Active),
                    browser: Some("other".into()),
                    ..Default::default()
                }),
            ],
        ));
    }
    out
}

fn logout(from: LoginFrom, fault: Option<crate::config::LogoutFault>) -> Step {
    Step::Logout {
        from,
        fault,
        binding: crate::config::SloBinding::Redirect,
    }
}

/// Logout trials (CONFORMANCE.md G2-G4): IdP-initiated SAML LogoutRequests, OIDC back-channel
/// logout tokens, and RP-initiated OIDC logout, each fault paired with its honest twin.
pub fn logout_pack(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    use crate::config::LogoutFault;
    let Some(target) = &conn.target else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(main) = conn.directory.users.first() else {
        return Vec::new();
    };
    let spec =
        |name: String, steps: Vec<Step>| isolated_trial(pack, conn, &app.id, &main.id, name, steps);
    let mut out = Vec::new();
    let (id, honest_name, applies): (&str, &str, fn(&LogoutFault) -> bool) = if app.saml().is_some()
    {
        if app.logout.is_none() {
            return out;
        }
        ("G2", "idp_initiated_logout_ends_the_session", |f| {
            matches!(f, LogoutFault::Saml(_))
        })
    } else {
        if app
            .oidc()
            .and_then(|o| o.backchannel_logout_uri.as_ref())
            .is_none()
        {
            return out;
        }
        ("G4", "backchannel_logout_ends_the_session", |f| {
            matches!(f, LogoutFault::Oidc(_))
        })
    };
    out.push(spec(
        format!("{id}_{honest_name}"),
        vec![
            login(LoginOutcome::Accepted),
            logout(LoginFrom::Idp, None),
            session(SessionState::Ended),
        ],
    ));
    for (name, f) in LogoutFault::ALL.iter().filter(|(_, f)| applies(f)) {
        out.push(spec(
            format!(
                "{id}_{name}_{}",
                if id == "G2" { "ignored" } else { "refused" }
            ),
            vec![
                login(LoginOutcome::Accepted),
                logout(LoginFrom::Idp, Some(*f)),
                session(SessionState::Active),
            ],
        ));
    }
    if app.saml().is_some() && target.logout_url.is_some() {
        out.push(spec(
            "G1_sp_initiated_logout_ends_both_sessions".into(),
            vec![
                login(LoginOutcome::Accepted),
                logout(LoginFrom::Sp, None),
                session(SessionState::Ended),
                Step::Expect(SessionExpectation {
                    idp_session: Some(SessionState::Ended),
                    ..Default::default()
                }),
            ],
        ));
    }
    if app.oidc().is_some() && target.logout_url.is_some() {
        out.push(spec(
            "G3_rp_initiated_logout_ends_both_sessions".into(),
            vec![
                login(LoginOutcome::Accepted),
                logout(LoginFrom::Sp, None),
                session(SessionState::Ended),
                Step::Expect(SessionExpectation {
                    idp_session: Some(SessionState::Ended),
                    ..Default::default()
                }),
            ],
        ));
    }
    out
}

/// The attack pack (CONFORMANCE.md S1-S24, O1-O14): each forged login must be refused (the SP
/// has no session afterwards), next to the honest twin `L0_honest_login`; S22 passes only when
/// the SP keeps the whole NameID; O14 passes when the SP accepts a newly published key; O13
/// restarts the SP (alone, with its own honest twin after a second restart).
pub fn attack_pack(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    use crate::oidc::faults::Fault as O;
    use crate::saml::faults::Fault as S;
    let Some(target) = &conn.target else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(main) = conn.directory.users.first() else {
        return Vec::new();
    };
    let spec =
        |name: String, steps: Vec<Step>, saml_fault: Option<S>, oidc_fault: Option<O>| TrialSpec {
            name: format!("{pack}::{name}"),
            conn: conn.clone(),
            app: app.id.clone(),
            user: main.id.clone(),
            emit: Emit::default(),
            groups: None,
            steps,
            why: None,
            isolate: false,
            saml_fault,
            oidc_fault,
        };
    let mut out = Vec::new();
    if let Some(saml) = app.saml() {
        for f in S::ALL {
            let steps = match f {
                S::Unsolicited if saml.allow_idp_initiated => continue,
                // An unsolicited Response when the SP takes them: only the replay cache can
                // stop it then (a solicited one is also stopped by its spent InResponseTo).
                S::Replay => vec![
                    Step::Login {
                        expect: LoginOutcome::Accepted,
                        from: if saml.allow_idp_initiated {
                            LoginFrom::Idp
                        } else {
                            LoginFrom::Sp
                        },
                        browser: "main".into(),
                        user: None,
                    },
                    Step::Replay,
                ],
                S::CommentInNameId => {
                    if !target.session.read.contains_key("subject") {
                        continue;
                    }
                    let full = format!(
                        "{}.evil.test",
                        main.field(&saml.name_id.value).unwrap_or(&main.email)
                    );
                    let mut e = SessionExpectation {
                        session: Some(SessionState::Active),
                        ..Default::default()
                    };
                    e.values.insert("subject".into(), ExpectedValue::One(full));
                    vec![login(LoginOutcome::Accepted), Step::Expect(e)]
                }
                _ => vec![login(LoginOutcome::Rejected)],
            };
            let suffix = match f {
                S::CommentInNameId => "full_value_kept",
                _ => "refused",
            };
            let fault = (*f != S::Replay).then_some(*f);
            out.push(spec(
                format!("{}_{}_{suffix}", f.case(), f.name()),
                steps,
                fault,
                None,
            ));
        }
    }
    if app.oidc().is_some() {
        for f in O::ALL {
            let (suffix, expect) = match f {
                O::NoKid => ("handled", LoginOutcome::Either),
                O::KeyRotation => ("accepted", LoginOutcome::Accepted),
                _ => ("refused", LoginOutcome::Rejected),
            };
            out.push(spec(
                format!("{}_{}_{suffix}", f.case(), f.name()),
                vec![login(expect)],
                None,
                Some(*f),
            ));
        }
    }
    out
}
