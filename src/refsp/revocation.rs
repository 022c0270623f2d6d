//! The reference SP's Global Token Revocation receiver (draft-parecki-oauth-global-token-
//! revocation, Okta Universal Logout): authentication first (401), then the body (400), the
//! app (403), the user (404); 204 when the user's sessions are gone.

use serde_json::Value;
use time::OffsetDateTime;

use super::flaws::{Flaw, Flaws};
use super::jwt::{self, Key};

pub const TYP: &str = "global-token-revocation+jwt";
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Who is to be logged out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    IssSub {
        iss: String,
        sub: String,
    },
    Email(String),
    /// A body the SP could not read, let through by the `revocation-lenient-body` defect.
    Nobody,
}

/// What the receiver checks against.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The endpoint URL as configured: the only accepted `aud`.
    pub endpoint: String,
    /// The IdP org URL: the only accepted `iss`.
    pub idp_issuer: String,
    /// The app the request must be about (`sub`): SAML app id or OIDC client_id.
    pub app: String,
    /// The issuer a `subject` of format iss_sub must name (SAML IdP entity id or OIDC issuer).
    pub subject_issuer: String,
    pub email_supported: bool,
}

/// A refusal: the HTTP status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refused {
    Refused {
        status,
        reason: reason.into(),
    }
}

/// Checks a request; `seen_jti` records a jti and says whether it is new.
pub fn check(
    authorization: Option<&str>,
    body: &[u8],
    keys: &[Key],
    s: &Settings,
    now: OffsetDateTime,
    seen_jti: &mut dyn FnMut(&str, i64) -> bool,
    flaws: &Flaws,
) -> Result<Subject, Refused> {
    if !flaws.on(Flaw::RevocationWithoutAuth) {
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| refuse(401, "no Bearer token in the Authorization header"))?;
        let (header, claims) = jwt::verify(token, keys, &["RS256"], &Flaws::none())
            .map_err(|e| refuse(401, format!("the request JWT is not valid: {e}")))?;
        if header["typ"].as_str() != Some(TYP) {
            return Err(refuse(
                401,
                format!("the JWT typ is {}, not {TYP}", header["typ"]),
            ));
        }
        if claims["iss"].as_str() != Some(&s.idp_issuer) {
            return Err(refuse(
                401,
                format!("the JWT iss is {}, not {}", claims["iss"], s.idp_issuer),
            ));
        }
        if !flaws.on(Flaw::RevocationIgnoresAud) {
            let aud_ok = match &claims["aud"] {
                Value::String(a) => *a == s.endpoint,
                Value::Array(a) => a.iter().any(|x| x.as_str() == Some(&s.endpoint)),
                _ => false,
            };
            if !aud_ok {
                return Err(refuse(
                    401,
                    format!(
                        "the JWT aud is {}, not this endpoint {}",
                        claims["aud"], s.endpoint
                    ),
                ));
            }
        }
        let t = now.unix_timestamp();
        let exp = claims["exp"]
            .as_i64()
            .ok_or_else(|| refuse(401, "the JWT has no exp"))?;
        if t - 30 >= exp {
            return Err(refuse(401, "the JWT has expired"));
        }
        if let Some(nbf) = claims["nbf"].as_i64() {
            if nbf > t + 30 {
                return Err(refuse(401, "the JWT is not valid yet (nbf)"));
            }
        }
        if claims["iat"].as_i64().is_none() {
            return Err(refuse(401, "the JWT has no iat"));
        }
        let jti = claims["jti"]
            .as_str()
            .ok_or_else(|| refuse(401, "the JWT has no jti"))?;
        if !seen_jti(jti, exp) {
            return Err(refuse(401, format!("jti `{jti}` was used before (replay)")));
        }
        if claims["sub"].as_str() != Some(&s.app) {
            return Err(refuse(
                403,
                format!("the JWT sub is {}, not this app `{}`", claims["sub"], s.app),
            ));
        }
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(refuse(400, "the body is too large"));
    }
    // A body that cannot be read is a 400, unless the `revocation-lenient-body` defect lets it
    // through as "nobody".
    let malformed = |reason: String| {
        if flaws.on(Flaw::RevocationLenientBody) {
            Ok(Subject::Nobody)
        } else {
            Err(refuse(400, reason))
        }
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return malformed("the body is not JSON".into());
    };
    // Okta sends the subject identifier under `subject` (its Universal Logout guide).
    let Some(sub_id) = v.get("subject").filter(|x| x.is_object()) else {
        return malformed("the body has no `subject` object".into());
    };
    match sub_id["format"].as_str() {
        Some("iss_sub") => {
            let iss = sub_id["iss"]
                .as_str()
                .ok_or_else(|| refuse(400, "subject has no iss"))?;
            let sub = sub_id["sub"]
                .as_str()
                .ok_or_else(|| refuse(400, "subject has no sub"))?;
            if iss != s.subject_issuer && !flaws.on(Flaw::RevocationIgnoresSubIdIss) {
                return Err(refuse(
                    400,
                    format!(
                        "subject.iss `{iss}` is not this SP's IdP `{}`",
                        s.subject_issuer
                    ),
                ));
            }
            Ok(Subject::IssSub {
                iss: iss.to_owned(),
                sub: sub.to_owned(),
            })
        }
        Some("email") if s.email_supported || flaws.on(Flaw::RevocationAnyFormat) => {
            let email = sub_id["email"]
                .as_str()
                .ok_or_else(|| refuse(400, "subject has no email"))?;
            Ok(Subject::Email(email.to_owned()))
        }
        Some("email") => Err(refuse(
            400,
            "subject format `email` is not supported (this SP takes iss_sub)",
        )),
        Some(other) => malformed(format!("subject format `{other}` is not supported")),
        None => malformed("subject has no format".into()),
    }
}
