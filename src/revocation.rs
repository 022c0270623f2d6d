//! Global Token Revocation requests (draft-parecki-oauth-global-token-revocation, as Okta's
//! Universal Logout sends them): the JWT claims and the JSON body. Pure: the instant and the jti
//! are arguments; signing is `oidc::jwt`.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::SubjectFormat;

/// The JOSE `typ` of revocation requests.
pub const TYP: &str = "global-token-revocation+jwt";

/// What a request is about.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The IdP org URL (iss, as in its id_tokens).
    pub issuer: &'a str,
    /// The app: SAML app instance id or OIDC client_id (sub).
    pub app: &'a str,
    /// The endpoint (aud), without query or fragment.
    pub endpoint: &'a str,
    pub jti: &'a str,
    pub now: OffsetDateTime,
    pub format: SubjectFormat,
    /// For iss_sub: the SAML IdP issuer or OIDC issuer, and the NameID or user id.
    pub subject_issuer: &'a str,
    pub subject: &'a str,
    pub email: &'a str,
}

/// The JWT claims: jti, iss, sub, aud, iat, nbf (now - 5 min), exp (now + 5 min).
pub fn claims(r: &Request<'_>) -> Value {
    let now = r.now.unix_timestamp();
    let aud = r.endpoint.split(['?', '#']).next().unwrap_or(r.endpoint);
    json!({
        "jti": r.jti,
        "iss": r.issuer,
        "sub": r.app,
        "aud": aud,
        "iat": now,
        "nbf": now - 300,
        "exp": now + 300,
    })
}

/// The JSON body naming the user, as Okta sends it: the subject identifier (RFC 9493 `email` or
/// `iss_sub`) under the key `subject` (Okta's "Build Universal Logout for your app" guide, Logout
/// request; Auth0's receiver for Okta takes the same body). Later drafts of Global Token
/// Revocation call the key `sub_id`; Okta does not send that.
pub fn body(r: &Request<'_>) -> Value {
    match r.format {
        SubjectFormat::IssSub => {
            json!({BODY_KEY: {"format": "iss_sub", "iss": r.subject_issuer, "sub": r.subject}})
        }
        SubjectFormat::Email => json!({BODY_KEY: {"format": "email", "email": r.email}}),
    }
}

/// The key of the subject identifier in the request body.
pub const BODY_KEY: &str = "subject";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_an_honest_request() {
        let r = Request {
            issuer: "http://127.0.0.1:7000",
            app: "qovery",
            endpoint: "http://127.0.0.1:7100/oauth/global-token-revocation/connection/acme?x=1",
            jti: "j1",
            now: time::macros::datetime!(2026-11-28 09:00 UTC),
            format: SubjectFormat::IssSub,
            subject_issuer: "http://www.okta.com/qovery",
            subject: "alice@acme.test",
            email: "alice@acme.test",
        };
        let c = claims(&r);
        assert_eq!(
            c["aud"],
            "http://127.0.0.1:7100/oauth/global-token-revocation/connection/acme"
        );
        assert_eq!(c["exp"].as_i64().unwrap() - c["nbf"].as_i64().unwrap(), 600);
        assert_eq!(body(&r)["subject"]["format"], "iss_sub");
    }
}

/// How a request is signed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// With the IdP's key (the honest way).
    Idp,
    /// With a key that is not the IdP's.
    Foreign,
    /// `alg: none`, empty signature.
    Unsigned,
}

/// A request ready to be signed and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// JOSE header members other than alg and kid (which the signer sets): `typ`.
    pub typ: Option<String>,
    pub claims: Value,
    pub body: Vec<u8>,
    pub signing: Signing,
    /// Whether an Authorization header is sent at all.
    pub authorization: bool,
    /// To be sent again after an honest use (a replayed jti; the runner replays its last
    /// request byte for byte).
    pub send_twice: bool,
}

/// The honest request.
pub fn honest(r: &Request<'_>) -> Outgoing {
    Outgoing {
        typ: Some(TYP.to_owned()),
        claims: claims(r),
        body: body(r).to_string().into_bytes(),
        signing: Signing::Idp,
        authorization: true,
        send_twice: false,
    }
}

/// The faults of T3-T8 (docs/catalogue.md), applied to an honest request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::VariantArray)]
pub enum Fault {
    NoAuthorization,
    ForeignKey,
    AlgNone,
    TypMissing,
    TypWrong,
    AudWrong,
    AudWithQuery,
    Expired,
    NbfFuture,
    WrongIss,
    OtherApp,
    UnknownFormat,
    MissingSubject,
    NotJson,
    UnknownUser,
    OtherIdpIss,
    ReplayedJti,
}

impl Fault {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        match self {
            Fault::NoAuthorization => "no_authorization",
            Fault::ForeignKey => "foreign_key",
            Fault::AlgNone => "alg_none",
            Fault::TypMissing => "typ_missing",
            Fault::TypWrong => "typ_wrong",
            Fault::AudWrong => "aud_wrong",
            Fault::AudWithQuery => "aud_with_query",
            Fault::Expired => "expired",
            Fault::NbfFuture => "nbf_in_the_future",
            Fault::WrongIss => "wrong_iss",
            Fault::OtherApp => "other_app",
            Fault::UnknownFormat => "unknown_format",
            Fault::MissingSubject => "missing_subject",
            Fault::NotJson => "not_json",
            Fault::UnknownUser => "unknown_user",
            Fault::OtherIdpIss => "other_idp_iss",
            Fault::ReplayedJti => "replayed_jti",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == s)
    }

    /// The catalogue case.
    pub fn case(self) -> &'static str {
        match self {
            Fault::OtherApp => "T4",
            Fault::UnknownFormat | Fault::MissingSubject | Fault::NotJson => "T5",
            Fault::UnknownUser => "T6",
            Fault::OtherIdpIss => "T7",
            Fault::ReplayedJti => "T8",
            _ => "T3",
        }
    }

    /// The answers a conformant SP may give.
    pub fn accepted_statuses(self) -> &'static [u16] {
        match self.case() {
            "T3" | "T8" => &[401],
            "T4" => &[401, 403],
            "T5" => &[400],
            "T6" => &[404],
            _ => &[400, 401, 403, 404],
        }
    }
}

/// Applies a fault to the honest request: the only place revocation faults are made.
pub fn apply(fault: Fault, mut o: Outgoing) -> Outgoing {
    let parsed = |o: &Outgoing| -> Value { serde_json::from_slice(&o.body).unwrap_or(Value::Null) };
    match fault {
        Fault::NoAuthorization => o.authorization = false,
        Fault::ForeignKey => o.signing = Signing::Foreign,
        Fault::AlgNone => o.signing = Signing::Unsigned,
        Fault::TypMissing => o.typ = None,
        Fault::TypWrong => o.typ = Some("JWT".into()),
        Fault::AudWrong => {
            let aud = o.claims["aud"].as_str().unwrap_or_default().to_owned();
            o.claims["aud"] = json!(format!("{aud}-other"));
        }
        Fault::AudWithQuery => {
            let aud = o.claims["aud"].as_str().unwrap_or_default().to_owned();
            o.claims["aud"] = json!(format!("{aud}?x"));
        }
        Fault::Expired => {
            let iat = o.claims["iat"].as_i64().unwrap_or(0);
            o.claims["iat"] = json!(iat - 3600);
            o.claims["nbf"] = json!(iat - 3900);
            o.claims["exp"] = json!(iat - 3300);
        }
        Fault::NbfFuture => {
            let iat = o.claims["iat"].as_i64().unwrap_or(0);
            o.claims["nbf"] = json!(iat + 3600);
            o.claims["exp"] = json!(iat + 3900);
        }
        Fault::WrongIss => o.claims["iss"] = json!("https://other-idp.invalid"),
        Fault::OtherApp => o.claims["sub"] = json!("some-other-app"),
        Fault::UnknownFormat => {
            o.body = json!({BODY_KEY: {"format": "phone_number", "phone_number": "+15555550100"}})
                .to_string()
                .into_bytes()
        }
        Fault::MissingSubject => o.body = b"{}".to_vec(),
        Fault::NotJson => o.body = b"subject=alice".to_vec(),
        Fault::UnknownUser => {
            let mut v = parsed(&o);
            if v[BODY_KEY]["format"] == "email" {
                v[BODY_KEY]["email"] = json!("nobody@unknown.invalid");
            } else {
                v[BODY_KEY]["sub"] = json!("nobody-known-here");
            }
            o.body = v.to_string().into_bytes();
        }
        Fault::OtherIdpIss => {
            let mut v = parsed(&o);
            v[BODY_KEY]["format"] = json!("iss_sub");
            v[BODY_KEY]["iss"] = json!("https://other-idp.invalid");
            if v[BODY_KEY].get("sub").is_none() {
                v[BODY_KEY]["sub"] = v[BODY_KEY]["email"].clone();
            }
            o.body = v.to_string().into_bytes();
        }
        Fault::ReplayedJti => o.send_twice = true,
    }
    o
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    fn req() -> Request<'static> {
        Request {
            issuer: "http://idp",
            app: "qovery",
            endpoint: "http://sp/revoke",
            jti: "j",
            now: time::macros::datetime!(2026-11-28 09:00 UTC),
            format: SubjectFormat::IssSub,
            subject_issuer: "http://www.okta.com/qovery",
            subject: "alice@acme.test",
            email: "alice@acme.test",
        }
    }

    #[test]
    fn each_fault_changes_one_thing() {
        let h = honest(&req());
        for f in Fault::ALL {
            let o = apply(*f, h.clone());
            assert_ne!(o, h, "{f:?} changed nothing");
            assert_eq!(Fault::parse(f.name()), Some(*f));
        }
        assert_eq!(
            apply(Fault::AudWithQuery, h.clone()).claims["aud"],
            "http://sp/revoke?x"
        );
        let unknown: Value = serde_json::from_slice(&apply(Fault::UnknownUser, h).body).unwrap();
        assert_eq!(unknown["subject"]["sub"], "nobody-known-here");
    }
}
