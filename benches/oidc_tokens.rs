//! How fast fakta signs OIDC tokens, next to the physical limit per core: one raw RSA-2048
//! PKCS#1 v1.5 SHA-256 signature. An RS256 id_token costs one RSA signature, so its rate should
//! be at least 90% of the raw rate.
//!
//! Cases (criterion group `oidc_tokens`), all with keys parsed once:
//! - `raw_rsa_2048_sha256`: one `openssl` signature over a 32-byte message (the baseline);
//! - `id_token_rs256`: `fakta::oidc::jwt::sign` of prebuilt id_token claims (header + claims
//!   JSON, base64url, one RSA signature);
//! - `id_token_rs256_with_claims`: `id_token_claims` + `jwt::sign` RS256;
//! - `jws_rs256_without_rsa`: what `jwt::sign` RS256 does besides the RSA operation (JSON,
//!   base64url, SHA-256 of the signing input): the cost a token adds to one raw signature;
//! - `token_pair_rs256`: what `issue_tokens` signs per token request: access token claims and
//!   JWT, then id_token claims (with `at_hash`) and JWT: two RSA signatures;
//! - `raw_ecdsa_p256_sha256`: one raw ECDSA P-256 signature (the ES256 baseline);
//! - `id_token_es256`: `jwt::sign` ES256 of the same claims (DER to raw `r || s` included);
//! - `id_token_claims_build`: `fakta::oidc::tokens::id_token_claims` alone.
//!
//! Claims are those of the shipped `scenarios/qovery-oidc.yaml`, app `qovery-oidc`, user
//! `00u1alice`, scopes `openid offline_access email`, as the org authorization server issues them.
//!
//! After criterion's output, a summary gives ops/s per case from plain timing loops interleaved
//! over several rounds (so that a noisy neighbour affects all cases alike) and the ratios to the
//! baselines, with PASS/FAIL for the 90% target. Run with `cargo bench --bench oidc_tokens`
//! (about 35 s on 2 cores, after the build).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput};
use fakta::config::{App, Connection, OidcApp, SigningAlg, User};
use fakta::keys::{EcKey, SigningKey};
use fakta::oidc::jwt;
use fakta::oidc::tokens::{self, Grant};
use openssl::hash::MessageDigest;
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Rounds of the summary's interleaved timing loops, and how long each case runs per round.
const SUMMARY_ROUNDS: u32 = 16;
const SUMMARY_SLICE: Duration = Duration::from_millis(50);
/// The target: an RS256 id_token at >= 90% of the raw RSA-2048 rate.
const TARGET: f64 = 0.90;

/// What a `Grant` borrows, owned by the fixture.
struct Fixture {
    conn: Connection,
    issuer: String,
    audience: String,
    scopes: Vec<String>,
    omit: Vec<String>,
    auth_time: OffsetDateTime,
    now: OffsetDateTime,
    rsa: SigningKey,
    ec: EcKey,
    rsa_kid: String,
    ec_kid: String,
    /// A signed access token, for `at_hash`.
    access_token: String,
    /// Prebuilt id_token claims (with `at_hash`), as `issue_tokens` signs them.
    id_claims: Map<String, Value>,
    /// What a raw signature covers: the size of a SHA-256 digest.
    message: [u8; 32],
}

const APP: &str = "qovery-oidc";
const USER: &str = "00u1alice";
const SID: &str = "102bZ9mT3kLQe2x8vN5pHcWqA";
const AT_JTI: &str = "AT.5f1c0e9a7b3d2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c";
const ID_JTI: &str = "ID.9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f";

impl Fixture {
    fn new() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/qovery-oidc.yaml");
        let (conn, _warnings) = fakta::config::load_file(&path)
            .unwrap_or_else(|d| panic!("loading {}: {d:?}", path.display()));
        let rsa = SigningKey::generate().expect("generating an RSA-2048 key");
        let ec = EcKey::generate().expect("generating a P-256 key");
        let rsa_kid = fakta::oidc::jwks::jwk(rsa.pkey()).expect("an RSA JWK").kid;
        let ec_kid = fakta::oidc::jwks::jwk(ec.pkey()).expect("an EC JWK").kid;
        let now = OffsetDateTime::now_utc();
        let mut f = Fixture {
            issuer: String::new(),
            audience: String::new(),
            scopes: ["openid", "offline_access", "email"]
                .map(str::to_owned)
                .to_vec(),
            omit: Vec::new(),
            auth_time: now - time::Duration::seconds(2),
            now,
            rsa,
            ec,
            rsa_kid,
            ec_kid,
            access_token: String::new(),
            id_claims: Map::new(),
            message: [0x5a; 32],
            conn,
        };
        let server = f.oidc().server.clone();
        f.issuer = server.issuer(f.conn.idp.base());
        f.audience = server.access_token_audience(f.conn.idp.base());
        f.access_token = f.access_token();
        f.id_claims = f.id_claims();
        f
    }

    fn app(&self) -> &App {
        self.conn.app(APP).expect("the example's OIDC app")
    }

    fn oidc(&self) -> &OidcApp {
        self.app().oidc().expect("an OIDC app")
    }

    fn user(&self) -> &User {
        self.conn.user(USER).expect("the example's user")
    }

    fn grant(&self) -> Grant<'_> {
        Grant {
            conn: &self.conn,
            issuer: &self.issuer,
            app: self.app(),
            oidc: self.oidc(),
            user: self.user(),
            scopes: &self.scopes,
            nonce: Some("n-0S6_WzA2Mj"),
            auth_time: self.auth_time,
            sid: SID,
            omit: &self.omit,
            full_group_paths: false,
        }
    }

    fn access_token(&self) -> String {
        let claims = tokens::access_token_claims(&self.grant(), &self.audience, self.now, AT_JTI);
        jwt::sign(
            SigningAlg::RS256,
            &self.rsa_kid,
            None,
            self.rsa.pkey(),
            &claims,
        )
        .expect("signing the access token")
    }

    fn id_claims(&self) -> Map<String, Value> {
        tokens::id_token_claims(&self.grant(), self.now, ID_JTI, Some(&self.access_token))
    }

    fn raw_rsa(&self) -> Vec<u8> {
        let mut signer = Signer::new(MessageDigest::sha256(), self.rsa.pkey())
            .expect("creating an RSA-SHA256 signer");
        signer.update(&self.message).expect("hashing the message");
        signer.sign_to_vec().expect("signing with RSA-2048")
    }

    fn raw_ecdsa(&self) -> Vec<u8> {
        let mut signer = Signer::new(MessageDigest::sha256(), self.ec.pkey())
            .expect("creating an ECDSA-SHA256 signer");
        signer.update(&self.message).expect("hashing the message");
        signer.sign_to_vec().expect("signing with P-256")
    }

    fn id_token(&self, alg: SigningAlg) -> String {
        let (kid, key) = match alg {
            SigningAlg::RS256 => (&self.rsa_kid, self.rsa.pkey()),
            SigningAlg::ES256 => (&self.ec_kid, self.ec.pkey()),
        };
        jwt::sign(alg, kid, None, key, &self.id_claims).expect("signing the id_token")
    }

    fn id_token_with_claims(&self) -> String {
        let claims = self.id_claims();
        jwt::sign(
            SigningAlg::RS256,
            &self.rsa_kid,
            None,
            self.rsa.pkey(),
            &claims,
        )
        .expect("signing the id_token")
    }

    /// Everything `jwt::sign` RS256 does but the RSA operation: header and claims JSON,
    /// base64url, SHA-256 of the signing input, base64url of a 256-byte signature, the join.
    fn jws_without_rsa(&self) -> String {
        let header = jwt::Header {
            alg: "RS256",
            kid: Some(&self.rsa_kid),
            typ: None,
        };
        let input = jwt::signing_input(&header, &self.id_claims).expect("the signing input");
        let digest = openssl::sha::sha256(input.as_bytes());
        let mut sig = [0u8; 256];
        sig[..32].copy_from_slice(&digest);
        format!("{input}.{}", jwt::b64(&sig))
    }

    /// The signing work of one token response (`issue_tokens`): access token + id_token.
    fn token_pair(&self) -> (String, String) {
        let at = self.access_token();
        let claims = tokens::id_token_claims(&self.grant(), self.now, ID_JTI, Some(&at));
        let id = jwt::sign(
            SigningAlg::RS256,
            &self.rsa_kid,
            None,
            self.rsa.pkey(),
            &claims,
        )
        .expect("signing the id_token");
        (at, id)
    }
}

/// One measured case: its criterion id, a summary label and what it does.
struct Case {
    id: &'static str,
    label: &'static str,
    note: &'static str,
    run: fn(&Fixture),
}

const CASES: [Case; 8] = [
    Case {
        id: "raw_rsa_2048_sha256",
        label: "raw_rsa",
        note: "baseline: one RSA-2048 PKCS#1 v1.5 SHA-256 signature, the limit per core",
        run: |f| {
            black_box(f.raw_rsa());
        },
    },
    Case {
        id: "id_token_rs256",
        label: "id_token_rs256",
        note: "jwt::sign RS256 of prebuilt claims: one RSA signature",
        run: |f| {
            black_box(f.id_token(SigningAlg::RS256));
        },
    },
    Case {
        id: "id_token_rs256_with_claims",
        label: "id_token_rs256+claims",
        note: "id_token_claims + jwt::sign RS256",
        run: |f| {
            black_box(f.id_token_with_claims());
        },
    },
    Case {
        id: "jws_rs256_without_rsa",
        label: "jws_without_rsa",
        note: "jwt::sign RS256 minus the RSA operation: JSON, base64url, SHA-256",
        run: |f| {
            black_box(f.jws_without_rsa());
        },
    },
    Case {
        id: "token_pair_rs256",
        label: "token_pair_rs256",
        note: "access token + id_token as issue_tokens signs them: two RSA signatures",
        run: |f| {
            black_box(f.token_pair());
        },
    },
    Case {
        id: "raw_ecdsa_p256_sha256",
        label: "raw_ecdsa",
        note: "ES256 baseline: one raw ECDSA P-256 SHA-256 signature",
        run: |f| {
            black_box(f.raw_ecdsa());
        },
    },
    Case {
        id: "id_token_es256",
        label: "id_token_es256",
        note: "jwt::sign ES256 of prebuilt claims, DER -> r||s included",
        run: |f| {
            black_box(f.id_token(SigningAlg::ES256));
        },
    },
    Case {
        id: "id_token_claims_build",
        label: "claims_build",
        note: "tokens::id_token_claims alone (incl. at_hash), no signing",
        run: |f| {
            black_box(f.id_claims());
        },
    },
];

fn criterion_groups(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("oidc_tokens");
    group.throughput(Throughput::Elements(1));
    for case in &CASES {
        group.bench_function(case.id, |b| b.iter(|| (case.run)(fixture)));
    }
    group.finish();
}

/// A batch size that keeps `Instant::now` out of the measurement (about 1 ms per batch).
fn batch_size(fixture: &Fixture, run: fn(&Fixture)) -> u64 {
    let start = Instant::now();
    let mut warm = 0u64;
    while start.elapsed() < Duration::from_millis(50) {
        run(fixture);
        warm += 1;
    }
    (warm / 50).max(1)
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`), if the kernel
/// says: unlike wall time it leaves out the time other processes on the machine take.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One timed slice: operations, wall seconds, on-CPU seconds (NaN when unknown).
#[derive(Clone, Copy)]
struct Slice {
    ops: u64,
    wall: f64,
    cpu: f64,
}

/// Runs `run` for about `slice`.
fn timed(fixture: &Fixture, run: fn(&Fixture), batch: u64, slice: Duration) -> Slice {
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < slice {
        for _ in 0..batch {
            run(fixture);
        }
        done += batch;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => f64::NAN,
    };
    Slice {
        ops: done,
        wall,
        cpu,
    }
}

/// Per-case slices of the interleaved summary loops.
struct Results(Vec<Vec<Slice>>);

impl Results {
    fn index(label: &str) -> usize {
        CASES
            .iter()
            .position(|c| c.label == label)
            .expect("every labelled case is measured")
    }

    /// Operations per wall-clock second over all rounds.
    fn wall(&self, label: &str) -> f64 {
        let s = &self.0[Self::index(label)];
        s.iter().map(|x| x.ops).sum::<u64>() as f64 / s.iter().map(|x| x.wall).sum::<f64>()
    }

    /// Operations per on-CPU second over all rounds.
    fn cpu(&self, label: &str) -> f64 {
        let s = &self.0[Self::index(label)];
        s.iter().map(|x| x.ops).sum::<u64>() as f64 / s.iter().map(|x| x.cpu).sum::<f64>()
    }

    /// The wall-clock rate ratio a/b of each round (cases measured next to each other): min,
    /// median, max.
    fn paired(&self, a: &str, b: &str) -> (f64, f64, f64) {
        let (sa, sb) = (&self.0[Self::index(a)], &self.0[Self::index(b)]);
        let mut r: Vec<f64> = sa
            .iter()
            .zip(sb)
            .map(|(x, y)| (x.ops as f64 / x.wall) / (y.ops as f64 / y.wall))
            .collect();
        r.sort_by(f64::total_cmp);
        (r[0], r[r.len() / 2], r[r.len() - 1])
    }
}

fn summary(fixture: &Fixture) {
    let batches: Vec<u64> = CASES.iter().map(|c| batch_size(fixture, c.run)).collect();
    let mut results = Results(vec![Vec::new(); CASES.len()]);
    for _ in 0..SUMMARY_ROUNDS {
        for (i, case) in CASES.iter().enumerate() {
            results.0[i].push(timed(fixture, case.run, batches[i], SUMMARY_SLICE));
        }
    }
    let r = &results;
    let rsa = r.wall("raw_rsa");
    let on_cpu: f64 = r.0.iter().flatten().map(|s| s.cpu).sum::<f64>()
        / r.0.iter().flatten().map(|s| s.wall).sum::<f64>();
    println!();
    println!(
        "summary ({SUMMARY_ROUNDS} interleaved rounds x {} ms per case, single thread; this \
thread was on a CPU {:.1}% of the wall time; load average: {}):",
        SUMMARY_SLICE.as_millis(),
        on_cpu * 100.0,
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    println!(
        "  {:<22} {:>10} {:>9}  {:>8}   {:>10} {:>8}",
        "case", "ops/s", "us/op", "/raw_rsa", "ops/cpu-s", "/raw_rsa"
    );
    for case in &CASES {
        let (w, c) = (r.wall(case.label), r.cpu(case.label));
        println!(
            "  {:<22} {:>10.1} {:>9.2}  {:>8.3}   {:>10.1} {:>8.3}   ({})",
            case.label,
            w,
            1e6 / w,
            w / rsa,
            c,
            c / r.cpu("raw_rsa"),
            case.note
        );
    }
    println!();
    let verdict = |x: f64| if x >= TARGET { "PASS" } else { "FAIL" };
    let ratio = |a: &str, b: &str| (r.wall(a) / r.wall(b), r.cpu(a) / r.cpu(b));
    let (w, c) = ratio("id_token_rs256", "raw_rsa");
    let (lo, med, hi) = r.paired("id_token_rs256", "raw_rsa");
    println!(
        "  id_token RS256 / raw RSA-2048 = {w:.3} wall ({}), {c:.3} on-CPU ({})  [target >= \
{TARGET:.2}; per-round wall min/median/max {lo:.3}/{med:.3}/{hi:.3}]",
        verdict(w),
        verdict(c)
    );
    let (w, c) = ratio("id_token_rs256+claims", "raw_rsa");
    println!(
        "  id_token RS256 incl. claims building / raw RSA-2048 = {w:.3} wall ({}), {c:.3} on-CPU \
({})",
        verdict(w),
        verdict(c)
    );
    let (w, c) = ratio("token_pair_rs256", "raw_rsa");
    println!(
        "  token pair (access + id_token): {:.1} pairs/s = {:.1} JWTs/s; JWT signatures / raw RSA \
signatures = {:.3} wall ({}), {:.3} on-CPU ({})",
        r.wall("token_pair_rs256"),
        2.0 * r.wall("token_pair_rs256"),
        2.0 * w,
        verdict(2.0 * w),
        2.0 * c,
        verdict(2.0 * c)
    );
    let (w, c) = ratio("id_token_es256", "raw_ecdsa");
    println!(
        "  id_token ES256 / raw ECDSA P-256 = {w:.3} wall, {c:.3} on-CPU;  ES256 / RS256 \
id_token = {:.1}x",
        r.wall("id_token_es256") / r.wall("id_token_rs256")
    );
    let us = |label: &str| 1e6 / r.cpu(label);
    let (raw_us, extra_us) = (us("raw_rsa"), us("jws_without_rsa"));
    println!(
        "  breakdown (on-CPU): raw RSA {raw_us:.2} us; what an RS256 token adds to it (JSON, \
base64url, SHA-256 of the signing input) {extra_us:.2} us, so id_token / raw ~ {:.4} from the \
parts (measured as a whole: {:.2} us); claims building {:.2} us; ES256 id_token {:.2} us = raw \
ECDSA {:.2} us + {:.2} us",
        raw_us / (raw_us + extra_us),
        us("id_token_rs256"),
        us("claims_build"),
        us("id_token_es256"),
        us("raw_ecdsa"),
        us("id_token_es256") - us("raw_ecdsa"),
    );
}

/// Checks that the tokens verify, so the timings measure real tokens.
fn sanity(f: &Fixture) {
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let token = f.id_token(alg);
        let (input, sig) = token.rsplit_once('.').expect("a compact JWS");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url signature");
        let (key, der) = match alg {
            SigningAlg::RS256 => {
                assert_eq!(sig.len(), 256);
                (f.rsa.pkey(), sig)
            }
            SigningAlg::ES256 => {
                assert_eq!(sig.len(), 64);
                let r = openssl::bn::BigNum::from_slice(&sig[..32]).expect("r");
                let s = openssl::bn::BigNum::from_slice(&sig[32..]).expect("s");
                let der = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
                    .and_then(|s| s.to_der())
                    .expect("a DER ECDSA signature");
                (f.ec.pkey(), der)
            }
        };
        let mut v = Verifier::new(MessageDigest::sha256(), key).expect("a verifier");
        v.update(input.as_bytes()).expect("hashing");
        assert!(
            v.verify(&der).expect("verifying"),
            "{alg:?} id_token verifies"
        );
        let claims = jwt::peek_claims(&token).expect("claims");
        assert_eq!(claims["sub"], USER);
        assert_eq!(claims["aud"], "0oa1qoveryweb");
        assert_eq!(claims["groups"], serde_json::json!(["Qovery-Admins"]));
        assert!(claims["at_hash"].is_string());
    }
    println!(
        "id_token: {} bytes RS256 ({} bytes of claims JSON), {} bytes ES256",
        f.id_token(SigningAlg::RS256).len(),
        serde_json::to_vec(&f.id_claims).map_or(0, |v| v.len()),
        f.id_token(SigningAlg::ES256).len()
    );
}

fn main() {
    let fixture = Fixture::new();
    sanity(&fixture);

    // 8 cases x (1 s warm-up + 1.5 s measurement) plus the 6.4 s summary: about 30 s in all.
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    criterion_groups(&mut criterion, &fixture);
    criterion.final_summary();

    // `cargo test --benches` runs the binary without `--bench`: criterion then runs each case
    // once as a test, and the timed summary is skipped.
    if std::env::args().any(|a| a == "--bench") {
        summary(&fixture);
    }
}
