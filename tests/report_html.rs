//! `fakta test --report FILE`: the report to hand over. One pack runs against `fakta sp` with a
//! flaw (so that there are failures), from a connection file whose names and groups carry
//! markup; the report is read twice: parsed with `scraper` (the counts, the role matrix, a
//! failure with its rule and transcript, escaping, no external asset), then loaded in headless
//! Chromium, whose DOM is what a person sees (and a screenshot is kept for review).

mod common;
use common::{free_port, retry_on_addr_in_use, run_with_deadline};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scraper::{ElementRef, Html, Selector};

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The longest the pack may take (no attack pack, a debug build).
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// The longest Chromium may take to load and dump a local file.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);
const CHROMIUM: &str = "/usr/bin/chromium";

/// A display name and a group that would run as script if the report did not escape them.
const EVIL_NAME: &str = "<script>document.title='pwned-name'</script>";
const EVIL_GROUP: &str = "Eng<script>document.title='pwned-group'</script>";

/// The shipped SAML pack on free ports, without the attack pack (time), with markup in a
/// display name and in a group that the filter drops, and `fakta sp --flaw ignore-groups` as
/// its SP (started by fakta from the honest copy of the file).
fn pack(dir: &Path) -> PathBuf {
    let (idp, sp) = (free_port(), free_port());
    let yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"))
        .replace("  attacks: true", "  attacks: false")
        .replace(
            "name: \"O'Brien & <Sons>\"",
            &format!("name: {}", serde_json::to_string(EVIL_NAME).unwrap()),
        )
        .replace(
            "groups: [Qovery-Admins, Eng] }",
            &format!(
                "groups: [Qovery-Admins, {}] }}",
                serde_json::to_string(EVIL_GROUP).unwrap()
            ),
        );
    assert!(yaml.contains("pwned-name") && yaml.contains("pwned-group"));
    std::fs::write(dir.join("sp.yaml"), &yaml).unwrap();
    let file = dir.join("qovery-saml.yaml");
    let with_start = yaml.replace(
        "target:\n",
        &format!(
            "target:\n  start: \"exec '{BIN}' --certs certs sp --flaw ignore-groups sp.yaml\"\n"
        ),
    );
    std::fs::write(&file, with_start).unwrap();
    file
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
            .env("TMPDIR", dir),
        RUN_DEADLINE,
    )
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text(e: ElementRef<'_>) -> String {
    e.text().collect::<String>()
}

/// The cells of the table row whose first cell is `first` in the table `table`.
fn row(doc: &Html, table: &str, first: &str) -> Vec<String> {
    let rows = sel(&format!("{table} tr"));
    let cell = sel("td, th");
    doc.select(&rows)
        .map(|r| {
            r.select(&cell)
                .map(|c| text(c).trim().to_owned())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row `{first}` in {table}:\n{}", doc.html()))
}

/// libtest's "N passed; N failed; N ignored" from the run's last result line.
fn libtest_counts(stdout: &str) -> (usize, usize, usize) {
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no result line:\n{stdout}"));
    let n = |what: &str| -> usize {
        let before = line.split(&format!(" {what}")).next().unwrap();
        before.rsplit(' ').next().unwrap().parse().unwrap()
    };
    (n("passed"), n("failed"), n("ignored"))
}

#[test]
fn the_report_shows_counts_roles_failures_and_settings_escaped_and_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let report_arg = report.to_str().unwrap().to_owned();
    let (_, (code, out, err)) = retry_on_addr_in_use(|| {
        let file = pack(dir.path());
        let ran = fakta_test(dir.path(), &file, &["--report", &report_arg]);
        ((), ran)
    });
    assert_eq!(code, 101, "the flaw must fail trials:\n{out}\n{err}");
    let html = std::fs::read_to_string(&report).expect("the report is written");
    let doc = Html::parse_document(&html);

    // The summary: the same counts as libtest's.
    let (passed, failed, ignored) = libtest_counts(&out);
    assert!(failed > 0);
    let total = row(&doc, "#totals", "all packs");
    assert_eq!(
        total[2..],
        [
            (passed + failed + ignored).to_string(),
            passed.to_string(),
            failed.to_string(),
            ignored.to_string()
        ],
        "{total:?}"
    );
    let overall = text(doc.select(&sel("#overall")).next().unwrap());
    assert_eq!(
        overall,
        format!(
            "FAILED: {failed} of {} trials failed",
            passed + failed + ignored
        )
    );
    // Per category: the roles of this pack fail (the flaw), its revocation trials pass.
    let cats: Vec<Vec<String>> = doc
        .select(&sel("#totals tr.category"))
        .map(|r| r.select(&sel("td")).map(|c| text(c)).collect())
        .collect();
    let cat = |name: &str| {
        cats.iter()
            .find(|c| c[1] == name)
            .unwrap_or_else(|| panic!("no category {name}: {cats:?}"))
            .clone()
    };
    assert_ne!(cat("roles")[4], "0", "{cats:?}");
    assert_eq!(cat("revocation")[4], "0", "{cats:?}");
    assert_eq!(
        row(&doc, "#kinds", "wrong-outcome")[1],
        failed.to_string(),
        "every failure of this flaw is a wrong outcome"
    );

    // The role matrix: user, groups at the IdP, groups sent, expected and observed role.
    let r1 = row(&doc, "#roles-qovery-saml", "R1_admin_from_Qovery_Admins");
    assert_eq!(
        r1[1..],
        [
            "FAILED",
            "00u1alice (alice@acme.test)",
            "Qovery-Admins",
            "sent: Qovery-Admins",
            "admin",
            "viewer"
        ],
        "{r1:?}"
    );
    // The honest login: the base user's groups, the markup-laden one dropped by the filter.
    let l0 = row(&doc, "#roles-qovery-saml", "L0_honest_login");
    assert_eq!(l0[3], format!("Qovery-Admins, {EVIL_GROUP}"), "{l0:?}");
    assert_eq!(
        l0[4],
        format!("sent: Qovery-Admins; dropped: {EVIL_GROUP}"),
        "{l0:?}"
    );
    // A passing row: observed as expected.
    let r2 = row(&doc, "#roles-qovery-saml", "R2_no_mapping");
    assert_eq!(r2[1], "ok", "{r2:?}");
    assert_eq!(r2[5..], ["viewer", "viewer"], "{r2:?}");

    // A failure with its rule and its transcript.
    let failure = doc
        .select(&sel("div.failure"))
        .find(|d| text(*d).contains("qovery-saml::R1_admin_from_Qovery_Admins"))
        .unwrap_or_else(|| panic!("no failure for R1:\n{html}"));
    let ftext = text(failure);
    let rule = fakta::catalogue::for_trial("qovery-saml::R1_admin_from_Qovery_Admins").unwrap();
    assert!(ftext.contains("wrong-outcome"), "{ftext}");
    assert!(ftext.contains(rule.rule), "{ftext}");
    let transcript = text(failure.select(&sel("pre.transcript")).next().unwrap());
    assert!(transcript.contains("expected role = admin"), "{transcript}");
    assert!(
        transcript.contains("observed role = viewer"),
        "{transcript}"
    );
    // The decoded Response is in it.
    assert!(transcript.contains("saml2p:Response"), "{transcript}");

    // The connection's settings, as the Sign On tab has them.
    let sso = row(&doc, "#app-qovery-saml-qovery", "Identity Provider Issuer");
    assert_eq!(sso[1], "http://www.okta.com/qovery");
    assert!(html.contains("-----BEGIN CERTIFICATE-----"));
    assert!(!html.contains("PRIVATE KEY"), "a key is in the report");

    // Escaped throughout: the markup is text, never an element.
    assert_eq!(doc.select(&sel("script")).count(), 0, "a script element");
    let users = text(doc.select(&sel("#users-qovery-saml")).next().unwrap());
    assert!(users.contains(EVIL_NAME), "{users}");
    assert!(!html.contains("<script"), "unescaped markup in the report");
    // Self-contained: nothing is loaded or linked from anywhere.
    let external = regex::Regex::new(r#"(?i)\b(src|href)\s*=\s*["']?\s*(https?:)?//"#).unwrap();
    assert!(
        !external.is_match(&html),
        "an external reference: {:?}",
        external.find(&html)
    );
    assert!(!html.contains("<link") && !html.contains("<img") && !html.contains("@import"));

    // What a person sees: Chromium's DOM after loading the file.
    let dom = chromium(dir.path(), &report);
    let seen = Html::parse_document(&dom);
    assert_eq!(
        text(seen.select(&sel("title")).next().unwrap()),
        "fakta conformance report",
        "the title changed: a script ran"
    );
    assert_eq!(seen.select(&sel("script")).count(), 0);
    let body = text(seen.select(&sel("body")).next().unwrap());
    for needle in [
        format!(
            "FAILED: {failed} of {} trials failed",
            passed + failed + ignored
        ),
        "Role matrix".to_owned(),
        "The connection's settings".to_owned(),
        "Identity Provider Single Sign-On URL".to_owned(),
        EVIL_NAME.to_owned(),
        EVIL_GROUP.to_owned(),
        rule.rule.to_owned(),
        "observed role = viewer".to_owned(),
    ] {
        assert!(body.contains(&needle), "not on the page: {needle}\n{body}");
    }
}

/// Loads `file` in headless Chromium: returns its DOM, and saves a screenshot as
/// target/report.png. Fails with the Debian package to install when Chromium is absent.
fn chromium(dir: &Path, file: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package `chromium` (scripts/setup-deps does)"
    );
    let url = format!("file://{}", file.display());
    let run = |extra: &[String], profile: &str| {
        run_with_deadline(
            Command::new(CHROMIUM)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ])
                .arg(format!("--user-data-dir={}", dir.join(profile).display()))
                .args(extra)
                .arg(&url),
            CHROMIUM_DEADLINE,
        )
    };
    let (code, dom, err) = run(&["--dump-dom".to_owned()], "chromium-dom");
    assert_eq!(code, 0, "chromium --dump-dom failed:\n{err}");
    let png = Path::new(ROOT).join("target/report.png");
    let (code, _, err) = run(
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_owned(),
        ],
        "chromium-shot",
    );
    assert_eq!(code, 0, "chromium --screenshot failed:\n{err}");
    assert!(png.exists(), "no screenshot at {}", png.display());
    dom
}

/// A path that cannot be written is refused before any trial runs.
#[test]
fn a_report_path_that_is_a_directory_fails_before_the_trials() {
    let dir = tempfile::tempdir().unwrap();
    let file = pack(dir.path());
    let started = std::time::Instant::now();
    let (code, out, err) = fakta_test(
        dir.path(),
        &file,
        &["--report", dir.path().to_str().unwrap()],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("is a directory"), "{err}");
    assert!(!out.contains("running"), "trials ran:\n{out}");
    let missing = dir.path().join("no-such-dir").join("r.html");
    let (code, out, err) = fakta_test(dir.path(), &file, &["--report", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("cannot write the report") && err.contains("no-such-dir"),
        "{err}"
    );
    assert!(!out.contains("running"), "trials ran:\n{out}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
