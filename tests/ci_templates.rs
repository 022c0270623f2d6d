//! The CI templates in ci/ run as written: their commands are taken from the GitHub Actions and
//! GitLab CI files and run in a scratch project whose "SP" is `fakta sp` (the reference SP),
//! with the fakta binary under test; they pass against the strict SP and fail against a flawed
//! one, and write JUnit XML.

mod common;
use common::{free_port, retry_on_addr_in_use, run_with_deadline};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The shell lines of a template: GitHub `steps[].run`, GitLab `script`.
fn commands(template: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ci").join(template)).unwrap();
    let node = marked_yaml::parse_yaml(0, &text).unwrap();
    let mut out = Vec::new();
    fn walk(n: &marked_yaml::Node, out: &mut Vec<String>) {
        match n {
            marked_yaml::Node::Mapping(m) => {
                for (k, v) in m.iter() {
                    match (k.as_str(), v) {
                        ("run", marked_yaml::Node::Scalar(s)) => out.push(s.as_str().to_owned()),
                        ("script", marked_yaml::Node::Sequence(seq)) => out.extend(
                            seq.iter()
                                .filter_map(|x| x.as_scalar())
                                .map(|s| s.as_str().to_owned()),
                        ),
                        _ => walk(v, out),
                    }
                }
            }
            marked_yaml::Node::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
            marked_yaml::Node::Scalar(_) => {}
        }
    }
    walk(&node, &mut out);
    out
}

/// Runs a template's commands in a scratch project; returns (exit code, output, JUnit). Runs
/// again on other ports when one was taken between choosing it and binding it.
fn run_template(template: &str, flaw: Option<&str>) -> (i32, String, Option<String>) {
    run_template_with(template, flaw, &[])
}

/// As [`run_template`], with more environment (what a CI job's matrix would set).
fn run_template_with(
    template: &str,
    flaw: Option<&str>,
    env: &[(&str, &str)],
) -> (i32, String, Option<String>) {
    let (junit, (code, out, _)) = retry_on_addr_in_use(|| try_template(template, flaw, env));
    (code, out, junit)
}

/// One run of [`run_template_with`]: (JUnit, (exit code, output, output and the SP's log)).
fn try_template(
    template: &str,
    flaw: Option<&str>,
    env: &[(&str, &str)],
) -> (Option<String>, common::Ran) {
    let dir = tempfile::tempdir().unwrap();
    let (idp, sp) = (free_port(), free_port());
    let yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    std::fs::create_dir_all(dir.path().join("sso")).unwrap();
    std::fs::write(dir.path().join("sso/connection.yaml"), yaml).unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    let flaw_arg = flaw.map(|f| format!("--flaw {f}")).unwrap_or_default();
    std::fs::write(
        dir.path().join("scripts/start-sp-for-tests.sh"),
        format!("#!/usr/bin/env bash\nexec \"$FAKTA_BIN\" --certs certs sp sso/connection.yaml {flaw_arg} >sp.log 2>&1\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(ROOT, dir.path().join(".fakta")).unwrap();
    let lines: Vec<String> = commands(template)
        .into_iter()
        .filter(|l| !l.starts_with("git clone"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("ci/fakta-test.sh")),
        "{template}: {lines:?}"
    );
    let script = format!(
        "set -e\ntrap 'code=$?; kill $(jobs -p) 2>/dev/null; exit $code' EXIT\nchmod +x scripts/start-sp-for-tests.sh\n{}\n",
        lines.join("\n")
    );
    let (code, stdout, stderr) = run_with_deadline(
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("FAKTA_BIN", BIN)
            .env("FAKTA_CERTS", dir.path().join("certs"))
            .env("CONNECTION", "sso/connection.yaml")
            .envs(env.iter().copied()),
        Duration::from_secs(300),
    );
    let junit = std::fs::read_to_string(dir.path().join("fakta-junit.xml")).ok();
    let sp_log = std::fs::read_to_string(dir.path().join("sp.log")).unwrap_or_default();
    let out = format!("{stdout}{stderr}");
    (junit, (code, out.clone(), format!("{out}{sp_log}")))
}

#[test]
fn github_actions_template_passes_against_the_strict_sp() {
    let (code, out, junit) = run_template("github-actions.yml", None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("test result: ok."), "{out}");
    assert!(junit.unwrap().contains("testsuite name=\"connection\""));
}

/// The matrix of the GitHub template: each job runs its shard; the shards do not overlap.
#[test]
fn github_actions_shards_split_the_trials() {
    let names = |junit: &str| -> std::collections::BTreeSet<String> {
        junit
            .split("<testcase name=\"")
            .skip(1)
            .filter_map(|t| t.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let mut shards = Vec::new();
    for m in 1..=2 {
        let part = format!("count:{m}/2");
        let (code, out, junit) =
            run_template_with("github-actions.yml", None, &[("FAKTA_PARTITION", &part)]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&format!("partition {part}: this shard holds")),
            "{out}"
        );
        let got = names(&junit.unwrap());
        assert!(got.len() > 10, "{part}: {got:?}");
        shards.push(got);
    }
    assert!(shards[0].is_disjoint(&shards[1]), "{shards:#?}");
}

#[test]
fn gitlab_template_fails_against_a_flawed_sp_with_junit() {
    let (code, out, junit) = run_template("gitlab-ci.yml", Some("first-matching-group"));
    assert_eq!(code, 101, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("test connection::R4_precedence ") && l.ends_with("... FAILED")),
        "{out}"
    );
    assert!(junit.unwrap().contains("<failure"));
}

#[test]
fn the_plain_script_runs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_with_deadline(
        Command::new("bash")
            .arg(Path::new(ROOT).join("ci/fakta-test.sh"))
            .arg(dir.path().join("missing.yaml"))
            .env("FAKTA_BIN", BIN),
        Duration::from_secs(60),
    );
    assert_eq!(
        code, 2,
        "a missing file is an error, not a pass: {out}{err}"
    );
}
