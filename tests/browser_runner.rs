//! `fakta test --browser chromium` end to end, through the `fakta` binary: the single-page app
//! example (tests/spa/, whose session only JavaScript can read) in headless Chromium; the
//! reference SP (`fakta demo`) with flaws of each area (strict, the whole demo is in
//! tests/browser_demo.rs), every trial with the same verdict and failure kind as over HTTP;
//! and the HTTP mode's answer to a file that needs JavaScript.

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

use common::trial_verdicts as verdicts;

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

/// The failed trials of a run, each with its kind (`---- NAME ----` then `kind: KIND`).
fn failures(out: &str) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        let Some(name) = l
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" ----"))
        else {
            continue;
        };
        let kind = lines
            .next()
            .and_then(|k| k.strip_prefix("kind: "))
            .unwrap_or("(no kind)");
        got.push((name.to_owned(), kind.to_owned()));
    }
    got.sort();
    got
}

/// `fakta demo FILTER` against the reference SP with `flaws`, over HTTP and in Chromium: the
/// same verdict for every trial in both modes, `expected` (and only it) failing, with the same
/// kind as over HTTP.
fn same_in_both_modes(flaws: &[&str], filter: &str, expected: &[&str]) {
    let certs = tempfile::tempdir().unwrap();
    let mut args = vec!["demo"];
    for f in flaws {
        args.extend(["--flaw", f]);
    }
    args.push(filter);
    // `fakta demo` serves on free ports: both modes run at once (a browser run mostly waits).
    same_verdicts_in_both_modes(args, certs.path(), expected, true);
}

/// The run `args` (a subcommand and its arguments) over HTTP and in Chromium, `at_once` or one
/// after the other (a file whose ports are fixed): the same verdict for every trial in both
/// modes, `expected` (and only it) failing, with the same kind. The Chromium run's output.
fn same_verdicts_in_both_modes(
    args: Vec<&str>,
    certs: &std::path::Path,
    expected: &[&str],
    at_once: bool,
) -> String {
    let mut in_chromium = args.clone();
    in_chromium.splice(1..1, ["--browser", "chromium"]);
    let ((http_code, http, http_err), (code, out, err)) = if at_once {
        std::thread::scope(|s| {
            let http = s.spawn(|| fakta(&args, certs));
            let chromium = fakta(&in_chromium, certs);
            (http.join().expect("the HTTP run's thread"), chromium)
        })
    } else {
        (fakta(&args, certs), fakta(&in_chromium, certs))
    };
    let want = if expected.is_empty() { 0 } else { 101 };
    assert_eq!(http_code, want, "over HTTP:\n{http}\n{http_err}");
    assert_eq!(code, want, "in Chromium:\nstdout:\n{out}\nstderr:\n{err}");
    let mut browser_verdicts = verdicts(&out);
    let mut failed: Vec<&str> = browser_verdicts
        .iter()
        .filter(|(_, v)| v == "FAILED")
        .map(|(n, _)| n.as_str())
        .collect();
    failed.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(failed, expected, "{out}");
    let mut http_verdicts = verdicts(&http);
    http_verdicts.sort();
    browser_verdicts.sort();
    assert!(!browser_verdicts.is_empty(), "{out}");
    assert_eq!(
        browser_verdicts, http_verdicts,
        "Chromium:\n{out}\nHTTP:\n{http}"
    );
    assert_eq!(
        failures(&out),
        failures(&http),
        "Chromium:\n{out}\nHTTP:\n{http}"
    );
    out
}

#[test]
fn a_saml_attack_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["skip-signature"],
        "qovery-saml::S1_",
        &[
            "qovery-saml::S1_assertion_unsigned_in_signed_response_refused",
            "qovery-saml::S1_unsigned_refused",
        ],
    );
}

#[test]
fn an_oidc_attack_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["accept-alg-none"],
        "qovery-oidc::O7_",
        &[
            "qovery-oidc::O7_alg_none_kid_not_in_the_jwks_refused",
            "qovery-oidc::O7_alg_none_refused",
            "qovery-oidc::O7_alg_none_without_kid_refused",
        ],
    );
}

/// IdP-initiated SAML logout through the browser (G2).
#[test]
fn a_logout_flaw_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["slo-keeps-session"],
        "qovery-saml::G2_",
        &["qovery-saml::G2_idp_initiated_logout_ends_the_session"],
    );
}

/// A pack whose IdP-initiated logouts go by HTTP-POST (`binding: post`), against the reference
/// SP started by `target.start` with `flaws`: the LogoutRequest is posted by an
/// auto-submitting page, and the SP's LogoutResponse by its own, to the IdP's SLO endpoint.
fn slo_post_pack(dir: &std::path::Path, flaws: &[&str]) -> std::path::PathBuf {
    let (idp, sp) = (common::free_port(), common::free_port());
    let shipped = std::fs::read_to_string(common::EXAMPLE).unwrap();
    let head = shipped
        .split("\nscenarios:")
        .next()
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    let attacks = "  attacks: true ";
    assert!(head.contains(attacks), "the shipped pack changed");
    let flaws: String = flaws.iter().map(|f| format!(" --flaw {f}")).collect();
    let start = format!(
        "  attacks: false\n  start: \"exec '{BIN}' --certs certs sp slo-post.yaml{flaws}\"\n  #"
    );
    let scenarios = [
        "scenarios:",
        "  - name: slo_post_ends_the_session",
        "    user: 00u1alice",
        "    steps: [login, { logout: { from: idp, binding: post } }, { expect: { session: ended } }]",
        "  - name: slo_post_unsigned_ignored",
        "    user: 00u1alice",
        "    steps: [login, { logout: { from: idp, fault: unsigned, binding: post } }, \
{ expect: { session: active } }]",
    ];
    let file = dir.join("slo-post.yaml");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            head.replacen(attacks, &start, 1),
            scenarios.join("\n")
        ),
    )
    .unwrap();
    file
}

/// IdP-initiated SAML logout by HTTP-POST in Chromium: the runner's auto-submitting page
/// posts the LogoutRequest, the SP's own page posts its LogoutResponse back; the honest one
/// ends the session and the unsigned one is ignored, as over HTTP. Each flaw fails its trial
/// in both modes, with the same kind, and the other trial passes in the same run (no run
/// against the strict SP: each trial passes in the run whose flaw is not its own).
#[test]
fn a_post_binding_idp_logout_passes_and_fails_in_chromium_as_over_http() {
    let check = |flaws: &[&str], fails: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let file = slo_post_pack(dir.path(), flaws);
        let args = vec!["test", file.to_str().unwrap(), "slo_post_"];
        // `target.start` runs in the file's folder, where its certs are. The two modes one
        // after the other: the file's ports are fixed; the two flaws' files have their own.
        let certs = dir.path().join("certs");
        let out = same_verdicts_in_both_modes(args, &certs, fails, false);
        // The SP kept the session, but Chromium carried both forms: the IdP's LogoutRequest
        // to the SP and the SP's LogoutResponse back to the IdP.
        if flaws == ["slo-keeps-session"] {
            assert!(
                out.contains("(signed, HTTP-POST)")
                    && out.contains(
                        "the SP's LogoutResponse (status Success) was accepted by the IdP"
                    ),
                "{out}"
            );
        }
    };
    std::thread::scope(|s| {
        let other = s.spawn(|| check(&["unsigned-slo"], &["slo-post::slo_post_unsigned_ignored"]));
        check(
            &["slo-keeps-session"],
            &["slo-post::slo_post_ends_the_session"],
        );
        other.join().expect("the unsigned-slo run");
    });
}

/// The SP-initiated logout, judged with the IdP session read from Chromium's cookie store.
#[test]
fn a_local_logout_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["local-logout-only"],
        "qovery-oidc::G3_",
        &["qovery-oidc::G3_rp_initiated_logout_ends_both_sessions"],
    );
}

/// After Global Token Revocation the session must be gone from the browser's context.
#[test]
fn a_revocation_flaw_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["revocation-keeps-session"],
        "qovery-oidc::T1_",
        &["qovery-oidc::T1_revocation_ends_the_session"],
    );
}

/// A second browser's login held before its callback by the interceptor, its code delivered
/// in the first browser's callback instead (a one-time rewrite).
#[test]
fn a_session_binding_flaw_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["no-pkce-nonce-any-pending"],
        "qovery-oidc::O17_",
        &["qovery-oidc::O17_code_of_another_browser_refused"],
    );
}

/// The RelayState of the form posted to the ACS rewritten, and the navigation stopped before
/// the other site; the SAMLResponse Chromium posted replayed.
#[test]
fn an_open_redirect_and_a_replay_fail_in_chromium_as_over_http() {
    same_in_both_modes(
        &["open-redirect"],
        "qovery-saml::S25_",
        &[
            "qovery-saml::S25_off_site_return_https_refused",
            "qovery-saml::S25_off_site_return_scheme_relative_refused",
        ],
    );
    same_in_both_modes(
        &["allow-replay"],
        "qovery-saml::S10_",
        &["qovery-saml::S10_replayed_refused"],
    );
}

/// The cookies the SP set before the login, read from Chromium's answers.
#[test]
fn session_fixation_fails_in_chromium_as_over_http() {
    same_in_both_modes(
        &["session-fixation"],
        "qovery-oidc::O20_",
        &["qovery-oidc::O20_session_fixation_refused"],
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
        err.contains("--browser chromium: Chromium is not installed (looked for FAKTA_CHROMIUM=/nowhere/chromium); install the Debian package `chromium-headless-shell` or `chromium`"),
        "{err}"
    );
}

/// What oidc-client-ts 3.5.0 (the SPA example's library) accepts: it checks an id_token's
/// `sub` and its nonce (when it sent one) and nothing else (`ResponseValidator.
/// _validateIdTokenAttributes` in its source), relying on the token endpoint for the rest. So
/// an id_token of another issuer or audience, expired, or without iat is taken: OpenID Connect
/// Core §3.1.3.7 steps 2, 3 and 9 require the first three checks (MUST; iat is a SHOULD), and
/// these trials fail, as sp-accepted — a real finding about the library, not a defect of the
/// runner.
const SPA_TAKES: [&str; 6] = [
    "spa::O11_expired_refused",
    "spa::O1_iss_of_another_idp_refused",
    "spa::O2_aud_missing_refused",
    "spa::O2_aud_of_another_client_azp_this_one_refused",
    "spa::O2_aud_of_another_client_refused",
    "spa::O4_iat_missing_refused",
];

/// The id_token's signature oidc-client-ts never checks either; step 6 lets a client rely on
/// the token endpoint's TLS for it, so these are reported as not judged (the SPA's file does not
/// say it checks the signature), never as failures.
const SPA_LEAVES_TO_TLS: [&str; 5] = [
    "spa::O6_signature_corrupted_refused",
    "spa::O7_alg_none_refused",
    "spa::O7_alg_none_spelled_NONE_refused",
    "spa::O8_hs256_with_the_public_key_as_secret_refused",
    "spa::O9_unknown_kid_refused",
];

/// The OIDC attack pack against the SPA in Chromium: the session-binding attacks (another
/// browser's state or code, no state) and userinfo about another user are refused; the
/// id_token forgeries oidc-client-ts takes fail (see [`SPA_TAKES`]), its signature left to TLS
/// is not judged ([`SPA_LEAVES_TO_TLS`]); what cannot apply to a
/// public client in a page is ignored with its reason. (Most spellings of alg none and of the
/// HS256 confusion are skipped: one of each shows the library's behaviour.)
#[test]
fn the_oidc_attack_pack_runs_against_the_spa_in_chromium() {
    with_the_spa(|file, certs| {
        let mut args = vec![
            "test",
            file.to_str().unwrap(),
            "--browser",
            "chromium",
            "--attacks",
            "spa::O",
        ];
        for skip in [
            "O7_alg_none_kid_not_in_the_jwks",
            "O7_alg_none_without_kid",
            "O7_alg_none_spelled_None",
            "O8_hs256_with_the_public_key_as_pkcs1_pem",
            "O8_hs256_with_the_public_key_as_openssh_line",
            "O8_hs256_with_the_public_key_as_jwk_json",
            "O8_hs256_with_the_ec_public_key_as_pem",
        ] {
            args.extend(["--skip", skip]);
        }
        let (code, out, err) = fakta(&args, certs);
        assert_eq!(code, 101, "stdout:\n{out}\nstderr:\n{err}");
        let got = verdicts(&out);
        let failed: Vec<&str> = got
            .iter()
            .filter(|(_, v)| v == "FAILED")
            .map(|(n, _)| n.as_str())
            .collect();
        let mut sorted = failed.clone();
        sorted.sort_unstable();
        let mut want = SPA_TAKES.to_vec();
        want.sort_unstable();
        assert_eq!(sorted, want, "{out}");
        assert!(
            failures(&out).iter().all(|(_, k)| k == "sp-accepted"),
            "{out}"
        );
        let verdict = |name: &str| {
            got.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no trial {name}:\n{out}"))
        };
        for refused in [
            "spa::O3_sub_missing_refused",
            "spa::O12_userinfo_sub_differs_refused",
            "spa::O15_state_of_another_browser_refused",
            "spa::O16_state_dropped_refused",
            "spa::O17_code_of_another_browser_refused",
            "spa::O22_authorization_error_handled",
        ] {
            assert_eq!(verdict(refused), "ok", "{refused}:\n{out}");
        }
        // oidc-client-ts sends no nonce unless asked: O5 has nothing to judge.
        assert!(
            verdict("spa::O5_nonce_not_the_one_sent_refused")
                .starts_with("ignored (the RP's authorization request carried no nonce"),
            "{out}"
        );
        for name in SPA_LEAVES_TO_TLS {
            assert!(
                verdict(name).starts_with("ignored (not judged: the SP signed in with an id_token whose signature does not verify"),
                "{name}:\n{out}"
            );
        }
        for (name, v) in &got {
            assert!(
                v == "ok"
                    || v == "FAILED"
                    || (v.starts_with("ignored (") && !v.contains("browser mode")),
                "{name}: {v}"
            );
        }
    });
}
