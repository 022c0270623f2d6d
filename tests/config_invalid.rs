//! The corpus of invalid connection files in `tests/invalid/`: every file there is loaded and
//! its full diagnostics are snapshotted (`tests/snapshots/config_invalid__<stem>.snap`), so a
//! change in any message shows up in review. A new file in the folder is picked up on its own.
//!
//! Files named `lint_*` must load with warnings only; every other file must have errors.
//! Accept new or changed snapshots with `INSTA_UPDATE=always cargo test --test config_invalid`
//! and read them.

use std::path::{Path, PathBuf};
use std::process::Command;

use fakta::config::{self, Diagnostics};

const INVALID_DIR: &str = "tests/invalid";

/// The corpus, sorted, as paths relative to the crate root (cargo runs integration tests from
/// there), so the file names in the snapshots are stable.
fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(INVALID_DIR)
        .expect("tests/invalid exists (run from the crate root)")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| Path::new(INVALID_DIR).join(p.file_name().expect("file name")))
        .collect();
    files.sort();
    files
}

fn diagnostics(file: &Path) -> Diagnostics {
    match config::load_file(file) {
        Ok((_, warnings)) => warnings,
        Err(diags) => diags,
    }
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .expect("file stem")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn corpus_is_not_empty() {
    let files = corpus();
    assert!(
        files.len() >= 28,
        "expected at least 28 files in {INVALID_DIR}, found {}",
        files.len()
    );
}

#[test]
fn every_file_starts_with_a_comment_saying_what_is_wrong() {
    for file in corpus() {
        // Bytes, not text: one file of the corpus is deliberately not UTF-8.
        let bytes = std::fs::read(&file).expect("readable");
        assert!(
            bytes.starts_with(b"# "),
            "{}: the first line must be a YAML comment saying what is wrong",
            file.display()
        );
    }
}

#[test]
fn invalid_files_snapshots() {
    let mut failures = Vec::new();
    for file in corpus() {
        let name = stem(&file);
        let diags = diagnostics(&file);
        let errors = diags.errors().count();
        let warnings = diags.warnings().count();

        if diags.0.is_empty() {
            failures.push(format!("{name}: no diagnostic at all"));
        }
        if name.starts_with("lint_") {
            if errors != 0 || warnings == 0 {
                failures.push(format!(
                    "{name}: a lint_ file must have warnings and no errors; found {errors} error(s), {warnings} warning(s)"
                ));
            }
        } else if errors == 0 {
            failures.push(format!("{name}: expected at least one error, found none"));
        }
        if name == "many_errors_at_once" && errors < 5 {
            failures.push(format!(
                "{name}: expected at least 5 errors, found {errors}"
            ));
        }
        for d in &diags.0 {
            if d.line == 0 || d.column == 0 {
                failures.push(format!("{name}: diagnostic without a position: {d}"));
            }
            if d.file != file.display().to_string() {
                failures.push(format!("{name}: diagnostic names another file: {d}"));
            }
        }
        // Each finding is reported once.
        for (i, d) in diags.0.iter().enumerate() {
            if diags.0[..i].contains(d) {
                failures.push(format!("{name}: duplicated diagnostic: {d}"));
            }
        }

        let rendered = format!(
            "{diags}{}: {errors} error(s), {warnings} warning(s)\n",
            file.display()
        );
        insta::with_settings!({
            description => format!("fakta check {}", file.display()),
            omit_expression => true,
            prepend_module_to_snapshot => true,
        }, {
            insta::assert_snapshot!(name.as_str(), rendered);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn fakta_check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fakta"))
        .arg("check")
        .args(args)
        .output()
        .expect("run fakta");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().expect("exit code"), stdout)
}

#[test]
fn check_exit_codes() {
    let (code, out) = fakta_check(&["tests/invalid/unknown_top_level_key.yaml"]);
    assert_eq!(code, 2, "errors exit 2:\n{out}");
    assert!(
        out.contains("tests/invalid/unknown_top_level_key.yaml: 1 error(s), 0 warning(s)"),
        "{out}"
    );

    let (code, out) = fakta_check(&["scenarios/qovery-saml.yaml"]);
    assert_eq!(code, 0, "a valid file exits 0:\n{out}");
    assert!(
        out.contains("scenarios/qovery-saml.yaml: 0 error(s), 0 warning(s)"),
        "{out}"
    );

    let (code, out) = fakta_check(&["tests/invalid/lint_unreachable_mapping.yaml"]);
    assert_eq!(code, 0, "warnings alone exit 0:\n{out}");

    let (code, out) = fakta_check(&[
        "--deny-warnings",
        "tests/invalid/lint_unreachable_mapping.yaml",
    ]);
    assert_eq!(code, 1, "--deny-warnings with warnings exits 1:\n{out}");
    assert!(out.contains(": warning: "), "{out}");

    let (code, out) = fakta_check(&[
        "--deny-warnings",
        "scenarios/qovery-saml.yaml",
        "tests/invalid/unknown_top_level_key.yaml",
    ]);
    assert_eq!(code, 2, "errors in any file exit 2:\n{out}");
}
