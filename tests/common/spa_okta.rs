//! The harness of the okta-auth-js single-page app (tests/spa-okta/app.html, app.js): its page,
//! Okta's published bundle (installed by scripts/setup-deps into target/interop-node),
//! `/config.json` (the issuer) and the API of tests/common/spa.rs (`/api/me`), served over
//! HTTPS on `localhost` with a certificate from fakta's local CA in the test's certs folder.
//! Needs `mod spa` (tests/common/spa.rs) beside it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::spa::{Api, me};

pub const CLIENT_ID: &str = "0oa5oktaauthjs";
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spa-okta");
/// Okta's browser SDK as published (the version tests/interop/node/packages.txt pins).
pub const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/interop-node/node_modules/@okta/okta-auth-js/dist/okta-auth-js.min.js"
);

/// The connection file with its IdP at `idp` and the SPA at `spa`.
pub fn spa_file(idp: &str, spa: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/spa-okta.yaml"))
        .unwrap()
        .replace("https://localhost:7443", idp)
        .replace("https://localhost:7300", spa)
}

/// The SPA's router, for an IdP at `idp`. The API reaches the IdP through fakta's HTTP client
/// set-up, so it trusts the CAs `fakta::tls::trust` was given (the local CA).
pub fn router(idp: &str) -> axum::Router {
    assert!(
        Path::new(BUNDLE).exists(),
        "{BUNDLE} is missing: run scripts/setup-deps (it installs the npm packages pinned in \
tests/interop/node/packages.txt into target/interop-node)"
    );
    let api = Arc::new(Api {
        authority: format!("{idp}/oauth2/default"),
        client_id: CLIENT_ID,
        http: fakta::runner::fetch::client_builder().build().unwrap(),
    });
    let file = |path: String, kind: &'static str| {
        get(move || async move {
            match std::fs::read(&path) {
                Ok(body) => ([(header::CONTENT_TYPE, kind)], body).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        })
    };
    let page = || file(format!("{DIR}/app.html"), "text/html; charset=utf-8");
    axum::Router::new()
        .route("/", page())
        .route("/login", page())
        .route("/login/callback", page())
        .route("/silent-login", page())
        .route("/app.js", file(format!("{DIR}/app.js"), "text/javascript"))
        .route(
            "/okta-auth-js.min.js",
            file(BUNDLE.to_owned(), "text/javascript"),
        )
        .route(
            "/config.json",
            get(|State(api): State<Arc<Api>>| async move {
                axum::Json(json!({ "issuer": api.authority, "client_id": api.client_id }))
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
        .with_state(api)
}

/// The SPA served over HTTPS at `https://localhost:{port}` (a free port, bound on 127.0.0.1);
/// the local CA in `certs` made if missing and trusted by this process from now on. Stopped on
/// drop.
pub struct Served {
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Makes (or loads) the local CA in `certs` and trusts it in this process; returns the base URL
/// the SPA will have and its listener.
pub async fn listen(certs: &Path) -> (tokio::net::TcpListener, String) {
    fakta::tls::LocalTls::open_or_create(certs, "localhost")
        .unwrap()
        .trust();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://localhost:{}", l.local_addr().unwrap().port());
    (l, base)
}

/// Serves the SPA (for an IdP at `idp`) on `listener` over TLS with the certificate for
/// `localhost` of the local CA in `certs`.
pub fn serve(listener: tokio::net::TcpListener, base: String, certs: &Path, idp: &str) -> Served {
    let tls = fakta::tls::LocalTls::open_or_create(certs, "localhost")
        .unwrap()
        .acceptor()
        .unwrap();
    let app = router(idp);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = fakta::serving::serve_maybe_tls(
            listener,
            Some(tls),
            app,
            fakta::serving::Limits::default(),
            async {
                let _ = rx.await;
            },
        )
        .await;
    });
    Served { base, _stop: tx }
}
