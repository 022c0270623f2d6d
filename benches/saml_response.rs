//! How fast fakta can issue signed SAML Responses, next to the physical limit per core: one raw
//! RSA-2048 PKCS#1 v1.5 SHA-256 signature.
//!
//! Cases (criterion group `saml_response`):
//! - `raw_rsa_2048_sha256`: one `openssl` signature over a 32-byte message (the baseline);
//! - `response_sign_both`: build + sign Response and Assertion (two RSA signatures, the default);
//! - `response_sign_assertion`: build + sign the Assertion only (one RSA signature);
//! - `response_build_only`: `fakta::saml::response::build` with both templates, no signing;
//! - `xmlsec_sign_assertion`: the same Assertion signed by libxmlsec through samael, as fakta
//!   signed before its native signer (xmlsec parses the key, the document and serializes it for
//!   every signature); it still signs the attack pack's forged documents.
//!
//! After criterion's output, a summary gives ops/s per case from a plain ~1 s timing loop and the
//! ratio to the raw RSA baseline, and a breakdown of one assertion-signed Response. Run with
//! `cargo bench --bench saml_response` (about 35 s on 2 cores).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use fakta::config::{NameIdFormat, SignWhat};
use fakta::keys::SigningKey;
use fakta::saml::response::{self, Attribute, ResponseIds, ResponseParams, Templates};
use fakta::saml::signature;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use time::OffsetDateTime;

/// How long the summary's own timing loop runs each case.
const SUMMARY_LOOP: Duration = Duration::from_secs(1);

/// The fixture: a key, its certificate and Okta-shaped Response parameters.
struct Fixture {
    key: SigningKey,
    cert_b64: String,
    params: ResponseParams,
    /// What a raw signature covers: the size of a SHA-256 digest.
    message: [u8; 32],
}

impl Fixture {
    fn new() -> Self {
        let key = SigningKey::generate().expect("generating an RSA-2048 signing key");
        let cert_b64 = key.certificate.base64();
        let now = OffsetDateTime::now_utc();
        // As `fakta::idp::sso::issue` builds them for the shipped qovery example and alice.
        let params = ResponseParams {
            ids: ResponseIds {
                response_id: "id190233744785427871593212412".to_owned(),
                assertion_id: "id190233744786151151812437625".to_owned(),
                session_index: "id171234812993848107211838109".to_owned(),
            },
            issue_instant: now,
            authn_instant: now - time::Duration::seconds(2),
            lifetime: time::Duration::seconds(300),
            issuer: "http://www.okta.com/qovery".to_owned(),
            destination: "http://127.0.0.1:7100/login/callback?connection=acme".to_owned(),
            recipient: "http://127.0.0.1:7100/login/callback?connection=acme".to_owned(),
            authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
            in_response_to: Some("_6c3a4f8e2b1d4e7f9a0b1c2d3e4f5a6b".to_owned()),
            audience: "urn:auth0:qovery:acme".to_owned(),
            name_id: "alice@acme.test".to_owned(),
            name_id_format: NameIdFormat::Unspecified.urn().to_owned(),
            attributes: vec![
                Attribute {
                    name: "email".to_owned(),
                    name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                    values: vec!["alice@acme.test".to_owned()],
                },
                Attribute {
                    name: "name".to_owned(),
                    name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                    values: vec!["Alice Admin".to_owned()],
                },
                Attribute {
                    name: "groups".to_owned(),
                    name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                    values: vec!["Qovery-Admins".to_owned()],
                },
            ],
        };
        Fixture {
            key,
            cert_b64,
            params,
            message: [0x5a; 32],
        }
    }

    fn raw_rsa(&self) -> Vec<u8> {
        let mut signer = Signer::new(MessageDigest::sha256(), self.key.pkey())
            .expect("creating an RSA-SHA256 signer");
        signer.update(&self.message).expect("hashing the message");
        signer.sign_to_vec().expect("signing with RSA-2048")
    }

    fn signed(&self, what: SignWhat) -> String {
        signature::signed_response(&self.params, what, self.key.pkey(), &self.cert_b64)
            .expect("signing the Response")
    }

    fn build_only(&self) -> String {
        let templates = Templates {
            response: true,
            assertion: true,
        };
        response::build(&self.params, templates, &self.cert_b64)
    }

    fn xmlsec_signed_assertion(&self) -> String {
        let templates = Templates {
            response: false,
            assertion: true,
        };
        let xml = response::build(&self.params, templates, &self.cert_b64);
        signature::sign_first_template(&xml, self.key.private_der()).expect("xmlsec signing")
    }
}

/// One measured case: its criterion id, a summary label and what it does.
struct Case {
    id: &'static str,
    label: &'static str,
    note: &'static str,
    run: fn(&Fixture),
}

const CASES: [Case; 5] = [
    Case {
        id: "raw_rsa_2048_sha256",
        label: "raw_rsa",
        note: "baseline: one RSA-2048 PKCS#1 v1.5 SHA-256 signature, the limit per core",
        run: |f| {
            black_box(f.raw_rsa());
        },
    },
    Case {
        id: "response_sign_both",
        label: "response(both)",
        note: "two RSA signatures per Response",
        run: |f| {
            black_box(f.signed(SignWhat::Both));
        },
    },
    Case {
        id: "response_sign_assertion",
        label: "response(assertion)",
        note: "one RSA signature per Response",
        run: |f| {
            black_box(f.signed(SignWhat::Assertion));
        },
    },
    Case {
        id: "response_build_only",
        label: "build",
        note: "XML text only, no signing",
        run: |f| {
            black_box(f.build_only());
        },
    },
    Case {
        id: "xmlsec_sign_assertion",
        label: "xmlsec(assertion)",
        note: "one signature by libxmlsec, the signer fakta used before",
        run: |f| {
            black_box(f.xmlsec_signed_assertion());
        },
    },
];

fn criterion_groups(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("saml_response");
    group.throughput(Throughput::Elements(1));
    for case in &CASES {
        group.bench_function(case.id, |b| b.iter(|| (case.run)(fixture)));
    }
    group.finish();
}

/// Operations per second of `run`, from a plain loop of about `SUMMARY_LOOP`.
fn ops_per_sec(fixture: &Fixture, run: fn(&Fixture)) -> f64 {
    // Warm up (and find a batch size that keeps `Instant::now` out of the measurement).
    let start = Instant::now();
    let mut warm = 0u64;
    while start.elapsed() < Duration::from_millis(100) {
        run(fixture);
        warm += 1;
    }
    let batch = (warm / 100).max(1);
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < SUMMARY_LOOP {
        for _ in 0..batch {
            run(fixture);
        }
        done += batch;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn summary(fixture: &Fixture) {
    let results: Vec<(&Case, f64)> = CASES
        .iter()
        .map(|case| (case, ops_per_sec(fixture, case.run)))
        .collect();
    let ops = |label: &str| {
        results
            .iter()
            .find(|(case, _)| case.label == label)
            .map(|(_, ops)| *ops)
            .expect("every labelled case is measured")
    };
    let baseline = ops("raw_rsa");
    println!();
    println!(
        "summary (own {:.0} s loop per case, single thread):",
        SUMMARY_LOOP.as_secs_f64()
    );
    for (case, ops) in &results {
        println!(
            "  {:<20} {:>10.1} ops/s {:>9.1} us/op   {}/raw_rsa = {:.2} ({})",
            case.label,
            ops,
            1e6 / ops,
            case.label,
            ops / baseline,
            case.note
        );
    }
    // Where one signed Response (assertion only: one signature) spends its time.
    let us = |label: &str| 1e6 / ops(label);
    let total = us("response(assertion)");
    let (rsa, build) = (us("raw_rsa"), us("build"));
    println!(
        "  breakdown: response(assertion) {total:.0} us = build {build:.0} + one RSA signature \
{rsa:.0} + rest {rest:.0} (parse, exclusive c14n, SHA-256, base64)",
        rest = total - rsa - build,
    );
}

fn main() {
    let fixture = Fixture::new();
    // Sanity: the signed documents are what the IdP sends.
    let both = fixture.signed(SignWhat::Both);
    assert_eq!(both.matches("<ds:SignatureValue>").count(), 2);
    assert!(signature::verify_first(
        &both,
        fixture.key.certificate.der()
    ));

    // 5 cases x (1 s warm-up + 3 s measurement) plus the 5 s summary: about 30 s in all.
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_groups(&mut criterion, &fixture);
    criterion.final_summary();

    // `cargo test --benches` runs the binary without `--bench`: criterion then runs each case
    // once as a test, and the timed summary is skipped.
    if std::env::args().any(|a| a == "--bench") {
        summary(&fixture);
    }
}
