//! The harness of the single-page app example (tests/spa/): its static files, `/config.json`
//! (where the IdP is) and its API, `/api/me`, on one origin. The API is what a SPA's back end
//! does with the access token: verify its signature against the IdP's JWKS, check issuer,
//! audience, expiry and client, ask userinfo for the profile, and apply the Qovery role rules
//! (admin: Qovery-Admins, devops: Qovery-DevOps, else viewer; admin first). Its own code: it
//! shares nothing with the runner's role oracle it is judged by.
#![allow(dead_code)]

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "0oa2qoveryspa";
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spa");

/// The example's connection file with its IdP at `idp` and the SPA at `spa`.
pub fn spa_file(idp: &str, spa: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/spa.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:7000", idp)
        .replace("http://127.0.0.1:7200", spa)
}

/// The SPA's API: what it trusts (the issuer of the custom authorization server `default`,
/// its client id) and how it reaches the IdP. tests/common/spa_okta.rs (the okta-auth-js SPA)
/// uses it too.
pub struct Api {
    pub authority: String,
    pub client_id: &'static str,
    pub http: reqwest::Client,
}

/// The SPA's router, for an IdP at `idp` (the custom authorization server `default`).
pub fn router(idp: &str) -> axum::Router {
    let spa = Arc::new(Api {
        authority: format!("{idp}/oauth2/default"),
        client_id: CLIENT_ID,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap(),
    });
    let file = |name: &'static str, kind: &'static str| {
        get(move || async move {
            match std::fs::read(format!("{DIR}/{name}")) {
                Ok(body) => ([(header::CONTENT_TYPE, kind)], body).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        })
    };
    let html = "text/html; charset=utf-8";
    axum::Router::new()
        .route("/", file("index.html", html))
        .route("/login", file("index.html", html))
        .route("/callback", file("index.html", html))
        .route("/app.js", file("app.js", "text/javascript"))
        .route(
            "/vendor/oidc-client-ts.min.js",
            file("vendor/oidc-client-ts.min.js", "text/javascript"),
        )
        .route(
            "/config.json",
            get(|State(spa): State<Arc<Api>>| async move {
                axum::Json(json!({ "authority": spa.authority, "client_id": spa.client_id }))
            }),
        )
        .route(
            "/api/me",
            get(
                |State(api): State<Arc<Api>>, headers: HeaderMap| async move {
                    me(&api, &headers).await
                },
            ),
        )
        .with_state(spa)
}

fn refuse(why: String) -> Response {
    (StatusCode::UNAUTHORIZED, why).into_response()
}

/// `GET /api/me`: the bearer token verified, the profile asked for, the role rules applied.
pub async fn me(spa: &Api, headers: &HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse("no bearer token".into());
    };
    let get = |url: String| {
        let http = spa.http.clone();
        let token = token.to_owned();
        async move {
            let r = http.get(&url).bearer_auth(token).send().await;
            match r {
                Ok(r) if r.status().is_success() => r.bytes().await.map_err(|e| e.to_string()),
                Ok(r) => Err(format!("{url} answered {}", r.status())),
                Err(e) => Err(format!("{url}: {e}")),
            }
        }
    };
    let jwks = match get(format!("{}/v1/keys", spa.authority)).await {
        Ok(b) => b,
        Err(e) => return refuse(e),
    };
    let keys = match fakta::refsp::jwt::parse_jwks(&jwks) {
        Ok(k) => k,
        Err(e) => return refuse(e),
    };
    let flaws = fakta::refsp::flaws::Flaws::default();
    let claims = match fakta::refsp::jwt::verify(token, &keys, &["RS256", "ES256"], &flaws) {
        Ok((_, c)) => c,
        Err(e) => return refuse(format!("the access token: {e}")),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (claim, want) in [
        ("iss", json!(spa.authority)),
        ("aud", json!("api://default")),
        ("cid", json!(spa.client_id)),
    ] {
        if claims[claim] != want {
            return refuse(format!(
                "the access token's {claim} is {}, not {want}",
                claims[claim]
            ));
        }
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
        return refuse("the access token has expired".into());
    }
    let profile: Value = match get(format!("{}/v1/userinfo", spa.authority)).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(e) => return refuse(e),
    };
    // OpenID Connect Core §5.3.2: userinfo about another subject is not this user's (O12);
    // Okta's access token names the user's id in `uid` (its `sub` is the login).
    if profile["sub"] != claims["uid"] {
        return refuse(format!(
            "userinfo is about {}, the access token about {}",
            profile["sub"], claims["uid"]
        ));
    }
    // The SP provisions users by email and name (R7, R8): without them, no session.
    for needed in ["email", "name"] {
        if !profile[needed].is_string() {
            return refuse(format!("the IdP sent no {needed}"));
        }
    }
    let groups: Vec<String> = profile["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let has = |g: &str| groups.iter().any(|x| x == g);
    let role = if has("Qovery-Admins") {
        "admin"
    } else if has("Qovery-DevOps") {
        "devops"
    } else {
        "viewer"
    };
    axum::Json(json!({
        "email": profile["email"],
        "role": role,
        "groups": groups,
        "subject": claims["uid"],
    }))
    .into_response()
}
