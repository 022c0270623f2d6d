//! The whole demo in headless Chromium: `fakta demo --browser chromium` gives every trial the
//! verdict `fakta demo` gives it over HTTP (the same passes, the same ignored trials with the
//! same reasons, no failure). A file of its own, so that it runs alone: it takes minutes of
//! real page loads, and other browser tests beside it would only slow both.

mod common;

use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

fn demo(extra: &[&str], certs: &std::path::Path) -> common::Ran {
    common::run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(certs)
            .arg("demo")
            .args(extra)
            .env_remove("FAKTA_LOG"),
        Duration::from_secs(900),
    )
}

/// The lines `test NAME ... VERDICT` of a run, as (name, verdict), sorted.
fn verdicts(out: &str) -> Vec<(String, String)> {
    let mut v = common::trial_verdicts(out);
    v.sort();
    v
}

#[test]
fn the_whole_demo_passes_in_chromium_as_over_http() {
    let certs = tempfile::tempdir().unwrap();
    let (code, http, err) = demo(&[], certs.path());
    assert_eq!(code, 0, "over HTTP:\n{http}\n{err}");
    let (code, chromium, err) = demo(&["--browser", "chromium"], certs.path());
    assert_eq!(code, 0, "in Chromium:\n{chromium}\n{err}");
    let (http_v, chromium_v) = (verdicts(&http), verdicts(&chromium));
    assert!(http_v.len() > 200, "{http}");
    assert!(
        http_v
            .iter()
            .all(|(_, v)| v == "ok" || v.starts_with("ignored (")),
        "{http}"
    );
    let differ: Vec<_> = http_v
        .iter()
        .zip(&chromium_v)
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(http_v.len(), chromium_v.len(), "{chromium}");
    assert!(differ.is_empty(), "HTTP vs Chromium: {differ:#?}");
}
