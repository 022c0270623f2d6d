//! Trials as libtest-mimic tests: the in-process IdP (and, for the demo, the reference SP),
//! libtest's output and exit code, and JUnit XML.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::exec::{self, Baseline};
use super::handover;
use super::partition::Dealer;
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
    /// Write the report to hand over (one HTML file, `handover`) here.
    pub report: Option<PathBuf>,
    /// Add the attack pack to every file.
    pub attacks: bool,
    /// Where the IdP listens (port: base_url's); None: 127.0.0.1.
    pub listen_ip: Option<std::net::IpAddr>,
    /// How long to wait for the SP to listen (None: `sp::SP_WAIT`).
    pub sp_wait: Option<Duration>,
    /// Run only this shard of the selected trials (`--partition`).
    pub partition: Option<super::partition::Partition>,
    /// With `list`: one JSON document (every trial with its case, rule, strength and why it
    /// is ignored) instead of libtest's lines.
    pub list_json: bool,
    /// The run's time budget (None: [`RUN_TIMEOUT`]); trials not started when it runs out fail.
    pub timeout: Option<Duration>,
    /// The keys folder: an https IdP's local CA and server certificate are kept there too
    /// (None: `certs`).
    pub certs: Option<PathBuf>,
    /// The browser the trials drive (`--browser`): the HTTP emulation, or headless Chromium.
    pub browser: super::transport::Engine,
    /// Where libtest's lines go instead of stdout (the library's `Suite`: they would bypass
    /// the output capture of the test that runs it).
    pub log: Option<PathBuf>,
}

/// How long the trials of one `fakta test` may take in all, unless `--timeout` says otherwise.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one trial may take (each of its requests has `fetch::REQUEST_TIMEOUT`); a trial
/// that restarts the SP gets twice the SP's start-up wait on top.
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(120);

impl Options {
    fn sp_wait(&self) -> Duration {
        self.sp_wait.unwrap_or(SP_WAIT)
    }

    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(RUN_TIMEOUT)
    }
}

/// The run's time budget: set going when the first trial may start, shared by every trial.
#[derive(Debug)]
struct Budget {
    total: Duration,
    began: std::sync::OnceLock<Instant>,
}

impl Budget {
    fn new(total: Duration) -> Budget {
        Budget {
            total,
            began: std::sync::OnceLock::new(),
        }
    }

    fn begin(&self) {
        let _ = self.began.set(Instant::now());
    }

    /// What is left of it (all of it before it began).
    fn left(&self) -> Duration {
        match self.began.get() {
            Some(t) => self.total.saturating_sub(t.elapsed()),
            None => self.total,
        }
    }
}

/// A connection file under test, by pack name (the file stem).
#[derive(Debug)]
pub struct Pack {
    pub name: String,
    pub conn: Connection,
    /// Listeners bound before the run, used instead of binding the file's ports (the demo binds
    /// free ports first, so that nothing can take them between choosing and serving).
    pub bound: Option<Bound>,
}

/// A pack's listeners, bound by the caller: the IdP's, and the in-process reference SP's.
#[derive(Debug)]
pub struct Bound {
    pub idp: std::net::TcpListener,
    pub sp: Option<std::net::TcpListener>,
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
    #[error(transparent)]
    Report(#[from] handover::ReportError),
}

struct Outcome {
    name: String,
    failure: Option<Failure>,
    /// Why the trial did not run.
    ignored: Option<String>,
    /// What qualifies a pass ("accepted, not fooled", "refused with a server error").
    notes: Vec<String>,
    /// What the file cannot tell for this trial (`TrialSpec::caveat`).
    caveat: Option<String>,
    /// The values read from the session (the report's role matrix).
    observed: Vec<super::verdict::Observation>,
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
    run_and_collect(packs, keys, sp_flaws, options).map(|(code, _)| code)
}

/// Trials at once per core, with the HTTP browser, unless `--test-threads` says: a trial
/// spends most of its time waiting for the SP and the IdP over loopback, so one trial per core,
/// libtest's default, leaves the cores idle (benches/runner_scale.sh, 1,035 logins on 2 cores:
/// 10.9 s at 2 trials at once, 6.7 s at 4, 4.5 s at 8).
pub const TRIALS_PER_CORE: usize = 4;
/// At most this many trials at once by default: an SP under test sees no more concurrent
/// logins than this unless the user asks for it.
pub const MAX_DEFAULT_TRIALS: usize = 16;

/// How many trials run at once when `--test-threads` is not given: [`TRIALS_PER_CORE`] per core
/// (at most [`MAX_DEFAULT_TRIALS`]) with the HTTP browser; with Chromium, whose tabs cost CPU
/// of their own, [`super::transport::CHROMIUM_TEST_THREADS`] tabs of one process.
pub fn default_test_threads(browser: super::transport::Engine) -> Option<usize> {
    match browser {
        super::transport::Engine::Chromium => Some(super::transport::CHROMIUM_TEST_THREADS),
        super::transport::Engine::Http => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Some((cores * TRIALS_PER_CORE).min(MAX_DEFAULT_TRIALS))
        }
    }
}

/// [`run`], also returning how each trial ended (the library's `Suite`).
pub fn run_and_collect(
    packs: Vec<Pack>,
    keys: KeyStore,
    sp_flaws: Option<Flaws>,
    options: &Options,
) -> Result<(ExitCode, Vec<handover::Ended>), RunError> {
    distinct_ports(&packs)?;
    if options.list_json && !options.list {
        return Err(RunError::Setup(
            "--format json lists the trials: it goes with --list".into(),
        ));
    }
    if options.list && options.list_json {
        list_json(&packs, options);
        return Ok((ExitCode::SUCCESS, Vec::new()));
    }
    if let Some(path) = &options.report {
        if options.list {
            return Err(RunError::Setup(
                "--report writes the results of a run: it does not go with --list".into(),
            ));
        }
        // Now, not after the trials: a path that cannot be written wastes no run.
        handover::check_writable(path)?;
    }
    let tested = match &sp_flaws {
        Some(f) if f.iter().next().is_none() => "the reference SP, strict (fakta demo)".to_owned(),
        Some(f) => format!(
            "the reference SP with the flaw(s) {} (fakta demo)",
            f.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => packs
            .iter()
            .map(|p| match &p.conn.target {
                Some(t) => format!("{}: the SP at {}", p.name, t.login_url),
                None => format!("{}: no target", p.name),
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
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
        stop_sps_on_signals(&runtime);
    }
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::new()));
    let budget = Arc::new(Budget::new(options.timeout()));
    let chromium = match options.browser {
        super::transport::Engine::Chromium if !options.list => {
            // An https IdP's local CA first: Chromium takes the CAs to trust when it starts.
            for p in &packs {
                idp_tls(&p.conn, options, &p.name)?;
            }
            let limit = super::transport::LAUNCH_LIMIT;
            let launched = runtime
                .block_on(async {
                    tokio::time::timeout(limit, crate::browser::Chromium::launch()).await
                })
                .map_err(|_| {
                    RunError::Setup(format!(
                        "--browser chromium: Chromium did not start within {} s",
                        limit.as_secs()
                    ))
                })?
                .map_err(|e| RunError::Setup(format!("--browser chromium: {e}")))?;
            Some(Arc::new(launched))
        }
        _ => None,
    };
    let shared = Shared {
        gate: Arc::new(RwLock::new(())),
        handle: runtime.handle().clone(),
        outcomes: outcomes.clone(),
        budget: budget.clone(),
        sp_wait: options.sp_wait(),
        chromium,
    };
    let prepared = prepare(packs, &keys, sp_flaws.as_ref(), options, &runtime, &shared)?;
    let args = Arguments {
        filter: options.filter.clone(),
        skip: options.skip.clone(),
        exact: options.exact,
        list: options.list,
        ignored: options.ignored,
        include_ignored: options.include_ignored,
        test_threads: options
            .test_threads
            .or_else(|| default_test_threads(options.browser)),
        nocapture: options.nocapture,
        quiet: options.quiet,
        logfile: options.log.as_ref().map(|p| p.display().to_string()),
        ..Arguments::default()
    };
    let total = prepared.trials.len();
    if let Some(p) = options.partition {
        eprintln!(
            "partition {p}: this shard holds {total} trial(s); {} run in the other shards",
            prepared.left_out
        );
        if total == 0 {
            // More shards than trials: an empty shard is not a failed run (and its report says
            // so).
            if let Some(path) = &options.report {
                let shard = Shard {
                    options,
                    total,
                    left_out: prepared.left_out,
                };
                write_report(path, tested, &shard, &prepared.packs, &outcomes)?;
            }
            return Ok((ExitCode::SUCCESS, Vec::new()));
        }
    }
    if !options.list {
        // The TLS set-up every trial's client shares reads the system's roots from disk: made
        // here, not in the first trial, which runs on an async worker.
        let _ = super::fetch::client_builder();
    }
    budget.begin();
    let conclusion = libtest_mimic::run(&args, prepared.trials);
    if !options.list {
        print_notes(
            &outcomes.lock().unwrap_or_else(|e| e.into_inner()),
            options.quiet,
        );
    }
    if let (Some(path), false) = (&options.junit, options.list) {
        write_junit(path, &outcomes.lock().unwrap_or_else(|e| e.into_inner()))?;
    }
    if let (Some(path), false) = (&options.report, options.list) {
        let shard = Shard {
            options,
            total,
            left_out: prepared.left_out,
        };
        write_report(path, tested, &shard, &prepared.packs, &outcomes)?;
    }
    let executed = conclusion.num_passed + conclusion.num_failed;
    if !options.list && executed == 0 {
        eprintln!(
            "error: no trial ran: {}",
            why_none_ran(&conclusion, total, &prepared.no_target)
        );
        return Ok((ExitCode::from(2), ended(&outcomes)));
    }
    // The SPs fakta started stop when their last handle goes (`CommandSp`'s Drop): here. Their
    // logs are kept only when something failed.
    if !conclusion.has_failed() {
        for sp in &prepared.started_sps {
            if let SpControl::Command(c) = sp.as_ref() {
                c.discard_log();
            }
        }
    }
    drop(prepared.started_sps);
    drop(runtime);
    Ok((conclusion.exit_code(), ended(&outcomes)))
}

/// How the trials ended, in the order they ended.
fn ended(outcomes: &Mutex<Vec<Outcome>>) -> Vec<handover::Ended> {
    outcomes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|o| handover::Ended {
            name: o.name.clone(),
            failure: o.failure.clone(),
            ignored: o.ignored.clone(),
            notes: o.notes.clone(),
            caveat: o.caveat.clone(),
            observed: o.observed.clone(),
        })
        .collect()
}

/// What `--partition` left this run, for the report.
struct Shard<'a> {
    options: &'a Options,
    total: usize,
    left_out: usize,
}

/// Writes the report to hand over (`--report`) from the trials that ended.
fn write_report(
    path: &std::path::Path,
    tested: String,
    shard: &Shard<'_>,
    packs: &[handover::PackInfo],
    outcomes: &Mutex<Vec<Outcome>>,
) -> Result<(), RunError> {
    let partition = shard.options.partition.map(|p| {
        format!(
            "{p}: this shard held {} trial(s); {} ran in the other shards",
            shard.total, shard.left_out
        )
    });
    let ended = ended(outcomes);
    let report = handover::build(handover::RunInfo::now(tested, partition), packs, &ended);
    handover::write(path, &report)?;
    Ok(())
}

/// Two packs cannot share the IdP's port.
fn distinct_ports(packs: &[Pack]) -> Result<(), RunError> {
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
    Ok(())
}

/// Ctrl-C or a CI job's cancellation must not leave the SPs fakta started running (they are in
/// process groups of their own, out of reach of the terminal's signal).
fn stop_sps_on_signals(runtime: &tokio::runtime::Runtime) {
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

/// What every trial of the run shares.
#[derive(Clone)]
struct Shared {
    /// Trials share the SP; one that restarts it (O13, O10 with a single key) takes it for
    /// itself.
    gate: Arc<RwLock<()>>,
    handle: tokio::runtime::Handle,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    budget: Arc<Budget>,
    sp_wait: Duration,
    /// The run's Chromium (`--browser chromium`): one process, a clean context per tab.
    chromium: Option<Arc<crate::browser::Chromium>>,
}

/// The trials of every pack, with their IdPs and SPs running (unless only listing).
struct Prepared {
    trials: Vec<Trial>,
    /// The SPs fakta started (`target.start`), stopped when dropped.
    started_sps: Vec<Arc<SpControl>>,
    /// The packs without a `target`.
    no_target: Vec<String>,
    /// How many trials `--partition` left to the other shards.
    left_out: usize,
    /// What the report needs of each pack (gathered only with `--report`).
    packs: Vec<handover::PackInfo>,
}

fn prepare(
    packs: Vec<Pack>,
    keys: &KeyStore,
    sp_flaws: Option<&Flaws>,
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    shared: &Shared,
) -> Result<Prepared, RunError> {
    let mut prepared = Prepared {
        trials: Vec::new(),
        started_sps: Vec::new(),
        no_target: Vec::new(),
        left_out: 0,
        packs: Vec::new(),
    };
    let mut dealer = options.partition.map(Dealer::new);
    let (mut foreign_started, mut rotation_started) = (false, false);
    for pack in packs {
        let conn = Arc::new(pack.conn);
        let mut specs = plan::plan(&pack.name, conn.clone(), options.attacks);
        mark_not_runnable(&mut specs, options);
        if let Some(d) = dealer.as_mut() {
            let before = specs.len();
            specs.retain(|s| d.keeps(&s.name, selected(&s.name, options), needs_the_sp_alone(s)));
            prepared.left_out += before - specs.len();
        }
        // The keys of the "signed by another key" and key-rotation faults take a while to make
        // (an RSA key generation each, 0.1-0.4 CPU-s): made now, on a thread each, while the SP
        // starts, when a trial may need them (they are made on first use in any case).
        if !options.list && !foreign_started && specs.iter().any(forges) {
            foreign_started = true;
            std::thread::spawn(|| {
                let _ = crate::keys::foreign_key();
            });
        }
        let rotates = |s: &TrialSpec| s.oidc_fault == Some(crate::oidc::faults::Fault::KeyRotation);
        if !options.list && !rotation_started && specs.iter().any(rotates) {
            rotation_started = true;
            std::thread::spawn(|| {
                let _ = crate::keys::rotation_key();
            });
        }
        let running = if options.list {
            None
        } else {
            let started = Starting {
                pack: &pack.name,
                conn: &conn,
                bound: pack.bound,
            };
            let (idp, sp) = start(runtime, started, keys, sp_flaws, options)?;
            if let (Some(t), SpControl::External) = (&conn.target, sp.as_ref()) {
                wait_for(&pack.name, &t.login_url, options.sp_wait())?;
            }
            if matches!(sp.as_ref(), SpControl::Command(_)) {
                prepared.started_sps.push(sp.clone());
            }
            if options.report.is_some() {
                prepared
                    .packs
                    .push(handover::PackInfo::gather(&pack.name, &idp, &specs));
            }
            Some((idp, sp))
        };
        if conn.target.is_none() {
            prepared.no_target.push(pack.name.clone());
        }
        let baseline = Arc::new(Baseline::new());
        for spec in specs {
            prepared.trials.push(trial(
                spec,
                running.clone(),
                baseline.clone(),
                shared.clone(),
            ));
        }
    }
    Ok(prepared)
}

/// Whether a trial forges a signed document (a SAML or OIDC fault, a forged logout or
/// revocation): the trials that may sign with a key other than the IdP's.
fn forges(spec: &TrialSpec) -> bool {
    spec.saml_fault.is_some()
        || spec.oidc_fault.is_some()
        || spec.steps.iter().any(|s| {
            matches!(
                s,
                crate::config::Step::Logout { fault: Some(_), .. }
                    | crate::config::Step::Revoke { fault: Some(_), .. }
            )
        })
}

/// Lists the trials the chosen browser cannot run as ignored, with the reason.
fn mark_not_runnable(specs: &mut [TrialSpec], options: &Options) {
    for s in specs.iter_mut().filter(|s| s.ignored.is_none()) {
        s.ignored = super::transport::not_runnable(s, options.browser);
    }
}

/// Why a run executed no trial, in words.
fn why_none_ran(
    conclusion: &libtest_mimic::Conclusion,
    total: usize,
    no_target: &[String],
) -> String {
    if total == 0 && !no_target.is_empty() {
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
    }
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

/// Whether a trial needs the SP to itself (it restarts it: O13, O10 with a single key); such
/// trials run in shard 1.
fn needs_the_sp_alone(spec: &TrialSpec) -> bool {
    spec.oidc_fault.is_some_and(|f| f.needs_fresh_sp())
}

/// `--list --format json`: every selected trial, for tooling.
fn list_json(packs: &[Pack], options: &Options) {
    let mut trials = Vec::new();
    let mut dealer = options.partition.map(Dealer::new);
    for pack in packs {
        let conn = Arc::new(pack.conn.clone());
        let mut specs = plan::plan(&pack.name, conn, options.attacks);
        mark_not_runnable(&mut specs, options);
        for spec in specs {
            let chosen = selected(&spec.name, options);
            let in_shard = dealer
                .as_mut()
                .is_none_or(|d| d.keeps(&spec.name, chosen, needs_the_sp_alone(&spec)));
            if !chosen || !in_shard {
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

/// A pack about to be started.
struct Starting<'a> {
    pack: &'a str,
    conn: &'a Arc<Connection>,
    bound: Option<Bound>,
}

/// A listener the caller bound, or one bound now at `addr`.
fn listener(
    runtime: &tokio::runtime::Runtime,
    bound: Option<std::net::TcpListener>,
    addr: SocketAddr,
    what: &'static str,
    pack: &str,
) -> Result<tokio::net::TcpListener, RunError> {
    let listen = |source| RunError::Listen {
        addr,
        what,
        pack: pack.to_owned(),
        source,
    };
    match bound {
        Some(l) => {
            l.set_nonblocking(true).map_err(listen)?;
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(l).map_err(listen)
        }
        None => runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(listen),
    }
}

/// TLS for an https IdP: the local CA's server certificate (`crate::tls`), trusted by this
/// process's clients from now on (the runner, the reference SP, `target.start`'s environment).
fn idp_tls(
    conn: &Connection,
    options: &Options,
    pack: &str,
) -> Result<Option<Arc<openssl::ssl::SslAcceptor>>, RunError> {
    let base = &conn.idp.base_url;
    if base.scheme() != "https" {
        return Ok(None);
    }
    let dir = options
        .certs
        .clone()
        .unwrap_or_else(|| PathBuf::from("certs"));
    let host = base.host_str().unwrap_or("127.0.0.1");
    let tls = crate::tls::LocalTls::open_or_create(&dir, host)
        .map_err(|e| RunError::Setup(format!("pack `{pack}`: HTTPS for {base}: {e}")))?;
    tls.trust();
    tls.acceptor()
        .map(Some)
        .map_err(|e| RunError::Setup(format!("pack `{pack}`: HTTPS for {base}: {e}")))
}

/// Starts the pack's IdP, and the SP when fakta runs it: the reference SP for the demo, or
/// `target.start`.
fn start(
    runtime: &tokio::runtime::Runtime,
    starting: Starting<'_>,
    keys: &KeyStore,
    sp_flaws: Option<&Flaws>,
    options: &Options,
) -> Result<(Arc<IdpState>, Arc<SpControl>), RunError> {
    let Starting { pack, conn, bound } = starting;
    let (bound_idp, bound_sp) = match bound {
        Some(b) => (Some(b.idp), b.sp),
        None => (None, None),
    };
    let idp = IdpState::new((**conn).clone(), keys.clone(), Arc::new(SystemClock))
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let addr = idp_addr(&conn.idp.base_url, options.listen_ip);
    let listener_idp = listener(runtime, bound_idp, addr, "the IdP", pack)?;
    let tls = idp_tls(conn, options, pack)?;
    let served = idp.clone();
    runtime.spawn(crate::idp::serve_maybe_tls(
        listener_idp,
        served,
        tls,
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
            let listener_sp = listener(runtime, bound_sp, addr, "the reference SP", pack)?;
            let served = sp.clone();
            runtime.spawn(async move {
                served
                    .serve(
                        listener_sp,
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
    shared: Shared,
) -> Trial {
    let name = spec.name.clone();
    let fresh = needs_the_sp_alone(&spec);
    Trial::ignorable_test(name, move || {
        let spec = Arc::new(spec);
        let record = |started: Instant, result: &Result<Passed, Failure>| {
            let (failure, ignored, notes, observed) = match result {
                Ok(p) => (None, p.not_run.clone(), p.notes.clone(), p.observed.clone()),
                Err(f) => (Some(f.clone()), None, Vec::new(), f.observed.clone()),
            };
            shared
                .outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Outcome {
                    name: spec.name.clone(),
                    failure,
                    ignored,
                    notes,
                    caveat: spec.caveat(),
                    observed,
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
                    not_run: Some(why.clone()),
                    ..Passed::default()
                }),
            );
        }
        let Some((idp, sp)) = running.clone() else {
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
                        not_run: Some(why),
                        ..Passed::default()
                    }),
                );
            }
            let _alone = shared.gate.write().unwrap_or_else(|e| e.into_inner());
            let started = Instant::now();
            let limit = TRIAL_TIMEOUT + 2 * shared.sp_wait;
            let run = {
                let (spec, idp, sp) = (spec.clone(), idp.clone(), sp.clone());
                let chromium = shared.chromium.clone();
                async move { sp::run_with_fresh_sp(&spec, &idp, &sp, chromium.as_deref()).await }
            };
            let (result, cut) = within(&spec, &shared, limit, run);
            if cut {
                // Cut short, it may have left the forged discovery (or the single-key JWKS) in
                // place and the SP reading it: put the honest ones back for the trials that
                // follow.
                idp.set_discovery_fault(None);
                idp.set_jwks_override(None);
                let _ = shared
                    .handle
                    .block_on(tokio::time::timeout(2 * shared.sp_wait, sp.restart()));
            }
            finish(started, result)
        } else {
            let _shared = shared.gate.read().unwrap_or_else(|e| e.into_inner());
            let started = Instant::now();
            let run = {
                let (spec, idp, baseline) = (spec.clone(), idp.clone(), baseline.clone());
                let chromium = shared.chromium.clone();
                async move { exec::run_in(&spec, &idp, &baseline, chromium.as_deref()).await }
            };
            let (result, _) = within(&spec, &shared, TRIAL_TIMEOUT, run);
            finish(started, result)
        }
    })
}

/// Runs a trial within `limit` and what is left of the run's budget: a trial that does not
/// start before the budget is gone, or does not end in time, fails with the reason. Also says
/// whether the trial was cut short (stopped while it ran).
///
/// The trial runs as a task of the run's runtime, beside the in-process IdP's, and libtest's
/// thread waits for its end: driven from libtest's thread instead, each answer the trial
/// waited for woke that thread from the runtime's (benches/runner_scale.sh, 8 trials at once:
/// the kernel's share of the runner's and IdP's CPU went from 24% to 18%).
fn within(
    spec: &TrialSpec,
    shared: &Shared,
    limit: Duration,
    trial: impl Future<Output = Result<Passed, Failure>> + Send + 'static,
) -> (Result<Passed, Failure>, bool) {
    let left = shared.budget.left();
    let total = shared.budget.total.as_secs();
    if left.is_zero() {
        let not_run = Failure::new(
            FailureKind::Setup,
            format!(
                "trial {}\n  not run: the run's time limit ({total} s, --timeout) ran out before \
this trial could start",
                spec.name
            ),
        );
        return (Err(not_run), false);
    }
    let (wait, why) = if left < limit {
        (
            left,
            format!("the run's time limit ({total} s, --timeout) ran out during this trial"),
        )
    } else {
        (
            limit,
            format!(
                "the trial did not end within {} s (each request may take {} s; the SP is too \
slow, or keeps the browser going)",
                limit.as_secs(),
                super::fetch::REQUEST_TIMEOUT.as_secs()
            ),
        )
    };
    let activity = super::fetch::Activity::default();
    let tracked = activity.clone();
    let task = shared
        .handle
        .spawn(async move { tokio::time::timeout(wait, tracked.track(trial)).await });
    let ended = match shared.handle.block_on(task) {
        Ok(ended) => ended,
        // A trial that panicked fails as it would have on libtest's thread.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {
            let stopped = Failure::new(
                FailureKind::Transport,
                format!("trial {}\n  stopped: the run is ending", spec.name),
            );
            return (Err(stopped), true);
        }
    };
    match ended {
        Ok(result) => (result, false),
        Err(_) => {
            let doing = match activity.waiting_on() {
                Some(request) => format!("\n  it was waiting for {request}"),
                None => String::new(),
            };
            let stopped = Failure::new(
                FailureKind::Transport,
                format!("trial {}\n  stopped: {why}{doing}", spec.name),
            );
            (Err(stopped), true)
        }
    }
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
    let mut cannot_tell: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.caveat.is_some() && o.ignored.is_none())
        .map(|o| o.name.as_str())
        .collect();
    cannot_tell.sort();
    if let (Some(first), false) = (cannot_tell.first(), quiet) {
        let why = outcomes
            .iter()
            .find(|o| o.name == *first)
            .and_then(|o| o.caveat.clone())
            .unwrap_or_default();
        println!(
            "cannot tell \"accepted, not fooled\" from \"fooled\" ({}): {why}",
            cannot_tell.len()
        );
        for n in cannot_tell {
            println!("    {n}");
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
