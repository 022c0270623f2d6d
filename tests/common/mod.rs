//! Shared test support: an IdP built from a connection file with a throw-away key and a fixed
//! clock, driven through `fakta::idp::app` with `oneshot` (no socket).
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use fakta::clock::FixedClock;
use fakta::config::{self, Connection};
use fakta::idp::{self, IdpState};
use fakta::keys::KeyStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// 2026-11-28T09:00:00Z: every test document carries this instant.
pub const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-28 09:00:00 UTC);

pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/qovery-saml.yaml");

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The example app (same ids, URLs and attribute statements) with `sign:` as given, in a
/// minimal connection file.
pub fn signing_app(sign: &str) -> Connection {
    let yaml = format!(
        r#"
idp:
  base_url: http://127.0.0.1:7000
directory:
  users:
    - {{ id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Qovery-Admins, Eng] }}
apps:
  - id: qovery
    name: acme_qovery_1
    protocol: saml
    audience: urn:auth0:qovery:acme
    acs_url: http://127.0.0.1:7100/login/callback?connection=acme
    sign: {sign}
    attributes:
      email: user.email
      name: user.name
    groups:
      attribute: groups
      filter: {{ regex: ".*Qovery.*" }}
"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    connection(&yaml, dir.path())
}

/// What to do when the Python side of an interop test is missing.
pub const SETUP_HINT: &str = "run scripts/setup-deps (it installs xmlsec1 and runs \
`pip install -r tests/interop/requirements.txt`)";

/// The Python interpreter: `PYTHON` if set, else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Checks (once per script and process) that `script --check-env` runs and reports `library`
/// at `version` (tests/interop/requirements.txt pins it); panics, never skips, when not.
pub fn require_python(script: &str, library: &str, version: &str) {
    static CHECKED: OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Result<serde_json::Value, String>>>,
    > = OnceLock::new();
    let checked = CHECKED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(script.to_owned())
        .or_insert_with(|| {
            let py = python();
            let out = std::process::Command::new(&py)
                .arg(script)
                .arg("--check-env")
                .output()
                .map_err(|e| format!("cannot run `{py}`: {e}; python3 is needed: {SETUP_HINT}"))?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                return Err(format!(
                    "the {library} side is not ready (`{py} {script} --check-env` exited {}):\n{stdout}{}\n{SETUP_HINT}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            serde_json::from_str(&stdout)
                .map_err(|e| format!("bad --check-env output ({e}): {stdout}"))
        })
        .clone();
    match checked {
        Ok(v) => assert_eq!(
            v[library], version,
            "{library} is not the pinned version ({v}); {SETUP_HINT}"
        ),
        Err(e) => panic!("{e}"),
    }
}

/// One key per test process (RSA generation is slow in debug builds).
pub fn keys() -> KeyStore {
    static KEYS: OnceLock<(tempfile::TempDir, KeyStore)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keys, _) = KeyStore::open_or_create(dir.path()).expect("keys");
        (dir, keys)
    })
    .1
    .clone()
}

pub fn example() -> Connection {
    config::load_file(Path::new(EXAMPLE))
        .map(|(c, _)| c)
        .unwrap_or_else(|d| panic!("example file is invalid:\n{d}"))
}

/// A connection from YAML text; relative paths resolve from `base_dir`.
pub fn connection(yaml: &str, base_dir: &Path) -> Connection {
    config::load_str(yaml, "test.yaml", base_dir)
        .map(|(c, _)| c)
        .unwrap_or_else(|d| panic!("test connection is invalid:\n{d}"))
}

pub fn state(conn: Connection) -> Arc<IdpState> {
    IdpState::new(conn, keys(), Arc::new(FixedClock::new(NOW))).expect("state")
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `sid=...` pair from Set-Cookie, ready for a Cookie header.
    pub fn session_cookie(&self) -> Option<String> {
        let v = self.headers.get("set-cookie")?.to_str().ok()?;
        Some(v.split(';').next()?.to_owned())
    }

    /// The decoded SAMLResponse of an auto-submit form page.
    pub fn saml_response(&self) -> String {
        let field = form_field(&self.body, "SAMLResponse")
            .unwrap_or_else(|| panic!("no SAMLResponse in page:\n{}", self.body));
        fakta::saml::binding::decode_post(&field).expect("base64")
    }

    pub fn form_action(&self) -> String {
        let start = self.body.find("action=\"").expect("form action") + 8;
        let end = self.body[start..].find('"').expect("end of action") + start;
        unescape(&self.body[start..end])
    }
}

pub fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub async fn send(state: &Arc<IdpState>, req: Request<Body>) -> Answer {
    let resp = idp::app(state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(state: &Arc<IdpState>, uri: &str, cookie: Option<&str>) -> Answer {
    let mut b = Request::get(uri);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    send(state, b.body(Body::empty()).expect("request")).await
}

pub async fn post_form(
    state: &Arc<IdpState>,
    uri: &str,
    fields: &[(&str, &str)],
    cookie: Option<&str>,
) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    send(state, b.body(Body::from(body)).expect("request")).await
}

/// Completes a login that was sent to the login page: picks `user` there.
pub async fn pick_user(state: &Arc<IdpState>, login_page: &Answer, user: &str) -> Answer {
    assert_eq!(
        login_page.status,
        StatusCode::FOUND,
        "expected a redirect to the login page: {}",
        login_page.body
    );
    let loc = login_page.location().to_owned();
    let token = loc
        .split("state=")
        .nth(1)
        .expect("state in login URL")
        .to_owned();
    let page = get(state, &loc, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    post_form(
        state,
        "/login/login.htm",
        &[("state", &token), ("username", user)],
        None,
    )
    .await
}

/// An IdP-initiated login as `user` of the example app; returns the Response XML.
pub async fn idp_initiated_response(state: &Arc<IdpState>, user: &str) -> String {
    let start = get(state, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let done = pick_user(state, &start, user).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    done.saml_response()
}

/// An SP-initiated login (HTTP-Redirect binding) as `user`; returns the Response XML.
pub async fn sp_initiated_response(state: &Arc<IdpState>, request_id: &str, user: &str) -> String {
    let xml = fakta::saml::authn_request::build(
        request_id,
        "2026-11-28T09:00:00.000Z",
        "urn:auth0:qovery:acme",
        "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml",
        "http://127.0.0.1:7100/login/callback?connection=acme",
        false,
    );
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &fakta::saml::binding::encode_redirect(&xml))
        .append_pair("RelayState", "/after-login")
        .finish();
    let start = get(
        state,
        &format!("/app/acme_qovery_1/qovery/sso/saml?{q}"),
        None,
    )
    .await;
    let done = pick_user(state, &start, user).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        form_field(&done.body, "RelayState").as_deref(),
        Some("/after-login")
    );
    done.saml_response()
}

pub const OIDC_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/qovery-oidc.yaml");

pub fn oidc_example() -> Connection {
    config::load_file(Path::new(OIDC_EXAMPLE))
        .map(|(c, _)| c)
        .unwrap_or_else(|d| panic!("OIDC example file is invalid:\n{d}"))
}

/// An IdP whose clock the test can move.
pub fn state_with_clock(conn: Connection) -> (Arc<IdpState>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(NOW));
    let st = IdpState::new(conn, keys(), clock.clone()).expect("state");
    (st, clock)
}

/// A request with a Basic Authorization header and a form body.
pub async fn post_form_basic(
    state: &Arc<IdpState>,
    uri: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Answer {
    use base64::Engine;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let cred = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(id),
            enc(secret)
        ));
        b = b.header("authorization", format!("Basic {cred}"));
    }
    send(state, b.body(Body::from(body)).expect("request")).await
}

pub async fn get_bearer(state: &Arc<IdpState>, uri: &str, token: &str) -> Answer {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    send(state, req).await
}
