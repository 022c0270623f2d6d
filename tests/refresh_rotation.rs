//! O26 end to end: `fakta test` against the reference SP whose app rotates refresh tokens
//! (`refresh_token.rotation: rotate`). The strict SP presents the new refresh token at its
//! second refresh and keeps its session; the `reuse-refresh-token` flaw keeps the login's token
//! and is caught by O26 alone (with no grace period, when the IdP revokes the family, and with
//! Okta's default 30 seconds, when it still answers). The demo's web app keeps persistent
//! refresh tokens, so O26 is listed ignored there with the reason.

mod common;

use common::failed_trials as failed;

const TWIN: &str = "qovery-oidc::O26_one_refresh_with_rotation_keeps_the_session";
const O26: &str = "qovery-oidc::O26_second_refresh_presents_the_rotated_token";

/// The shipped OIDC pack on free ports, its web app with `policy` as its refresh token
/// settings (None: as shipped), the reference SP started with `flaw`; the run of `filter`.
fn rotation_run(policy: Option<&str>, flaw: Option<&str>, filter: &str) -> (i32, String, String) {
    common::shipped_pack_run(
        "qovery-oidc",
        |_| {},
        |yaml| match policy {
            None => yaml,
            Some(p) => {
                let edited = yaml.replacen(
                    "    signing_alg: RS256 ",
                    &format!("    refresh_token: {p}\n    signing_alg: RS256 "),
                    1,
                );
                assert!(
                    edited.contains("refresh_token: {"),
                    "the app was not edited"
                );
                edited
            }
        },
        flaw,
        filter,
    )
}

fn line<'a>(out: &'a str, trial: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("test {trial} ")))
        .unwrap_or_else(|| panic!("no line for {trial}:\n{out}"))
}

#[test]
fn fakta_test_runs_o26_against_an_sp_with_rotating_refresh_tokens() {
    let no_grace = Some("{ rotation: rotate, grace_period_seconds: 0 }");
    let (code, out, err) = rotation_run(no_grace, None, "O26");
    assert_eq!(code, 0, "{out}\n{err}");
    for t in [TWIN, O26] {
        assert!(line(&out, t).ends_with("... ok"), "{t}:\n{out}");
    }
    // Every OIDC login case against the flawed SP: O26 alone fails, as the SP's wrong outcome.
    let (code, out, err) = rotation_run(no_grace, Some("reuse-refresh-token"), "O");
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![O26], "{out}");
    assert!(out.contains("kind: wrong-outcome"), "{out}");
    assert!(
        out.contains("the second refresh presented the refresh token the first refresh had replaced (after the grace period"),
        "{out}"
    );
    assert!(out.contains("RFC 6749 §6"), "the rule is cited:\n{out}");
    // Within Okta's default grace period the IdP still answers the old token: the RP broke
    // the rule all the same.
    let (code, out, err) = rotation_run(
        Some("{ rotation: rotate, grace_period_seconds: 30 }"),
        Some("reuse-refresh-token"),
        "O26",
    );
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![O26], "{out}");
    assert!(out.contains("within the grace period"), "{out}");
}

#[test]
fn o26_is_ignored_with_its_reason_for_persistent_refresh_tokens() {
    // "O2": O20-O22 run beside it (a selection of ignored trials alone checks nothing, exit 2).
    let (code, out, err) = rotation_run(None, None, "O2");
    assert_eq!(code, 0, "{out}\n{err}");
    for t in [TWIN, O26] {
        assert!(
            line(&out, t).contains("ignored (the app's refresh tokens are persistent"),
            "{t}:\n{out}"
        );
    }
}
