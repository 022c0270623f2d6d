//! The authorization endpoint: parses the request, reuses the IdP session or sends the browser
//! to the login page, and answers in the client's response mode with a code (code flow), tokens
//! (implicit flow, OIDC Core §3.2) or both (hybrid flow, §3.3), or an error.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use time::Duration;

use super::response::{redirect_error, to_client_via};
use super::{ServerId, find_client};
use crate::config::{AuthServer, User};
use crate::idp::IdpError;
use crate::idp::post_message::Target;
use crate::idp::sso::{current_session, to_login_page};
use crate::idp::state::{IdpSession, IdpState, PendingKind, PendingLogin, lock};
use crate::idp::tokens::CodeGrant;
use crate::oidc::authorize::ResponseMode;
use crate::oidc::authorize::{self, AuthorizeError, AuthorizeRequest, Prompt};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::faults::Fault;
use crate::oidc::params::{self, Params};

/// `GET|POST .../v1/authorize`
pub async fn authorize_get(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params::parse(query.unwrap_or_default().as_bytes());
    // An answer with tokens (implicit, hybrid) signs them: off the async workers.
    crate::idp::off_the_workers(move || Ok(authorize(&state, &server, &headers, &params)))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn authorize_post(
    State(state): State<Arc<IdpState>>,
    ServerId(server): ServerId,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = params::parse(&body);
    crate::idp::off_the_workers(move || Ok(authorize(&state, &server, &headers, &params)))
        .await
        .unwrap_or_else(IntoResponse::into_response)
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
            crate::idp::state::trial_of(headers),
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

/// Answers a logged-in user's authorization request: a code, tokens or both, as its
/// response_type asks (OIDC Core §3.1.2.5, §3.2.2.5, §3.3.2.5), sent to the client.
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
    let found = state.conn.apps.iter().find_map(|a| {
        a.oidc()
            .filter(|o| o.client_id == request.client_id)
            .map(|o| (a, o))
    });
    let app_id = found.map(|(a, _)| a.id.clone()).unwrap_or_default();
    let code = request.response_type.has_code().then(|| state.new_token());
    if let Some(code) = &code {
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
                front_channel_id_token: request.response_type.has_id_token(),
            },
        );
    }
    // The identity the tokens for this code will carry (a trial may give the user its own).
    let viewed = state.user_view(trial.as_deref(), &user.id);
    let who = viewed.as_ref().unwrap_or(user);
    if code.is_some() {
        state.note_issued(
            trial.as_deref(),
            crate::idp::state::Issued {
                kind: crate::idp::state::IssuedKind::Code,
                subject: state.conn.idp.subject(who, &request.client_id),
                email: who.email.clone(),
            },
        );
    }
    let emit = state.emit_view(trial.as_deref(), &who.id);
    crate::idp::inspect::authorization(state, request, who, &emit);
    let tokens = match (request.response_type.returns_tokens(), found) {
        (false, _) => None,
        (true, Some((app, oidc))) => {
            match super::token::front_channel(
                state,
                app,
                oidc,
                who,
                request,
                session,
                code.as_deref(),
                trial.as_deref(),
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    return redirect_error(
                        &request.redirect_uri,
                        request.response_mode,
                        request.state.as_deref(),
                        &e,
                    );
                }
            }
        }
        (true, None) => {
            return IdpError::Authorize("unknown client".into()).into_response();
        }
    };
    tracing::info!(
        client = %request.client_id,
        user = %user.id,
        response_type = request.response_type.name(),
        "answered the authorization request"
    );
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &code {
        fields.push(("code", c));
    }
    if let Some(t) = &tokens {
        fields.extend(t.iter().map(|(k, v)| (*k, v.as_str())));
    }
    if let Some(s) = &request.state {
        fields.push(("state", s));
    }
    // O25: an okta_post_message answer posted by a frame of another (opaque) origin; the
    // honest code and state, so that only the SPA's origin check stands between them and a
    // session.
    let post = match state.trial_oidc_fault(trial.as_deref()) {
        Some(Fault::PostMessageFromAnotherOrigin)
            if request.response_mode == ResponseMode::OktaPostMessage =>
        {
            state.note_altered(
                trial.as_deref(),
                "O25 post_message_from_another_origin: the okta_post_message answer (the honest \
code and state) posted to the redirect URI's origin by a sandboxed frame, whose origin is opaque \
(event.origin \"null\"), not by the IdP's page"
                    .to_owned(),
            );
            Target::FromOpaqueOrigin
        }
        // Its honest twin: nothing forged; the note tells the runner the SPA's silent sign-in
        // asked for okta_post_message.
        Some(Fault::PostMessageFromTheIdp)
            if request.response_mode == ResponseMode::OktaPostMessage =>
        {
            state.note_altered(
                trial.as_deref(),
                "O25 post_message_from_the_idp_origin: nothing forged: the okta_post_message \
answer posted by the IdP's page to the redirect URI's origin, as Okta posts it"
                    .to_owned(),
            );
            Target::RedirectOrigin
        }
        _ => Target::RedirectOrigin,
    };
    to_client_via(&request.redirect_uri, request.response_mode, &fields, &post)
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
        crate::idp::state::Issued {
            kind: crate::idp::state::IssuedKind::AuthorizationError,
            subject: state.conn.idp.subject(user, &request.client_id),
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
