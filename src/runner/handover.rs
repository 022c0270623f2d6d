//! The report to hand over (`fakta test --report FILE`, `fakta demo --report FILE`): one
//! self-contained HTML file for the people who own the SP. The run's results are gathered into
//! one serializable model ([`Report`]) and rendered with the template `templates/report.html`
//! (minijinja, HTML autoescaping on, so every value from the file or the SP is text).
//!
//! What it holds: the verdicts per pack and per [`Category`], the role matrix (user, groups at
//! the IdP, groups sent, expected and observed role), every failure with its rule and
//! transcript (already redacted, `verdict::Failure::new`), and each app's "Sign On" settings as
//! the IdP's index page shows them (`idp::index::sign_on`: public values only). The file links
//! to nothing: no script, stylesheet or image is loaded from anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::plan::TrialSpec;
use super::verdict::{FailureKind, Observation};
use crate::config::{ExpectedValue, Step};
use crate::idp::IdpState;
use crate::idp::index::{self, SignOn, Users};

/// Most bytes of transcripts one report holds: each is already cut to
/// `verdict::MAX_TRANSCRIPT_BYTES`, but a run with hundreds of failures must not make a report
/// no browser opens. Past it, a failure says where its transcript is instead.
pub const MAX_TRANSCRIPTS_BYTES: usize = 16 * 1024 * 1024;

/// The template, embedded: the binary needs no file beside it.
const TEMPLATE: &str = include_str!("../../templates/report.html");

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {path}: it is a directory; give a file name")]
    IsADirectory { path: PathBuf },
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render the report {path}: {source}")]
    Render {
        path: PathBuf,
        source: minijinja::Error,
    },
}

/// Checks, before any trial runs, that the report can be written at `path`: not a directory,
/// in a directory that exists, writable. A file this makes is removed again (the run writes it
/// at the end); an existing file is left as it is until then.
pub fn check_writable(path: &Path) -> Result<(), ReportError> {
    if path.is_dir() {
        return Err(ReportError::IsADirectory {
            path: path.to_owned(),
        });
    }
    let existed = path.exists();
    let write = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(write)?;
    if !existed {
        std::fs::remove_file(path).map_err(write)?;
    }
    Ok(())
}

/// Which part of the suite a trial belongs to, by its case id's letter (docs/catalogue.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::VariantArray)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// L0: the honest logins every refusal is judged against.
    Logins,
    /// R1-R8: the role matrix.
    Roles,
    /// T1-T9: Global Token Revocation.
    Revocation,
    /// G1-G4: logout.
    Logout,
    /// S and O cases: forged logins and session binding.
    Attacks,
    /// The file's own scenarios (names outside the catalogue).
    Scenarios,
}

impl Category {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    pub fn title(self) -> &'static str {
        match self {
            Category::Logins => "honest logins",
            Category::Roles => "roles",
            Category::Revocation => "revocation",
            Category::Logout => "logout",
            Category::Attacks => "attacks",
            Category::Scenarios => "the file's scenarios",
        }
    }

    /// The category of a trial, by the catalogue entry its name falls under.
    pub fn of(trial: &str) -> Category {
        let Some(rule) = crate::catalogue::for_trial(trial) else {
            return Category::Scenarios;
        };
        match rule.case.as_bytes().first() {
            Some(b'L') => Category::Logins,
            // The flavor trials (F1, F3) are about the roles and identity a login gets.
            Some(b'R' | b'F') => Category::Roles,
            Some(b'T') => Category::Revocation,
            Some(b'G') => Category::Logout,
            Some(b'S' | b'O') => Category::Attacks,
            _ => Category::Scenarios,
        }
    }
}

/// How one trial ended, as the runner recorded it.
#[derive(Debug, Clone)]
pub struct Ended {
    pub name: String,
    pub failure: Option<super::verdict::Failure>,
    pub ignored: Option<String>,
    pub notes: Vec<String>,
    pub caveat: Option<String>,
    pub observed: Vec<Observation>,
}

/// What the report needs of a pack, gathered when its IdP starts (before any trial changes
/// the directory): its apps' settings, its users, and its role expectations.
#[derive(Debug, Clone)]
pub struct PackInfo {
    pub name: String,
    pub sign_on: Vec<SignOn>,
    pub users: Users,
    /// Per trial with a role expectation: each expectation's row, in step order.
    pub roles: BTreeMap<String, Vec<RolePlan>>,
}

/// One role expectation of a trial, before the trial runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePlan {
    pub user: String,
    pub groups_at_idp: Vec<String>,
    pub groups_sent: String,
    pub expected: String,
}

impl PackInfo {
    pub fn gather(name: &str, idp: &IdpState, specs: &[TrialSpec]) -> PackInfo {
        PackInfo {
            name: name.to_owned(),
            sign_on: index::sign_on(idp),
            users: index::users(idp),
            roles: specs
                .iter()
                .filter(|s| s.ignored.is_none())
                .map(|s| (s.name.clone(), role_plan(s)))
                .filter(|(_, rows)| !rows.is_empty())
                .collect(),
        }
    }
}

/// The role expectations of a trial: the groups the user has at the IdP at each (the trial's
/// own, changed by `set_groups`), what the app's group statement sends of them (as the index
/// page computes it, unless the trial leaves the attribute out), and the role expected.
fn role_plan(spec: &TrialSpec) -> Vec<RolePlan> {
    let (Some(user), Some(app)) = (spec.conn.user(&spec.user), spec.conn.app(&spec.app)) else {
        return Vec::new();
    };
    let mut user = user.clone();
    if let Some(g) = &spec.groups {
        user.groups = g.clone();
    }
    let left_out = app
        .groups
        .as_ref()
        .is_some_and(|g| spec.emit.omit_attributes.contains(&g.attribute));
    let mut out = Vec::new();
    for step in &spec.steps {
        match step {
            Step::SetGroups { groups } => user.groups = groups.clone(),
            Step::Expect(e) => {
                let Some(want) = e.values.get("role") else {
                    continue;
                };
                let groups_sent = if left_out {
                    "not sent: this trial leaves the groups attribute out".to_owned()
                } else {
                    index::sends(app, &user)
                };
                out.push(RolePlan {
                    user: format!("{} ({})", user.id, user.login),
                    groups_at_idp: user.groups.clone(),
                    groups_sent,
                    expected: match want {
                        ExpectedValue::One(r) => r.clone(),
                        ExpectedValue::List(l) => l.join(" or "),
                    },
                });
            }
            _ => {}
        }
    }
    out
}

/// The report: one struct tree, the template's only input.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    /// When the run ended (UTC, RFC 3339).
    pub generated: String,
    /// The command line that made it.
    pub command: String,
    /// What was tested: "the reference SP (flaws: ...)" for the demo, "the packs' targets" else.
    pub target: String,
    /// `--partition`, when the run was a shard: which, and how many trials other shards ran.
    pub partition: Option<String>,
    pub totals: Counts,
    /// The failures by kind, every kind listed (zero included), in `FailureKind::ALL`'s order.
    pub by_kind: Vec<KindCount>,
    pub packs: Vec<PackReport>,
    pub failures: Vec<FailureReport>,
    pub notes: Vec<Note>,
    /// Trials that cannot tell "accepted, not fooled" from "fooled" on this file, and why.
    pub cannot_tell: Vec<Note>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub ignored: usize,
    pub total: usize,
}

impl Counts {
    fn add(&mut self, verdict: Verdict) {
        self.total += 1;
        match verdict {
            Verdict::Ok => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Ignored => self.ignored += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Failed,
    Ignored,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindCount {
    pub kind: &'static str,
    pub meaning: &'static str,
    pub blames_the_sp: bool,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryCounts {
    pub category: Category,
    pub title: &'static str,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    pub name: String,
    pub counts: Counts,
    /// Only the categories with a trial in this run.
    pub categories: Vec<CategoryCounts>,
    pub roles: Vec<RoleRow>,
    pub trials: Vec<TrialRow>,
    pub sign_on: Vec<SignOn>,
    pub users: Users,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub name: String,
    pub case: String,
    pub category: Category,
    pub category_title: &'static str,
    pub verdict: Verdict,
    /// The failure's kind, the reason it was ignored, or the notes that qualify the pass.
    pub detail: String,
    pub strength: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleRow {
    pub trial: String,
    pub verdict: Verdict,
    pub user: String,
    pub groups_at_idp: Vec<String>,
    pub groups_sent: String,
    pub expected: String,
    /// What the SP's session showed; "(not run)" or "(not reached)" when it was not read.
    pub observed: String,
    /// Whether the role was read and is not the expected one.
    pub disagrees: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    pub trial: String,
    pub pack: String,
    pub case: String,
    pub kind: &'static str,
    pub kind_meaning: &'static str,
    pub title: Option<&'static str>,
    pub rule: Option<&'static str>,
    pub strength: Option<String>,
    /// Expected and observed, every hop, and the decoded documents; secrets redacted.
    pub transcript: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub trial: String,
    pub text: String,
}

/// What the run was, besides its trials.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub command: String,
    pub target: String,
    pub partition: Option<String>,
    pub generated: String,
}

impl RunInfo {
    /// This process's command line, the time now, and what was tested.
    pub fn now(target: String, partition: Option<String>) -> RunInfo {
        let generated = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "(unknown time)".to_owned());
        RunInfo {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            target,
            partition,
            generated,
        }
    }
}

fn verdict_of(e: &Ended) -> Verdict {
    match (&e.failure, &e.ignored) {
        (Some(_), _) => Verdict::Failed,
        (None, Some(_)) => Verdict::Ignored,
        (None, None) => Verdict::Ok,
    }
}

fn pack_of(trial: &str) -> &str {
    trial.split_once("::").map_or("", |(p, _)| p)
}

fn case_of(trial: &str) -> String {
    let tail = trial.split_once("::").map_or(trial, |(_, t)| t);
    tail.split('_').next().unwrap_or(tail).to_owned()
}

/// The report of a run: `packs` in the order they ran, `ended` as the trials finished.
pub fn build(info: RunInfo, packs: &[PackInfo], ended: &[Ended]) -> Report {
    let mut ended: Vec<&Ended> = ended.iter().collect();
    ended.sort_by(|a, b| a.name.cmp(&b.name));
    let mut totals = Counts::default();
    let mut out_packs = Vec::new();
    for p in packs {
        let mine: Vec<&&Ended> = ended
            .iter()
            .filter(|e| pack_of(&e.name) == p.name)
            .collect();
        let mut counts = Counts::default();
        let mut by_category: BTreeMap<Category, Counts> = BTreeMap::new();
        let mut trials = Vec::new();
        let mut roles = Vec::new();
        for e in &mine {
            let verdict = verdict_of(e);
            counts.add(verdict);
            totals.add(verdict);
            let category = Category::of(&e.name);
            by_category.entry(category).or_default().add(verdict);
            let detail = match (&e.failure, &e.ignored) {
                (Some(f), _) => f.kind.name().to_owned(),
                (None, Some(why)) => why.clone(),
                (None, None) => e.notes.join("; "),
            };
            trials.push(TrialRow {
                name: e.name.clone(),
                case: case_of(&e.name),
                category,
                category_title: category.title(),
                verdict,
                detail,
                strength: crate::catalogue::for_trial(&e.name).map(|r| r.strength.to_string()),
            });
            let Some(plan) = p.roles.get(&e.name) else {
                continue;
            };
            let observed: Vec<&Observation> =
                e.observed.iter().filter(|o| o.name == "role").collect();
            for (i, row) in plan.iter().enumerate() {
                let (seen, read) = match (verdict, observed.get(i)) {
                    (Verdict::Ignored, _) => ("(not run)".to_owned(), false),
                    // What the SP's session shows is the SP's text: redacted like a transcript.
                    (_, Some(o)) => (
                        o.value
                            .as_deref()
                            .map_or_else(|| "(nothing)".to_owned(), crate::redact::redact),
                        true,
                    ),
                    (_, None) => ("(not reached)".to_owned(), false),
                };
                let trial = if plan.len() > 1 {
                    format!("{} (expectation {} of {})", e.name, i + 1, plan.len())
                } else {
                    e.name.clone()
                };
                roles.push(RoleRow {
                    trial,
                    verdict,
                    user: row.user.clone(),
                    groups_at_idp: row.groups_at_idp.clone(),
                    groups_sent: row.groups_sent.clone(),
                    disagrees: read && seen != row.expected,
                    expected: row.expected.clone(),
                    observed: seen,
                });
            }
        }
        out_packs.push(PackReport {
            name: p.name.clone(),
            counts,
            categories: Category::ALL
                .iter()
                .filter_map(|c| {
                    by_category.get(c).map(|counts| CategoryCounts {
                        category: *c,
                        title: c.title(),
                        counts: *counts,
                    })
                })
                .collect(),
            roles,
            trials,
            sign_on: p.sign_on.clone(),
            users: p.users.clone(),
        });
    }
    let mut kept = 0usize;
    let failures: Vec<FailureReport> = ended
        .iter()
        .filter_map(|e| {
            let f = e.failure.as_ref()?;
            let rule = crate::catalogue::for_trial(&e.name);
            kept += f.transcript.len();
            let transcript = if kept <= MAX_TRANSCRIPTS_BYTES {
                f.transcript.clone()
            } else {
                format!(
                    "[transcript left out: this report holds at most {} MiB of transcripts; it \
is in libtest's output and the JUnit report]",
                    MAX_TRANSCRIPTS_BYTES / (1024 * 1024)
                )
            };
            Some(FailureReport {
                trial: e.name.clone(),
                pack: pack_of(&e.name).to_owned(),
                case: case_of(&e.name),
                kind: f.kind.name(),
                kind_meaning: f.kind.meaning(),
                title: rule.map(|r| r.title),
                rule: rule.map(|r| r.rule),
                strength: rule.map(|r| r.strength.to_string()),
                transcript,
            })
        })
        .collect();
    let by_kind = FailureKind::ALL
        .iter()
        .map(|k| KindCount {
            kind: k.name(),
            meaning: k.meaning(),
            blames_the_sp: k.blames_the_sp(),
            count: failures.iter().filter(|f| f.kind == k.name()).count(),
        })
        .collect();
    let notes = ended
        .iter()
        .filter(|e| !e.notes.is_empty() && e.failure.is_none())
        .map(|e| Note {
            trial: e.name.clone(),
            text: e.notes.join("; "),
        })
        .collect();
    let cannot_tell = ended
        .iter()
        .filter(|e| e.ignored.is_none())
        .filter_map(|e| {
            Some(Note {
                trial: e.name.clone(),
                text: e.caveat.clone()?,
            })
        })
        .collect();
    Report {
        title: "fakta conformance report".to_owned(),
        generated: info.generated,
        command: info.command,
        target: info.target,
        partition: info.partition,
        totals,
        by_kind,
        packs: out_packs,
        failures,
        notes,
        cannot_tell,
    }
}

/// The report as HTML.
pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    // Autoescaping follows the name: `.html` escapes every value for HTML.
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?.render(report)
}

/// Renders the report and writes it to `path`.
pub fn write(path: &Path, report: &Report) -> Result<(), ReportError> {
    let html = render(report).map_err(|source| ReportError::Render {
        path: path.to_owned(),
        source,
    })?;
    std::fs::write(path, html).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_case_has_a_category_of_the_suite() {
        for r in crate::catalogue::all() {
            let name = format!("p::{}_{}", r.case, r.variant);
            assert_ne!(Category::of(&name), Category::Scenarios, "{name}");
        }
        assert_eq!(Category::of("p::my_own_scenario"), Category::Scenarios);
        assert_eq!(Category::of("p::R5_group_removed"), Category::Roles);
        assert_eq!(Category::of("p::S7_x"), Category::Attacks);
        assert_eq!(Category::of("p::O12_x"), Category::Attacks);
    }

    fn demo_specs(pack: &str) -> Vec<TrialSpec> {
        let (_, yaml) = crate::cli::DEMO_PACKS
            .iter()
            .find(|(p, _)| *p == pack)
            .unwrap();
        let (conn, _) = crate::config::load_str(yaml, pack, Path::new(".")).unwrap();
        crate::runner::plan::plan(pack, std::sync::Arc::new(conn), false)
    }

    #[test]
    fn the_role_plan_follows_set_groups_and_a_left_out_attribute() {
        let specs = demo_specs("qovery-saml");
        let plan_of = |name: &str| {
            role_plan(
                specs
                    .iter()
                    .find(|s| s.name == format!("qovery-saml::{name}"))
                    .unwrap(),
            )
        };
        let r5 = plan_of("R5_group_removed_then_login_again");
        assert_eq!(
            r5,
            [
                RolePlan {
                    user: "00u1alice (alice@acme.test)".into(),
                    groups_at_idp: vec!["Qovery-Admins".into()],
                    groups_sent: "sent: Qovery-Admins".into(),
                    expected: "admin".into(),
                },
                RolePlan {
                    user: "00u1alice (alice@acme.test)".into(),
                    groups_at_idp: vec![],
                    groups_sent: "sent: no groups attribute".into(),
                    expected: "viewer".into(),
                },
            ]
        );
        let left_out = plan_of("R2_no_groups_attribute");
        assert_eq!(left_out.len(), 1);
        assert_eq!(
            left_out[0].groups_sent,
            "not sent: this trial leaves the groups attribute out"
        );
        assert_eq!(left_out[0].groups_at_idp, ["Qovery-Admins", "Eng"]);
        // No role expectation, no row.
        assert!(plan_of("R7_missing_email_refused").is_empty());
    }

    /// A small report, every section present, with markup in every value that comes from the
    /// file or the SP.
    fn small_report() -> Report {
        let pack = PackInfo {
            name: "p".into(),
            sign_on: vec![SignOn {
                app: "app<1>".into(),
                name: "n".into(),
                protocol: "SAML 2.0",
                settings: vec![
                    index::Setting {
                        label: "Identity Provider Issuer",
                        value: vec![index::Part::Code {
                            text: "http://idp.test/<i>".into(),
                        }],
                    },
                    index::Setting {
                        label: "IdP metadata",
                        value: vec![
                            index::Part::Link {
                                url: "http://idp.test/metadata".into(),
                            },
                            index::Part::Break,
                            index::Part::Text {
                                text: "a & b".into(),
                            },
                        ],
                    },
                ],
                revocation: vec![],
                idp_initiated: None,
            }],
            users: Users {
                apps: vec!["app<1>".into()],
                rows: vec![index::UserRow {
                    id: "00u1".into(),
                    login: "a@x.test".into(),
                    name: "<b>Al</b>".into(),
                    groups: vec!["G<1>".into()],
                    sends: vec!["sent: G<1>".into()],
                }],
                unlisted: 0,
            },
            roles: [(
                "p::R1_admin".to_owned(),
                vec![RolePlan {
                    user: "00u1 (a@x.test)".into(),
                    groups_at_idp: vec!["G<1>".into()],
                    groups_sent: "sent: G<1>".into(),
                    expected: "admin".into(),
                }],
            )]
            .into(),
        };
        let failure = super::super::verdict::Failure::new(
            FailureKind::WrongOutcome,
            "trial p::R1_admin\n  expected role = admin\n  observed role = <viewer>",
        )
        .with_observed(vec![Observation {
            name: "role".into(),
            value: Some("<viewer>".into()),
        }]);
        let ended = [
            Ended {
                name: "p::R1_admin".into(),
                failure: Some(failure),
                ignored: None,
                notes: vec![],
                caveat: None,
                observed: vec![Observation {
                    name: "role".into(),
                    value: Some("<viewer>".into()),
                }],
            },
            Ended {
                name: "p::T1_revocation_ends_the_session".into(),
                failure: None,
                ignored: None,
                notes: vec!["a <note>".into()],
                caveat: None,
                observed: vec![],
            },
            Ended {
                name: "p::my_scenario".into(),
                failure: None,
                ignored: Some("no <reason>".into()),
                notes: vec![],
                caveat: None,
                observed: vec![],
            },
        ];
        let info = RunInfo {
            command: "fakta test p.yaml --report r.html".into(),
            target: "p: the SP at http://127.0.0.1:1/login".into(),
            partition: Some(
                "count:1/2: this shard held 3 trial(s); 2 ran in the other shards".into(),
            ),
            generated: "2026-12-01T00:00:00Z".into(),
        };
        build(info, &[pack], &ended)
    }

    #[test]
    fn the_model_counts_per_pack_and_category_and_joins_the_observed_role() {
        let r = small_report();
        assert_eq!(
            r.totals,
            Counts {
                passed: 1,
                failed: 1,
                ignored: 1,
                total: 3
            }
        );
        let cats: Vec<(Category, Counts)> = r.packs[0]
            .categories
            .iter()
            .map(|c| (c.category, c.counts))
            .collect();
        assert_eq!(
            cats.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            [Category::Roles, Category::Revocation, Category::Scenarios]
        );
        assert_eq!(r.packs[0].roles[0].observed, "<viewer>");
        assert!(r.packs[0].roles[0].disagrees);
        assert_eq!(r.failures[0].kind, "wrong-outcome");
        assert!(r.failures[0].rule.is_some());
        let kinds: usize = r.by_kind.iter().map(|k| k.count).sum();
        assert_eq!(kinds, 1);
        assert_eq!(r.by_kind.len(), FailureKind::ALL.len());
    }

    #[test]
    fn the_rendered_report_escapes_every_value_and_links_nowhere() {
        let html = render(&small_report()).unwrap();
        for raw in [
            "<b>Al</b>",
            "G<1>",
            "<viewer>",
            "<i>",
            "<note>",
            "<reason>",
            "app<1>",
        ] {
            assert!(!html.contains(raw), "unescaped {raw}");
        }
        assert!(html.contains("&lt;b&gt;Al&lt;&#x2f;b&gt;"), "{html}");
        assert!(!html.contains("href="), "a link in the report");
        assert!(!html.contains("src="), "a source in the report");
        insta::assert_snapshot!(html);
    }

    #[test]
    fn transcripts_past_the_report_cap_are_left_out_with_a_pointer() {
        let big = "x".repeat(super::super::verdict::MAX_TRANSCRIPT_BYTES);
        let n = MAX_TRANSCRIPTS_BYTES / big.len() + 2;
        let ended: Vec<Ended> = (0..n)
            .map(|i| Ended {
                name: format!("p::S1_{i:03}"),
                failure: Some(super::super::verdict::Failure::new(
                    FailureKind::SpAccepted,
                    big.clone(),
                )),
                ignored: None,
                notes: vec![],
                caveat: None,
                observed: vec![],
            })
            .collect();
        let info = RunInfo {
            command: String::new(),
            target: String::new(),
            partition: None,
            generated: String::new(),
        };
        let r = build(info, &[], &ended);
        let total: usize = r
            .failures
            .iter()
            .filter(|f| !f.transcript.starts_with("[transcript left out"))
            .map(|f| f.transcript.len())
            .sum();
        assert!(total <= MAX_TRANSCRIPTS_BYTES, "{total}");
        let last = &r.failures[n - 1].transcript;
        assert!(last.starts_with("[transcript left out"), "{last}");
        assert_eq!(r.failures[0].transcript, big);
    }

    #[test]
    fn a_directory_or_a_missing_directory_is_refused_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path()).unwrap_err();
        assert!(matches!(err, ReportError::IsADirectory { .. }), "{err}");
        assert!(err.to_string().contains("is a directory"), "{err}");
        let missing = dir.path().join("nowhere").join("r.html");
        let err = check_writable(&missing).unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        // A writable path is checked without leaving a file behind.
        let fine = dir.path().join("r.html");
        check_writable(&fine).unwrap();
        assert!(!fine.exists());
    }
}
