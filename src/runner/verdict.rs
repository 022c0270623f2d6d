//! What a trial's result means: a typed failure (who did what wrong), or a pass with the notes
//! that qualify it ("accepted, not fooled", "refused with a server error").

use std::fmt;

/// Why a trial failed. Printed in the failure's first line, the summary and JUnit, so that a
/// user (and the project's own flaw table) can tell an SP's fault from fakta's or the file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::VariantArray)]
pub enum FailureKind {
    /// The SP accepted what its spec says it must refuse: a forged login started a session (or
    /// one carrying the forged identity), a faulty revocation or logout took effect.
    SpAccepted,
    /// The SP refused what it must accept: the honest login, an honest revocation or logout.
    SpRefused,
    /// The SP decided, but not as the connection says: another role, identity or session state.
    WrongOutcome,
    /// The SP answered a server error (5xx) where it had to accept or refuse cleanly.
    SpCrashed,
    /// The honest twin of this trial fails, so a refusal here proves nothing.
    CannotJudge,
    /// The SP could not be reached, did not answer in time (a request, the trial, the run's
    /// budget), or sent more than the runner reads.
    Transport,
    /// The trial could not run as designed: the file, fakta, a forgery that did not apply, or
    /// the run's budget gone before it started.
    Setup,
}

impl FailureKind {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::SpAccepted => "sp-accepted",
            FailureKind::SpRefused => "sp-refused",
            FailureKind::WrongOutcome => "wrong-outcome",
            FailureKind::SpCrashed => "sp-crashed",
            FailureKind::CannotJudge => "cannot-judge",
            FailureKind::Transport => "transport",
            FailureKind::Setup => "setup",
        }
    }

    /// What the kind means, in one sentence (the report's legend).
    pub fn meaning(self) -> &'static str {
        match self {
            FailureKind::SpAccepted => {
                "the SP accepted what its spec says it must refuse (a forged login, revocation or logout)"
            }
            FailureKind::SpRefused => {
                "the SP refused what it must accept (the honest login, revocation or logout)"
            }
            FailureKind::WrongOutcome => {
                "the SP decided, but not as the connection says (role, identity or session state)"
            }
            FailureKind::SpCrashed => {
                "the SP answered a server error where it had to accept or refuse cleanly"
            }
            FailureKind::CannotJudge => {
                "the honest twin of this trial fails, so a refusal here proves nothing"
            }
            FailureKind::Transport => {
                "the SP could not be reached, did not answer in time, or sent too much"
            }
            FailureKind::Setup => {
                "the trial could not run as designed (the file, fakta, or the run's time limit)"
            }
        }
    }

    /// Whether the failure is the SP's doing (as opposed to the run's).
    pub fn blames_the_sp(self) -> bool {
        matches!(
            self,
            FailureKind::SpAccepted
                | FailureKind::SpRefused
                | FailureKind::WrongOutcome
                | FailureKind::SpCrashed
        )
    }

    /// Reads the kind back from a failure's first line (`kind: sp-accepted`).
    pub fn from_first_line(line: &str) -> Option<FailureKind> {
        let name = line.trim().strip_prefix("kind: ")?;
        let name = name.split_whitespace().next()?;
        FailureKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Most bytes a failure's transcript keeps: what the SP sent is in it (pages, URLs, SAML
/// messages), and an SP must not be able to make a report huge. fakta's own documents make
/// transcripts of a few tens of KiB at most.
pub const MAX_TRANSCRIPT_BYTES: usize = 256 * 1024;

/// A value read from the SP's session at an `expect` step (`target.session.read`), as the
/// report's role matrix shows it; `None` when the reader found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The reader's name (`role`, `email`, ...).
    pub name: String,
    pub value: Option<String>,
}

/// A failed trial: its kind and the transcript that explains it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub transcript: String,
    /// The values read from the session before the trial failed (the last one may be why).
    pub observed: Vec<Observation>,
}

impl Failure {
    /// A failure; its text is redacted and cut to [`MAX_TRANSCRIPT_BYTES`] here, the one door
    /// to libtest's output and JUnit.
    pub fn new(kind: FailureKind, transcript: impl Into<String>) -> Failure {
        let mut transcript = transcript.into();
        if transcript.len() > MAX_TRANSCRIPT_BYTES {
            // Cut before redacting (the regexes then see a bounded text), on a character
            // boundary; a value cut in two is still redacted by the rules that match a prefix.
            let mut end = MAX_TRANSCRIPT_BYTES;
            while !transcript.is_char_boundary(end) {
                end -= 1;
            }
            let total = transcript.len();
            transcript.truncate(end);
            transcript.push_str(&format!(
                "\n[transcript cut: {total} bytes, only the first {end} kept]"
            ));
        }
        Failure {
            kind,
            transcript: super::transcript::redact(&transcript),
            observed: Vec::new(),
        }
    }

    /// The failure with the values read from the session so far.
    pub fn with_observed(mut self, observed: Vec<Observation>) -> Failure {
        self.observed = observed;
        self
    }

    /// The text libtest prints for the failure: the kind first, then the transcript.
    pub fn render(&self) -> String {
        format!("kind: {}\n{}", self.kind, self.transcript)
    }
}

/// How a trial that did not fail ended.
#[derive(Debug, Clone, Default)]
pub struct Passed {
    /// What qualifies the pass (shown in the run's notes and in JUnit).
    pub notes: Vec<String>,
    /// Set when the check could not run on this SP (shown as ignored, with the reason).
    pub not_run: Option<String>,
    /// The values read from the session, in the order of the `expect` steps.
    pub observed: Vec<Observation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_rendered_first_line() {
        for k in FailureKind::ALL {
            let rendered = Failure::new(*k, "trial x").render();
            let first = rendered.lines().next().unwrap();
            assert_eq!(FailureKind::from_first_line(first), Some(*k), "{first}");
        }
        assert_eq!(FailureKind::from_first_line("kind: nonsense"), None);
        assert_eq!(FailureKind::from_first_line("trial x"), None);
    }

    #[test]
    fn a_huge_transcript_is_cut_with_a_mark_and_stays_redacted() {
        let huge = format!(
            "trial x\n{}\nAuthorization: Bearer SECRET1\n{}",
            "é".repeat(MAX_TRANSCRIPT_BYTES / 4),
            "y".repeat(4 * MAX_TRANSCRIPT_BYTES)
        );
        let f = Failure::new(FailureKind::Transport, huge.clone());
        assert!(f.transcript.len() < MAX_TRANSCRIPT_BYTES + 200);
        assert!(f.transcript.starts_with("trial x\n"));
        assert!(
            f.transcript.ends_with(&format!(
                "[transcript cut: {} bytes, only the first {MAX_TRANSCRIPT_BYTES} kept]",
                huge.len()
            )),
            "{}",
            &f.transcript[f.transcript.len() - 100..]
        );
        assert!(!f.transcript.contains("SECRET1"));
        // A short one is kept whole.
        assert_eq!(
            Failure::new(FailureKind::Setup, "short").transcript,
            "short"
        );
    }
}
