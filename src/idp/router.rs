//! The IdP's routes, and the metadata and XXE-probe handlers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::IdpError;
use super::login::{login_page, login_submit, signout};
use super::oidc;
use super::sso::{saml_app, sso_get, sso_post};
use super::state::IdpState;

/// Form bodies above this are refused before they are read (SAML messages are capped at 64 KiB
/// after decoding; base64 and form encoding make the body larger).
pub const MAX_BODY_BYTES: usize = 192 * 1024;

/// The IdP as a router, so handlers can be tested with `oneshot` and no socket.
pub fn app(state: Arc<IdpState>) -> Router {
    Router::new()
        .route("/", get(super::index::index))
        .route(
            "/app/{app_id}/sso/saml/certificate.pem",
            get(super::index::certificate),
        )
        .route("/fakta/inspect", get(super::inspect::list))
        .route("/fakta/inspect/{seq}", get(super::inspect::one))
        .route("/app/{app_id}/sso/saml/metadata", get(saml_metadata))
        .route(
            "/app/{app_name}/{app_id}/sso/saml",
            get(sso_get).post(sso_post),
        )
        .route("/home/{app_id}/launch", get(oidc::launch))
        .route("/login/login.htm", get(login_page).post(login_submit))
        .route(
            "/app/{app_name}/{app_id}/slo/saml",
            get(super::slo::slo_get).post(super::slo::slo_post),
        )
        .route("/login/signout", get(signout))
        .route("/api/v1/fakta/revoke", post(super::control::revoke))
        // The rest of Okta's management API is not emulated: answered in Okta's error shape,
        // so an SDK reports "not found" rather than failing to parse an HTML page.
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(super::okta_api::not_emulated),
        )
        .route("/fakta/xxe/{trial}", get(xxe))
        .merge(tenant_saml_endpoints(&state.conn.idp))
        .merge(app_saml_endpoints(&state.conn.idp))
        .merge(
            Router::new()
                .route("/.well-known/openid-configuration", get(oidc::discovery))
                .route(
                    "/oauth2/{server}/.well-known/openid-configuration",
                    get(oidc::discovery),
                )
                // RFC 8414, which Okta serves beside OIDC discovery: resource-server libraries
                // given only an issuer read it.
                .route(
                    "/.well-known/oauth-authorization-server",
                    get(oidc::discovery),
                )
                .route(
                    "/oauth2/{server}/.well-known/oauth-authorization-server",
                    get(oidc::discovery),
                )
                .route(
                    "/api/v1/sessions/me",
                    get(super::okta_api::get_me).delete(super::okta_api::delete_me),
                )
                .merge(oidc_endpoints("/oauth2/v1"))
                .merge(oidc_endpoints("/oauth2/{server}/v1"))
                .merge(flavor_endpoints(&state.conn.idp))
                // Trusted Origins: what a single-page app calls from its own origin.
                .route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    super::cors::cors,
                )),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The org server's endpoints in another vendor's layout (`idp.flavor`: an Entra tenant's
/// `/{tenant}/oauth2/v2.0/...`, a Keycloak realm's `/realms/{realm}/protocol/...`), beside
/// Okta's, which stay. Entra's Graph-shaped group endpoint for its overage link, when the
/// vendor has one. The handlers are the same: a path without `{server}` is the org server.
fn flavor_endpoints(idp: &crate::config::Idp) -> Router<Arc<IdpState>> {
    use crate::flavor::{Endpoint, Flavor};
    let mut r = Router::new();
    if idp.flavor == Flavor::Okta {
        return r;
    }
    let org = crate::config::AuthServer::Org;
    // Google's and Auth0's discovery document is at the root, where Okta's org server's
    // already is (the same handler: it serves the flavor's document).
    let discovery = idp.discovery_path(&org);
    if discovery != "/.well-known/openid-configuration" {
        r = r.route(&discovery, get(oidc::discovery));
    }
    for e in Endpoint::ALL.iter().copied() {
        let Some(path) = idp.vendor().oidc_path(idp, &org, e) else {
            continue;
        };
        let method = match e {
            Endpoint::Keys => get(oidc::keys),
            Endpoint::Authorize => get(oidc::authorize_get).post(oidc::authorize_post),
            Endpoint::Token => post(oidc::token),
            Endpoint::Userinfo => get(oidc::userinfo).post(oidc::userinfo),
            Endpoint::Logout => get(oidc::end_session),
            Endpoint::Revoke => post(oidc::revoke),
            Endpoint::Introspect => post(oidc::introspect),
        };
        r = r.route(&path, method);
    }
    if idp.flavor == Flavor::Entra {
        r = r
            .route(
                "/v1.0/users/{user}/getMemberObjects",
                post(super::graph::get_member_objects),
            )
            .route("/v1.0/users/{user}/memberOf", get(super::graph::member_of));
    }
    r
}

/// A vendor's SAML endpoints shared by the tenant (Entra's `/{tenant}/saml2` and federation
/// metadata, a Keycloak realm's `/realms/{realm}/protocol/saml`, its descriptor and
/// IdP-initiated URLs), beside Okta's per-app ones, which stay (Entra's tile uses them).
fn tenant_saml_endpoints(idp: &crate::config::Idp) -> Router<Arc<IdpState>> {
    use super::tenant_saml;
    let r = Router::new();
    if !crate::flavor::SamlPaths::shared(idp) {
        return r;
    }
    // The paths depend on the app only through its id (the metadata's `?appid=`, the
    // IdP-initiated URL's last segment): a placeholder id gives the tenant's routes.
    let paths = idp.vendor().saml_paths(idp, "{client}", "{client}");
    let mut r = r
        .route(
            &paths.sso,
            get(tenant_saml::shared_get).post(tenant_saml::shared_post),
        )
        .route(paths.metadata_route(), get(tenant_saml::metadata));
    if paths.slo != paths.sso {
        r = r.route(
            &paths.slo,
            get(tenant_saml::shared_get).post(tenant_saml::shared_post),
        );
    }
    if paths.idp_initiated.ends_with("/{client}") {
        r = r.route(&paths.idp_initiated, get(tenant_saml::idp_initiated));
    }
    r
}

/// A vendor's own per-app SAML endpoints (Auth0's `/samlp/{client_id}`, its `/logout` and
/// `/samlp/metadata/{client_id}`), beside Okta's, which stay. None for Okta's layout or a
/// tenant-wide one (`tenant_saml_endpoints`).
fn app_saml_endpoints(idp: &crate::config::Idp) -> Router<Arc<IdpState>> {
    use super::app_saml;
    let r = Router::new();
    if crate::flavor::SamlPaths::shared(idp) {
        return r;
    }
    // The paths depend on the app through its id only when the layout is the vendor's: a
    // placeholder name shows Okta's (`/app/{name}/{id}/...`), which has its routes already.
    let paths = idp.vendor().saml_paths(idp, "{name}", "{client}");
    if paths.sso.contains("{name}") {
        return r;
    }
    let mut r = r
        .route(&paths.sso, get(app_saml::sso_get).post(app_saml::sso_post))
        .route(paths.metadata_route(), get(app_saml::metadata));
    if paths.slo != paths.sso {
        r = r.route(&paths.slo, get(app_saml::slo_get).post(app_saml::slo_post));
    }
    r
}

/// The endpoints of one authorization server under `prefix`.
fn oidc_endpoints(prefix: &str) -> Router<Arc<IdpState>> {
    Router::new()
        .route(&format!("{prefix}/keys"), get(oidc::keys))
        .route(
            &format!("{prefix}/authorize"),
            get(oidc::authorize_get).post(oidc::authorize_post),
        )
        .route(&format!("{prefix}/token"), post(oidc::token))
        .route(
            &format!("{prefix}/userinfo"),
            get(oidc::userinfo).post(oidc::userinfo),
        )
        .route(&format!("{prefix}/logout"), get(oidc::end_session))
        .route(&format!("{prefix}/revoke"), post(oidc::revoke))
        .route(&format!("{prefix}/introspect"), post(oidc::introspect))
}

/// `GET /fakta/xxe/{trial}`: the external entity of the S24 trials. An SP that fetches it has
/// an XXE hole; the request is counted for the trial, and answered with nothing to include.
async fn xxe(State(state): State<Arc<IdpState>>, Path(trial): Path<String>) -> Response {
    let n = state.note_xxe_fetch(&trial);
    tracing::warn!(
        trial,
        fetches = n,
        "an SP fetched the external entity of a forged DOCTYPE"
    );
    (
        axum::http::StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        "fakta: this external entity must never be fetched (XXE)\n",
    )
        .into_response()
}

/// `GET /app/{id}/sso/saml/metadata`
async fn saml_metadata(
    State(state): State<Arc<IdpState>>,
    Path(app_id): Path<String>,
) -> Result<Response, IdpError> {
    let (app, saml) = saml_app(&state, None, &app_id)?;
    let xml = super::export::saml_metadata(&state, app, saml);
    Ok(([(CONTENT_TYPE, super::export::METADATA_CONTENT_TYPE)], xml).into_response())
}
