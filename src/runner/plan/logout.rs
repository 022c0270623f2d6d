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
    // A vendor without RP-initiated logout (Google publishes no end_session_endpoint): the
    // RP can only end its own session, so G3 cannot be asked of it.
    let no_end_session = app.oidc().is_some_and(|o| {
        conn.idp
            .oidc_endpoint(&o.server, crate::flavor::Endpoint::Logout)
            .is_none()
    });
    if app.oidc().is_some() && target.logout_url.is_some() && no_end_session {
        let mut g3 = spec(
            "G3_rp_initiated_logout_ends_both_sessions".into(),
            vec![login(LoginOutcome::Accepted), logout(LoginFrom::Sp, None)],
        );
        g3.ignored = Some(format!(
            "{} has no end_session endpoint (no RP-initiated logout): the RP can end only its own session",
            conn.idp.flavor.title()
        ));
        out.push(g3);
    } else if app.oidc().is_some() && target.logout_url.is_some() {
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
                rotation_check: None,
                ..spec(
                    format!("G3_{}_reported", change.name()),
                    vec![login(LoginOutcome::Accepted), logout(LoginFrom::Sp, None)],
                )
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::logout::PostLogoutState;

    fn pack(yaml: &str) -> Vec<TrialSpec> {
        let (conn, _) = crate::config::load_str(yaml, "p", std::path::Path::new(".")).unwrap();
        logout_pack("p", &Arc::new(conn))
    }

    /// G3's state variants come with G3 (an OIDC app with a logout URL), one per change, and
    /// only log in and log out: nothing in them can fail on what the RP does with the state.
    #[test]
    fn g3_state_variants_are_planned_with_g3_and_report_only() {
        let oidc = crate::cli::DEMO_PACKS
            .iter()
            .find(|(name, _)| *name == "qovery-oidc")
            .map(|(_, yaml)| *yaml)
            .unwrap();
        let trials = pack(oidc);
        assert!(
            trials
                .iter()
                .any(|t| t.name == "p::G3_rp_initiated_logout_ends_both_sessions")
        );
        let reported: Vec<&TrialSpec> = trials
            .iter()
            .filter(|t| t.post_logout_state.is_some())
            .collect();
        assert_eq!(reported.len(), PostLogoutState::ALL.len());
        for t in reported {
            let change = t.post_logout_state.unwrap();
            assert_eq!(t.name, format!("p::G3_{}_reported", change.name()));
            assert!(!t.is_fault_trial() && !t.rests_on_a_refusal(), "{}", t.name);
            assert_eq!(t.steps.len(), 2, "login and logout only: {}", t.name);
        }
        // Without a logout URL there is no RP-initiated logout to change.
        let without = oidc.replace("  logout_url: http://127.0.0.1:7100/logout\n", "");
        assert_ne!(without, oidc);
        assert!(
            pack(&without)
                .iter()
                .all(|t| t.post_logout_state.is_none() && !t.name.contains("G3_"))
        );
    }

    /// A vendor without RP-initiated logout (Google: no end_session endpoint): G3 is listed
    /// ignored, saying why, and its state variants are not planned.
    #[test]
    fn g3_is_ignored_behind_a_vendor_without_end_session() {
        let oidc = crate::cli::DEMO_PACKS
            .iter()
            .find(|(name, _)| *name == "qovery-oidc")
            .map(|(_, yaml)| *yaml)
            .unwrap();
        let google = oidc
            .replacen(
                "  base_url: http://127.0.0.1:7000\n",
                "  base_url: http://127.0.0.1:7000\n  flavor: google\n",
                1,
            )
            .replace(
                "    groups:                         # the groups claim, filtered like SAML groups\n      attribute: groups\n      filter: { regex: \".*Qovery.*\" }\n      when_none: absent\n",
                "",
            )
            .replace("    groups: { filter: { starts_with: Qovery- } }\n", "");
        let trials = pack(&google);
        let g3: Vec<&TrialSpec> = trials.iter().filter(|t| t.name.contains("G3_")).collect();
        assert_eq!(
            g3.len(),
            1,
            "{:?}",
            g3.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
        assert_eq!(g3[0].name, "p::G3_rp_initiated_logout_ends_both_sessions");
        assert!(
            g3[0]
                .ignored
                .as_deref()
                .is_some_and(|why| why.contains("Google has no end_session endpoint")),
            "{:?}",
            g3[0].ignored
        );
    }
}
