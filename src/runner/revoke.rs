//! Sending Global Token Revocation requests to the SP, honest or with one fault of T3-T8 (the
//! fault is applied by `crate::revocation::apply`, the only place they are made). Also used by
//! `fakta revoke` for live use.

use serde_json::{Value, json};

use super::fetch::{self, FetchError};
use super::plan::TrialSpec;
use crate::config::{App, Connection, SigningAlg, SubjectFormat, User};
use crate::idp::IdpState;
use crate::keys::KeyStore;
use crate::revocation::{self, Fault, Outgoing, Signing};

/// Most bytes read of an answer to a revocation request (it is only shown, cut short).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What was sent and what came back.
#[derive(Debug, Clone)]
pub struct Sent {
    pub endpoint: String,
    pub fault: Option<Fault>,
    pub header: Value,
    pub claims: Value,
    pub body: String,
    pub status: u16,
    pub answer: String,
    /// The bearer token as sent (kept for a replay; never printed).
    pub token: String,
    pub authorization: bool,
}

impl Sent {
    /// For transcripts: the request (signature left out) and the answer.
    pub fn describe(&self) -> String {
        format!(
            "revocation request{}: POST {}\n  JWT header {}\n  JWT claims {}\n  body {}\n  answer {} {}",
            self.fault
                .map(|f| format!(" with fault {} ({})", f.name(), f.case()))
                .unwrap_or_default(),
            self.endpoint,
            self.header,
            self.claims,
            self.body,
            self.status,
            self.answer.chars().take(200).collect::<String>()
        )
    }
}

/// POSTs `body` as JSON to a running IdP's control endpoint (`fakta revoke`); returns its
/// status and answer.
pub async fn post_control(url: &str, body: &Value) -> Result<(u16, String), FetchError> {
    let req = fetch::client()?.post(url).json(body);
    // The IdP's control endpoint posts to the SP itself (which may take REQUEST_TIMEOUT).
    let wait = fetch::REQUEST_TIMEOUT * 2;
    let (status, _, answer) = fetch::send_within("POST", url, req, MAX_ANSWER_BYTES, wait).await?;
    Ok((status, String::from_utf8_lossy(&answer).into_owned()))
}

/// The honest request for `user` of `app`, as fakta's IdP sends it.
pub fn request_for(
    conn: &Connection,
    app: &App,
    user: &User,
    now: time::OffsetDateTime,
    jti: &str,
    format: Option<SubjectFormat>,
) -> Result<(String, Outgoing), String> {
    let g = app
        .global_token_revocation
        .as_ref()
        .ok_or_else(|| format!("app `{}` has no global_token_revocation endpoint", app.id))?;
    let base = conn.idp.base();
    let (app_sub, subject_issuer, subject) = match (app.saml(), app.oidc()) {
        (Some(s), _) => {
            let name_id = s.name_id_of(user);
            (app.id.clone(), s.issuer.clone(), name_id)
        }
        (_, Some(o)) => (
            o.client_id.clone(),
            conn.idp.oidc_issuer(&o.server),
            user.id.clone(),
        ),
        _ => return Err("the app has no protocol".into()),
    };
    let req = revocation::Request {
        issuer: base,
        app: &app_sub,
        endpoint: g.endpoint.as_str(),
        jti,
        now,
        format: format.unwrap_or(g.subject_format),
        subject_issuer: &subject_issuer,
        subject: &subject,
        email: &user.email,
    };
    Ok((g.endpoint.to_string(), revocation::honest(&req)))
}

/// Signs and posts a request; a replayed-jti request is posted twice and the second answer
/// counts.
pub async fn post(
    endpoint: &str,
    o: &Outgoing,
    keys: &KeyStore,
    kid: &str,
    fault: Option<Fault>,
) -> Result<Sent, String> {
    let header = json!({"alg": if o.signing == Signing::Unsigned { "none" } else { "RS256" }, "kid": kid, "typ": o.typ});
    // RSA signing off the async workers: this also runs inside the IdP's control endpoint.
    let (signing, kid_owned, typ, claims) =
        (o.signing, kid.to_owned(), o.typ.clone(), o.claims.clone());
    let key = keys.current.pkey().clone();
    let token = tokio::task::spawn_blocking(move || {
        sign(signing, &kid_owned, typ.as_deref(), &key, &claims)
    })
    .await
    .map_err(|e| e.to_string())??;
    let client = fetch::client().map_err(|e| e.to_string())?;
    let (status, answer) = deliver(
        &client,
        endpoint,
        o.authorization.then_some(token.as_str()),
        &o.body,
    )
    .await?;
    Ok(Sent {
        endpoint: endpoint.to_owned(),
        fault,
        header,
        claims: o.claims.clone(),
        body: String::from_utf8_lossy(&o.body).into_owned(),
        status,
        answer,
        token,
        authorization: o.authorization,
    })
}

/// The request's JWT as `signing` says: by the IdP's key, a foreign key, or unsigned.
fn sign(
    signing: Signing,
    kid: &str,
    typ: Option<&str>,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    claims: &Value,
) -> Result<String, String> {
    match signing {
        Signing::Idp => crate::oidc::jwt::sign(SigningAlg::RS256, kid, typ, key, claims),
        Signing::Foreign => {
            let other = crate::keys::foreign_key().ok_or("cannot make a foreign key")?;
            crate::oidc::jwt::sign(SigningAlg::RS256, kid, typ, other.pkey(), claims)
        }
        Signing::Unsigned => {
            let h = crate::oidc::jwt::Header {
                alg: "none",
                kid: Some(kid),
                typ,
            };
            crate::oidc::jwt::signing_input(&h, claims).map(|i| format!("{i}."))
        }
    }
    .map_err(|e| e.to_string())
}

async fn deliver(
    client: &reqwest::Client,
    endpoint: &str,
    bearer: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), String> {
    let mut req = client
        .post(endpoint)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let (status, _, answer) = fetch::send("POST", endpoint, req, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, String::from_utf8_lossy(&answer).into_owned()))
}

/// Posts an earlier request again, byte for byte (T8: a replayed jti).
pub async fn replay(earlier: &Sent) -> Result<Sent, String> {
    let client = fetch::client().map_err(|e| e.to_string())?;
    let bearer = earlier.authorization.then_some(earlier.token.as_str());
    let (status, answer) =
        deliver(&client, &earlier.endpoint, bearer, earlier.body.as_bytes()).await?;
    Ok(Sent {
        fault: Some(Fault::ReplayedJti),
        status,
        answer,
        ..earlier.clone()
    })
}

/// Sends the trial's revocation request for `user`; an honest one also ends the user's IdP
/// sessions, as Okta's Universal Logout does.
pub async fn send(
    spec: &TrialSpec,
    idp: &IdpState,
    user: &User,
    fault: Option<Fault>,
    format: Option<SubjectFormat>,
) -> Result<Sent, String> {
    let app = spec.conn.app(&spec.app).ok_or("unknown app")?;
    let jti = {
        use rand::Rng;
        format!("{:032x}", rand::rng().random::<u128>())
    };
    let (endpoint, honest) = request_for(&spec.conn, app, user, idp.now(), &jti, format)?;
    let outgoing = match fault {
        Some(f) => revocation::apply(f, honest),
        None => honest,
    };
    let sent = post(&endpoint, &outgoing, &idp.keys, &idp.rsa_kid, fault).await?;
    if fault.is_none() {
        idp.end_sessions_of(&spec.user);
    }
    Ok(sent)
}
