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

/// The JSON body naming the user.
pub fn body(r: &Request<'_>) -> Value {
    match r.format {
        SubjectFormat::IssSub => {
            json!({"sub_id": {"format": "iss_sub", "iss": r.subject_issuer, "sub": r.subject}})
        }
        SubjectFormat::Email => json!({"sub_id": {"format": "email", "email": r.email}}),
    }
}

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
        assert_eq!(body(&r)["sub_id"]["format"], "iss_sub");
    }
}
