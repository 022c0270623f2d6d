//! A real browser: headless Chromium driven over the DevTools protocol (`cdp`), for what the
//! runner's HTTP emulation cannot do: pages that log in with JavaScript (single-page apps),
//! CORS as a browser enforces it, and fakta's own pages as a person sees them.
//!
//! One Chromium process per [`Chromium`] (a fresh profile in a temporary directory, removed on
//! drop; the process group killed on drop), one fresh browser context per [`Page`] (its own
//! cookies and storage, disposed on drop). Every wait has a time limit; a missing Chromium is
//! one error naming the Debian package to install. Chromium is started with
//! `--remote-debugging-pipe`, so the protocol runs over two pipes and no port is opened.

pub mod cdp;

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use cdp::{Connection, Event};

/// What the driver could not do, naming where and what.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "Chromium is not installed (looked for {tried}); install the Debian package `chromium` \
(scripts/setup-deps does), or name the binary in FAKTA_CHROMIUM"
    )]
    NotInstalled { tried: String },
    #[error("cannot start Chromium ({path}): {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "Chromium ({path}) did not answer on its DevTools pipe within {limit:?}: {why}; its last output:\n{stderr}"
    )]
    NoAnswer {
        path: PathBuf,
        limit: Duration,
        why: String,
        stderr: String,
    },
    #[error("Chromium went away: {0}")]
    Gone(String),
    #[error("DevTools {method} failed: {message}")]
    Protocol { method: String, message: String },
    #[error("timed out after {limit:?} waiting for {what}")]
    Timeout { what: String, limit: Duration },
    #[error("navigating to {url} failed: {reason}")]
    Navigation { url: String, reason: String },
    #[error("the script threw on {url}: {message}")]
    Script { url: String, message: String },
    #[error("no element matches `{selector}` on {url}")]
    NoElement { selector: String, url: String },
    #[error("cannot save the screenshot {path}: {source}")]
    Screenshot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The binaries tried, in order, when `FAKTA_CHROMIUM` names none.
pub const CANDIDATES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The flags every launch gets: no GPU, no sandbox (containers and CI lack user namespaces),
/// nothing fetched in the background (no internet, no noise in what the IdP records).
pub const FLAGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
    "--window-size=1280,900",
];

/// How long Chromium may take to answer its first command.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// The default limit of one command, one navigation, one wait.
pub const STEP_LIMIT: Duration = Duration::from_secs(20);
/// How soon after a click or key a navigation it starts shows its first request.
pub const NAVIGATION_START: Duration = Duration::from_millis(500);
/// How long a page that submits itself on load must stay before it counts as settled.
pub const AUTOSUBMIT_GRACE: Duration = Duration::from_secs(1);
/// The last bytes of Chromium's stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

/// Finds the Chromium binary: `FAKTA_CHROMIUM`, else the first of [`CANDIDATES`] on `PATH`.
pub fn find_chromium() -> Result<PathBuf, BrowserError> {
    find_in(std::env::var_os("FAKTA_CHROMIUM"), std::env::var_os("PATH"))
}

fn find_in(
    named: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, BrowserError> {
    if let Some(named) = named.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&named);
        if path.is_file() {
            return Ok(path);
        }
        return Err(BrowserError::NotInstalled {
            tried: format!("FAKTA_CHROMIUM={}", path.display()),
        });
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for name in CANDIDATES {
        for dir in &dirs {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(BrowserError::NotInstalled {
        tried: format!("{} on PATH", CANDIDATES.join(", ")),
    })
}

/// A running headless Chromium.
#[derive(Debug)]
pub struct Chromium {
    conn: Arc<Connection>,
    child: Child,
    path: PathBuf,
    version: String,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    // Dropped after the process is killed (fields drop after `Drop::drop`).
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium (see [`find_chromium`]) with a fresh profile, trusting the CAs this
    /// process trusts (`crate::tls::trusted`: call `trust` first); needs a tokio runtime.
    pub async fn launch() -> Result<Chromium, BrowserError> {
        let path = find_chromium()?;
        let spawn_err = |source| BrowserError::Spawn {
            path: path.clone(),
            source,
        };
        let profile = tempfile::Builder::new()
            .prefix("fakta-chromium-")
            .tempdir()
            .map_err(spawn_err)?;
        let mut cmd = Command::new(&path);
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()));
        // The CAs fakta's own clients trust (an https IdP's local CA, `crate::tls::trust`):
        // the browser accepts a chain that holds one of them, and no other unknown chain.
        // Chromium honours the flag only with `--user-data-dir`, which every launch has.
        let spki: Vec<String> = crate::tls::trusted()
            .iter()
            .filter_map(|ca| crate::tls::spki_sha256_base64(ca).ok())
            .collect();
        if !spki.is_empty() {
            cmd.arg(format!(
                "--ignore-certificate-errors-spki-list={}",
                spki.join(",")
            ));
        }
        cmd.arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let pipes = crate::ffi::devtools_pipes(&mut cmd).map_err(spawn_err)?;
        let mut child = cmd.spawn().map_err(spawn_err)?;
        drop(pipes.child_ends);
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(mut err) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            // A thread, not a task: the pipe is blocking and ends when Chromium does.
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = err.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    t.extend(&chunk[..n]);
                    let excess = t.len().saturating_sub(STDERR_TAIL);
                    t.drain(..excess);
                }
            });
        }
        let to = pipe::Sender::from_owned_fd(pipes.to_browser).map_err(spawn_err);
        let from = pipe::Receiver::from_owned_fd(pipes.from_browser).map_err(spawn_err);
        let mut me = Chromium {
            conn: match (to, from) {
                (Ok(to), Ok(from)) => Connection::new(to, from),
                (Err(e), _) | (_, Err(e)) => {
                    kill(&mut child);
                    return Err(e);
                }
            },
            child,
            path,
            version: String::new(),
            stderr,
            _profile: profile,
        };
        match me
            .conn
            .call(None, "Browser.getVersion", json!({}), STARTUP_LIMIT)
            .await
        {
            Ok(v) => {
                me.version = v["product"].as_str().unwrap_or("Chromium").to_owned();
                Ok(me)
            }
            Err(e) => Err(BrowserError::NoAnswer {
                path: me.path.clone(),
                limit: STARTUP_LIMIT,
                why: e.to_string(),
                stderr: me.stderr_tail(),
            }),
        }
    }

    /// The process id of Chromium (also its process group's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The product and version Chromium reports (`Chrome/156.0...`).
    pub fn version(&self) -> &str {
        &self.version
    }

    fn stderr_tail(&self) -> String {
        let t = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>()).into_owned()
    }

    /// A page in a fresh browser context: no cookies, no storage, nothing shared with any other
    /// page.
    pub async fn page(&self) -> Result<Page, BrowserError> {
        let ctx = self
            .conn
            .call(None, "Target.createBrowserContext", json!({}), STEP_LIMIT)
            .await?;
        let context_id = ctx["browserContextId"].as_str().unwrap_or("").to_owned();
        let dispose = |conn: &Arc<Connection>| {
            conn.send_and_forget(
                "Target.disposeBrowserContext",
                json!({ "browserContextId": context_id }),
            )
        };
        let made = async {
            let target = self
                .conn
                .call(
                    None,
                    "Target.createTarget",
                    json!({ "url": "about:blank", "browserContextId": context_id }),
                    STEP_LIMIT,
                )
                .await?;
            let target_id = target["targetId"].as_str().unwrap_or("").to_owned();
            let attached = self
                .conn
                .call(
                    None,
                    "Target.attachToTarget",
                    json!({ "targetId": target_id, "flatten": true }),
                    STEP_LIMIT,
                )
                .await?;
            Ok::<_, BrowserError>(attached["sessionId"].as_str().unwrap_or("").to_owned())
        }
        .await;
        let session = match made {
            Ok(s) => s,
            Err(e) => {
                dispose(&self.conn);
                return Err(e);
            }
        };
        let events = self.conn.subscribe(&session);
        let page = Page {
            conn: Arc::clone(&self.conn),
            context_id: context_id.clone(),
            session,
            events,
            hops: Vec::new(),
            limit: STEP_LIMIT,
        };
        for domain in ["Page.enable", "Network.enable"] {
            page.call(domain, json!({})).await?;
        }
        Ok(page)
    }
}

fn kill(child: &mut Child) {
    crate::ffi::signal_group(child.id() as i32, libc::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Chromium {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// One document request of a page, in order: what a transcript shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub method: String,
    pub url: String,
    /// The answer's status, once it came (a redirect's status is its own hop's).
    pub status: Option<u16>,
    /// The answer's headers (names lower-cased), once it came.
    pub headers: Vec<(String, String)>,
    /// Why the request failed without an answer (refused connection, aborted), if it did.
    pub failed: Option<String>,
    /// The body sent (a form's fields, url-encoded), when there is one of at most
    /// [`MAX_BODY_BYTES`].
    pub body: Option<String>,
    /// The `Set-Cookie` lines of the answer: Chromium gives them apart from the headers.
    pub set_cookies: Vec<String>,
    request_id: String,
    /// Whether the cookies of this hop's answer came already (one such event per answer).
    extra: bool,
}

impl Hop {
    fn answered(&mut self, response: &Value) {
        self.status = response["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok());
        self.headers = response["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
    }
}

/// The most bytes of a request body the driver reads (a SAMLResponse form is tens of KiB): a
/// longer one is neither recorded nor shown to an interceptor ([`Paused::body`] is `None`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request's body as Chromium reports it (`postData`, or the base64 `postDataEntries` of
/// newer releases), when it has one of at most [`MAX_BODY_BYTES`].
fn request_body(request: &Value) -> Option<Vec<u8>> {
    use base64::Engine;
    if let Some(s) = request["postData"].as_str() {
        return (s.len() <= MAX_BODY_BYTES).then(|| s.as_bytes().to_vec());
    }
    let mut out = Vec::new();
    for entry in request["postDataEntries"].as_array()? {
        let b64 = entry["bytes"].as_str().unwrap_or("");
        // Base64 is 4/3 of the bytes: check before decoding.
        if out.len() + b64.len() / 4 * 3 > MAX_BODY_BYTES {
            return None;
        }
        out.extend(base64::engine::general_purpose::STANDARD.decode(b64).ok()?);
    }
    (!out.is_empty()).then_some(out)
}

/// A document request Chromium holds until an [`Interceptor`] decides about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub method: String,
    pub url: String,
    /// Its body (a form's fields, url-encoded), when it has one of at most [`MAX_BODY_BYTES`].
    pub body: Option<Vec<u8>>,
    /// Whether it has a body ([`Paused::body`] is `None` for one past the limit).
    pub has_body: bool,
}

/// What becomes of a paused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Sent as it is.
    Continue,
    /// Sent with another URL and/or body, unseen by the page (`Fetch.continueRequest`).
    Change {
        url: Option<String>,
        body: Option<Vec<u8>>,
    },
    /// Never sent: the page gets this HTML answer instead (`Fetch.fulfillRequest`).
    Fulfill { status: u16, html: String },
    /// Never sent: the page is redirected (302) to `location`, which it then requests, and
    /// sees (a URL changed by [`Decision::Change`] is not seen by the page's scripts; a
    /// single-page app reads its callback's parameters from its own address).
    Redirect { location: String },
    /// Never sent: the navigation is aborted and the page stays where it was
    /// (`Fetch.failRequest`).
    Abort,
}

/// Decides about each paused document request of a page, in the order they come.
pub type Interceptor = Box<dyn FnMut(&Paused) -> Decision + Send>;

/// The `Fetch.*` command that carries out `decision` for the paused request `id`.
fn command(id: &str, decision: Decision) -> (&'static str, Value) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match decision {
        Decision::Continue => ("Fetch.continueRequest", json!({ "requestId": id })),
        Decision::Change { url, body } => {
            let mut p = json!({ "requestId": id });
            if let Some(u) = url {
                p["url"] = json!(u);
            }
            if let Some(b) = body {
                p["postData"] = json!(b64(&b));
            }
            ("Fetch.continueRequest", p)
        }
        Decision::Fulfill { status, html } => (
            "Fetch.fulfillRequest",
            json!({
                "requestId": id,
                "responseCode": status,
                "responseHeaders": [
                    { "name": "Content-Type", "value": "text/html; charset=utf-8" },
                    { "name": "Cache-Control", "value": "no-store" },
                ],
                "body": b64(html.as_bytes()),
            }),
        ),
        Decision::Redirect { location } => (
            "Fetch.fulfillRequest",
            json!({
                "requestId": id,
                "responseCode": 302,
                "responseHeaders": [
                    { "name": "Location", "value": location },
                    { "name": "Cache-Control", "value": "no-store" },
                ],
                "body": "",
            }),
        ),
        Decision::Abort => (
            "Fetch.failRequest",
            json!({ "requestId": id, "errorReason": "Aborted" }),
        ),
    }
}

/// A key [`Page::press`] can press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Tab,
    ShiftTab,
    Enter,
    Space,
}

/// A tab in its own browser context.
#[derive(Debug)]
pub struct Page {
    conn: Arc<Connection>,
    context_id: String,
    session: String,
    events: mpsc::Receiver<Event>,
    hops: Vec<Hop>,
    limit: Duration,
}

impl Page {
    async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.conn
            .call(Some(&self.session), method, params, self.limit)
            .await
    }

    /// Sets the time limit of each later step (commands, navigations, waits).
    pub fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
    }

    /// Reads the events that came so far into the hop log.
    fn drain(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            self.record(&ev);
        }
    }

    fn record(&mut self, ev: &Event) {
        let p = &ev.params;
        let is_document = p["type"].as_str() == Some("Document");
        match ev.method.as_str() {
            "Network.requestWillBeSent" if is_document => {
                let id = p["requestId"].as_str().unwrap_or("").to_owned();
                if p["redirectResponse"].is_object() {
                    let answer = &p["redirectResponse"];
                    if let Some(h) = self.hops.iter_mut().rev().find(|h| h.request_id == id) {
                        h.answered(answer);
                    }
                }
                self.hops.push(Hop {
                    method: p["request"]["method"].as_str().unwrap_or("GET").to_owned(),
                    url: p["request"]["url"].as_str().unwrap_or("").to_owned(),
                    status: None,
                    headers: Vec::new(),
                    failed: None,
                    body: request_body(&p["request"])
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    set_cookies: Vec::new(),
                    request_id: id,
                    extra: false,
                });
            }
            // Answers of one redirect chain share a request id and come in order: the k-th
            // such event is the k-th hop's (not a document's only by its id, as above).
            "Network.responseReceivedExtraInfo" => {
                let id = p["requestId"].as_str().unwrap_or("");
                if let Some(h) = self
                    .hops
                    .iter_mut()
                    .find(|h| h.request_id == id && !h.extra)
                {
                    h.extra = true;
                    h.set_cookies = p["headers"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
                        .flat_map(|(_, v)| {
                            v.as_str()
                                .unwrap_or("")
                                .lines()
                                .map(str::to_owned)
                                .collect::<Vec<_>>()
                        })
                        .collect();
                }
            }
            "Network.responseReceived" if is_document => {
                let id = p["requestId"].as_str().unwrap_or("");
                if let Some(h) = self.hops.iter_mut().rev().find(|h| h.request_id == id) {
                    h.answered(&p["response"]);
                }
            }
            // Only documents are hops; the event does not say the type, the id does.
            "Network.loadingFailed" => {
                let id = p["requestId"].as_str().unwrap_or("");
                if let Some(h) = self
                    .hops
                    .iter_mut()
                    .rev()
                    .find(|h| h.request_id == id && h.status.is_none())
                {
                    h.failed = Some(p["errorText"].as_str().unwrap_or("failed").to_owned());
                }
            }
            _ => {}
        }
    }

    /// From now on, holds each document request of this page (navigations, redirects, form
    /// posts; not its scripts' fetches) until `decide` says what becomes of it. The decisions
    /// are carried out by a task of their own, so a request is let go even while the page's
    /// owner waits on a navigation; each answer has the page's time limit, and a request whose
    /// answer failed is left to Chromium (which ends it with the target). Only this page's
    /// target is intercepted: other pages, in other contexts, are not slowed down.
    pub async fn intercept(&mut self, mut decide: Interceptor) -> Result<(), BrowserError> {
        let mut paused = self.conn.subscribe_fetch(&self.session);
        let (conn, session, limit) = (Arc::clone(&self.conn), self.session.clone(), self.limit);
        tokio::spawn(async move {
            while let Some(ev) = paused.recv().await {
                if ev.method != "Fetch.requestPaused" {
                    continue;
                }
                let p = &ev.params;
                let id = p["requestId"].as_str().unwrap_or("").to_owned();
                let request = Paused {
                    method: p["request"]["method"].as_str().unwrap_or("GET").to_owned(),
                    url: p["request"]["url"].as_str().unwrap_or("").to_owned(),
                    body: request_body(&p["request"]),
                    has_body: p["request"]["hasPostData"].as_bool().unwrap_or(false),
                };
                let (method, params) = command(&id, decide(&request));
                if let Err(e) = conn.call(Some(&session), method, params, limit).await {
                    tracing::warn!("letting go of {} {}: {e}", request.method, request.url);
                }
            }
        });
        self.call(
            "Fetch.enable",
            json!({ "patterns": [
                { "urlPattern": "*", "resourceType": "Document", "requestStage": "Request" }
            ] }),
        )
        .await
        .map(|_| ())
    }

    /// The cookies of this page's context that would go to `url`, as (name, value).
    pub async fn cookies(&self, url: &str) -> Result<Vec<(String, String)>, BrowserError> {
        let got = self
            .call("Network.getCookies", json!({ "urls": [url] }))
            .await?;
        Ok(got["cookies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    c["value"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect())
    }

    /// The document requests so far (navigations, redirects, form posts), in order.
    pub fn hops(&mut self) -> &[Hop] {
        self.drain();
        &self.hops
    }

    /// Sets a cookie for `url` in this page's context (before the page visits it).
    pub async fn set_cookie(&self, name: &str, value: &str, url: &str) -> Result<(), BrowserError> {
        let ok = self
            .call(
                "Network.setCookie",
                json!({ "name": name, "value": value, "url": url }),
            )
            .await?;
        if ok["success"].as_bool() == Some(false) {
            return Err(BrowserError::Protocol {
                method: "Network.setCookie".to_owned(),
                message: format!("Chromium refused the cookie {name} for {url}"),
            });
        }
        Ok(())
    }

    /// Opens `url` and waits until the page settled (see [`Page::settle`]).
    pub async fn goto(&mut self, url: &str) -> Result<(), BrowserError> {
        let nav = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(reason) = nav["errorText"].as_str().filter(|t| !t.is_empty()) {
            return Err(BrowserError::Navigation {
                url: url.to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.settle().await
    }

    /// Whether an element matches the CSS `selector` now.
    pub async fn has(&self, selector: &str) -> Result<bool, BrowserError> {
        let sel = serde_json::to_string(selector).unwrap_or_default();
        Ok(self
            .eval(&format!("document.querySelector({sel}) !== null"))
            .await?
            .as_bool()
            .unwrap_or(false))
    }

    /// Waits until no document request is under way and the page's `document.readyState` is
    /// `complete` at the same URL twice, 150 ms apart: redirects, auto-submitting forms and
    /// scripts that navigate on load have run their course. A page that submits itself on load
    /// (a SAML or form_post page) must stay [`AUTOSUBMIT_GRACE`] first: its form's request
    /// may not have shown yet on a loaded machine, and an interceptor may have stopped it (then
    /// the page stays).
    pub async fn settle(&mut self) -> Result<(), BrowserError> {
        let deadline = Instant::now() + self.limit;
        let mut last: Option<(String, bool)> = None;
        let mut since = Instant::now();
        let mut last_hops = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            self.drain();
            let hops = self.hops.len();
            let pending = self
                .hops
                .iter()
                .any(|h| h.status.is_none() && h.failed.is_none());
            // A navigation under way destroys the context an evaluation runs in: not settled.
            let now = self
                .eval_quiet(
                    "document.readyState === 'complete' ? [location.href, !!(document.body && \
                     /submit\\(\\)/.test(document.body.getAttribute('onload') || ''))] : null",
                )
                .await
                .ok()
                .and_then(|v| Some((v[0].as_str()?.to_owned(), v[1].as_bool()?)));
            // The same page, with no request since it was first seen.
            let same = now.is_some() && now == last && hops == last_hops;
            if !same {
                since = Instant::now();
                last = now;
                last_hops = hops;
            } else if !pending
                && (last.as_ref().is_some_and(|(_, autosubmit)| !autosubmit)
                    || since.elapsed() >= AUTOSUBMIT_GRACE)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: format!(
                        "the page to settle (at {})",
                        last.as_ref()
                            .map_or("a page still loading", |(u, _)| u.as_str())
                    ),
                    limit: self.limit,
                });
            }
        }
    }

    async fn eval_quiet(&self, expr: &str) -> Result<Value, BrowserError> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let message = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("an exception")
                .to_owned();
            return Err(BrowserError::Script {
                url: String::new(),
                message,
            });
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expr` in the page (a promise is awaited) and returns its value as JSON
    /// (`null` for `undefined` and for values JSON cannot hold).
    pub async fn eval(&self, expr: &str) -> Result<Value, BrowserError> {
        match self.eval_quiet(expr).await {
            Err(BrowserError::Script { message, .. }) => Err(BrowserError::Script {
                url: self.url().await.unwrap_or_default(),
                message,
            }),
            other => other,
        }
    }

    /// The page's address now.
    pub async fn url(&self) -> Result<String, BrowserError> {
        Ok(self
            .eval_quiet("location.href")
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned())
    }

    /// The text a person sees (`document.body.innerText`).
    pub async fn text(&self) -> Result<String, BrowserError> {
        Ok(self
            .eval("document.body ? document.body.innerText : ''")
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned())
    }

    /// Polls `expr` until it is neither `null`, `false` nor `""` and returns it; an exception
    /// counts as not yet (the page may be between documents).
    pub async fn wait_for(&mut self, expr: &str) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + self.limit;
        let mut last_error = None;
        loop {
            self.drain();
            match self.eval_quiet(expr).await {
                Ok(v) if !(v.is_null() || v == json!(false) || v == json!("")) => return Ok(v),
                Ok(_) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let url = self.url().await.unwrap_or_default();
                return Err(BrowserError::Timeout {
                    what: format!(
                        "`{expr}` on {url}{}",
                        last_error
                            .map(|e| format!(" (last: {e})"))
                            .unwrap_or_default()
                    ),
                    limit: self.limit,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element matching the CSS `selector` with the mouse, at its centre (as
    /// a person would: other elements on top get the click); when the click starts a
    /// navigation, waits until the page settled (see [`Page::after_input`]).
    pub async fn click(&mut self, selector: &str) -> Result<(), BrowserError> {
        self.drain();
        let before = self.hops.len();
        let sel = serde_json::to_string(selector).unwrap_or_default();
        let rect = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
            ))
            .await?;
        let (Some(x), Some(y)) = (rect[0].as_f64(), rect[1].as_f64()) else {
            return Err(BrowserError::NoElement {
                selector: selector.to_owned(),
                url: self.url().await.unwrap_or_default(),
            });
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await?;
        }
        self.after_input(before).await
    }

    /// After a click or a key: a link or a form sends its request at once, so when a document
    /// request appears within [`NAVIGATION_START`] the page is let settle; otherwise the input
    /// navigated nowhere (a field focused) or its script navigates later, which the caller
    /// waits for ([`Page::wait_for`]). Never settling on the page being left is what makes a
    /// second click on it impossible.
    async fn after_input(&mut self, hops_before: usize) -> Result<(), BrowserError> {
        let deadline = Instant::now() + NAVIGATION_START;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
            self.drain();
            if self.hops.len() > hops_before {
                return self.settle().await;
            }
        }
        Ok(())
    }

    /// Types `text` into the focused element.
    pub async fn type_text(&self, text: &str) -> Result<(), BrowserError> {
        self.call("Input.insertText", json!({ "text": text }))
            .await
            .map(|_| ())
    }

    /// Presses and releases `key`; when that starts a navigation (Enter in a form, Space on
    /// a button), waits until the page settled.
    pub async fn press(&mut self, key: Key) -> Result<(), BrowserError> {
        self.drain();
        let before = self.hops.len();
        let (name, code, vk, text, modifiers) = match key {
            Key::Tab => ("Tab", "Tab", 9, "", 0),
            Key::ShiftTab => ("Tab", "Tab", 9, "", 8),
            Key::Enter => ("Enter", "Enter", 13, "\r", 0),
            Key::Space => (" ", "Space", 32, " ", 0),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut p = json!({ "type": kind, "key": name, "code": code,
                "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk, "modifiers": modifiers });
            if kind == "keyDown" && !text.is_empty() {
                p["text"] = json!(text);
            }
            self.call("Input.dispatchKeyEvent", p).await?;
        }
        if matches!(key, Key::Enter | Key::Space) {
            self.after_input(before).await?;
        }
        Ok(())
    }

    /// Saves a PNG of the viewport to `path` (its folder is created).
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        use base64::Engine;
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .map_err(|e| BrowserError::Protocol {
                method: "Page.captureScreenshot".to_owned(),
                message: e.to_string(),
            })?;
        let saved = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(path, bytes));
        saved.map_err(|source| BrowserError::Screenshot {
            path: path.to_owned(),
            source,
        })
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.conn.unsubscribe(&self.session);
        self.conn.send_and_forget(
            "Target.disposeBrowserContext",
            json!({ "browserContextId": self.context_id }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_chromium_names_the_package_to_install() {
        let empty = tempfile::tempdir().unwrap();
        let e = find_in(None, Some(empty.path().as_os_str().to_owned())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Chromium is not installed (looked for chromium, chromium-browser, google-chrome, \
google-chrome-stable on PATH); install the Debian package `chromium` (scripts/setup-deps does), \
or name the binary in FAKTA_CHROMIUM"
        );
        let e = find_in(Some("/nowhere/chrome".into()), None).unwrap_err();
        assert!(e.to_string().starts_with(
            "Chromium is not installed (looked for FAKTA_CHROMIUM=/nowhere/chrome); install the Debian package `chromium`"
        ));
    }

    #[test]
    fn the_first_candidate_on_path_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("google-chrome"), "").unwrap();
        std::fs::write(dir.path().join("chromium"), "").unwrap();
        let found = find_in(None, Some(dir.path().as_os_str().to_owned())).unwrap();
        assert_eq!(found, dir.path().join("chromium"));
    }
}
