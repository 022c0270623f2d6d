//! Okta's own browser SDK, `@okta/okta-auth-js` 8.0.1 (its published bundle, unmodified), in an
//! SPA (tests/spa-okta/app.js) judged by `fakta test --browser chromium`: the SDK signs in with
//! `signInWithRedirect` (code flow, PKCE) and `handleLoginRedirect`, over HTTPS with fakta's
//! local CA and no testing flags; the SPA's API verifies the access token and applies the role
//! rules; the runner's honest logins and role matrix pass. Then, in a page of this test's own,
//! the same SPA after a login: `session.exists()` and the silent renew `token.getWithoutPrompt()`
//! (okta_post_message in a hidden iframe) work from it.
//!
//! O25 (`--attacks`, browser mode): after the login the SPA signs in again silently at
//! `target.silent_login_url`; the honest answer (posted by the IdP's page) signs it in, the one
//! posted by a frame of another origin is ignored by okta-auth-js; the page's deliberately
//! flawed variant (`?flaw=post-message-any-origin`: a hand-written listener without the origin
//! check) takes it, and O25 alone fails, as sp-accepted.
//!
//! Chromium, node's packages (target/interop-node) or a free port missing is a failure, not a
//! skip: run `scripts/setup-deps`.

mod common;
#[path = "common/browser.rs"]
mod kit;
#[path = "common/spa.rs"]
mod spa;
#[path = "common/spa_okta.rs"]
mod spa_okta;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

use common::trial_verdicts as verdicts;

const TRIALS: [&str; 9] = [
    "okta-spa::L0_honest_login",
    "okta-spa::R1_admin_from_Qovery_Admins",
    "okta-spa::R1_devops_from_Qovery_DevOps",
    "okta-spa::R2_no_groups_attribute",
    "okta-spa::R2_no_mapping",
    "okta-spa::R4_precedence",
    "okta-spa::R5_group_removed_then_login_again",
    "okta-spa::R7_missing_email_refused",
    "okta-spa::R8_missing_name_refused",
];

/// A runtime, a certs folder with the local CA (trusted by this process), the SPA served over
/// HTTPS for an IdP at a free port (not started), and its connection file `okta-spa.yaml`.
struct Setup {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    idp: String,
    spa: Option<spa_okta::Served>,
}

impl Setup {
    fn new() -> Setup {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let idp = format!("https://localhost:{}", common::free_port());
        let spa = rt.block_on(async {
            let (l, base) = spa_okta::listen(&certs).await;
            spa_okta::serve(l, base, &certs, &idp)
        });
        std::fs::write(
            dir.path().join("okta-spa.yaml"),
            spa_okta::spa_file(&idp, &spa.base),
        )
        .unwrap();
        Setup {
            rt,
            dir,
            idp,
            spa: Some(spa),
        }
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("okta-spa.yaml")
    }

    fn certs(&self) -> std::path::PathBuf {
        self.dir.path().join("certs")
    }

    fn spa(&self) -> &str {
        &self.spa.as_ref().unwrap().base
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // Inside the runtime: the server task ends when its stop signal goes.
        let _in = self.rt.enter();
        self.spa.take();
    }
}

#[test]
fn the_okta_auth_js_spa_passes_the_honest_logins_and_the_role_matrix_in_chromium() {
    let s = Setup::new();
    let (code, out, err) = common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(s.certs())
            .arg("test")
            .arg(s.file())
            .args(["--browser", "chromium"])
            .env_remove("FAKTA_LOG"),
        Duration::from_secs(240),
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let got = verdicts(&out);
    let mut names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, TRIALS, "{out}");
    assert!(got.iter().all(|(_, v)| v == "ok"), "{out}");
}

/// The failure kind of each failed trial, read from its section (`---- name ----` then
/// `kind: ...`).
fn kinds(stdout: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = stdout.lines();
    while let Some(l) = lines.next() {
        if let Some(name) = l
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" ----"))
        {
            let kind = lines
                .next()
                .and_then(|k| k.strip_prefix("kind: "))
                .unwrap_or("(no kind line)");
            out.push((name.to_owned(), kind.to_owned()));
        }
    }
    out
}

/// `fakta test FILE O25 --browser chromium --attacks` on the setup's file, its silent sign-in
/// page given `query`.
fn run_o25(s: &Setup, query: &str) -> common::Ran {
    let yaml = std::fs::read_to_string(s.file())
        .unwrap()
        .replace("/silent-login\n", &format!("/silent-login{query}\n"));
    assert!(yaml.contains(&format!("/silent-login{query}\n")), "{yaml}");
    std::fs::write(s.file(), yaml).unwrap();
    common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(s.certs())
            .arg("test")
            .arg(s.file())
            .args(["O25", "--browser", "chromium", "--attacks"])
            .env_remove("FAKTA_LOG"),
        Duration::from_secs(240),
    )
}

const O25: [&str; 2] = [
    "okta-spa::O25_post_message_from_another_origin_refused",
    "okta-spa::O25_post_message_from_the_idp_origin_accepted",
];

#[test]
fn o25_the_sdk_takes_the_idps_post_message_and_ignores_another_origins() {
    let s = Setup::new();
    let (code, out, err) = run_o25(&s, "");
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let got = verdicts(&out);
    let mut names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, O25, "{out}");
    assert!(got.iter().all(|(_, v)| v == "ok"), "{out}");
}

#[test]
fn o25_catches_a_listener_that_does_not_check_the_origin() {
    let s = Setup::new();
    let (code, out, err) = run_o25(&s, "?flaw=post-message-any-origin");
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let mut got = verdicts(&out);
    got.sort();
    assert_eq!(
        got,
        [
            (O25[0].to_owned(), "FAILED".to_owned()),
            (O25[1].to_owned(), "ok".to_owned()),
        ],
        "{out}"
    );
    assert_eq!(
        kinds(&out),
        [(O25[0].to_owned(), "sp-accepted".to_owned())],
        "{out}"
    );
    assert!(out.contains("without checking its origin"), "{out}");
}

/// Kills `fakta serve` when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn after_the_login_the_sdk_sees_the_idp_session_and_renews_silently() {
    let s = Setup::new();
    let mut server = Server(
        Command::new(BIN)
            .arg("--certs")
            .arg(s.certs())
            .arg("serve")
            .arg(s.file())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let banner = common::wait_for_line(
        &mut server.0,
        "fakta IdP listening",
        Duration::from_secs(20),
    );
    assert!(banner.contains("https://localhost"), "{banner}");
    let (spa, idp) = (s.spa().to_owned(), s.idp.clone());
    s.rt.block_on(async move {
        // After `listen` trusted the local CA: Chromium trusts it too, and nothing else.
        let browser = kit::chromium().await;
        let mut page = browser.page().await.unwrap();
        page.goto(&format!("{spa}/login")).await.unwrap();
        let login_page = serde_json::to_string(&format!("{idp}/login/login.htm")).unwrap();
        page.wait_for(&format!("location.href.startsWith({login_page})"))
            .await
            .unwrap();
        page.settle().await.unwrap();
        page.click("button[name=username][value='alice@acme.test']")
            .await
            .unwrap();
        page.wait_for("window.session !== undefined").await.unwrap();
        let error = page.eval("window.sessionError || null").await.unwrap();
        assert!(error.is_null(), "the SPA failed: {error}");
        let session = page.eval("window.session").await.unwrap();
        assert_eq!(session["email"], "alice@acme.test", "{session}");
        assert_eq!(session["role"], "admin", "{session}");
        let shown = page
            .eval("[document.querySelector('#email').textContent, document.querySelector('#role').textContent]")
            .await
            .unwrap();
        assert_eq!(shown, json!(["alice@acme.test", "admin"]));
        assert_eq!(page.url().await.unwrap(), format!("{spa}/"));
        kit::shoot(&page, "okta-spa-alice").await;
        // The SDK's own redirect: the code flow with an S256 challenge, answered in the query.
        let authorize = page
            .hops()
            .iter()
            .find(|h| h.url.contains("/oauth2/default/v1/authorize"))
            .map(|h| h.url.clone())
            .expect("an authorize hop");
        assert!(authorize.starts_with(&idp), "{authorize}");
        assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");
        assert!(
            authorize.contains(&format!("client_id={}", spa_okta::CLIENT_ID)),
            "{authorize}"
        );
        // The IdP session cookie reaches the SDK's requests and its hidden iframe.
        let renew = page.eval("window.silentRenew()").await.unwrap();
        assert_eq!(
            renew,
            json!({
                "exists": true,
                "ok": true,
                "tokens": ["accessToken", "idToken"],
                "sub": "00u1alice",
            }),
            "{renew}"
        );
    });
}
