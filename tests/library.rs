//! The library's documented interface (`fakta::MockIdp`, `fakta::Suite`) as a crate that
//! depends on fakta uses it: IdPs started in parallel, files and their errors, Global Token
//! Revocation, and the suite's per-trial results against the in-process reference SP.

mod common;

use std::sync::{Arc, Mutex};

use fakta::{MockIdp, OidcApp, SamlApp, Suite, User, Verdict};

const QOVERY_SAML: &str = include_str!("../scenarios/qovery-saml.yaml");

fn builder() -> fakta::MockIdpBuilder {
    MockIdp::builder()
        .user(
            User::new("alice@acme.test")
                .name("Alice")
                .groups(["Qovery-Admins"]),
        )
        .saml_app(SamlApp::new(
            "qovery",
            "http://127.0.0.1:7100/acs",
            "urn:qovery:acme",
        ))
        .oidc_app(OidcApp::new("web", "0oa1web").redirect_uri("http://127.0.0.1:7100/cb"))
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Guards "no port or key clashes": two IdPs started at once listen on ports of their own,
/// each publishes its own URLs, and both serve.
#[tokio::test]
async fn two_idps_start_in_parallel_on_ports_of_their_own() {
    let (a, b) = tokio::join!(builder().start(), builder().start());
    let (a, b) = (a.expect("a starts"), b.expect("b starts"));
    assert_ne!(a.addr().port(), b.addr().port());
    assert_eq!(a.base_url(), format!("http://{}", a.addr()));
    for idp in [&a, &b] {
        let (status, metadata) = get(&idp.metadata_url("qovery")).await;
        assert_eq!(status, 200, "{metadata}");
        assert!(metadata.contains(&idp.sso_url("qovery").expect("a SAML app")));
        let (status, discovery) = get(&idp.discovery_url()).await;
        assert_eq!(status, 200, "{discovery}");
        let d: serde_json::Value = serde_json::from_str(&discovery).expect("JSON");
        assert_eq!(d["issuer"], idp.base_url());
        // The certificate in the metadata is the one the IdP says it signs with.
        let pem = idp.certificate_pem();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(metadata.contains(&b64), "{metadata}");
    }
    assert_eq!(idp_sso_none(&a), None);
    // Dropped, an IdP stops listening.
    let addr = a.addr();
    a.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

fn idp_sso_none(idp: &MockIdp) -> Option<String> {
    // An OIDC app has no SAML SSO URL.
    idp.sso_url("web")
}

/// Guards `from_file`: the file's IdP on a free port (not the file's 7000), its apps served.
#[tokio::test]
async fn from_file_serves_the_file_on_a_free_port() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/example.yaml");
    let idp = MockIdp::from_file(path).await.expect("starts");
    assert_ne!(idp.addr().port(), 7000);
    assert!(!idp.warnings().has_errors());
    let (status, metadata) = get(&idp.metadata_url("qovery")).await;
    assert_eq!(status, 200);
    assert!(metadata.contains(&idp.base_url()), "{metadata}");
    idp.login_as("00u2bob").expect("bob by id");
    idp.login_as("bob@acme.test").expect("bob by email");
    assert!(matches!(
        idp.login_as("nobody@acme.test"),
        Err(fakta::Error::NoSuchUser(u)) if u == "nobody@acme.test"
    ));
    assert!(matches!(
        idp.set_groups("nobody@acme.test", ["x"]),
        Err(fakta::Error::NoSuchUser(_))
    ));
}

/// Guards the typed error: an invalid file is refused with `fakta check`'s findings.
#[tokio::test]
async fn an_invalid_file_is_a_typed_error_with_the_findings() {
    let err = MockIdp::from_yaml("idp: { base_url: http://127.0.0.1:7000 }\napps: [{ id: x }]\n")
        .await
        .expect_err("invalid");
    let fakta::Error::Invalid { file, diagnostics } = &err else {
        panic!("{err}")
    };
    assert_eq!(file, "MockIdp::from_yaml");
    assert!(diagnostics.has_errors());
    assert!(diagnostics.to_string().contains("apps[0]"), "{diagnostics}");
    let missing = MockIdp::from_file("/nonexistent/fakta.yaml").await;
    assert!(matches!(missing, Err(fakta::Error::Invalid { .. })));
}

/// Guards `revoke`: the SP's endpoint gets a signed Global Token Revocation request for the
/// user, and its answer comes back; an unknown user is refused by the IdP.
#[tokio::test]
async fn revoke_sends_a_global_token_revocation_request() {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = received.clone();
    let receiver = axum::Router::new().route(
        "/gtr",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.lock().unwrap().push((auth, body));
                axum::http::StatusCode::NO_CONTENT
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sp = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let idp = MockIdp::builder()
        .user(User::new("alice@acme.test"))
        .oidc_app(
            OidcApp::new("web", "0oa1web")
                .redirect_uri(format!("http://{sp}/cb"))
                .global_token_revocation(format!("http://{sp}/gtr")),
        )
        .start()
        .await
        .expect("starts");
    let revoked = idp.revoke("web", "alice@acme.test").await.expect("sent");
    assert_eq!(revoked.status, 204);
    assert_eq!(revoked.endpoint, format!("http://{sp}/gtr"));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].0.starts_with("Bearer "), "{got:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0].1).expect("JSON body");
    assert_eq!(body["subject"]["format"], "iss_sub", "{body}");
    assert_eq!(body["subject"]["sub"], "00u1fakta", "{body}");
    let refused = idp.revoke("web", "nobody@acme.test").await;
    assert!(
        matches!(&refused, Err(fakta::Error::Revocation { reason, .. }) if reason.contains("nobody")),
        "{refused:?}"
    );
}

/// The qovery-saml pack on free ports (the runner binds the file's ports itself).
fn pack_on_free_ports() -> String {
    QOVERY_SAML
        .replace(
            "127.0.0.1:7000",
            &format!("127.0.0.1:{}", common::free_port()),
        )
        .replace(
            "127.0.0.1:7100",
            &format!("127.0.0.1:{}", common::free_port()),
        )
}

/// Guards the suite's results: against the strict reference SP in-process the honest login
/// and a signature attack pass; against the SP that skips signature checks the attack fails
/// as sp-accepted, with its transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_reports_each_trials_verdict_and_transcript() {
    let strict = Suite::from_yaml(&pack_on_free_ports(), "qovery-saml")
        .expect("valid")
        .against_reference_sp()
        .filter("S1_unsigned_refused")
        .run()
        .await
        .expect("ran");
    let t = strict
        .get("S1_unsigned_refused")
        .unwrap_or_else(|| panic!("{strict:?}"));
    assert_eq!(t.id, "qovery-saml::S1_unsigned_refused");
    assert_eq!(t.verdict, Verdict::Passed, "{:?}", t.transcript);
    assert!(strict.all_passed());

    let flaws = fakta::refsp::Flaws::parse(&["skip-signature"]).expect("a flaw");
    let flawed = Suite::from_yaml(&pack_on_free_ports(), "qovery-saml")
        .expect("valid")
        .against_flawed_reference_sp(flaws)
        .filter("S1_unsigned_refused")
        .run()
        .await
        .expect("ran");
    let t = flawed.get("S1_unsigned_refused").expect("ran");
    assert_eq!(
        t.verdict,
        Verdict::Failed(fakta::FailureKind::SpAccepted),
        "{t:?}"
    );
    assert!(t.transcript.as_deref().is_some_and(|s| !s.is_empty()));
    assert_eq!(flawed.failed().count(), 1);
    assert!(
        flawed.output.contains("S1_unsigned_refused")
            && flawed.output.contains("test result: FAILED"),
        "{}",
        flawed.output
    );
    assert!(!flawed.all_passed());
}

/// Guards the blocking variant, for tests without an async runtime.
#[test]
fn the_suite_runs_from_a_sync_test() {
    let results = Suite::from_yaml(&pack_on_free_ports(), "qovery-saml")
        .expect("valid")
        .against_reference_sp()
        .filter("L0_")
        .run_blocking()
        .expect("ran");
    assert!(results.passed().count() >= 1, "{results:?}");
    assert!(results.all_passed(), "{results:?}");
}
