//! The session-binding pack (O15-O17, O20-O21, S25-S26): honest documents, delivered to the
//! wrong browser, replayed from one the SP should not trust, or followed by a request to go to
//! another site; each paired with the honest twin.

use std::sync::Arc;

use super::{TrialSpec, login};
use crate::config::{Connection, Emit, LoginOutcome};
use crate::runner::binding::BindingAttack;

/// One trial per attack that applies to the target app's protocol: the callback attacks must be
/// refused; the fixation trial logs in (accepted) and then finds no session in the fresh
/// browser holding the pre-login cookies.
pub fn binding_pack(pack: &str, conn: &Arc<Connection>) -> Vec<TrialSpec> {
    let Some(target) = &conn.target else {
        return Vec::new();
    };
    let Some(app) = conn.app(&target.app) else {
        return Vec::new();
    };
    let Some(main) = conn.directory.users.first() else {
        return Vec::new();
    };
    let saml = app.saml().is_some();
    BindingAttack::ALL
        .iter()
        .filter_map(|a| {
            let case = a.case(saml)?;
            let expect = match a {
                BindingAttack::SessionFixation => LoginOutcome::Accepted,
                // Refusing such a login is allowed; going off-site after it is not.
                BindingAttack::OffSiteReturnHttps | BindingAttack::OffSiteReturnSchemeRelative => {
                    LoginOutcome::Either
                }
                _ => LoginOutcome::Rejected,
            };
            let ignored = (a.off_site().is_some() && !saml && target.return_param.is_none())
                .then(|| {
                    "the file names no return parameter of the SP's login URL \
(target.return_param, e.g. return_to): nothing to point at another site"
                        .to_owned()
                })
                .or_else(|| {
                    // The implicit flows return no code: nothing to inject (their id_token is
                    // bound to the browser's request by the nonce, which O5 forges).
                    (*a == BindingAttack::CodeOfAnotherBrowser
                        && !saml
                        && !target.response_type.has_code())
                    .then(|| {
                        format!(
                            "the SP asks for response_type `{}` (target.response_type): the \
authorization response carries no code to inject (the implicit flow's id_token is bound to the \
request by its nonce: O5)",
                            target.response_type.name()
                        )
                    })
                });
            Some(TrialSpec {
                name: format!("{pack}::{case}_{}_refused", a.name()),
                conn: conn.clone(),
                app: app.id.clone(),
                user: main.id.clone(),
                emit: Emit::default(),
                groups: None,
                steps: vec![login(expect)],
                why: None,
                isolate: false,
                saml_fault: None,
                oidc_fault: None,
                binding: Some(*a),
                post_logout_state: None,
                rotation_check: None,
                ignored,
            })
        })
        .collect()
}
