//! How a trial's browser reaches the SP and the IdP: [`Transport`], with two implementations.
//! The HTTP emulation ([`Browser`]: reqwest, forms read with scraper, no script) runs every
//! trial; headless Chromium ([`ChromiumTab`], `fakta test --browser chromium`) runs the pages'
//! own JavaScript, so single-page apps that log in in the page can be tested, and for now runs
//! the honest logins and the role matrix. [`not_runnable`] says which trials a mode cannot run,
//! and why: those are listed `ignored` with the reason, never failed.
//!
//! A Chromium trial gets a clean browser context (new, or a finished trial's wiped: no
//! cookies, no storage) with the IdP's `fakta_trial` cookie set in it; fakta's login page is
//! driven by clicking the user's button (or typing the login), forms are submitted by the
//! pages themselves, and the document requests Chromium makes are copied into the trial's hop
//! record, so transcripts and the "delivered to the registered URL" evidence read the same in
//! both modes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::browser::{Browser, Hop, Navigation, Page, Rewrite, same_endpoint};
use super::exec::Observed;
use super::plan::TrialSpec;
use crate::browser::{BrowserError, Chromium, Decision, Key, Paused};
use crate::config::{Reader, Target};

/// A boxed future, so the trait can be used as `dyn Transport`.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What a trial's login and session steps need from a browser.
pub trait Transport: Send {
    /// Goes to `url` and on as a person would, signing in as `login` on fakta's login page,
    /// until the page needs nothing more; the last page.
    fn navigate<'a>(&'a mut self, url: &'a str, login: &'a str) -> Pending<'a, Page>;
    /// Opens the target's session probe and reads it.
    fn probe<'a>(&'a mut self, target: &'a Target) -> Pending<'a, Observed>;
}

/// Which browser `fakta test` drives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engine {
    /// The HTTP emulation (the default).
    #[default]
    Http,
    /// Headless Chromium (`--browser chromium`).
    Chromium,
}

impl Transport for Browser {
    fn navigate<'a>(&'a mut self, url: &'a str, login: &'a str) -> Pending<'a, Page> {
        Box::pin(async move {
            Browser::navigate(self, url, login)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn probe<'a>(&'a mut self, target: &'a Target) -> Pending<'a, Observed> {
        Box::pin(super::exec::probe(self, target))
    }
}

/// Why `spec` cannot run with `engine` on its file, if it cannot.
pub fn not_runnable(spec: &TrialSpec, engine: Engine) -> Option<String> {
    let target = spec.conn.target.as_ref()?;
    let session = &target.session;
    let scripted =
        session.logged_in_js.is_some() || session.read.values().any(|r| matches!(r, Reader::Js(_)));
    match engine {
        Engine::Http if scripted => Some(
            "needs JavaScript: target.session reads the session with `js`, which only a real \
browser runs (fakta test --browser chromium)"
                .to_owned(),
        ),
        // O25 (planned only for a file with target.silent_login_url): the answer is a page
        // whose script posts it to the SPA, and the SPA's own script receives it.
        Engine::Http
            if spec.ignored.is_none() && spec.oidc_fault.is_some_and(|f| f.in_post_message()) =>
        {
            Some(
                "needs a real browser: the okta_post_message answer is a page whose script posts \
it to the SPA's script (fakta test --browser chromium)"
                    .to_owned(),
            )
        }
        Engine::Http => None,
        // Every step has its browser form: faults are forged by the IdP, rewrites and stops
        // are made by the tab's interceptor, second browsers are tabs in contexts of their
        // own, revocations and back-channel logouts go from the runner to the SP.
        Engine::Chromium => None,
    }
}

/// `logged_in_when.js` as an expression that is "true" or "false" once the page decided, null
/// before (so that [`crate::browser::Page::wait_for`] waits for a decision, false included).
fn decision(expr: &str) -> String {
    format!("(() => {{ const v = ({expr}); return typeof v === 'boolean' ? String(v) : null; }})()")
}

/// Fresh pages at most one navigation may cross before it arrives (the login page, an error
/// page with the login page again).
const MAX_LOGIN_PAGES: usize = 3;

/// A trial's tab in headless Chromium.
#[derive(Debug)]
pub struct ChromiumTab {
    page: crate::browser::Page,
    idp_base: String,
    /// The target's `logged_in_when.js`: a navigation waits until the page decided it.
    decided: Option<String>,
    /// Hops already handed over to the trial's record.
    handed: usize,
    /// What the tab's interceptor does with document requests (shared with it).
    steering: Arc<Mutex<Steering>>,
    /// Whether the interceptor is on (it is turned on by the first steering, never off).
    intercepting: bool,
}

/// What a tab's interceptor does: the same abilities as the HTTP emulation's `rewrite` and
/// `stop_at`, plus a page of the runner's own served at the IdP's origin.
#[derive(Debug, Default)]
struct Steering {
    /// A one-time change to the next request to one of its endpoints.
    rewrite: Option<Rewrite>,
    /// The change made (method and endpoint, no values), once made.
    rewritten: Option<String>,
    /// Endpoints never requested: the navigation stops before them.
    stop_at: Vec<url::Url>,
    /// The request a navigation stopped before: its URL and, for a POST, its form.
    held: Option<Held>,
    /// A page the runner serves itself (its URL and markup), once: the form an IdP's page
    /// would auto-submit, answered without reaching the IdP.
    serve: Option<(String, String)>,
    /// What the interceptor could not do as asked, for the transcript.
    trouble: Option<String>,
    /// Requests answered with a redirect to their changed URL: not hops of the record (the
    /// HTTP emulation sends the changed request in their place).
    redirected: Vec<String>,
}

/// A request a navigation stopped before: its URL and, for a POST, its form.
type Held = (String, Option<super::browser::Form>);

/// Where the runner's own pages are served (at the IdP's origin; never requested from it).
const RUNNER_PAGE: &str = "/.fakta-runner/form";

/// A form body's fields.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

impl Steering {
    /// The decision about one paused document request.
    fn decide(&mut self, p: &Paused) -> Decision {
        if let Some((_, html)) = self.serve.take_if(|(u, _)| *u == p.url) {
            return Decision::Fulfill { status: 200, html };
        }
        let is_post = p.method.eq_ignore_ascii_case("POST");
        let form = if is_post {
            p.body.as_deref().map(form_fields)
        } else {
            None
        };
        if self.stop_at.iter().any(|e| same_endpoint(&p.url, e)) {
            self.held = Some((p.url.clone(), form));
            return Decision::Abort;
        }
        let Some(rw) = &self.rewrite else {
            return Decision::Continue;
        };
        if is_post && form.is_none() && p.has_body {
            if rw.endpoints.iter().any(|e| same_endpoint(&p.url, e)) {
                self.trouble = Some(format!(
                    "the POST to {} was not changed: its body is longer than {} bytes",
                    p.url,
                    crate::browser::MAX_BODY_BYTES
                ));
            }
            return Decision::Continue;
        }
        let Some((url, changed)) = rw.apply(&p.url, form.as_deref()) else {
            return Decision::Continue;
        };
        let endpoint = p.url.split(['?', '#']).next().unwrap_or_default();
        self.rewritten = Some(format!(
            "{} {endpoint}",
            if is_post { "POST" } else { "GET" }
        ));
        self.rewrite = None;
        match changed {
            Some(f) => Decision::Change {
                url: (url != p.url).then_some(url),
                body: Some(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(f)
                        .finish()
                        .into_bytes(),
                ),
            },
            // A changed address must be the page's own: sent there by a redirect, as a
            // forged link would send it.
            None => {
                self.redirected.push(p.url.clone());
                Decision::Redirect { location: url }
            }
        }
    }
}

/// An auto-submitting page posting `fields` to `action` (escaped for HTML).
fn autosubmit(action: &str, fields: &[(String, String)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><body onload=\"document.forms[0].submit()\">\
<form method=\"post\" action=\"{}\">{inputs}</form></body></html>",
        esc(action)
    )
}

impl ChromiumTab {
    /// A tab in a clean context of its own, carrying the trial's cookie to the IdP.
    pub async fn open(
        chromium: &Chromium,
        idp_base: &str,
        trial: &str,
        target: &Target,
    ) -> Result<ChromiumTab, String> {
        let page = chromium.page().await.map_err(|e| e.to_string())?;
        page.set_cookie(crate::idp::TRIAL_COOKIE, trial, idp_base)
            .await
            .map_err(|e| e.to_string())?;
        Ok(ChromiumTab {
            page,
            idp_base: idp_base.trim_end_matches('/').to_owned(),
            decided: target.session.logged_in_js.clone(),
            handed: 0,
            steering: Arc::default(),
            intercepting: false,
        })
    }

    fn steering(&self) -> std::sync::MutexGuard<'_, Steering> {
        self.steering.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the next navigations the record's `rewrite` (taken) and `stop_at`, turning the
    /// tab's interceptor on when there is something to do.
    async fn steer(&mut self, record: &mut Browser) -> Result<(), BrowserError> {
        let rewrite = record.rewrite.take();
        let needed = rewrite.is_some() || !record.stop_at.is_empty();
        {
            let mut s = self.steering();
            if rewrite.is_some() {
                s.rewrite = rewrite;
            }
            s.stop_at = record.stop_at.clone();
            s.held = None;
        }
        self.start_intercepting(needed).await
    }

    async fn start_intercepting(&mut self, needed: bool) -> Result<(), BrowserError> {
        if needed && !self.intercepting {
            let steering = Arc::clone(&self.steering);
            self.page
                .intercept(Box::new(move |p| {
                    steering.lock().unwrap_or_else(|e| e.into_inner()).decide(p)
                }))
                .await?;
            self.intercepting = true;
        }
        Ok(())
    }

    /// Appends what the tab did since the last call to `record`, the trial's record of this
    /// browser, as the HTTP emulation keeps it: the document requests (which transcripts and
    /// the delivery evidence read), the SAML messages on the way, the last SAMLResponse posted
    /// (a replay's), the change a rewrite made and the endpoint a navigation stopped before.
    pub fn hand_over(&mut self, record: &mut Browser) {
        let runner_page = format!("{}{RUNNER_PAGE}", self.idp_base);
        let hops: Vec<crate::browser::Hop> = {
            let all = self.page.hops();
            let new = all[self.handed.min(all.len())..].to_vec();
            self.handed = all.len();
            new
        };
        let mut redirected = std::mem::take(&mut self.steering().redirected);
        for h in hops.iter().filter(|h| h.url != runner_page) {
            if let Some(i) = redirected
                .iter()
                .position(|u| *u == h.url && h.status == Some(302))
            {
                redirected.remove(i);
                continue;
            }
            let post = h.method == "POST";
            let fields = h
                .body
                .as_deref()
                .filter(|_| post)
                .map(|b| form_fields(b.as_bytes()))
                .unwrap_or_default();
            if post {
                for (k, v) in &fields {
                    record.note_field(k, v);
                }
                if fields.iter().any(|(k, _)| k == "SAMLResponse") {
                    record.last_saml_post = Some((h.url.clone(), fields.clone()));
                }
            } else {
                record.note_url(&h.url);
            }
            record.hops.push(Hop {
                method: if post { "POST" } else { "GET" },
                url: h.url.clone(),
                status: h.status.unwrap_or(0),
                posted: fields.into_iter().map(|(k, _)| k).collect(),
                set_cookies: h
                    .headers
                    .iter()
                    .filter(|(k, _)| k == "set-cookie")
                    .flat_map(|(_, v)| v.lines().map(str::to_owned).collect::<Vec<_>>())
                    .chain(h.set_cookies.iter().cloned())
                    .filter_map(|c| c.split(';').next().map(|c| c.trim().to_owned()))
                    .collect(),
            });
        }
        let mut s = self.steering();
        // Not seen yet: for the next hand-over.
        s.redirected.extend(redirected);
        if let Some(r) = s.rewritten.take() {
            record.rewritten = Some(r);
        }
        if let Some(t) = s.trouble.take() {
            tracing::warn!("{t}");
        }
    }

    /// The request the last navigation stopped before, if it did.
    fn held(&self) -> Option<Held> {
        self.steering().held.clone()
    }

    fn on_login_page(&self, url: &str) -> bool {
        url.starts_with(&format!("{}/login/login.htm", self.idp_base))
    }

    async fn go(&mut self, url: &str, login: &str) -> Result<Page, BrowserError> {
        match self.page.goto(url).await {
            // The interceptor stopped the navigation before an endpoint: the page stays.
            Err(BrowserError::Navigation { .. }) if self.held().is_some() => {
                self.page.settle().await?
            }
            other => other?,
        }
        self.after_start(login).await
    }

    /// Submits `fields` to `action` from a page at the IdP's origin (as the IdP's own
    /// auto-submitting page would: same site for the browser's cookie rules), the page served
    /// by the tab's interceptor without reaching the IdP; then goes on as [`ChromiumTab::go`].
    async fn go_form(
        &mut self,
        action: &str,
        fields: &[(String, String)],
        login: &str,
    ) -> Result<Page, BrowserError> {
        let page = format!("{}{RUNNER_PAGE}", self.idp_base);
        self.steering().serve = Some((page.clone(), autosubmit(action, fields)));
        self.start_intercepting(true).await?;
        self.go(&page, login).await
    }

    /// After the first request of a navigation: fakta's login page answered, the page's
    /// decision waited for; the page it ended on.
    async fn after_start(&mut self, login: &str) -> Result<Page, BrowserError> {
        let login_page = serde_json::to_string(&format!("{}/login/login.htm", self.idp_base))
            .unwrap_or_default();
        for _ in 0..MAX_LOGIN_PAGES {
            let at_login = match &self.decided {
                // A page's script may take its time to leave for the IdP (a single-page app
                // reads discovery first): wait for the login page (loaded: its buttons are
                // there) or the page's decision.
                Some(expr) => {
                    self.page
                        .wait_for(&format!(
                            "location.href.startsWith({login_page}) \
                             ? (document.readyState === 'complete' ? 'login' : null) : {}",
                            decision(expr)
                        ))
                        .await?
                        == "login"
                }
                None => {
                    let now = self.page.url().await?;
                    self.on_login_page(&now)
                }
            };
            if !at_login || self.held().is_some() {
                break;
            }
            let button = format!(
                "#pick-user button[name=username][value={}]",
                serde_json::to_string(login).unwrap_or_default()
            );
            if self.page.has(&button).await? {
                self.page.click(&button).await?;
            } else {
                self.page.click("#type-user input[name=username]").await?;
                self.page.type_text(login).await?;
                self.page.press(Key::Enter).await?;
            }
        }
        // Stopped before an endpoint, the page never got to decide anything.
        if self.held().is_none() {
            self.wait_decided().await?;
        }
        self.current().await
    }

    /// With `logged_in_when.js`: waits until the page decided (a single-page app may still be
    /// exchanging its code when the document has loaded). The answer, if there is a script.
    async fn wait_decided(&mut self) -> Result<Option<bool>, BrowserError> {
        let Some(expr) = self.decided.clone() else {
            return Ok(None);
        };
        let v = self.page.wait_for(&decision(&expr)).await?;
        Ok(Some(v == "true"))
    }

    /// The page now, as the HTTP browser's [`Page`]: its URL, the status of its document, its
    /// markup (or, for a JSON document, the JSON).
    async fn current(&mut self) -> Result<Page, BrowserError> {
        let url = self.page.url().await?;
        let body = self
            .page
            .eval(
                "document.contentType.includes('json') ? document.body.innerText \
                 : document.documentElement.outerHTML",
            )
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned();
        let last = self.page.hops().iter().rev().find(|h| h.status.is_some());
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in last.map(|h| h.headers.as_slice()).unwrap_or_default() {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                headers.append(k, v);
            }
        }
        Ok(Page {
            url,
            status: last.and_then(|h| h.status).unwrap_or(0),
            headers,
            body,
        })
    }

    /// The probe: the page opened, settled and decided, then each `js` reader evaluated.
    async fn read_probe(&mut self, target: &Target) -> Result<Observed, BrowserError> {
        self.page.goto(target.session.probe.as_str()).await?;
        let decided = self.wait_decided().await?;
        let page = self.current().await?;
        let mut js = Vec::new();
        for reader in target.session.read.values() {
            if let Reader::Js(expr) = reader {
                let v = self.page.eval(expr).await.unwrap_or(Value::Null);
                js.push((expr.clone(), v));
            }
        }
        Ok(Observed {
            logged_in: page.status == target.session.logged_in_status && decided.unwrap_or(true),
            status: page.status,
            headers: page.headers,
            body: page.body,
            js,
        })
    }
}

impl Transport for ChromiumTab {
    fn navigate<'a>(&'a mut self, url: &'a str, login: &'a str) -> Pending<'a, Page> {
        Box::pin(async move {
            self.go(url, login)
                .await
                .map_err(|e| format!("in Chromium: {e}"))
        })
    }

    fn probe<'a>(&'a mut self, target: &'a Target) -> Pending<'a, Observed> {
        Box::pin(async move {
            self.read_probe(target)
                .await
                .map_err(|e| format!("the session probe failed in Chromium: {e}"))
        })
    }
}

/// One of a trial's browsers as its steps use it: its record (the HTTP emulation, whose hops,
/// SAML messages, rewrite and stop are what transcripts and verdicts read) and, in Chromium
/// mode, its tab, which does the browsing and hands what it did over to the record. Steps do
/// not care which one browses.
#[derive(Debug)]
pub struct Driver<'x> {
    pub record: &'x mut Browser,
    pub tab: Option<&'x mut ChromiumTab>,
}

impl Driver<'_> {
    /// As [`Browser::navigate`]: on until the page needs nothing more, stopping before an
    /// endpoint of the record's `stop_at` (noted in its `stopped`), making its `rewrite` once.
    pub async fn navigate(&mut self, url: &str, login: &str) -> Result<Page, String> {
        match self.tab.as_deref_mut() {
            None => self
                .record
                .navigate(url, login)
                .await
                .map_err(|e| e.to_string()),
            Some(tab) => {
                let went = async {
                    tab.steer(self.record).await?;
                    tab.go(url, login).await
                }
                .await;
                tab.hand_over(self.record);
                if let Some((stopped, _)) = tab.held() {
                    self.record.stopped = Some(stopped);
                }
                went.map_err(|e| format!("in Chromium: {e}"))
            }
        }
    }

    /// As [`Browser::navigate_until`]: stops before requesting one of `stop`.
    pub async fn navigate_until(
        &mut self,
        url: &str,
        login: &str,
        stop: &[url::Url],
    ) -> Result<Navigation, String> {
        let Some(tab) = self.tab.as_deref_mut() else {
            return self
                .record
                .navigate_until(url, login, stop)
                .await
                .map_err(|e| e.to_string());
        };
        let saved = std::mem::replace(&mut self.record.stop_at, stop.to_vec());
        let went = async {
            tab.steer(self.record).await?;
            tab.go(url, login).await
        }
        .await;
        self.record.stop_at = saved;
        tab.hand_over(self.record);
        let page = went.map_err(|e| format!("in Chromium: {e}"))?;
        Ok(match tab.held() {
            Some((url, form)) => Navigation::Stopped {
                url,
                form,
                last: Some(page),
            },
            None => Navigation::Arrived(page),
        })
    }

    /// As [`Browser::navigate_form`]: `fields` posted to `action` by an auto-submitting page,
    /// then on.
    pub async fn navigate_form(
        &mut self,
        action: &str,
        fields: Vec<(String, String)>,
        login: &str,
    ) -> Result<Page, String> {
        match self.tab.as_deref_mut() {
            None => self
                .record
                .navigate_form(action, fields, login)
                .await
                .map_err(|e| e.to_string()),
            Some(tab) => {
                let went = async {
                    tab.steer(self.record).await?;
                    tab.go_form(action, &fields, login).await
                }
                .await;
                tab.hand_over(self.record);
                went.map_err(|e| format!("in Chromium: {e}"))
            }
        }
    }

    /// The session probe, read in this browser.
    pub async fn probe(&mut self, target: &Target) -> Result<Observed, String> {
        match self.tab.as_deref_mut() {
            None => super::exec::probe(self.record, target).await,
            Some(tab) => {
                let seen = Transport::probe(tab, target).await;
                tab.hand_over(self.record);
                seen
            }
        }
    }

    /// The value of the cookie `name` this browser would send to `url`.
    pub async fn cookie(&mut self, url: &str, name: &str) -> Option<String> {
        match self.tab.as_deref_mut() {
            None => self.record.cookie(url, name),
            Some(tab) => tab
                .page
                .cookies(url)
                .await
                .ok()?
                .into_iter()
                .find_map(|(k, v)| (k == name).then_some(v)),
        }
    }

    /// The number of hops in the record so far.
    pub fn hops_so_far(&self) -> usize {
        self.record.hops.len()
    }
}

/// How long Chromium may take to start for a run.
pub const LAUNCH_LIMIT: Duration = Duration::from_secs(60);

/// How many trials run at once in Chromium unless `--test-threads` says: a Chromium trial
/// spends most of its time waiting on the browser's processes (a page loading, a renderer
/// starting), so one trial per core leaves the cores idle while it waits.
pub const CHROMIUM_TEST_THREADS: usize = 6;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::runner::plan;

    fn trials(yaml: &str, attacks: bool) -> Vec<TrialSpec> {
        let (conn, _) = crate::config::load_str(yaml, "t.yaml", std::path::Path::new("."))
            .unwrap_or_else(|d| panic!("{d}"));
        plan::plan("p", Arc::new(conn), attacks)
    }

    /// What each mode says of each trial: the reason, or "runs".
    fn verdicts(specs: &[TrialSpec], engine: Engine) -> BTreeMap<String, String> {
        specs
            .iter()
            .map(|s| {
                let why = not_runnable(s, engine).unwrap_or_else(|| "runs".into());
                (s.name.trim_start_matches("p::").to_owned(), why)
            })
            .collect()
    }

    #[test]
    fn chromium_runs_every_trial_http_runs() {
        for yaml in [
            include_str!("../../scenarios/qovery-oidc.yaml"),
            include_str!("../../scenarios/qovery-saml.yaml"),
        ] {
            let specs = trials(yaml, true);
            assert!(specs.len() > 50);
            assert_eq!(
                verdicts(&specs, Engine::Http),
                verdicts(&specs, Engine::Chromium)
            );
            assert!(
                verdicts(&specs, Engine::Chromium)
                    .values()
                    .all(|v| v == "runs")
            );
        }
    }

    fn paused(method: &str, url: &str, body: Option<&str>) -> Paused {
        Paused {
            method: method.into(),
            url: url.into(),
            body: body.map(|b| b.as_bytes().to_vec()),
            has_body: body.is_some(),
        }
    }

    fn endpoint(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn a_rewrite_changes_the_first_matching_request_once() {
        let mut s = Steering {
            rewrite: Some(Rewrite {
                endpoints: vec![endpoint("http://sp.test/cb")],
                set: vec![
                    ("state".into(), Some("other".into())),
                    ("code".into(), None),
                ],
            }),
            ..Steering::default()
        };
        // Another endpoint: untouched, the rewrite kept.
        assert_eq!(
            s.decide(&paused("GET", "http://idp.test/authorize?state=a", None)),
            Decision::Continue
        );
        // The page is sent to the changed address, as a forged link would send it.
        assert_eq!(
            s.decide(&paused("GET", "http://sp.test/cb?state=a&code=c", None)),
            Decision::Redirect {
                location: "http://sp.test/cb?state=other".into()
            }
        );
        assert_eq!(s.redirected, ["http://sp.test/cb?state=a&code=c"]);
        assert_eq!(s.rewritten.as_deref(), Some("GET http://sp.test/cb"));
        // Once only.
        assert_eq!(
            s.decide(&paused("GET", "http://sp.test/cb?state=a&code=c", None)),
            Decision::Continue
        );
    }

    #[test]
    fn a_rewrite_of_a_form_post_changes_its_body() {
        let mut s = Steering {
            rewrite: Some(Rewrite {
                endpoints: vec![endpoint("http://sp.test/acs")],
                set: vec![("RelayState".into(), Some("https://evil.test/x?a=1".into()))],
            }),
            ..Steering::default()
        };
        let d = s.decide(&paused(
            "POST",
            "http://sp.test/acs",
            Some("SAMLResponse=PHg%2B&RelayState=%2Fhome"),
        ));
        assert_eq!(
            d,
            Decision::Change {
                url: None,
                body: Some(
                    b"SAMLResponse=PHg%2B&RelayState=https%3A%2F%2Fevil.test%2Fx%3Fa%3D1".to_vec()
                )
            }
        );
        assert_eq!(s.rewritten.as_deref(), Some("POST http://sp.test/acs"));
    }

    #[test]
    fn a_post_whose_body_was_not_read_is_never_rewritten_as_a_get() {
        let mut s = Steering {
            rewrite: Some(Rewrite {
                endpoints: vec![endpoint("http://sp.test/acs")],
                set: vec![("RelayState".into(), Some("x".into()))],
            }),
            ..Steering::default()
        };
        let mut p = paused("POST", "http://sp.test/acs", None);
        p.has_body = true;
        assert_eq!(s.decide(&p), Decision::Continue);
        assert!(s.rewrite.is_some() && s.rewritten.is_none());
        assert!(s.trouble.as_deref().unwrap().contains("longer than"));
    }

    #[test]
    fn a_stop_holds_the_request_and_its_form_without_sending_it() {
        let mut s = Steering {
            stop_at: vec![endpoint("http://sp.test/cb")],
            ..Steering::default()
        };
        assert_eq!(
            s.decide(&paused(
                "POST",
                "http://sp.test/cb",
                Some("code=c1&state=s1")
            )),
            Decision::Abort
        );
        assert_eq!(
            s.held,
            Some((
                "http://sp.test/cb".into(),
                Some(vec![
                    ("code".into(), "c1".into()),
                    ("state".into(), "s1".into())
                ])
            ))
        );
    }

    #[test]
    fn the_runner_page_is_served_once_and_escaped() {
        let page = "http://idp.test/.fakta-runner/form".to_owned();
        let html = autosubmit(
            "http://sp.test/slo?a=1&b=\"2\"",
            &[("SAMLRequest".into(), "<x a=\"1\">&".into())],
        );
        assert_eq!(
            html,
            "<!doctype html><html><body onload=\"document.forms[0].submit()\"><form method=\"post\" \
action=\"http://sp.test/slo?a=1&amp;b=&quot;2&quot;\"><input type=\"hidden\" name=\"SAMLRequest\" \
value=\"&lt;x a=&quot;1&quot;&gt;&amp;\"></form></body></html>"
        );
        let mut s = Steering {
            serve: Some((page.clone(), html.clone())),
            ..Steering::default()
        };
        assert_eq!(
            s.decide(&paused("GET", &page, None)),
            Decision::Fulfill { status: 200, html }
        );
        assert_eq!(s.decide(&paused("GET", &page, None)), Decision::Continue);
    }

    #[test]
    fn a_file_read_with_js_needs_a_browser() {
        let yaml = include_str!("../../tests/spa/spa.yaml");
        let specs = trials(yaml, false);
        assert!(!specs.is_empty());
        for (name, why) in verdicts(&specs, Engine::Http) {
            assert_eq!(
                why,
                "needs JavaScript: target.session reads the session with `js`, which only a \
real browser runs (fakta test --browser chromium)",
                "{name}"
            );
        }
        assert!(
            verdicts(&specs, Engine::Chromium)
                .values()
                .all(|v| v == "runs")
        );
    }

    #[test]
    fn o25_runs_only_in_chromium_and_only_for_a_file_naming_its_silent_sign_in_page() {
        let plain = include_str!("../../scenarios/qovery-oidc.yaml");
        let refresh = "  refresh_url: http://127.0.0.1:7100/refresh";
        assert!(plain.contains(refresh));
        let silent = plain.replacen(
            refresh,
            &format!("{refresh}\n  silent_login_url: http://127.0.0.1:7100/silent-login\n  #"),
            1,
        );
        let o25 = |specs: &[TrialSpec]| -> Vec<(String, Option<String>)> {
            specs
                .iter()
                .filter(|s| s.name.starts_with("p::O25_"))
                .map(|s| (s.name.clone(), s.ignored.clone()))
                .collect()
        };
        // Without the page: planned, ignored with the reason.
        let specs = trials(plain, true);
        let planned = o25(&specs);
        assert_eq!(planned.len(), 2, "{planned:?}");
        for (name, ignored) in &planned {
            assert!(
                ignored
                    .as_deref()
                    .is_some_and(|w| w.contains("target.silent_login_url")),
                "{name}: {ignored:?}"
            );
        }
        // With it: Chromium runs both, the HTTP emulation says why it cannot.
        let specs = trials(&silent, true);
        assert!(o25(&specs).iter().all(|(_, ignored)| ignored.is_none()));
        for engine in [Engine::Http, Engine::Chromium] {
            let v = verdicts(&specs, engine);
            for name in [
                "O25_post_message_from_the_idp_origin_accepted",
                "O25_post_message_from_another_origin_refused",
            ] {
                let why = v.get(name).unwrap_or_else(|| panic!("no trial {name}"));
                match engine {
                    Engine::Chromium => assert_eq!(why, "runs", "{name}"),
                    Engine::Http => assert!(why.starts_with("needs a real browser"), "{why}"),
                }
            }
            // The other attacks run in both modes.
            assert_eq!(v["O1_iss_of_another_idp_refused"], "runs", "{engine:?}");
        }
    }
}
