//! OpenID Connect over HTTP: discovery, JWKS, authorize (code flow with PKCE, the shared login
//! page and IdP session), token (authorization_code, refresh_token), userinfo, end_session,
//! revocation (RFC 7009) and introspection (RFC 7662), for the org server and custom servers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{
    FromRequest, FromRequestParts, Query, RawPathParams, RawQuery, Request, State,
};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use time::Duration;

use super::IdpError;
use super::html::{e, page};
use super::sso::{current_session, to_login_page};
use super::state::{IdpSession, IdpState, PendingKind, PendingLogin, lock};
use super::tokens::{CodeGrant, RedeemError, TokenInfo, TokenKind};
use crate::config::{App, AuthServer, OidcApp, SigningAlg, User};
use crate::oidc::authorize::{self, AuthorizeError, AuthorizeRequest, Prompt, ResponseMode};
use crate::oidc::client_auth;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::jwt;
use crate::oidc::params::{self, Params};
use crate::oidc::tokens::{self, Grant};
use crate::saml::binding::post_form_fields;

/// The authorization server a request is addressed to, from the `{server}` path segment.
#[derive(Debug, Clone)]
pub struct ServerId(pub AuthServer);

impl<S: Send + Sync> FromRequestParts<S> for ServerId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let server = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "server")
                    .map(|(_, v)| v.to_owned())
            });
        Ok(ServerId(match server {
            Some(id) => AuthServer::Custom(id),
            None => AuthServer::Org,
        }))
    }
}

/// An OAuth error as a JSON answer (RFC 6749 5.2).
#[derive(Debug)]
pub struct OAuthResponse {
    pub error: OAuthError,
    /// The client tried Basic authentication (a 401 then carries WWW-Authenticate: Basic).
    pub basic: bool,
}

impl From<OAuthError> for OAuthResponse {
    fn from(error: OAuthError) -> Self {
        OAuthResponse {
            error,
            basic: false,
        }
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let status = match self.error.error {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        tracing::info!("OAuth error: {}", self.error);
        let mut resp = (status, no_store(), Json(&self.error)).into_response();
        if status == StatusCode::UNAUTHORIZED && self.basic {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"fakta\""),
            );
        }
        resp
    }
}

/// An OAuth error document with another status than RFC 6749 §5.2's 400/401 (413, 415): a
/// client reading `error` finds one whatever went wrong.
fn oauth_status(status: StatusCode, error: OAuthError) -> Response {
    tracing::info!("OAuth error ({status}): {error}");
    (status, no_store(), Json(&error)).into_response()
}

/// The parameters of a form body (token, revocation, introspection). A body that is too large
/// or not a form is refused with an OAuth JSON error (413 or 415) rather than axum's text.
#[derive(Debug)]
pub struct OAuthForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(oauth_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "send the parameters as application/x-www-form-urlencoded (RFC 6749 §3.2)",
                ),
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                let msg = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    format!(
                        "the request body is larger than {} bytes",
                        super::router::MAX_BODY_BYTES
                    )
                } else {
                    format!("the request body could not be read: {}", e.body_text())
                };
                oauth_status(e.status(), OAuthError::new(ErrorCode::InvalidRequest, msg))
            })?;
        Ok(OAuthForm(params::parse(&body)))
    }
}

/// The parameters, each present once and within its size limit (RFC 6749 §3.1, §3.2).
fn checked(p: &Params) -> Result<&HashMap<String, String>, OAuthResponse> {
    p.checked().map_err(|e| invalid_request(e.to_string()))
}

fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

fn apps_on<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
) -> impl Iterator<Item = (&'s App, &'s OidcApp)> + 's {
    state
        .conn
        .apps
        .iter()
        .filter_map(|a| a.oidc().map(|o| (a, o)))
        .filter(move |(_, o)| &o.server == server)
}

fn find_client<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
    client_id: &str,
) -> Option<(&'s App, &'s OidcApp)> {
    apps_on(state, server).find(|(_, o)| o.client_id == client_id)
}

fn server_exists(state: &IdpState, server: &AuthServer) -> bool {
    *server == AuthServer::Org || apps_on(state, server).next().is_some()
}

/// `GET /.well-known/openid-configuration` and `/oauth2/{server}/.well-known/openid-configuration`
pub async fn discovery(State(state): State<Arc<IdpState>>, ServerId(server): ServerId) -> Response {
    if !server_exists(&state, &server) {
        return not_found_server(&server);
    }
    let honest = super::export::discovery_document(&state, &server);
    Json(state.discovery_document(honest)).into_response()
}

fn not_found_server(server: &AuthServer) -> Response {
    let id = match server {
        AuthServer::Org => "org",
        AuthServer::Custom(id) => id,
    };
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "errorCode": "E0000007",
            "errorSummary": format!("Not found: authorization server `{id}` (no app uses it)"),
        })),
    )
        .into_response()
}

/// `GET .../v1/keys`: every published key (current RSA, a rotated-out RSA key until retired, EC).
pub async fn keys(State(state): State<Arc<IdpState>>, ServerId(server): ServerId) -> Response {
    if !server_exists(&state, &server) {
        return not_found_server(&server);
    }
    (
        [
            (CACHE_CONTROL, "max-age=300"),
            (axum::http::header::CONTENT_TYPE, "application/json"),
        ],
        state.jwks_document(),
    )
        .into_response()
}

/// `GET|POST .../v1/authorize`
pub async fn authorize_get(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params::parse(query.unwrap_or_default().as_bytes());
    authorize(&state, &server, &headers, &params)
}

pub async fn authorize_post(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    authorize(&state, &server, &headers, &params::parse(&body))
}

fn authorize(
    state: &IdpState,
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> Response {
    let request = match authorize::parse(params, |cid| {
        find_client(state, server, cid).map(|(_, o)| o)
    }) {
        Ok(r) => r,
        Err(AuthorizeError::Page(msg)) => return IdpError::Authorize(msg).into_response(),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state: st,
            error,
        }) => return redirect_error(&redirect_uri, response_mode, st.as_deref(), &error),
    };
    let Some((app, _)) = find_client(state, server, &request.client_id) else {
        return IdpError::Authorize("unknown client".into()).into_response();
    };
    let now = state.now();
    let session = current_session(state, headers).filter(|(s, _)| {
        request.prompt != Prompt::Login
            && request
                .max_age
                .is_none_or(|m| now - s.authn_instant <= Duration::seconds(m))
    });
    match session {
        Some((session, user)) => answer_with_code(
            state,
            &request,
            &user,
            &session,
            super::state::trial_of(headers),
        ),
        None if request.prompt == Prompt::None => redirect_error(
            &request.redirect_uri,
            request.response_mode,
            request.state.as_deref(),
            &OAuthError::new(
                ErrorCode::LoginRequired,
                "prompt=none, but the user has no IdP session (or it is older than max_age)",
            ),
        ),
        None => {
            let token = state.add_pending(PendingLogin {
                app_id: app.id.clone(),
                login_hint: request.login_hint.clone(),
                kind: PendingKind::Oidc(request),
                created: now,
            });
            to_login_page(&token)
        }
    }
}

/// Sends `fields` to the client's redirect_uri as the response mode says.
fn to_client(redirect_uri: &str, mode: ResponseMode, fields: &[(&str, &str)]) -> Response {
    match mode {
        ResponseMode::Query => {
            let mut url = redirect_uri.to_owned();
            let q = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q);
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp
        }
        ResponseMode::FormPost => Html(post_form_fields(redirect_uri, fields)).into_response(),
        ResponseMode::OktaPostMessage => {
            match super::post_message::page(redirect_uri, fields, &super::post_message::Target::RedirectOrigin) {
                Some(page) => Html(page).into_response(),
                None => IdpError::Authorize(format!(
                    "response_mode okta_post_message needs a web origin to post to; redirect_uri `{redirect_uri}` has none"
                ))
                .into_response(),
            }
        }
    }
}

fn redirect_error(
    redirect_uri: &str,
    mode: ResponseMode,
    st: Option<&str>,
    error: &OAuthError,
) -> Response {
    tracing::info!("authorize error sent to the client: {error}");
    let mut fields = vec![
        ("error", error.error.as_str()),
        ("error_description", error.error_description.as_str()),
    ];
    if let Some(s) = st {
        fields.push(("state", s));
    }
    to_client(redirect_uri, mode, &fields)
}

/// Issues an authorization code for a logged-in user and sends it to the client.
pub fn answer_with_code(
    state: &IdpState,
    request: &AuthorizeRequest,
    user: &User,
    session: &IdpSession,
    trial: Option<String>,
) -> Response {
    // O22: the user signed in, and the IdP refuses the login (as Okta does for a user not
    // assigned to the app), in the response mode the client asked for.
    if state
        .trial_oidc_fault(trial.as_deref())
        .is_some_and(|f| f.in_authorization_response())
    {
        return authorization_error(state, request, user, trial.as_deref());
    }
    let code = state.new_token();
    let app_id = state
        .conn
        .apps
        .iter()
        .find(|a| a.oidc().is_some_and(|o| o.client_id == request.client_id))
        .map(|a| a.id.clone())
        .unwrap_or_default();
    lock(&state.tokens).add_code(
        code.clone(),
        CodeGrant {
            app_id,
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user_id: user.id.clone(),
            scopes: request.scopes.clone(),
            nonce: request.nonce.clone(),
            challenge: request.code_challenge.clone(),
            auth_time: session.authn_instant,
            sid: session.session_index.clone(),
            created: state.now(),
            used: false,
            issued: Vec::new(),
            trial: trial.clone(),
        },
    );
    // The identity the tokens for this code will carry (a trial may give the user its own).
    let viewed = state.user_view(trial.as_deref(), &user.id);
    let who = viewed.as_ref().unwrap_or(user);
    state.note_issued(
        trial.as_deref(),
        super::state::Issued {
            kind: super::state::IssuedKind::Code,
            subject: who.id.clone(),
            email: who.email.clone(),
        },
    );
    let emit = state.emit_view(trial.as_deref(), &who.id);
    super::inspect::authorization(state, request, who, &emit);
    tracing::info!(client = %request.client_id, user = %user.id, "issued an authorization code");
    let mut fields = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        fields.push(("state", s));
    }
    to_client(&request.redirect_uri, request.response_mode, &fields)
}

/// The error O22 sends instead of a code: `access_denied` with Okta's description for a user
/// not assigned to the app, and the request's state, recorded as issued to the trial.
fn authorization_error(
    state: &IdpState,
    request: &AuthorizeRequest,
    user: &User,
    trial: Option<&str>,
) -> Response {
    let error = OAuthError::new(
        ErrorCode::AccessDenied,
        "User is not assigned to the client application.",
    );
    let mode = request.response_mode.as_str();
    state.note_issued(
        trial,
        super::state::Issued {
            kind: super::state::IssuedKind::AuthorizationError,
            subject: user.id.clone(),
            email: user.email.clone(),
        },
    );
    state.note_altered(
        trial,
        format!(
            "O22 authorization_error: error access_denied instead of a code, with the request's \
state{}, sent by response_mode {mode} (the client asked for it)",
            if request.state.is_some() {
                ""
            } else {
                " (the request had none)"
            }
        ),
    );
    redirect_error(
        &request.redirect_uri,
        request.response_mode,
        request.state.as_deref(),
        &error,
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    client_auth::credentials(headers.get(AUTHORIZATION)?.to_str().ok()?, "Bearer")
}

/// Authenticates the client of a token/revoke/introspect request.
fn client<'s>(
    state: &'s IdpState,
    server: &'s AuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(&'s App, &'s OidcApp), OAuthResponse> {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let basic = auth.is_some_and(|a| client_auth::credentials(a, "Basic").is_some());
    let wrap = |error| OAuthResponse { error, basic };
    let presented = client_auth::presented(auth, form).map_err(wrap)?;
    let (app, oidc) = find_client(state, server, &presented.client_id).ok_or_else(|| {
        wrap(OAuthError::new(
            ErrorCode::InvalidClient,
            format!(
                "there is no client `{}` on this authorization server",
                presented.client_id
            ),
        ))
    })?;
    client_auth::authenticate(oidc, &presented).map_err(wrap)?;
    Ok((app, oidc))
}

fn invalid_grant(msg: impl Into<String>) -> OAuthResponse {
    OAuthError::new(ErrorCode::InvalidGrant, msg).into()
}

fn invalid_request(msg: impl Into<String>) -> OAuthResponse {
    OAuthError::new(ErrorCode::InvalidRequest, msg).into()
}

/// `POST .../v1/token`
pub async fn token(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    checked(&form)?;
    // Client authentication and token signing (RSA, ECDSA): off the async workers.
    tokio::task::spawn_blocking(move || grant(&state, &server, &headers, &form.map))
        .await
        .unwrap_or_else(|e| {
            tracing::error!("the token request failed: {e}");
            Err(OAuthError::new(ErrorCode::InvalidRequest, "the IdP failed while answering").into())
        })
}

fn grant(
    state: &IdpState,
    server: &AuthServer,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthResponse> {
    let (app, oidc) = client(state, server, headers, form)?;
    let now = state.now();
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
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
            let body = issue_tokens(
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
                },
            )?;
            Ok((no_store(), Json(body)).into_response())
        }
        Some("refresh_token") => {
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| invalid_request("the request has no refresh_token"))?;
            let info = {
                let mut store = lock(&state.tokens);
                let info = store
                    .token(rt)
                    .filter(|t| t.kind == TokenKind::Refresh)
                    .cloned()
                    .ok_or_else(|| invalid_grant("the refresh token is unknown"))?;
                // In use: the access tokens it mints must not push it out of the store.
                store.touch(rt);
                info
            };
            if !info.active(now) {
                return Err(invalid_grant("the refresh token has been revoked"));
            }
            if info.client_id != oidc.client_id {
                return Err(invalid_grant(
                    "the refresh token was issued to another client",
                ));
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
            let body = issue_tokens(
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
                    refresh: RefreshToken::Keep(rt),
                    from_code: None,
                    trial: info.trial.as_deref(),
                },
            )?;
            Ok((no_store(), Json(body)).into_response())
        }
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "grant_type `{other}` is not supported; use authorization_code or refresh_token"
            ),
        )
        .into()),
        None => Err(invalid_request("the request has no grant_type")),
    }
}

enum RefreshToken<'a> {
    NewIfOffline,
    Keep(&'a str),
}

struct IssueFor<'a> {
    scopes: &'a [String],
    nonce: Option<&'a str>,
    auth_time: time::OffsetDateTime,
    sid: &'a str,
    refresh: RefreshToken<'a>,
    from_code: Option<&'a str>,
    trial: Option<&'a str>,
}

fn sign_error(e: jwt::JwtError) -> OAuthResponse {
    tracing::error!("signing a token failed: {e}");
    OAuthError::new(
        ErrorCode::InvalidRequest,
        "the IdP could not sign the token",
    )
    .into()
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
    let now = state.now();
    let base = state.conn.idp.base();
    let issuer = server.issuer(base);
    let emit = state.emit_view(f.trial, &user.id);
    let grant = Grant {
        issuer: &issuer,
        app,
        oidc,
        user,
        scopes: f.scopes,
        nonce: f.nonce,
        auth_time: f.auth_time,
        sid: f.sid,
        omit: &emit.omit_attributes,
    };
    state.note_issued(
        f.trial,
        super::state::Issued {
            kind: super::state::IssuedKind::Tokens,
            subject: user.id.clone(),
            email: user.email.clone(),
        },
    );
    let at_jti = format!("AT.{}", state.new_token());
    let at_claims =
        tokens::access_token_claims(&grant, &server.access_token_audience(base), now, &at_jti);
    let rsa = state.keys.current.pkey();
    let access_token =
        jwt::sign(SigningAlg::RS256, &state.rsa_kid, None, rsa, &at_claims).map_err(sign_error)?;
    let id_jti = format!("ID.{}", state.new_token());
    let id_claims = tokens::id_token_claims(&grant, now, &id_jti, Some(&access_token));
    let (kid, key) = match oidc.signing_alg {
        SigningAlg::RS256 => (state.rsa_kid.as_str(), rsa),
        SigningAlg::ES256 => (state.ec_kid.as_str(), state.keys.ec.pkey()),
    };
    // A refresh fault forges only the id_token of a refresh grant; every other, only the
    // login's.
    let on_refresh = f.from_code.is_none();
    let fault = state
        .trial_oidc_fault(f.trial)
        .filter(|x| x.on_refresh() == on_refresh);
    let id_token = match fault {
        // A runner trial's attack, applied to the honest claims and signature.
        Some(fault) => {
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
                f.trial,
                format!("{} {}: {altered}", fault.case(), fault.name()),
            );
            let honest_header = serde_json::to_value(jwt::Header {
                alg: oidc.signing_alg.name(),
                kid: Some(kid),
                typ: None,
            })
            .unwrap_or_default();
            state.note_document(
                f.trial,
                "forged id_token (what the SP got from the token endpoint)".into(),
                crate::oidc::faults::show_jwt(fault, &honest_header, &honest_claims, &token),
            );
            token
        }
        None => jwt::sign(oidc.signing_alg, kid, None, key, &id_claims).map_err(sign_error)?,
    };
    super::inspect::tokens(state, app, user, &emit, &access_token, &id_token);
    // The grant's refresh token, decided before the access token is recorded so that it can
    // name it (revoking the refresh token revokes the access token).
    let refresh = match f.refresh {
        RefreshToken::Keep(rt) => Some((rt.to_owned(), false)),
        RefreshToken::NewIfOffline if f.scopes.iter().any(|s| s == "offline_access") => {
            Some((state.new_token(), true))
        }
        RefreshToken::NewIfOffline => None,
    };
    let family = refresh.as_ref().map(|(rt, _)| rt.clone());
    let info = |kind, expires, jti| TokenInfo {
        kind,
        app_id: app.id.clone(),
        client_id: oidc.client_id.clone(),
        user_id: user.id.clone(),
        scopes: f.scopes.to_vec(),
        auth_time: f.auth_time,
        sid: f.sid.to_owned(),
        issued_at: now,
        expires,
        jti,
        revoked: false,
        trial: f.trial.map(str::to_owned),
        refresh: family.clone(),
    };
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
        info(
            TokenKind::Access,
            Some(now + Duration::seconds(oidc.access_token_lifetime_secs)),
            Some(at_jti),
        ),
        f.from_code,
    );
    store.add_id_token(
        id_jti,
        oidc.client_id.clone(),
        user.id.clone(),
        f.sid.to_owned(),
    );
    if let Some((rt, new)) = refresh {
        if new {
            store.add_token(
                rt.clone(),
                info(TokenKind::Refresh, None, None),
                f.from_code,
            );
        }
        body["refresh_token"] = json!(rt);
    }
    drop(store);
    tracing::info!(client = %oidc.client_id, user = %user.id, "issued tokens");
    Ok(body)
}

fn invalid_token(msg: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        msg.replace('"', "'")
    );
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": msg})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp
}

/// `GET|POST .../v1/userinfo` with a Bearer access token.
pub async fn userinfo(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return invalid_token("no Bearer access token in the Authorization header");
    };
    let info = lock(&state.tokens).token(token).cloned();
    let Some(info) = info.filter(|i| i.kind == TokenKind::Access) else {
        return invalid_token("the access token is unknown");
    };
    if !info.active(state.now()) {
        return invalid_token("the access token has expired or was revoked");
    }
    let Some((app, oidc)) = find_client(&state, &server, &info.client_id) else {
        return invalid_token("the access token was issued by another authorization server");
    };
    let Some(user) = state.user_view(info.trial.as_deref(), &info.user_id) else {
        return invalid_token("the user no longer exists");
    };
    let issuer = server.issuer(state.conn.idp.base());
    let emit = state.emit_view(info.trial.as_deref(), &user.id);
    let grant = Grant {
        issuer: &issuer,
        app,
        oidc,
        user: &user,
        scopes: &info.scopes,
        nonce: None,
        auth_time: info.auth_time,
        sid: &info.sid,
        omit: &emit.omit_attributes,
    };
    let mut claims = tokens::userinfo_claims(&grant);
    if let Some(fault) = state.trial_oidc_fault(info.trial.as_deref()) {
        let honest = Value::Object(claims.clone());
        if let Some(altered) = crate::oidc::faults::forge_userinfo(fault, &mut claims) {
            let trial = info.trial.as_deref();
            state.note_altered(
                trial,
                format!("{} {}: {altered}", fault.case(), fault.name()),
            );
            state.note_document(
                trial,
                "forged userinfo answer".into(),
                crate::oidc::faults::show_json(&honest, &Value::Object(claims.clone())),
            );
        }
    }
    super::inspect::userinfo(&state, app, &claims);
    (no_store(), Json(claims)).into_response()
}

/// `GET .../v1/logout`: RP-initiated logout (end_session).
pub async fn end_session(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    let hint = q.get("id_token_hint").filter(|h| !h.is_empty());
    let redirect = q.get("post_logout_redirect_uri").filter(|r| !r.is_empty());
    let known = hint.and_then(|h| {
        let jti = jwt::peek_claims(h)?.get("jti")?.as_str()?.to_owned();
        lock(&state.tokens).id_token(&jti).cloned()
    });
    if hint.is_some() && known.is_none() {
        return Err(IdpError::Logout(
            "the id_token_hint is not an id_token this IdP issued".into(),
        ));
    }
    let mut target = None;
    if let Some(uri) = redirect {
        let Some((client_id, _, _)) = &known else {
            return Err(IdpError::Logout(
                "a post_logout_redirect_uri needs an id_token_hint naming the client".into(),
            ));
        };
        let Some((_, oidc)) = find_client(&state, &server, client_id) else {
            return Err(IdpError::Logout(
                "the id_token_hint's client is not on this authorization server".into(),
            ));
        };
        if !oidc
            .post_logout_redirect_uris
            .iter()
            .any(|u| u.as_str() == uri)
        {
            return Err(IdpError::Logout(format!(
                "post_logout_redirect_uri `{uri}` is not registered for client `{client_id}`"
            )));
        }
        target = Some(uri.clone());
    }
    if let Some((_, user_id, sid)) = &known {
        state.end_session_by_index(sid);
        tracing::info!(user = %user_id, "IdP session ended by end_session");
    }
    // This browser's IdP session ends; the user's sessions in other browsers do not.
    if let Some((session, _)) = current_session(&state, &headers) {
        state.end_session_by_index(&session.session_index);
    }
    let expire = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        super::SESSION_COOKIE
    );
    let trial = super::state::trial_of(&headers);
    let mut resp = match target {
        Some(uri) => {
            // A runner trial may change the state returned (G3's variants): applied to the
            // honest redirect, recorded for the runner.
            let returned = match (
                state.trial_post_logout_state(trial.as_deref()),
                q.get("state"),
            ) {
                (Some(change), Some(sent)) => {
                    state.note_altered(
                        trial.as_deref(),
                        format!(
                            "G3 {}: the redirect to {uri} carries {}",
                            change.name(),
                            change.describe()
                        ),
                    );
                    change.apply(sent)
                }
                (_, sent) => sent.cloned(),
            };
            let mut fields = Vec::new();
            if let Some(s) = &returned {
                fields.push(("state", s.as_str()));
            }
            if fields.is_empty() {
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&uri) {
                    r.headers_mut().insert(LOCATION, v);
                }
                r
            } else {
                to_client(&uri, ResponseMode::Query, &fields)
            }
        }
        None => Html(page("Signed out", "<p>You are signed out of the IdP.</p>")).into_response(),
    };
    if let Ok(v) = expire.parse() {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST .../v1/revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    let form = checked(&form)?;
    let (_, oidc) = client(&state, &server, &headers, form)?;
    let token = form
        .get("token")
        .ok_or_else(|| invalid_request("the request has no token"))?;
    if let Some(hint) = form.get("token_type_hint") {
        if hint != "access_token" && hint != "refresh_token" {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                format!("token_type_hint `{hint}` is not supported"),
            )
            .into());
        }
    }
    let revoked = lock(&state.tokens).revoke(token, &oidc.client_id);
    tracing::info!(client = %oidc.client_id, revoked, "revocation request");
    Ok(StatusCode::OK.into_response())
}

/// `POST .../v1/introspect` (RFC 7662).
pub async fn introspect(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, OAuthResponse> {
    let form = checked(&form)?;
    let (_, oidc) = client(&state, &server, &headers, form)?;
    let token = form
        .get("token")
        .ok_or_else(|| invalid_request("the request has no token"))?;
    let now = state.now();
    let info = lock(&state.tokens).token(token).cloned();
    let body = match info {
        Some(i) if i.active(now) && i.client_id == oidc.client_id => {
            let user = state.directory.find(&i.user_id);
            let mut b = json!({
                "active": true,
                "scope": i.scopes.join(" "),
                "client_id": i.client_id,
                "token_type": match i.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
                "iat": i.issued_at.unix_timestamp(),
                "sub": user.as_ref().map(|u| u.login.clone()),
                "uid": i.user_id,
                "iss": server.issuer(state.conn.idp.base()),
            });
            if let Some(exp) = i.expires {
                b["exp"] = json!(exp.unix_timestamp());
            }
            if let Some(jti) = i.jti {
                b["jti"] = json!(jti);
                b["aud"] = json!(server.access_token_audience(state.conn.idp.base()));
            }
            if let Some(u) = user {
                b["username"] = json!(u.login);
            }
            b
        }
        _ => json!({"active": false}),
    };
    Ok((no_store(), Json(body)).into_response())
}

/// An HTML note for errors shown on `/oauth2` pages.
pub fn describe(msg: &str) -> String {
    format!("<p class=\"error\">{}</p>", e(msg))
}
