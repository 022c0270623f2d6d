//! Running one trial: a fresh browser, the scenario's IdP-side changes (private to the trial),
//! then each step and its expectation. A trial run is a struct with one method per step kind,
//! each returning a typed [`Failure`]; a login's verdict is decided from evidence, not from the
//! probe alone: the IdP's record of what it issued to this trial, the browser's hops (was it
//! delivered to the registered ACS / redirect_uri?), and whose identity the SP's session shows.

use rand::Rng;
use serde_json::Value;

use super::binding::{BindingAttack, cookies_set_by};
use super::browser::{Browser, Navigation, Page, Rewrite};
use super::plan::TrialSpec;
use super::transcript;
use super::transport::{ChromiumTab, Driver};
use super::verdict::{Failure, FailureKind, Observation, Passed};
use crate::browser::Chromium;
use crate::config::{
    ExpectedValue, LoginFrom, LoginOutcome, Reader, SessionExpectation, SessionState, Step, Target,
    User,
};
use crate::idp::{IdpState, Issued, IssuedKind};

/// What the probe said about the session.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
    pub logged_in: bool,
    /// What each `js` reader's expression gave in the page (Chromium only; empty otherwise).
    pub js: Vec<(String, Value)>,
}

/// The honest login of a pack, run once and shared by every trial whose pass rests on a
/// refusal: when it fails, such a refusal proves nothing ("cannot judge").
pub type Baseline = tokio::sync::OnceCell<Result<(), String>>;

/// The session readers that name the user, in the order they are compared.
pub const IDENTITY_READERS: &[&str] = &["email", "subject"];

/// Runs a trial against the IdP `idp` (in this process) and the SP the target names.
pub async fn run(spec: &TrialSpec, idp: &IdpState, baseline: &Baseline) -> Result<Passed, Failure> {
    run_in(spec, idp, baseline, None).await
}

/// As [`run`], in `chromium` when given (the trial's main browser is a tab of it).
pub async fn run_in(
    spec: &TrialSpec,
    idp: &IdpState,
    baseline: &Baseline,
    chromium: Option<&Chromium>,
) -> Result<Passed, Failure> {
    let result = run_alone_in(spec, idp, chromium).await;
    // A refusal (or a trial that could not deliver its forgery) is judged against the honest
    // login: when that fails too, nothing here means anything.
    let judged_by_refusal = spec.rests_on_a_refusal()
        && match &result {
            Ok(p) => p.not_run.is_none(),
            Err(f) => f.kind == FailureKind::Setup,
        };
    if judged_by_refusal {
        let honest = baseline
            .get_or_init(|| async { honest_login(spec, idp, chromium).await })
            .await;
        if let Err(why) = honest {
            return Err(Failure::new(
                FailureKind::CannotJudge,
                format!(
                    "trial {}\n  cannot judge: the honest login fails, so a refusal here shows nothing\n  {}",
                    spec.name,
                    why.replace('\n', "\n  ")
                ),
            ));
        }
    }
    result
}

/// The honest login of the pack (the first user, no fault): accepted, through the IdP, with the
/// identity the IdP asserted.
async fn honest_login(
    spec: &TrialSpec,
    idp: &IdpState,
    chromium: Option<&Chromium>,
) -> Result<(), String> {
    let twin = spec.honest_twin();
    match run_alone_in(&twin, idp, chromium).await {
        Ok(_) => Ok(()),
        Err(f) => Err(f.render()),
    }
}

/// Runs a trial without its baseline check.
pub async fn run_alone(spec: &TrialSpec, idp: &IdpState) -> Result<Passed, Failure> {
    run_alone_in(spec, idp, None).await
}

/// As [`run_alone`], in `chromium` when given.
pub async fn run_alone_in(
    spec: &TrialSpec,
    idp: &IdpState,
    chromium: Option<&Chromium>,
) -> Result<Passed, Failure> {
    let trial: String = {
        let b: [u8; 12] = rand::rng().random();
        b.iter().map(|x| format!("{x:02x}")).collect()
    };
    idp.begin_trial(&trial);
    if spec.isolate {
        idp.isolate_trial(&trial);
    }
    if spec.emit != crate::config::Emit::default() {
        idp.set_trial_emit(&trial, &spec.user, spec.emit.clone());
    }
    if let Some(g) = &spec.groups {
        idp.set_trial_groups(&trial, &spec.user, g.clone());
    }
    if let Some(f) = spec.saml_fault {
        idp.set_trial_saml_fault(&trial, f);
    }
    if let Some(f) = spec.oidc_fault {
        idp.set_trial_oidc_fault(&trial, f);
    }
    if let Some(change) = spec.post_logout_state {
        idp.set_trial_post_logout_state(&trial, change);
    }
    let mut result = match TrialRun::new(spec, idp, &trial) {
        Ok(mut run) => match run.open_tab(chromium).await {
            Ok(()) => run.steps().await.map(|()| Passed {
                observed: std::mem::take(&mut run.observed),
                ..std::mem::take(&mut run.passed)
            }),
            Err(f) => Err(f),
        },
        Err(f) => Err(f),
    };
    // S24: a refusal is not enough; the SP must not have fetched the external entity either.
    let fetched = idp.xxe_fetches(&trial);
    if fetched > 0 {
        let note = format!(
            "the SP fetched the external entity of the forged DOCTYPE ({fetched} request(s) to {}): \
it resolves external entities (XXE), whatever it did with the Response",
            idp.xxe_url(&trial)
        );
        result = Err(match result {
            Ok(_) => Failure::new(
                FailureKind::SpAccepted,
                format!("trial {}\n  {note}", spec.name),
            ),
            Err(f) => Failure::new(
                FailureKind::SpAccepted,
                format!("{}\n  {note}", f.transcript),
            ),
        });
    }
    idp.end_trial(&trial);
    result
}

/// A trial being run: its browsers by name (each with the user signed in there), the last page,
/// what the transcript should say besides the step, and what qualifies a pass.
struct TrialRun<'a> {
    spec: &'a TrialSpec,
    idp: &'a IdpState,
    trial: &'a str,
    target: &'a Target,
    user: User,
    browsers: Vec<(String, Browser, User)>,
    last_page: Option<Page>,
    notes: Vec<String>,
    passed: Passed,
    last_revocation: Option<super::revoke::Sent>,
    /// The index of the step being run.
    step: usize,
    /// Whether a step so far sent something forged (a faulty revocation or logout).
    forged_sent: bool,
    /// The values read from the session so far (the report's role matrix).
    observed: Vec<Observation>,
    /// In Chromium mode, the run's Chromium and a tab per browser (by name): the tab browses
    /// and hands what it did over to that browser's record.
    chromium: Option<&'a Chromium>,
    tabs: Vec<(String, ChromiumTab)>,
}

/// What one login navigation produced.
struct LoginSeen {
    page: Page,
    seen: Observed,
    /// What the IdP issued during this navigation.
    issued: Vec<Issued>,
    /// The hop that delivered the Response or code to the registered URL, if any.
    delivered: Option<String>,
    /// The index of the login's first hop in its browser's hops.
    hops_from: usize,
}

impl<'a> TrialRun<'a> {
    fn new(spec: &'a TrialSpec, idp: &'a IdpState, trial: &'a str) -> Result<Self, Failure> {
        let setup = |what: String| {
            Failure::new(FailureKind::Setup, format!("trial {}\n  {what}", spec.name))
        };
        let target = spec.conn.target.as_ref().ok_or_else(|| {
            setup("the connection file has no `target`: nothing to test against".into())
        })?;
        let user = idp
            .user_view(Some(trial), &spec.user)
            .ok_or_else(|| setup(format!("no user `{}` in the directory", spec.user)))?;
        let main = Browser::new(spec.conn.idp.base(), trial).map_err(|e| setup(e.to_string()))?;
        Ok(TrialRun {
            spec,
            idp,
            trial,
            target,
            browsers: vec![("main".to_owned(), main, user.clone())],
            user,
            last_page: None,
            notes: Vec::new(),
            passed: Passed::default(),
            last_revocation: None,
            step: 0,
            forged_sent: false,
            observed: Vec::new(),
            chromium: None,
            tabs: Vec::new(),
        })
    }

    /// Opens the main browser's Chromium tab, when the run has a Chromium.
    async fn open_tab(&mut self, chromium: Option<&'a Chromium>) -> Result<(), Failure> {
        self.chromium = chromium;
        self.ensure_tab("main").await
    }

    /// In Chromium mode, gives browser `name` its tab (a clean context of its own) if it has
    /// none yet.
    async fn ensure_tab(&mut self, name: &str) -> Result<(), Failure> {
        let Some(chromium) = self.chromium else {
            return Ok(());
        };
        if self.tabs.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        let tab = ChromiumTab::open(chromium, self.spec.conn.idp.base(), self.trial, self.target)
            .await
            .map_err(|e| self.fail(FailureKind::Setup, e))?;
        self.tabs.push((name.to_owned(), tab));
        Ok(())
    }

    /// Browser `name` as the steps drive it (its tab in Chromium mode), if it exists.
    fn driver(&mut self, name: &str) -> Option<Driver<'_>> {
        let record = self
            .browsers
            .iter_mut()
            .find(|(n, _, _)| n == name)
            .map(|(_, b, _)| b)?;
        let tab = self
            .tabs
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t);
        Some(Driver { record, tab })
    }

    /// The failure of the current step, with its transcript.
    fn fail(&self, kind: FailureKind, what: impl Into<String>) -> Failure {
        self.fail_with(kind, what, self.last_page.as_ref())
    }

    fn fail_with(
        &self,
        kind: FailureKind,
        what: impl Into<String>,
        last: Option<&Page>,
    ) -> Failure {
        let mut what = what.into();
        for a in self.idp.altered(self.trial) {
            what.push_str("\nforged: ");
            what.push_str(&a);
        }
        for n in &self.notes {
            what.push('\n');
            what.push_str(n);
        }
        let documents = self.idp.documents(self.trial);
        let evidence = transcript::Evidence {
            browser: &self.browsers[0].1,
            last,
            documents: &documents,
        };
        let step = &self.spec.steps[self.step.min(self.spec.steps.len().saturating_sub(1))];
        Failure::new(
            kind,
            transcript::render(self.spec, &self.user, self.step, step, &what, evidence),
        )
        .with_observed(self.observed.clone())
    }

    fn browser(&mut self, name: &str) -> Option<&mut (String, Browser, User)> {
        self.browsers.iter_mut().find(|(n, _, _)| n == name)
    }

    async fn steps(&mut self) -> Result<(), Failure> {
        let spec = self.spec;
        for (i, step) in spec.steps.iter().enumerate() {
            self.step = i;
            match step {
                Step::Login {
                    expect,
                    from,
                    browser,
                    user,
                } => self.login(*expect, *from, browser, user.as_deref()).await?,
                Step::Expect(e) => self.expect(e).await?,
                Step::SetGroups { groups } => {
                    self.idp
                        .set_trial_groups(self.trial, &spec.user, groups.clone())
                }
                Step::Replay => self.replay().await?,
                Step::Logout {
                    from,
                    fault,
                    binding,
                } => self.logout(*from, *fault, *binding).await?,
                Step::Revoke {
                    expect_status,
                    fault,
                    format,
                } => self.revoke(*expect_status, *fault, *format).await?,
            }
        }
        Ok(())
    }

    /// Goes through a login in browser `name` (made on first use, for `other` or the trial's
    /// user) and gathers the evidence; transport failures are never a verdict on the SP.
    async fn navigate_login(
        &mut self,
        from: LoginFrom,
        name: &str,
        other: Option<&str>,
    ) -> Result<LoginSeen, Failure> {
        if self.browser(name).is_none() {
            let who = match other {
                Some(u) => self.idp.user_view(Some(self.trial), u).ok_or_else(|| {
                    self.fail(
                        FailureKind::Setup,
                        format!("no user `{u}` in the directory"),
                    )
                })?,
                None => self.user.clone(),
            };
            let b = Browser::new(self.spec.conn.idp.base(), self.trial)
                .map_err(|e| self.fail(FailureKind::Setup, e.to_string()))?;
            self.browsers.push((name.to_owned(), b, who));
            self.ensure_tab(name).await?;
        }
        let conn = &self.spec.conn;
        let start = match from {
            LoginFrom::Sp => self.target.login_url.to_string(),
            // The app's tile: SAML's unsolicited Response, or an OIDC app's launch URL, which
            // sends the browser to its initiate login URI (OIDC Core §4).
            LoginFrom::Idp => match conn.app(&self.spec.app) {
                Some(app) if app.saml().is_some() => {
                    self.idp.url(&self.idp.idp_initiated_path(app))
                }
                Some(app) if app.oidc().is_some_and(|o| o.initiate_login_uri.is_some()) => {
                    self.idp.url(&IdpState::launch_path(app))
                }
                _ => {
                    return Err(self.fail(
                        FailureKind::Setup,
                        "an IdP-initiated login needs a SAML app, or an OIDC app with an initiate_login_uri",
                    ));
                }
            },
        };
        let before = self.idp.issued(self.trial).len();
        let target = self.target;
        let (login, hops_before) = {
            let Some((_, b, who)) = self.browser(name) else {
                return Err(self.fail(FailureKind::Setup, format!("no browser `{name}`")));
            };
            (who.login.clone(), b.hops.len())
        };
        let navigated = match self.driver(name) {
            Some(mut d) => login_through(&mut d, &start, &login, target).await,
            None => Err(format!("no browser `{name}`")),
        };
        let (seen, page) = navigated.map_err(|e| {
            self.fail(
                FailureKind::Transport,
                format!("the login could not complete: {e}"),
            )
        })?;
        let seen = seen.map_err(|e| self.fail_with(FailureKind::Transport, e, Some(&page)))?;
        let issued: Vec<Issued> = self
            .idp
            .issued(self.trial)
            .into_iter()
            .skip(before)
            .collect();
        let app = &self.spec.app;
        let delivered = self
            .browsers
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, b, _)| delivery_hop(conn, app, &b.hops[hops_before..]));
        Ok(LoginSeen {
            page,
            seen,
            issued,
            delivered,
            hops_from: hops_before,
        })
    }

    async fn login(
        &mut self,
        expect: LoginOutcome,
        from: LoginFrom,
        name: &str,
        other: Option<&str>,
    ) -> Result<(), Failure> {
        // The trial's session-binding attack is made in its main browser's login.
        let attack = self.spec.binding.filter(|_| name == "main");
        let tampers = match attack {
            Some(a) => self.prepare_binding(a).await?,
            None => false,
        };
        let got = self.navigate_login(from, name, other).await?;
        // A login carrying the trial's fault is itself the forged step.
        // (A refresh fault's login is honest: its refresh is the forged step.)
        // (So is O25's: its silent sign-in after the login is.)
        self.forged_sent |= self.spec.saml_fault.is_some()
            || self
                .spec
                .oidc_fault
                .is_some_and(|f| !f.on_refresh() && !f.in_post_message());
        let status = got.page.status;
        self.last_page = Some(got.page.clone());
        if tampers {
            let rewritten = self.browser(name).and_then(|(_, b, _)| b.rewritten.clone());
            match rewritten {
                Some(req) => {
                    self.forged_sent = true;
                    self.notes.push(format!("changed in the request {req}"));
                }
                None => {
                    return Err(self.fail(
                        FailureKind::Setup,
                        "the login never reached the registered redirect_uri, so its callback could not be changed: nothing was delivered to the SP to refuse",
                    ));
                }
            }
        }
        if let Some(to) = attack.and_then(BindingAttack::off_site) {
            return self.judge_off_site(&got, &to);
        }
        match expect {
            LoginOutcome::Accepted if attack == Some(BindingAttack::SessionFixation) => {
                self.judge_accepted(&got)?;
                self.fixation(&got).await
            }
            LoginOutcome::Accepted if self.spec.oidc_fault.is_some_and(|f| f.on_refresh()) => {
                self.judge_accepted(&got)?;
                self.refresh().await
            }
            LoginOutcome::Accepted if self.spec.rotation_check.is_some() => {
                self.judge_accepted(&got)?;
                self.refresh_with_rotation().await
            }
            LoginOutcome::Accepted if self.spec.oidc_fault.is_some_and(|f| f.in_post_message()) => {
                self.judge_accepted(&got)?;
                self.silent_login().await
            }
            LoginOutcome::Accepted => self.judge_accepted(&got),
            LoginOutcome::Rejected => self.judge_refused(&got),
            LoginOutcome::Either if status >= 500 => Err(self.fail(
                FailureKind::SpCrashed,
                format!("the SP failed with {status} instead of accepting or refusing"),
            )),
            LoginOutcome::Either => Ok(()),
        }
    }

    /// Readies a session-binding attack before the main browser's login: the other browser's
    /// login held at its callback (never delivered), and the change to make to this browser's
    /// callback. Whether a callback is to be changed.
    async fn prepare_binding(&mut self, attack: BindingAttack) -> Result<bool, Failure> {
        self.notes
            .push(format!("session binding: {}", attack.describe()));
        let endpoints: Vec<url::Url> = self
            .spec
            .conn
            .app(&self.spec.app)
            .and_then(|a| a.oidc())
            .map(|o| o.redirect_uris.clone())
            .unwrap_or_default();
        let mut held = Vec::new();
        if attack.needs_another_login() {
            let login = self.user.login.clone();
            let other = Browser::new(self.spec.conn.idp.base(), self.trial)
                .map_err(|e| self.fail(FailureKind::Setup, e.to_string()))?;
            self.browsers
                .push(("other".to_owned(), other, self.user.clone()));
            self.ensure_tab("other").await?;
            let start = self.target.login_url.to_string();
            let nav = match self.driver("other") {
                Some(mut d) => d.navigate_until(&start, &login, &endpoints).await,
                None => Err("no browser `other`".to_owned()),
            };
            match nav {
                Ok(Navigation::Stopped { url, form, .. }) => {
                    held = match form {
                        Some(f) => f,
                        None => url::Url::parse(&url)
                            .map(|u| u.query_pairs().into_owned().collect())
                            .unwrap_or_default(),
                    };
                }
                Ok(Navigation::Arrived(page)) => {
                    return Err(self.fail_with(
                        FailureKind::Setup,
                        "the second browser's login never reached the registered redirect_uri: no state or code to take from it",
                        Some(&page),
                    ));
                }
                Err(e) => {
                    return Err(self.fail(
                        FailureKind::Transport,
                        format!("the second browser's login could not complete: {e}"),
                    ));
                }
            }
        }
        let rewrite = match attack.off_site() {
            Some(to) => self.off_site_rewrite(to)?,
            None => Rewrite {
                endpoints,
                set: attack
                    .callback_changes(&held)
                    .map_err(|e| self.fail(FailureKind::Setup, e))?,
            },
        };
        if rewrite.set.is_empty() {
            return Ok(false);
        }
        if let Some((_, b, _)) = self.browser("main") {
            b.rewrite = Some(rewrite);
            // The browser never goes to the other site: it stops before it, at the SP's
            // redirect, which is the evidence.
            if let Some(to) = attack.off_site() {
                let to = to.trim_start_matches("https:");
                b.stop_at = ["https:", "http:"]
                    .iter()
                    .filter_map(|s| url::Url::parse(&format!("{s}{to}")).ok())
                    .collect();
            }
        }
        Ok(true)
    }

    /// S25 / O21: where the off-site address goes in, as a rewrite: the RelayState posted to the
    /// ACS (SAML), or the login URL's `target.return_param` (OIDC).
    fn off_site_rewrite(&self, to: String) -> Result<Rewrite, Failure> {
        let app = self.spec.conn.app(&self.spec.app);
        if let Some(saml) = app.and_then(|a| a.saml()) {
            return Ok(Rewrite {
                endpoints: vec![saml.acs_url.clone()],
                set: vec![("RelayState".to_owned(), Some(to))],
            });
        }
        let param = self.target.return_param.clone().ok_or_else(|| {
            self.fail(
                FailureKind::Setup,
                "the file names no target.return_param to point at another site",
            )
        })?;
        Ok(Rewrite {
            endpoints: vec![self.target.login_url.clone()],
            set: vec![(param, Some(to))],
        })
    }

    /// O20/S26: after the accepted login, a fresh browser holding only the cookies the SP set
    /// before it (their pre-login values: those of the hops before the browser left the SP
    /// for the IdP) must have no session. Cookie names alone prove nothing: a CSRF or state
    /// cookie set before the login is harmless, so only a session there fails.
    async fn fixation(&mut self, got: &LoginSeen) -> Result<(), Failure> {
        let idp = url::Url::parse(self.spec.conn.idp.base()).ok();
        let at_idp = |u: &str| {
            url::Url::parse(u).is_ok_and(|u| {
                idp.as_ref().is_some_and(|i| {
                    u.host_str() == i.host_str()
                        && u.port_or_known_default() == i.port_or_known_default()
                })
            })
        };
        let sp = self.target.login_url.clone();
        let cookies = {
            let hops = &self.browsers[0].1.hops[got.hops_from.min(self.browsers[0].1.hops.len())..];
            let before: Vec<_> = hops
                .iter()
                .take_while(|h| !at_idp(&h.url))
                .cloned()
                .collect();
            cookies_set_by(&sp, &before)
        };
        if cookies.is_empty() {
            self.passed
                .notes
                .push("the SP set no cookie before the login: nothing to fixate".into());
            return Ok(());
        }
        let names: Vec<&str> = cookies
            .iter()
            .filter_map(|c| c.split_once('=').map(|(k, _)| k))
            .collect();
        let names = names.join(", ");
        let mut fresh = Browser::new(self.spec.conn.idp.base(), self.trial)
            .map_err(|e| self.fail(FailureKind::Setup, e.to_string()))?;
        for c in &cookies {
            fresh.add_cookie(sp.as_str(), c);
        }
        self.forged_sent = true;
        let seen = probe(&mut fresh, self.target)
            .await
            .map_err(|e| self.fail(FailureKind::Transport, e))?;
        self.notes.push(format!(
            "a fresh browser holding only the pre-login cookies ({names}) probed the session: {}",
            seen.status
        ));
        if seen.logged_in {
            return Err(self.fail(
                FailureKind::SpAccepted,
                format!(
                    "expected no session for the cookies the SP set before the login ({names}), but the probe shows one: the SP kept a pre-login session id once the user signed in (session fixation; it must issue a new one at login)"
                ),
            ));
        }
        Ok(())
    }

    /// S25 / O21: the login may be accepted or refused, but the SP must not send the browser
    /// to the other site it was asked to go to afterwards (an open redirect).
    fn judge_off_site(&mut self, got: &LoginSeen, to: &str) -> Result<(), Failure> {
        let status = got.page.status;
        if status >= 500 {
            return Err(self.fail(
                FailureKind::SpCrashed,
                format!("the SP failed with {status} instead of accepting or refusing"),
            ));
        }
        if got.delivered.is_none() {
            return Err(self.fail(
                FailureKind::Setup,
                "the IdP's Response or code never reached the registered ACS URL / redirect_uri: \
the SP never got to choose where to go after the login",
            ));
        }
        let stopped = self.browsers[0].1.stopped.clone();
        if let Some(off) = stopped {
            let how = if got.seen.logged_in {
                "signed the user in, then"
            } else {
                "refused the login, but"
            };
            return Err(self.fail(
                FailureKind::SpAccepted,
                format!(
                    "expected the SP to stay on its own site after the login (asked to go on to \
{to}); it {how} redirected the browser to {off}: an open redirect (the runner stopped before \
following it)"
                ),
            ));
        }
        if !got.seen.logged_in {
            self.passed
                .notes
                .push("refused the login that asked to go on to another site".into());
        }
        Ok(())
    }

    /// O25: after the honest login (the browser now has an IdP session), the browser visits
    /// `target.silent_login_url`, where the SPA drops its own tokens and signs in again
    /// silently with `response_mode=okta_post_message`. The IdP's page posts the answer (the
    /// honest code and state) to the redirect URI's origin: itself for the honest twin, which
    /// must end signed in as the user; from a sandboxed frame of an opaque origin for the
    /// fault, which must end with no session (the HTML Living Standard's postMessage security
    /// advice: a receiver checks `event.origin`; okta-auth-js takes only the issuer's origin).
    async fn silent_login(&mut self) -> Result<(), Failure> {
        use crate::oidc::faults::Fault;
        let url = self.target.silent_login_url.clone().ok_or_else(|| {
            self.fail(
                FailureKind::Setup,
                "the trial signs in silently, but target.silent_login_url is not set",
            )
        })?;
        let foreign = self.spec.oidc_fault == Some(Fault::PostMessageFromAnotherOrigin);
        let altered_before = self.idp.altered(self.trial).len();
        // The page's own script signs in: the trial's Chromium tab (O25 runs only there).
        let login = self.browsers[0].2.login.clone();
        self.visit_sp_page(&url, &login, "the silent sign-in")
            .await?;
        if self.idp.altered(self.trial).len() == altered_before {
            self.passed.not_run = Some(
                "the SPA did not sign in silently with okta_post_message at target.silent_login_url (the IdP answered no okta_post_message request of this browser): nothing to judge"
                    .into(),
            );
            return Ok(());
        }
        self.forged_sent |= foreign;
        let target = self.target;
        let seen = match self.driver("main") {
            Some(mut d) => d.probe(target).await,
            None => Err("the trial has no main browser".to_owned()),
        };
        let seen = seen.map_err(|e| self.fail(FailureKind::Transport, e))?;
        if foreign {
            if seen.logged_in {
                return Err(self.fail(
                    FailureKind::SpAccepted,
                    "expected the SPA to ignore the okta_post_message answer posted by a frame of another origin (event.origin \"null\", not the issuer's), and so to have no session after its silent sign-in; the probe shows a session: the SPA took a message without checking its origin",
                ));
            }
            self.passed
                .notes
                .push("ignored the answer posted from another origin: no session".into());
            return Ok(());
        }
        if !seen.logged_in {
            return Err(self.fail(
                FailureKind::SpRefused,
                format!(
                    "expected the SPA to sign in silently with the answer the IdP's page posted (okta_post_message, from the issuer's origin, as Okta posts it); the session probe answered {}",
                    seen.status
                ),
            ));
        }
        let email = self.user.email.clone();
        if let Some(reader) = self.target.session.read.get("email") {
            let got = read_value(reader, &seen).map(|v| as_text(&v));
            if got.as_deref() != Some(email.as_str()) {
                return Err(self.fail(
                    FailureKind::WrongOutcome,
                    format!(
                        "after the silent sign-in the session shows email {}, not the user's {email}",
                        got.unwrap_or_else(|| "(none)".into())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// O18/O19: after the honest login, the browser visits `target.refresh_url`; the IdP
    /// forges the refreshed id_token (another sub, another iss, and the forged email). The SP
    /// may refuse it or end the session; a session showing the forged identity took it.
    async fn refresh(&mut self) -> Result<(), Failure> {
        use crate::oidc::faults::{FORGED_EMAIL, REFRESH_SUB};
        let url = self.target.refresh_url.clone().ok_or_else(|| {
            self.fail(
                FailureKind::Setup,
                "the trial refreshes, but target.refresh_url is not set",
            )
        })?;
        let altered_before = self.idp.altered(self.trial).len();
        self.forged_sent = true;
        let login = self.user.login.clone();
        self.visit_sp_page(&url, &login, "the refresh").await?;
        if self.idp.altered(self.trial).len() == altered_before {
            self.passed.not_run = Some(
                "the SP did not refresh its tokens at target.refresh_url (the IdP issued no \
refreshed id_token): nothing to judge"
                    .into(),
            );
            return Ok(());
        }
        let seen = self.probe_in("main").await?;
        if !seen.logged_in {
            return Ok(());
        }
        let readers: Vec<(&str, &Reader)> = IDENTITY_READERS
            .iter()
            .filter_map(|k| Some((*k, self.target.session.read.get(*k)?)))
            .collect();
        if readers.is_empty() {
            return Err(self.fail(
                FailureKind::SpAccepted,
                "the SP kept a session after refreshing with a forged id_token, and this file \
reads no identity from the session (add target.session.read.email or .subject): fakta cannot \
tell whether it took the forged one",
            ));
        }
        for (key, reader) in readers {
            let got = read_value(reader, &seen).map(|v| as_text(&v));
            if let Some(v) = got.filter(|v| v == FORGED_EMAIL || v == REFRESH_SUB) {
                return Err(self.fail(
                    FailureKind::SpAccepted,
                    format!(
                        "after the refresh the session shows {key} = {v}: the SP took the \
refreshed id_token, whose {} is not the login's",
                        if self.spec.oidc_fault
                            == Some(crate::oidc::faults::Fault::RefreshIssDiffers)
                        {
                            "iss"
                        } else {
                            "sub"
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// O26 after the honest login: the browser visits `target.refresh_url` once (the honest
    /// twin) or twice; the IdP records which refresh token each refresh presented. The first
    /// must be the login's (current) and rotate; the second, when there is one, the token the
    /// first returned: RFC 6749 §6 says the client MUST discard the old refresh token once a
    /// new one is issued. Either way the SP must still have its session afterwards.
    async fn refresh_with_rotation(&mut self) -> Result<(), Failure> {
        use crate::idp::RefreshUse;
        let twice = self.spec.rotation_check == Some(crate::runner::plan::RotationCheck::Twice);
        let url = self.target.refresh_url.clone().ok_or_else(|| {
            self.fail(
                FailureKind::Setup,
                "the trial refreshes, but target.refresh_url is not set",
            )
        })?;
        let mut seen = Vec::new();
        for round in 1..=(if twice { 2 } else { 1 }) {
            let before = self.idp.refreshes(self.trial).len();
            let login = self.user.login.clone();
            self.visit_sp_page(&url, &login, &format!("refresh {round}"))
                .await?;
            let used: Vec<RefreshUse> = self
                .idp
                .refreshes(self.trial)
                .into_iter()
                .skip(before)
                .collect();
            let Some(first) = used.first().copied() else {
                self.passed.not_run = Some(format!(
                    "the SP did not refresh its tokens at target.refresh_url (the IdP's token \
endpoint saw no refresh token at refresh {round}): nothing to judge"
                ));
                return Ok(());
            };
            if used.len() > 1 {
                self.notes.push(format!(
                    "refresh {round}: the SP presented {} refresh tokens",
                    used.len()
                ));
            }
            // Each refresh's uses, in order: an SP that tries the old token first and the new
            // one after still presented the old one.
            seen.extend(used.iter().map(|u| (round, *u)));
            match (round, first) {
                (1, RefreshUse::Current { rotated: true }) => {}
                (1, RefreshUse::Current { rotated: false }) => {
                    return Err(self.fail(
                        FailureKind::Setup,
                        "the IdP did not rotate the refresh token at the first refresh (the app's \
refresh_token.rotation is not rotate): nothing to judge",
                    ));
                }
                (1, other) => {
                    return Err(self.fail(
                        FailureKind::Setup,
                        format!(
                            "the first refresh presented a token already rotated ({other:?}): \
the login's refresh token was replaced before this trial refreshed"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some((_, reused)) = seen.iter().find(|(round, u)| {
            *round == 2 && matches!(u, RefreshUse::RotatedInGrace | RefreshUse::RotatedReused)
        }) {
            let answer = match reused {
                RefreshUse::RotatedReused => {
                    "after the grace period, so the IdP revoked every token of the grant (Okta's \
refresh token reuse detection)"
                }
                _ => "within the grace period, so the IdP answered with the new token again",
            };
            return Err(self.fail(
                FailureKind::WrongOutcome,
                format!(
                    "the second refresh presented the refresh token the first refresh had \
replaced ({answer}): RFC 6749 §6, the client MUST discard the old refresh token and replace it \
with the new one"
                ),
            ));
        }
        let probe = self.probe_in("main").await?;
        if !probe.logged_in {
            return Err(self.fail(
                FailureKind::WrongOutcome,
                format!(
                    "after {} with the rotated refresh token the SP has no session (probe {})",
                    if twice {
                        "two honest refreshes"
                    } else {
                        "an honest refresh"
                    },
                    probe.status
                ),
            ));
        }
        self.passed.notes.push(if twice {
            "the second refresh presented the token the first returned; the session stays".into()
        } else {
            "the refresh presented the login's token, which the IdP rotated; the session stays"
                .into()
        });
        Ok(())
    }

    /// What the IdP asserted in this login (the last Response, code or tokens it issued: the
    /// implicit flow issues tokens and no code), if it issued one.
    fn asserted(got: &LoginSeen) -> Option<&Issued> {
        got.issued.iter().rev().find(|i| {
            matches!(
                i.kind,
                IssuedKind::SamlResponse { .. } | IssuedKind::Code | IssuedKind::Tokens
            )
        })
    }

    /// A login counts as accepted only when it went through the IdP (a Response or code issued
    /// to this browser and delivered to the registered URL), the probe shows a session, and the
    /// session's identity (where the file reads one) is the one the IdP asserted.
    fn judge_accepted(&self, got: &LoginSeen) -> Result<(), Failure> {
        self.judge_accepted_login(got).map_err(|f| {
            // The honest login a fault trial starts with: when it fails, the fault was never
            // tried.
            if !self.forged_sent && self.spec.is_fault_trial() && f.kind.blames_the_sp() {
                Failure::new(
                    FailureKind::CannotJudge,
                    format!(
                        "cannot judge: the honest login this trial starts with fails ({}), so its fault was never tried\n{}",
                        f.kind, f.transcript
                    ),
                )
            } else {
                f
            }
        })
    }

    fn judge_accepted_login(&self, got: &LoginSeen) -> Result<(), Failure> {
        let status = got.page.status;
        if !got.seen.logged_in {
            let kind = if status >= 500 {
                FailureKind::SpCrashed
            } else {
                FailureKind::SpRefused
            };
            let how = match (Self::asserted(got), &got.delivered) {
                (None, _) => {
                    "; the login never reached the IdP (it issued no Response or code: \
check target.login_url)"
                }
                (Some(_), None) => {
                    "; the IdP issued a Response or code, but the browser did not \
deliver it to the registered ACS URL / redirect_uri"
                }
                (Some(_), Some(_)) => "",
            };
            let session = &self.target.session;
            let means = match &session.logged_in_js {
                Some(js) => format!("{} and `{js}` true in the page", session.logged_in_status),
                None => session.logged_in_status.to_string(),
            };
            return Err(self.fail(
                kind,
                format!(
                    "expected the SP to accept the login; the session probe answered {} (logged in means {means}){how}",
                    got.seen.status
                ),
            ));
        }
        let Some(asserted) = Self::asserted(got) else {
            return Err(self.fail(
                FailureKind::WrongOutcome,
                "the probe reads a session, but the login never went through the IdP (it issued \
no Response or code to this browser): the SP shows a session without having accepted fakta's \
identity. Check target.login_url and target.session.logged_in_when",
            ));
        };
        if got.delivered.is_none() {
            return Err(self.fail(
                FailureKind::WrongOutcome,
                "the probe reads a session, but the IdP's Response or code was never delivered to \
the registered ACS URL / redirect_uri by this browser",
            ));
        }
        // S22 expects its own identity (checked by its expect step); other faults accepted on
        // purpose (O10, O14) carry the honest identity.
        if self.spec.saml_fault.is_some() {
            return Ok(());
        }
        for key in IDENTITY_READERS {
            let Some(reader) = self.target.session.read.get(*key) else {
                continue;
            };
            let want = if *key == "email" {
                &asserted.email
            } else {
                &asserted.subject
            };
            match read_value(reader, &got.seen) {
                None => {
                    return Err(self.fail(
                        FailureKind::WrongOutcome,
                        format!(
                            "the SP has a session, but the probe has no {key} (target.session.read.{key} \
{} found nothing in its answer); expected {want}",
                            describe_reader(reader)
                        ),
                    ));
                }
                Some(v) if as_text(&v) != *want => {
                    return Err(self.fail(
                        FailureKind::WrongOutcome,
                        format!(
                            "expected {key} = {want} (what the IdP asserted)\nobserved {key} = {}",
                            show_value(&v)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A refusal counts only when the forgery was made and delivered and no session resulted;
    /// for wrapping cases and O12, a session carrying the honest, signed identity is "accepted,
    /// not fooled".
    fn judge_refused(&mut self, got: &LoginSeen) -> Result<(), Failure> {
        let spec = self.spec;
        let status = got.page.status;
        let no_nonce_sent = spec.oidc_fault == Some(crate::oidc::faults::Fault::WrongNonce)
            && self
                .idp
                .altered(self.trial)
                .iter()
                .any(|a| a.ends_with(crate::oidc::faults::NO_NONCE_SENT));
        if no_nonce_sent {
            self.passed.not_run = Some(
                "the RP's authorization request carried no nonce, so OpenID Connect Core \
§3.1.3.7 step 11 asks it to check none: nothing to judge"
                    .into(),
            );
            return Ok(());
        }
        if got.seen.logged_in {
            if let Some(why) = self.token_endpoint_signature_left_to_tls() {
                self.passed.not_run = Some(why);
                return Ok(());
            }
            return self.judge_session_after_forgery(got);
        }
        if spec
            .oidc_fault
            .is_some_and(|f| f.in_authorization_response())
        {
            return self.judge_authorization_error(got);
        }
        if spec.oidc_fault.is_some_and(|f| f.at_launch()) {
            return self.judge_unknown_issuer_launch(got);
        }
        let fresh_sp = spec.oidc_fault.is_some_and(|f| f.needs_fresh_sp());
        if !fresh_sp {
            if Self::asserted(got).is_none() {
                return Err(self.fail(
                    FailureKind::Setup,
                    format!(
                        "cannot tell a refusal: the login never reached the IdP, which issued no \
Response or code (last page {status} at {}), so nothing was delivered to the SP to refuse",
                        got.page.url
                    ),
                ));
            }
            if got.delivered.is_none() {
                return Err(self.fail(
                    FailureKind::Setup,
                    "cannot tell a refusal: the IdP issued a Response or code, but the browser did \
not deliver it to the registered ACS URL / redirect_uri",
                ));
            }
            let altered = !self.idp.altered(self.trial).is_empty();
            if spec.saml_fault.is_some() && !altered {
                return Err(self.fail(
                    FailureKind::Setup,
                    "the fault did not apply: the IdP sent the honest Response (a trial whose \
forgery equals the honest document tests nothing)",
                ));
            }
            if let Some(f) = spec.oidc_fault {
                if !altered {
                    let redeemed = self
                        .idp
                        .issued(self.trial)
                        .iter()
                        .any(|i| i.kind == IssuedKind::Tokens);
                    let why = match (f, redeemed) {
                        (crate::oidc::faults::Fault::UserinfoSubDiffers, true) => {
                            "the SP never fetched userinfo, so it could not be fooled by it: nothing to judge"
                        }
                        _ => {
                            "the SP never redeemed the code, so it never saw the forged id_token: its refusal is about something else"
                        }
                    };
                    self.passed.not_run = Some(why.to_owned());
                    return Ok(());
                }
            }
        }
        if status >= 500 {
            self.passed
                .notes
                .push(format!("refused with a server error (HTTP {status})"));
        }
        Ok(())
    }

    /// L0's forged launch: the tile sent the browser to the initiate login URI with an issuer
    /// the RP does not know, and the RP has no session. It counts only when the forged launch
    /// was sent in this trial; an authorization request that reached the IdP after it is a
    /// login started for an unknown issuer (OIDC Core §4: `iss` names the OP the RP is to send
    /// the request to, and this RP trusts another), even if it did not end in a session.
    fn judge_unknown_issuer_launch(&mut self, got: &LoginSeen) -> Result<(), Failure> {
        let status = got.page.status;
        if self.idp.altered(self.trial).is_empty() {
            return Err(self.fail(
                FailureKind::Setup,
                format!(
                    "cannot tell a refusal: the browser never reached the IdP's launch URL, so no forged iss was sent (last page {status} at {})",
                    got.page.url
                ),
            ));
        }
        let started = got.issued.iter().any(|i| i.kind == IssuedKind::Code)
            || self.browsers.first().is_some_and(|(_, b, _)| {
                let idp = self.spec.conn.idp.base();
                b.hops[got.hops_from.min(b.hops.len())..]
                    .iter()
                    .any(|h| h.url.starts_with(idp) && h.url.contains("/v1/authorize"))
            });
        if started {
            return Err(self.fail(
                FailureKind::SpAccepted,
                format!(
                    "the SP started a login although the launch named issuer {}, not the IdP it trusts (last page {status} at {})",
                    crate::oidc::faults::UNKNOWN_ISSUER,
                    got.page.url
                ),
            ));
        }
        self.passed.notes.push(format!(
            "no login started for the unknown issuer: the SP answered {status} at the initiate login URI"
        ));
        Ok(())
    }

    /// O22: the IdP sent an error instead of a code, and the SP has no session. It counts only
    /// when the error was sent to this browser and delivered to the registered redirect_uri; a
    /// server error (5xx) is the SP failing on a response the protocol defines, not handling it.
    fn judge_authorization_error(&mut self, got: &LoginSeen) -> Result<(), Failure> {
        let status = got.page.status;
        let sent = got
            .issued
            .iter()
            .any(|i| i.kind == IssuedKind::AuthorizationError);
        if !sent {
            return Err(self.fail(
                FailureKind::Setup,
                format!(
                    "cannot tell how the SP handles an authorization error: the login never \
reached the IdP's answer (last page {status} at {}), so no error was sent",
                    got.page.url
                ),
            ));
        }
        let Some(hop) = &got.delivered else {
            return Err(self.fail(
                FailureKind::Setup,
                "cannot tell how the SP handles an authorization error: the IdP sent it, but the \
browser did not deliver it to the registered redirect_uri",
            ));
        };
        if status >= 500 {
            return Err(self.fail(
                FailureKind::SpCrashed,
                format!(
                    "the SP failed with {status} on the authorization error instead of showing \
it (delivered by {hop})"
                ),
            ));
        }
        self.passed.notes.push(format!(
            "handled: the SP has no session and answered {status} (the error was delivered by \
{hop})"
        ));
        Ok(())
    }

    /// The SP has a session after a forged login: fooled, unless the case allows keeping the
    /// honest, signed identity and the session shows exactly that.
    /// Visits an SP page that acts for the signed-in browser (target.refresh_url,
    /// target.silent_login_url) in the main browser as `login`, noting its status; `what` names
    /// the visit in the notes and failures. A 5xx is the SP crashing there.
    async fn visit_sp_page(
        &mut self,
        url: &url::Url,
        login: &str,
        what: &str,
    ) -> Result<(), Failure> {
        let page = match self.driver("main") {
            Some(mut d) => d.navigate(url.as_str(), login).await,
            None => Err("the trial has no main browser".to_owned()),
        };
        let page = page.map_err(|e| {
            self.fail(
                FailureKind::Transport,
                format!("{what} could not complete: {e}"),
            )
        })?;
        self.notes
            .push(format!("{what}: GET {url} answered {}", page.status));
        let status = page.status;
        self.last_page = Some(page);
        if status >= 500 {
            return Err(self.fail(
                FailureKind::SpCrashed,
                format!("the SP failed with {status} at {what}"),
            ));
        }
        Ok(())
    }

    /// Why an SP that signed in with a forged id_token signature (O6-O9) is not judged, if so:
    /// the forgery went only into the id_token it took straight from the token endpoint, where
    /// OpenID Connect Core §3.1.3.7 step 6 lets it rely on TLS instead of the signature, and the
    /// file does not say it checks that signature (`target.verifies_id_token_signature`). Every
    /// other id_token's signature the RP MUST check (§3.2.2.11), so a front-channel forgery is
    /// judged.
    fn token_endpoint_signature_left_to_tls(&self) -> Option<String> {
        use crate::oidc::faults::IdTokenChannel;
        let fault = self.spec.oidc_fault.filter(|f| f.in_signature())?;
        if self.target.verifies_id_token_signature {
            return None;
        }
        let sources = self.idp.forged_id_tokens(self.trial);
        if sources.is_empty() || sources.iter().any(|s| *s != IdTokenChannel::TokenEndpoint) {
            return None;
        }
        let over = if self.spec.conn.idp.base().starts_with("https:") {
            "over TLS, as here"
        } else {
            "over TLS (here the IdP runs on plain http, which no production token endpoint does: \
`fakta --https` runs it over TLS)"
        };
        Some(format!(
            "not judged: the SP signed in with an id_token whose signature does not verify ({} {}), \
which it took straight from the token endpoint. OpenID Connect Core §3.1.3.7 step 6 lets an RP rely \
on the token endpoint's TLS {over} instead of that signature, so this is allowed; it shows the SP \
does not check it. Set target.verifies_id_token_signature: true if it is meant to (then this \
fails)",
            fault.case(),
            fault.name()
        ))
    }

    fn judge_session_after_forgery(&mut self, got: &LoginSeen) -> Result<(), Failure> {
        let spec = self.spec;
        let may_keep_honest = spec.saml_fault.is_some_and(|f| f.wrapping())
            || spec.oidc_fault == Some(crate::oidc::faults::Fault::UserinfoSubDiffers);
        let refused_msg = format!(
            "expected the SP to refuse the login, but it started a session (probe {}: {})",
            got.seen.status,
            short(&got.seen.body)
        );
        if !may_keep_honest {
            return Err(self.fail(FailureKind::SpAccepted, refused_msg));
        }
        let readers: Vec<(&str, &Reader)> = IDENTITY_READERS
            .iter()
            .filter_map(|k| Some((*k, self.target.session.read.get(*k)?)))
            .collect();
        let Some(asserted) = Self::asserted(got) else {
            return Err(self.fail(FailureKind::SpAccepted, refused_msg));
        };
        if readers.is_empty() {
            return Err(self.fail(
                FailureKind::SpAccepted,
                format!(
                    "{refused_msg}\nthis file reads no identity from the session (add \
target.session.read.email or .subject), so fakta cannot tell whether the SP kept the signed \
identity (not fooled) or took the forged one"
                ),
            ));
        }
        let mut shown = Vec::new();
        for (key, reader) in readers {
            let want = if key == "email" {
                &asserted.email
            } else {
                &asserted.subject
            };
            let got_value = read_value(reader, &got.seen).map(|v| as_text(&v));
            if got_value.as_deref() != Some(want.as_str()) {
                return Err(self.fail(
                    FailureKind::SpAccepted,
                    format!(
                        "{refused_msg}\nfooled: the session's {key} is {} — not the signed identity {want}",
                        got_value.unwrap_or_else(|| "(nothing)".into())
                    ),
                ));
            }
            shown.push(format!("{key} {want}"));
        }
        self.passed.notes.push(format!(
            "accepted, not fooled: the session shows the signed identity ({})",
            shown.join(", ")
        ));
        Ok(())
    }

    async fn expect(&mut self, e: &SessionExpectation) -> Result<(), Failure> {
        let name = e.browser.clone().unwrap_or_else(|| "main".into());
        let target = self.target;
        let seen = match self.driver(&name) {
            Some(mut d) => d.probe(target).await,
            None => {
                return Err(self.fail(
                    FailureKind::Setup,
                    format!("no browser `{name}` signed in yet"),
                ));
            }
        };
        let seen = seen.map_err(|e| self.fail(FailureKind::Transport, e))?;
        if e.only_if_signed_in && !seen.logged_in {
            self.passed
                .notes
                .push("the SP refused the login (allowed)".to_owned());
            return Ok(());
        }
        if let Some(state) = e.session {
            let want = state == SessionState::Active;
            if seen.logged_in != want {
                // A session that a forged request ended is the SP accepting the forgery.
                let kind = if want && self.forged_sent {
                    FailureKind::SpAccepted
                } else {
                    FailureKind::WrongOutcome
                };
                return Err(self.fail(
                    kind,
                    format!(
                        "expected the SP session{} {}, observed {} (probe {})",
                        if name == "main" {
                            String::new()
                        } else {
                            format!(" of browser `{name}`")
                        },
                        if want { "active" } else { "ended" },
                        if seen.logged_in { "active" } else { "ended" },
                        seen.status
                    ),
                ));
            }
        }
        if let Some(state) = e.idp_session {
            let want = state == SessionState::Active;
            let base = self.spec.conn.idp.base();
            let sid = match self.driver(&name) {
                Some(mut d) => d.cookie(base, crate::idp::SESSION_COOKIE).await,
                None => None,
            };
            let live = sid.is_some_and(|sid| self.idp.session(&sid).is_some());
            if live != want {
                return Err(self.fail(
                    FailureKind::WrongOutcome,
                    format!(
                        "expected the IdP session {}, observed {}",
                        if want { "active" } else { "ended" },
                        if live { "active" } else { "ended" }
                    ),
                ));
            }
        }
        for (vname, expected) in &e.values {
            let reader = target.session.read.get(vname).ok_or_else(|| {
                self.fail(
                    FailureKind::Setup,
                    format!("target.session.read has no `{vname}`: cannot read it"),
                )
            })?;
            let got = read_value(reader, &seen);
            self.observed.push(Observation {
                name: vname.clone(),
                value: got.as_ref().map(show_value),
            });
            if !matches(expected, &got) {
                return Err(self.fail(
                    FailureKind::WrongOutcome,
                    format!(
                        "expected {vname} = {}\nobserved {vname} = {}",
                        show_expected(expected),
                        got.as_ref()
                            .map(show_value)
                            .unwrap_or_else(|| "(nothing)".into())
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn replay(&mut self) -> Result<(), Failure> {
        let Some((action, fields)) = self.browsers[0].1.last_saml_post.clone() else {
            return Err(self.fail(
                FailureKind::Setup,
                "nothing to replay: no SAMLResponse was posted yet",
            ));
        };
        let mut fresh = Browser::new(self.spec.conn.idp.base(), self.trial)
            .map_err(|e| self.fail(FailureKind::Setup, e.to_string()))?;
        let page = fresh.post_form(&action, &fields).await.map_err(|e| {
            self.fail(
                FailureKind::Transport,
                format!("the replay could not be posted: {e}"),
            )
        })?;
        let seen = probe(&mut fresh, self.target)
            .await
            .map_err(|e| self.fail(FailureKind::Transport, e))?;
        self.notes.push(format!(
            "replayed the SAMLResponse to {action}: the SP answered {}",
            page.status
        ));
        if seen.logged_in {
            return Err(self.fail_with(
                FailureKind::SpAccepted,
                "expected the SP to refuse the replayed Response, but it started a session",
                Some(&page),
            ));
        }
        if page.status >= 500 {
            self.passed.notes.push(format!(
                "refused with a server error (HTTP {})",
                page.status
            ));
        }
        Ok(())
    }

    async fn logout(
        &mut self,
        from: LoginFrom,
        fault: Option<crate::config::LogoutFault>,
        binding: crate::config::SloBinding,
    ) -> Result<(), Failure> {
        match from {
            LoginFrom::Sp => {
                let url = self.target.logout_url.as_ref().ok_or_else(|| {
                    self.fail(
                        FailureKind::Setup,
                        "the step logs out, but target.logout_url is not set",
                    )
                })?;
                let login = self.user.login.clone();
                let hops_before = self.browsers[0].1.hops.len();
                let page = match self.driver("main") {
                    Some(mut d) => d.navigate(url.as_str(), &login).await,
                    None => Err("no main browser".to_owned()),
                };
                let page = page.map_err(|e| {
                    self.fail(FailureKind::Transport, format!("logout failed: {e}"))
                })?;
                self.last_page = Some(page);
                if let Some(change) = self.spec.post_logout_state {
                    self.report_post_logout(change, hops_before).await?;
                }
            }
            LoginFrom::Idp => {
                self.forged_sent |= fault.is_some();
                let (spec, idp, trial) = (self.spec, self.idp, self.trial);
                let who = self.browsers[0].2.clone();
                let done = match self.driver("main") {
                    Some(mut d) => {
                        super::logout::idp_initiated(spec, idp, trial, &who, &mut d, fault, binding)
                            .await
                    }
                    None => Err("no main browser".to_owned()),
                };
                let mut done = done.map_err(|e| self.fail(FailureKind::Transport, e))?;
                self.notes.push(done.description.clone());
                if let Some(page) = done.page.take() {
                    self.last_page = Some(page);
                }
                // An honest logout must complete: the IdP refusing the SP's LogoutResponse is
                // the SP's failure, whatever happened to its session.
                if let (None, Some(super::logout::SloAnswer::Refused { status, reason })) =
                    (fault, &done.slo_answer)
                {
                    return Err(self.fail(
                        FailureKind::WrongOutcome,
                        format!(
                            "the SP answered the IdP's LogoutRequest with a LogoutResponse that the IdP's SLO endpoint refused ({status}): {reason}"
                        ),
                    ));
                }
                let app_is_oidc = self
                    .spec
                    .conn
                    .app(&self.spec.app)
                    .is_some_and(|a| a.oidc().is_some());
                if app_is_oidc {
                    let want = if fault.is_some() { 400 } else { 200 };
                    if done.status != want {
                        return Err(self.fail(
                            status_kind(want, done.status),
                            format!(
                                "expected the back-channel logout endpoint to answer {want}, it answered {}",
                                done.status
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// G3's variants: what the RP did when end_session came back with another state or none,
    /// as a note (RP-Initiated Logout 1.0 puts no MUST on the RP's check of state); not run when
    /// the IdP had no state to change.
    async fn report_post_logout(
        &mut self,
        change: crate::oidc::logout::PostLogoutState,
        hops_before: usize,
    ) -> Result<(), Failure> {
        let changed = self
            .idp
            .altered(self.trial)
            .iter()
            .any(|a| a.starts_with(&format!("G3 {}", change.name())));
        if !changed {
            self.passed.not_run = Some(
                "the RP's logout did not come through the IdP's end_session with a state and a \
post_logout_redirect_uri, so there was no state to change"
                    .to_owned(),
            );
            return Ok(());
        }
        let uris: Vec<url::Url> = self
            .spec
            .conn
            .app(&self.spec.app)
            .and_then(|a| a.oidc())
            .map(|o| o.post_logout_redirect_uris.clone())
            .unwrap_or_default();
        let back = self.browsers[0].1.hops[hops_before..]
            .iter()
            .find(|h| {
                uris.iter()
                    .any(|u| super::browser::same_endpoint(&h.url, u))
            })
            .map(|h| (h.url.clone(), h.status));
        let seen = self.probe_in("main").await?;
        let session = if seen.logged_in {
            "still active"
        } else {
            "ended"
        };
        let note = match back {
            Some((url, status)) => format!(
                "reported, not judged: end_session came back to {url} with {}; the RP answered \
{status} there and its session is {session} (an RP that ends its session before going to the \
IdP shows nothing here of how it checks the state)",
                change.describe()
            ),
            None => format!(
                "reported, not judged: end_session was to come back with {}, but the browser \
never reached a registered post_logout_redirect_uri; the RP's session is {session}",
                change.describe()
            ),
        };
        self.passed.notes.push(note);
        Ok(())
    }

    /// The session probe in browser `name`.
    async fn probe_in(&mut self, name: &str) -> Result<Observed, Failure> {
        let target = self.target;
        let seen = match self.driver(name) {
            Some(mut d) => d.probe(target).await,
            None => Err(format!("no browser `{name}`")),
        };
        seen.map_err(|e| self.fail(FailureKind::Transport, e))
    }

    async fn revoke(
        &mut self,
        expect_status: Option<u16>,
        fault: Option<crate::revocation::Fault>,
        format: Option<crate::config::SubjectFormat>,
    ) -> Result<(), Failure> {
        use crate::revocation::Fault as R;
        self.forged_sent |= fault.is_some() || expect_status.is_some_and(|s| s >= 400);
        let sent = match (fault, &self.last_revocation) {
            (Some(R::ReplayedJti), Some(earlier)) => super::revoke::replay(earlier).await,
            (Some(R::ReplayedJti), None) => {
                Err("a replayed_jti revocation needs an earlier revoke step to replay".into())
            }
            _ => super::revoke::send(self.spec, self.idp, &self.user, fault, format).await,
        }
        .map_err(|e| self.fail(FailureKind::Transport, e))?;
        self.last_revocation = Some(sent.clone());
        self.notes.push(sent.describe());
        let wanted: Vec<u16> = match (expect_status, fault) {
            (Some(want), _) => vec![want],
            (None, Some(f)) => f.accepted_statuses().to_vec(),
            (None, None) => vec![204],
        };
        if !wanted.contains(&sent.status) {
            let want = wanted
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(self.fail(
                status_kind(wanted[0], sent.status),
                format!(
                    "expected the revocation endpoint to answer {want}, it answered {}",
                    sent.status
                ),
            ));
        }
        Ok(())
    }
}

/// The kind of a wrong HTTP status: a success where a refusal was due is the SP accepting; a
/// refusal where a success was due is the SP refusing; 5xx is a crash.
fn status_kind(want: u16, got: u16) -> FailureKind {
    match (want, got) {
        (_, 500..) => FailureKind::SpCrashed,
        (400..=499, 200..=299) => FailureKind::SpAccepted,
        (200..=299, 400..=499) => FailureKind::SpRefused,
        _ => FailureKind::WrongOutcome,
    }
}

/// The hop among `hops` that delivered the IdP's answer to the app's registered URL: a POST to
/// the SAML app's ACS URL, or a request to one of the OIDC client's redirect URIs.
fn delivery_hop(
    conn: &crate::config::Connection,
    app: &str,
    hops: &[super::browser::Hop],
) -> Option<String> {
    use super::browser::same_endpoint;
    let app = conn.app(app)?;
    hops.iter()
        .find(|h| match (app.saml(), app.oidc()) {
            (Some(s), _) => h.method == "POST" && same_endpoint(&h.url, &s.acs_url),
            (_, Some(o)) => o.redirect_uris.iter().any(|r| same_endpoint(&h.url, r)),
            _ => false,
        })
        .map(|h| format!("{} {} -> {}", h.method, h.url, h.status))
}

fn describe_reader(r: &Reader) -> String {
    match r {
        Reader::Json(p) => format!("(json {p})"),
        Reader::Css(s) => format!("(css {s})"),
        Reader::Regex(re) => format!("(regex {})", re.as_str()),
        Reader::Header(h) => format!("(header {h})"),
        Reader::Js(e) => format!("(js {e})"),
    }
}

/// A login in `browser`: the navigation, then the probe; transport errors in words.
async fn login_through(
    browser: &mut Driver<'_>,
    start: &str,
    login: &str,
    target: &Target,
) -> Result<(Result<Observed, String>, Page), String> {
    let page = browser.navigate(start, login).await?;
    Ok((browser.probe(target).await, page))
}

/// The HTTP browser's probe: a GET of the probe URL.
pub async fn probe(browser: &mut Browser, target: &Target) -> Result<Observed, String> {
    let page = browser
        .get(target.session.probe.as_str())
        .await
        .map_err(|e| format!("the session probe failed: {e}"))?;
    Ok(Observed {
        logged_in: page.status == target.session.logged_in_status,
        status: page.status,
        headers: page.headers,
        body: page.body,
        js: Vec::new(),
    })
}

fn short(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}...", one.chars().take(200).collect::<String>())
    } else {
        one
    }
}

/// A value read from the probe by a reader: a JSON value (strings, arrays) or text.
pub fn read_value(reader: &Reader, seen: &Observed) -> Option<Value> {
    match reader {
        Reader::Json(ptr) => serde_json::from_str::<Value>(&seen.body)
            .ok()?
            .pointer(ptr)
            .cloned()
            .filter(|v| !v.is_null()),
        Reader::Css(sel) => {
            let doc = scraper::Html::parse_document(&seen.body);
            let s = scraper::Selector::parse(sel).ok()?;
            let text = doc.select(&s).next()?.text().collect::<String>();
            Some(Value::String(text.trim().to_owned()))
        }
        Reader::Regex(re) => {
            let c = re.captures(&seen.body)?;
            let m = c.get(1).or_else(|| c.get(0))?;
            Some(Value::String(m.as_str().to_owned()))
        }
        Reader::Header(name) => seen
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(|v| Value::String(v.to_owned())),
        Reader::Js(expr) => seen
            .js
            .iter()
            .find(|(e, _)| e == expr)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_null() && *v != Value::Bool(false) && v.as_str() != Some("")),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matches(expected: &ExpectedValue, got: &Option<Value>) -> bool {
    match (expected, got) {
        (ExpectedValue::One(e), Some(v)) => *e == as_text(v),
        (ExpectedValue::List(e), Some(Value::Array(a))) => {
            let mut want: Vec<String> = e.clone();
            let mut have: Vec<String> = a.iter().map(as_text).collect();
            want.sort();
            have.sort();
            want == have
        }
        (ExpectedValue::List(e), None) => e.is_empty(),
        _ => false,
    }
}

fn show_expected(e: &ExpectedValue) -> String {
    match e {
        ExpectedValue::One(s) => s.clone(),
        ExpectedValue::List(v) => format!("[{}]", v.join(", ")),
    }
}

/// A value read from the SP's probe, as a transcript shows it (cut short: the SP chose it).
fn show_value(v: &Value) -> String {
    let text = match v {
        Value::Array(a) => format!("[{}]", a.iter().map(as_text).collect::<Vec<_>>().join(", ")),
        other => as_text(other),
    };
    super::fetch::at_most(&text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> Observed {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-role", "admin".parse().unwrap());
        Observed {
            status: 200,
            body: r#"<html><body><span id="role">devops</span> {"role":"x"}</body></html>"#.into(),
            headers,
            logged_in: true,
            js: vec![
                ("window.session.role".into(), Value::String("devops".into())),
                ("window.nothing".into(), Value::Null),
                ("window.no".into(), Value::Bool(false)),
            ],
        }
    }

    /// A `js` reader reads what its expression gave in the page; null, false and "" are
    /// nothing (the page has no such value), and an expression never run reads nothing.
    #[test]
    fn a_js_reader_reads_what_the_page_gave() {
        let s = seen();
        let js = |e: &str| read_value(&Reader::Js(e.into()), &s);
        assert_eq!(
            js("window.session.role"),
            Some(Value::String("devops".into()))
        );
        assert_eq!(js("window.nothing"), None);
        assert_eq!(js("window.no"), None);
        assert_eq!(js("window.never.run"), None);
    }

    #[test]
    fn every_reader_kind_reads() {
        let s = seen();
        assert_eq!(
            read_value(&Reader::Header("x-role".into()), &s),
            Some(Value::String("admin".into()))
        );
        assert_eq!(
            read_value(&Reader::Css("#role".into()), &s),
            Some(Value::String("devops".into()))
        );
        let re = regex::Regex::new(r#""role":"([a-z]+)""#).unwrap();
        assert_eq!(
            read_value(&Reader::Regex(re), &s),
            Some(Value::String("x".into()))
        );
        let json = Observed {
            body: r#"{"role":"admin","groups":["a","b"]}"#.into(),
            ..seen()
        };
        assert_eq!(
            read_value(&Reader::Json("/role".into()), &json),
            Some(Value::String("admin".into()))
        );
        assert!(matches(
            &ExpectedValue::List(vec!["b".into(), "a".into()]),
            &read_value(&Reader::Json("/groups".into()), &json)
        ));
        assert!(!matches(
            &ExpectedValue::One("viewer".into()),
            &read_value(&Reader::Json("/role".into()), &json)
        ));
        assert_eq!(read_value(&Reader::Json("/missing".into()), &json), None);
    }
}
