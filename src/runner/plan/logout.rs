//! Logout trials (G1-G4).

use std::sync::Arc;

use super::revocation::{isolated_trial, session};
use super::{TrialSpec, login};
use crate::config::{Connection, LoginFrom, LoginOutcome, SessionExpectation, SessionState, Step};

fn logout(from: LoginFrom, fault: Option<crate::config::LogoutFault>) -> Step {
    Step::Logout {
        from,
        fault,
        binding: crate::config::SloBinding::Redirect,
    }
}

/// Logout trials (docs/catalogue.md G1-G4): IdP-initiated SAML LogoutRequests, OIDC back-channel
/// logout tokens, and RP-initiated OIDC logout, each fault paired with its honest twin; G3's
/// variants (end_session returning another state, or none) only report what the RP did.
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
        // The end_session redirect back with another state, or none: what the RP does is
        // reported (a note), never judged, since RP-Initiated Logout 1.0 puts no MUST on it.
        for change in crate::oidc::logout::PostLogoutState::ALL {
            out.push(TrialSpec {
                post_logout_state: Some(*change),
                ..spec(
                    format!("G3_{}_reported", change.name()),
                    vec![login(LoginOutcome::Accepted), logout(LoginFrom::Sp, None)],
                )
            });
        }
    }
    out
}
