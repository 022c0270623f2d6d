//! `fakta test` against a hostile SP (issue 13): the SP under test may be broken or hostile (a
//! customer's staging system), and the runner must stay bounded in memory and time and say
//! what happened. The SP here is a few lines of std on a loopback listener bound before the
//! run: one that streams an endless page, one that accepts connections and never answers.
//! benches/hostile_sp.sh measures the same against the release build (time and peak RSS).

mod common;
use common::{free_port, retry_on_addr_in_use, run_with_deadline};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Clone, Copy)]
enum Hostile {
    /// 200, then a chunked body that never ends.
    Endless,
    /// Reads the request and never answers.
    Silent,
}

/// Serves every connection of `listener` the hostile way, each on a thread of its own, for as
/// long as the test process lives.
fn serve(listener: TcpListener, how: Hostile) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = conn.read(&mut buf);
                match how {
                    Hostile::Endless => endless(&mut conn),
                    Hostile::Silent => while conn.read(&mut buf).is_ok_and(|n| n > 0) {},
                }
            });
        }
    });
}

fn endless(conn: &mut TcpStream) {
    let _ = conn.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    let chunk = format!("{:x}\r\n{}\r\n", 65536, "<p>x".repeat(16384));
    while conn.write_all(chunk.as_bytes()).is_ok() {}
}

/// `fakta test` of the shipped SAML pack (attack pack included) against a hostile SP: the SP's
/// listener is bound here, the IdP gets a free port (a run that lost it is run again).
fn run(how: Hostile, extra: &[&str]) -> (Duration, (i32, String, String)) {
    let sp = TcpListener::bind("127.0.0.1:0").unwrap();
    let sp_port = sp.local_addr().unwrap().port();
    serve(sp, how);
    let dir = tempfile::tempdir().unwrap();
    retry_on_addr_in_use(|| {
        let yaml = std::fs::read_to_string(Path::new(ROOT).join("scenarios/qovery-saml.yaml"))
            .unwrap()
            .replace("127.0.0.1:7000", &format!("127.0.0.1:{}", free_port()))
            .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp_port}"));
        let file = dir.path().join("hostile.yaml");
        std::fs::write(&file, yaml).unwrap();
        let started = Instant::now();
        let ran = run_with_deadline(
            Command::new(BIN)
                .arg("--certs")
                .arg(dir.path().join("certs"))
                .arg("test")
                .arg(&file)
                .args(extra)
                .env_remove("FAKTA_LOG"),
            Duration::from_secs(240),
        );
        (started.elapsed(), ran)
    })
}

/// The kinds of the failures, from the "failures by kind" summary.
fn kinds(stdout: &str) -> Vec<String> {
    stdout
        .split("failures by kind:\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| l.starts_with("    "))
        .filter_map(|l| l.trim().split(' ').next().map(str::to_owned))
        .collect()
}

fn passed(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
        .count()
}

#[test]
fn an_endless_page_fails_every_trial_as_transport_at_the_byte_limit() {
    let (took, (code, out, err)) = run(Hostile::Endless, &[]);
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(passed(&out), 0, "nothing passes against this SP:\n{out}");
    assert_eq!(kinds(&out), vec!["transport"], "{out}");
    assert!(
        out.contains(
            "the server sent more than 2097152 bytes (the runner reads no more of an answer)"
        ),
        "{out}"
    );
    // Each page is given up at 2 MiB: the run is quick, and its report small.
    assert!(took < Duration::from_secs(120), "took {took:?}");
    assert!(
        out.len() < 4 * 1024 * 1024,
        "the report is {} bytes",
        out.len()
    );
}

#[test]
fn a_silent_sp_runs_out_the_run_budget_and_no_trial_passes_unheard() {
    let (took, (code, out, err)) = run(Hostile::Silent, &["--timeout", "2"]);
    assert_eq!(code, 101, "{out}\n{err}");
    assert_eq!(passed(&out), 0, "nothing passes against this SP:\n{out}");
    // The trials running when the budget ran out say so; the others were never started.
    assert!(
        out.contains("stopped: the run's time limit (2 s, --timeout) ran out during this trial"),
        "{out}"
    );
    assert!(
        out.contains(
            "not run: the run's time limit (2 s, --timeout) ran out before this trial could start"
        ),
        "{out}"
    );
    // ... and name the request they were waiting for.
    assert!(
        out.contains("it was waiting for GET http://127.0.0.1:")
            && out.contains("/login?connection=acme (sent "),
        "{out}"
    );
    let kinds = kinds(&out);
    assert_eq!(kinds, vec!["transport", "setup"], "{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
