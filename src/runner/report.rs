//! Trials as libtest-mimic tests: the in-process IdP (and, for the demo, the reference SP),
//! libtest's output and exit code, and JUnit XML.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::exec::{self, Baseline};
use super::plan::{self, TrialSpec};
use super::sp::{self, CommandSp, SP_WAIT, SpControl};
use super::verdict::{Failure, FailureKind, Passed};
use crate::clock::SystemClock;
use crate::config::Connection;
use crate::idp::IdpState;
use crate::keys::KeyStore;
use crate::refsp::{Flaws, Restartable};

/// `fakta test` options, as libtest has them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub filter: Option<String>,
    pub skip: Vec<String>,
    pub exact: bool,
    pub list: bool,
    pub ignored: bool,
    pub include_ignored: bool,
    pub test_threads: Option<usize>,
    pub nocapture: bool,
    pub quiet: bool,
    pub junit: Option<PathBuf>,
    /// Add the attack pack to every file.
    pub attacks: bool,
    /// Where the IdP listens (port: base_url's); None: 127.0.0.1.
    pub listen_ip: Option<std::net::IpAddr>,
    /// How long to wait for the SP to listen (None: `sp::SP_WAIT`).
    pub sp_wait: Option<Duration>,
    /// With `list`: one JSON document (every trial with its case, rule, strength and why it
    /// is ignored) instead of libtest's lines.
    pub list_json: bool,
}

impl Options {
    fn sp_wait(&self) -> Duration {
        self.sp_wait.unwrap_or(SP_WAIT)
    }
}

/// A connection file under test, by pack name (the file stem).
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub conn: Connection,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr} for {what} of pack `{pack}`")]
    Listen {
        addr: SocketAddr,
        what: &'static str,
        pack: String,
        source: std::io::Error,
    },
    #[error(
        "packs `{a}` and `{b}` both put the IdP on port {port}; run them in separate `fakta test` calls"
    )]
    SamePort { a: String, b: String, port: u16 },
    #[error("{0}")]
    Setup(String),
    #[error(
        "the SP of pack `{pack}` does not answer at {url} (waited {secs} s; more with --sp-wait); start it first, or check target.login_url"
    )]
    SpDown {
        pack: String,
        url: String,
        secs: u64,
    },
    #[error("cannot write the JUnit report {path}: {reason}")]
    Junit { path: PathBuf, reason: String },
}

struct Outcome {
    name: String,
    failure: Option<Failure>,
    /// Why the trial did not run.
    ignored: Option<String>,
    /// What qualifies a pass ("accepted, not fooled", "refused with a server error").
    notes: Vec<String>,
    time: Duration,
}

fn listen_addr(url: &url::Url) -> SocketAddr {
    let port = url.port_or_known_default().unwrap_or(80);
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn idp_addr(url: &url::Url, ip: Option<std::net::IpAddr>) -> SocketAddr {
    let mut addr = listen_addr(url);
    if let Some(ip) = ip {
        addr.set_ip(ip);
    }
    addr
}

/// Runs every trial of the packs. With `sp_flaws`, the reference SP runs in-process for each
/// pack (the demo); otherwise the target is the user's SP.
pub fn run(
    packs: Vec<Pack>,
    keys: KeyStore,
    sp_flaws: Option<Flaws>,
    options: &Options,
) -> Result<ExitCode, RunError> {
    for (i, a) in packs.iter().enumerate() {
        for b in &packs[i + 1..] {
            let (pa, pb) = (
                a.conn.idp.base_url.port_or_known_default(),
                b.conn.idp.base_url.port_or_known_default(),
            );
            if pa == pb {
                return Err(RunError::SamePort {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    port: pa.unwrap_or(0),
                });
            }
        }
    }
    if options.list_json && !options.list {
        return Err(RunError::Setup(
            "--format json lists the trials: it goes with --list".into(),
        ));
    }
    if options.list && options.list_json {
        list_json(&packs, options);
        return Ok(ExitCode::SUCCESS);
    }
    if !options.list {
        // The keys of the "signed by another key" and key-rotation faults take a while to
        // make: start now, one per core.
        std::thread::spawn(|| {
            let _ = crate::keys::foreign_key();
        });
        std::thread::spawn(|| {
            let _ = crate::keys::rotation_key();
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Setup(format!("starting the async runtime: {e}")))?;
    let starts_sps = sp_flaws.is_none()
        && !options.list
        && packs
            .iter()
            .any(|p| p.conn.target.as_ref().is_some_and(|t| t.start.is_some()));
    if starts_sps {
        // Ctrl-C or a CI job's cancellation must not leave the SPs fakta started running (they
        // are in process groups of their own, out of reach of the terminal's signal).
        runtime.spawn(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            let code = tokio::select! {
                _ = int.recv() => 130,
                _ = term.recv() => 143,
            };
            sp::kill_all();
            std::process::exit(code);
        });
    }
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::new()));
    // Trials share the SP; one that restarts it (O13) takes it for itself.
    let gate = Arc::new(RwLock::new(()));
    let mut trials = Vec::new();
    let mut started_sps = Vec::new();
    let mut no_target = Vec::new();
    for pack in packs {
        let conn = Arc::new(pack.conn);
        let specs = plan::plan(&pack.name, conn.clone(), options.attacks);
        let running = if options.list {
            None
        } else {
            let (idp, sp) = start(
                &runtime,
                &pack.name,
                &conn,
                &keys,
                sp_flaws.as_ref(),
                options,
            )?;
            if let (Some(t), SpControl::External) = (&conn.target, sp.as_ref()) {
                wait_for(&pack.name, &t.login_url, options.sp_wait())?;
            }
            if matches!(sp.as_ref(), SpControl::Command(_)) {
                started_sps.push(sp.clone());
            }
            Some((idp, sp))
        };
        if conn.target.is_none() {
            no_target.push(pack.name.clone());
        }
        let baseline = Arc::new(Baseline::new());
        for spec in specs {
            trials.push(trial(
                spec,
                running.clone(),
                baseline.clone(),
                gate.clone(),
                runtime.handle().clone(),
                outcomes.clone(),
            ));
        }
    }
    let args = Arguments {
        filter: options.filter.clone(),
        skip: options.skip.clone(),
        exact: options.exact,
        list: options.list,
        ignored: options.ignored,
        include_ignored: options.include_ignored,
        test_threads: options.test_threads,
        nocapture: options.nocapture,
        quiet: options.quiet,
        ..Arguments::default()
    };
    let total = trials.len();
    let conclusion = libtest_mimic::run(&args, trials);
    if !options.list {
        print_notes(
            &outcomes.lock().unwrap_or_else(|e| e.into_inner()),
            options.quiet,
        );
    }
    if let (Some(path), false) = (&options.junit, options.list) {
        write_junit(path, &outcomes.lock().unwrap_or_else(|e| e.into_inner()))?;
    }
    let executed = conclusion.num_passed + conclusion.num_failed;
    if !options.list && executed == 0 {
        let why = if total == 0 && !no_target.is_empty() {
            format!(
                "the file(s) {} have no `target`: there is no SP to test (add target.app, \
target.login_url and target.session)",
                no_target.join(", ")
            )
        } else if total == 0 {
            "the files yield no trial".to_owned()
        } else if conclusion.num_filtered_out as usize == total {
            format!("the filter matched none of the {total} trials (see --list)")
        } else {
            format!(
                "every selected trial was ignored ({} ignored, {} filtered out): nothing was checked",
                conclusion.num_ignored, conclusion.num_filtered_out
            )
        };
        eprintln!("error: no trial ran: {why}");
        return Ok(ExitCode::from(2));
    }
    // The SPs fakta started stop when their last handle goes (`CommandSp`'s Drop): here. Their
    // logs are kept only when something failed.
    if !conclusion.has_failed() {
        for sp in &started_sps {
            if let SpControl::Command(c) = sp.as_ref() {
                c.discard_log();
            }
        }
    }
    drop(started_sps);
    drop(runtime);
    Ok(conclusion.exit_code())
}

/// Whether libtest would select the trial `name` under the options' filter and skips.
fn selected(name: &str, options: &Options) -> bool {
    let matches = |f: &str| {
        if options.exact {
            name == f
        } else {
            name.contains(f)
        }
    };
    options.filter.as_deref().is_none_or(matches) && !options.skip.iter().any(|s| matches(s))
}

/// `--list --format json`: every selected trial, for tooling.
fn list_json(packs: &[Pack], options: &Options) {
    let mut trials = Vec::new();
    for pack in packs {
        let conn = Arc::new(pack.conn.clone());
        for spec in plan::plan(&pack.name, conn, options.attacks) {
            if !selected(&spec.name, options) {
                continue;
            }
            let rule = crate::catalogue::for_trial(&spec.name);
            trials.push(serde_json::json!({
                "name": spec.name,
                "pack": pack.name,
                "case": spec.case(),
                "rule": rule.map(|r| r.rule),
                "strength": rule.map(|r| r.strength.to_string()),
                "ignored": spec.ignored,
                "caveat": spec.caveat(),
            }));
        }
    }
    let doc = serde_json::json!({ "trials": trials });
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
    );
}

/// Waits until something listens at the URL's address.
fn wait_for(pack: &str, url: &url::Url, wait: Duration) -> Result<(), RunError> {
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port_or_known_default().unwrap_or(80);
    let deadline = Instant::now() + wait;
    while !sp::listening(host, port) {
        if Instant::now() >= deadline {
            return Err(RunError::SpDown {
                pack: pack.to_owned(),
                url: url.to_string(),
                secs: wait.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts the pack's IdP, and the SP when fakta runs it: the reference SP for the demo, or
/// `target.start`.
fn start(
    runtime: &tokio::runtime::Runtime,
    pack: &str,
    conn: &Arc<Connection>,
    keys: &KeyStore,
    sp_flaws: Option<&Flaws>,
    options: &Options,
) -> Result<(Arc<IdpState>, Arc<SpControl>), RunError> {
    let idp = IdpState::new((**conn).clone(), keys.clone(), Arc::new(SystemClock))
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let addr = idp_addr(&conn.idp.base_url, options.listen_ip);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|source| RunError::Listen {
            addr,
            what: "the IdP",
            pack: pack.to_owned(),
            source,
        })?;
    let served = idp.clone();
    runtime.spawn(crate::idp::serve(
        listener,
        served,
        crate::serving::Limits::default(),
        std::future::pending::<()>(),
    ));
    let sp = match (sp_flaws, conn.target.as_ref()) {
        (Some(flaws), _) => {
            let sp = Restartable::new((**conn).clone(), flaws.clone(), Arc::new(SystemClock))
                .map_err(|e| RunError::Setup(e.to_string()))?;
            let target = conn.target.as_ref().ok_or_else(|| {
                RunError::Setup(format!("pack `{pack}` has no target for the reference SP"))
            })?;
            let addr = listen_addr(&target.login_url);
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|source| RunError::Listen {
                    addr,
                    what: "the reference SP",
                    pack: pack.to_owned(),
                    source,
                })?;
            let served = sp.clone();
            runtime.spawn(async move {
                served
                    .serve(
                        listener,
                        crate::serving::Limits::default(),
                        std::future::pending::<()>(),
                    )
                    .await
            });
            SpControl::InProcess(Box::new(sp))
        }
        (None, Some(target)) => match &target.start {
            Some(command) => SpControl::Command(
                CommandSp::start(
                    pack,
                    command,
                    &conn.base_dir,
                    &target.login_url,
                    conn.idp.base(),
                    options.sp_wait(),
                    options.nocapture,
                )
                .map_err(RunError::Setup)?,
            ),
            None => SpControl::External,
        },
        (None, None) => SpControl::External,
    };
    Ok((idp, Arc::new(sp)))
}

type Running = (Arc<IdpState>, Arc<SpControl>);

fn trial(
    spec: TrialSpec,
    running: Option<Running>,
    baseline: Arc<Baseline>,
    gate: Arc<RwLock<()>>,
    handle: tokio::runtime::Handle,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
) -> Trial {
    let name = spec.name.clone();
    let fresh = spec.oidc_fault.is_some_and(|f| f.needs_fresh_sp());
    Trial::ignorable_test(name, move || {
        let record = |started: Instant, result: &Result<Passed, Failure>| {
            let (failure, ignored, notes) = match result {
                Ok(p) => (None, p.not_run.clone(), p.notes.clone()),
                Err(f) => (Some(f.clone()), None, Vec::new()),
            };
            outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Outcome {
                    name: spec.name.clone(),
                    failure,
                    ignored,
                    notes,
                    time: started.elapsed(),
                });
        };
        let finish = |started: Instant, result: Result<Passed, Failure>| {
            record(started, &result);
            match result {
                Ok(Passed {
                    not_run: Some(why), ..
                }) => Ok(Completion::ignored_with(why)),
                Ok(_) => Ok(Completion::Completed),
                Err(f) => Err(Failed::from(with_rule(&spec.name, &f))),
            }
        };
        if let Some(why) = &spec.ignored {
            return finish(
                Instant::now(),
                Ok(Passed {
                    notes: Vec::new(),
                    not_run: Some(why.clone()),
                }),
            );
        }
        let Some((idp, sp)) = running else {
            return Err(Failed::from("the IdP is not running"));
        };
        // A trial's time is its own: it starts once the trial has the SP (shared or alone).
        if fresh {
            if !sp.can_restart() {
                let why =
                    "needs an SP that fakta can restart: give target.start in the file".to_owned();
                return finish(
                    Instant::now(),
                    Ok(Passed {
                        notes: Vec::new(),
                        not_run: Some(why),
                    }),
                );
            }
            let _alone = gate.write().unwrap_or_else(|e| e.into_inner());
            let started = Instant::now();
            finish(
                started,
                handle.block_on(sp::run_with_fresh_sp(&spec, &idp, &sp)),
            )
        } else {
            let _shared = gate.read().unwrap_or_else(|e| e.into_inner());
            let started = Instant::now();
            finish(started, handle.block_on(exec::run(&spec, &idp, &baseline)))
        }
    })
}

/// A failure as printed: its kind, the rule the trial enforces (so that a user can defend the
/// verdict to the SP's owner), then the transcript.
fn with_rule(name: &str, f: &Failure) -> String {
    match crate::catalogue::for_trial(name) {
        Some(r) => format!(
            "kind: {}\nrule: {} ({})\n{}",
            f.kind, r.rule, r.strength, f.transcript
        ),
        None => f.render(),
    }
}

/// After libtest's summary: the passes that carry a qualification, and the failures by kind.
fn print_notes(outcomes: &[Outcome], quiet: bool) {
    let mut noted: Vec<&Outcome> = outcomes.iter().filter(|o| !o.notes.is_empty()).collect();
    noted.sort_by(|a, b| a.name.cmp(&b.name));
    if !noted.is_empty() && !quiet {
        println!("notes:");
        for o in noted {
            println!("    {}: {}", o.name, o.notes.join("; "));
        }
        println!();
    }
    let mut by_kind: std::collections::BTreeMap<FailureKind, Vec<&str>> = Default::default();
    for o in outcomes {
        if let Some(f) = &o.failure {
            by_kind.entry(f.kind).or_default().push(&o.name);
        }
    }
    if !by_kind.is_empty() {
        println!("failures by kind:");
        for (kind, mut names) in by_kind {
            names.sort();
            println!("    {kind} ({}): {}", names.len(), names.join(", "));
        }
        println!();
    }
}

fn write_junit(path: &PathBuf, outcomes: &[Outcome]) -> Result<(), RunError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("fakta");
    let mut suites: std::collections::BTreeMap<String, TestSuite> = Default::default();
    for o in outcomes {
        let (pack, name) = o.name.split_once("::").unwrap_or(("fakta", &o.name));
        let status = match (&o.failure, &o.ignored) {
            (None, Some(why)) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.clone());
                s
            }
            (None, None) => TestCaseStatus::success(),
            (Some(f), _) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = f
                    .transcript
                    .lines()
                    .nth(2)
                    .unwrap_or("failed")
                    .trim()
                    .to_owned();
                s.set_message(format!("{}: {first}", f.kind));
                s.set_type(f.kind.name());
                s.set_description(with_rule(&o.name, f));
                s
            }
        };
        let mut case = TestCase::new(name.to_owned(), status);
        case.set_classname(pack.to_owned());
        case.set_time(o.time);
        if let Some(f) = &o.failure {
            case.add_property(("fakta.kind", f.kind.name()));
        }
        if let Some(r) = crate::catalogue::for_trial(&o.name) {
            case.add_property(("fakta.case", r.case));
            case.add_property(("fakta.rule", r.rule));
            let strength = r.strength.to_string();
            case.add_property(("fakta.strength", strength.as_str()));
        }
        if !o.notes.is_empty() {
            case.add_property(("fakta.note", o.notes.join("; ").as_str()));
            case.set_system_out(o.notes.join("\n"));
        }
        suites
            .entry(pack.to_owned())
            .or_insert_with(|| TestSuite::new(pack.to_owned()))
            .add_test_case(case);
    }
    report.add_test_suites(suites.into_values());
    let xml = report.to_string().map_err(|e| RunError::Junit {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, xml).map_err(|e| RunError::Junit {
        path: path.clone(),
        reason: e.to_string(),
    })
}
