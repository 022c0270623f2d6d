//! Hostile input to the parsers that are not XML (issue 13): the reference SP's JWT/JWS
//! verifier and JWKS parser (`fakta::refsp::jwt`), and the connection-file loader
//! (`config::load_str`). Arbitrary bytes and structure-aware generators (deep nesting, huge
//! values, odd unicode, mutations of real documents) must each get a value back, never a panic
//! or a stack overflow; and a token whose signed bytes were changed is never accepted by the
//! strict verifier.
//!
//! The generators are seeded loops (no fuzzing engine, stable Rust), a few seconds in all; a
//! failure prints the seed and the input. The XML parsers have tests/hostile_xml.rs.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fakta::config;
use fakta::refsp::jwt::{self, JwtRefusal, Key, MAX_TOKEN_BYTES};
use fakta::refsp::{Flaw, Flaws};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Runs `f` on a thread with a small stack (1 MiB, half a tokio worker's): a recursion on the
/// input's depth would overflow it and abort the test process.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// --- keys and tokens ---------------------------------------------------------------------------

struct Keys {
    rsa: PKey<Private>,
    ec: PKey<Private>,
    jwks: Vec<u8>,
}

fn keys() -> Keys {
    let rsa = Rsa::generate(2048).unwrap();
    let (n, e) = (rsa.n().to_vec(), rsa.e().to_vec());
    let rsa = PKey::from_rsa(rsa).unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ec_key = EcKey::generate(&group).unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    ec_key
        .public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    let ec = PKey::from_ec_key(ec_key).unwrap();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa1", "n": b64(&n), "e": b64(&e)},
        {"kty": "EC", "kid": "ec1", "crv": "P-256",
         "x": b64(&x.to_vec_padded(32).unwrap()), "y": b64(&y.to_vec_padded(32).unwrap())},
    ]});
    Keys {
        rsa,
        ec,
        jwks: serde_json::to_vec(&jwks).unwrap(),
    }
}

/// A token signed honestly, RS256 or ES256.
fn signed(k: &Keys, es256: bool, claims: &Value) -> String {
    let header = if es256 {
        json!({"alg": "ES256", "kid": "ec1", "typ": "JWT"})
    } else {
        json!({"alg": "RS256", "kid": "rsa1", "typ": "JWT"})
    };
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = if es256 {
        let mut s = Signer::new(MessageDigest::sha256(), &k.ec).unwrap();
        s.update(input.as_bytes()).unwrap();
        let der = s.sign_to_vec().unwrap();
        let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        raw
    } else {
        let mut s = Signer::new(MessageDigest::sha256(), &k.rsa).unwrap();
        s.update(input.as_bytes()).unwrap();
        s.sign_to_vec().unwrap()
    };
    format!("{input}.{}", b64(&sig))
}

/// Every flaw set a verifier can be in that bends JWT checks, and the strict one.
fn flaw_sets() -> Vec<Flaws> {
    let mut sets = vec![Flaws::none()];
    for f in [
        Flaw::AcceptAlgNone,
        Flaw::Hs256KeyConfusion,
        Flaw::IgnoreKid,
        Flaw::AcceptBadSignature,
    ] {
        sets.push(Flaws::none().with(f));
    }
    sets
}

// --- generators --------------------------------------------------------------------------------

/// Strings chosen to trouble parsers and printers: control characters, bidi overrides,
/// zero-width characters, combining marks, non-BMP, a BOM, NUL, very long runs.
const ODD: &[&str] = &[
    "",
    "\0",
    "\u{202e}evil\u{202c}",
    "\u{200b}\u{200d}\u{feff}",
    "e\u{301}\u{301}\u{301}",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢🦀",
    "\r\n\t\u{7f}\u{85}\u{2028}",
    "\\u0000\\ud800",
    "none",
    "RS256",
    "ES256",
    "HS256",
    "rsa1",
    "ec1",
    "%00%ff",
    "=",
    ".",
];

fn odd(rng: &mut StdRng) -> String {
    let s = ODD[rng.random_range(0..ODD.len())];
    match rng.random_range(0..8) {
        0 => s.repeat(rng.random_range(1..2000)),
        _ => s.to_owned(),
    }
}

/// A random JSON value: nested up to `depth`, huge strings and numbers sometimes.
fn value(rng: &mut StdRng, depth: usize) -> Value {
    match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e300),
        4 => Value::String(odd(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..4))
                .map(|_| (odd(rng), value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// JSON text nested `depth` deep, as serde_json's own depth limit (128) would see it.
fn deep_json(depth: usize, open: &str, close: &str) -> String {
    format!("{}1{}", open.repeat(depth), close.repeat(depth))
}

/// A token-shaped string: random parts (JSON of odd shapes, deep nesting, raw bytes, odd
/// unicode), random part counts and separators, random signatures.
fn token(rng: &mut StdRng) -> String {
    let part = |rng: &mut StdRng| -> String {
        match rng.random_range(0..8) {
            0 => b64(value(rng, 5).to_string().as_bytes()),
            1 => {
                let mut h = json!({"alg": odd(rng), "kid": value(rng, 2), "typ": odd(rng)});
                if rng.random_bool(0.3) {
                    h["crit"] = value(rng, 3);
                }
                b64(h.to_string().as_bytes())
            }
            2 => b64(deep_json(rng.random_range(100..5000), "[", "]").as_bytes()),
            3 => b64(deep_json(rng.random_range(100..5000), "{\"a\":", "}").as_bytes()),
            4 => {
                let n = rng.random_range(0..300);
                b64(&(0..n).map(|_| rng.random()).collect::<Vec<u8>>())
            }
            5 => odd(rng),
            6 => format!("{}==", b64(b"{}")),
            _ => String::new(),
        }
    };
    let n = match rng.random_range(0..10) {
        0 => rng.random_range(0..8),
        _ => 3,
    };
    (0..n).map(|_| part(rng)).collect::<Vec<_>>().join(".")
}

// --- the JWT verifier --------------------------------------------------------------------------

#[test]
fn the_jwt_verifier_answers_arbitrary_bytes_with_a_value() {
    on_small_stack(|| {
        let k = keys();
        let keys = jwt::parse_jwks(&k.jwks).unwrap();
        assert_eq!(keys.len(), 2);
        let sets = flaw_sets();
        for seed in 0..3000u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let len = rng.random_range(0..600);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    // Mostly the alphabet of a JWS, so that parsing gets past the first check.
                    const ALPHA: &[u8] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
                    if rng.random_bool(0.9) {
                        ALPHA[rng.random_range(0..ALPHA.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            for flaws in &sets {
                let got = jwt::verify(&text, &keys, &["RS256", "ES256"], flaws);
                // Random bytes carry no valid signature: only a flaw can accept them.
                if got.is_ok() {
                    assert!(
                        flaws.on(Flaw::AcceptAlgNone) || flaws.on(Flaw::AcceptBadSignature),
                        "seed {seed}: accepted {text:?} under {flaws:?}"
                    );
                }
                let _ = jwt::peek(&text);
            }
        }
    });
}

#[test]
fn the_jwt_verifier_answers_generated_tokens_with_a_value() {
    on_small_stack(|| {
        let k = keys();
        let keys = jwt::parse_jwks(&k.jwks).unwrap();
        let sets = flaw_sets();
        for seed in 0..1500u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t = token(&mut rng);
            for flaws in &sets {
                let got = jwt::verify(&t, &keys, &["RS256", "ES256"], flaws);
                if t.len() > MAX_TOKEN_BYTES {
                    assert_eq!(got, Err(JwtRefusal::TooLarge), "seed {seed}");
                }
                if flaws == &Flaws::none() {
                    assert!(
                        got.is_err(),
                        "seed {seed}: the strict verifier accepted {t:?}"
                    );
                }
                // Every refusal says what it is, in words.
                if let Err(e) = got {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    });
}

/// The property that matters: change any byte of an honestly signed token's header, claims or
/// signature, and the strict verifier refuses it.
#[test]
fn a_signed_token_with_any_byte_changed_is_refused() {
    let k = keys();
    let keys = jwt::parse_jwks(&k.jwks).unwrap();
    let strict = Flaws::none();
    let mut rng = StdRng::seed_from_u64(13);
    for round in 0..300 {
        let es256 = round % 2 == 1;
        let sub = ODD[rng.random_range(0..ODD.len())];
        let claims = json!({"iss": "http://127.0.0.1:7000", "sub": sub, "n": round});
        let t = signed(&k, es256, &claims);
        let (h, c) = jwt::verify(&t, &keys, &["RS256", "ES256"], &strict)
            .unwrap_or_else(|e| panic!("round {round}: the honest token is refused: {e}"));
        assert_eq!(c, claims);
        assert_eq!(h["kid"], if es256 { "ec1" } else { "rsa1" });
        // One character of the header, claims or signature (not a dot) replaced by another
        // of the alphabet.
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bytes = t.clone().into_bytes();
        let i = loop {
            let i = rng.random_range(0..bytes.len());
            if bytes[i] != b'.' {
                break i;
            }
        };
        let was = bytes[i];
        let now = loop {
            let c = ALPHA[rng.random_range(0..ALPHA.len())];
            if c != was {
                break c;
            }
        };
        bytes[i] = now;
        let changed = String::from_utf8(bytes).unwrap();
        // The last base64url character of a part may carry padding bits that decode to the
        // same bytes: then the token is the same token.
        let same_bytes = changed
            .split('.')
            .map(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .eq(t.split('.').map(|p| URL_SAFE_NO_PAD.decode(p).ok()));
        let got = jwt::verify(&changed, &keys, &["RS256", "ES256"], &strict);
        if !same_bytes {
            assert!(
                got.is_err(),
                "round {round}: byte {i} changed ({} -> {}) and the token is still accepted",
                was as char,
                now as char
            );
        }
    }
}

#[test]
fn the_jwks_parser_answers_hostile_key_sets_with_a_value() {
    on_small_stack(|| {
        let k = keys();
        let good: Value = serde_json::from_slice(&k.jwks).unwrap();
        for seed in 0..2000u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let text: Vec<u8> = match rng.random_range(0..6) {
                0 => (0..rng.random_range(0..400))
                    .map(|_| rng.random())
                    .collect(),
                1 => deep_json(rng.random_range(10..20000), "[", "]").into_bytes(),
                2 => {
                    let mut keys = good["keys"].as_array().unwrap().clone();
                    let i = rng.random_range(0..keys.len());
                    let field = ["kty", "kid", "n", "e", "crv", "x", "y"][rng.random_range(0..7)];
                    keys[i][field] = value(&mut rng, 3);
                    serde_json::to_vec(&json!({"keys": keys})).unwrap()
                }
                3 => {
                    // Huge numbers where the key's components go.
                    let big = b64(&vec![0xffu8; rng.random_range(1..200_000)]);
                    serde_json::to_vec(&json!({"keys": [
                        {"kty": "RSA", "kid": "x", "n": big, "e": big},
                        {"kty": "EC", "crv": "P-256", "x": big, "y": "AA"},
                    ]}))
                    .unwrap()
                }
                4 => serde_json::to_vec(&json!({"keys": value(&mut rng, 4)})).unwrap(),
                _ => serde_json::to_vec(&value(&mut rng, 5)).unwrap(),
            };
            match jwt::parse_jwks(&text) {
                Ok(keys) => {
                    // Whatever was parsed can be used without a panic.
                    let _: Vec<&Key> = keys.iter().collect();
                    let t = signed(&k, seed % 2 == 0, &json!({"seed": seed}));
                    let _ = jwt::verify(&t, &keys, &["RS256", "ES256"], &Flaws::none());
                }
                Err(e) => assert!(!e.is_empty(), "seed {seed}"),
            }
        }
    });
}

// --- the connection-file loader ----------------------------------------------------------------

const EXAMPLE: &str = include_str!("../scenarios/qovery-saml.yaml");
const EXAMPLE_OIDC: &str = include_str!("../scenarios/qovery-oidc.yaml");

/// Loads `text`, which must give a value: a connection, or diagnostics (at least one error,
/// each with a message) when it does not load.
fn load(text: &str, what: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    match config::load_str(text, "hostile.yaml", &dir) {
        Ok((_, diags)) => assert!(!diags.has_errors(), "{what}"),
        Err(diags) => {
            assert!(diags.has_errors(), "{what}: refused without an error");
            for d in diags.errors() {
                assert!(!d.message.is_empty(), "{what}: an error without a message");
            }
            // The diagnostics print (control characters escaped, no panic).
            let _ = diags.to_string();
        }
    }
}

#[test]
fn the_loader_answers_arbitrary_bytes_with_a_value() {
    on_small_stack(|| {
        for seed in 0..1500u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let len = rng.random_range(0..800);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    const YAML: &[u8] = b"abc: -[]{}#&*!|>'\"%@`,?\n\t :";
                    if rng.random_bool(0.7) {
                        YAML[rng.random_range(0..YAML.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            load(&text, &format!("seed {seed}: {text:?}"));
        }
    });
}

/// The shipped files with lines dropped, doubled, swapped or cut, and characters replaced by
/// odd ones: nearly valid documents reach every section's reader.
#[test]
fn the_loader_answers_mutated_connection_files_with_a_value() {
    on_small_stack(|| {
        for seed in 0..600u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let base = if seed % 2 == 0 { EXAMPLE } else { EXAMPLE_OIDC };
            let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..lines.len());
                match rng.random_range(0..6) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let l = lines[i].clone();
                        lines.insert(i, l);
                    }
                    2 => {
                        let j = rng.random_range(0..lines.len());
                        lines.swap(i, j);
                    }
                    3 => {
                        let cut = lines[i].char_indices().map(|(b, _)| b).collect::<Vec<_>>();
                        if !cut.is_empty() {
                            let at = cut[rng.random_range(0..cut.len())];
                            lines[i].truncate(at);
                        }
                    }
                    4 => {
                        // A value replaced by an odd one.
                        if let Some((k, _)) = lines[i].clone().split_once(": ") {
                            lines[i] = format!("{k}: {:?}", odd(&mut rng));
                        }
                    }
                    _ => {
                        let at = lines[i].len();
                        lines[i].insert_str(at, &odd(&mut rng));
                    }
                }
            }
            let text = lines.join("\n");
            load(&text, &format!("seed {seed}"));
        }
    });
}

/// Deep nesting (flow and block), huge scalars and keys, many keys, odd unicode and aliases:
/// every one within the file size limit, each answered with a value on a small stack.
#[test]
fn the_loader_answers_deep_and_huge_documents_with_a_value() {
    let limit = config::MAX_FILE_BYTES;
    let deep = |n: usize| n.min(limit / 4);
    // Huge scalars and keys: 4 MiB shows a parse linear in the bytes; the limit itself (32 MiB,
    // for enterprise directories) takes proportionally longer in a debug build, and
    // benches/scale.sh measures large files in release.
    let huge = limit.min(4 * 1024 * 1024);
    // Block nesting costs a space per level: 1,400 levels are the most that fit in the size
    // limit (about 1 MiB of indentation).
    let mut cases: Vec<(String, String)> = vec![
        ("flow sequences".into(), deep_json(deep(200_000), "[", "]")),
        (
            "flow mappings".into(),
            deep_json(deep(100_000), "{a: ", "}"),
        ),
        (
            "deep idp".into(),
            format!("idp: {}", deep_json(deep(100_000), "[", "]")),
        ),
        ("block sequences".into(), {
            let mut s = String::new();
            for i in 0..1400 {
                s.push_str(&" ".repeat(i));
                s.push_str("-\n");
            }
            s
        }),
        ("block mappings".into(), {
            let mut s = String::new();
            for i in 0..1400 {
                s.push_str(&" ".repeat(i));
                s.push_str("a:\n");
            }
            s
        }),
        (
            "a huge scalar".into(),
            format!("idp:\n  base_url: \"{}\"\n", "x".repeat(huge - 100)),
        ),
        (
            "a huge key".into(),
            format!("{}: 1\n", "k".repeat(huge - 10)),
        ),
        (
            "many keys".into(),
            (0..40_000).map(|i| format!("k{i}: {i}\n")).collect(),
        ),
        ("aliases".into(), {
            let mut s = String::from("a0: &a0 [x, x]\n");
            for i in 1..40 {
                s.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
            }
            s
        }),
        (
            "odd unicode everywhere".into(),
            EXAMPLE
                .replace("alice", "a\u{202e}lice\u{200b}")
                .replace("Qovery", "Q\u{0301}\u{0301}overy𝔘")
                .replace("acme", "ac\0me"),
        ),
        ("over the limit".into(), "#".repeat(limit + 1)),
    ];
    cases.push((
        "a BOM and a second document".into(),
        format!("\u{feff}{EXAMPLE}\n---\n{EXAMPLE}"),
    ));
    for (what, text) in cases {
        on_small_stack(move || {
            let started = std::time::Instant::now();
            load(&text, &what);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{what}: took {:?}",
                started.elapsed()
            );
        });
    }
}

/// The deepest documents the limits let through (64 block levels holding 254 flow levels) are
/// read on a small stack; one level of block nesting more is refused, in words, before a tree
/// is built.
#[test]
fn the_loader_reads_the_deepest_allowed_document_and_refuses_deeper_in_words() {
    on_small_stack(|| {
        let block = config::MAX_BLOCK_DEPTH;
        let deepest: String = (0..block)
            .map(|i| {
                let value = if i + 1 == block {
                    format!(" {}", deep_json(254, "[", "]"))
                } else {
                    String::new()
                };
                format!("{}a:{value}\n", " ".repeat(i))
            })
            .collect();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let d = config::load_str(&deepest, "deep.yaml", dir).unwrap_err();
        assert!(
            d.to_string().contains("unknown key `a`"),
            "read as a document: {d}"
        );
        let deeper = format!("{deepest}{}a: 1\n", " ".repeat(block));
        let d = config::load_str(&deeper, "deep.yaml", dir).unwrap_err();
        assert_eq!(
            d.to_string().lines().next().unwrap(),
            format!(
                "deep.yaml:{}:{}: the YAML nests deeper than {block} levels",
                block + 1,
                block + 1
            )
        );
    });
}
