//! Global Token Revocation trials (T1-T9).

use std::sync::Arc;

use super::{TrialSpec, login};
use crate::config::{
    Connection, Emit, LoginFrom, LoginOutcome, SessionExpectation, SessionState, Step,
};

/// A revocation or logout trial: the first user of the directory, with an identity of its own.
pub(super) fn isolated_trial(
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
        binding: None,
        post_logout_state: None,
        rotation_check: None,
        ignored: None,
    }
}

fn revoke(fault: Option<crate::revocation::Fault>) -> Step {
    Step::Revoke {
        expect_status: None,
        fault,
        format: None,
    }
}

pub(super) fn session(state: SessionState) -> Step {
    Step::Expect(SessionExpectation {
        session: Some(state),
        ..Default::default()
    })
}

/// Global Token Revocation trials (docs/catalogue.md T1-T9) for a target app with an endpoint:
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
