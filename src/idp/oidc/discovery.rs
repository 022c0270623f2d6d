//! Discovery (`.well-known/openid-configuration`) and the JWKS (`v1/keys`) of each
//! authorization server.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};

use super::{ServerId, not_found_server, server_exists};
use crate::idp::state::IdpState;

/// `GET /.well-known/openid-configuration` and `/oauth2/{server}/.well-known/openid-configuration`
pub async fn discovery(State(state): State<Arc<IdpState>>, ServerId(server): ServerId) -> Response {
    if !server_exists(&state, &server) {
        return not_found_server(&server);
    }
    let honest = crate::idp::export::discovery_document(&state, &server);
    Json(state.discovery_document(honest)).into_response()
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
