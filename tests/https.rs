//! HTTPS in one step: an `https` base URL makes `fakta serve` serve TLS with a certificate from
//! fakta's local CA, which independent clients (curl, Python's ssl) accept once told to trust
//! the CA and refuse otherwise; `fakta tls show` prints it; `fakta demo --https` passes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, run_with_deadline, wait_for_line};

const BIN: &str = env!("CARGO_BIN_EXE_fakta");

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_over_https_with_a_local_ca_that_independent_clients_trust() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let port = free_port();
    let file = dir.path().join("oidc.yaml");
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/qovery-oidc.yaml"
    ))
    .unwrap()
    .replace(
        "base_url: http://127.0.0.1:7000",
        &format!("base_url: https://localhost:{port}"),
    );
    std::fs::write(&file, yaml).unwrap();
    let mut server = Server(
        Command::new(BIN)
            .arg("--certs")
            .arg(&certs)
            .arg("serve")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let banner = wait_for_line(
        &mut server.0,
        "fakta IdP listening",
        Duration::from_secs(20),
    );
    assert!(banner.contains("on https://127.0.0.1:"), "{banner}");
    let ca = certs.join("tls-ca.pem");
    for (file, mode) in [("tls-ca-key.pem", 0o600), ("tls-server-key.pem", 0o600)] {
        let m = std::fs::metadata(certs.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, mode, "{file}");
    }
    let url = format!("https://localhost:{port}/oauth2/default/.well-known/openid-configuration");

    // curl, told to trust the CA: the discovery document, with its https issuer.
    let (code, out, err) = run_with_deadline(
        Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&ca)
            .arg(&url),
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "curl with the CA: {err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["issuer"],
        format!("https://localhost:{port}/oauth2/default")
    );
    // curl with only the system's roots: the certificate is refused (60: peer certificate
    // cannot be authenticated), so the trust really comes from the CA file.
    let (code, _, _) = run_with_deadline(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null"])
            .arg(&url),
        Duration::from_secs(20),
    );
    assert_eq!(
        code, 60,
        "curl without the CA must refuse fakta's certificate"
    );
    // Python's ssl module, which checks the host name against the certificate's names too.
    let script = format!(
        "import ssl, urllib.request, json\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         for host in ['localhost', '127.0.0.1']:\n\
         \x20   url = 'https://%s:{port}/oauth2/default/v1/keys' % host\n\
         \x20   keys = json.load(urllib.request.urlopen(url, context=ctx))\n\
         \x20   assert keys['keys'], keys\n\
         print('ok', ssl.OPENSSL_VERSION)\n",
        ca = ca.display().to_string()
    );
    let (code, out, err) = run_with_deadline(
        Command::new("python3").arg("-c").arg(&script),
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "python: {err}");
    assert!(out.starts_with("ok"), "{out}");
    // Plain HTTP on the TLS port gets no answer a client could take for the IdP's.
    let (code, _, _) = run_with_deadline(
        Command::new("curl")
            .args(["-sS", "--max-time", "5", "-o", "/dev/null"])
            .arg(format!(
                "http://localhost:{port}/.well-known/openid-configuration"
            )),
        Duration::from_secs(20),
    );
    assert_ne!(code, 0);
}

#[test]
fn tls_show_prints_the_ca_and_how_to_trust_it_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (code, out, err) = run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(&certs)
            .args(["tls", "show"]),
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-----BEGIN CERTIFICATE-----"), "{out}");
    assert!(!out.contains("PRIVATE KEY") && !err.contains("PRIVATE KEY"));
    for setting in [
        "NODE_EXTRA_CA_CERTS=",
        "REQUESTS_CA_BUNDLE=",
        "SSL_CERT_FILE=",
        "--cacert",
    ] {
        assert!(out.contains(setting), "{setting} missing:\n{out}");
    }
    // The PEM printed is the CA file's.
    let pem = std::fs::read_to_string(certs.join("tls-ca.pem")).unwrap();
    assert!(out.contains(&pem));
    // A second call makes nothing new.
    let (_, again, err2) = run_with_deadline(
        Command::new(BIN)
            .arg("--certs")
            .arg(&certs)
            .args(["tls", "show"]),
        Duration::from_secs(30),
    );
    assert_eq!(again, out);
    assert!(!err2.contains("created"), "{err2}");
}

#[test]
fn the_demo_passes_over_https() {
    // The logins and roles of every pack (SAML both ways, OIDC: the reference SP fetches
    // discovery, keys and tokens over TLS) and the revocations.
    let dir = tempfile::tempdir().unwrap();
    for (filter, at_least) in [("R1_", 5), ("T1_", 2)] {
        let (code, out, err) = run_with_deadline(
            Command::new(BIN)
                .arg("--certs")
                .arg(dir.path())
                .args(["demo", "--https", filter]),
            Duration::from_secs(240),
        );
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("0 failed"), "{out}");
        let passed: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("test result: ok. "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(passed >= at_least, "{filter}: {out}");
    }
}
