//! Okta's own SDKs against fakta, configured as Okta's docs configure them for a real org: only
//! the issuer URL and the trust in fakta's local CA change.
//!
//! `@okta/jwt-verifier` (Node, pinned in tests/interop/node/packages.txt, installed by
//! `scripts/setup-deps` into target/interop-node): `fakta serve` runs on an `https` base URL
//! (a free port, a temporary certs folder), the test drives the code flow of a web app on the
//! custom authorization server `default` over HTTPS with reqwest trusting only fakta's CA,
//! then tests/interop/okta_jwt_verifier.js, with `NODE_EXTRA_CA_CERTS=<certs>/tls-ca.pem` and
//! no `testing.disableHttpsCheck`, fetches the JWKS from the running server and verifies the
//! access token (`api://default`, `cid`) and the id_token (client id, nonce). Tokens signed
//! with the IdP's own key but expired, for another issuer or another audience, and a token
//! signed by a foreign key under the IdP's kid, must be refused.
//!
//! `@okta/okta-auth-js` (its published browser bundle, pinned there too) in headless Chromium
//! (`--dump-dom`, no driver): tests/spa-okta/index.html, served from its own origin, calls
//! `session.exists()` and `token.getWithoutPrompt()` (a hidden iframe, prompt=none,
//! `response_mode=okta_post_message`), before and after signing a user in.
//!
//! node, Chromium or a package missing is a failure, not a skip: run `scripts/setup-deps`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, run_with_deadline, wait_for_line};
use fakta::config::SigningAlg;
use fakta::keys::KeyStore;
use fakta::oidc::jwt::{self, peek_claims, peek_part};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fakta");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/okta_jwt_verifier.js"
);
const NODE_MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/interop-node/node_modules"
);
/// The version tests/interop/node/packages.txt pins.
const JWT_VERIFIER_VERSION: &str = "4.0.2";
const CLIENT: &str = "0oa3oktasdkweb";
const SECRET: &str = "fakta-test-secret";
const REDIRECT: &str = "http://127.0.0.1:7300/authorization-code/callback";
const NONCE: &str = "n-okta-sdk-1";
const HINT: &str = "run scripts/setup-deps: it installs nodejs and the npm packages pinned in \
tests/interop/node/packages.txt into target/interop-node";

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A connection file with one confidential web app on the custom server `default`, RS256 (the
/// only algorithm @okta/jwt-verifier takes, as Okta signs), served at `base`.
fn connection(base: &str) -> String {
    [
        "idp:".to_owned(),
        format!("  base_url: {base}"),
        "directory:".to_owned(),
        "  users:".to_owned(),
        "    - { id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Eng] }"
            .to_owned(),
        "apps:".to_owned(),
        "  - id: okta-sdk-web".to_owned(),
        "    protocol: oidc".to_owned(),
        format!("    client_id: {CLIENT}"),
        format!("    client_secret: {SECRET}"),
        "    token_endpoint_auth_method: client_secret_basic".to_owned(),
        format!("    redirect_uris: [{REDIRECT}]"),
        "    signing_alg: RS256".to_owned(),
        "    authorization_server: default".to_owned(),
    ]
    .join("\n")
}

/// Fails (never skips) when node or the pinned package is missing.
fn require_node() {
    let (code, out, err) = run_with_deadline(
        Command::new("node").arg("--version"),
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "node is needed ({out}{err}): {HINT}");
    let pkg = Path::new(NODE_MODULES).join("@okta/jwt-verifier/package.json");
    let text = std::fs::read_to_string(&pkg)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): {HINT}", pkg.display()));
    let version: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        version["version"], JWT_VERIFIER_VERSION,
        "target/interop-node holds another @okta/jwt-verifier: {HINT}"
    );
}

/// Starts `fakta serve` on an https base URL at a free port; returns it with the base URL.
fn start(dir: &Path) -> (Server, String) {
    let port = free_port();
    let base = format!("https://localhost:{port}");
    let file = dir.join("okta-sdk.yaml");
    std::fs::write(&file, connection(&base)).unwrap();
    let mut server = Server(
        Command::new(BIN)
            .arg("--certs")
            .arg(dir.join("certs"))
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
    assert!(banner.contains("https://"), "{banner}");
    (server, base)
}

/// The code flow over HTTPS, trusting only fakta's CA: authorize, the login page, the token
/// endpoint. Returns the token answer.
async fn code_flow(base: &str, ca: &Path) -> Value {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let server = format!("{base}/oauth2/default/v1");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", "st-okta-sdk"),
            ("nonce", NONCE),
        ])
        .finish();
    let start = http
        .get(format!("{server}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "{:?}", start.text().await);
    let login = start.headers()["location"].to_str().unwrap().to_owned();
    let token = login
        .split("state=")
        .nth(1)
        .expect("state in the login URL");
    let done = http
        .post(format!("{base}/login/login.htm"))
        .form(&[("state", token), ("username", "00u1alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302, "{:?}", done.text().await);
    let back = url::Url::parse(done.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-okta-sdk");
    let answer = http
        .post(format!("{server}/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// `token` with its claims changed by `edit`, signed again with `key` under the same header:
/// only what `edit` changed (or the key) differs from a token the IdP issued.
fn resigned(
    token: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> String {
    let header = peek_part(token, 0).unwrap();
    let mut claims = peek_claims(token).unwrap().as_object().unwrap().clone();
    edit(&mut claims);
    jwt::sign(
        SigningAlg::RS256,
        header["kid"].as_str().unwrap(),
        header["typ"].as_str(),
        key,
        &claims,
    )
    .unwrap()
}

/// Runs the Node script on `cases`; returns each case's verdict by name, and the version line.
fn verify(certs: &Path, issuer: &str, cases: &[(&str, &str, &str)]) -> Vec<Value> {
    let input = json!({
        "issuer": issuer,
        "client_id": CLIENT,
        "nonce": NONCE,
        "cases": cases.iter().map(|(name, kind, token)| json!({
            "name": name, "kind": kind, "token": token,
        })).collect::<Vec<_>>(),
    });
    let file: PathBuf = certs.with_file_name("cases.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let (code, out, err) = run_with_deadline(
        Command::new("node")
            .arg(SCRIPT)
            .arg(&file)
            .env("NODE_PATH", NODE_MODULES)
            .env("NODE_EXTRA_CA_CERTS", certs.join("tls-ca.pem")),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "node: {out}\n{err}");
    assert!(
        !err.contains("disableHttpsCheck") && !err.contains("HTTPS check is disabled"),
        "{err}"
    );
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_jwt_verifier_accepts_faktas_tokens_over_https_and_refuses_forgeries() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (_server, base) = start(dir.path());
    let issuer = format!("{base}/oauth2/default");
    let tokens = code_flow(&base, &certs.join("tls-ca.pem")).await;
    let access = tokens["access_token"].as_str().expect("an access token");
    let id = tokens["id_token"].as_str().expect("an id_token");

    // The forgeries: the IdP's own key (the one the JWKS publishes), one claim off; and a
    // foreign key under the IdP's kid.
    let keys = KeyStore::open(&certs).unwrap();
    let key = keys.current.pkey();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = |c: &mut serde_json::Map<String, Value>| {
        c.insert("iat".into(), json!(now - 7200));
        c.insert("exp".into(), json!(now - 3600));
    };
    let other_issuer = |c: &mut serde_json::Map<String, Value>| {
        c.insert("iss".into(), json!(format!("{base}/oauth2/other")));
    };
    let access_expired = resigned(access, key, expired);
    let access_iss = resigned(access, key, other_issuer);
    let access_aud = resigned(access, key, |c| {
        c.insert("aud".into(), json!("api://other"));
    });
    let access_cid = resigned(access, key, |c| {
        c.insert("cid".into(), json!("0oaanotherclient"));
    });
    let access_same = resigned(access, key, |_| {});
    let foreign = fakta::keys::foreign_key().unwrap().pkey();
    let access_foreign = resigned(access, foreign, |_| {});
    let id_expired = resigned(id, key, expired);
    let id_iss = resigned(id, key, other_issuer);
    let id_aud = resigned(id, key, |c| {
        c.insert("aud".into(), json!("0oaanotherclient"));
    });
    let id_nonce = resigned(id, key, |c| {
        c.insert("nonce".into(), json!("another-nonce"));
    });
    let id_foreign = resigned(id, foreign, |_| {});

    let cases = [
        ("access", "access", access),
        ("id", "id", id),
        // The control: re-signing changes nothing the verifier checks.
        ("access_resigned", "access", access_same.as_str()),
        ("access_expired", "access", &access_expired),
        ("access_other_issuer", "access", &access_iss),
        ("access_other_audience", "access", &access_aud),
        ("access_other_cid", "access", &access_cid),
        ("access_foreign_key", "access", &access_foreign),
        ("id_expired", "id", &id_expired),
        ("id_other_issuer", "id", &id_iss),
        ("id_other_audience", "id", &id_aud),
        ("id_other_nonce", "id", &id_nonce),
        ("id_foreign_key", "id", &id_foreign),
    ];
    let lines = verify(&certs, &issuer, &cases);
    assert_eq!(lines[0]["version"], JWT_VERIFIER_VERSION, "{lines:?}");
    let verdicts = &lines[1..];
    assert_eq!(verdicts.len(), cases.len(), "{verdicts:?}");
    // Why each forgery must be refused: the words of the verifier's message.
    let expect: &[(&str, Option<&str>)] = &[
        ("access", None),
        ("id", None),
        ("access_resigned", None),
        ("access_expired", Some("expired")),
        ("access_other_issuer", Some("issuer")),
        ("access_other_audience", Some("audience")),
        ("access_other_cid", Some("cid")),
        ("access_foreign_key", Some("Signature verification failed")),
        ("id_expired", Some("expired")),
        ("id_other_issuer", Some("issuer")),
        ("id_other_audience", Some("client id")),
        ("id_other_nonce", Some("nonce")),
        ("id_foreign_key", Some("Signature verification failed")),
    ];
    for (v, (name, refused_for)) in verdicts.iter().zip(expect) {
        assert_eq!(v["name"], *name);
        match refused_for {
            None => {
                assert_eq!(v["ok"], true, "{name} must be accepted: {v}");
                assert_eq!(v["claims"]["iss"], issuer.as_str(), "{v}");
            }
            Some(why) => {
                assert_eq!(v["ok"], false, "{name} must be refused: {v}");
                let error = v["error"].as_str().unwrap_or("");
                assert!(error.contains(why), "{name}: `{why}` not in `{error}`");
            }
        }
    }
    assert_eq!(verdicts[0]["claims"]["cid"], CLIENT);
    assert_eq!(verdicts[0]["claims"]["aud"], "api://default");
    assert_eq!(verdicts[1]["claims"]["nonce"], NONCE);
    assert_eq!(verdicts[1]["claims"]["sub"], "00u1alice");
}

/// The trust comes from the CA file: without NODE_EXTRA_CA_CERTS the verifier cannot fetch the
/// JWKS and refuses the IdP's own token (so the test above really verified over TLS).
#[tokio::test(flavor = "multi_thread")]
async fn without_the_ca_the_verifier_cannot_reach_the_keys() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (_server, base) = start(dir.path());
    let tokens = code_flow(&base, &certs.join("tls-ca.pem")).await;
    let id = tokens["id_token"].as_str().unwrap();
    let input = json!({
        "issuer": format!("{base}/oauth2/default"),
        "client_id": CLIENT,
        "nonce": NONCE,
        "cases": [{ "name": "id", "kind": "id", "token": id }],
    });
    let file = dir.path().join("cases.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let (code, out, err) = run_with_deadline(
        Command::new("node")
            .arg(SCRIPT)
            .arg(&file)
            .env("NODE_PATH", NODE_MODULES)
            .env_remove("NODE_EXTRA_CA_CERTS"),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "node: {out}\n{err}");
    let verdict: Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(verdict["ok"], false, "{verdict}");
    let error = verdict["error"].as_str().unwrap_or("");
    assert!(error.contains("certificate"), "{error}");
}

const CHROMIUM: &str = "/usr/bin/chromium";
const SPA_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spa-okta/index.html");
/// The version tests/interop/node/packages.txt pins.
const AUTH_JS_VERSION: &str = "8.0.1";
const SPA_CLIENT: &str = "0oa4oktaspa";

/// Kills a helper process (the SPA's static server) when the test ends.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Loads `url` in headless Chromium (its own profile in `profile`) and returns the JSON the
/// page wrote into `#result`.
fn spa_result(profile: &Path, url: &str) -> Value {
    let (code, dom, err) = run_with_deadline(
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Virtual time runs the page's timers and network until it is idle.
                "--virtual-time-budget=20000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(url),
        Duration::from_secs(90),
    );
    assert_eq!(code, 0, "chromium --dump-dom failed:\n{err}");
    let start = dom.find("<pre id=\"result\">").expect("the result element") + 17;
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: the page wrote `{text}`"))
}

/// okta-auth-js, Okta's browser SDK (its published bundle, unmodified), in headless Chromium
/// against `fakta serve`: `session.exists()` reads `/api/v1/sessions/me` and
/// `token.getWithoutPrompt()` renews silently in a hidden iframe with
/// `response_mode=okta_post_message`. Without an IdP session the SDK gets fakta's posted
/// `login_required` (so the message's shape, state and origin are what it listens for); once
/// the page has signed a user in, the SDK gets a code, redeems it with PKCE and validates the
/// id_token itself.
#[test]
fn okta_auth_js_renews_silently_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install the Debian package `chromium` (scripts/setup-deps does)"
    );
    let bundle = Path::new(NODE_MODULES).join("@okta/okta-auth-js/dist/okta-auth-js.min.js");
    let pkg = Path::new(NODE_MODULES).join("@okta/okta-auth-js/package.json");
    let version: Value = serde_json::from_str(
        &std::fs::read_to_string(&pkg)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): {HINT}", pkg.display())),
    )
    .unwrap();
    assert_eq!(version["version"], AUTH_JS_VERSION, "{HINT}");

    let dir = tempfile::tempdir().unwrap();
    let (idp_port, spa_port) = (free_port(), free_port());
    // Both on localhost: the same site, as an SPA and its Okta custom domain are, so the
    // browser sends the IdP's SameSite=Lax session cookie to the hidden iframe.
    let base = format!("http://localhost:{idp_port}");
    let spa = format!("http://localhost:{spa_port}");
    let redirect = format!("{spa}/login/callback");
    let yaml = [
        "idp:".to_owned(),
        format!("  base_url: {base}"),
        "directory:".to_owned(),
        "  users:".to_owned(),
        "    - { id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Eng] }"
            .to_owned(),
        "apps:".to_owned(),
        "  - id: okta-spa".to_owned(),
        "    protocol: oidc".to_owned(),
        format!("    client_id: {SPA_CLIENT}"),
        "    token_endpoint_auth_method: none".to_owned(),
        format!("    redirect_uris: [{redirect}]"),
        "    authorization_server: default".to_owned(),
    ]
    .join("\n");
    let file = dir.path().join("spa.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut server = Server(
        Command::new(BIN)
            .arg("--certs")
            .arg(dir.path().join("certs"))
            .arg("serve")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_line(
        &mut server.0,
        "fakta IdP listening",
        Duration::from_secs(20),
    );
    // The SPA: the page and the SDK's bundle, served from their own origin.
    let root = dir.path().join("spa");
    std::fs::create_dir(&root).unwrap();
    std::fs::copy(SPA_PAGE, root.join("index.html")).unwrap();
    std::os::unix::fs::symlink(&bundle, root.join("okta-auth-js.min.js")).unwrap();
    let _spa_server = Helper(
        Command::new(common::python())
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(spa_port.to_string())
            .arg("--directory")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(spa_port);
    let issuer = format!("{base}/oauth2/default");
    let page = |extra: &str| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("issuer", issuer.as_str()),
                ("client_id", SPA_CLIENT),
                ("redirect_uri", redirect.as_str()),
            ])
            .finish();
        format!("{spa}/index.html?{q}{extra}")
    };

    let first = spa_result(&dir.path().join("profile-1"), &page(""));
    assert!(first.get("fatal").is_none(), "{first}");
    assert_eq!(
        first["version"],
        format!("okta-auth-js/{AUTH_JS_VERSION}"),
        "{first}"
    );
    assert_eq!(first["session_exists"], false, "{first}");
    assert_eq!(first["renew"]["ok"], false, "{first}");
    assert_eq!(first["renew"]["name"], "OAuthError", "{first}");
    assert_eq!(first["renew"]["errorCode"], "login_required", "{first}");

    // A pending login of fakta's (its login page's state), for the page to complete in the
    // browser as a person would.
    let (code, out, err) = run_with_deadline(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{redirect_url}"])
            .arg(format!(
                "{base}/oauth2/default/v1/authorize?client_id={SPA_CLIENT}&redirect_uri={}\
&response_type=code&scope=openid&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
                url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            )),
        Duration::from_secs(20),
    );
    assert_eq!(code, 0, "{err}");
    let login_state = out.split("state=").nth(1).expect("the login page's state");
    let second = spa_result(
        &dir.path().join("profile-2"),
        &page(&format!("&login_state={login_state}&user=00u1alice")),
    );
    assert!(second.get("fatal").is_none(), "{second}");
    assert_eq!(second["session_exists"], true, "{second}");
    assert_eq!(second["renew"]["ok"], true, "{second}");
    assert_eq!(
        second["renew"]["tokens"],
        json!(["accessToken", "idToken"]),
        "{second}"
    );
    let claims = &second["renew"]["id_token_claims"];
    assert_eq!(claims["sub"], "00u1alice", "{second}");
    assert_eq!(claims["iss"], issuer.as_str(), "{second}");
    assert_eq!(claims["aud"], SPA_CLIENT, "{second}");
}
