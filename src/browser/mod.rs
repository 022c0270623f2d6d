//! A real browser: headless Chromium driven over the DevTools protocol (`cdp`), for what the
//! runner's HTTP emulation cannot do: pages that log in with JavaScript (single-page apps),
//! CORS as a browser enforces it, and fakta's own pages as a person sees them.
//!
//! One Chromium process per [`Chromium`] (a fresh profile in a temporary directory, removed on
//! drop; the process group killed on drop), one browser context per [`Page`] (its own cookies
//! and storage). A page's context is either new or one a dropped page left, wiped clean first
//! (its cookies, the storage of every origin its frames showed, its cache): a new context
//! costs Chromium a renderer process, several times the CPU of the pages a trial loads. Every
//! wait has a time limit; a missing Chromium is one error naming the Debian package to
//! install. Chromium is started with
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
        "Chromium is not installed (looked for {tried}); install the Debian package \
`chromium-headless-shell` or `chromium` (scripts/setup-deps installs both), or name the binary \
in FAKTA_CHROMIUM"
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

/// The binaries tried, in order, when `FAKTA_CHROMIUM` names none. Chromium's headless shell
/// first: the same engine, DevTools protocol and page behaviour without the desktop browser's
/// layer (windows, address bar, profile services), for about half the CPU on the demo (Debian's
/// `chromium-headless-shell` 156: 53 s of CPU against 95 s for `chromium`, the same verdicts).
pub const CANDIDATES: [&str; 5] = [
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The flags every launch gets: no GPU, no sandbox (containers and CI lack user namespaces),
/// nothing fetched in the background (no internet, no noise in what the IdP records), and no
/// renderer processes a trial does not need (see [`NO_SPARE_RENDERERS`]).
pub const FLAGS: [&str; 13] = [
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
    NO_SPARE_RENDERERS,
    "--disable-site-isolation-trials",
];

/// Chromium features that only cost renderer processes here, measured on the demo in Chromium
/// (Chromium 156, debug fakta): the omnibox popup's WebUI (`WebUIOmniboxPopup`,
/// `WebUIOmniboxAimPopup`, preloaded by `PreloadTopChromeWebUI`) loads two pages in a renderer
/// of its own for every browser context, a window's address bar no headless page shows (about
/// 0.8 s of CPU per context); and site isolation (`site-per-process`, `IsolateOrigins`, with
/// `--disable-site-isolation-trials`) gave the demo some 1 300 short-lived renderer processes
/// for 220 trials where 14 do without it. Site isolation separates sites into processes against
/// memory-reading exploits; it changes nothing a page can observe (cookies, storage, CORS,
/// `postMessage` origins and `SameSite` go by origin and site as before), and fakta's
/// browser only ever visits the IdP and the SP under test.
pub const NO_SPARE_RENDERERS: &str = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,\
PreloadTopChromeWebUI,IsolateOrigins,site-per-process";

/// How long Chromium may take to answer its first command.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// The default limit of one command, one navigation, one wait.
pub const STEP_LIMIT: Duration = Duration::from_secs(20);
/// How long a navigation the main frame requested may take to start loading before it is taken
/// as dropped (a form's submission blocked, a navigation cancelled by another script): only
/// such a navigation ever waits this long; one that starts ends the wait at once.
pub const REQUESTED_START_LIMIT: Duration = Duration::from_secs(5);
/// How often [`Page::wait_for`] evaluates its expression when no event of the page comes.
pub const WAIT_POLL: Duration = Duration::from_millis(50);
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
    /// Tabs of dropped pages, wiped, for the next pages.
    spare: Spares,
    // Dropped after the process is killed (fields drop after `Drop::drop`).
    _profile: tempfile::TempDir,
}

/// A tab whose page was dropped, wiped clean ([`Page::wipe`]), in its own context.
#[derive(Debug)]
struct Spare {
    context_id: String,
    session: String,
    frame_id: String,
}

type Spares = Arc<Mutex<Vec<Spare>>>;

/// The most wiped tabs kept for reuse; past it a dropped page's context is disposed.
pub const MAX_SPARE_PAGES: usize = 16;
/// How long each step of wiping a dropped page's tab may take before its context is disposed
/// instead.
pub const WIPE_LIMIT: Duration = Duration::from_secs(5);

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
            spare: Arc::default(),
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

    /// How many wiped tabs of dropped pages wait for the next pages.
    pub fn spare_pages(&self) -> usize {
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).len()
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

    /// A page in a browser context of its own: no cookies, no storage, nothing shared with any
    /// other page. A dropped page's tab, wiped, when there is one; else a new context.
    pub async fn page(&self) -> Result<Page, BrowserError> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(s) = spare {
            let events = self.conn.subscribe(&s.session);
            return Ok(Page {
                conn: Arc::clone(&self.conn),
                context_id: s.context_id,
                session: s.session,
                events,
                hops: Vec::new(),
                origins: Vec::new(),
                main_frame: MainFrame {
                    id: s.frame_id,
                    ..MainFrame::default()
                },
                limit: STEP_LIMIT,
                intercepting: false,
                spare: Some(Arc::clone(&self.spare)),
            });
        }
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
            let session = attached["sessionId"].as_str().unwrap_or("").to_owned();
            Ok::<_, BrowserError>((session, target_id))
        }
        .await;
        let (session, frame_id) = match made {
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
            origins: Vec::new(),
            // A page target's main frame has the target's id.
            main_frame: MainFrame {
                id: frame_id,
                ..MainFrame::default()
            },
            limit: STEP_LIMIT,
            intercepting: false,
            spare: Some(Arc::clone(&self.spare)),
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
    /// The origins of the documents the page showed (its frames'), whose storage a wipe
    /// clears.
    origins: Vec<String>,
    main_frame: MainFrame,
    limit: Duration,
    /// Whether `Fetch` is on (an interceptor).
    intercepting: bool,
    /// Where the tab goes, wiped, when the page is dropped (None: its context is disposed).
    spare: Option<Spares>,
}

/// What the page's main frame is doing, as its `Page.*` events say: what [`Page::settle`]
/// waits on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct MainFrame {
    id: String,
    /// Between `Page.frameStartedLoading` and `Page.frameStoppedLoading`: a navigation is
    /// under way, or its document has not fired `load` yet.
    loading: bool,
    /// A navigation the frame was asked for that has not started loading, and since when: a
    /// form submitted or a location set by script, a link clicked
    /// (`Page.frameRequestedNavigation`, or `Page.frameScheduledNavigation` with no delay).
    /// Chromium reports it while the script runs, before the document it runs in is loaded.
    requested: Option<(String, Instant)>,
}

impl MainFrame {
    /// Notes what `ev` says about the main frame (events of other frames are not its).
    fn note(&mut self, ev: &Event) {
        let p = &ev.params;
        if p["frameId"].as_str() != Some(self.id.as_str()) {
            return;
        }
        match ev.method.as_str() {
            // Only the start of loading ends a request: `frameStartedNavigating` comes from
            // another process than `frameStartedLoading`, and may come first.
            "Page.frameStartedLoading" => {
                self.loading = true;
                self.requested = None;
            }
            "Page.frameStoppedLoading" => self.loading = false,
            "Page.frameRequestedNavigation"
                if p["disposition"].as_str().is_none_or(|d| d == "currentTab") =>
            {
                self.requested = Some((p["url"].as_str().unwrap_or("").to_owned(), Instant::now()));
            }
            // A refresh later than at once is a page a person reads first.
            "Page.frameScheduledNavigation" if p["delay"].as_f64().is_some_and(|d| d <= 0.0) => {
                self.requested = Some((p["url"].as_str().unwrap_or("").to_owned(), Instant::now()));
            }
            _ => {}
        }
    }
}

impl Page {
    async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.conn
            .call(Some(&self.session), method, params, self.limit)
            .await
    }

    /// The browser context the page runs in (a reused tab keeps its context's id).
    pub fn context_id(&self) -> &str {
        &self.context_id
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
        if ev.method == "Page.frameNavigated" {
            self.note_origin(ev.params["frame"]["url"].as_str().unwrap_or(""));
        }
        if ev.method.starts_with("Page.") {
            self.main_frame.note(ev);
            return;
        }
        let p = &ev.params;
        let is_document = p["type"].as_str() == Some("Document");
        match ev.method.as_str() {
            "Network.requestWillBeSent" if is_document => {
                self.note_origin(p["request"]["url"].as_str().unwrap_or(""));
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

    /// Notes the origin of `url` (an http or https one) as one whose storage a wipe clears.
    fn note_origin(&mut self, url: &str) {
        let Ok(u) = url::Url::parse(url) else {
            return;
        };
        if !matches!(u.scheme(), "http" | "https") {
            return;
        }
        let origin = u.origin().ascii_serialization();
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
    }

    /// Makes the tab as a new context would have it, for another page: its interceptor off,
    /// about:blank shown (scripts and workers of the last documents gone), the context's
    /// cookies, its cache and the storage of every origin its frames showed (local and
    /// session storage, IndexedDB, cache storage, service workers) cleared. Only its history
    /// list stays, which no document of another origin can read.
    async fn wipe(&mut self) -> Result<(), BrowserError> {
        if self.intercepting {
            self.call("Fetch.disable", json!({})).await?;
            self.conn.unsubscribe_fetch(&self.session);
            self.intercepting = false;
        }
        self.goto("about:blank").await?;
        self.conn
            .call(
                None,
                "Storage.clearCookies",
                json!({ "browserContextId": self.context_id }),
                self.limit,
            )
            .await?;
        for origin in std::mem::take(&mut self.origins) {
            self.call(
                "Storage.clearDataForOrigin",
                json!({ "origin": origin, "storageTypes": "all" }),
            )
            .await?;
        }
        self.call("Network.clearBrowserCache", json!({})).await?;
        Ok(())
    }

    /// Wipes the tab of a dropped page and keeps it for the next page, or disposes of its
    /// context when it cannot be wiped or enough are kept.
    async fn recycle(mut self, spares: Spares) {
        if let Err(e) = self.wipe().await {
            // Dropped here with no `spare`: its context is disposed.
            tracing::debug!(
                "a dropped page's tab could not be wiped ({e}); its context is disposed"
            );
            return;
        }
        self.conn.unsubscribe(&self.session);
        let spare = Spare {
            context_id: std::mem::take(&mut self.context_id),
            session: std::mem::take(&mut self.session),
            frame_id: self.main_frame.id.clone(),
        };
        let mut kept = spares.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < MAX_SPARE_PAGES {
            kept.push(spare);
        } else {
            drop(kept);
            self.conn.send_and_forget(
                "Target.disposeBrowserContext",
                json!({ "browserContextId": spare.context_id }),
            );
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
        .await?;
        self.intercepting = true;
        Ok(())
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

    /// What keeps the page from being settled now, if anything (see [`Page::settle`]).
    fn busy(&self) -> Option<String> {
        if let Some(h) = self
            .hops
            .iter()
            .find(|h| h.status.is_none() && h.failed.is_none())
        {
            return Some(format!("the answer to {} {}", h.method, h.url));
        }
        if let Some((url, _)) = &self.main_frame.requested {
            return Some(format!("the navigation to {url} to start"));
        }
        self.main_frame
            .loading
            .then(|| "the document to load".to_owned())
    }

    /// Reads the page's next event into its state, waiting at most until `until`; false when
    /// none came by then.
    async fn next_event(&mut self, until: Instant) -> Result<bool, BrowserError> {
        match tokio::time::timeout_at(until.into(), self.events.recv()).await {
            Ok(Some(ev)) => {
                self.record(&ev);
                Ok(true)
            }
            Ok(None) => Err(BrowserError::Gone(
                "the DevTools connection closed while waiting on the page".to_owned(),
            )),
            Err(_) => Ok(false),
        }
    }

    /// Waits until the page is settled: no document request under way, the main frame not
    /// loading (its document fired `load`), and no navigation requested that has not started
    /// (a form a script submits on load asks for its navigation while `load` is being fired,
    /// so a SAML or form_post page is never taken for a page that stays). Decided from the
    /// page's events as they come, never by time; the one exception is a requested navigation
    /// that never starts loading (blocked, or cancelled by another script), dropped after
    /// [`REQUESTED_START_LIMIT`] with nothing else under way.
    pub async fn settle(&mut self) -> Result<(), BrowserError> {
        let deadline = Instant::now() + self.limit;
        loop {
            self.drain();
            let Some(why) = self.busy() else {
                return Ok(());
            };
            let stalled = match &self.main_frame.requested {
                Some((_, since)) if !self.main_frame.loading => {
                    Some(*since + REQUESTED_START_LIMIT)
                }
                _ => None,
            };
            let until = stalled.map_or(deadline, |s| s.min(deadline));
            if self.next_event(until).await? {
                continue;
            }
            if stalled.is_some_and(|s| Instant::now() >= s) {
                if let Some((url, _)) = self.main_frame.requested.take() {
                    tracing::warn!(
                        "the navigation to {url} the page requested did not start within {:?}; \
                         taken as dropped",
                        REQUESTED_START_LIMIT
                    );
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: format!("the page to settle (still waiting for {why})"),
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
            // What the page's script decides follows what it received (an answer, a
            // navigation): evaluate again when an event comes, else after WAIT_POLL.
            self.next_event((Instant::now() + WAIT_POLL).min(deadline))
                .await?;
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

    /// After a click or a key: when it asked for a navigation (a link, a form's submission),
    /// waits until the page settled; otherwise the input navigated nowhere (a field focused)
    /// or its script navigates later, which the caller waits for ([`Page::wait_for`]). Chromium
    /// acknowledges an input on another channel than the page's events, so the page is first
    /// asked for a value: its answer comes after every event the input's handling raised.
    /// Never settling on the page being left is what makes a second click on it impossible.
    async fn after_input(&mut self, hops_before: usize) -> Result<(), BrowserError> {
        // A navigation that already replaced the document fails the evaluation: fine, the
        // events below say it started.
        let _ = self.eval_quiet("0").await;
        self.drain();
        if self.hops.len() > hops_before || self.busy().is_some() {
            return self.settle().await;
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
        // Handed on as a spare (`recycle`): nothing of it is this page's any more.
        if self.context_id.is_empty() {
            return;
        }
        if let (Some(spares), Ok(rt)) = (self.spare.take(), tokio::runtime::Handle::try_current()) {
            let (_, closed) = mpsc::channel(1);
            let page = Page {
                conn: Arc::clone(&self.conn),
                context_id: std::mem::take(&mut self.context_id),
                session: std::mem::take(&mut self.session),
                events: std::mem::replace(&mut self.events, closed),
                hops: std::mem::take(&mut self.hops),
                origins: std::mem::take(&mut self.origins),
                main_frame: std::mem::take(&mut self.main_frame),
                limit: WIPE_LIMIT,
                intercepting: self.intercepting,
                spare: None,
            };
            rt.spawn(page.recycle(spares));
            return;
        }
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
            "Chromium is not installed (looked for chromium-headless-shell, chromium, \
chromium-browser, google-chrome, google-chrome-stable on PATH); install the Debian package \
`chromium-headless-shell` or `chromium` (scripts/setup-deps installs both), or name the binary \
in FAKTA_CHROMIUM"
        );
        let e = find_in(Some("/nowhere/chrome".into()), None).unwrap_err();
        assert!(e.to_string().starts_with(
            "Chromium is not installed (looked for FAKTA_CHROMIUM=/nowhere/chrome); install the Debian package `chromium-headless-shell` or `chromium`"
        ));
    }

    fn ev(method: &str, params: Value) -> Event {
        Event {
            method: method.to_owned(),
            params,
        }
    }

    /// The events Chromium 156 sends for a page whose form submits itself in `onload` (read
    /// off the protocol): the submission is requested before `load`, so the page is never
    /// taken as settled between its load and its form's request.
    #[test]
    fn a_form_submitted_on_load_keeps_the_page_unsettled_until_the_next_document_loaded() {
        let f = |extra: Value| {
            let mut p = json!({ "frameId": "F" });
            if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
                p.extend(e.clone());
            }
            p
        };
        let mut frame = MainFrame {
            id: "F".to_owned(),
            ..MainFrame::default()
        };
        let busy = |m: &MainFrame| m.loading || m.requested.is_some();
        let requested = json!({ "reason": "formSubmissionPost", "url": "http://sp/acs",
            "disposition": "currentTab" });
        for (method, extra, then_busy) in [
            ("Page.frameStartedLoading", json!({}), true),
            ("Page.frameRequestedNavigation", requested.clone(), true),
            ("Page.frameStoppedLoading", json!({}), true),
            (
                "Page.frameScheduledNavigation",
                json!({ "reason": "formSubmissionPost", "url": "http://sp/acs", "delay": 0 }),
                true,
            ),
            // Reported by the browser process, before the renderer starts loading: not yet.
            (
                "Page.frameStartedNavigating",
                json!({ "url": "http://sp/acs" }),
                true,
            ),
            ("Page.frameStartedLoading", json!({}), true),
            ("Page.frameClearedScheduledNavigation", json!({}), true),
            ("Page.frameStoppedLoading", json!({}), false),
        ] {
            frame.note(&ev(method, f(extra)));
            assert_eq!(busy(&frame), then_busy, "after {method}: {frame:?}");
        }
        // Another frame's navigation, a new tab's, and a refresh in 5 s do not hold the page.
        frame.note(&ev(
            "Page.frameRequestedNavigation",
            json!({ "frameId": "child", "url": "http://x/", "disposition": "currentTab" }),
        ));
        frame.note(&ev(
            "Page.frameRequestedNavigation",
            f(json!({ "url": "http://x/", "disposition": "newTab" })),
        ));
        frame.note(&ev(
            "Page.frameScheduledNavigation",
            f(json!({ "url": "http://x/", "delay": 5 })),
        ));
        assert!(!busy(&frame), "{frame:?}");
    }

    #[test]
    fn the_first_candidate_on_path_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("google-chrome"), "").unwrap();
        std::fs::write(dir.path().join("chromium"), "").unwrap();
        let found = find_in(None, Some(dir.path().as_os_str().to_owned())).unwrap();
        assert_eq!(found, dir.path().join("chromium"));
        // The headless shell, where it is installed beside the browser.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("chromium-headless-shell"), "").unwrap();
        let path = std::env::join_paths([dir.path(), other.path()]).unwrap();
        let found = find_in(None, Some(path)).unwrap();
        assert_eq!(found, other.path().join("chromium-headless-shell"));
    }
}
