//! The `fakta` binary end to end: help texts, key management, and `serve` answering on a socket.

mod common;
use common::{free_port, run_with_deadline, try_wait_for_line_in, wait_for_line, wait_for_line_in};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

fn fakta(args: &[&str]) -> (i32, String, String) {
    run_with_deadline(Command::new(BIN).args(args), Duration::from_secs(60))
}

#[test]
fn help_texts() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["check", "--help"],
        &["keys", "--help"],
        &["sp", "--help"],
        &["test", "--help"],
        &["demo", "--help"],
        &["revoke", "--help"],
        &["export", "--help"],
        &["init", "--help"],
        &["schema", "--help"],
        &["sp", "--list-flaws"],
    ] {
        let (code, out, _) = fakta(args);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("help_{}", args.join("_").replace("--", "")), out);
    }
}

#[test]
fn keys_show_rotate_retire() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let c = certs.to_str().unwrap();
    let (code, first, err) = fakta(&["--certs", c, "keys", "show"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("created a new signing key"));
    assert!(first.contains("-----BEGIN CERTIFICATE-----"));
    assert!(
        !first.contains("PRIVATE KEY"),
        "the private key is never printed"
    );
    let mode = std::fs::metadata(certs.join("signing-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The fingerprint printed is the SHA-256 of the certificate's DER, as openssl computes it.
    let fp_line = first
        .lines()
        .find(|l| l.contains("SHA-256 fingerprint"))
        .unwrap();
    let fp = fp_line.rsplit(' ').next().unwrap();
    let pem = std::fs::read(certs.join("signing-cert.pem")).unwrap();
    let der = openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap();
    let expected: Vec<String> = openssl::sha::sha256(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(fp, expected.join(":"));

    let (_, again, err) = fakta(&["--certs", c, "keys", "show"]);
    assert!(!err.contains("created"), "the key is reused");
    assert_eq!(first, again);

    let (code, rotated, _) = fakta(&["--certs", c, "keys", "rotate"]);
    assert_eq!(code, 0);
    assert!(rotated.contains("previous certificate, still published"));
    assert_eq!(rotated.matches("BEGIN CERTIFICATE").count(), 2);
    let (code, _, err) = fakta(&["--certs", c, "keys", "rotate"]);
    assert_eq!(code, 2);
    assert!(err.contains("fakta keys retire"), "{err}");
    let (code, retired, _) = fakta(&["--certs", c, "keys", "retire"]);
    assert_eq!(code, 0);
    assert_eq!(retired.matches("BEGIN CERTIFICATE").count(), 1);
    let (code, _, err) = fakta(&["--certs", c, "keys", "retire"]);
    assert_eq!(code, 2);
    assert!(err.contains("no previous certificate"), "{err}");
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Kills the server even when an assertion fails.
struct Server(std::process::Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_metadata_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (_server, addr) = serve_on_a_free_port(&certs, None);
    assert!(addr.starts_with("127.0.0.1:"));
    let answer = http_get(&addr, "/app/qovery/sso/saml/metadata");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("<md:EntityDescriptor"));
    let mode = std::fs::metadata(certs.join("signing-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn serve_warns_when_listening_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    // Port 1 cannot be bound without privileges on most machines, but the warning comes first;
    // bind 0.0.0.0:0 and stop the server as soon as the warning is seen.
    let mut child = Server(
        Command::new(BIN)
            .args([
                "--certs",
                certs.to_str().unwrap(),
                "serve",
                "--listen",
                "0.0.0.0:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let stderr = child.0.stderr.take().unwrap();
    wait_for_line_in(
        stderr,
        "warning: listening on 0.0.0.0:",
        Duration::from_secs(20),
    );
}

#[test]
fn serve_refuses_a_broken_file_with_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "idp: { base_url: nope }\n").unwrap();
    let (code, _, err) = fakta(&[
        "--certs",
        dir.path().to_str().unwrap(),
        "serve",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:1:18: idp.base_url:"), "{err}");
    assert!(err.contains("run `fakta check` on it"), "{err}");
}

#[test]
fn the_ci_template_script_fails_on_a_broken_file_and_passes_the_example() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/check-connection.sh");
    let run = |file: &str| {
        run_with_deadline(
            Command::new("bash")
                .arg(script)
                .arg(file)
                .env("FAKTA_BIN", BIN),
            Duration::from_secs(60),
        )
    };
    let ok = run(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/qovery-saml.yaml"
    ));
    assert_eq!(ok.0, 0, "{}", ok.1);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "idp: { base_url: http://127.0.0.1:7000 }\napps: []\n").unwrap();
    let out = run(bad.to_str().unwrap());
    assert_eq!(out.0, 2);
    assert!(out.1.contains("missing key `directory`"), "{}", out.1);
}

/// Starts `fakta ARGS` and waits for its line starting with `prefix`; Err (the process
/// stopped) with what it printed when the line does not come.
fn start_server(certs: &Path, args: &[&str], prefix: &str) -> Result<Server, String> {
    let mut child = Command::new(BIN)
        .arg("--certs")
        .arg(certs)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // stderr is drained all along (the server logs there), and kept for a failure.
    let err = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stderr.take().unwrap();
    let kept = err.clone();
    let drained = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            kept.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    let mut server = Server(child);
    match try_wait_for_line_in(stdout, prefix, Duration::from_secs(20)) {
        Ok(_) => Ok(server),
        Err(e) => {
            let _ = server.0.kill();
            let _ = server.0.wait();
            let _ = drained.join();
            let err = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
            Err(format!("{e}\n--- stderr\n{err}"))
        }
    }
}

#[test]
fn revoke_sends_through_the_running_idp() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    let certs = dir.path().join("certs");
    // The ports are written into the file for the two processes: when one was taken between
    // choosing it and binding it, start again on others.
    let mut last = String::new();
    let mut servers = None;
    for _ in 0..5 {
        let (idp, sp) = (free_port(), free_port());
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/qovery-saml.yaml"
        ))
        .unwrap()
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
        std::fs::write(&file, yaml).unwrap();
        let f = file.to_str().unwrap();
        let started = start_server(&certs, &["serve", f], "fakta IdP listening").and_then(|i| {
            start_server(&certs, &["sp", f], "fakta reference SP listening").map(|s| (i, s))
        });
        match started {
            Ok(both) => {
                servers = Some(both);
                break;
            }
            Err(e) if e.contains("Address already in use") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    let _servers = servers.unwrap_or_else(|| panic!("no free ports after 5 tries: {last}"));
    let f = file.to_str().unwrap();
    let c = certs.to_str().unwrap();
    // Nobody is signed in at the SP: an honest request gets 404 (T6), which is not success.
    let (code, out, err) = fakta(&["--certs", c, "revoke", f, "--user", "00u1alice"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("SP answered 404"), "{out}");
    assert!(
        out.contains("\"typ\":\"global-token-revocation+jwt\""),
        "{out}"
    );
    // A faulty request is refused with a 4xx: that is what a conformant SP does.
    let (code, out, _) = fakta(&[
        "--certs",
        c,
        "revoke",
        f,
        "--user",
        "alice@acme.test",
        "--fault",
        "aud_wrong",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SP answered 401"), "{out}");
    let (code, _, err) = fakta(&["--certs", c, "revoke", f, "--user", "mallory"]);
    assert_eq!(code, 2);
    assert!(err.contains("no user `mallory`"), "{err}");
    let (code, _, err) = fakta(&[
        "--certs",
        c,
        "revoke",
        f,
        "--user",
        "00u1alice",
        "--fault",
        "nope",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown fault `nope`"), "{err}");
}

fn http_post_form(addr: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `fakta serve -v` logs one line per login on stderr: the app, the user, the groups sent.
#[test]
fn serve_verbose_logs_one_line_per_login() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let mut child = Server(
        Command::new(BIN)
            .args([
                "--certs",
                certs.to_str().unwrap(),
                "serve",
                "-v",
                "--listen",
                "127.0.0.1:0",
            ])
            .env_remove("FAKTA_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(stdout).lines();
    let first = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("fakta IdP listening on http://") => break line,
            Some(Ok(_)) => {}
            _ => panic!("fakta serve did not start"),
        }
    };
    let addr = first
        .trim_start_matches("fakta IdP listening on http://")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    // An IdP-initiated login as alice: the login page, then the user picked.
    let start = http_get(&addr, "/app/acme_qovery_1/qovery/sso/saml");
    let token = start
        .split("state=")
        .nth(1)
        .and_then(|t| t.split(|c: char| c.is_whitespace()).next())
        .unwrap_or_else(|| panic!("no login page redirect: {start}"))
        .to_owned();
    let done = http_post_form(
        &addr,
        "/login/login.htm",
        &format!("state={token}&username=00u1alice"),
    );
    assert!(done.starts_with("HTTP/1.1 200"), "{done}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line)
                if line
                    .contains("login: app qovery, user 00u1alice, groups sent [Qovery-Admins]") =>
            {
                break;
            }
            Ok(line) => seen.push(line),
            Err(_) => panic!("no login line on stderr; saw:\n{}", seen.join("\n")),
        }
    }
}

/// Issue 13: `fakta serve` and `fakta sp` stop on SIGTERM (and SIGINT) within a bounded time
/// and exit 0, even with a client that sent half a request head and went quiet.
#[test]
fn serve_and_sp_stop_on_sigterm_and_sigint_despite_a_silent_client() {
    let dir = tempfile::tempdir().unwrap();
    let (idp, sp) = (free_port(), free_port());
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/qovery-saml.yaml"
    ))
    .unwrap()
    .replace("127.0.0.1:7000", &format!("127.0.0.1:{idp}"))
    .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp}"));
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, yaml).unwrap();
    let certs = dir.path().join("certs");
    for (command, port, banner, signal) in [
        ("serve", idp, "fakta IdP listening", "-TERM"),
        ("sp", sp, "fakta reference SP listening", "-INT"),
    ] {
        let mut child = Server(
            Command::new(BIN)
                .arg("--certs")
                .arg(&certs)
                .args([command, file.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_line(&mut child.0, banner, Duration::from_secs(20));
        let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
        silent.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let killed = Command::new("kill")
            .args([signal, &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "fakta {command} still running 10 s after {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "fakta {command} after {signal}: {status:?}"
        );
        drop(silent);
    }
}

/// `fakta serve [FILE] --listen 127.0.0.1:0`: the server and the address it listens on.
fn serve_on_a_free_port(certs: &Path, file: Option<&Path>) -> (Server, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--certs").arg(certs).arg("serve");
    if let Some(f) = file {
        cmd.arg(f);
    }
    let mut child = Server(
        cmd.args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let first = wait_for_line(
        &mut child.0,
        "fakta IdP listening on http://",
        Duration::from_secs(20),
    );
    let addr = first
        .trim_start_matches("fakta IdP listening on http://")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    (child, addr)
}

/// The status line and the body of an answer from [`http_get`].
fn status_and_body(answer: &str) -> (&str, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    (head.lines().next().unwrap_or(""), body)
}

/// `fakta serve` with no file serves the embedded example: a SAML app and OIDC apps on one
/// IdP; and `fakta export` prints, for each app, exactly what that server serves at the
/// metadata or discovery URL (the same key folder).
#[test]
fn serve_without_a_file_serves_saml_and_oidc_and_export_prints_what_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (_server, addr) = serve_on_a_free_port(&certs, None);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/example.yaml");
    let c = certs.to_str().unwrap();
    for (app, path) in [
        ("qovery", "/app/qovery/sso/saml/metadata"),
        ("qovery-oidc", "/.well-known/openid-configuration"),
        (
            "qovery-spa",
            "/oauth2/default/.well-known/openid-configuration",
        ),
    ] {
        let answer = http_get(&addr, path);
        let (status, served) = status_and_body(&answer);
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        let (code, exported, err) = fakta(&["--certs", c, "export", example, "--app", app]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !err.contains("created a new signing key"),
            "export used serve's key: {err}"
        );
        assert_eq!(exported, format!("{served}\n"), "export --app {app}");
        assert!(
            err.contains(&format!("served at http://127.0.0.1:7000{path}")),
            "{err}"
        );
    }
    let index = http_get(&addr, "/");
    let (status, page) = status_and_body(&index);
    assert!(status.starts_with("HTTP/1.1 200"), "{index}");
    // The SAML app by its metadata URL, the OIDC apps by their client ids.
    for shown in [
        "http://127.0.0.1:7000/app/qovery/sso/saml/metadata",
        "0oa1qoveryweb",
        "0oa2qoveryspa",
    ] {
        assert!(
            page.contains(shown),
            "the index page shows {shown}:\n{page}"
        );
    }
}

#[test]
fn export_names_the_apps_when_it_cannot_tell_which() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("certs");
    let c = c.to_str().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/example.yaml");
    let (code, out, err) = fakta(&["--certs", c, "export", example, "--app", "nope"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("no app `nope` in the file; its apps are: qovery, qovery-oidc, qovery-spa"),
        "{err}"
    );
    let (code, _, err) = fakta(&["--certs", c, "export", example]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the file has 3 apps (qovery, qovery-oidc, qovery-spa): say which with --app"),
        "{err}"
    );
    // One app: --app may be left out.
    let saml = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/qovery-saml.yaml");
    let (code, out, err) = fakta(&["--certs", c, "export", saml]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("<?xml"), "{out}");
    assert!(
        out.contains("entityID=\"http://www.okta.com/qovery\""),
        "{out}"
    );
}

/// `fakta init` writes a starter file that `fakta check` passes with no warning and `fakta
/// serve` runs as it is; a second `init` on the same path refuses and leaves the file alone.
#[test]
fn init_writes_a_starter_that_checks_and_serves_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    for (protocol, path) in [
        ("saml", "/app/my-app/sso/saml/metadata"),
        ("oidc", "/.well-known/openid-configuration"),
    ] {
        let file = dir.path().join(format!("{protocol}.yaml"));
        let f = file.to_str().unwrap();
        let (code, _, err) = fakta(&["init", "--protocol", protocol, f]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("CHANGE ME"), "{err}");
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(written.contains("CHANGE ME"));

        let (code, out, _) = fakta(&["check", f]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.ends_with(&format!("{f}: 0 error(s), 0 warning(s)\n")),
            "{out}"
        );

        let (server, addr) = serve_on_a_free_port(&certs, Some(&file));
        let answer = http_get(&addr, path);
        assert!(answer.starts_with("HTTP/1.1 200"), "{protocol}: {answer}");
        drop(server);

        std::fs::write(&file, "mine\n").unwrap();
        let (code, _, err) = fakta(&["init", "--protocol", protocol, f]);
        assert_eq!(code, 2);
        assert!(
            err.contains(&format!(
                "{f} already exists; fakta init does not overwrite"
            )),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    }
    // Into a folder that does not exist: an error naming the path, no panic.
    let missing = dir.path().join("no/such/folder/c.yaml");
    let (code, _, err) = fakta(&["init", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot create"), "{err}");
}

/// With no path, `fakta init` writes fakta.yaml in the current folder (SAML by default).
#[test]
fn init_defaults_to_a_saml_fakta_yaml_here() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_with_deadline(
        Command::new(BIN).arg("init").current_dir(dir.path()),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(dir.path().join("fakta.yaml")).unwrap();
    assert!(written.contains("protocol: saml"));
}
