//! The Microsoft Graph calls an Entra group overage links to (`idp.flavor: entra`): a client
//! whose token carried `_claim_sources` (or an assertion with `groups.link`) fetches the user's
//! groups here. Served on fakta's host, which stands for graph.microsoft.com.
//!
//! - `POST /v1.0/users/{id}/getMemberObjects` ("directoryObject: getMemberObjects",
//!   <https://learn.microsoft.com/graph/api/directoryobject-getmemberobjects>: "Return all IDs for
//!   the groups, administrative units, and directory roles that a user ... is a member of";
//!   the body names `securityEnabledOnly`; the answer is `{"value": [ids]}`), the endpoint the
//!   ID token claims reference names in `_claim_sources`.
//! - `GET /v1.0/users/{id}/memberOf` ("List a user's direct memberships",
//!   <https://learn.microsoft.com/graph/api/user-list-memberof>: a collection of
//!   directoryObject, each group with `@odata.type` `#microsoft.graph.group`, `id` and
//!   `displayName`).
//!
//! Both want `Authorization: Bearer` with an access token fakta issued: one for that user, or
//! an app's own (client credentials, Graph's application permission). All of the user's
//! groups are answered, not only those the app's group statement sends (Graph knows nothing
//! of the app), as the IdP sees them for the token's runner trial.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{IdpState, lock};
use super::tokens::TokenKind;
use crate::config::User;

/// Why a Graph call is refused, answered in Graph's error body (`{"error": {"code",
/// "message"}}`) with Graph's codes.
#[derive(Debug, thiserror::Error)]
enum GraphError {
    #[error("Access token is empty: send Authorization: Bearer <access token>")]
    NoToken,
    #[error("the access token is unknown, expired or revoked")]
    BadToken,
    #[error(
        "the access token is user {owner}'s: it may read only its own user's groups, not {asked}'s"
    )]
    OtherUser { owner: String, asked: String },
    #[error("Resource '{0}' does not exist")]
    NoSuchUser(String),
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            GraphError::NoToken | GraphError::BadToken => {
                (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken")
            }
            GraphError::OtherUser { .. } => (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
            GraphError::NoSuchUser(_) => (StatusCode::NOT_FOUND, "Request_ResourceNotFound"),
        };
        (
            status,
            Json(json!({ "error": { "code": code, "message": self.to_string() } })),
        )
            .into_response()
    }
}

/// The user a Graph call may read, from its Bearer token: the token's own user, or any user
/// for an app's own token.
fn caller_may_read(
    state: &IdpState,
    headers: &HeaderMap,
    user_id: &str,
) -> Result<User, GraphError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::oidc::client_auth::credentials(v, "Bearer"))
        .ok_or(GraphError::NoToken)?;
    let info = lock(&state.tokens).token(token).cloned();
    let info = info
        .filter(|i| i.kind == TokenKind::Access && i.active(state.now()))
        .ok_or(GraphError::BadToken)?;
    if !info.user_id.is_empty() && info.user_id != user_id {
        return Err(GraphError::OtherUser {
            owner: info.user_id,
            asked: user_id.to_owned(),
        });
    }
    state
        .user_view(info.trial.as_deref(), user_id)
        .ok_or_else(|| GraphError::NoSuchUser(user_id.to_owned()))
}

/// `POST /v1.0/users/{id}/getMemberObjects`: the object ids of every group of the user.
pub async fn get_member_objects(
    State(state): State<Arc<IdpState>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match caller_may_read(&state, &headers, &user_id) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let dir = &state.conn.directory;
    let ids: Vec<String> = user.groups.iter().map(|g| dir.group_object_id(g)).collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
        "value": ids,
    }))
    .into_response()
}

/// `GET /v1.0/users/{id}/memberOf`: every group of the user, with its id and display name.
pub async fn member_of(
    State(state): State<Arc<IdpState>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match caller_may_read(&state, &headers, &user_id) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let dir = &state.conn.directory;
    let value: Vec<serde_json::Value> = user
        .groups
        .iter()
        .map(|g| {
            json!({
                "@odata.type": "#microsoft.graph.group",
                "id": dir.group_object_id(g),
                "displayName": g,
            })
        })
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        "value": value,
    }))
    .into_response()
}
