//! The reference SP over HTTP, on the paths the connection file gives: the router, the
//! restartable SP (the demo's O13), and what every route shares (pages, refusals, the session
//! cookie, what the SP trusts). The routes live one concern per module.

mod acs;
mod backchannel;
mod callback;
mod login;
mod refresh;
mod revoke;
mod session;
mod slo;
mod trust;

use callback::oidc_callback;
use session::{profile, signed_in};
use trust::{saml_settings, trust};

use std::sync::Arc;

use axum::Router;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::state::SpState;
use crate::saml::xml::escape;

/// The SP's session cookie (not `sid`: the IdP uses that name on the same host).
pub const COOKIE_NAME: &str = "fakta_sp";
/// The cookie naming this browser's OIDC login in flight (its state, nonce and PKCE verifier).
pub const LOGIN_COOKIE: &str = "fakta_sp_login";

pub fn app(state: Arc<SpState>) -> Router {
    let p = state.paths.clone();
    let mut r = Router::new()
        .route("/", get(session::home))
        .route(&p.login, get(login::login))
        .route(&p.probe, get(session::me))
        .route(&p.callback, get(acs::callback_get).post(acs::callback_post));
    if let Some(l) = &p.logout {
        r = r.route(l, get(session::logout));
    }
    if let Some(s) = &p.slo {
        r = r.route(s, get(slo::slo_get).post(slo::slo_post));
    }
    if let Some(g) = &p.revocation {
        r = r.route(g, post(revoke::revoke));
    }
    if let Some(b) = &p.backchannel {
        r = r.route(b, post(backchannel::backchannel));
    }
    if let Some(f) = &p.refresh {
        r = r.route(f, get(refresh::refresh));
    }
    if let Some(i) = &p.initiate {
        r = r.route(i, get(login::initiate));
    }
    r.layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// The reference SP behind a switch that starts it afresh, as a restart of its process would:
/// new state (no sessions, nothing fetched from the IdP yet), same listener. The runner uses it
/// for trials that need an SP which reads the IdP's discovery again (O13).
#[derive(Debug, Clone)]
pub struct Restartable {
    current: Arc<std::sync::RwLock<Router>>,
    conn: crate::config::Connection,
    flaws: super::Flaws,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Restartable {
    pub fn new(
        conn: crate::config::Connection,
        flaws: super::Flaws,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<Restartable, super::SpError> {
        let first = app(SpState::new(conn.clone(), flaws.clone(), clock.clone())?);
        Ok(Restartable {
            current: Arc::new(std::sync::RwLock::new(first)),
            conn,
            flaws,
            clock,
        })
    }

    /// The service to serve: each request goes to the SP as it is now.
    pub fn router(&self) -> Router {
        let current = self.current.clone();
        Router::new().fallback(move |req: axum::extract::Request| {
            let r = current.read().unwrap_or_else(|e| e.into_inner()).clone();
            async move {
                use tower::ServiceExt;
                match r.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
        })
    }

    /// Serves the SP as it is at each request, on `listener`, within `limits`, until
    /// `shutdown` completes (or the task is dropped).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        limits: crate::serving::Limits,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::serving::serve(listener, self.router(), limits, shutdown).await
    }

    /// Drops the SP's state and starts with a new one.
    pub fn restart(&self) -> Result<(), super::SpError> {
        let next = app(SpState::new(
            self.conn.clone(),
            self.flaws.clone(),
            self.clock.clone(),
        )?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1>{body}<p><small>fakta reference SP</small></p></body></html>\n",
        t = escape(title)
    )
}

/// A refused request: 403 with the reason, as a person debugging would want to read it.
pub(super) fn refused(reason: &str) -> Response {
    tracing::info!("reference SP refused: {reason}");
    (
        StatusCode::FORBIDDEN,
        Html(page(
            "Refused",
            &format!("<p id=\"reason\">{}</p>", escape(reason)),
        )),
    )
        .into_response()
}

pub(super) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

pub(super) fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME)
}

/// The value of the cookie `name` the request carries.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|l| l.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// Adds `Set-Cookie: name=value` (host-only, whole site, not readable by scripts).
pub(super) fn set_cookie(r: &mut Response, name: &str, value: &str) {
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(SET_COOKIE, v);
    }
}

/// Runs signature work (RSA, ECDSA, libxmlsec1) on tokio's blocking pool, so it never holds
/// one of the async workers that answer the SP's other requests.
pub(super) async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the signature work failed: {e}"))
}
