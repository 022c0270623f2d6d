//! `fakta test --browser chromium` end to end, through the `fakta` binary: the honest logins and
//! the role matrix in headless Chromium against the single-page app example (tests/spa/, whose
//! session only JavaScript can read) and against the reference SP (`fakta demo`), the trials
//! browser mode cannot run yet listed ignored with the reason, and the HTTP mode's answer to a
//! file that needs JavaScript.

mod common;
#[path = "common/browser.rs"]
mod kit;
#[path = "common/spa.rs"]
mod spa;

use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

fn fakta(args: &[&str], certs: &std::path::Path) -> common::Ran {
    common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(certs)
            .args(args)
            .env_remove("FAKTA_LOG"),
        Duration::from_secs(240),
    )
}

/// The lines `test NAME ... VERDICT` of a run, as (name, verdict).
fn verdicts(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let (name, verdict) = l.strip_prefix("test ")?.split_once(" ... ")?;
            Some((name.trim().to_owned(), verdict.trim().to_owned()))
        })
        .collect()
}

const SPA_TRIALS: [&str; 9] = [
    "spa::L0_honest_login",
    "spa::R1_admin_from_Qovery_Admins",
    "spa::R1_devops_from_Qovery_DevOps",
    "spa::R2_no_groups_attribute",
    "spa::R2_no_mapping",
    "spa::R4_precedence",
    "spa::R5_group_removed_then_login_again",
    "spa::R7_missing_email_refused",
    "spa::R8_missing_name_refused",
];

/// The SPA example served on a free port, its file rewritten for it and an IdP on another
/// free port; `run` gets the file's path.
fn with_the_spa(run: impl FnOnce(&std::path::Path, &std::path::Path)) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let idp = format!("http://127.0.0.1:{}", common::free_port());
    let served = rt.block_on(async {
        let (l, base) = kit::listener().await;
        kit::serve_router(l, base.clone(), spa::router(&idp))
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spa.yaml");
    std::fs::write(&file, spa::spa_file(&idp, &served.base)).unwrap();
    run(&file, &dir.path().join("certs"));
    drop(served);
}

#[test]
fn the_spa_passes_the_honest_logins_and_the_role_matrix_in_chromium() {
    with_the_spa(|file, certs| {
        let (code, out, err) = fakta(
            &["test", file.to_str().unwrap(), "--browser", "chromium"],
            certs,
        );
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        let got = verdicts(&out);
        let mut names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, SPA_TRIALS, "{out}");
        assert!(got.iter().all(|(_, v)| v == "ok"), "{out}");
    });
}

/// Without a browser, the SPA's file cannot be judged: every trial is listed ignored with the
/// reason, and the run says no trial ran (exit 2), never a failure of the SP.
#[test]
fn http_mode_lists_the_spa_trials_as_needing_javascript() {
    with_the_spa(|file, certs| {
        let (code, out, err) = fakta(&["test", file.to_str().unwrap()], certs);
        assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
        let got = verdicts(&out);
        assert_eq!(got.len(), SPA_TRIALS.len(), "{out}");
        for (name, verdict) in &got {
            assert_eq!(
                verdict,
                "ignored (needs JavaScript: target.session reads the session with `js`, which only a real browser runs (fakta test --browser chromium))",
                "{name}"
            );
        }
        assert!(err.contains("no trial ran"), "{err}");
    });
}

/// Against the reference SP (OIDC pack): the honest logins and the role matrix pass in
/// Chromium; the attack, revocation, logout and binding trials are ignored with the reason.
#[test]
fn the_reference_sp_passes_in_chromium_and_the_rest_is_ignored_with_the_reason() {
    let certs = tempfile::tempdir().unwrap();
    let (code, out, err) = fakta(
        &["demo", "--browser", "chromium", "qovery-oidc::"],
        certs.path(),
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let got = verdicts(&out);
    let ran: Vec<&str> = got
        .iter()
        .filter(|(_, v)| v == "ok")
        .map(|(n, _)| n.as_str())
        .collect();
    for l in [
        "L0_honest_login",
        "R1_admin_gets_admin",
        "R4_precedence",
        "R7_missing_email_refused",
    ] {
        assert!(
            ran.contains(&format!("qovery-oidc::{l}").as_str()),
            "{l} did not run:\n{out}"
        );
    }
    for (name, verdict) in &got {
        // O23, O24: the file's own reason comes first (the SP asks for response_type code).
        if verdict == "ok"
            || (name.contains("::O2")
                && verdict.starts_with("ignored (the SP asks for response_type `code`"))
        {
            continue;
        }
        // O25 runs in browser mode, for a file that names its silent sign-in page; the
        // reference SP signs in only by redirect.
        if name.contains("::O25_") {
            assert!(
                verdict.starts_with(
                    "ignored (the app does not sign in with okta_post_message as far as the file says"
                ),
                "{name}: {verdict}"
            );
            continue;
        }
        assert!(
            verdict.starts_with("ignored (not runnable in browser mode yet: ")
                && verdict.ends_with(" (run it without --browser))"),
            "{name}: {verdict}"
        );
    }
    let forged = got
        .iter()
        .find(|(n, _)| n.starts_with("qovery-oidc::O1_"))
        .map(|(_, v)| v.as_str());
    assert_eq!(
        forged,
        Some(
            "ignored (not runnable in browser mode yet: the IdP forges this trial's documents (run it without --browser))"
        )
    );
}

/// Browser mode can fail: against the reference SP with a flaw, the trials that catch it fail
/// in Chromium as they do over HTTP, with the same kind.
#[test]
fn a_flawed_sp_fails_the_trials_that_catch_it_in_chromium() {
    let certs = tempfile::tempdir().unwrap();
    let (code, out, err) = fakta(
        &[
            "demo",
            "--browser",
            "chromium",
            "--flaw",
            "accept-missing-email",
            "qovery-oidc::R7_",
        ],
        certs.path(),
    );
    assert_eq!(code, 101, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        verdicts(&out),
        [(
            "qovery-oidc::R7_missing_email_refused".to_owned(),
            "FAILED".to_owned()
        )],
        "{out}"
    );
    assert!(out.contains("kind: sp-accepted"), "{out}");
    // The transcript shows Chromium's hops: the authorize request and the callback (posted:
    // the reference SP asks for response_mode=form_post).
    assert!(out.contains("/oauth2/v1/authorize?"), "{out}");
    assert!(out.contains("POST http://127.0.0.1:"), "{out}");
    assert!(out.contains("/login/oidc/callback -> 200"), "{out}");
}

/// A missing Chromium is one clear error naming the package, not a hang or a list of failures.
#[test]
fn a_missing_chromium_is_one_error_naming_the_package() {
    let certs = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(certs.path())
            .args(["demo", "--browser", "chromium", "L0_"])
            .env("FAKTA_CHROMIUM", "/nowhere/chromium"),
        Duration::from_secs(60),
    );
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("--browser chromium: Chromium is not installed (looked for FAKTA_CHROMIUM=/nowhere/chromium); install the Debian package `chromium`"),
        "{err}"
    );
}
