//! The OIDC callback: the state, the implicit and hybrid flows' front-channel id_token, the
//! code exchange, the id_token's verification, userinfo, and the session it yields.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use super::*;
use crate::config::TokenAuth;
use crate::refsp::flaws::Flaw;
use crate::refsp::jwt::{self, Key};
use crate::refsp::oidc::{self, OidcRefusal};
use crate::refsp::roles;
use crate::refsp::state::{OidcPending, SpSession, SpState, Trust, lock};
use crate::saml::xml::escape;

pub(super) async fn oidc_callback(
    st: &SpState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    match oidc_login(st, headers, q).await {
        Ok((s, return_to)) => signed_in(st, headers, s, return_to.as_deref()),
        Err(OidcRefusal::Internal(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(page("Internal Server Error", &escape(&e))),
        )
            .into_response(),
        Err(r) => refused(&r.to_string()),
    }
}

/// The callback's steps, in order: the browser's pending login (state), the code exchange, the
/// id_token's verification and claims, userinfo, and the session they yield (with where the
/// login asked to go next).
pub(super) async fn oidc_login(
    st: &SpState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<(SpSession, Option<String>), OidcRefusal> {
    if let Some(e) = q.get("error") {
        // The `fail-on-authorization-error` defect: the error is not handled.
        if st.flaws.on(Flaw::FailOnAuthorizationError) {
            return Err(OidcRefusal::Internal(format!(
                "unhandled authorization error `{e}` at the callback"
            )));
        }
        return Err(OidcRefusal::AuthorizeError(format!(
            "{e}: {}",
            q.get("error_description").map(String::as_str).unwrap_or("")
        )));
    }
    let login = cookie(headers, LOGIN_COOKIE);
    let pending = pending_login(st, login.as_deref(), q.get("state").map(String::as_str))?;
    let Trust::Oidc {
        issuer,
        token_endpoint,
        userinfo_endpoint,
        keys,
        ..
    } = trust(st, false).await.map_err(OidcRefusal::Http)?
    else {
        return Err(OidcRefusal::Token("not an OIDC app".into()));
    };
    let client_id = st.app.oidc().map(|o| o.client_id.as_str()).unwrap_or("");
    let rt = st.target.response_type;
    let (id_token, claims, info, access_token, refresh_token) = if rt.has_code() {
        let code = q
            .get("code")
            .ok_or(OidcRefusal::Token("no code in the callback".into()))?;
        let front = front_channel(
            st,
            q,
            Some(code),
            &issuer,
            client_id,
            &pending,
            keys.clone(),
        )
        .await?;
        let body = exchange(st, &token_endpoint, code, &pending).await?;
        let id_token = body["id_token"]
            .as_str()
            .ok_or(OidcRefusal::Token("no id_token".into()))?
            .to_owned();
        let claims = verify(st, &id_token, keys).await?;
        let now = st.now();
        let nonce = expected_nonce(st, &claims, &pending);
        let info = oidc::check_id_token(&claims, &issuer, client_id, &nonce, now, &st.flaws)?;
        if let Some(expected) = front.map(|f| f.info.sub).filter(|f| *f != info.sub) {
            return Err(OidcRefusal::FrontChannelSub {
                got: info.sub,
                expected,
            });
        }
        let text = |k: &str| body[k].as_str().map(str::to_owned);
        (
            id_token,
            claims,
            info,
            text("access_token"),
            text("refresh_token"),
        )
    } else {
        // The implicit flow (`id_token`, `id_token token`): no code, no token endpoint. The
        // id_token of the authorization response is the login's, validated as OIDC Core
        // §3.2.2.11 says (signature, iss, aud, nonce, exp; at_hash with an access token), and
        // the identity comes from it (userinfo only with an access token, when a claim is
        // missing). No refresh token: there is no token response to carry one.
        let front = front_channel(st, q, None, &issuer, client_id, &pending, keys)
            .await?
            .ok_or(OidcRefusal::MissingInResponse("id_token", rt.name()))?;
        let access_token = q.get("access_token").cloned();
        (front.token, front.claims, front.info, access_token, None)
    };
    let group_claim = st
        .app
        .groups
        .as_ref()
        .map(|g| g.attribute.clone())
        .unwrap_or_else(|| "groups".into());
    let needs_userinfo = ["email", "name", group_claim.as_str()]
        .iter()
        .any(|c| claims.get(*c).is_none());
    let userinfo = match (needs_userinfo, &userinfo_endpoint, access_token.as_deref()) {
        (true, Some(url), Some(at)) => userinfo(st, url, at, &info.sub).await?,
        _ => None,
    };
    let email = oidc::claim_str(&claims, userinfo.as_ref(), "email");
    // The `email-from-username` defect: behind another IdP than Okta, the email claim must be
    // there, but the account's email is taken from `preferred_username` (Entra's UPN).
    let email = match (email, claims["preferred_username"].as_str()) {
        (Some(_), Some(u)) if st.flaws.on(Flaw::EmailFromUsername) && !st.behind_okta() => {
            Some(u.to_owned())
        }
        (e, _) => e,
    };
    let name = oidc::claim_str(&claims, userinfo.as_ref(), "name");
    let (email, name) = profile(st, email, name).map_err(OidcRefusal::Profile)?;
    let mut groups = oidc::claim_list(&claims, userinfo.as_ref(), &group_claim);
    // Entra's group overage: no groups claim, a source to fetch them from. The SP fetches
    // them with its access token (the `overage-as-no-groups` defect reads it as no groups).
    if let Some(endpoint) = groups
        .is_none()
        .then(|| oidc::distributed_source(&claims, &group_claim))
        .flatten()
    {
        if !st.flaws.on(Flaw::OverageAsNoGroups) {
            let at = access_token.as_deref().unwrap_or_default();
            groups = Some(overage_groups(st, &endpoint, at).await?);
        }
    }
    if st.reads_group_paths() {
        groups = roles::from_paths(groups);
    }
    let role = roles::role_for(&st.settings, groups.as_deref(), &st.flaws)
        .map_err(|why| OidcRefusal::Profile(why.into()))?;
    let session = SpSession {
        protocol: "oidc",
        subject: info.sub,
        email,
        name,
        groups,
        role,
        session_index: info.sid,
        id_token: Some(id_token),
        refresh_token,
        created: st.now(),
    };
    Ok((session, pending.return_to))
}

/// A checked id_token of the authorization response: the token, its claims, what they say.
struct FrontIdToken {
    token: String,
    claims: Value,
    info: oidc::IdTokenInfo,
}

/// The id_token from the authorization endpoint, when the SP asks for one
/// (target.response_type): checked like the token endpoint's (signature, iss, aud, nonce, exp:
/// OIDC Core §3.2.2.11 in the implicit flow, §3.3.2.12 in the hybrid flow), and bound to what
/// came with it: `c_hash` to the code (§3.3.2.10), `at_hash` to the access token (§3.2.2.9,
/// §3.3.2.9). In the hybrid flow the token endpoint's id_token must repeat its `sub`
/// (§3.3.3.6); in the implicit flow it is the login's id_token. None without one.
async fn front_channel(
    st: &SpState,
    q: &HashMap<String, String>,
    code: Option<&str>,
    issuer: &str,
    client_id: &str,
    pending: &OidcPending,
    keys: Vec<Key>,
) -> Result<Option<FrontIdToken>, OidcRefusal> {
    let rt = st.target.response_type;
    if !rt.has_id_token() {
        return Ok(None);
    }
    let token = q
        .get("id_token")
        .ok_or(OidcRefusal::MissingInResponse("id_token", rt.name()))?;
    let claims = verify(st, token, keys).await?;
    let nonce = expected_nonce(st, &claims, pending);
    let info = oidc::check_id_token(&claims, issuer, client_id, &nonce, st.now(), &st.flaws)?;
    let alg = jwt::peek(token)
        .and_then(|(h, _)| h["alg"].as_str().map(str::to_owned))
        .unwrap_or_default();
    // alg none names no hash: an SP that took the token anyway (`accept-alg-none` and its
    // kin) hashes with SHA-256, the hash of both algorithms it registers.
    let alg = if alg.eq_ignore_ascii_case("none") {
        "RS256".to_owned()
    } else {
        alg
    };
    // The `skip-c-hash` defect: the code is taken without its binding to the id_token.
    if let Some(code) = code.filter(|_| !st.flaws.on(Flaw::SkipCHash)) {
        oidc::check_hash(&claims, &alg, oidc::Hashed::Code, code)?;
    }
    if rt.has_token() {
        let at = q
            .get("access_token")
            .ok_or(OidcRefusal::MissingInResponse("access_token", rt.name()))?;
        // The `skip-at-hash` defect: the access token is taken without its binding.
        if !st.flaws.on(Flaw::SkipAtHash) {
            oidc::check_hash(&claims, &alg, oidc::Hashed::AccessToken, at)?;
        }
    }
    Ok(Some(FrontIdToken {
        token: token.clone(),
        claims,
        info,
    }))
}

/// This browser's login in flight (by its login cookie), taken once; the callback's state must
/// be the one its request carried (RFC 6749 §10.12: a state from another browser's login, or
/// none, is login CSRF).
fn pending_login(
    st: &SpState,
    login: Option<&str>,
    state: Option<&str>,
) -> Result<OidcPending, OidcRefusal> {
    let mut all = lock(&st.oidc_pending);
    let mine = login
        .and_then(|id| all.remove(id))
        .ok_or(OidcRefusal::NoLoginInFlight)?;
    let ok = match state {
        Some(s) if s == mine.state => true,
        // The `state-any-pending` defect: any state the SP handed out will do.
        Some(s) => st.flaws.on(Flaw::StateAnyPending) && all.values().any(|p| p.state == s),
        // The `state-optional` defect: no state, no check.
        None => st.flaws.on(Flaw::StateOptional),
    };
    if ok {
        Ok(mine)
    } else {
        Err(OidcRefusal::State)
    }
}

/// The nonce the id_token must carry: the one of this browser's request (the
/// `no-pkce-nonce-any-pending` defect takes the nonce of any login in flight).
fn expected_nonce(st: &SpState, claims: &Value, pending: &OidcPending) -> String {
    match claims["nonce"].as_str() {
        Some(n)
            if st.flaws.on(Flaw::NoPkceNonceAnyPending)
                && lock(&st.oidc_pending).values().any(|p| p.nonce == n) =>
        {
            n.to_owned()
        }
        _ => pending.nonce.clone(),
    }
}

/// Redeems the code at the token endpoint (with the pending login's PKCE verifier and the
/// client's authentication): the token response, or why not.
async fn exchange(
    st: &SpState,
    token_endpoint: &str,
    code: &str,
    pending: &OidcPending,
) -> Result<Value, OidcRefusal> {
    let o = st
        .app
        .oidc()
        .ok_or(OidcRefusal::Token("not an OIDC app".into()))?;
    let redirect_uri = o.redirect_uris[0].to_string();
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
    ];
    if !st.flaws.on(Flaw::NoPkceNonceAnyPending) {
        fields.push(("code_verifier", pending.verifier.as_str()));
    }
    token_request(st, token_endpoint, fields).await
}

/// A token request with the client's authentication (Basic, in the body, or none); the token
/// response, or why not.
pub(super) async fn token_request(
    st: &SpState,
    token_endpoint: &str,
    mut fields: Vec<(&str, &str)>,
) -> Result<Value, OidcRefusal> {
    let o = st
        .app
        .oidc()
        .ok_or(OidcRefusal::Token("not an OIDC app".into()))?;
    let secret = o.client_secret.as_ref().map(|s| s.expose().to_owned());
    let assertion;
    let basic = match (o.token_auth, &secret) {
        // RFC 7523 §2.2 with OIDC Core §9's claims, as Okta wants them ("Build a JWT for
        // client authentication"): iss = sub = client_id, aud = the token endpoint's URL.
        (TokenAuth::ClientSecretJwt | TokenAuth::PrivateKeyJwt, _) => {
            assertion = client_assertion(st, token_endpoint).await?;
            fields.push((
                "client_assertion_type",
                crate::oidc::assertion::ASSERTION_TYPE,
            ));
            fields.push(("client_assertion", &assertion));
            None
        }
        (TokenAuth::ClientSecretBasic, Some(s)) => Some((o.client_id.as_str(), s.as_str())),
        (TokenAuth::ClientSecretPost, Some(s)) => {
            fields.push(("client_id", &o.client_id));
            fields.push(("client_secret", s));
            None
        }
        _ => {
            fields.push(("client_id", &o.client_id));
            None
        }
    };
    let answer = st
        .http
        .post_form(token_endpoint, &fields, basic)
        .await
        .map_err(|e| OidcRefusal::Http(e.to_string()))?;
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| OidcRefusal::Token(format!("status {}: {}", answer.status, answer.text())))?;
    if answer.status != 200 {
        return Err(OidcRefusal::Token(format!(
            "status {}: {}",
            answer.status, body
        )));
    }
    Ok(body)
}

/// A client assertion for the token endpoint: HS256 with the client secret
/// (`client_secret_jwt`) or the client's private key (`private_key_jwt`), valid five minutes,
/// with a fresh `jti`. Signed off the async workers.
async fn client_assertion(st: &SpState, token_endpoint: &str) -> Result<String, OidcRefusal> {
    use crate::oidc::{assertion, jwt};
    let o = st
        .app
        .oidc()
        .ok_or(OidcRefusal::Token("not an OIDC app".into()))?;
    let now = st.now().unix_timestamp();
    let claims = serde_json::json!({
        "iss": o.client_id,
        "sub": o.client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + 300,
        "jti": st.token(),
    });
    let failed = |e: String| OidcRefusal::Token(format!("cannot sign the client assertion: {e}"));
    enum With {
        Secret(String),
        Key(
            openssl::pkey::PKey<openssl::pkey::Private>,
            Option<String>,
            assertion::KeyAlg,
        ),
    }
    let with = match (o.token_auth, &o.client_secret, &st.sp_key) {
        (TokenAuth::ClientSecretJwt, Some(secret), _) => With::Secret(secret.expose().to_owned()),
        (TokenAuth::PrivateKeyJwt, _, Some(key)) => {
            // The kid of the registered key this private key belongs to, if it has one, and
            // the alg its JWK names (else the key's default: RS256, or its curve's ES alg).
            let registered = o.jwks.iter().find(|k| k.key.public_eq(key));
            let kid = registered.and_then(|k| k.kid.clone());
            let alg = registered
                .and_then(|k| k.alg)
                .or_else(|| assertion::alg_of(key))
                .ok_or_else(|| failed("not an RSA or EC (P-256, P-384, P-521) key".into()))?;
            With::Key(key.clone(), kid, alg)
        }
        _ => return Err(failed("no client secret or private key".into())),
    };
    let sign = move || -> Result<String, String> {
        let (alg, kid) = match &with {
            With::Secret(_) => ("HS256", None),
            With::Key(_, kid, alg) => (alg.name(), kid.as_deref()),
        };
        let header = jwt::Header {
            alg,
            kid,
            typ: None,
        };
        let input = jwt::signing_input(&header, &claims).map_err(|e| e.to_string())?;
        let sig = match &with {
            With::Secret(secret) => {
                assertion::hmac(alg, secret.as_bytes(), input.as_bytes()).ok_or("HMAC failed")?
            }
            With::Key(key, _, alg) => {
                assertion::sign(*alg, key, input.as_bytes()).map_err(|e| e.to_string())?
            }
        };
        Ok(format!("{input}.{}", jwt::b64(&sig)))
    };
    off_the_workers(sign).await.map_err(failed)?.map_err(failed)
}

/// The id_token's signature against the IdP's keys (fetched again, once, for a key the SP has
/// not seen: the IdP may have rotated); its claims.
pub(super) async fn verify(
    st: &SpState,
    id_token: &str,
    mut keys: Vec<Key>,
) -> Result<Value, OidcRefusal> {
    if st.flaws.on(Flaw::FailWithoutKid)
        && jwt::peek(id_token).is_some_and(|(h, _)| h.get("kid").is_none())
    {
        return Err(OidcRefusal::Internal(
            "the id_token header has no kid (the SP assumed one)".into(),
        ));
    }
    // The `require-kid` defect: no kid, no login, whatever the JWKS holds.
    if st.flaws.on(Flaw::RequireKid)
        && jwt::peek(id_token).is_some_and(|(h, _)| h.get("kid").is_none())
    {
        return Err(OidcRefusal::Jwt(jwt::JwtRefusal::KidRequired));
    }
    let verify = |keys: Vec<Key>| {
        let (token, flaws) = (id_token.to_owned(), st.flaws.clone());
        async move {
            off_the_workers(move || jwt::verify(&token, &keys, &["RS256", "ES256"], &flaws))
                .await
                .map_err(OidcRefusal::Internal)?
                .map_err(OidcRefusal::from)
        }
    };
    let verified = match verify(keys.clone()).await {
        Err(OidcRefusal::Jwt(jwt::JwtRefusal::UnknownKid(_)))
            if !st.flaws.on(Flaw::NoJwksRefetch) =>
        {
            if let Ok(Trust::Oidc { keys: fresh, .. }) = trust(st, true).await {
                keys = fresh;
            }
            verify(keys).await
        }
        other => other,
    };
    verified.map(|(_, claims)| claims)
}

/// The userinfo answer, when the id_token lacks a claim the SP needs: used only when its `sub`
/// is the id_token's (OIDC Core 5.3.2).
/// The groups of an overage, from the claim source's endpoint (Graph's getMemberObjects, on
/// the IdP's host: this SP talks to nothing else): its `value` list.
async fn overage_groups(
    st: &SpState,
    endpoint: &str,
    access_token: &str,
) -> Result<Vec<String>, OidcRefusal> {
    let idp = format!("{}/", st.conn.idp.base());
    if !endpoint.starts_with(&idp) {
        return Err(OidcRefusal::Profile(format!(
            "the groups overage points to {endpoint}, not to the IdP ({idp}): not fetched"
        )));
    }
    let body = serde_json::json!({ "securityEnabledOnly": false });
    let a = st
        .http
        .post_json(endpoint, &body, access_token)
        .await
        .map_err(|e| OidcRefusal::Http(e.to_string()))?;
    if a.status != 200 {
        return Err(OidcRefusal::Profile(format!(
            "fetching the overage's groups from {endpoint} answered {}",
            a.status
        )));
    }
    let v: Value = serde_json::from_slice(&a.body)
        .map_err(|_| OidcRefusal::Profile(format!("the groups from {endpoint} are not JSON")))?;
    let list = v["value"].as_array().ok_or_else(|| {
        OidcRefusal::Profile(format!("the answer of {endpoint} has no `value` list"))
    })?;
    Ok(list
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect())
}

async fn userinfo(
    st: &SpState,
    url: &str,
    access_token: &str,
    sub: &str,
) -> Result<Option<Value>, OidcRefusal> {
    let a = st
        .http
        .get(url, Some(access_token))
        .await
        .map_err(|e| OidcRefusal::Http(e.to_string()))?;
    if a.status != 200 {
        return Ok(None);
    }
    let u: Value = serde_json::from_slice(&a.body)
        .map_err(|_| OidcRefusal::Http("userinfo is not JSON".into()))?;
    let differs = u["sub"].as_str() != Some(sub);
    if differs && st.flaws.on(Flaw::UserinfoMismatchDropped) {
        // Not used, not refused: the id_token's identity alone.
        tracing::info!("userinfo sub differs: answer dropped");
        Ok(None)
    } else if differs && !st.flaws.on(Flaw::IgnoreUserinfoSub) {
        Err(OidcRefusal::UserinfoSub {
            got: u["sub"].to_string(),
            expected: sub.to_owned(),
        })
    } else {
        Ok(Some(u))
    }
}
