//! OIDC Back-Channel Logout 1.0: the logout token and its faults (G4 in docs/catalogue.md).

use serde_json::{Value, json};
use time::OffsetDateTime;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Faults of a logout token; each must be answered 400 with the session left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Fault {
    AlgNone,
    /// HS256 with a secret that is not shared with the RP.
    WrongAlg,
    WrongAud,
    WrongIss,
    NoEvent,
    WrongEvent,
    NoncePresent,
    BadSignature,
}

impl Fault {
    /// Its name in a scenario's `logout_fault` (const: `crate::config::LogoutFault::ALL` is
    /// built from it).
    pub const fn name(self) -> &'static str {
        match self {
            Fault::AlgNone => "alg_none",
            Fault::WrongAlg => "wrong_alg",
            Fault::WrongAud => "wrong_aud",
            Fault::WrongIss => "wrong_iss",
            Fault::NoEvent => "no_event",
            Fault::WrongEvent => "wrong_event",
            Fault::NoncePresent => "nonce_present",
            Fault::BadSignature => "bad_signature",
        }
    }
}

/// What the OP's end_session redirect back to the RP (RP-Initiated Logout 1.0 §3) does with
/// the state the RP sent: the OpenID Foundation's RP tests rp-init-logout-other-state and
/// rp-init-logout-no-state. The RP's handling is reported, not judged: the spec puts no MUST
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum PostLogoutState {
    /// Another state than the RP's.
    Other,
    /// No state at all.
    Dropped,
}

/// The state `PostLogoutState::Other` returns instead of the RP's.
pub const OTHER_STATE: &str = "a-state-the-rp-never-sent";

impl PostLogoutState {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The trial name's part after `G3_`.
    pub fn name(self) -> &'static str {
        match self {
            PostLogoutState::Other => "post_logout_redirect_with_another_state",
            PostLogoutState::Dropped => "post_logout_redirect_without_state",
        }
    }

    /// The state returned for the RP's `sent`.
    pub fn apply(self, _sent: &str) -> Option<String> {
        match self {
            PostLogoutState::Other => Some(OTHER_STATE.to_owned()),
            PostLogoutState::Dropped => None,
        }
    }

    /// What the redirect carried, for notes and transcripts.
    pub fn describe(self) -> String {
        match self {
            PostLogoutState::Other => format!("state {OTHER_STATE} instead of the RP's"),
            PostLogoutState::Dropped => "no state (the RP sent one)".to_owned(),
        }
    }
}

/// How the token is signed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Idp,
    Unsigned,
    Hs256,
    Foreign,
}

/// The honest claims: iss, sub, aud, iat, exp (+2 min), jti, events, sid; never a nonce.
pub fn claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: Option<&str>,
    now: OffsetDateTime,
    jti: &str,
) -> Value {
    let t = now.unix_timestamp();
    let mut c = json!({
        "iss": issuer, "sub": sub, "aud": client_id, "iat": t, "exp": t + 120, "jti": jti,
        "events": { EVENT: {} },
    });
    if let Some(s) = sid {
        c["sid"] = json!(s);
    }
    c
}

/// Applies a fault: the only place G4 faults are made.
pub fn apply(fault: Fault, mut c: Value) -> (Value, Signing) {
    match fault {
        Fault::AlgNone => return (c, Signing::Unsigned),
        Fault::WrongAlg => return (c, Signing::Hs256),
        Fault::BadSignature => return (c, Signing::Foreign),
        Fault::WrongAud => c["aud"] = json!("some-other-client"),
        Fault::WrongIss => c["iss"] = json!("https://other-idp.invalid"),
        Fault::NoEvent => {
            if let Some(o) = c.as_object_mut() {
                o.remove("events");
            }
        }
        Fault::WrongEvent => c["events"] = json!({"http://schemas.openid.net/event/other": {}}),
        Fault::NoncePresent => c["nonce"] = json!("n-0S6_WzA2Mj"),
    }
    (c, Signing::Idp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_logout_state_changes_differ_from_the_rps_state() {
        let sent = "st-123";
        assert_eq!(
            PostLogoutState::Other.apply(sent).as_deref(),
            Some(OTHER_STATE)
        );
        assert_ne!(PostLogoutState::Other.apply(sent).as_deref(), Some(sent));
        assert_eq!(PostLogoutState::Dropped.apply(sent), None);
        let names: std::collections::BTreeSet<&str> =
            PostLogoutState::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), PostLogoutState::ALL.len());
    }
}
