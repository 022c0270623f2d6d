//! The token endpoint: client authentication, then one function per grant type, and the
//! signing and recording of the tokens a grant issues.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::Duration;

use super::{
    OAuthForm, OAuthResponse, ServerId, blocking, checked, client, invalid_grant, invalid_request,
    no_store,
};
use crate::config::{App, AuthServer, GrantType, OidcApp, Rotation, SigningAlg, User};
use crate::idp::state::{IdpState, RefreshUse, lock};
use crate::idp::tokens::{RedeemError, TokenInfo, TokenKind};
use crate::oidc::authorize;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::jwt;
use crate::oidc::tokens::{self, Grant};

/// `POST .../v1/token`
pub async fn token(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    checked(&form)?;
    blocking(move || grant(&state, &server, &headers, &form.map)).await
}

fn grant(
    state: &IdpState,
    server: &AuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthResponse> {
    let (app, oidc) = client(state, server, "token", headers, form)?;
    let Some(asked) = form.get("grant_type") else {
        return Err(invalid_request("the request has no grant_type"));
    };
    // The implicit grant has no token request (RFC 6749 §4.2): it is no `grant_type` here.
    let token_grants: Vec<GrantType> = GrantType::ALL
        .iter()
        .copied()
        .filter(|g| g.at_token_endpoint())
        .collect();
    let Some(kind) = token_grants.iter().copied().find(|g| g.name() == asked) else {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type `{asked}` is not supported; use {}",
                crate::oidc::grant_names(&token_grants)
            ),
        )
        .into());
    };
    // RFC 6749 §5.2: unauthorized_client, "The authenticated client is not authorized to use
    // this authorization grant type" (Okta: the app's "Grant type" box is not ticked).
    if !oidc.grant_types.contains(&kind) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "client `{}` may not use grant_type `{asked}` (its grant_types: {})",
                oidc.client_id,
                crate::oidc::grant_names(&oidc.grant_types)
            ),
        )
        .into());
    }
    let body = match kind {
        GrantType::AuthorizationCode => authorization_code(state, server, app, oidc, form)?,
        GrantType::RefreshToken => refresh_token(state, server, app, oidc, form)?,
        GrantType::ClientCredentials => client_credentials(state, server, app, oidc, form)?,
        GrantType::Implicit => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "the implicit grant has no token request (RFC 6749 §4.2)",
            )
            .into());
        }
    };
    Ok((no_store(), Json(body)).into_response())
}

/// `grant_type=authorization_code` (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6).
fn authorization_code(
    state: &IdpState,
    server: &AuthServer,
    app: &App,
    oidc: &OidcApp,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthResponse> {
    let now = state.now();
    let code = form
        .get("code")
        .ok_or_else(|| invalid_request("the request has no code"))?;
    let grant = lock(&state.tokens).redeem(code, &oidc.client_id, now).map_err(|e| match e {
        RedeemError::Unknown => invalid_grant("the authorization code is unknown"),
        RedeemError::OtherClient => {
            invalid_grant("the authorization code was issued to another client")
        }
        RedeemError::Expired => invalid_grant("the authorization code has expired"),
        RedeemError::Reused { revoked } => invalid_grant(format!(
            "the authorization code was already used; the {revoked} token(s) issued for it are now revoked"
        )),
    })?;
    match form.get("redirect_uri") {
        Some(r) if *r == grant.redirect_uri => {}
        Some(r) => {
            return Err(invalid_grant(format!(
                "redirect_uri `{r}` is not the one of the authorization request"
            )));
        }
        None => return Err(invalid_grant("the request has no redirect_uri")),
    }
    match (&grant.challenge, form.get("code_verifier")) {
        (Some((challenge, method)), Some(v)) => {
            if let Err(e) = crate::oidc::pkce::check_verifier(v) {
                return Err(invalid_grant(format!("PKCE verification failed: {e}")));
            }
            if !crate::oidc::pkce::verify(*method, challenge, v) {
                return Err(invalid_grant(
                    "PKCE verification failed: the code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => {
            return Err(invalid_grant(
                "the authorization request used PKCE: a code_verifier is required",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid_grant(
                "a code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let user = state
        .user_view(grant.trial.as_deref(), &grant.user_id)
        .ok_or_else(|| invalid_grant("the user no longer exists"))?;
    issue_tokens(
        state,
        app,
        oidc,
        &user,
        server,
        IssueFor {
            scopes: &grant.scopes,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
            sid: &grant.sid,
            refresh: RefreshToken::NewIfOffline,
            from_code: Some(code),
            trial: grant.trial.as_deref(),
            front_channel_id_token: grant.front_channel_id_token,
        },
    )
}

/// `grant_type=refresh_token` (RFC 6749 §6), with the app's refresh token policy (Okta,
/// "Refresh token rotation"): a persistent token comes back unchanged; a rotating one is
/// replaced by a new token of the same family, and the replaced one "remains valid for the
/// configured amount of time to allow clients to get the new token" (its grace period: it
/// answers with new access and id tokens and that same new refresh token). Used after the grace
/// period, "Okta immediately invalidates the most recently issued refresh token and all access
/// tokens issued since the user authenticated": the whole family is revoked. A token not used
/// for the policy's idle time, or past the grant's lifetime, is expired.
fn refresh_token(
    state: &IdpState,
    server: &AuthServer,
    app: &App,
    oidc: &OidcApp,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthResponse> {
    let now = state.now();
    let policy = oidc.refresh;
    let rt = form
        .get("refresh_token")
        .ok_or_else(|| invalid_request("the request has no refresh_token"))?;
    let info = {
        let mut store = lock(&state.tokens);
        match store
            .token(rt)
            .filter(|t| t.kind == TokenKind::Refresh)
            .cloned()
        {
            Some(info) => {
                // In use: the access tokens it mints must not push it out of the store.
                store.touch(rt);
                info
            }
            // A rotated token the store has dropped: its grant is its successor's.
            None => match evicted_rotated(&mut store, rt, oidc, now) {
                Ok(info) => info,
                Err((trial, refused)) => {
                    drop(store);
                    if trial.is_some() {
                        state.note_refresh(trial.as_deref(), RefreshUse::RotatedReused);
                    }
                    return Err(refused);
                }
            },
        }
    };
    // Another client's attempt changes nothing (no reuse detection on its behalf).
    if info.client_id != oidc.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if info.revoked {
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if !info.active(now) {
        return Err(invalid_grant(format!(
            "the refresh token has expired: its lifetime ({} s from the login) is over",
            policy.lifetime_secs.unwrap_or_default()
        )));
    }
    let last = info.used.unwrap_or(info.issued_at);
    if let Some(idle) = policy.idle_secs {
        if last + Duration::seconds(idle) <= now {
            return Err(invalid_grant(format!(
                "the refresh token has expired: it was not used for {idle} s (the app's idle_seconds)"
            )));
        }
    }
    let scopes: Vec<String> = match form.get("scope") {
        Some(s) => {
            let asked = authorize::scope_list(s);
            if let Some(extra) = asked.iter().find(|x| !info.scopes.contains(x)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` was not granted to this refresh token"),
                )
                .into());
            }
            asked
        }
        None => info.scopes.clone(),
    };
    let user = state
        .user_view(info.trial.as_deref(), &info.user_id)
        .ok_or_else(|| invalid_grant("the user no longer exists"))?;
    let family = info.refresh.clone().unwrap_or_else(|| rt.clone());
    // Decided under one lock, so that two refreshes with one token cannot both rotate it.
    let refresh = {
        let mut store = lock(&state.tokens);
        let rotated = store.token(rt).and_then(|t| t.rotated.clone()).or_else(|| {
            store
                .tombstone(rt)
                .map(|t| (t.rotated, t.successor.clone()))
        });
        match rotated {
            Some((at, successor)) => {
                let grace = Duration::seconds(policy.grace_period_secs);
                // Only the token just replaced has a grace period: its successor must not have
                // been replaced in turn.
                let successor_current = store
                    .token(&successor)
                    .is_none_or(|t| t.rotated.is_none() && !t.revoked);
                if now < at + grace && successor_current {
                    drop(store);
                    state.note_refresh(info.trial.as_deref(), RefreshUse::RotatedInGrace);
                    RefreshToken::Return {
                        token: successor,
                        family,
                    }
                } else {
                    let revoked = store.revoke_family(&family);
                    drop(store);
                    state.note_refresh(info.trial.as_deref(), RefreshUse::RotatedReused);
                    tracing::warn!(client = %oidc.client_id, revoked, "refresh token reuse detected");
                    return Err(invalid_grant(format!(
                        "the refresh token was rotated {} s ago and its grace period ({} s) is over: reusing it revokes every token of the grant ({revoked} revoked; Okta's refresh token reuse detection)",
                        (now - at).whole_seconds(),
                        policy.grace_period_secs
                    )));
                }
            }
            None => {
                let r = match policy.rotation {
                    Rotation::Static => {
                        store.mark_used(rt, now);
                        RefreshToken::Return {
                            token: rt.clone(),
                            family,
                        }
                    }
                    Rotation::Rotate => {
                        let new = state.new_token();
                        store.mark_rotated(rt, &new, now);
                        RefreshToken::Rotate {
                            token: new,
                            family,
                            expires: info.expires,
                        }
                    }
                };
                drop(store);
                let rotated = policy.rotation == Rotation::Rotate;
                state.note_refresh(info.trial.as_deref(), RefreshUse::Current { rotated });
                r
            }
        }
    };
    issue_tokens(
        state,
        app,
        oidc,
        &user,
        server,
        IssueFor {
            scopes: &scopes,
            nonce: None,
            auth_time: info.auth_time,
            sid: &info.sid,
            refresh,
            from_code: None,
            trial: info.trial.as_deref(),
            front_channel_id_token: false,
        },
    )
}

/// A refresh token the store no longer holds but whose tombstone says it was rotated: the
/// record of its successor (same grant, same family), so that the grace period and reuse
/// detection apply as if it were still stored. With the successor gone too, the grant has moved
/// on past any grace period: the reuse revokes what is left of the family, and the refusal
/// names the trial the grant was issued in (a reuse to record against it).
fn evicted_rotated(
    store: &mut crate::idp::tokens::TokenStore,
    rt: &str,
    oidc: &OidcApp,
    now: time::OffsetDateTime,
) -> Result<TokenInfo, (Option<String>, OAuthResponse)> {
    let stone = store
        .tombstone(rt)
        .cloned()
        .ok_or_else(|| (None, invalid_grant("the refresh token is unknown")))?;
    if stone.client_id != oidc.client_id {
        return Err((
            None,
            invalid_grant("the refresh token was issued to another client"),
        ));
    }
    if let Some(successor) = store
        .token(&stone.successor)
        .filter(|t| t.kind == TokenKind::Refresh)
    {
        return Ok(successor.clone());
    }
    let revoked = store.revoke_family(&stone.family);
    tracing::warn!(client = %oidc.client_id, revoked, "refresh token reuse detected");
    Err((
        stone.trial,
        invalid_grant(format!(
            "the refresh token was rotated {} s ago and replaced since: reusing it revokes every token of the grant ({revoked} revoked; Okta's refresh token reuse detection)",
            (now - stone.rotated).whole_seconds()
        )),
    ))
}

/// `grant_type=client_credentials` (RFC 6749 §4.4): an access token for the client itself, no
/// user, no id_token, no refresh token (§4.4.3: "A refresh token SHOULD NOT be included"). As
/// Okta: at least one scope, and none of OpenID Connect's ("Cannot request 'openid' scopes using
/// client credentials", `invalid_scope`).
fn client_credentials(
    state: &IdpState,
    server: &AuthServer,
    app: &App,
    oidc: &OidcApp,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthResponse> {
    let scopes = authorize::scope_list(form.get("scope").map(String::as_str).unwrap_or(""));
    if scopes.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "a client_credentials request needs at least one of the authorization server's custom scopes",
        )
        .into());
    }
    if let Some(s) = scopes.iter().find(|s| OIDC_SCOPES.contains(&s.as_str())) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("Cannot request '{s}' scopes using client credentials."),
        )
        .into());
    }
    let now = state.now();
    let base = state.conn.idp.base();
    let jti = format!("AT.{}", state.new_token());
    let claims = tokens::client_access_token_claims(
        &state.conn.idp.oidc_issuer(server),
        &server.access_token_audience(base),
        oidc,
        &scopes,
        now,
        &jti,
    );
    let access_token = jwt::sign(
        SigningAlg::RS256,
        &state.rsa_kid,
        None,
        state.keys.current.pkey(),
        &claims,
    )
    .map_err(sign_error)?;
    // Recorded for revocation and introspection; no user (an empty user id is no user's, and
    // userinfo answers it `invalid_token`).
    lock(&state.tokens).add_token(
        access_token.clone(),
        TokenInfo {
            kind: TokenKind::Access,
            app_id: app.id.clone(),
            client_id: oidc.client_id.clone(),
            user_id: String::new(),
            scopes: scopes.clone(),
            auth_time: now,
            sid: String::new(),
            issued_at: now,
            expires: Some(now + Duration::seconds(oidc.access_token_lifetime_secs)),
            jti: Some(jti),
            revoked: false,
            trial: None,
            refresh: None,
            used: None,
            rotated: None,
        },
        None,
    );
    tracing::info!(client = %oidc.client_id, "issued a client_credentials access token");
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": oidc.access_token_lifetime_secs,
        "access_token": access_token,
        "scope": scopes.join(" "),
    }))
}

/// The scopes that ask about a user, which a grant without one cannot be given.
const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "groups",
];

/// The refresh token a grant answers with.
enum RefreshToken {
    /// A new family if the login asked for `offline_access` and the app has the grant.
    NewIfOffline,
    /// A token already recorded: a persistent one again, or a rotated one's successor.
    Return { token: String, family: String },
    /// A new token of the family (rotation), recorded now; the grant's expiry carries over.
    Rotate {
        token: String,
        family: String,
        expires: Option<time::OffsetDateTime>,
    },
}

struct IssueFor<'a> {
    scopes: &'a [String],
    nonce: Option<&'a str>,
    auth_time: time::OffsetDateTime,
    sid: &'a str,
    refresh: RefreshToken,
    from_code: Option<&'a str>,
    trial: Option<&'a str>,
    /// The authorization endpoint returned an id_token for this grant (hybrid flow).
    front_channel_id_token: bool,
}

/// What every token of one login shares, wherever it is issued (the authorization endpoint's
/// implicit and hybrid answers, the token endpoint): the claims' [`Grant`], the signed access
/// token and how tokens are recorded. Making one notes the issuance for the runner's trial.
struct Login<'a> {
    state: &'a IdpState,
    app: &'a App,
    oidc: &'a OidcApp,
    user: &'a User,
    server: &'a AuthServer,
    trial: Option<&'a str>,
    scopes: &'a [String],
    auth_time: time::OffsetDateTime,
    sid: &'a str,
    issuer: String,
    emit: crate::config::Emit,
    now: time::OffsetDateTime,
}

impl<'a> Login<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        state: &'a IdpState,
        app: &'a App,
        oidc: &'a OidcApp,
        user: &'a User,
        server: &'a AuthServer,
        trial: Option<&'a str>,
        scopes: &'a [String],
        auth_time: time::OffsetDateTime,
        sid: &'a str,
    ) -> Self {
        state.note_issued(
            trial,
            crate::idp::state::Issued {
                kind: crate::idp::state::IssuedKind::Tokens,
                subject: state.conn.idp.subject(user, &oidc.client_id),
                email: user.email.clone(),
            },
        );
        Login {
            state,
            app,
            oidc,
            user,
            server,
            trial,
            scopes,
            auth_time,
            sid,
            issuer: state.conn.idp.oidc_issuer(server),
            emit: state.emit_view(trial, &user.id),
            now: state.now(),
        }
    }

    fn grant(&self, nonce: Option<&'a str>) -> Grant<'_> {
        Grant {
            conn: &self.state.conn,
            issuer: &self.issuer,
            app: self.app,
            oidc: self.oidc,
            user: self.user,
            scopes: self.scopes,
            nonce,
            auth_time: self.auth_time,
            sid: self.sid,
            omit: &self.emit.omit_attributes,
            full_group_paths: self.emit.full_group_paths,
        }
    }

    /// The access token (RS256 with the IdP's current key) and its jti.
    fn access_token(&self, grant: &Grant<'_>) -> Result<(String, String), OAuthResponse> {
        let jti = format!("AT.{}", self.state.new_token());
        let audience = self
            .server
            .access_token_audience(self.state.conn.idp.base());
        let claims = tokens::access_token_claims(grant, &audience, self.now, &jti);
        let rsa = self.state.keys.current.pkey();
        let token = jwt::sign(SigningAlg::RS256, &self.state.rsa_kid, None, rsa, &claims)
            .map_err(sign_error)?;
        Ok((token, jti))
    }

    /// The record of the access token, of the refresh token `family` when it has one.
    fn access_token_info(&self, jti: String, family: Option<String>) -> TokenInfo {
        let lifetime = Duration::seconds(self.oidc.access_token_lifetime_secs);
        self.token_info(
            TokenKind::Access,
            Some(self.now + lifetime),
            Some(jti),
            family,
        )
    }

    fn token_info(
        &self,
        kind: TokenKind,
        expires: Option<time::OffsetDateTime>,
        jti: Option<String>,
        family: Option<String>,
    ) -> TokenInfo {
        TokenInfo {
            kind,
            app_id: self.app.id.clone(),
            client_id: self.oidc.client_id.clone(),
            user_id: self.user.id.clone(),
            scopes: self.scopes.to_vec(),
            auth_time: self.auth_time,
            sid: self.sid.to_owned(),
            issued_at: self.now,
            expires,
            jti,
            revoked: false,
            trial: self.trial.map(str::to_owned),
            refresh: family,
            used: None,
            rotated: None,
        }
    }
}

fn sign_error(e: jwt::JwtError) -> OAuthResponse {
    tracing::error!("signing a token failed: {e}");
    OAuthError::new(
        ErrorCode::InvalidRequest,
        "the IdP could not sign the token",
    )
    .into()
}

/// Signs an id_token for `oidc` with its key, or, in a runner trial with `fault`, forges it
/// from the honest claims (noting what was altered and the forged token for the transcript).
/// `from` says where the SP got it.
fn sign_id_token(
    state: &IdpState,
    oidc: &OidcApp,
    trial: Option<&str>,
    fault: Option<crate::oidc::faults::Fault>,
    id_claims: serde_json::Map<String, Value>,
    from: crate::oidc::faults::IdTokenChannel,
) -> Result<String, OAuthResponse> {
    let rsa = state.keys.current.pkey();
    let (kid, key) = match oidc.signing_alg {
        SigningAlg::RS256 => (state.rsa_kid.as_str(), rsa),
        SigningAlg::ES256 => (state.ec_kid.as_str(), state.keys.ec.pkey()),
    };
    let Some(fault) = fault else {
        return jwt::sign(oidc.signing_alg, kid, None, key, &id_claims).map_err(sign_error);
    };
    // A runner trial's attack, applied to the honest claims and signature.
    let rotation = if fault == crate::oidc::faults::Fault::KeyRotation {
        state.publish_rotation_key()
    } else {
        None
    };
    let rotation_ref = rotation.as_ref().map(|(k, key)| (k.as_str(), key.pkey()));
    let honest_claims = Value::Object(id_claims.clone());
    let (token, altered) = crate::oidc::faults::forge_id_token(
        fault,
        id_claims,
        oidc.signing_alg,
        kid,
        key,
        rsa,
        rotation_ref,
    )
    .map_err(sign_error)?;
    state.note_altered(
        trial,
        format!("{} {}: {altered}", fault.case(), fault.name()),
    );
    state.note_forged_id_token(trial, from);
    let honest_header = serde_json::to_value(jwt::Header {
        alg: oidc.signing_alg.name(),
        kid: Some(kid),
        typ: None,
    })
    .unwrap_or_default();
    state.note_document(
        trial,
        format!("forged id_token (what the SP got from {from})"),
        crate::oidc::faults::show_jwt(fault, &honest_header, &honest_claims, &token),
    );
    Ok(token)
}

/// The tokens the authorization endpoint returns beside (or instead of) a code: an access token
/// for `token`, an id_token for `id_token` with `at_hash` and `c_hash` for what comes with it
/// (OIDC Core §3.2.2.5, §3.2.2.10, §3.3.2.5, §3.3.2.11), as response fields. Recorded like
/// the token endpoint's, for revocation and introspection. A trial's front-channel fault (O23,
/// O24) and signature fault (O6-O9: this is the id_token whose signature the RP must check)
/// forge this id_token.
#[allow(clippy::too_many_arguments)]
pub(super) fn front_channel(
    state: &IdpState,
    app: &App,
    oidc: &OidcApp,
    user: &User,
    request: &authorize::AuthorizeRequest,
    session: &crate::idp::state::IdpSession,
    code: Option<&str>,
    trial: Option<&str>,
) -> Result<Vec<(&'static str, String)>, OAuthError> {
    let login = Login::new(
        state,
        app,
        oidc,
        user,
        &oidc.server,
        trial,
        &request.scopes,
        session.authn_instant,
        &session.session_index,
    );
    let now = login.now;
    let grant = login.grant(request.nonce.as_deref());
    let rt = request.response_type;
    let mut fields = Vec::new();
    let access_token = if rt.has_token() {
        let (at, jti) = login.access_token(&grant).map_err(|e| e.error)?;
        lock(&state.tokens).add_token(at.clone(), login.access_token_info(jti, None), None);
        fields.push(("access_token", at.clone()));
        fields.push(("token_type", "Bearer".to_owned()));
        fields.push(("expires_in", oidc.access_token_lifetime_secs.to_string()));
        fields.push(("scope", request.scopes.join(" ")));
        Some(at)
    } else {
        None
    };
    if rt.has_id_token() {
        let jti = format!("ID.{}", state.new_token());
        let claims =
            tokens::front_channel_id_token_claims(&grant, now, &jti, access_token.as_deref(), code);
        // O23, O24; in the implicit flows every fault of the login's id_token (no code, no
        // token endpoint): `Fault::login_id_token_channel` decides.
        let fault = state.trial_oidc_fault(trial).filter(|f| {
            f.login_id_token_channel(rt)
                == Some(crate::oidc::faults::IdTokenChannel::AuthorizationEndpoint)
        });
        let id_token = sign_id_token(
            state,
            oidc,
            trial,
            fault,
            claims,
            crate::oidc::faults::IdTokenChannel::AuthorizationEndpoint,
        )
        .map_err(|e| e.error)?;
        lock(&state.tokens).add_id_token(
            jti,
            oidc.client_id.clone(),
            user.id.clone(),
            session.session_index.clone(),
        );
        fields.push(("id_token", id_token));
    }
    Ok(fields)
}

/// Signs an access token and an id_token (one RSA signature each for RS256) and records them.
fn issue_tokens(
    state: &IdpState,
    app: &App,
    oidc: &OidcApp,
    user: &User,
    server: &AuthServer,
    f: IssueFor<'_>,
) -> Result<Value, OAuthResponse> {
    let login = Login::new(
        state,
        app,
        oidc,
        user,
        server,
        f.trial,
        f.scopes,
        f.auth_time,
        f.sid,
    );
    let now = login.now;
    let grant = login.grant(f.nonce);
    let emit = &login.emit;
    let (access_token, at_jti) = login.access_token(&grant)?;
    let id_jti = format!("ID.{}", state.new_token());
    let id_claims = tokens::id_token_claims(&grant, now, &id_jti, Some(&access_token));
    // A refresh fault forges only the id_token of a refresh grant; every other, only the
    // login's.
    let on_refresh = f.from_code.is_none();
    // O25's faults are in the okta_post_message page, never in a token; a signature fault
    // went into the front-channel id_token when there was one.
    let fault = state.trial_oidc_fault(f.trial).filter(|x| {
        // A hybrid login's signature fault went into its front-channel id_token.
        let went_front = f.front_channel_id_token && x.in_signature();
        x.on_refresh() == on_refresh
            && !x.in_post_message()
            && !x.in_front_channel()
            && !x.at_launch()
            && !went_front
    });
    let id_token = sign_id_token(
        state,
        oidc,
        f.trial,
        fault,
        id_claims,
        crate::oidc::faults::IdTokenChannel::TokenEndpoint,
    )?;
    crate::idp::inspect::tokens(state, app, user, emit, &access_token, &id_token);
    // The grant's refresh token, decided before the access token is recorded so that it can
    // name it (revoking the refresh token revokes the access token).
    // (token, family, Some(expiry) when the token is new and must be recorded)
    #[allow(clippy::type_complexity)]
    let refresh: Option<(String, String, Option<Option<time::OffsetDateTime>>)> = match f.refresh {
        RefreshToken::Return { token, family } => Some((token, family, None)),
        RefreshToken::Rotate {
            token,
            family,
            expires,
        } => Some((token, family, Some(expires))),
        // Okta issues a refresh token only when the app has the refresh token grant.
        RefreshToken::NewIfOffline
            if f.scopes.iter().any(|s| s == "offline_access")
                && oidc.grant_types.contains(&GrantType::RefreshToken) =>
        {
            let t = state.new_token();
            let expires = oidc
                .refresh
                .lifetime_secs
                .map(|l| now + Duration::seconds(l));
            Some((t.clone(), t, Some(expires)))
        }
        RefreshToken::NewIfOffline => None,
    };
    let family = refresh.as_ref().map(|(_, f, _)| f.clone());
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": oidc.access_token_lifetime_secs,
        "access_token": access_token,
        "scope": f.scopes.join(" "),
        "id_token": id_token,
    });
    let mut store = lock(&state.tokens);
    store.add_token(
        access_token,
        login.access_token_info(at_jti, family.clone()),
        f.from_code,
    );
    store.add_id_token(
        id_jti,
        oidc.client_id.clone(),
        user.id.clone(),
        f.sid.to_owned(),
    );
    if let Some((rt, _, new)) = refresh {
        if let Some(expires) = new {
            store.add_token(
                rt.clone(),
                login.token_info(TokenKind::Refresh, expires, None, family),
                f.from_code,
            );
        }
        body["refresh_token"] = json!(rt);
    }
    drop(store);
    tracing::info!(client = %oidc.client_id, user = %user.id, "issued tokens");
    Ok(body)
}
