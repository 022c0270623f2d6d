//! The attack pack (S1-S24, S27-S31, O1-O14, O18-O19 at a refresh, O22, O23-O24 in the
//! implicit/hybrid front channel, O25 at a silent sign-in after the login, and O26 at two
//! refreshes with rotating refresh tokens); the
//! session-binding cases (S25-S26, O15-O17, O20-O21) are planned beside it, in `binding`.

use std::sync::Arc;

use super::{RotationCheck, TrialSpec, login};
use crate::config::{
    Connection, Emit, ExpectedValue, LoginFrom, LoginOutcome, SessionExpectation, SessionState,
    Step,
};

/// The attack pack (docs/catalogue.md S1-S24, S27-S31, O1-O14, O18-O19, O22): each forged
/// login must be refused (the SP has no session afterwards), next to the honest twin
/// `L0_honest_login`; S22 passes only when the SP keeps the whole NameID; O14 passes when the SP accepts a newly
/// published key; O13 restarts the SP (alone, with its own honest twin after a second
/// restart), and so does O10 with a single key, which must be accepted; O22 (an error instead
/// of a code) must end with no session and no server error. The O8 variant keyed with the EC
/// key runs for ES256 apps only; O23 and O24 (a front-channel id_token's bad at_hash, c_hash)
/// only for an SP whose `target.response_type` returns that hash, ignored otherwise; in the
/// implicit flows the cases that need a code are ignored with the reason. O26 (two refreshes
/// with rotating refresh tokens) and its honest twin (one) come last.
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
            binding: None,
            post_logout_state: None,
            rotation_check: None,
            ignored: None,
        };
    let mut out = Vec::new();
    if let Some(saml) = app.saml() {
        for f in S::ALL {
            let ignored = saml_not_applicable(*f, saml, target);
            let steps = match f {
                _ if ignored.is_some() => vec![login(LoginOutcome::Rejected)],
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
                    let full = format!("{}.evil.test", saml.name_id_of(main));
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
            out.push(TrialSpec {
                ignored,
                ..spec(
                    format!("{}_{}_{suffix}", f.case(), f.name()),
                    steps,
                    fault,
                    None,
                )
            });
        }
    }
    if let Some(oidc) = app.oidc() {
        for f in O::ALL
            .iter()
            .filter(|f| f.applies_to(oidc.signing_alg) && !f.at_launch())
        {
            let (suffix, expect) = match f {
                O::NoKid => ("handled", LoginOutcome::Either),
                O::KeyRotation | O::NoKidSingleKey => ("accepted", LoginOutcome::Accepted),
                // No code is issued: the RP must end with no session and no server error.
                O::AuthorizationError => ("handled", LoginOutcome::Rejected),
                // The login is honest; the refresh (after it) is forged.
                _ if f.on_refresh() => ("refused", LoginOutcome::Accepted),
                // The login is honest; the silent sign-in after it is judged: the honest
                // twin must sign in, the message from another origin must not.
                O::PostMessageFromTheIdp => ("accepted", LoginOutcome::Accepted),
                O::PostMessageFromAnotherOrigin => ("refused", LoginOutcome::Accepted),
                _ => ("refused", LoginOutcome::Rejected),
            };
            let ignored = (f.on_refresh() && target.refresh_url.is_none())
                .then(|| {
                    "the file does not say how to make the SP refresh its tokens \
(target.refresh_url: an SP URL that refreshes them for the signed-in browser)"
                        .to_owned()
                })
                .or_else(|| {
                    (f.in_post_message() && target.silent_login_url.is_none()).then(|| {
                        "the app does not sign in with okta_post_message as far as the file says \
(target.silent_login_url: an SPA page that signs in again silently, e.g. okta-auth-js \
token.getWithoutPrompt())"
                            .to_owned()
                    })
                })
                // O23, O24: only for an SP whose response type carries the hash.
                .or_else(|| f.needs_response_type(target.response_type))
                // The implicit flows: no code, so no token endpoint behind some cases.
                .or_else(|| implicit_not_applicable(*f, target.response_type));
            out.push(TrialSpec {
                ignored,
                ..spec(
                    format!("{}_{}_{suffix}", f.case(), f.name()),
                    vec![login(expect)],
                    None,
                    Some(*f),
                )
            });
        }
        // Next to L0_idp_initiated_login: the tile names an issuer the RP does not know
        // (OIDC Core §4); it must start no login.
        let f = O::LaunchUnknownIssuer;
        let ignored = oidc.initiate_login_uri.is_none().then(|| {
            "the app has no initiate_login_uri (Okta's \"Login initiated by: App Only\"): \
there is no third-party-initiated login to send an unknown issuer to"
                .to_owned()
        });
        out.push(TrialSpec {
            ignored,
            ..spec(
                format!("{}_{}_refused", f.case(), f.name()),
                vec![Step::Login {
                    expect: LoginOutcome::Rejected,
                    from: LoginFrom::Idp,
                    browser: "main".into(),
                    user: None,
                }],
                None,
                Some(f),
            )
        });
        // O26: with rotating refresh tokens, the SP refreshes twice; the second refresh must
        // present the token the first returned (RFC 6749 §6). Its honest twin refreshes once.
        let ignored = rotation_not_applicable(oidc, target);
        for (check, name) in [
            (
                RotationCheck::Once,
                "O26_one_refresh_with_rotation_keeps_the_session",
            ),
            (
                RotationCheck::Twice,
                "O26_second_refresh_presents_the_rotated_token",
            ),
        ] {
            out.push(TrialSpec {
                ignored: ignored.clone(),
                rotation_check: Some(check),
                ..spec(
                    name.to_owned(),
                    vec![login(LoginOutcome::Accepted)],
                    None,
                    None,
                )
            });
        }
    }
    out
}

/// Why O26 cannot run on this file, if so: the SP must be made to refresh
/// (`target.refresh_url`), get a refresh token (a code to redeem, the refresh token grant), and
/// the app must rotate them.
fn rotation_not_applicable(
    oidc: &crate::config::OidcApp,
    target: &crate::config::Target,
) -> Option<String> {
    use crate::config::{GrantType, Rotation};
    if target.refresh_url.is_none() {
        Some(
            "the file does not say how to make the SP refresh its tokens (target.refresh_url: \
an SP URL that refreshes them for the signed-in browser)"
                .to_owned(),
        )
    } else if !target.response_type.has_code() {
        Some(format!(
            "the SP asks for response_type `{}` (target.response_type): the implicit flow \
redeems no code, so the SP gets no refresh token",
            target.response_type.name()
        ))
    } else if !oidc.grant_types.contains(&GrantType::RefreshToken) {
        Some(
            "the app does not have the refresh token grant (grant_types): the SP gets no \
refresh token"
                .to_owned(),
        )
    } else if oidc.refresh.rotation == Rotation::Static {
        Some(
            "the app's refresh tokens are persistent (refresh_token.rotation static, Okta's \
default for a confidential client): a refresh returns the same token, so there is no old one to \
discard"
                .to_owned(),
        )
    } else {
        None
    }
}

/// Why an OIDC attack cannot run against an SP in the implicit flow (`target.response_type`
/// `id_token` or `id_token token`), if so: without a code there is no token endpoint, so no
/// refresh token to refresh with (O18, O19); with `id_token` alone no access token either, so
/// no userinfo to forge (O12). The id_token faults themselves run, on the front channel
/// (`Fault::login_id_token_channel`).
fn implicit_not_applicable(
    f: crate::oidc::faults::Fault,
    rt: crate::config::ResponseType,
) -> Option<String> {
    use crate::oidc::faults::Fault as O;
    if rt.has_code() {
        return None;
    }
    if f.on_refresh() {
        return Some(format!(
            "the SP asks for response_type `{}` (target.response_type): the implicit flow redeems no code, so the SP gets no refresh token (there is no token response to carry one) and has nothing to refresh",
            rt.name()
        ));
    }
    if f == O::UserinfoSubDiffers && !rt.has_token() {
        return Some(format!(
            "the SP asks for response_type `{}` (target.response_type): no access token comes with the id_token, so the SP cannot call userinfo and takes the identity from the id_token alone: there is no userinfo answer to forge",
            rt.name()
        ));
    }
    None
}

/// Why a SAML attack cannot run on this file (the trial is listed ignored with it), if so.
fn saml_not_applicable(
    f: crate::saml::faults::Fault,
    saml: &crate::config::SamlApp,
    target: &crate::config::Target,
) -> Option<String> {
    use crate::saml::faults::Fault as S;
    let encrypts = saml.encryption.is_some();
    let sha1 = target.allows_sha1
        || saml.signature_algorithm == crate::config::SignatureAlgorithm::RsaSha1
        || saml.digest_algorithm == crate::config::DigestAlgorithm::Sha1;
    match f {
        S::PlainAssertion | S::EncryptedUnsigned | S::EncryptedSignatureBroken if !encrypts => {
            Some(
                "the app does not encrypt assertions (apps[].encryption): the SP takes them in \
clear, so there is no encryption to skip or to rely on"
                    .to_owned(),
            )
        }
        S::Sha1Signed if sha1 => Some(
            "the SP takes SHA-1 (target.allows_sha1, or the app signs with RSA-SHA1 or SHA-1 \
digests): no SHA-256 configuration to downgrade from"
                .to_owned(),
        ),
        S::Sha1Signed | S::PlainAssertion | S::EncryptedUnsigned | S::EncryptedSignatureBroken => {
            None
        }
        // For an app that encrypts, the other faults are forged in encrypted form
        // (`saml::faults::apply_with`), so they run as they do in clear.
        S::Unsolicited if saml.allow_idp_initiated => Some(
            "the app allows IdP-initiated login (allow_idp_initiated), so the SP may take \
unsolicited Responses"
                .to_owned(),
        ),
        S::DigestCommentResponse if target.requires_signed_assertions => Some(
            "the SP requires signed assertions (target.requires_signed_assertions): a \
Response whose Assertion is unsigned is refused before any digest is read, so this variant would \
prove nothing; the Assertion-signed variants run instead"
                .to_owned(),
        ),
        S::ResponseSignedOnly if !target.requires_signed_assertions => Some(
            "the file does not say that the SP requires signed assertions \
(target.requires_signed_assertions): SAML profiles 4.1.4.5 let a signed Response protect an \
unsigned Assertion, so accepting one is no fault by itself"
                .to_owned(),
        ),
        S::CommentInNameId if !target.session.read.contains_key("subject") => Some(
            "the file reads no `subject` from the session (target.session.read.subject): \
fakta cannot see which NameID the SP kept"
                .to_owned(),
        ),
        _ => None,
    }
}
