//! The implicit and hybrid flows end to end: `fakta test` against the reference SP asking for a
//! hybrid or implicit response type (target.response_type), where O23 (at_hash) and O24 (c_hash)
//! run, each caught by the one flaw that skips its check, and in the implicit flows the id_token
//! faults arrive by the front channel; and `fakta check` refusing a response type the app's
//! grant types do not allow.

mod common;

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const O23: &str = "qovery-oidc::O23_at_hash_of_another_access_token_refused";
const O24: &str = "qovery-oidc::O24_c_hash_of_another_code_refused";

/// The shipped OIDC pack on free ports, its web app with the implicit grant ticked, the
/// reference SP (started by `fakta test`, with `flaw`) asking for `response_type`; the run of
/// the trials matching `filter`.
fn hybrid_pack_run(response_type: &str, flaw: Option<&str>, filter: &str) -> (i32, String, String) {
    common::shipped_pack_run(
        "qovery-oidc",
        |_| {},
        |yaml| {
            let yaml = yaml
                .replace(
                    "    signing_alg: RS256 ",
                    "    grant_types: [authorization_code, refresh_token, implicit]\n    signing_alg: RS256 ",
                )
                .replace("\ntarget:\n", &format!("\ntarget:\n  response_type: {response_type}\n"));
            assert!(yaml.contains("grant_types: [authorization_code, refresh_token, implicit]"));
            yaml
        },
        flaw,
        filter,
    )
}

use common::failed_trials as failed;

fn line<'a>(out: &'a str, trial: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("test {trial} ")))
        .unwrap_or_else(|| panic!("no line for {trial}:\n{out}"))
}

#[test]
fn fakta_test_runs_o23_o24_against_a_hybrid_sp_and_catches_each_flaw() {
    // "O" selects every OIDC login case: the strict SP passes them all in the hybrid flow.
    let (code, out, err) = hybrid_pack_run("code id_token token", None, "O");
    assert_eq!(code, 0, "{out}\n{err}");
    for t in [O23, O24, "qovery-oidc::O5_nonce_not_the_one_sent_refused"] {
        assert!(line(&out, t).ends_with("... ok"), "{t}:\n{out}");
    }
    for (flaw, want) in [("skip-at-hash", O23), ("skip-c-hash", O24)] {
        let (code, out, err) = hybrid_pack_run("code id_token token", Some(flaw), "O2");
        assert_eq!(code, 101, "{flaw}: {out}\n{err}");
        assert_eq!(failed(&out), vec![want], "{flaw}:\n{out}");
        assert!(out.contains("kind: sp-accepted"), "{flaw}:\n{out}");
        assert!(
            out.contains("forged id_token (what the SP got from the authorization endpoint)"),
            "{flaw}: the transcript shows the front-channel forgery:\n{out}"
        );
    }
    // `code id_token` brings no access token from the authorization endpoint: O23 is listed
    // ignored with the reason, O24 runs; the honest login goes through the hybrid flow.
    let (code, out, err) = hybrid_pack_run("code id_token", None, "O2");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        line(&out, O23).contains("ignored (the SP asks for response_type `code id_token`"),
        "{out}"
    );
    assert!(line(&out, O24).ends_with("... ok"), "{out}");
}

#[test]
fn check_refuses_a_response_type_the_grant_types_do_not_allow() {
    let yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-oidc.yaml"))
        .unwrap()
        .replace("target:\n", "target:\n  response_type: code id_token\n");
    let err = fakta::config::load_str(&yaml, "hybrid.yaml", Path::new("."))
        .map(|_| ())
        .expect_err("the app lacks the implicit grant");
    let text = err.to_string();
    assert!(
        text.contains("target.response_type")
            && text.contains("needs the grant type(s) implicit on app `qovery-oidc`"),
        "{text}"
    );
    // Located: the line of the key.
    let at = yaml
        .lines()
        .position(|l| l.contains("response_type: code id_token"))
        .unwrap()
        + 1;
    assert!(text.contains(&format!("hybrid.yaml:{at}:")), "{text}");
    let ok = yaml.replace(
        "    signing_alg: RS256 ",
        "    grant_types: [authorization_code, implicit]\n    signing_alg: RS256 ",
    );
    assert!(fakta::config::load_str(&ok, "hybrid.yaml", Path::new(".")).is_ok());
    let bad = yaml.replace("response_type: code id_token", "response_type: code code");
    let text = fakta::config::load_str(&bad, "hybrid.yaml", Path::new("."))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`code code` is not a response type"),
        "{text}"
    );
    // A SAML target has no response type.
    let saml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
        .unwrap()
        .replace("target:\n", "target:\n  response_type: code\n");
    let text = fakta::config::load_str(&saml, "saml.yaml", Path::new("."))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("target.response_type") && text.contains("is a SAML app"),
        "{text}"
    );
    // The reference SP takes the implicit-only response types too (issue 19).
    let implicit = yaml
        .replace(
            "response_type: code id_token",
            "response_type: id_token token",
        )
        .replace(
            "    signing_alg: RS256 ",
            "    grant_types: [authorization_code, implicit]\n    signing_alg: RS256 ",
        );
    let (conn, warnings) = fakta::config::load_str(&implicit, "implicit.yaml", Path::new("."))
        .unwrap_or_else(|d| panic!("{d}"));
    // The shipped file's target.refresh_url cannot be used without a code: a located warning.
    let text = warnings.to_string();
    let at = implicit
        .lines()
        .position(|l| l.contains("response_type: id_token token"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("implicit.yaml:{at}:"))
            && text.contains("target.response_type")
            && text.contains("redeems no code, so the SP gets no refresh token"),
        "{text}"
    );
    assert!(
        fakta::refsp::SpState::new(
            conn,
            fakta::refsp::Flaws::none(),
            std::sync::Arc::new(fakta::clock::SystemClock),
        )
        .is_ok()
    );
}

/// Issue 19: the O-pack against the reference SP in the implicit flows (`form_post`, as the
/// runner's HTTP browser cannot read a fragment). The strict SP passes every trial that applies;
/// those that need a code are ignored with the reason; O23 is caught by `skip-at-hash` in the
/// `id_token token` flow; an id_token forgery (O6) is delivered on the front channel and caught
/// by `accept-bad-signature`.
#[test]
fn fakta_test_runs_the_o_pack_against_an_implicit_sp() {
    let no_code = "the implicit flow redeems no code";
    // `id_token token`: O23 runs (the at_hash is there), O24 does not (no code).
    let (code, out, err) = hybrid_pack_run("id_token token", None, "O");
    assert_eq!(code, 0, "{out}\n{err}");
    for t in [
        O23,
        "qovery-oidc::O6_signature_corrupted_refused",
        "qovery-oidc::O7_alg_none_refused",
        "qovery-oidc::O9_unknown_kid_refused",
        "qovery-oidc::O5_nonce_not_the_one_sent_refused",
        "qovery-oidc::O14_signed_with_a_newly_published_key_accepted",
    ] {
        assert!(line(&out, t).ends_with("... ok"), "{t}:\n{out}");
    }
    assert!(
        line(&out, O24).contains("ignored (the SP asks for response_type `id_token token`"),
        "{out}"
    );
    for t in [
        "qovery-oidc::O18_refreshed_id_token_of_another_sub_refused",
        "qovery-oidc::O19_refreshed_id_token_of_another_iss_refused",
    ] {
        assert!(line(&out, t).contains(no_code), "{t}:\n{out}");
    }
    assert!(
        line(&out, "qovery-oidc::O17_code_of_another_browser_refused")
            .contains("carries no code to inject"),
        "{out}"
    );

    let (code, out, err) = hybrid_pack_run("id_token token", Some("skip-at-hash"), "O2");
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![O23], "{out}");
    assert!(out.contains("kind: sp-accepted"), "{out}");

    // `id_token` alone: no access token, so neither O23 nor O12 applies; the identity comes
    // from the id_token (the honest logins show it).
    let (code, out, err) = hybrid_pack_run("id_token", None, "O");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        line(&out, O23).contains("ignored (the SP asks for response_type `id_token`"),
        "{out}"
    );
    assert!(
        line(&out, "qovery-oidc::O12_userinfo_sub_differs_refused")
            .contains("cannot call userinfo"),
        "{out}"
    );
    for t in [
        "qovery-oidc::O6_signature_corrupted_refused",
        "qovery-oidc::O8_hs256_with_the_public_key_as_secret_refused",
        "qovery-oidc::O1_iss_of_another_idp_refused",
    ] {
        assert!(line(&out, t).ends_with("... ok"), "{t}:\n{out}");
    }
    let (code, out, err) = hybrid_pack_run("id_token", Some("accept-bad-signature"), "O6");
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(
        failed(&out),
        vec!["qovery-oidc::O6_signature_corrupted_refused"],
        "{out}"
    );
    assert!(out.contains("kind: sp-accepted"), "{out}");
    assert!(
        out.contains("forged id_token (what the SP got from the authorization endpoint)"),
        "the forgery went by the front channel:\n{out}"
    );
}

/// O6-O9 forge the id_token's signature. OpenID Connect Core §3.1.3.7 step 6 lets an RP rely on
/// TLS for the id_token it takes straight from the token endpoint, so in the code flow an SP that
/// signs in with a forged signature is reported as not judged, unless the file says it checks
/// that signature (`target.verifies_id_token_signature`, as the shipped pack does); an
/// id_token from the authorization endpoint (hybrid flow) it MUST check (§3.2.2.11), so there
/// the forgery goes into that one and is judged whatever the file says.
#[test]
fn signature_forgeries_are_judged_where_core_requires_the_check() {
    const O6: &str = "qovery-oidc::O6_signature_corrupted_refused";
    let unsaid = |yaml: String| {
        let out = yaml.replace("  verifies_id_token_signature: true", "");
        assert_ne!(
            out, yaml,
            "the shipped pack says its SP checks the signature"
        );
        out
    };
    // Code flow, the file silent: an acceptance is no failure, and says why (and as the only
    // selected trial, it leaves the run with nothing checked: exit 2, never green).
    let (code, out, err) = common::shipped_pack_run(
        "qovery-oidc",
        |_| {},
        unsaid,
        Some("accept-bad-signature"),
        "O6",
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("nothing was checked"), "{err}");
    let l = line(&out, O6);
    assert!(
        l.contains(
            "ignored (not judged: the SP signed in with an id_token whose signature does not verify"
        ) && l.contains("§3.1.3.7 step 6")
            && l.contains("target.verifies_id_token_signature"),
        "{out}"
    );
    // ... and the strict SP, which checks it, is judged and passes.
    let (code, out, err) = common::shipped_pack_run("qovery-oidc", |_| {}, unsaid, None, "O6");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(line(&out, O6).ends_with("... ok"), "{out}");
    // Code flow, the file says the SP checks it (as shipped): a failure.
    let (code, out, err) = common::shipped_pack_run(
        "qovery-oidc",
        |_| {},
        |y| y,
        Some("accept-bad-signature"),
        "O6",
    );
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![O6], "{out}");
    // Hybrid flow, the file silent: each signature case forges the front-channel id_token and
    // catches its flaw.
    let hybrid = |yaml: String| {
        unsaid(yaml)
            .replace(
                "    signing_alg: RS256 ",
                "    grant_types: [authorization_code, refresh_token, implicit]\n    signing_alg: RS256 ",
            )
            .replace("\ntarget:\n", "\ntarget:\n  response_type: code id_token\n")
    };
    for (flaw, filter, want) in [
        ("accept-bad-signature", "O6", vec![O6]),
        (
            "accept-alg-none",
            "O7_alg_none_refused",
            vec!["qovery-oidc::O7_alg_none_refused"],
        ),
        (
            "hs256-key-confusion",
            "O8_hs256_with_the_public_key_as_secret",
            vec!["qovery-oidc::O8_hs256_with_the_public_key_as_secret_refused"],
        ),
        (
            "ignore-kid",
            "O9",
            vec!["qovery-oidc::O9_unknown_kid_refused"],
        ),
    ] {
        let (code, out, err) =
            common::shipped_pack_run("qovery-oidc", |_| {}, hybrid, Some(flaw), filter);
        assert_eq!(code, 101, "{flaw}: {out}\n{err}");
        assert_eq!(failed(&out), want, "{flaw}:\n{out}");
        assert!(out.contains("kind: sp-accepted"), "{flaw}:\n{out}");
        assert!(
            out.contains("forged id_token (what the SP got from the authorization endpoint)"),
            "{flaw}: the forgery went to the front channel:\n{out}"
        );
    }
}
