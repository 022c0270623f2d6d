//! `target.start`: `fakta test` starts the SP itself, restarts it for O13 (discovery's issuer is
//! not the issuer in use), and stops it at the end. The SP here is `fakta sp` (the reference SP)
//! run as a separate process by the command in the file, as a user's SP would be.

mod common;
use common::{free_port, process_group_gone, retry_on_addr_in_use, run_with_deadline};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The longest a `fakta test` run here may take (the attack pack, in a debug build).
const RUN_DEADLINE: Duration = Duration::from_secs(300);

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const O13: &str = "qovery-oidc::O13_discovery_issuer_not_the_issuer_in_use_refused";
const O10_SINGLE: &str = "qovery-oidc::O10_no_kid_with_a_single_key_accepted";

/// The shipped OIDC pack on free ports, with `start` (if any) under `target`; returns the file
/// and the SP's port.
fn pack(dir: &Path, start: Option<&str>) -> (std::path::PathBuf, u16) {
    let (idp, sp) = (free_port(), free_port());
    let mut yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-oidc.yaml"))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    if let Some(cmd) = start {
        yaml = yaml.replace(
            "target:\n",
            &format!(
                "target:\n  start: {}\n",
                serde_json::to_string(cmd).unwrap()
            ),
        );
    }
    let file = dir.join("qovery-oidc.yaml");
    std::fs::write(&file, yaml).unwrap();
    (file, sp)
}

fn fakta_test(dir: &Path, file: &Path, extra: &[&str]) -> (i32, String, String) {
    run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(dir.join("certs"))
            .arg("test")
            .arg(file)
            .args(extra)
            .env_remove("FAKTA_LOG")
            // The SP logs go to the temp directory: this test's own.
            .env("TMPDIR", dir),
        RUN_DEADLINE,
    )
}

/// [`pack`] and a first `fakta test` of it, on other ports when one was taken meanwhile.
fn pack_and_test(
    dir: &Path,
    start: Option<&str>,
    extra: &[&str],
) -> ((std::path::PathBuf, u16), (i32, String, String)) {
    retry_on_addr_in_use(|| {
        let (file, sp) = pack(dir, start);
        let ran = fakta_test(dir, &file, extra);
        ((file, sp), ran)
    })
}

/// The process group ids the start command wrote (`echo $$`: `sh -c` leads its own group).
fn pgids(dir: &Path, name: &str) -> Vec<i32> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// The SP log's path, from fakta's stderr: `... (in DIR; output in PATH, kept if ...)`.
fn log_path(err: &str) -> String {
    err.split("output in ")
        .nth(1)
        .and_then(|r| r.split(", kept").next())
        .unwrap_or_else(|| panic!("no log path in: {err}"))
        .to_owned()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn failed(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(str::trim)
        .collect()
}

fn line<'a>(stdout: &'a str, trial: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("test {trial} ")))
        .unwrap_or_else(|| panic!("no line for {trial}:\n{stdout}"))
}

#[test]
fn fakta_starts_the_sp_restarts_it_for_o13_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    // A marker file shows how many times the command ran (the start, two restarts for O13 and
    // two for O10's single-key variant), each with its process group id.
    let cmd = format!("echo $$ >> starts.txt; exec '{BIN}' --certs certs sp qovery-oidc.yaml");
    let ((_, sp), (code, out, err)) = pack_and_test(dir.path(), Some(&cmd), &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(line(&out, O13).ends_with(" ok"), "{}", line(&out, O13));
    assert!(
        line(&out, O10_SINGLE).ends_with(" ok"),
        "{}",
        line(&out, O10_SINGLE)
    );
    // Only O23 and O24 are ignored, the SP asking for response_type code (tests/hybrid.rs runs
    // them in the hybrid flow), the O25 pair, the SP signing in without okta_post_message
    // (tests/browser_okta_spa.rs runs it against an okta-auth-js SPA), and the O26 pair, the
    // app's refresh tokens being persistent (tests/refresh_rotation.rs runs it with rotation).
    assert!(out.contains("6 ignored"), "{out}");
    for t in [
        "qovery-oidc::O23_at_hash_of_another_access_token_refused",
        "qovery-oidc::O24_c_hash_of_another_code_refused",
    ] {
        assert!(line(&out, t).contains("... ignored (the SP asks for response_type `code`"));
    }
    for t in [
        "qovery-oidc::O25_post_message_from_the_idp_origin_accepted",
        "qovery-oidc::O25_post_message_from_another_origin_refused",
    ] {
        assert!(
            line(&out, t).contains("... ignored (the app does not sign in with okta_post_message")
        );
    }
    let groups = pgids(dir.path(), "starts.txt");
    assert_eq!(
        groups.len(),
        5,
        "start + two restarts each for O13 and O10: {groups:?}"
    );
    for g in groups {
        assert!(process_group_gone(g), "process group {g} is still there");
    }
    assert!(
        err.contains("fakta: starting the SP of pack `qovery-oidc`"),
        "{err}"
    );
    assert!(!listening(sp), "the SP is stopped when fakta test ends");
}

#[test]
fn a_started_sp_that_trusts_discovery_is_caught_by_o13_only() {
    let dir = tempfile::tempdir().unwrap();
    let cmd =
        format!("exec '{BIN}' --certs certs sp qovery-oidc.yaml --flaw trust-discovery-issuer");
    let ((_, sp), (code, out, err)) = pack_and_test(dir.path(), Some(&cmd), &[]);
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![O13], "{out}");
    assert!(
        out.contains("discovery issuer set to http://127.0.0.1:"),
        "the transcript names the forged discovery: {out}"
    );
    assert!(
        out.contains("the SP fetched the forged discovery 1 time(s)"),
        "{out}"
    );
    let log = log_path(&err);
    assert!(Path::new(&log).exists(), "a failed run keeps the SP log");
    let _ = std::fs::remove_file(log);
    assert!(!listening(sp));
}

#[test]
fn without_target_start_o13_is_ignored_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (file, sp) = pack(dir.path(), None);
    let mut child = Command::new(BIN)
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .arg("sp")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = fakta_test(
        dir.path(),
        &file,
        &["O13", "--junit", junit.to_str().unwrap()],
    );
    let _ = child.kill();
    let _ = child.wait();
    // Nothing was checked: a run whose every selected trial is ignored does not pass.
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("error: no trial ran: every selected trial was ignored"),
        "{err}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<skipped message=\"needs an SP that fakta can restart"),
        "JUnit says skipped, with the reason: {xml}"
    );
    assert!(
        line(&out, O13).contains("ignored (needs an SP that fakta can restart: give target.start"),
        "{out}"
    );
    assert!(out.contains("1 ignored"), "{out}");
    let _ = sp;
}

#[test]
fn a_start_command_that_ends_at_once_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = pack(dir.path(), Some("echo 'cannot read sso.yaml' >&2; exit 3"));
    let (code, out, err) = fakta_test(dir.path(), &file, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("ended with exit status: 3 before it listened"),
        "{err}"
    );
    assert!(err.contains("cannot read sso.yaml"), "{err}");
}

#[test]
fn a_start_command_refuses_a_port_already_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (file, sp) = pack(dir.path(), Some("sleep 30"));
    let _taken = std::net::TcpListener::bind(("127.0.0.1", sp)).unwrap();
    let (code, out, err) = fakta_test(dir.path(), &file, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains(&format!("something already listens at 127.0.0.1:{sp}")),
        "{err}"
    );
}

#[test]
fn an_sp_that_refuses_to_start_on_a_forged_discovery_passes_o13() {
    // An eager SP: it reads discovery when it starts and exits when the issuer is not the one
    // it fetched it from; then it runs as the reference SP.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eager-sp.py"),
        format!(
            r#"import json, os, sys, urllib.request
issuer = os.environ["FAKTA_IDP_URL"]
d = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
if d["issuer"] != issuer:
    print("discovery issuer", d["issuer"], "is not", issuer, file=sys.stderr)
    with open("refusals.txt", "a") as f:
        print("discovery issuer", d["issuer"], "is not", issuer, file=f)
    sys.exit(1)
os.execv({bin:?}, [{bin:?}, "--certs", "certs", "sp", "qovery-oidc.yaml"])
"#,
            bin = BIN
        ),
    )
    .unwrap();
    let (file, sp) = pack(dir.path(), Some("exec python3 eager-sp.py"));
    let (code, out, err) = fakta_test(dir.path(), &file, &["O13"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(line(&out, O13).ends_with(" ok"), "{out}");
    let refusals = std::fs::read_to_string(dir.path().join("refusals.txt")).unwrap();
    assert_eq!(
        refusals.lines().count(),
        1,
        "the SP refused the forged discovery at its first restart, not the honest one: {refusals}"
    );
    assert!(refusals.contains("/not-the-issuer-in-use is not http://127.0.0.1:"));
    assert!(
        !Path::new(&log_path(&err)).exists(),
        "the log of a run that passed is removed"
    );
    assert!(!listening(sp));
}

#[test]
fn listen_ip_moves_the_idp_and_base_url_must_lead_there() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("exec '{BIN}' --certs certs sp qovery-oidc.yaml");
    let (file, _) = pack(dir.path(), Some(&cmd));
    // base_url says 127.0.0.1: the browser could not reach an IdP on 127.0.0.2.
    let (code, out, err) = fakta_test(dir.path(), &file, &["--listen-ip", "127.0.0.2", "L0"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("does not lead to 127.0.0.2, where --listen-ip puts the IdP"),
        "{err}"
    );
    // With base_url on 127.0.0.2 (another loopback address), the trials run there.
    let text = std::fs::read_to_string(&file).unwrap();
    let idp_port = text
        .split("base_url: http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .to_owned();
    std::fs::write(
        &file,
        text.replace(
            &format!("127.0.0.1:{idp_port}"),
            &format!("127.0.0.2:{idp_port}"),
        ),
    )
    .unwrap();
    let (code, out, err) = fakta_test(dir.path(), &file, &["--listen-ip", "127.0.0.2", "L0"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !err.contains("warning"),
        "a loopback address needs no warning: {err}"
    );
    // An address that is not loopback is warned about (here it is not even this machine's).
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("127.0.0.2:", "192.0.2.1:"),
    )
    .unwrap();
    let (code, _, err) = fakta_test(dir.path(), &file, &["--listen-ip", "192.0.2.1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("warning: the IdP listens on 192.0.2.1"),
        "{err}"
    );
    assert!(err.contains("cannot listen on 192.0.2.1:"), "{err}");
}

#[test]
fn an_sp_that_never_listens_is_given_up_after_sp_wait() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "echo $$ > pgid.txt; echo 'warming up the JVM'; sleep 30";
    let started = std::time::Instant::now();
    let ((file, _), (code, out, err)) = pack_and_test(dir.path(), Some(cmd), &["--sp-wait", "1"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up late: {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("does not listen at 127.0.0.1:")
            && err.contains("after 1 s (more with --sp-wait)"),
        "{err}"
    );
    assert!(
        err.contains("warming up the JVM"),
        "the last output is shown: {err}"
    );
    // The command given up on is stopped, its whole process group (the `sleep` too).
    let groups = pgids(dir.path(), "pgid.txt");
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert!(
        process_group_gone(groups[0]),
        "the SP's process group {} is still there",
        groups[0]
    );
    let (code, _, err) = fakta_test(dir.path(), &file, &["--sp-wait", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--sp-wait"), "{err}");
}

#[test]
fn with_nocapture_the_sp_output_goes_to_stderr_instead_of_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("echo 'sp says hello'; exec '{BIN}' --certs certs sp qovery-oidc.yaml");
    let (_, (code, out, err)) = pack_and_test(dir.path(), Some(&cmd), &["--nocapture", "L0"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("output below, on stderr"), "{err}");
    assert!(err.contains("sp says hello"), "{err}");
    assert!(
        !out.contains("sp says hello"),
        "stdout stays libtest's: {out}"
    );
    let logs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("fakta-sp-"))
        .count();
    assert_eq!(logs, 0, "no log file");
}

/// The app's audience in the connection file is not the SP's entity id (a typo in a customer's
/// file): the honest login fails, and no fault trial may read ok — each says it cannot judge.
#[test]
fn a_wrong_audience_fails_the_honest_login_and_no_fault_trial_reads_ok() {
    let dir = tempfile::tempdir().unwrap();
    let (idp, sp) = (free_port(), free_port());
    let honest = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    // The SP is started from the right file; fakta's IdP gets the wrong audience.
    std::fs::write(dir.path().join("sp.yaml"), &honest).unwrap();
    let wrong = honest
        .replace(
            "audience: urn:auth0:qovery:acme ",
            "audience: urn:auth0:qovery:acme-typo ",
        )
        .replace(
            "target:\n",
            &format!("target:\n  start: \"exec '{BIN}' --certs certs sp sp.yaml\"\n"),
        );
    assert_ne!(wrong, honest);
    let file = dir.path().join("qovery-saml.yaml");
    std::fs::write(&file, wrong).unwrap();
    let (code, out, err) = fakta_test(dir.path(), &file, &["--attacks"]);
    assert_eq!(code, 101, "{out}\n{err}");
    let ok: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
        .collect();
    // Only trials that need no login at all may pass.
    assert!(ok.is_empty(), "nothing may read ok: {ok:#?}");
    assert!(
        line(&out, "qovery-saml::L0_honest_login").ends_with("FAILED"),
        "{out}"
    );
    let sections = out.split("\n---- ").skip(1);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for s in sections {
        let name = s.split(" ----").next().unwrap();
        let kind = s.lines().nth(1).unwrap_or("").to_owned();
        if name.contains("_refused") || name.contains("_ignored") {
            assert_eq!(kind, "kind: cannot-judge", "{name}: {s}");
        }
        *kinds.entry(kind).or_default() += 1;
    }
    assert!(kinds.contains_key("kind: cannot-judge"), "{kinds:?}");
}

/// S1 "signed Response, unsigned Assertion" is a fault only for an SP that requires signed
/// assertions: without `target.requires_signed_assertions` it is ignored (with the reason), and
/// an SP that accepts such a Response passes; with it, the same SP fails that trial alone.
#[test]
fn s1_unsigned_assertion_is_judged_only_when_the_sp_requires_signed_assertions() {
    const S1B: &str = "qovery-saml::S1_assertion_unsigned_in_signed_response_refused";
    for requires in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (idp, sp) = (free_port(), free_port());
        let yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
            .unwrap()
            .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
            .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"))
            .replace(
                "requires_signed_assertions: true",
                &format!("requires_signed_assertions: {requires}"),
            )
            .replace(
                "target:\n",
                &format!(
                    "target:\n  start: \"exec '{BIN}' --certs certs sp qovery-saml.yaml --flaw unsigned-assertion\"\n"
                ),
            );
        assert!(yaml.contains(&format!("requires_signed_assertions: {requires}")));
        let file = dir.path().join("qovery-saml.yaml");
        std::fs::write(&file, yaml).unwrap();
        let (code, out, err) = fakta_test(dir.path(), &file, &["S1_"]);
        if requires {
            assert_eq!(code, 101, "{out}\n{err}");
            assert_eq!(failed(&out), vec![S1B], "{out}");
        } else {
            assert_eq!(code, 0, "{out}\n{err}");
            assert!(
                line(&out, S1B).contains(
                    "ignored (the file does not say that the SP requires signed assertions"
                ),
                "{}",
                line(&out, S1B)
            );
        }
    }
}

/// A file that reads no identity from the session cannot tell "accepted, not fooled" from
/// "fooled": a session after a wrapping forgery fails the trial, and the run says which trials
/// it could not tell (and `--list --format json` gives them a caveat).
#[test]
fn without_identity_readers_wrapping_trials_say_they_cannot_tell() {
    const S16: &str = "qovery-saml::S16_xsw3_evil_assertion_before_the_signed_one_refused";
    let dir = tempfile::tempdir().unwrap();
    let (idp, sp) = (free_port(), free_port());
    let full = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    // The SP reads its own settings from the full file; the tested file reads no identity.
    std::fs::write(dir.path().join("sp.yaml"), &full).unwrap();
    let blind = full
        .replace("      email: { json: /email }\n", "")
        .replace("      subject: { json: /subject }\n", "")
        .replace(
            "target:\n",
            &format!(
                "target:\n  start: \"exec '{BIN}' --certs certs sp sp.yaml --flaw keep-signed-assertion\"\n"
            ),
        );
    assert!(!blind.contains("json: /email"));
    let file = dir.path().join("qovery-saml.yaml");
    std::fs::write(&file, blind).unwrap();
    let (code, out, err) = fakta_test(dir.path(), &file, &["--exact", S16]);
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(failed(&out), vec![S16]);
    assert!(
        out.contains("so fakta cannot tell whether the SP kept the signed"),
        "{out}"
    );
    assert!(
        out.contains("cannot tell \"accepted, not fooled\" from \"fooled\" (1):"),
        "{out}"
    );
    let (code, json, _) = fakta_test(dir.path(), &file, &["--list", "--format", "json", S16]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["trials"][0]["name"], S16);
    assert!(
        doc["trials"][0]["caveat"]
            .as_str()
            .is_some_and(|c| c.contains("reads no identity")),
        "{json}"
    );
}
