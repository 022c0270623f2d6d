//! How a trial's browser reaches the SP and the IdP: [`Transport`], with two implementations.
//! The HTTP emulation ([`Browser`]: reqwest, forms read with scraper, no script) runs every
//! trial; headless Chromium ([`ChromiumTab`], `fakta test --browser chromium`) runs the pages'
//! own JavaScript, so single-page apps that log in in the page can be tested, and for now runs
//! the honest logins and the role matrix. [`not_runnable`] says which trials a mode cannot run,
//! and why: those are listed `ignored` with the reason, never failed.
//!
//! A Chromium trial gets a fresh browser context (no cookies, no storage) with the IdP's
//! `fakta_trial` cookie set in it; fakta's login page is driven by clicking the user's button
//! (or typing the login), forms are submitted by the pages themselves, and the document
//! requests Chromium makes are copied into the trial's hop record, so transcripts and the
//! "delivered to the registered URL" evidence read the same in both modes.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;

use super::browser::{Browser, Hop, Page};
use super::exec::Observed;
use super::plan::TrialSpec;
use crate::browser::{BrowserError, Chromium, Key};
use crate::config::{Reader, Step, Target};

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
        Engine::Chromium => chromium_blocker(spec).map(|what| {
            format!("not runnable in browser mode yet: {what} (run it without --browser)")
        }),
    }
}

/// What in `spec` the Chromium mode does not do yet.
fn chromium_blocker(spec: &TrialSpec) -> Option<&'static str> {
    // O25 changes only the page the IdP serves, which any browser loads as it is.
    if spec.saml_fault.is_some() || spec.oidc_fault.is_some_and(|f| !f.in_post_message()) {
        return Some("the IdP forges this trial's documents");
    }
    if spec.binding.is_some() {
        return Some("the runner changes a request in this trial's login");
    }
    for step in &spec.steps {
        let blocker = match step {
            Step::Login { browser, user, .. } if browser != "main" || user.is_some() => {
                "a second browser"
            }
            Step::Login { .. } | Step::SetGroups { .. } => continue,
            Step::Expect(e) if e.idp_session.is_some() => "the IdP session of the browser",
            Step::Expect(e) if e.browser.as_deref().is_some_and(|b| b != "main") => {
                "a second browser"
            }
            Step::Expect(_) => continue,
            Step::Replay => "a replayed Response",
            Step::Logout { .. } => "a logout",
            Step::Revoke { .. } => "a revocation",
        };
        return Some(blocker);
    }
    None
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
}

impl ChromiumTab {
    /// A tab in a fresh context, carrying the trial's cookie to the IdP.
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
        })
    }

    /// Appends the document requests made since the last call to `record` (the trial's hops,
    /// which transcripts and the delivery evidence read).
    pub fn hand_over(&mut self, record: &mut Vec<Hop>) {
        let hops = self.page.hops();
        for h in &hops[self.handed.min(hops.len())..] {
            record.push(Hop {
                method: if h.method == "POST" { "POST" } else { "GET" },
                url: h.url.clone(),
                status: h.status.unwrap_or(0),
                posted: Vec::new(),
                set_cookies: h
                    .headers
                    .iter()
                    .filter(|(k, _)| k == "set-cookie")
                    .flat_map(|(_, v)| v.lines().map(str::to_owned).collect::<Vec<_>>())
                    .filter_map(|c| c.split(';').next().map(|c| c.trim().to_owned()))
                    .collect(),
            });
        }
        self.handed = hops.len();
    }

    fn on_login_page(&self, url: &str) -> bool {
        url.starts_with(&format!("{}/login/login.htm", self.idp_base))
    }

    async fn go(&mut self, url: &str, login: &str) -> Result<Page, BrowserError> {
        self.page.goto(url).await?;
        let login_page = serde_json::to_string(&format!("{}/login/login.htm", self.idp_base))
            .unwrap_or_default();
        for _ in 0..MAX_LOGIN_PAGES {
            let at_login = match &self.decided {
                // A page's script may take its time to leave for the IdP (a single-page app
                // reads discovery first): wait for the login page or the page's decision.
                Some(expr) => {
                    self.page
                        .wait_for(&format!(
                            "location.href.startsWith({login_page}) ? 'login' : {}",
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
            if !at_login {
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
        self.wait_decided().await?;
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

/// How long Chromium may take to start for a run.
pub const LAUNCH_LIMIT: Duration = Duration::from_secs(60);

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
    fn chromium_runs_the_honest_logins_and_roles_and_says_why_not_the_rest() {
        let specs = trials(include_str!("../../scenarios/qovery-oidc.yaml"), true);
        assert!(verdicts(&specs, Engine::Http).values().all(|v| v == "runs"));
        let v = verdicts(&specs, Engine::Chromium);
        let why = |prefix: &str| {
            v.iter()
                .find(|(n, _)| n.starts_with(prefix))
                .map(|(_, w)| w.as_str())
                .unwrap_or_else(|| panic!("no trial {prefix}"))
        };
        for runs in ["L0_", "R1_", "R4_", "R5_", "R7_", "R8_"] {
            assert_eq!(why(runs), "runs", "{runs}");
        }
        let not_yet = |what: &str| {
            format!("not runnable in browser mode yet: {what} (run it without --browser)")
        };
        assert_eq!(why("O1_"), not_yet("the IdP forges this trial's documents"));
        assert_eq!(
            why("O15_"),
            not_yet("the runner changes a request in this trial's login")
        );
        assert_eq!(why("T1_"), not_yet("a revocation"));
        assert_eq!(why("G4_"), not_yet("a logout"));
        // Every trial either runs or says why not: none is dropped.
        assert_eq!(v.len(), specs.len());
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
            // The other attacks are as they were.
            assert_eq!(
                v["O1_iss_of_another_idp_refused"] == "runs",
                engine == Engine::Http
            );
        }
    }
}
