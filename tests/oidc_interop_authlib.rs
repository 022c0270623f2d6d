//! Interop with an independent, non-Rust OpenID Connect relying party: Authlib (PyPI, pinned in
//! tests/interop/requirements.txt), through tests/interop/authlib_rp.py, against the REAL fakta
//! binary listening on a loopback port. The script does discovery, builds the authorization URL
//! (PKCE S256, nonce, state) with authlib's OAuth2Session, drives the login page with `requests`,
//! exchanges the code, verifies the id_token with authlib.jose against the JWKS from jwks_uri
//! (iss, aud, nonce, exp, iat, at_hash) and calls userinfo. With the web app's implicit grant
//! ticked, it also runs the implicit and hybrid flows (answers in the fragment), validating the
//! front-channel id_token with Authlib's ImplicitIDToken / HybridIDToken (nonce, at_hash,
//! c_hash).
//!
//! The connection file's base_url says port 7000, but the issuer must be where the RP reaches the
//! IdP: each test serves a temporary copy of scenarios/qovery-oidc.yaml whose base_url names a
//! free port, and listens there.
//!
//! python3 or Authlib missing is a failure, not a skip: run `scripts/setup-deps`. See
//! tests/interop/README.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::{SETUP_HINT, free_port, python};

use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_rp.py");
const CONNECTION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/qovery-oidc.yaml");
/// The version tests/interop/requirements.txt pins.
const AUTHLIB_VERSION: &str = "1.9.10";

const WEB: &str = "0oa1qoveryweb";
const WEB_SECRET: &str = "fakta-demo-secret-change-me";
const WEB_REDIRECT: &str = "http://127.0.0.1:7100/login/oidc/callback";
const SPA: &str = "0oa2qoveryspa";
const SPA_REDIRECT: &str = "http://127.0.0.1:7200/callback";

/// Checks that python3, Authlib and requests are there; panics (never skips) when not.
fn require_env() {
    common::require_python(SCRIPT, "authlib", AUTHLIB_VERSION);
}

/// A running `fakta serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary on a free loopback port, with a copy of the example connection whose
/// base_url is that port; waits for its `fakta IdP listening on` line.
fn start_server() -> Server {
    start_server_with(|yaml| yaml)
}

/// As [`start_server`], with the connection copy changed by `edit` first.
fn start_server_with(edit: impl Fn(String) -> String) -> Server {
    require_env();
    let mut last_error = String::new();
    // The free port can be taken between the probe and the bind: try a few.
    for _ in 0..3 {
        match try_start(free_port(), &edit) {
            Ok(s) => return s,
            Err(e) => last_error = e,
        }
    }
    panic!("fakta did not start: {last_error}");
}

fn try_start(port: u16, edit: &dyn Fn(String) -> String) -> Result<Server, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(CONNECTION).expect("read the example connection");
    let line = "  base_url: http://127.0.0.1:7000\n";
    assert_eq!(
        original.matches(line).count(),
        1,
        "{CONNECTION} no longer has the line `{}`",
        line.trim()
    );
    let base = format!("http://127.0.0.1:{port}");
    let conn = dir.path().join("qovery-oidc.yaml");
    std::fs::write(
        &conn,
        edit(original.replace(line, &format!("  base_url: {base}\n"))),
    )
    .expect("write the connection copy");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakta"))
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .arg("serve")
        .arg(&conn)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn the fakta binary");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    // Reads the banner, then keeps draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("fakta IdP listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line);
                }
            }
        }
    });
    let mut server = Server {
        child,
        base,
        _dir: dir,
    };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => {
            assert!(
                line.starts_with(&format!("fakta IdP listening on http://127.0.0.1:{port} ")),
                "{line}"
            );
            Ok(server)
        }
        Err(_) => {
            let status = server.child.try_wait().ok().flatten();
            Err(format!(
                "no `fakta IdP listening on` line (exit status {status:?}); stderr:\n{}",
                read(&stderr_path)
            ))
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// What one run of the Authlib RP printed, and its exit code.
struct RpRun {
    code: i32,
    out: Value,
    stderr: String,
}

fn run_rp(args: &[&str]) -> RpRun {
    require_env();
    let py = python();
    let out = Command::new(&py)
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{py}`: {e}; {SETUP_HINT}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert_ne!(
        code, 2,
        "the Authlib RP says the environment is not ready:\n{stdout}{stderr}\n{SETUP_HINT}"
    );
    let out = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("the Authlib RP printed no JSON ({e}), exit {code}:\n{stdout}\n{stderr}")
    });
    RpRun { code, out, stderr }
}

fn confidential(server: &Server, extra: &[&str]) -> RpRun {
    let mut args = vec![
        "--issuer",
        &server.base,
        "--client-id",
        WEB,
        "--client-secret",
        WEB_SECRET,
        "--redirect-uri",
        WEB_REDIRECT,
        "--user",
        "alice@acme.test",
    ];
    args.extend_from_slice(extra);
    // A later `--client-secret` wins with argparse.
    run_rp(&args)
}

#[test]
fn authlib_logs_in_with_the_confidential_rs256_client_on_the_org_server() {
    let server = start_server();
    let run = confidential(&server, &[]);
    let o = &run.out;
    assert_eq!(
        run.code, 0,
        "Authlib refused the login: {o}\n{}",
        run.stderr
    );
    assert_eq!(o["ok"], true);
    assert_eq!(o["authlib"], AUTHLIB_VERSION);
    assert_eq!(o["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(o["header"]["alg"], "RS256");
    let c = &o["claims"];
    assert_eq!(c["iss"], server.base.as_str());
    assert_eq!(c["aud"], WEB);
    assert_eq!(c["sub"], "00u1alice");
    assert_eq!(c["email"], "alice@acme.test");
    assert_eq!(c["name"], "Alice Admin");
    assert_eq!(c["groups"], json!(["Qovery-Admins"]));
    assert!(c["at_hash"].is_string() && c["nonce"].is_string(), "{c}");
    let ui = &o["userinfo"];
    assert_eq!(ui["sub"], "00u1alice");
    assert_eq!(ui["email"], "alice@acme.test");
    assert_eq!(ui["groups"], json!(["Qovery-Admins"]));
}

#[test]
fn authlib_logs_in_with_the_public_es256_client_and_pkce_on_the_custom_server() {
    let server = start_server();
    let issuer = format!("{}/oauth2/default", server.base);
    let run = run_rp(&[
        "--issuer",
        &issuer,
        "--client-id",
        SPA,
        "--redirect-uri",
        SPA_REDIRECT,
        "--user",
        "alice@acme.test",
        "--alg",
        "ES256",
    ]);
    let o = &run.out;
    assert_eq!(
        run.code, 0,
        "Authlib refused the login: {o}\n{}",
        run.stderr
    );
    assert_eq!(o["token_endpoint_auth_method"], "none");
    assert_eq!(o["header"]["alg"], "ES256");
    let c = &o["claims"];
    assert_eq!(c["iss"], issuer.as_str());
    assert_eq!(c["aud"], SPA);
    assert_eq!(c["email"], "alice@acme.test");
    assert_eq!(c["groups"], json!(["Qovery-Admins"]));
    assert_eq!(o["userinfo"]["sub"], "00u1alice");
}

#[test]
fn authlib_refuses_a_wrong_nonce_and_fakta_refuses_a_wrong_secret() {
    let server = start_server();
    let run = confidential(&server, &["--wrong-nonce"]);
    assert_eq!(run.code, 1, "{}", run.out);
    assert_eq!(run.out["stage"], "id_token", "{}", run.out);
    assert!(
        run.out["error"].as_str().unwrap_or("").contains("nonce"),
        "{}",
        run.out
    );

    let run = confidential(&server, &["--client-secret", "not-the-secret"]);
    assert_eq!(run.code, 1, "{}", run.out);
    assert_eq!(run.out["stage"], "token", "{}", run.out);
    assert!(
        run.out["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_client"),
        "{}",
        run.out
    );

    // An RP that expects ES256 from the org server's RS256 client refuses its id_token.
    let run = confidential(&server, &["--alg", "ES256"]);
    assert_eq!(run.code, 1, "{}", run.out);
    assert_eq!(run.out["stage"], "id_token", "{}", run.out);
}

/// An edit of the connection copy that replaces `from` (found exactly once) with `to`.
fn replacing(from: &'static str, to: String) -> impl Fn(String) -> String {
    move |yaml: String| {
        assert_eq!(yaml.matches(from).count(), 1, "{CONNECTION}: `{from}`");
        yaml.replace(from, &to)
    }
}

/// The web app's lines for its client secret and method, replaced in the JWT tests.
const WEB_AUTH: &str = "    client_secret: fakta-demo-secret-change-me   # a test secret; never a real one\n    token_endpoint_auth_method: client_secret_basic   # or client_secret_post, or none (public + PKCE)\n";
const CLIENT_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/valid/client-rsa.pem");
const CLIENT_EC_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/valid/client-ec.pem");

/// Authlib's own RFC 7523 client authentication (`PrivateKeyJWT`, RS256 and ES256, and
/// `ClientSecretJWT`, HS256) is accepted by fakta's token endpoint; an assertion signed with a
/// key the app does not hold, or with another secret, is refused as `invalid_client`.
#[test]
fn authlib_authenticates_with_private_key_jwt_and_client_secret_jwt() {
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/valid/client-jwks.json");
    let pk = format!("    token_endpoint_auth_method: private_key_jwt\n    jwks: {jwks}\n");
    let server = start_server_with(replacing(WEB_AUTH, pk));
    let key_args = |key: &'static str, alg: &'static str, kid: &'static str| {
        vec![
            "--auth-method",
            "private_key_jwt",
            "--private-key",
            key,
            "--assertion-alg",
            alg,
            "--kid",
            kid,
        ]
    };
    for (key, alg, kid) in [
        (CLIENT_KEY, "RS256", "client-rsa"),
        (CLIENT_EC_KEY, "ES256", "client-ec"),
    ] {
        let run = confidential(&server, &key_args(key, alg, kid));
        assert_eq!(run.code, 0, "{alg}: {}\n{}", run.out, run.stderr);
        assert_eq!(run.out["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(run.out["claims"]["sub"], "00u1alice");
    }
    // The IdP's own key is not the client's.
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger.pem");
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    std::fs::write(&stranger, key.private_key_to_pem().unwrap()).unwrap();
    let stranger = stranger.to_str().unwrap().to_owned();
    let mut args = vec!["--auth-method", "private_key_jwt", "--private-key"];
    args.push(&stranger);
    let run = confidential(&server, &args);
    assert_eq!(run.code, 1, "{}", run.out);
    assert_eq!(run.out["stage"], "token", "{}", run.out);
    assert!(
        run.out["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_client"),
        "{}",
        run.out
    );
    drop(server);

    let hs = "    client_secret: a-long-enough-client-secret-for-hs256\n    token_endpoint_auth_method: client_secret_jwt\n";
    let server = start_server_with(replacing(WEB_AUTH, hs.to_owned()));
    let jwt_args = ["--auth-method", "client_secret_jwt"];
    let mut args = vec!["--client-secret", "a-long-enough-client-secret-for-hs256"];
    args.extend(jwt_args);
    let run = confidential(&server, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.stderr);
    assert_eq!(run.out["token_endpoint_auth_method"], "client_secret_jwt");
    let mut args = vec!["--client-secret", "not-the-secret"];
    args.extend(jwt_args);
    let run = confidential(&server, &args);
    assert_eq!(run.code, 1, "{}", run.out);
    assert!(
        run.out["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_client"),
        "{}",
        run.out
    );
}

/// An EC private key on `nid` written as PKCS#8 PEM in `dir`, and its public JWK (x, y of the
/// curve's size) with `kid`.
fn ec_client_key(
    dir: &Path,
    nid: openssl::nid::Nid,
    crv: &str,
    size: i32,
    kid: &str,
) -> (String, Value) {
    use openssl::bn::{BigNum, BigNumContext};
    let group = openssl::ec::EcGroup::from_curve_name(nid).unwrap();
    let ec = openssl::ec::EcKey::generate(&group).unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    ec.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut BigNumContext::new().unwrap())
        .unwrap();
    let b64 = |n: &BigNum| fakta::oidc::jwt::b64(&n.to_vec_padded(size).unwrap());
    let jwk =
        json!({"kty": "EC", "crv": crv, "kid": kid, "use": "sig", "x": b64(&x), "y": b64(&y)});
    let pem = openssl::pkey::PKey::from_ec_key(ec)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let path = dir.join(format!("{kid}.pem"));
    std::fs::write(&path, pem).unwrap();
    (path.to_str().unwrap().to_owned(), jwk)
}

/// Issue 19: every algorithm Okta takes for private_key_jwt (RS256, RS384, RS512, ES256,
/// ES384, ES512), signed by Authlib, is accepted; an algorithm the registered key does not
/// allow (its JWK names RS256; RS512 asked) is refused as `invalid_client`.
#[test]
fn authlib_signs_private_key_jwt_with_each_algorithm_okta_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let shipped: Value = serde_json::from_str(&read(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/valid/client-jwks.json"
    ))))
    .unwrap();
    // The client's RSA key twice: once for any RS alg, once pinned to RS256 by its JWK.
    let mut any_rs = shipped["keys"][0].clone();
    any_rs.as_object_mut().unwrap().remove("alg");
    any_rs["kid"] = json!("rsa-any");
    let pinned = shipped["keys"][0].clone();
    assert_eq!(pinned["alg"], "RS256");
    let p256 = shipped["keys"][1].clone();
    let (p384_pem, p384) = ec_client_key(
        dir.path(),
        openssl::nid::Nid::SECP384R1,
        "P-384",
        48,
        "client-p384",
    );
    let (p521_pem, p521) = ec_client_key(
        dir.path(),
        openssl::nid::Nid::SECP521R1,
        "P-521",
        66,
        "client-p521",
    );
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [any_rs, pinned, p256, p384, p521]}).to_string(),
    )
    .unwrap();
    let pk = format!(
        "    token_endpoint_auth_method: private_key_jwt\n    jwks: {}\n",
        jwks.display()
    );
    let server = start_server_with(replacing(WEB_AUTH, pk));
    for (key, alg, kid) in [
        (CLIENT_KEY, "RS256", "rsa-any"),
        (CLIENT_KEY, "RS384", "rsa-any"),
        (CLIENT_KEY, "RS512", "rsa-any"),
        (CLIENT_EC_KEY, "ES256", "client-ec"),
        (p384_pem.as_str(), "ES384", "client-p384"),
        (p521_pem.as_str(), "ES512", "client-p521"),
    ] {
        let args = [
            "--auth-method",
            "private_key_jwt",
            "--private-key",
            key,
            "--assertion-alg",
            alg,
            "--kid",
            kid,
        ];
        let run = confidential(&server, &args);
        assert_eq!(run.code, 0, "{alg}: {}\n{}", run.out, run.stderr);
        assert_eq!(run.out["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(run.out["claims"]["sub"], "00u1alice", "{alg}");
    }
    // The same RSA key under the kid whose JWK names RS256: RS512 is not its algorithm.
    let args = [
        "--auth-method",
        "private_key_jwt",
        "--private-key",
        CLIENT_KEY,
        "--assertion-alg",
        "RS512",
        "--kid",
        "client-rsa",
    ];
    let run = confidential(&server, &args);
    assert_eq!(run.code, 1, "{}", run.out);
    assert_eq!(run.out["stage"], "token", "{}", run.out);
    let error = run.out["error"].as_str().unwrap_or("");
    assert!(
        error.contains("invalid_client") && error.contains("RS512"),
        "{}",
        run.out
    );
}

/// The web app with "Implicit (hybrid)" ticked.
fn implicit_server() -> Server {
    start_server_with(|yaml| {
        let out = yaml.replace(
            "    signing_alg: RS256 ",
            "    grant_types: [authorization_code, refresh_token, implicit]\n    signing_alg: RS256 ",
        );
        assert!(
            out.contains("implicit]"),
            "the web app's signing_alg line moved"
        );
        out
    })
}

/// Authlib's ImplicitIDToken and HybridIDToken accept fakta's implicit and hybrid answers (the
/// fragment's fields, nonce, at_hash, c_hash), and the code of a hybrid answer redeems; given
/// another code or access token than the one that came, Authlib refuses the id_token (so the
/// hashes are really checked).
#[test]
fn authlib_takes_the_implicit_and_hybrid_answers_and_checks_their_hashes() {
    let server = implicit_server();
    for rt in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let run = confidential(&server, &["--response-type", rt]);
        let o = &run.out;
        assert_eq!(run.code, 0, "{rt}: Authlib refused: {o}\n{}", run.stderr);
        assert_eq!(o["response_type"], rt);
        let c = &o["claims"];
        if rt.contains("id_token") {
            assert_eq!(c["aud"], WEB, "{rt}");
            assert_eq!(c["email"], "alice@acme.test", "{rt}");
            assert_eq!(
                c["at_hash"].is_string(),
                rt.split(' ').any(|w| w == "token"),
                "{rt}: {c}"
            );
            assert_eq!(c["c_hash"].is_string(), rt.starts_with("code"), "{rt}: {c}");
        }
        assert_eq!(
            o["redeemed"].is_array(),
            rt.starts_with("code"),
            "{rt}: {o}"
        );
    }
    for (rt, flag, claim) in [
        ("code id_token", "--wrong-code", "c_hash"),
        ("id_token token", "--wrong-access-token", "at_hash"),
        ("code id_token token", "--wrong-access-token", "at_hash"),
    ] {
        let run = confidential(&server, &["--response-type", rt, flag]);
        assert_eq!(run.code, 1, "{rt} {flag}: {}", run.out);
        assert_eq!(run.out["stage"], "id_token", "{}", run.out);
        assert!(
            run.out["error"].as_str().unwrap_or("").contains(claim),
            "{rt} {flag}: {}",
            run.out
        );
    }
}
