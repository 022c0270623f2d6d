//! The conformance suite from Rust: [`Suite`] runs the trials of a connection file against its
//! target SP, as `fakta test` does, and returns how each trial ended ([`SuiteResults`]) for a
//! test to assert on.

use std::path::Path;

use crate::config::{self, Connection, Diagnostics};
use crate::mock::Error;
use crate::runner::{self, Options, Pack};

pub use crate::runner::verdict::FailureKind;

/// The trials of connection files, run against their targets (the SP at `target.login_url`,
/// started first by the test or by `target.start`), or against fakta's reference SP.
///
/// ```no_run
/// # async fn demo() -> Result<(), fakta::Error> {
/// let results = fakta::Suite::from_file("sso/connection.yaml")?.run().await?;
/// for t in results.failed() {
///     eprintln!("{}: {:?}\n{}", t.id, t.verdict, t.transcript.as_deref().unwrap_or(""));
/// }
/// assert!(results.all_passed());
/// # Ok(()) }
/// ```
/// (It needs an SP to test; `tests/library.rs` runs one.)
#[derive(Debug)]
pub struct Suite {
    packs: Vec<Pack>,
    options: Options,
    reference_sp: Option<crate::refsp::Flaws>,
}

impl Suite {
    /// The trials of one connection file, checked as `fakta check` does (errors are
    /// [`Error::Invalid`]). The IdP listens at the file's `base_url`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Suite, Error> {
        let path = path.as_ref();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pack".into());
        let conn = checked(config::load_file(path))?;
        Ok(Suite::of(name, conn))
    }

    /// [`from_file`](Self::from_file) for the text of a connection file named `name` (the pack
    /// name in trial ids); relative paths in it resolve from the current directory.
    pub fn from_yaml(yaml: &str, name: &str) -> Result<Suite, Error> {
        let conn = checked(config::load_str(yaml, name, Path::new(".")))?;
        Ok(Suite::of(name.to_owned(), conn))
    }

    fn of(name: String, conn: Connection) -> Suite {
        Suite {
            packs: vec![Pack {
                name,
                conn,
                bound: None,
            }],
            options: Options {
                // libtest's one-line-per-trial output; failures are in the results.
                quiet: true,
                ..Options::default()
            },
            reference_sp: None,
        }
    }

    /// Runs only the trials whose id contains `filter` (as `cargo test FILTER`).
    pub fn filter(mut self, filter: impl Into<String>) -> Suite {
        self.options.filter = Some(filter.into());
        self
    }

    /// Runs the attack pack too (`fakta test --attacks`).
    pub fn attacks(mut self) -> Suite {
        self.options.attacks = true;
        self
    }

    /// Runs at most `n` trials at once.
    pub fn test_threads(mut self, n: usize) -> Suite {
        self.options.test_threads = Some(n);
        self
    }

    /// Tests fakta's strict reference SP, run in-process on the ports of the file's `target`
    /// (as `fakta demo` does), instead of an SP of yours: to try the suite out.
    pub fn against_reference_sp(mut self) -> Suite {
        self.reference_sp = Some(crate::refsp::Flaws::default());
        self
    }

    /// [`against_reference_sp`](Self::against_reference_sp) with deliberate flaws (`fakta sp
    /// --list-flaws`), for fakta's own tests.
    #[doc(hidden)]
    pub fn against_flawed_reference_sp(mut self, flaws: crate::refsp::Flaws) -> Suite {
        self.reference_sp = Some(flaws);
        self
    }

    /// Runs the trials (on a blocking thread: the runner has its own runtime) and returns how
    /// each ended.
    pub async fn run(self) -> Result<SuiteResults, Error> {
        tokio::task::spawn_blocking(move || self.run_blocking())
            .await
            .map_err(|e| Error::Aborted(e.to_string()))?
    }

    /// [`run`](Self::run) for a test without an async runtime. Not from inside one: the
    /// runner starts its own.
    pub fn run_blocking(self) -> Result<SuiteResults, Error> {
        let keys = crate::mock::temporary_keys()?;
        // libtest's lines would go to the process's stdout, past the capture of the test that
        // runs the suite: they go to a file, then into the results.
        let log = tempfile::NamedTempFile::new().map_err(|e| Error::Read {
            path: std::env::temp_dir(),
            reason: format!("making a file for the run's output: {e}"),
        })?;
        let mut options = self.options;
        options.log = Some(log.path().to_path_buf());
        let (_, ended) =
            runner::report::run_and_collect(self.packs, keys, self.reference_sp, &options)?;
        let output = std::fs::read_to_string(log.path()).unwrap_or_default();
        let trials = ended
            .into_iter()
            .map(|e| {
                let (verdict, transcript) = match (e.failure, e.ignored) {
                    (Some(f), _) => (Verdict::Failed(f.kind), Some(f.transcript)),
                    (None, Some(reason)) => (Verdict::Ignored(reason), None),
                    (None, None) => (Verdict::Passed, None),
                };
                TrialResult {
                    id: e.name,
                    verdict,
                    transcript,
                    notes: e.notes,
                }
            })
            .collect();
        Ok(SuiteResults { trials, output })
    }
}

fn checked(loaded: Result<(Connection, Diagnostics), Diagnostics>) -> Result<Connection, Error> {
    loaded
        .map(|(conn, _warnings)| conn)
        .map_err(|diagnostics| Error::Invalid {
            file: diagnostics
                .0
                .first()
                .map(|d| d.file.clone())
                .unwrap_or_default(),
            diagnostics,
        })
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The check ran and the SP did what its spec requires.
    Passed,
    /// The trial failed; the kind says whose doing it was (README, "How to read a verdict").
    Failed(FailureKind),
    /// The trial did not run, with the reason (a check the file cannot support).
    Ignored(String),
}

/// One trial's result.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TrialResult {
    /// The trial id, e.g. `qovery-saml::L0_honest_login` (what `fakta test` prints).
    pub id: String,
    /// How it ended.
    pub verdict: Verdict,
    /// For a failure: what the runner saw, step by step (credentials redacted).
    pub transcript: Option<String>,
    /// What qualifies a pass ("accepted, not fooled").
    pub notes: Vec<String>,
}

/// The results of a [`Suite`] run, in the order the trials ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SuiteResults {
    /// Every trial that was selected.
    pub trials: Vec<TrialResult>,
    /// What `fakta test` would have printed: libtest's lines, each failure with its
    /// transcript, the summary.
    pub output: String,
}

impl SuiteResults {
    /// The trial with this id, or whose id ends with `::{id}`.
    pub fn get(&self, id: &str) -> Option<&TrialResult> {
        self.trials.iter().find(|t| t.id == id).or_else(|| {
            self.trials
                .iter()
                .find(|t| t.id.strip_suffix(id).is_some_and(|p| p.ends_with("::")))
        })
    }

    /// The failed trials.
    pub fn failed(&self) -> impl Iterator<Item = &TrialResult> {
        self.trials
            .iter()
            .filter(|t| matches!(t.verdict, Verdict::Failed(_)))
    }

    /// The trials that passed.
    pub fn passed(&self) -> impl Iterator<Item = &TrialResult> {
        self.trials.iter().filter(|t| t.verdict == Verdict::Passed)
    }

    /// Whether at least one trial ran and none failed.
    pub fn all_passed(&self) -> bool {
        self.passed().next().is_some() && self.failed().next().is_none()
    }
}
