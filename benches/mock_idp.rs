//! How long a `fakta::MockIdp` takes to start once the process's temporary signing key exists
//! (the first IdP of a process makes it; RSA-2048 generation takes from tens of milliseconds
//! to seconds). The target: under 10 ms, so that a test suite can start one IdP per test.
//!
//! Cases (criterion group `mock_idp`), on a current-thread tokio runtime, the key made before:
//! - `builder_start_stop`: `MockIdp::builder()` with a user, a SAML app and an OIDC app, then
//!   `start()` (free port, the connection written as YAML and loaded through `fakta check`'s
//!   loader, the IdP state, the server task) and `stop()`;
//! - `from_file_start_stop`: `MockIdp::from_file` of the shipped `scenarios/example.yaml`
//!   (three apps, five users) and `stop()`.
//!
//! After criterion's output, a summary line gives the median of plain timing loops against the
//! 10 ms target, with PASS/FAIL. Run with `cargo bench --bench mock_idp`.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// The target start time, after the first IdP of the process.
const TARGET: Duration = Duration::from_millis(10);
/// Starts timed for the summary.
const SUMMARY_STARTS: usize = 200;

fn builder() -> fakta::MockIdpBuilder {
    fakta::MockIdp::builder()
        .user(
            fakta::User::new("alice@acme.test")
                .name("Alice")
                .groups(["Qovery-Admins"]),
        )
        .saml_app(fakta::SamlApp::new(
            "qovery",
            "http://127.0.0.1:7100/acs",
            "urn:qovery:acme",
        ))
        .oidc_app(fakta::OidcApp::new("web", "0oa1web").redirect_uri("http://127.0.0.1:7100/cb"))
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/example.yaml")
}

async fn builder_start_stop() {
    let idp = builder().start().await.expect("the IdP starts");
    idp.stop().await;
}

async fn from_file_start_stop() {
    let idp = fakta::MockIdp::from_file(example())
        .await
        .expect("the IdP starts");
    idp.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // The first IdP makes the process's key; it is not what is measured.
    let first = Instant::now();
    runtime.block_on(builder_start_stop());
    let first = first.elapsed();

    let mut criterion = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("mock_idp");
        group.bench_function("builder_start_stop", |b| {
            b.iter(|| runtime.block_on(builder_start_stop()))
        });
        group.bench_function("from_file_start_stop", |b| {
            b.iter(|| runtime.block_on(from_file_start_stop()))
        });
        group.finish();
    }
    criterion.final_summary();
    // `cargo test --benches` runs the binary without `--bench`: criterion then runs each case
    // once as a test, and the timed summary is skipped.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }

    // Start alone (stop not counted), for the target.
    let mut starts = Vec::with_capacity(SUMMARY_STARTS);
    for _ in 0..SUMMARY_STARTS {
        let t = Instant::now();
        let idp = runtime.block_on(builder().start()).expect("the IdP starts");
        starts.push(t.elapsed());
        runtime.block_on(idp.stop());
    }
    starts.sort();
    let median = starts[starts.len() / 2];
    let p95 = starts[starts.len() * 95 / 100];
    println!(
        "\nsummary: first MockIdp (makes the key) {:.1} ms; then start median {:.2} ms, p95 {:.2} ms over {SUMMARY_STARTS}; target < {} ms: {}",
        first.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        TARGET.as_millis(),
        if median < TARGET { "PASS" } else { "FAIL" }
    );
}
