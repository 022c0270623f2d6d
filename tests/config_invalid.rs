//! The corpus of invalid connection files in `tests/invalid/`: every file there is loaded and
//! its full diagnostics are snapshotted (`tests/snapshots/config_invalid__<stem>.snap`), so a
//! change in any message shows up in review. A new file in the folder is picked up on its own.
//!
//! Files named `lint_*` must load with warnings only; every other file must have errors.
//! Accept new or changed snapshots with `INSTA_UPDATE=always cargo test --test config_invalid`
//! and read them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

/// What `fakta check` prints for a file of the corpus (also what is snapshotted).
fn rendered(file: &Path, diags: &Diagnostics) -> String {
    format!(
        "{diags}{}: {} error(s), {} warning(s)\n",
        file.display(),
        diags.errors().count(),
        diags.warnings().count()
    )
}

/// What a file's header comment promises about the output: fragments that must appear (from
/// `fakta must say:` and `fakta must warn:` lines) and fragments that must not (`fakta must not
/// say:`). A fragment is text in double quotes, or in backticks outside double quotes.
#[derive(Debug, Default, PartialEq)]
struct Promise {
    lines: usize,
    must: Vec<String>,
    must_not: Vec<String>,
}

fn promise(header: &str) -> Promise {
    let mut p = Promise::default();
    for line in header.lines().take_while(|l| l.starts_with('#')) {
        let (negative, text) = if let Some((_, t)) = line.split_once("fakta must not say:") {
            (true, t)
        } else if let Some((_, t)) = line
            .split_once("fakta must say:")
            .or_else(|| line.split_once("fakta must warn:"))
        {
            (false, t)
        } else {
            continue;
        };
        p.lines += 1;
        let list = if negative {
            &mut p.must_not
        } else {
            &mut p.must
        };
        // Odd-numbered parts are quoted; an unclosed quote quotes nothing.
        let quoted = text.split('"').collect::<Vec<_>>();
        for (i, part) in quoted.iter().enumerate() {
            if i % 2 == 1 && i + 1 < quoted.len() {
                list.push((*part).to_owned());
            } else if i % 2 == 0 {
                let words = part.split('`').collect::<Vec<_>>();
                for w in (1..words.len().saturating_sub(1)).step_by(2) {
                    list.push(format!("`{}`", words[w]));
                }
            }
        }
    }
    p
}

#[test]
fn promise_fragments_are_quoted_text_and_backticked_words() {
    let p = promise(
        "# Wrong: `x` is not checked here.\n# fakta must say: \"unknown key `a`\" and `b`, not `c\n# fakta must not say: \"missing key\"\nidp: # fakta must say: \"z\"\n",
    );
    assert_eq!(
        p,
        Promise {
            lines: 2,
            must: vec!["unknown key `a`".into(), "`b`".into()],
            must_not: vec!["missing key".into()],
        }
    );
}

/// Every file's header says what fakta must print, with at least one fragment to look for, and
/// the output holds every fragment promised (and none of those it must not say).
#[test]
fn every_file_says_what_its_header_promises() {
    let mut failures = Vec::new();
    for file in corpus() {
        let name = stem(&file);
        let header = String::from_utf8_lossy(&std::fs::read(&file).expect("readable")).into_owned();
        let p = promise(&header);
        if p.must.is_empty() {
            failures.push(format!(
                "{name}: no `# fakta must say:` (or `must warn:`) line with a quoted fragment"
            ));
        }
        let out = rendered(&file, &diagnostics(&file));
        for f in p.must.iter().filter(|f| !out.contains(f.as_str())) {
            failures.push(format!("{name}: promised {f:?}, not in:\n{out}"));
        }
        for f in p.must_not.iter().filter(|f| out.contains(f.as_str())) {
            failures.push(format!("{name}: must not say {f:?}, but does:\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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

        let rendered = rendered(&file, &diags);
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
    let (code, stdout, _) = common::run_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_fakta"))
            .arg("check")
            .args(args),
        Duration::from_secs(60),
    );
    assert_ne!(code, -1, "fakta check was killed by a signal");
    (code, stdout)
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

/// YAML allows a byte order mark before the document: a BOM-prefixed copy of a shipped file
/// checks clean, and positions on the first line are counted without the (invisible) BOM.
#[test]
fn a_byte_order_mark_is_accepted_and_not_counted_in_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string("scenarios/qovery-saml.yaml").expect("shipped file");
    let clean = dir.path().join("qovery-saml-bom.yaml");
    std::fs::write(&clean, format!("\u{feff}{text}")).expect("write");
    let (code, out) = fakta_check(&[clean.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with(": 0 error(s), 0 warning(s)\n"), "{out}");

    let broken = dir.path().join("bom-unknown-key.yaml");
    std::fs::write(&broken, format!("\u{feff}version: 1\n{text}")).expect("write");
    let diags = diagnostics(&broken);
    let first = diags.0.first().expect("a diagnostic");
    assert_eq!(
        (first.line, first.column, first.path.as_str()),
        (1, 1, "version"),
        "{diags}"
    );
}
