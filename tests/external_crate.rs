//! fakta as a dependency: a crate outside this one (written under the target directory) that
//! depends on fakta by path and, in an async `#[tokio::test]`, uses the documented calls:
//! two IdPs started in parallel, a SAML login and an OIDC login followed end to end by an HTTP
//! client, `login_as`, `set_groups` between logins, and `revoke`. Nothing of fakta's hidden
//! modules: what compiles here is the public interface.
//!
//! It builds with this workspace's target directory and lock file (`--offline`), so only the
//! small crate itself is compiled.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

const MANIFEST: &str = r#"[package]
name = "fakta-user"
version = "0.0.0"
edition = "2024"
publish = false

# Not a member of fakta's workspace (it lives under fakta's target directory).
[workspace]

[dev-dependencies]
fakta = { path = "FAKTA_DIR" }
base64 = "0.22"
reqwest = { version = "0.13", default-features = false, features = ["cookies", "form", "json"] }
serde_json = "1"
tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "io-util"] }
url = "2"
"#;

const TEST: &str = r#"//! An SP's test suite using fakta as a library.
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A Global Token Revocation receiver: answers 204 to one request and hands its text back.
async fn revocation_receiver() -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gtr", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Until the head and a JSON body (it ends with `}`) are in.
        loop {
            let n = s.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if n == 0 || (text.contains("\r\n\r\n") && text.trim_end().ends_with('}')) {
                break;
            }
        }
        s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await.unwrap();
        String::from_utf8_lossy(&seen).into_owned()
    });
    (url, task)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows redirects from `url` until one leaves for `stop` (not fetched): that URL.
async fn follow_until(client: &reqwest::Client, url: &str, stop: &str) -> (u16, String, String) {
    let mut url = url::Url::parse(url).unwrap();
    for _ in 0..10 {
        if url.as_str().starts_with(stop) {
            return (302, url.to_string(), String::new());
        }
        let r = client.get(url.clone()).send().await.unwrap();
        let status = r.status().as_u16();
        match r.headers().get("location").and_then(|l| l.to_str().ok()) {
            Some(l) if (300..400).contains(&status) => url = url.join(l).unwrap(),
            _ => return (status, url.to_string(), r.text().await.unwrap()),
        }
    }
    panic!("too many redirects from {url}");
}

/// A value of the auto-submitting form (`name="KEY" value="..."`).
fn form_value(html: &str, key: &str) -> String {
    let at = html.find(&format!("name=\"{key}\"")).unwrap_or_else(|| panic!("no {key}: {html}"));
    let rest = &html[at..];
    let v = &rest[rest.find("value=\"").unwrap() + 7..];
    v[..v.find('"').unwrap()].to_owned()
}

/// The IdP-initiated SAML login of `app`: the Response the IdP posts to the SP, decoded.
async fn saml_login(idp: &fakta::MockIdp, app: &str) -> String {
    let sso = idp.sso_url(app).unwrap();
    let (status, at, page) = follow_until(&client(), &sso, "http://never").await;
    assert_eq!(status, 200, "{at}: {page}");
    assert!(page.contains("<form"), "{page}");
    let xml = base64::engine::general_purpose::STANDARD
        .decode(form_value(&page, "SAMLResponse"))
        .unwrap();
    String::from_utf8(xml).unwrap()
}

/// The OIDC authorization code flow of a confidential client: the userinfo it ends with.
async fn oidc_login(idp: &fakta::MockIdp, client_id: &str, secret: &str, cb: &str) -> serde_json::Value {
    let http = client();
    let d: serde_json::Value = http.get(idp.discovery_url()).send().await.unwrap().json().await.unwrap();
    let authorize = url::Url::parse_with_params(
        d["authorization_endpoint"].as_str().unwrap(),
        [("response_type", "code"), ("client_id", client_id), ("redirect_uri", cb),
         ("scope", "openid email profile"), ("state", "st4te"), ("nonce", "n0nce")],
    )
    .unwrap();
    let (_, back, page) = follow_until(&http, authorize.as_str(), cb).await;
    let back = url::Url::parse(&back).unwrap_or_else(|_| panic!("{back}: {page}"));
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st4te");
    let tokens: serde_json::Value = http
        .post(d["token_endpoint"].as_str().unwrap())
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "authorization_code"), ("code", q["code"].as_str()), ("redirect_uri", cb)])
        .send().await.unwrap().json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap_or_else(|| panic!("{tokens}"));
    http.get(d["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(access)
        .send().await.unwrap().json().await.unwrap()
}

async fn start(acs: &str, cb: &str, gtr: &str) -> fakta::MockIdp {
    fakta::MockIdp::builder()
        .user(fakta::User::new("alice@acme.test").name("Alice").groups(["Qovery-Admins"]))
        .user(fakta::User::new("bob@acme.test").name("Bob").groups(["Eng"]))
        .saml_app(fakta::SamlApp::new("qovery", acs, "urn:qovery:acme"))
        .oidc_app(
            fakta::OidcApp::new("web", "0oa1web")
                .client_secret("s3cret")
                .redirect_uri(cb)
                .global_token_revocation(gtr),
        )
        .start()
        .await
        .expect("the IdP starts")
}

#[tokio::test]
async fn an_sp_test_suite_drives_two_fake_oktas() {
    let (acs, cb) = ("http://127.0.0.1:9/acs", "http://127.0.0.1:9/cb");
    let (gtr, received) = revocation_receiver().await;
    let (a, b) = tokio::join!(start(acs, cb, &gtr), start(acs, cb, "http://127.0.0.1:9/gtr"));
    assert_ne!(a.base_url(), b.base_url());
    assert!(a.metadata_url("qovery").starts_with(&a.base_url()));
    assert!(a.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));

    // SAML: alice, then alice with other groups, then bob; on both IdPs at once.
    a.login_as("alice@acme.test").unwrap();
    b.login_as("bob@acme.test").unwrap();
    let (ra, rb) = tokio::join!(saml_login(&a, "qovery"), saml_login(&b, "qovery"));
    assert!(ra.contains(">alice@acme.test</saml2:NameID>"), "{ra}");
    assert!(ra.contains(">Qovery-Admins<"), "{ra}");
    assert!(ra.contains(&format!("Destination=\"{acs}\"")), "{ra}");
    assert!(ra.contains("<ds:SignatureValue>"), "{ra}");
    assert!(rb.contains(">bob@acme.test</saml2:NameID>"), "{rb}");
    a.set_groups("alice@acme.test", ["Eng"]).unwrap();
    let again = saml_login(&a, "qovery").await;
    assert!(again.contains(">Eng<") && !again.contains("Qovery-Admins"), "{again}");

    // OIDC: the same IdPs, the users they were told.
    let (ua, ub) = tokio::join!(
        oidc_login(&a, "0oa1web", "s3cret", cb),
        oidc_login(&b, "0oa1web", "s3cret", cb)
    );
    assert_eq!(ua["email"], "alice@acme.test", "{ua}");
    assert_eq!(ua["groups"], serde_json::json!(["Eng"]), "{ua}");
    assert_eq!(ub["email"], "bob@acme.test", "{ub}");

    // Global Token Revocation: the SP's endpoint gets the request, the IdP its 204.
    let revoked = a.revoke("web", "alice@acme.test").await.unwrap();
    assert_eq!(revoked.status, 204);
    let request = received.await.unwrap();
    assert!(request.starts_with("POST /gtr "), "{request}");
    assert!(request.contains("\"iss_sub\""), "{request}");
    drop(a);
    drop(b);
}
"#;

#[test]
fn a_crate_outside_uses_the_library_in_an_async_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.join("fakta-user");
    std::fs::create_dir_all(dir.join("tests")).expect("make the crate's folder");
    let manifest = MANIFEST.replace("FAKTA_DIR", &root.display().to_string());
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::create_dir_all(dir.join("src")).expect("src");
    std::fs::write(
        dir.join("src/lib.rs"),
        "//! An SP (its code is beside the point).\n",
    )
    .expect("write lib.rs");
    std::fs::write(dir.join("tests/sp.rs"), TEST).expect("write the test");
    // This workspace's versions, so that every dependency is one already built.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    // The target directory this test was built in (CARGO_TARGET_TMPDIR is `<target>/tmp`).
    let target = tmp.parent().expect("the target directory");
    let started = Instant::now();
    let (code, out, err) = common::run_with_deadline(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["test", "--offline", "--quiet"])
            .current_dir(&dir)
            // Same flags (RUSTFLAGS is inherited) and target dir: the artifacts are shared.
            .env("CARGO_TARGET_DIR", target),
        Duration::from_secs(600),
    );
    assert_eq!(code, 0, "cargo test in {}:\n{out}\n{err}", dir.display());
    assert!(
        out.contains("an_sp_test_suite_drives_two_fake_oktas") || out.contains("1 passed"),
        "{out}"
    );
    eprintln!(
        "the outside crate built and passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
