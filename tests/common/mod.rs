//! Shared test support: an IdP built from a connection file with a throw-away key and a fixed
//! clock, driven through `fakta::idp::app` with `oneshot` (no socket).
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// What a process run by [`run_with_deadline`] left: exit code (-1: killed by a signal),
/// stdout, stderr.
pub type Ran = (i32, String, String);

/// Runs `cmd` (stdout and stderr captured) and waits at most `deadline` for it to end, even
/// when it prints nothing. Past the deadline it gets SIGTERM (fakta stops the SPs it started
/// on it), then SIGKILL, and the test fails with what it printed so far.
pub fn run_with_deadline(cmd: &mut std::process::Command, deadline: Duration) -> Ran {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the process");
    let collect = |mut r: Box<dyn Read + Send>| {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = buf.clone();
        let t = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        });
        (buf, t)
    };
    let (out, out_t) = collect(Box::new(child.stdout.take().unwrap()));
    let (err, err_t) = collect(Box::new(child.stderr.take().unwrap()));
    let text = |b: &Arc<std::sync::Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    };
    let until = std::time::Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the process") {
            break status;
        }
        if std::time::Instant::now() >= until {
            let pid = child.id() as i32;
            // SAFETY: kill(2) on the child's own pid, which has not been reaped yet.
            #[expect(unsafe_code, reason = "kill(2): SIGTERM first, so fakta stops its SPs")]
            unsafe {
                libc::kill(pid, libc::SIGTERM)
            };
            std::thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not end within {deadline:?}; killed. Its output so far:\n--- stdout\n{}\n--- stderr\n{}",
                text(&out),
                text(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The pipes close when the process and what it started end; a grandchild holding them
    // open must not hang the test either.
    let joined = std::time::Instant::now() + Duration::from_secs(5);
    while !(out_t.is_finished() && err_t.is_finished()) && std::time::Instant::now() < joined {
        std::thread::sleep(Duration::from_millis(10));
    }
    (status.code().unwrap_or(-1), text(&out), text(&err))
}

/// Waits at most `deadline` for a line of `child`'s stdout starting with `prefix`, even when
/// it prints nothing; the rest of its output is drained on a thread. Fails the test with the
/// lines seen so far.
pub fn wait_for_line(child: &mut std::process::Child, prefix: &str, deadline: Duration) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    wait_for_line_in(stdout, prefix, deadline)
}

/// [`wait_for_line`] on any of a child's pipes.
pub fn wait_for_line_in(
    stdout: impl std::io::Read + Send + 'static,
    prefix: &str,
    deadline: Duration,
) -> String {
    try_wait_for_line_in(stdout, prefix, deadline).unwrap_or_else(|e| panic!("{e}"))
}

/// [`wait_for_line_in`] that returns what went wrong (with the lines seen) instead of failing.
pub fn try_wait_for_line_in(
    stdout: impl std::io::Read + Send + 'static,
    prefix: &str,
    deadline: Duration,
) -> Result<String, String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more: keep draining so the child never blocks on a pipe.
                continue;
            }
        }
    });
    let until = std::time::Instant::now() + deadline;
    let mut seen = Vec::new();
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return Ok(line),
            Ok(line) => seen.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no line starting with `{prefix}` within {deadline:?}; seen:\n{}",
                    seen.join("\n")
                ));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "the process ended before a line starting with `{prefix}`; seen:\n{}",
                    seen.join("\n")
                ));
            }
        }
    }
}

/// Whether a process group is gone: `kill(-pgid, 0)` fails with ESRCH, or its members have all
/// ended (not yet reaped).
pub fn process_group_gone(pgid: i32) -> bool {
    assert!(pgid > 1, "not a process group id: {pgid}");
    // SAFETY: signal 0 only checks for existence; nothing is sent.
    #[expect(unsafe_code, reason = "kill(2) with signal 0, to read ESRCH")]
    let r = unsafe { libc::kill(-pgid, 0) };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return true;
    }
    // Members that ended but that init has not reaped yet (the SP outlived its shell, so init
    // became its parent): ended all the same. Linux says so in /proc/<pid>/stat.
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    !dir.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // pid (name) state ppid pgrp ...; the name may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        matches!(fields.as_slice(), [state, _, pgrp]
            if pgrp.parse::<i32>() == Ok(pgid) && !matches!(*state, "Z" | "X"))
    })
}

/// Runs `attempt` (which picks its own free ports) again, up to five times, while what it ran
/// failed because a port was taken meanwhile ("Address already in use" on stderr).
pub fn retry_on_addr_in_use<T>(mut attempt: impl FnMut() -> (T, Ran)) -> (T, Ran) {
    for _ in 0..4 {
        let got = attempt();
        if !got.1.2.contains("Address already in use") {
            return got;
        }
    }
    attempt()
}

/// A loopback port free at the time of asking. It is free no longer than that: use it only
/// where the code under test cannot take a bound listener, and retry on "address in use"
/// ([`retry_on_addr_in_use`]).
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

/// `fakta test` on a shipped pack (`scenarios/<pack>.yaml`) moved to free ports and changed by
/// `edit`, with the reference SP started by the file's `target.start` (with `flaw`): the run of
/// the trials matching `filter`. `prepare` writes what the edited file names into its folder.
pub fn shipped_pack_run(
    pack: &str,
    prepare: impl Fn(&Path),
    edit: impl Fn(String) -> String,
    flaw: Option<&str>,
    filter: &str,
) -> Ran {
    let bin = env!("CARGO_BIN_EXE_fakta");
    retry_on_addr_in_use(|| {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let (idp, sp) = (free_port(), free_port());
        let flaw = flaw.map(|f| format!(" --flaw {f}")).unwrap_or_default();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{pack}.yaml"));
        let moved = std::fs::read_to_string(shipped)
            .unwrap()
            .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
            .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
        let yaml = edit(moved).replacen(
            "\ntarget:\n",
            &format!("\ntarget:\n  start: \"exec '{bin}' --certs certs sp {pack}.yaml{flaw}\"\n"),
            1,
        );
        assert!(
            yaml.contains("  start: \"exec"),
            "{pack}.yaml has no `target:` line"
        );
        let file = dir.path().join(format!("{pack}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let ran = run_with_deadline(
            std::process::Command::new(bin)
                .arg("--certs")
                .arg(dir.path().join("certs"))
                .arg("test")
                .arg(&file)
                .arg(filter)
                .env_remove("FAKTA_LOG")
                .env("TMPDIR", dir.path()),
            Duration::from_secs(300),
        );
        (dir, ran)
    })
    .1
}

/// The trials a run printed as `FAILED`.
pub fn failed_trials(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(str::trim)
        .collect()
}

/// The lines `test NAME ... VERDICT` of a run, as (name, verdict), in the run's order.
pub fn trial_verdicts(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let (name, verdict) = l.strip_prefix("test ")?.split_once(" ... ")?;
            Some((name.trim().to_owned(), verdict.trim().to_owned()))
        })
        .collect()
}
