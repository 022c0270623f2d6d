//! The login page: a person picks a user of the directory (or types a login), which starts an
//! IdP session (cookie `sid`) and completes the waiting SSO.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{Html, IntoResponse, Response};

use super::html::{e, page};
use super::sso::{issue, saml_app};
use super::state::{IdpState, PendingKind, PendingLogin};
use super::{IdpError, SESSION_COOKIE};

/// `GET /login/login.htm?state=...`
pub async fn login_page(
    State(state): State<Arc<IdpState>>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    let token = q.get("state").ok_or(IdpError::LoginExpired)?;
    let pending = state.peek_pending(token).ok_or(IdpError::LoginExpired)?;
    if let Some(user) = state.auto_login() {
        // `MockIdp::login_as`: the page is answered as that user, as a person would.
        let form = HashMap::from([
            ("state".to_owned(), token.clone()),
            ("username".to_owned(), user),
        ]);
        return super::off_the_workers(move || complete_login(&state, &headers, &form)).await;
    }
    Ok(Html(render(&state, token, &pending, None)).into_response())
}

fn render(state: &IdpState, token: &str, pending: &PendingLogin, error: Option<&str>) -> String {
    let app = state.app(&pending.app_id);
    let app_label = app.map(|a| a.id.as_str()).unwrap_or("?");
    let mut body = format!(
        "<p>Sign in to <strong>{}</strong>. Pick a user of the directory, or type a login.</p>",
        e(app_label)
    );
    if let Some(msg) = error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", e(msg)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login/login.htm\" id=\"pick-user\"><input type=\"hidden\" name=\"state\" value=\"{}\"/>",
        e(token)
    ));
    body.push_str("<table><tr><th></th><th>login</th><th>name</th><th>groups</th></tr>");
    for user in state.directory.first(LISTED_USERS) {
        body.push_str(&format!(
            "<tr><td><button type=\"submit\" name=\"username\" value=\"{login}\">Sign in</button></td><td>{login}</td><td>{name}</td><td>{groups}</td></tr>",
            login = e(&user.login),
            name = e(user.name.as_deref().unwrap_or("")),
            groups = e(&user.groups.join(", ")),
        ));
    }
    body.push_str("</table></form>");
    let unlisted = state.directory.len().saturating_sub(LISTED_USERS);
    if unlisted > 0 {
        body.push_str(&format!(
            "<p>{unlisted} more users are not listed: type a login, id or email below.</p>"
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login/login.htm\" id=\"type-user\"><input type=\"hidden\" name=\"state\" value=\"{}\"/>\
<p><label>Username <input name=\"username\" autocomplete=\"username\" value=\"{}\"/></label> \
<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" placeholder=\"any\"/></label> \
<button type=\"submit\">Sign in</button></p></form>",
        e(token),
        e(pending.login_hint.as_deref().unwrap_or("")),
    ));
    page("Sign in", &body)
}

/// Users the login page lists as buttons; the rest of a large directory is reached by typing
/// (a 100,000-user table would be megabytes on every login).
const LISTED_USERS: usize = 200;

/// `POST /login/login.htm` with `state` and `username` (the password is not checked: this is a
/// fake IdP; any user of the directory may sign in).
pub async fn login_submit(
    State(state): State<Arc<IdpState>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    // Completing a login signs a Response or a code's tokens: off the async workers.
    super::off_the_workers(move || complete_login(&state, &headers, &form)).await
}

fn complete_login(
    state: &IdpState,
    headers: &axum::http::HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, IdpError> {
    let token = form.get("state").ok_or(IdpError::MissingField("state"))?;
    let username = form.get("username").map(|s| s.trim()).unwrap_or("");
    let Some(user) = state.directory.find(username) else {
        let pending = state.peek_pending(token).ok_or(IdpError::LoginExpired)?;
        let msg = if username.is_empty() {
            "Type a username or pick a user.".to_owned()
        } else {
            format!("There is no user `{username}` in the directory.")
        };
        let html = render(state, token, &pending, Some(&msg));
        return Ok((StatusCode::UNAUTHORIZED, Html(html)).into_response());
    };
    let pending = state.take_pending(token).ok_or(IdpError::LoginExpired)?;
    let (sid, session) = state.start_session(&user.id);
    tracing::info!(user = %user.id, "IdP session started");
    let cookie = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
    match pending.kind {
        PendingKind::Saml {
            in_response_to,
            acs_url,
            relay_state,
        } => {
            let (app, _) = saml_app(state, None, &pending.app_id)?;
            issue(
                state,
                app,
                &user,
                &session,
                in_response_to,
                acs_url,
                relay_state,
                Some(cookie),
                super::state::trial_of(headers).as_deref(),
            )
        }
        PendingKind::Oidc(request) => {
            let mut resp = super::oidc::answer_with_code(
                state,
                &request,
                &user,
                &session,
                super::state::trial_of(headers),
            );
            if let Ok(v) = cookie.parse() {
                resp.headers_mut().insert(SET_COOKIE, v);
            }
            Ok(resp)
        }
    }
}

/// `GET /login/signout`: ends the IdP session of this browser (the user's sessions in other
/// browsers stay).
pub async fn signout(
    State(state): State<Arc<IdpState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let ended = super::sso::session_cookie(&headers).is_some_and(|sid| state.end_session(&sid));
    let body = if ended {
        "<p>You are signed out of the IdP.</p>"
    } else {
        "<p>There was no IdP session to end.</p>"
    };
    let mut resp = Html(page("Signed out", body)).into_response();
    let expire = super::expired_session_cookie();
    if let Ok(v) = expire.parse() {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}
