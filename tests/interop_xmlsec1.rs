//! Interop with an independent XML-DSig verifier: the `xmlsec1` command-line tool (Debian package
//! `xmlsec1`, libxmlsec1 with OpenSSL). fakta signs through libxmlsec too (via samael), but here
//! the verifier is a separate program that knows nothing of fakta: it gets the Response as a file
//! and ONLY the IdP certificate (never the certificate the document carries in its KeyInfo),
//! verifies the Response signature and the Assertion signature, and must refuse a tampered copy,
//! a Response checked against another certificate, and a forgery signed by another key.
//!
//! xmlsec1 is libxmlsec1, as fakta's signer is; tests/interop_pysaml2.rs also checks both
//! signatures with signxml, which shares no XML-DSig code with it. See tests/interop/README.md.
//!
//! xmlsec1 missing is a failure, not a skip: run `scripts/setup-deps`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use fakta::clock::FixedClock;
use fakta::idp::IdpState;
use fakta::keys::{KeyStore, SigningKey};

const RESPONSE_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The Assertion's signature; without `--node-xpath` xmlsec1 checks the first `Signature` in
/// document order, which is the Response's when both are signed.
const ASSERTION_SIGNATURE: &str = "//*[local-name()='Assertion']/*[local-name()='Signature']";
const RESPONSE_SIGNATURE: &str = "/*[local-name()='Response']/*[local-name()='Signature']";

/// Where xmlsec1 is: `XMLSEC1` if set, else `xmlsec1` on the PATH. Panics (never skips) when
/// it cannot be run.
fn xmlsec1() -> String {
    let bin = std::env::var("XMLSEC1").unwrap_or_else(|_| "xmlsec1".to_owned());
    match Command::new(&bin).arg("--version").output() {
        Ok(out) if out.status.success() => bin,
        Ok(out) => panic!(
            "`{bin} --version` failed ({}): {}\nxmlsec1 is needed for the interop tests: run scripts/setup-deps",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{bin}`: {e}\nxmlsec1 (Debian package xmlsec1) is needed for the interop tests: run scripts/setup-deps"
        ),
    }
}

/// A scratch folder holding the IdP certificate, a fresh unrelated certificate, and documents.
struct Scratch {
    dir: tempfile::TempDir,
    idp_cert: PathBuf,
    other_cert: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        let idp_cert = dir.path().join("idp-cert.pem");
        std::fs::write(&idp_cert, keys().current.certificate.pem()).expect("write idp cert");
        let other = SigningKey::generate().expect("fresh key");
        assert_ne!(other.certificate.der(), keys().current.certificate.der());
        let other_cert = dir.path().join("other-cert.pem");
        std::fs::write(&other_cert, other.certificate.pem()).expect("write other cert");
        Scratch {
            dir,
            idp_cert,
            other_cert,
        }
    }

    fn write(&self, name: &str, xml: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, xml).expect("write document");
        p
    }
}

/// What xmlsec1 said about one signature.
#[derive(Debug)]
struct Verdict {
    ok: bool,
    command: String,
    output: String,
}

/// `xmlsec1 --verify` of one signature (`node_xpath`, or the first in document order), trusting
/// only the key of the certificate `cert_pem`.
fn verify(doc: &Path, cert_pem: &Path, node_xpath: Option<&str>) -> Verdict {
    let bin = xmlsec1();
    let mut args: Vec<String> = vec![
        "--verify".into(),
        "--pubkey-cert-pem".into(),
        cert_pem.display().to_string(),
        "--id-attr:ID".into(),
        format!("{RESPONSE_NS}:Response"),
        "--id-attr:ID".into(),
        format!("{ASSERTION_NS}:Assertion"),
    ];
    if let Some(x) = node_xpath {
        args.push("--node-xpath".into());
        args.push(x.into());
    }
    args.push(doc.display().to_string());
    let out = Command::new(&bin)
        .args(&args)
        .output()
        .expect("run xmlsec1");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let command = format!("{bin} {}", args.join(" "));
    // Success is exit 0 and xmlsec1's own "OK" line.
    let ok = out.status.success() && output.lines().any(|l| l.trim() == "OK");
    // Shown with `--nocapture`: the exact command and what xmlsec1 answered.
    eprintln!("$ {command}\n{}", output.trim_end());
    Verdict {
        ok,
        command,
        output,
    }
}

fn assert_verifies(v: &Verdict, what: &str) {
    assert!(
        v.ok,
        "xmlsec1 refused {what}\n$ {}\n{}",
        v.command, v.output
    );
}

/// xmlsec1's words when a reference digest does not match (the signed content was changed).
const DIGEST_MISMATCH: &str = "data and digest do not match";
/// xmlsec1's words when the SignatureValue does not verify with the key it was given.
const BAD_SIGNATURE: &str = "signature verification failed";

/// Refused, and for the expected reason (not, say, because the signature node was not found).
fn assert_refused(v: &Verdict, what: &str, because: &str) {
    assert!(
        !v.ok,
        "xmlsec1 accepted {what}, which it must refuse\n$ {}\n{}",
        v.command, v.output
    );
    assert!(
        v.output.lines().any(|l| l.trim() == "FAIL") && v.output.contains(because),
        "xmlsec1 refused {what}, but not with FAIL and `{because}`\n$ {}\n{}",
        v.command,
        v.output
    );
}

/// The `(parent local name, Reference URI)` of every `ds:Signature` in the document.
fn signatures(xml: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed Response");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "Signature" && n.tag_name().namespace() == Some(DSIG_NS))
        .map(|n| {
            let parent = n
                .parent_element()
                .expect("parent")
                .tag_name()
                .name()
                .to_owned();
            let uri = n
                .descendants()
                .find(|r| r.tag_name().name() == "Reference")
                .and_then(|r| r.attribute("URI"))
                .unwrap_or_default()
                .to_owned();
            (parent, uri)
        })
        .collect()
}

fn id_of(xml: &str, local: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("well-formed Response");
    doc.descendants()
        .find(|n| n.tag_name().name() == local)
        .and_then(|n| n.attribute("ID"))
        .unwrap_or_else(|| panic!("no {local} ID"))
        .to_owned()
}

/// Replaces exactly one occurrence of `from`, so a tamper cannot silently miss.
fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert_eq!(
        xml.matches(from).count(),
        1,
        "`{from}` should occur once in:\n{xml}"
    );
    xml.replacen(from, to, 1)
}

#[tokio::test]
async fn xmlsec1_verifies_both_signatures_with_only_the_idp_certificate() {
    let s = Scratch::new();
    let st = state(example());
    let xml = sp_initiated_response(&st, "_interop_xmlsec1_1", "00u1alice").await;

    let sigs = signatures(&xml);
    assert_eq!(
        sigs,
        vec![
            (
                "Response".to_owned(),
                format!("#{}", id_of(&xml, "Response"))
            ),
            (
                "Assertion".to_owned(),
                format!("#{}", id_of(&xml, "Assertion"))
            ),
        ],
        "sign: both should give a Response signature then an Assertion signature"
    );

    let doc = s.write("response.xml", &xml);
    // Default: the first signature in document order, the Response's.
    assert_verifies(&verify(&doc, &s.idp_cert, None), "the Response signature");
    assert_verifies(
        &verify(&doc, &s.idp_cert, Some(RESPONSE_SIGNATURE)),
        "the Response signature (by XPath)",
    );
    assert_verifies(
        &verify(&doc, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
        "the Assertion signature",
    );
}

#[tokio::test]
async fn xmlsec1_refuses_tampered_copies() {
    let s = Scratch::new();
    let st = state(example());
    let xml = sp_initiated_response(&st, "_interop_xmlsec1_2", "00u1alice").await;
    // The honest copy passes first, so a failure below is the tamper's doing.
    let honest = s.write("honest.xml", &xml);
    assert_verifies(
        &verify(&honest, &s.idp_cert, None),
        "the honest Response signature",
    );
    assert_verifies(
        &verify(&honest, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
        "the honest Assertion signature",
    );

    let tampers = [
        (
            "a group value",
            replace_once(&xml, ">Qovery-Admins<", ">Qovery-Owners<"),
        ),
        (
            "the name attribute",
            replace_once(&xml, ">Alice Admin<", ">Mallory Admin<"),
        ),
        (
            "the NameID",
            replace_once(
                &xml,
                ">alice@acme.test</saml2:NameID>",
                ">mallory@acme.test</saml2:NameID>",
            ),
        ),
    ];
    for (i, (what, tampered)) in tampers.iter().enumerate() {
        assert_ne!(tampered, &xml);
        let doc = s.write(&format!("tampered-{i}.xml"), tampered);
        assert_refused(
            &verify(&doc, &s.idp_cert, None),
            &format!("the Response signature after changing {what}"),
            DIGEST_MISMATCH,
        );
        assert_refused(
            &verify(&doc, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
            &format!("the Assertion signature after changing {what}"),
            DIGEST_MISMATCH,
        );
    }
}

#[tokio::test]
async fn xmlsec1_refuses_the_honest_response_with_another_certificate() {
    let s = Scratch::new();
    let st = state(example());
    let xml = sp_initiated_response(&st, "_interop_xmlsec1_3", "00u1alice").await;
    let doc = s.write("response.xml", &xml);
    assert_verifies(&verify(&doc, &s.idp_cert, None), "the Response signature");
    // The document still carries the IdP certificate in KeyInfo: xmlsec1 must not use it.
    assert_refused(
        &verify(&doc, &s.other_cert, None),
        "the Response signature checked against an unrelated certificate",
        BAD_SIGNATURE,
    );
    assert_refused(
        &verify(&doc, &s.other_cert, Some(ASSERTION_SIGNATURE)),
        "the Assertion signature checked against an unrelated certificate",
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn xmlsec1_refuses_a_forgery_signed_by_another_key() {
    // An attacker's IdP: same connection, its own key; its Responses are well signed and carry
    // the attacker's certificate in KeyInfo. Checked with the real IdP certificate they fail.
    let s = Scratch::new();
    let forger_dir = tempfile::tempdir().expect("tempdir");
    let (forger_keys, _) = KeyStore::open_or_create(forger_dir.path()).expect("forger keys");
    let forger = IdpState::new(
        example(),
        forger_keys.clone(),
        Arc::new(FixedClock::new(NOW)),
    )
    .expect("forger state");
    let xml = sp_initiated_response(&forger, "_interop_xmlsec1_4", "00u1alice").await;
    assert!(xml.contains(&forger_keys.current.certificate.base64()));
    let doc = s.write("forged.xml", &xml);
    let forger_cert = s.dir.path().join("forger-cert.pem");
    std::fs::write(&forger_cert, forger_keys.current.certificate.pem()).expect("write");
    // Control: the forgery is well signed for its own key.
    assert_verifies(
        &verify(&doc, &forger_cert, None),
        "the forgery with the forger's certificate",
    );
    assert_refused(
        &verify(&doc, &s.idp_cert, None),
        "a Response signed by another key (Response signature)",
        BAD_SIGNATURE,
    );
    assert_refused(
        &verify(&doc, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
        "a Response signed by another key (Assertion signature)",
        BAD_SIGNATURE,
    );
}

#[tokio::test]
async fn sign_response_only_has_one_signature_on_the_response() {
    let s = Scratch::new();
    let st = state(signing_app("response"));
    let xml = sp_initiated_response(&st, "_interop_xmlsec1_5", "00u1alice").await;
    assert_eq!(
        signatures(&xml),
        vec![(
            "Response".to_owned(),
            format!("#{}", id_of(&xml, "Response"))
        )],
        "sign: response should sign the Response only"
    );
    let doc = s.write("response-only.xml", &xml);
    assert_verifies(
        &verify(&doc, &s.idp_cert, None),
        "the Response signature (sign: response)",
    );
    assert_verifies(
        &verify(&doc, &s.idp_cert, Some(RESPONSE_SIGNATURE)),
        "the Response signature by XPath (sign: response)",
    );
    assert_refused(
        &verify(&doc, &s.other_cert, None),
        "the Response signature against an unrelated certificate (sign: response)",
        BAD_SIGNATURE,
    );
    let tampered = s.write(
        "response-only-tampered.xml",
        &replace_once(&xml, ">Qovery-Admins<", ">Qovery-Owners<"),
    );
    assert_refused(
        &verify(&tampered, &s.idp_cert, None),
        "a tampered group under the Response signature (sign: response)",
        DIGEST_MISMATCH,
    );
}

#[tokio::test]
async fn sign_assertion_only_has_one_signature_on_the_assertion() {
    let s = Scratch::new();
    let st = state(signing_app("assertion"));
    let xml = sp_initiated_response(&st, "_interop_xmlsec1_6", "00u1alice").await;
    assert_eq!(
        signatures(&xml),
        vec![(
            "Assertion".to_owned(),
            format!("#{}", id_of(&xml, "Assertion"))
        )],
        "sign: assertion should sign the Assertion only"
    );
    let doc = s.write("assertion-only.xml", &xml);
    // The only signature is the first one, and the Assertion's by XPath.
    assert_verifies(
        &verify(&doc, &s.idp_cert, None),
        "the Assertion signature (sign: assertion)",
    );
    assert_verifies(
        &verify(&doc, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
        "the Assertion signature by XPath (sign: assertion)",
    );
    assert_refused(
        &verify(&doc, &s.other_cert, Some(ASSERTION_SIGNATURE)),
        "the Assertion signature against an unrelated certificate (sign: assertion)",
        BAD_SIGNATURE,
    );
    let tampered = s.write(
        "assertion-only-tampered.xml",
        &replace_once(
            &xml,
            ">alice@acme.test</saml2:NameID>",
            ">mallory@acme.test</saml2:NameID>",
        ),
    );
    assert_refused(
        &verify(&tampered, &s.idp_cert, Some(ASSERTION_SIGNATURE)),
        "a tampered NameID under the Assertion signature (sign: assertion)",
        DIGEST_MISMATCH,
    );
}
