//! Hostile XML (issue 13): the parsers, decoders, c14n and signature checks fed arbitrary bytes
//! and generated documents (deep nesting, huge attributes, odd namespaces) must answer every
//! input with a value, never a panic or a stack overflow; and over real HTTP, a deep
//! SAMLRequest gets a 400 naming the limit while the IdP keeps answering, and a signed request
//! whose reference points at a URL is refused before anything connects to it.
//!
//! The generators are a seeded loop (no fuzzing engine, stable Rust), a few seconds in all; a
//! failure prints the seed and the input.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use fakta::saml::untrusted::{self, MAX_DEPTH, XmlError};
use fakta::saml::{authn_request, binding, c14n, logout, signature};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SSO: &str = "/app/acme_qovery_1/qovery/sso/saml";
const SSO_URL: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml";
const SLO: &str = "/app/acme_qovery_1/qovery/slo/saml";
const ACS: &str = "http://127.0.0.1:7100/login/callback?connection=acme";
const SP: &str = "urn:auth0:qovery:acme";
const TOO_DEEP: &str = "the XML nests deeper than 64 elements";

/// Runs `f` on a thread with a small stack (1 MiB, half a tokio worker's): a
/// recursion on the input's depth would overflow it and abort the test process.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

// --- generators --------------------------------------------------------------------------------

const NAMES: &[&str] = &[
    "a",
    "samlp:AuthnRequest",
    "saml:Issuer",
    "ds:Signature",
    "ds:Reference",
    "p:x",
    "xml:lang",
    "Extensions",
    "é",
    "_",
];

/// A random document: elements nested up to `max_depth`, namespaces declared, redeclared,
/// undeclared or odd, attributes up to tens of KiB, text, comments, CDATA and PIs; sometimes
/// broken on purpose (`mutate`).
fn document(rng: &mut StdRng, max_depth: usize) -> String {
    // Deep rounds mostly open elements; the others wander.
    let open_below = if max_depth > MAX_DEPTH { 8 } else { 4 };
    let mut out = String::new();
    if rng.random_bool(0.1) {
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }
    if rng.random_bool(0.3) {
        // Entities that expand into markup, nested in each other (for the parsers that allow
        // a DTD: the reference SP under `accept-doctype`).
        let levels = rng.random_range(1..6);
        out.push_str(&format!(
            "<!DOCTYPE r [<?pi \"?><!-- ' --><!ENTITY e \"{}x{}\"><!ENTITY f \"<b>&e;&e;</b>\"><!ENTITY g '<c>&f;</c>'>]>",
            "<a>".repeat(levels),
            "</a>".repeat(levels)
        ));
    }
    // An explicit stack of open names: the generator does not recurse either.
    let mut open: Vec<&str> = Vec::new();
    let mut budget = rng.random_range(1..400usize);
    loop {
        let can_open = open.len() < max_depth && budget > 0;
        let choice = rng.random_range(0..10u8);
        if open.is_empty() || (can_open && choice < open_below) {
            budget = budget.saturating_sub(1);
            let name = NAMES[rng.random_range(0..NAMES.len())];
            out.push('<');
            out.push_str(name);
            if open.is_empty() || rng.random_bool(0.2) {
                out.push_str(" xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"");
            }
            for _ in 0..rng.random_range(0..4) {
                attribute(rng, &mut out);
            }
            if rng.random_bool(0.2) {
                out.push_str("/>");
            } else {
                out.push('>');
                open.push(name);
            }
            if open.is_empty() {
                break;
            }
        } else if choice < 7 && !open.is_empty() {
            content(rng, &mut out);
        } else {
            let name = open.pop().unwrap_or("a");
            out.push_str("</");
            out.push_str(name);
            out.push('>');
            if open.is_empty() {
                break;
            }
        }
    }
    if rng.random_bool(0.15) {
        mutate(rng, &mut out);
    }
    out
}

fn attribute(rng: &mut StdRng, out: &mut String) {
    match rng.random_range(0..8u8) {
        0 => out.push_str(" xmlns=\"\""),
        1 => out.push_str(" xmlns:p=\"urn:p\""),
        2 => out.push_str(" xmlns:p=\"\""),
        3 => out.push_str(" xml:lang=\"en\""),
        4 => {
            let n = if rng.random_bool(0.1) {
                rng.random_range(10_000..60_000)
            } else {
                rng.random_range(0..50)
            };
            out.push_str(&format!(" ID=\"{}\"", "x".repeat(n)));
        }
        5 => out.push_str(" URI=\"#_r\" Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\""),
        6 => out.push_str(" v=\"&lt;a&gt; &amp; &#x9;&#10; '\" w='\"/>'"),
        _ => out.push_str(" p:y=\"1\""),
    }
}

fn content(rng: &mut StdRng, out: &mut String) {
    match rng.random_range(0..6u8) {
        0 => out.push_str("text &amp; &#x1F600; \r\n"),
        1 => out.push_str("<!-- a -- comment? -->"),
        2 => out.push_str("<![CDATA[<a><b>]]>"),
        3 => out.push_str("<?pi data?>"),
        4 => out.push_str(["urn:sp<!---->.evil", "&e;", "&g;"][rng.random_range(0..3)]),
        _ => out.push_str(&"é".repeat(rng.random_range(0..100))),
    }
}

/// Cuts, duplicates or flips part of the text: whatever comes out must be refused cleanly.
fn mutate(rng: &mut StdRng, s: &mut String) {
    let at = |rng: &mut StdRng, s: &str| {
        let mut i = rng.random_range(0..=s.len());
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match rng.random_range(0..3u8) {
        0 => {
            let i = at(rng, s);
            s.truncate(i);
        }
        1 => {
            let i = at(rng, s);
            let j = at(rng, s);
            let (i, j) = (i.min(j), i.max(j));
            let piece = s[i..j].to_owned();
            s.insert_str(j, &piece);
        }
        _ => {
            let i = at(rng, s);
            s.insert_str(
                i,
                ["<", ">", "\"", "&", "</a>", "<!DOCTYPE x>"][rng.random_range(0..6)],
            );
        }
    }
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(0..300);
    let alphabet = b"<>/!?-[]=\"' &;#xabAZ:\n\x00\xff";
    (0..n)
        .map(|_| {
            if rng.random_bool(0.7) {
                alphabet[rng.random_range(0..alphabet.len())]
            } else {
                rng.random()
            }
        })
        .collect()
}

/// The deepest element nesting of a parsed document (iterative).
fn tree_depth(doc: &roxmltree::Document<'_>) -> usize {
    doc.descendants()
        .map(|n| n.ancestors().filter(|a| a.is_element()).count())
        .max()
        .unwrap_or(0)
}

/// Every entry point that reads XML from the network, fed `xml`: each answers with a value.
fn every_reader(xml: &str) {
    // With entities expanded too, nothing deeper than the limit gets through.
    if let Ok(doc) = untrusted::parse(xml, true) {
        let depth = tree_depth(&doc);
        assert!(
            depth <= MAX_DEPTH,
            "depth {depth} got through (DTD allowed):\n{xml}"
        );
    }
    let _ = authn_request::parse(xml);
    let _ = logout::parse_request(xml);
    let _ = binding::decode_post(&binding::encode_post(xml));
    let _ = binding::decode_redirect(&binding::encode_redirect(xml));
    let _ = binding::decode_redirect(xml);
    let _ = binding::decode_post(xml);
    if let Ok(doc) = untrusted::parse(xml, false) {
        let _ = signature::check_enveloped(&doc);
        let _ = signature::same_document_references(&doc);
        let once = c14n::canonicalize(doc.root_element(), None);
        // The canonical form is XML, and canonicalizing it again changes nothing; except for
        // documents that undeclare a prefix (`xmlns:p=""`, not namespace-well-formed XML 1.0,
        // which roxmltree lets through): the c14n is for fakta's own documents, and an
        // unusable output there is a value too.
        if xml.contains("xmlns:p=\"\"") {
            return;
        }
        let again = roxmltree::Document::parse(&once)
            .unwrap_or_else(|e| panic!("c14n output is not XML ({e}):\n{xml}\n->\n{once}"));
        assert_eq!(
            c14n::canonicalize(again.root_element(), None),
            once,
            "c14n is not idempotent for:\n{xml}"
        );
    }
}

// --- property tests ----------------------------------------------------------------------------

#[test]
fn arbitrary_bytes_get_an_error_value_never_a_panic() {
    on_small_stack(|| {
        let mut rng = StdRng::seed_from_u64(13);
        for _ in 0..3_000 {
            let bytes = random_bytes(&mut rng);
            let text = String::from_utf8_lossy(&bytes);
            every_reader(&text);
            let _ = binding::decode_redirect(&String::from_utf8_lossy(&bytes));
        }
    });
}

#[test]
fn generated_documents_get_a_value_and_the_depth_limit_is_exact() {
    on_small_stack(|| {
        let mut rng = StdRng::seed_from_u64(2026);
        let mut deep = 0;
        let mut parsed = 0;
        let mut with_entities = 0;
        for round in 0..600 {
            let max_depth = if round % 3 == 0 { 150 } else { 40 };
            let xml = document(&mut rng, max_depth);
            every_reader(&xml);
            if xml.contains("<!DOCTYPE") && untrusted::parse(&xml, true).is_ok() {
                with_entities += 1;
            }
            // The pre-scan agrees with the parser's tree on every document it lets through.
            match untrusted::parse(&xml, false) {
                Ok(doc) => {
                    parsed += 1;
                    let depth = tree_depth(&doc);
                    assert!(depth <= MAX_DEPTH, "depth {depth} got through:\n{xml}");
                }
                Err(XmlError::TooDeep { .. }) => deep += 1,
                Err(_) => {}
            }
        }
        // Both kinds are exercised (the seed is fixed: these counts do not vary).
        assert!(
            deep > 40 && parsed > 80 && with_entities > 20,
            "{deep} too deep, {parsed} parsed, {with_entities} with entities"
        );
    });
}

#[test]
fn deep_nesting_of_every_kind_is_refused_by_every_reader() {
    on_small_stack(|| {
        for n in [MAX_DEPTH + 1, 3_100, 30_000] {
            for xml in [
                format!("{}{}", "<a>".repeat(n), "</a>".repeat(n)),
                // Unclosed, prefixed, with attributes that hold `>` and `/>`.
                format!(
                    "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\">{}",
                    "<p:x xmlns:p=\"urn:p\" v=\"/>\">".repeat(n)
                ),
                format!(
                    "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\">{}",
                    "<a><!-- x --><![CDATA[y]]>".repeat(n)
                ),
            ] {
                let deep = XmlError::TooDeep { limit: MAX_DEPTH };
                assert_eq!(untrusted::parse(&xml, false).err(), Some(deep.clone()));
                assert_eq!(untrusted::parse(&xml, true).err(), Some(deep));
                assert!(matches!(
                    authn_request::parse(&xml),
                    Err(authn_request::AuthnRequestError::TooDeep { limit: MAX_DEPTH })
                ));
                assert!(matches!(
                    logout::parse_request(&xml),
                    Err(logout::LogoutError::TooDeep { limit: MAX_DEPTH })
                ));
                let refused = Err(binding::BindingError::TooDeep { limit: MAX_DEPTH });
                if xml.len() <= binding::MAX_MESSAGE_BYTES {
                    assert_eq!(
                        binding::decode_redirect(&binding::encode_redirect(&xml)),
                        refused
                    );
                }
                if binding::encode_post(&xml).len() <= binding::MAX_MESSAGE_BYTES {
                    assert_eq!(binding::decode_post(&binding::encode_post(&xml)), refused);
                }
                assert!(!signature::verify_first(&xml, b"x"));
            }
        }
    });
}

#[test]
fn a_deep_response_is_refused_by_the_reference_sp_under_every_flaw() {
    use fakta::refsp::saml::{Refusal, SpSettings, check};
    use fakta::refsp::state::SamlMemory;
    use fakta::refsp::{Flaw, Flaws};
    on_small_stack(|| {
        let n = 3_100;
        let xml = format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"r\">{}{}</samlp:Response>",
            "<a>".repeat(n),
            "</a>".repeat(n)
        );
        let sp = SpSettings {
            entity_id: SP.into(),
            acs_url: ACS.into(),
            idp_entity_id: "http://www.okta.com/qovery".into(),
            idp_certs: vec![],
            allow_unsolicited: true,
            decryption_key: None,
            allow_sha1: false,
        };
        for flaws in [
            Flaws::none(),
            Flaws::none()
                .with(Flaw::AcceptDoctype)
                .with(Flaw::SkipSignature),
        ] {
            let got = check(&xml, &sp, NOW, &mut SamlMemory::default(), &flaws);
            assert_eq!(got, Err(Refusal::TooDeep { limit: MAX_DEPTH }), "{flaws:?}");
        }
        // An entity that expands into deep markup is counted before roxmltree expands it.
        let entity = format!(
            "<!DOCTYPE r [<!ENTITY e \"{}{}\">]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"r\">&e;</samlp:Response>",
            "<a>".repeat(10),
            "</a>".repeat(10)
        );
        let flaws = Flaws::none().with(Flaw::AcceptDoctype);
        let got = check(&entity, &sp, NOW, &mut SamlMemory::default(), &flaws);
        assert_eq!(got, Err(Refusal::TooDeep { limit: MAX_DEPTH }));
    });
}

// --- over HTTP ---------------------------------------------------------------------------------

/// A listener on a loopback port that accepts and counts connections (closing each at once).
struct Trap {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn trap() -> Trap {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    Trap { port, hits }
}

/// The IdP served on a loopback port by a runtime with two workers (tokio's default 2 MiB
/// stacks), as `fakta serve` runs it.
fn serve(state: Arc<fakta::idp::IdpState>) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(fakta::idp::serve(
        listener,
        state,
        fakta::serving::Limits::default(),
        std::future::pending(),
    ));
    (base, rt)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[test]
fn a_deep_saml_request_gets_a_400_naming_the_depth_and_the_idp_keeps_answering() {
    let (base, rt) = serve(state(example()));
    let deep = format!("{}{}", "<a>".repeat(3_100), "</a>".repeat(3_100));
    let redirect = binding::encode_redirect(&deep);
    assert!(redirect.len() < 300, "{} characters", redirect.len());
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    rt.block_on(async {
        let c = client();
        for path in [SSO, SLO] {
            let a = c
                .get(format!("{base}{path}?SAMLRequest={}", enc(&redirect)))
                .send()
                .await
                .unwrap();
            assert_eq!(a.status(), 400, "{path} (Redirect)");
            let body = a.text().await.unwrap();
            assert!(body.contains(TOO_DEEP), "{path}: {body}");
            let p = c
                .post(format!("{base}{path}"))
                .form(&[("SAMLRequest", binding::encode_post(&deep))])
                .send()
                .await
                .unwrap();
            assert_eq!(p.status(), 400, "{path} (POST)");
            let body = p.text().await.unwrap();
            assert!(body.contains(TOO_DEEP), "{path}: {body}");
        }
        let md = c
            .get(format!("{base}/app/qovery/sso/saml/metadata"))
            .send()
            .await
            .unwrap();
        assert_eq!(md.status(), 200, "the IdP is still answering");
    });
}

/// The example connection with the SP certificate required, and the SP's key.
fn signed_sp() -> (
    tempfile::TempDir,
    fakta::keys::SigningKey,
    Arc<fakta::idp::IdpState>,
) {
    let dir = tempfile::tempdir().unwrap();
    let sp = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("sp.crt"), sp.certificate.pem()).unwrap();
    let yaml = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("# sp_certificate: sp.crt", "sp_certificate: sp.crt");
    let st = state(connection(&yaml, dir.path()));
    (dir, sp, st)
}

/// `xml` with a signature after its first Issuer whose one reference is `uri` (the values are
/// not a real signature: the point is what happens before it is checked).
fn with_reference(xml: &str, close_issuer: &str, uri: &str, cert_b64: &str) -> String {
    let at = xml.find(close_issuer).unwrap() + close_issuer.len();
    let template = fakta::saml::response::signature_template("_x", cert_b64)
        .replace("URI=\"#_x\"", &format!("URI=\"{uri}\""))
        .replace(
            "<ds:DigestValue></ds:DigestValue>",
            "<ds:DigestValue>AAAA</ds:DigestValue>",
        )
        .replace(
            "<ds:SignatureValue></ds:SignatureValue>",
            "<ds:SignatureValue>AAAA</ds:SignatureValue>",
        );
    format!("{}{template}{}", &xml[..at], &xml[at..])
}

#[test]
fn a_reference_to_a_url_is_refused_before_anything_connects_to_it() {
    let (_dir, sp, st) = signed_sp();
    let (base, rt) = serve(st);
    let trap = trap();
    let url = format!("http://127.0.0.1:{}/x", trap.port);
    let cert = sp.certificate.base64();
    let authn = with_reference(
        &authn_request::build("_r1", "2026-11-28T09:00:00.000Z", SP, SSO_URL, ACS, false),
        "</saml:Issuer>",
        &url,
        &cert,
    );
    let logout_request = with_reference(
        &logout::build(&logout::LogoutRequest {
            id: "_lo1".into(),
            issue_instant: NOW,
            issuer: SP.into(),
            destination: format!("http://127.0.0.1:7000{SLO}"),
            name_id: "alice@acme.test".into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            session_index: None,
        }),
        "</saml2:Issuer>",
        &url,
        &cert,
    );
    rt.block_on(async {
        let c = client();
        for (path, xml) in [(SSO, &authn), (SLO, &logout_request)] {
            let started = std::time::Instant::now();
            let a = c
                .post(format!("{base}{path}"))
                .form(&[("SAMLRequest", binding::encode_post(xml))])
                .send()
                .await
                .unwrap();
            assert_eq!(a.status(), 400, "{path}");
            let body = a.text().await.unwrap();
            assert!(
                body.contains("not a same-document reference"),
                "{path}: {body}"
            );
            assert!(started.elapsed() < Duration::from_secs(10));
        }
    });
    // Give a connection that was made the time to be counted.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(trap.hits.load(Ordering::SeqCst), 0, "something connected");
    // The trap does count: a connection to it is seen.
    drop(std::net::TcpStream::connect(("127.0.0.1", trap.port)).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(trap.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn the_reference_sp_refuses_a_response_referencing_a_url_without_fetching_it() {
    use fakta::refsp::saml::{Refusal, SpSettings, check};
    use fakta::refsp::state::SamlMemory;
    let trap = trap();
    let k = keys().current;
    let params = fakta::saml::response::ResponseParams {
        ids: fakta::saml::response::ResponseIds {
            response_id: "_resp".into(),
            assertion_id: "_assert".into(),
            session_index: "_sess".into(),
        },
        issue_instant: NOW,
        authn_instant: NOW,
        lifetime: time::Duration::minutes(5),
        issuer: "http://www.okta.com/qovery".into(),
        destination: ACS.into(),
        recipient: ACS.into(),
        authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
        in_response_to: None,
        audience: SP.into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        attributes: vec![],
    };
    let honest = signature::signed_response(
        &params,
        fakta::config::SignWhat::Both,
        k.pkey(),
        &k.certificate.base64(),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{}/x", trap.port);
    let forged = honest.replacen("URI=\"#_resp\"", &format!("URI=\"{url}\""), 1);
    assert_ne!(forged, honest);
    let sp = SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        idp_entity_id: "http://www.okta.com/qovery".into(),
        idp_certs: vec![k.certificate.der().to_vec()],
        allow_unsolicited: true,
        decryption_key: None,
        allow_sha1: false,
    };
    let flaws = fakta::refsp::Flaws::none();
    let got = check(&forged, &sp, NOW, &mut SamlMemory::default(), &flaws);
    assert!(
        matches!(&got, Err(Refusal::Reference(why)) if why.contains("not a same-document reference")),
        "{got:?}"
    );
    // The honest document still goes through.
    check(&honest, &sp, NOW, &mut SamlMemory::default(), &flaws).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(trap.hits.load(Ordering::SeqCst), 0, "something connected");
}
