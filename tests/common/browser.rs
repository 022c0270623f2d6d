//! Shared support of the browser tests (tests/browser_*.rs): the IdP served on a free loopback
//! port with the real clock (a browser-side library checks `iat` and `exp` against now),
//! small static sites, and screenshots under target/browser-screenshots/ for review.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fakta::browser::{Chromium, Page};
use fakta::clock::SystemClock;
use fakta::idp::IdpState;

/// Where screenshots go, for a person to look at after the run.
pub fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/browser-screenshots"
    ))
    .join(format!("{name}.png"))
}

pub async fn shoot(page: &Page, name: &str) {
    let path = screenshot_path(name);
    page.screenshot(&path)
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 1000,
        "screenshot {} is only {size} bytes",
        path.display()
    );
}

pub async fn chromium() -> Chromium {
    tokio::time::timeout(Duration::from_secs(60), Chromium::launch())
        .await
        .expect("Chromium::launch has its own limits; this one is a backstop")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A server on a free loopback port; stopped on drop.
pub struct Served {
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    (l, base)
}

/// Serves an axum router on `listener`.
pub fn serve_router(listener: tokio::net::TcpListener, base: String, app: axum::Router) -> Served {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Served { base, _stop: tx }
}

/// The IdP of `yaml` (with `{IDP}` replaced by its base URL) on a free port.
pub struct Idp {
    pub base: String,
    pub state: Arc<IdpState>,
    /// Every request it got: method, path, Origin header.
    pub seen: Seen,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub type Seen = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

impl Idp {
    /// The requests seen so far with `method` on `path`, as their Origin headers.
    pub fn origins_of(&self, method: &str, path: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == method && p == path)
            .map(|(_, _, o)| o.clone())
            .collect()
    }
}

pub async fn idp(yaml: &str) -> Idp {
    let (l, base) = listener().await;
    let conn = crate::common::connection(&yaml.replace("{IDP}", &base), std::path::Path::new("."));
    let state = IdpState::new(conn, crate::common::keys(), Arc::new(SystemClock)).expect("state");
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = fakta::idp::app(Arc::clone(&state)).layer(axum::middleware::map_request(
        move |req: axum::extract::Request| {
            let origin = req
                .headers()
                .get("origin")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            log.lock().unwrap().push((
                req.method().to_string(),
                req.uri().path().to_owned(),
                origin,
            ));
            std::future::ready(req)
        },
    ));
    let served = serve_router(l, base.clone(), app);
    Idp {
        base,
        state,
        seen,
        _stop: served._stop,
    }
}
