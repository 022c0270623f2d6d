//! The SP under test as something the runner can start and restart: the user's SP through
//! `target.start` (a shell command fakta runs in a process group of its own), the demo's
//! reference SP in this process, or an SP fakta does not control (started by the user).
//!
//! A restart is what trials like O13 need: an SP reads the IdP's discovery document when it
//! starts (or at its first login) and keeps it, so the only way to show it another document is
//! to start it again. Such a trial runs with no other trial beside it (see `report`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::exec;
use super::plan::TrialSpec;
use super::verdict::{Failure, FailureKind, Passed};
use crate::config::{LoginFrom, LoginOutcome, Step};
use crate::ffi::signal_group;
use crate::idp::IdpState;

/// How long the runner waits for the SP to listen, at the start and after a restart, unless
/// `fakta test --sp-wait` says otherwise.
pub const SP_WAIT: Duration = Duration::from_secs(20);
/// How long a stopping SP gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The SP under test.
#[derive(Debug)]
pub enum SpControl {
    /// Started by the user; fakta can neither stop nor restart it.
    External,
    /// The reference SP in this process (the demo).
    InProcess(Box<crate::refsp::Restartable>),
    /// `target.start`.
    Command(CommandSp),
}

/// What became of a (re)started SP.
#[derive(Debug)]
pub enum Started {
    /// It listens.
    Up,
    /// Its command ended before it listened.
    Exited { status: String, log_tail: String },
}

impl SpControl {
    pub fn can_restart(&self) -> bool {
        !matches!(self, SpControl::External)
    }

    /// Starts the SP afresh: stops it, starts it, and waits until it listens (or its command
    /// ends).
    pub async fn restart(&self) -> Result<Started, String> {
        match self {
            SpControl::External => {
                Err("fakta did not start this SP (no target.start), so it cannot restart it".into())
            }
            SpControl::InProcess(sp) => sp
                .restart()
                .map(|()| Started::Up)
                .map_err(|e| format!("the reference SP could not start again: {e}")),
            SpControl::Command(sp) => {
                let c = sp.inner.clone();
                tokio::task::spawn_blocking(move || {
                    c.stop()?;
                    c.start()?;
                    c.wait_up()
                })
                .await
                .map_err(|e| format!("restarting the SP: {e}"))?
            }
        }
    }
}

/// The user's SP, run by `sh -c COMMAND` in the connection file's directory, in a process group
/// of its own (so that stopping it stops what it started), its output appended to a log file.
#[derive(Debug)]
pub struct CommandSp {
    inner: std::sync::Arc<CommandParts>,
}

#[derive(Debug)]
struct CommandParts {
    pack: String,
    command: String,
    dir: PathBuf,
    host: String,
    port: u16,
    idp_url: String,
    /// How long it may take to listen.
    wait: Duration,
    /// Where its output goes; None: to fakta's stderr (`--nocapture`).
    log: Option<PathBuf>,
    /// Remove the log when the SP is stopped (the run passed: nothing to read in it).
    discard_log: std::sync::atomic::AtomicBool,
    child: Mutex<Option<Child>>,
}

/// Process groups of the SPs started, for the Ctrl-C handler.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn groups() -> std::sync::MutexGuard<'static, Vec<i32>> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every SP fakta started (on Ctrl-C or SIGTERM, before exiting): SIGTERM, then SIGKILL
/// for what is left after a second.
pub fn kill_all() {
    let all: Vec<i32> = groups().drain(..).collect();
    for &pgid in &all {
        signal_group(pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && all.iter().any(|&g| group_runs(g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pgid in &all {
        signal_group(pgid, libc::SIGKILL);
    }
}

impl CommandSp {
    /// Starts `command` for the pack and waits until it listens at `login_url`'s address.
    pub fn start(
        pack: &str,
        command: &str,
        dir: &Path,
        login_url: &url::Url,
        idp_url: &str,
        wait: Duration,
        show_output: bool,
    ) -> Result<CommandSp, String> {
        let host = login_url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = login_url.port_or_known_default().unwrap_or(80);
        if listening(&host, port) {
            return Err(format!(
                "something already listens at {host}:{port} (target.login_url of pack `{pack}`); \
                 with target.start fakta starts the SP itself: stop the one running, or remove target.start"
            ));
        }
        let log = (!show_output).then(|| {
            std::env::temp_dir().join(format!(
                "fakta-sp-{}-{}.log",
                pack.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
                std::process::id()
            ))
        });
        let parts = CommandParts {
            pack: pack.to_owned(),
            command: command.to_owned(),
            dir: {
                let d = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                // Absolute, so that the start line on stderr says where it runs.
                d.canonicalize().unwrap_or_else(|_| d.to_owned())
            },
            host,
            port,
            idp_url: idp_url.to_owned(),
            wait,
            log,
            discard_log: std::sync::atomic::AtomicBool::new(false),
            child: Mutex::new(None),
        };
        eprintln!(
            "fakta: starting the SP of pack `{pack}`: sh -c {:?} (in {}; {})",
            parts.command,
            parts.dir.display(),
            match &parts.log {
                Some(log) => format!("output in {}, kept if a trial fails", log.display()),
                None => "output below, on stderr".to_owned(),
            }
        );
        parts.start()?;
        // From here on the handle owns the process group: any early return stops it (Drop).
        let sp = CommandSp {
            inner: std::sync::Arc::new(parts),
        };
        match sp.inner.wait_up()? {
            Started::Up => Ok(sp),
            Started::Exited { status, log_tail } => Err(format!(
                "the SP of pack `{pack}` (target.start) ended with {status} before it listened at {}:{}; its last output:\n{log_tail}",
                sp.inner.host, sp.inner.port
            )),
        }
    }

    /// Removes the log once the SP is stopped (every trial passed).
    pub fn discard_log(&self) {
        self.inner
            .discard_log
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for CommandSp {
    fn drop(&mut self) {
        match self.inner.stop() {
            Err(e) => eprintln!("fakta: {e}"),
            Ok(())
                if self
                    .inner
                    .discard_log
                    .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                if let Some(log) = &self.inner.log {
                    let _ = std::fs::remove_file(log);
                }
            }
            Ok(()) => {}
        }
    }
}

/// Whether a process of the group `pgid` still runs. A member that has ended but is not yet
/// reaped does not count: the SP that `sh -c` started outlives the shell by a moment, so its
/// parent is the system's init when it ends, which reaps it when it gets round to it (seconds
/// later in some containers, and a stop waited for that: 1.9 s of a 5-second run of
/// benches/runner_scale.sh). An ended process holds no port and does nothing. Linux reads each
/// process's state in /proc; elsewhere any member of the group counts.
fn group_runs(pgid: i32) -> bool {
    if !signal_group(pgid, 0) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return true;
        };
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .any(|e| {
                std::fs::read_to_string(e.path().join("stat"))
                    .is_ok_and(|stat| running_member(&stat, pgid))
            })
    }
    #[cfg(not(target_os = "linux"))]
    true
}

/// Whether a `/proc/<pid>/stat` line is that of a process of group `pgid` that has not ended
/// (state neither Z, ended and not reaped, nor X, being reaped). Its name, in parentheses,
/// may hold spaces and parentheses: the fields that follow come after the last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn running_member(stat: &str, pgid: i32) -> bool {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    // state, ppid, pgrp
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
    pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
}

/// Whether something accepts connections at host:port now.
pub(super) fn listening(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok())
}

impl CommandParts {
    fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self) -> Result<(), String> {
        let (out, err) = match &self.log {
            Some(log) => {
                let cannot =
                    |e: std::io::Error| format!("cannot write the SP log {}: {e}", log.display());
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(log)
                    .map_err(cannot)?;
                let err = out.try_clone().map_err(cannot)?;
                (Stdio::from(out), Stdio::from(err))
            }
            // Both to stderr: stdout is libtest's.
            None => (
                Stdio::from(std::io::stderr()),
                Stdio::from(std::io::stderr()),
            ),
        };
        let mut command = Command::new("sh");
        if let Some(ca) = crate::tls::ca_file() {
            // An https IdP: the SP is told which CA signed its certificate.
            command.env("FAKTA_CA_FILE", &ca);
            if std::env::var_os("NODE_EXTRA_CA_CERTS").is_none() {
                command.env("NODE_EXTRA_CA_CERTS", &ca);
            }
        }
        let child = command
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.dir)
            .env("FAKTA_IDP_URL", &self.idp_url)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run target.start of pack `{}` (sh -c {:?} in {}): {e}",
                    self.pack,
                    self.command,
                    self.dir.display()
                )
            })?;
        groups().push(child.id() as i32);
        *self.child() = Some(child);
        Ok(())
    }

    /// Waits until the SP listens, or its command ends, or its wait passes.
    fn wait_up(&self) -> Result<Started, String> {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(c) = self.child().as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Ok(Started::Exited {
                        status: status.to_string(),
                        log_tail: self.log_tail(),
                    });
                }
            }
            if listening(&self.host, self.port) {
                return Ok(Started::Up);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the SP of pack `{}` (target.start) does not listen at {}:{} after {} s (more with --sp-wait); its last output:\n{}",
                    self.pack,
                    self.host,
                    self.port,
                    self.wait.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the SP's whole process group: SIGTERM, then SIGKILL after a grace period; returns
    /// once nothing of it is left and its port is free.
    fn stop(&self) -> Result<(), String> {
        let Some(mut child) = self.child().take() else {
            return Ok(());
        };
        let pgid = child.id() as i32;
        signal_group(pgid, libc::SIGTERM);
        let mut killed = false;
        let mut deadline = Instant::now() + STOP_GRACE;
        loop {
            let _ = child.try_wait();
            // The group is gone once every process in it has ended.
            let gone = !group_runs(pgid);
            if gone && !listening(&self.host, self.port) {
                groups().retain(|g| *g != pgid);
                return Ok(());
            }
            if Instant::now() >= deadline {
                if killed {
                    return Err(format!(
                        "the SP of pack `{}` still runs (or its port {}:{} is still taken) after SIGKILL",
                        self.pack, self.host, self.port
                    ));
                }
                signal_group(pgid, libc::SIGKILL);
                killed = true;
                deadline = Instant::now() + STOP_GRACE;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines the SP wrote.
    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return "(shown above, on stderr)".into();
        };
        let Ok(mut f) = File::open(log) else {
            return "(no output)".into();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.trim().is_empty() {
            "(no output)".into()
        } else {
            tail
        }
    }
}

/// Runs a trial whose fault is in what the SP reads when it starts (O13): with no other trial
/// running, the IdP serves the forged discovery, the SP is restarted and must refuse the login
/// (or refuse to start); then the honest discovery is back, the SP is restarted again, and the
/// honest login must succeed — so an SP that fails after any restart does not pass.
pub async fn run_with_fresh_sp(
    spec: &TrialSpec,
    idp: &IdpState,
    sp: &SpControl,
    chromium: Option<&crate::browser::Chromium>,
) -> Result<Passed, Failure> {
    let Some(fault) = spec.oidc_fault else {
        return exec::run_alone_in(spec, idp, chromium).await;
    };
    if fault == crate::oidc::faults::Fault::NoKidSingleKey {
        return run_with_single_key_jwks(spec, idp, sp, chromium).await;
    }
    let setup = |what: String| Failure::new(FailureKind::Setup, what);
    idp.set_discovery_fault(Some(fault));
    let attack = match sp.restart().await {
        Ok(Started::Up) => exec::run_alone_in(spec, idp, chromium).await,
        // Refusing to start on a discovery document it must not trust is a refusal.
        Ok(Started::Exited { .. }) => Ok(Passed {
            notes: vec!["refused: the SP would not start with the forged discovery".into()],
            ..Passed::default()
        }),
        Err(e) => Err(setup(format!(
            "{}: the SP was restarted to read the forged discovery, and: {e}",
            spec.name
        ))),
    };
    let served = idp.set_discovery_fault(None);
    let honest = sp.restart().await;
    let twin = TrialSpec {
        name: format!("{} (honest twin, after a restart)", spec.name),
        oidc_fault: None,
        steps: vec![Step::Login {
            expect: LoginOutcome::Accepted,
            from: LoginFrom::Sp,
            browser: "main".into(),
            user: None,
        }],
        ..spec.clone()
    };
    let twin = match honest {
        Ok(Started::Up) => exec::run_alone_in(&twin, idp, chromium).await,
        Ok(Started::Exited { status, log_tail }) => Err(Failure::new(
            FailureKind::SpCrashed,
            format!(
                "{}: the SP ended with {status} when restarted with the honest discovery; its last output:\n{log_tail}",
                twin.name
            ),
        )),
        Err(e) => Err(setup(format!("{}: {e}", twin.name))),
    };
    let discovery = match served.last {
        Some((altered, shown)) => format!(
            "forged: {} {}: {altered}; the SP fetched the forged discovery {} time(s) after its restart\n\
             forged discovery document (served to everyone while the trial had the SP alone):\n{shown}",
            fault.case(),
            fault.name(),
            served.served
        ),
        None => format!(
            "forged: {} {}: the SP did not fetch discovery after its restart (it was not restarted \
             for real, or it has the IdP's endpoints configured by hand)",
            fault.case(),
            fault.name()
        ),
    };
    match (attack, twin) {
        (Err(e), _) => Err(Failure::new(
            e.kind,
            format!("{}\n{discovery}", e.transcript),
        )),
        (Ok(_), Err(e)) => Err(Failure::new(
            FailureKind::CannotJudge,
            format!(
                "cannot judge: the SP refused the forged discovery, but after a restart with the \
                 honest one the honest login failed too, so the refusal shows nothing:\n{}",
                e.render()
            ),
        )),
        (Ok(_), Ok(_)) if served.served == 0 => Ok(Passed {
            notes: Vec::new(),
            not_run: Some(
                "the SP did not fetch discovery after its restart: it never read the forged document".into(),
            ),
            observed: Vec::new(),
        }),
        (Ok(passed), Ok(_)) => Ok(passed),
    }
}

/// O10 with a single key (OIDF RP test kid-absent-single-jwks): with no other trial running,
/// the IdP publishes a JWK Set holding only the app's signing key, the SP is restarted (so it
/// reads that set, not the one it kept), and the login, whose id_token has no kid, must be
/// accepted; then the published JWKS is back and the SP is restarted again. An SP that never
/// fetched the single-key set cannot know the kid was optional: not judged.
pub async fn run_with_single_key_jwks(
    spec: &TrialSpec,
    idp: &IdpState,
    sp: &SpControl,
    chromium: Option<&crate::browser::Chromium>,
) -> Result<Passed, Failure> {
    let setup = |what: String| Failure::new(FailureKind::Setup, format!("{}: {what}", spec.name));
    let alg = spec
        .conn
        .app(&spec.app)
        .and_then(|a| a.oidc())
        .map(|o| o.signing_alg)
        .ok_or_else(|| setup("the trial's app is not an OIDC app".into()))?;
    let single = idp
        .single_key_jwks(alg)
        .ok_or_else(|| setup(format!("no {} key to publish alone", alg.name())))?;
    idp.set_jwks_override(Some(single));
    let attack = match sp.restart().await {
        Ok(Started::Up) => exec::run_alone_in(spec, idp, chromium).await,
        Ok(Started::Exited { status, log_tail }) => Err(Failure::new(
            FailureKind::SpCrashed,
            format!(
                "{}: the SP ended with {status} when restarted to read a JWKS of one key; its last output:\n{log_tail}",
                spec.name
            ),
        )),
        Err(e) => Err(setup(format!(
            "the SP was restarted to read a JWKS of one key, and: {e}"
        ))),
    };
    let served = idp.set_jwks_override(None);
    // The trials after this one must meet an SP that reads the published JWKS again.
    let back = sp.restart().await;
    let fetched = format!(
        "the JWKS served while the trial had the SP alone held only the {} signing key; the SP \
fetched it {served} time(s) after its restart",
        alg.name()
    );
    let unseen = || Passed {
        notes: Vec::new(),
        not_run: Some(
            "the SP did not fetch the JWKS after its restart: it never saw that the set held a \
single key (with the several keys it knew, refusing a token without kid is allowed: O10)"
                .into(),
        ),
        ..Passed::default()
    };
    match (attack, back) {
        // Refusing is allowed to an SP that still knows several keys; failing (5xx) is not.
        (Err(e), _) if served == 0 && e.kind == FailureKind::SpRefused => Ok(unseen()),
        (Err(e), _) => Err(Failure::new(e.kind, format!("{}\n{fetched}", e.transcript))),
        (Ok(_), _) if served == 0 => Ok(unseen()),
        (Ok(_), Ok(Started::Exited { status, log_tail })) => Err(Failure::new(
            FailureKind::SpCrashed,
            format!(
                "{}: the SP accepted the token, then ended with {status} when restarted with the \
published JWKS; its last output:\n{log_tail}",
                spec.name
            ),
        )),
        (Ok(_), Err(e)) => Err(setup(format!(
            "the SP accepted the token, then could not be restarted with the published JWKS: {e}"
        ))),
        (Ok(passed), Ok(Started::Up)) => Ok(passed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_name() {
        // pid (comm) state ppid pgrp ...
        assert!(running_member("42 (sh) S 1 42 42 0 -1", 42));
        assert!(running_member("43 (fakta sp) R 42 42 42 0", 42));
        // A name holding ") Z 1 42": the fields after the last ')' count.
        assert!(running_member("44 (x) Z 1 42) S 1 42 42", 42));
        assert!(!running_member("45 (fakta) Z 1 42 42 0", 42));
        assert!(!running_member("46 (fakta) X 1 42 42 0", 42));
        assert!(!running_member("47 (other) S 1 7 7 0", 42));
        assert!(!running_member("garbage", 42));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_ended_member_not_yet_reaped_does_not_run() {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .args(["-c", "exit 0"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        // Ended but not reaped (nobody waits for it yet): the group still answers signal 0.
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_runs(pgid) {
            assert!(Instant::now() < deadline, "the shell never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            signal_group(pgid, 0),
            "the ended shell was reaped by someone else"
        );
        child.wait().unwrap();
        assert!(!group_runs(pgid));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_running_member_runs() {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sleep")
            .arg("5")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        assert!(group_runs(pgid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!group_runs(pgid));
    }
}
