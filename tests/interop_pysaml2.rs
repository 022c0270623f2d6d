//! Interop with an independent SAML SP library: pysaml2 (PyPI, pinned in
//! tests/interop/requirements.txt), through tests/interop/pysaml2_sp.py. The IdP runs on the
//! real clock (pysaml2 checks times against now); a login goes through the router like a
//! browser's, and the posted SAMLResponse is handed to pysaml2 with the IdP metadata (as served)
//! and the one outstanding AuthnRequest ID. pysaml2 must accept an honest Response and read its
//! NameID and attributes exactly, and must refuse a tampered one, one for another request, an
//! unsolicited one, an expired one, one signed by another key, and one missing either signature.
//!
//! pysaml2 checks signatures by running the xmlsec1 binary, i.e. libxmlsec1, the library fakta
//! signs with; the last test also verifies both signatures with signxml (lxml + cryptography),
//! an XML-DSig implementation that shares no code with libxmlsec1.
//!
//! python3, pysaml2, signxml or xmlsec1 missing is a failure, not a skip: run
//! `scripts/setup-deps`. See tests/interop/README.md.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use common::*;
use fakta::clock::SystemClock;
use fakta::idp::IdpState;
use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pysaml2_sp.py");
/// The version tests/interop/requirements.txt pins.
const PYSAML2_VERSION: &str = "7.5.5";

/// Checks that python3, pysaml2 and xmlsec1 are there; panics (never skips) when not.
fn require_env() {
    require_python(SCRIPT, "pysaml2", PYSAML2_VERSION);
}

/// The IdP of the example connection on the real clock, with its metadata in a file.
struct LiveIdp {
    st: Arc<IdpState>,
    _dir: tempfile::TempDir,
    metadata: PathBuf,
}

async fn live_idp() -> LiveIdp {
    idp_on(example(), keys(), Arc::new(SystemClock)).await
}

/// An IdP for `conn` with the given keys and clock, and its metadata (as served) in a file.
async fn idp_on(
    conn: fakta::config::Connection,
    keys: fakta::keys::KeyStore,
    clock: Arc<dyn fakta::clock::Clock>,
) -> LiveIdp {
    require_env();
    let st = IdpState::new(conn, keys, clock).expect("state");
    let md = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    assert_eq!(md.status, StatusCode::OK, "{}", md.body);
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    std::fs::write(&metadata, &md.body).expect("write metadata");
    LiveIdp {
        st,
        _dir: dir,
        metadata,
    }
}

/// An SP-initiated login as `user` (HTTP-Redirect AuthnRequest issued now, login page, user
/// picked); returns the SAMLResponse form field exactly as the browser would POST it.
async fn sp_login(st: &Arc<IdpState>, request_id: &str, user: &str) -> String {
    let now = fakta::saml::xml::instant(time::OffsetDateTime::now_utc());
    let xml = fakta::saml::authn_request::build(
        request_id,
        &now,
        "urn:auth0:qovery:acme",
        "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml",
        "http://127.0.0.1:7100/login/callback?connection=acme",
        false,
    );
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &fakta::saml::binding::encode_redirect(&xml))
        .append_pair("RelayState", "/after-login")
        .finish();
    let start = get(st, &format!("/app/acme_qovery_1/qovery/sso/saml?{q}"), None).await;
    let done = pick_user(st, &start, user).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        done.form_action(),
        "http://127.0.0.1:7100/login/callback?connection=acme"
    );
    form_field(&done.body, "SAMLResponse").expect("SAMLResponse field")
}

/// What pysaml2 said.
#[derive(Debug)]
struct Verdict {
    json: Value,
    command: String,
    stderr: String,
}

impl Verdict {
    fn ok(&self) -> bool {
        self.json["ok"] == true
    }

    fn attribute(&self, name: &str) -> Vec<String> {
        self.json["attributes"][name]
            .as_array()
            .unwrap_or_else(|| panic!("no attribute `{name}` in {}", self.json))
            .iter()
            .map(|v| v.as_str().expect("string value").to_owned())
            .collect()
    }

    fn error(&self) -> String {
        format!(
            "{}: {}",
            self.json["error_type"].as_str().unwrap_or("?"),
            self.json["error"].as_str().unwrap_or("?")
        )
    }
}

/// Runs the pysaml2 SP on a posted SAMLResponse, with `request_id` as the one outstanding request.
fn pysaml2(metadata: &Path, request_id: &str, saml_response_b64: &str) -> Verdict {
    pysaml2_decrypting(metadata, request_id, saml_response_b64, None)
}

/// [`pysaml2`], the SP holding its encryption key pair (key, certificate) when given.
fn pysaml2_decrypting(
    metadata: &Path,
    request_id: &str,
    saml_response_b64: &str,
    sp_keys: Option<(&Path, &Path)>,
) -> Verdict {
    let py = python();
    let mut args = vec![
        SCRIPT.to_owned(),
        "--idp-metadata".to_owned(),
        metadata.display().to_string(),
        "--request-id".to_owned(),
        request_id.to_owned(),
    ];
    if let Some((key, cert)) = sp_keys {
        args.extend([
            "--sp-key".to_owned(),
            key.display().to_string(),
            "--sp-cert".to_owned(),
            cert.display().to_string(),
        ]);
    }
    let mut child = Command::new(&py)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{py}`: {e}; {SETUP_HINT}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(saml_response_b64.as_bytes())
        .expect("write SAMLResponse");
    let out = child.wait_with_output().expect("pysaml2_sp.py");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let command = format!("{py} {} < SAMLResponse", args.join(" "));
    assert_ne!(
        out.status.code(),
        Some(2),
        "the pysaml2 SP is not ready:\n{stdout}{stderr}\n{SETUP_HINT}"
    );
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "pysaml2_sp.py printed no JSON ({e}), exit {}:\n$ {command}\n{stdout}\n{stderr}",
            out.status
        )
    });
    // Exit status and JSON must agree: 0 accepted, 1 refused.
    assert_eq!(
        out.status.code(),
        Some(if json["ok"] == true { 0 } else { 1 }),
        "{json}"
    );
    eprintln!("$ {command}\n{json}");
    if !stderr.trim().is_empty() {
        eprintln!("{}", stderr.trim_end());
    }
    Verdict {
        json,
        command,
        stderr,
    }
}

fn assert_accepted(v: &Verdict) {
    assert!(
        v.ok(),
        "pysaml2 refused fakta's Response: {}\n$ {}\n{}",
        v.error(),
        v.command,
        v.stderr
    );
}

fn assert_refused(v: &Verdict, what: &str, because: &str) {
    assert!(
        !v.ok(),
        "pysaml2 accepted {what}, which it must refuse: {}\n$ {}",
        v.json,
        v.command
    );
    assert!(
        v.error().contains(because),
        "pysaml2 refused {what}, but not for `{because}`: {}\n$ {}\n{}",
        v.error(),
        v.command,
        v.stderr
    );
}

fn decode(b64: &str) -> String {
    fakta::saml::binding::decode_post(b64).expect("base64 SAMLResponse")
}

fn encode(xml: &str) -> String {
    fakta::saml::binding::encode_post(xml)
}

#[tokio::test]
async fn pysaml2_accepts_the_response_and_reads_exact_values() {
    let idp = live_idp().await;
    let posted = sp_login(&idp.st, "_pysaml2_ok_1", "00u5obrien").await;
    let xml = decode(&posted);
    // The name really was escaped in the XML (libxml2 re-serializes the text when signing, so
    // `'` may come out bare), so an exact value below proves the round trip.
    assert!(
        xml.contains("Brien &amp; &lt;Sons&gt;</saml2:AttributeValue>"),
        "{xml}"
    );
    let v = pysaml2(&idp.metadata, "_pysaml2_ok_1", &posted);
    assert_accepted(&v);
    assert_eq!(v.json["pysaml2"], PYSAML2_VERSION);
    assert_eq!(v.json["name_id"], "obrien@acme.test");
    assert_eq!(
        v.json["name_id_format"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    );
    assert_eq!(v.json["issuer"], "http://www.okta.com/qovery");
    assert_eq!(v.json["in_response_to"], "_pysaml2_ok_1");
    assert_eq!(v.json["came_from"], "/after-login");
    assert_eq!(v.attribute("email"), ["obrien@acme.test"]);
    assert_eq!(v.attribute("name"), ["O'Brien & <Sons>"]);
    assert_eq!(v.attribute("groups"), ["Qovery-DevOps"]);
    let mut names: Vec<&String> = v.json["attributes"]
        .as_object()
        .expect("attributes")
        .keys()
        .collect();
    names.sort();
    assert_eq!(names, ["email", "groups", "name"]);
}

#[tokio::test]
async fn pysaml2_sees_only_the_filtered_groups() {
    let idp = live_idp().await;
    // Alice is in Qovery-Admins and Eng; the app sends groups matching `.*Qovery.*` only.
    let posted = sp_login(&idp.st, "_pysaml2_ok_2", "00u1alice").await;
    let v = pysaml2(&idp.metadata, "_pysaml2_ok_2", &posted);
    assert_accepted(&v);
    assert_eq!(v.json["name_id"], "alice@acme.test");
    assert_eq!(v.attribute("name"), ["Alice Admin"]);
    assert_eq!(v.attribute("groups"), ["Qovery-Admins"]);

    // Max is in two Qovery groups: both arrive, in order.
    let posted = sp_login(&idp.st, "_pysaml2_ok_3", "00u4max").await;
    let v = pysaml2(&idp.metadata, "_pysaml2_ok_3", &posted);
    assert_accepted(&v);
    assert_eq!(v.attribute("groups"), ["Qovery-DevOps", "Qovery-Admins"]);
}

#[tokio::test]
async fn pysaml2_refuses_an_attribute_changed_after_signing() {
    let idp = live_idp().await;
    let posted = sp_login(&idp.st, "_pysaml2_tamper", "00u5obrien").await;
    // Control: untouched, the same Response is accepted.
    assert_accepted(&pysaml2(&idp.metadata, "_pysaml2_tamper", &posted));

    let xml = decode(&posted);
    let from = ">Qovery-DevOps</saml2:AttributeValue>";
    assert_eq!(xml.matches(from).count(), 1, "{xml}");
    // Promote the user to admin after the IdP signed.
    let tampered = xml.replacen(from, ">Qovery-Admins</saml2:AttributeValue>", 1);
    let v = pysaml2(&idp.metadata, "_pysaml2_tamper", &encode(&tampered));
    assert_refused(
        &v,
        "a Response whose groups were changed after signing",
        "SignatureError: Failed to verify signature",
    );
}

#[tokio::test]
async fn pysaml2_refuses_a_response_to_another_request() {
    let idp = live_idp().await;
    let posted = sp_login(&idp.st, "_pysaml2_req_A", "00u1alice").await;
    assert!(decode(&posted).contains("InResponseTo=\"_pysaml2_req_A\""));
    // The SP is waiting for request B, not A.
    let v = pysaml2(&idp.metadata, "_pysaml2_req_B", &posted);
    assert_refused(
        &v,
        "a Response whose InResponseTo is not the outstanding request",
        "UnsolicitedResponse",
    );
}

#[tokio::test]
async fn pysaml2_refuses_an_unsolicited_response() {
    // allow_unsolicited is false: an IdP-initiated Response (no InResponseTo) is refused.
    let idp = live_idp().await;
    let start = get(&idp.st, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let done = pick_user(&idp.st, &start, "00u1alice").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let posted = form_field(&done.body, "SAMLResponse").expect("SAMLResponse field");
    assert!(!decode(&posted).contains("InResponseTo"));
    let v = pysaml2(&idp.metadata, "_pysaml2_some_request", &posted);
    assert_refused(&v, "an IdP-initiated Response", "UnsolicitedResponse");
}

#[tokio::test]
async fn pysaml2_refuses_a_response_signed_by_another_key() {
    // An attacker's IdP with the same entity id but its own key; its Response is well signed and
    // carries its own certificate in KeyInfo. pysaml2 only trusts the metadata's certificate.
    let real = live_idp().await;
    let forger_dir = tempfile::tempdir().expect("tempdir");
    let (forger_keys, _) =
        fakta::keys::KeyStore::open_or_create(forger_dir.path()).expect("forger keys");
    let forger = idp_on(example(), forger_keys, Arc::new(SystemClock)).await;
    let posted = sp_login(&forger.st, "_pysaml2_forged", "00u1alice").await;
    // Control: against the forger's own metadata it is a fine Response.
    assert_accepted(&pysaml2(&forger.metadata, "_pysaml2_forged", &posted));
    let v = pysaml2(&real.metadata, "_pysaml2_forged", &posted);
    assert_refused(
        &v,
        "a Response signed by another key",
        "SignatureError: Failed to verify signature",
    );
}

#[tokio::test]
async fn pysaml2_wanting_both_signatures_refuses_sign_response_only_and_sign_assertion_only() {
    // Shows the SP's want_response_signed and want_assertions_signed are really in force: each
    // of fakta's single-signature modes is missing one of them.
    let resp_only = idp_on(signing_app("response"), keys(), Arc::new(SystemClock)).await;
    let posted = sp_login(&resp_only.st, "_pysaml2_resp_only", "00u1alice").await;
    let v = pysaml2(&resp_only.metadata, "_pysaml2_resp_only", &posted);
    assert_refused(
        &v,
        "a Response whose Assertion is not signed (sign: response)",
        "Signature missing for assertion",
    );

    let assertion_only = idp_on(signing_app("assertion"), keys(), Arc::new(SystemClock)).await;
    let posted = sp_login(&assertion_only.st, "_pysaml2_assertion_only", "00u1alice").await;
    let v = pysaml2(&assertion_only.metadata, "_pysaml2_assertion_only", &posted);
    assert_refused(
        &v,
        "a Response that is not signed itself (sign: assertion)",
        "Signature missing for response",
    );
}

/// The signing app of `common::signing_app("both")` with `encryption` set to `block` and
/// `transport`, the SP's key pair written beside it: (connection, key file, certificate file).
fn encrypting_app(
    dir: &Path,
    block: &str,
    transport: &str,
) -> (fakta::config::Connection, PathBuf, PathBuf) {
    let k = fakta::keys::SigningKey::generate().expect("an SP key");
    let (key, cert) = (dir.join("sp-enc.key"), dir.join("sp-enc.crt"));
    std::fs::write(&key, k.pkey().private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&cert, k.certificate.pem()).unwrap();
    let yaml = format!(
        r#"
idp:
  base_url: http://127.0.0.1:7000
directory:
  users:
    - {{ id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Qovery-Admins, Eng] }}
apps:
  - id: qovery
    name: acme_qovery_1
    protocol: saml
    audience: urn:auth0:qovery:acme
    acs_url: http://127.0.0.1:7100/login/callback?connection=acme
    attributes:
      email: user.email
    encryption: {{ certificate: sp-enc.crt, block: {block}, key_transport: {transport}, private_key: sp-enc.key }}
"#
    );
    (connection(&yaml, dir), key, cert)
}

#[tokio::test]
async fn pysaml2_decrypts_every_block_cipher_and_key_transport_then_verifies_the_assertion() {
    use fakta::config::{BlockCipher, KeyTransport};
    for block in BlockCipher::ALL {
        for transport in KeyTransport::ALL {
            let dir = tempfile::tempdir().unwrap();
            let (conn, key, cert) = encrypting_app(dir.path(), block.name(), transport.name());
            let idp = idp_on(conn, keys(), Arc::new(SystemClock)).await;
            let id = format!("_pysaml2_enc_{}", block.name().replace('-', "_"));
            let posted = sp_login(&idp.st, &id, "00u1alice").await;
            let xml = fakta::saml::binding::decode_post(&posted).expect("base64 of the Response");
            assert!(xml.contains("EncryptedAssertion") && !xml.contains("alice@acme.test"));
            let v = pysaml2_decrypting(&idp.metadata, &id, &posted, Some((&key, &cert)));
            assert_accepted(&v);
            assert_eq!(
                v.json["name_id"], "alice@acme.test",
                "{block:?} {transport:?}"
            );
            assert_eq!(v.attribute("email"), ["alice@acme.test"]);
            // Without the SP's key there is nothing to read.
            let v = pysaml2(&idp.metadata, &id, &posted);
            assert!(!v.ok(), "{block:?} {transport:?}: {}", v.json);
        }
    }
}

#[tokio::test]
async fn pysaml2_refuses_s28_and_takes_encrypted_forgeries_only_as_in_clear() {
    use fakta::saml::faults::Fault;
    // S28: the IdP-signed Assertion altered after signing, then encrypted for the SP, the
    // Response signed over it (what `faults::EncryptedSignatureBroken` sends).
    let dir = tempfile::tempdir().unwrap();
    let (conn, key, cert) = encrypting_app(dir.path(), "aes256-gcm", "rsa-oaep");
    let sp_public = fakta::config::read_certificate(&cert)
        .unwrap()
        .public_key()
        .unwrap();
    let idp = idp_on(conn, keys(), Arc::new(SystemClock)).await;
    let k = keys().current;
    let now = time::OffsetDateTime::now_utc();
    let p = fakta::saml::response::ResponseParams {
        ids: fakta::saml::response::ResponseIds {
            response_id: "id-s28-resp".into(),
            assertion_id: "id-s28-assert".into(),
            session_index: "id-s28-sess".into(),
        },
        issue_instant: now,
        authn_instant: now,
        lifetime: time::Duration::minutes(5),
        issuer: "http://www.okta.com/qovery".into(),
        destination: "http://127.0.0.1:7100/login/callback?connection=acme".into(),
        recipient: "http://127.0.0.1:7100/login/callback?connection=acme".into(),
        in_response_to: Some("_pysaml2_s28".into()),
        audience: "urn:auth0:qovery:acme".into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
        attributes: vec![],
    };
    let encrypt = |xml: &str| -> Result<String, fakta::saml::signature::SignError> {
        let secrets = fakta::saml::encrypt::Secrets {
            key: vec![7; 32],
            iv: vec![9; 12],
        };
        Ok(fakta::saml::encrypt::encrypt_assertion(
            xml,
            fakta::config::BlockCipher::Aes256Gcm,
            fakta::config::KeyTransport::RsaOaep,
            &sp_public,
            &secrets,
        )?)
    };
    let options = fakta::saml::signature::Options {
        algorithms: Default::default(),
        encrypt: Some(&encrypt),
    };
    let honest = fakta::saml::signature::signed_response(
        &p,
        fakta::config::SignWhat::Both,
        k.pkey(),
        &k.certificate.base64(),
    )
    .unwrap();
    let ids = fakta::saml::faults::Ids {
        response_id: &p.ids.response_id,
        assertion_id: &p.ids.assertion_id,
        xxe_url: "http://127.0.0.1:1/xxe",
    };
    let who = fakta::saml::faults::Identity {
        name_id: &p.name_id,
        email: "alice@acme.test",
    };
    for fault in [Fault::EncryptedSignatureBroken, Fault::EncryptedUnsigned] {
        let forged = fakta::saml::faults::apply_with(
            fault,
            &honest,
            &ids,
            fakta::config::SignWhat::Both,
            &options,
            &k,
            fakta::keys::foreign_key().expect("a foreign key"),
            now,
            &who,
        )
        .unwrap();
        let posted = fakta::saml::binding::encode_post(&forged.xml);
        let v = pysaml2_decrypting(&idp.metadata, "_pysaml2_s28", &posted, Some((&key, &cert)));
        // Broken: "Failed to verify signature"; unsigned: "Signature missing for response".
        assert_refused(&v, &format!("{fault:?}"), "SignatureError");
    }
    // Every other SAML fault as fakta forges it for an app that encrypts: pysaml2, an
    // independent SP that decrypts, is fooled by exactly the faults it takes in clear
    // (tests/independent_sps.rs `PYSAML2_FAILS`: it checks no Recipient unless told to, and
    // verifies RSA-SHA1), and by no other (it refuses, or uses only the signed Assertion). S27
    // is in clear, which this SP does not require to be otherwise; the replay document is the
    // honest one.
    // The control: the honest encrypted Response of the same setting is taken, so a refusal
    // below is the forgery's.
    let encrypted = fakta::saml::signature::signed_response_with(
        &p,
        fakta::config::SignWhat::Both,
        &options,
        k.pkey(),
        &k.certificate.base64(),
    )
    .unwrap();
    let v = pysaml2_decrypting(
        &idp.metadata,
        "_pysaml2_s28",
        &fakta::saml::binding::encode_post(&encrypted),
        Some((&key, &cert)),
    );
    assert_accepted(&v);
    assert_eq!(v.json["name_id"], "alice@acme.test");
    let mut fooled = Vec::new();
    for fault in Fault::ALL.iter().filter(|f| {
        !matches!(
            f,
            Fault::PlainAssertion
                | Fault::Replay
                | Fault::EncryptedSignatureBroken
                | Fault::EncryptedUnsigned
        )
    }) {
        let forged = fakta::saml::faults::apply_with(
            *fault,
            &honest,
            &ids,
            fakta::config::SignWhat::Both,
            &options,
            &k,
            fakta::keys::foreign_key().expect("a foreign key"),
            now,
            &who,
        )
        .unwrap();
        assert!(
            forged.xml.contains("<saml2:EncryptedAssertion"),
            "{fault:?}: {}",
            forged.xml
        );
        let posted = fakta::saml::binding::encode_post(&forged.xml);
        let v = pysaml2_decrypting(&idp.metadata, "_pysaml2_s28", &posted, Some((&key, &cert)));
        let name_id = v.json["name_id"].as_str().unwrap_or_default().to_owned();
        // S22 passes when the whole NameID is kept.
        let wrong = if *fault == Fault::CommentInNameId {
            v.ok() && name_id != "alice@acme.test.evil.test"
        } else {
            v.ok() && name_id != "alice@acme.test"
        };
        if wrong {
            fooled.push(*fault);
        }
    }
    assert_eq!(
        fooled,
        [
            Fault::WrongRecipient,
            Fault::RecipientContainingTheAcs,
            Fault::Sha1Signed
        ],
        "the encrypted forgeries pysaml2 takes"
    );
}

#[tokio::test]
async fn pysaml2_refuses_an_expired_response() {
    // pysaml2 checks times against now: a Response issued an hour ago (lifetime 300 s) is stale.
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let idp = idp_on(
        example(),
        keys(),
        Arc::new(fakta::clock::FixedClock::new(hour_ago)),
    )
    .await;
    let posted = sp_login(&idp.st, "_pysaml2_stale", "00u1alice").await;
    let v = pysaml2(&idp.metadata, "_pysaml2_stale", &posted);
    assert_refused(
        &v,
        "a Response that expired 55 minutes ago",
        "ResponseLifetimeExceed",
    );
}

// ---------------------------------------------------------------------------------------------
// A second XML-DSig verifier that does not use libxmlsec1. xmlsec1 and pysaml2 (which runs the
// xmlsec1 binary) verify with libxmlsec1, the library fakta signs with (through samael); signxml
// parses and canonicalizes with lxml and checks RSA with `cryptography`, so its "valid" does not
// hinge on a libxmlsec1 quirk shared by signer and verifier.

const SIGNXML_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/signxml_verify.py"
);

/// Checks once that signxml is importable; panics (never skips) when not.
fn require_signxml() {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let py = python();
        let out = Command::new(&py)
            .arg(SIGNXML_SCRIPT)
            .arg("--check-env")
            .output()
            .map_err(|e| format!("cannot run `{py}`: {e}; python3 is needed: {SETUP_HINT}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "signxml is not ready (`{py} {SIGNXML_SCRIPT} --check-env` exited {}):\n{stdout}{}\n{SETUP_HINT}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = checked {
        panic!("{e}");
    }
}

/// signxml's verdict on the `which` ("response" or "assertion") signature, trusting only `cert`.
fn signxml(cert: &Path, which: &str, xml: &str) -> Value {
    let py = python();
    let mut child = Command::new(&py)
        .arg(SIGNXML_SCRIPT)
        .arg("--cert")
        .arg(cert)
        .arg("--signature")
        .arg(which)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{py}`: {e}; {SETUP_HINT}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(xml.as_bytes())
        .expect("write Response");
    let out = child.wait_with_output().expect("signxml_verify.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "signxml is not ready:\n{stdout}{stderr}\n{SETUP_HINT}"
    );
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "signxml_verify.py printed no JSON ({e}), exit {}:\n{stdout}\n{stderr}",
            out.status
        )
    });
    assert_eq!(
        out.status.code(),
        Some(if json["ok"] == true { 0 } else { 1 }),
        "{json}\n{stderr}"
    );
    eprintln!("signxml {which} with {}: {json}", cert.display());
    json
}

#[tokio::test]
async fn signxml_verifies_both_signatures_and_refuses_tampering_and_another_key() {
    require_signxml();
    let idp = live_idp().await;
    let xml = decode(&sp_login(&idp.st, "_signxml_1", "00u5obrien").await);
    let dir = tempfile::tempdir().expect("tempdir");
    let idp_cert = dir.path().join("idp-cert.pem");
    std::fs::write(&idp_cert, keys().current.certificate.pem()).expect("write");
    let other = fakta::keys::SigningKey::generate().expect("fresh key");
    let other_cert = dir.path().join("other-cert.pem");
    std::fs::write(&other_cert, other.certificate.pem()).expect("write");

    for (which, element) in [("response", "Response"), ("assertion", "Assertion")] {
        let v = signxml(&idp_cert, which, &xml);
        assert_eq!(
            v["ok"], true,
            "signxml refused the {element} signature: {v}"
        );
        assert_eq!(v["signed"], element, "{v}");

        let v = signxml(&other_cert, which, &xml);
        assert_eq!(
            v["ok"], false,
            "signxml accepted the {element} signature with another certificate: {v}"
        );
        assert_eq!(v["error_type"], "InvalidSignature", "{v}");
    }

    let from = ">Qovery-DevOps</saml2:AttributeValue>";
    assert_eq!(xml.matches(from).count(), 1, "{xml}");
    let tampered = xml.replacen(from, ">Qovery-Admins</saml2:AttributeValue>", 1);
    for which in ["response", "assertion"] {
        let v = signxml(&idp_cert, which, &tampered);
        assert_eq!(
            v["ok"], false,
            "signxml accepted a tampered Response ({which} signature): {v}"
        );
        assert_eq!(v["error_type"], "InvalidDigest", "{v}");
    }
}
