//! Assertion encryption and signature algorithms (S27-S29), checked by independent tools: every
//! Okta signature/digest combination verifies with the `xmlsec1` command; every block cipher
//! and key transport decrypts with `xmlsec1 --decrypt` (the SP's private key), after which the
//! inner signature verifies. Then the reference SP's ACS check: it decrypts and verifies, and
//! each of its three new flaws changes exactly the verdict of its own case. Last, the whole
//! path: `fakta test` against `fakta sp` with the shipped SAML pack made to encrypt, so every
//! SAML attack (S1-S31) is forged in encrypted form: the strict SP passes them all, and each
//! flaw of the SAML Response check is caught by the trials that catch it in clear (the demo's
//! apps do not encrypt, so this is where S27 and S28 run).

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{NOW, keys};
use fakta::config::{BlockCipher, DigestAlgorithm, KeyTransport, SignWhat, SignatureAlgorithm};
use fakta::refsp::saml::{self, Memory, Refusal, SpSettings};
use fakta::refsp::{Flaw, Flaws};
use fakta::saml::encrypt::{self, Secrets};
use fakta::saml::faults::{self, Fault};
use fakta::saml::response::{Algorithms, Attribute, ResponseIds, ResponseParams};
use fakta::saml::signature::{self, Options, SignError};
use openssl::pkey::{PKey, Private, Public};
use time::{Duration, OffsetDateTime};

const ACS: &str = "http://127.0.0.1:7100/login/callback?connection=acme";
const SP: &str = "urn:auth0:qovery:acme";
const IDP: &str = "http://www.okta.com/qovery";
const ID_ATTRS: [&str; 4] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
];

fn params(n: u32) -> ResponseParams {
    ResponseParams {
        ids: ResponseIds {
            response_id: format!("idresp{n}"),
            assertion_id: format!("idassert{n}"),
            session_index: format!("idsess{n}"),
        },
        issue_instant: NOW,
        authn_instant: NOW,
        lifetime: Duration::minutes(5),
        issuer: IDP.into(),
        destination: ACS.into(),
        recipient: ACS.into(),
        in_response_to: None,
        audience: SP.into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
        attributes: vec![Attribute {
            name: "email".into(),
            values: vec!["alice@acme.test".into()],
            name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
        }],
    }
}

/// The SP's encryption key pair (an RSA key with a certificate, as Okta requires).
fn sp_key() -> (PKey<Private>, PKey<Public>, String) {
    let k = fakta::keys::SigningKey::generate().unwrap();
    let private = k.pkey().clone();
    let public = k.certificate.x509().public_key().unwrap();
    (private, public, k.certificate.pem())
}

fn encryptor(
    block: BlockCipher,
    transport: KeyTransport,
    public: &PKey<Public>,
) -> impl Fn(&str) -> Result<String, SignError> + '_ {
    move |xml: &str| {
        let (k, i) = Secrets::lengths(block);
        let mut s = Secrets {
            key: vec![0; k],
            iv: vec![0; i],
        };
        openssl::rand::rand_bytes(&mut s.key)?;
        openssl::rand::rand_bytes(&mut s.iv)?;
        Ok(encrypt::encrypt_assertion(
            xml, block, transport, public, &s,
        )?)
    }
}

fn xmlsec1(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("the xmlsec1 command (scripts/setup-deps installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_signature_and_digest_algorithm_verifies_with_xmlsec1() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys().current;
    let cert = dir.path().join("idp.pem");
    std::fs::write(&cert, k.certificate.pem()).unwrap();
    for signature_alg in SignatureAlgorithm::ALL {
        for digest in DigestAlgorithm::ALL {
            let algorithms = Algorithms {
                signature: *signature_alg,
                digest: *digest,
            };
            // The Response's signature is the first one xmlsec1 meets with `sign: response`,
            // the Assertion's with `sign: assertion`.
            for what in [SignWhat::Response, SignWhat::Assertion] {
                let options = Options {
                    algorithms,
                    encrypt: None,
                };
                let xml = signature::signed_response_with(
                    &params(1),
                    what,
                    &options,
                    k.pkey(),
                    &k.certificate.base64(),
                )
                .unwrap();
                assert!(xml.contains(signature_alg.uri()) && xml.contains(digest.uri()));
                let file = dir.path().join("r.xml");
                std::fs::write(&file, &xml).unwrap();
                let mut args = vec!["--verify", "--pubkey-cert-pem", cert.to_str().unwrap()];
                args.extend(ID_ATTRS);
                args.push(file.to_str().unwrap());
                let (ok, _, err) = xmlsec1(&args);
                assert!(ok, "{signature_alg:?} {digest:?} {what:?}: {err}\n{xml}");
                let tampered = xml.replacen("alice@acme.test", "mallory@evil.test", 1);
                std::fs::write(&file, &tampered).unwrap();
                let (ok, _, _) = xmlsec1(&args);
                assert!(
                    !ok,
                    "{signature_alg:?} {digest:?}: an altered document fails"
                );
            }
        }
    }
}

#[test]
fn every_block_cipher_and_key_transport_decrypts_with_xmlsec1_and_the_inner_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys().current;
    let idp_cert = dir.path().join("idp.pem");
    std::fs::write(&idp_cert, k.certificate.pem()).unwrap();
    let (private, public, _) = sp_key();
    let sp_key_file = dir.path().join("sp.key");
    std::fs::write(&sp_key_file, private.private_key_to_pem_pkcs8().unwrap()).unwrap();
    for block in BlockCipher::ALL {
        for transport in KeyTransport::ALL {
            let enc = encryptor(*block, *transport, &public);
            let options = Options {
                algorithms: Algorithms::default(),
                encrypt: Some(&enc),
            };
            let xml = signature::signed_response_with(
                &params(2),
                SignWhat::Both,
                &options,
                k.pkey(),
                &k.certificate.base64(),
            )
            .unwrap();
            assert!(!xml.contains("alice@acme.test"), "{xml}");
            assert!(xml.contains("<saml2:EncryptedAssertion"));
            let file = dir.path().join("enc.xml");
            std::fs::write(&file, &xml).unwrap();
            // The Response's signature covers the EncryptedAssertion.
            let mut verify = vec!["--verify", "--pubkey-cert-pem", idp_cert.to_str().unwrap()];
            verify.extend(ID_ATTRS);
            verify.push(file.to_str().unwrap());
            let (ok, _, err) = xmlsec1(&verify);
            assert!(ok, "{block:?} {transport:?}: the Response signature: {err}");
            let (ok, plain, err) = xmlsec1(&[
                "--decrypt",
                "--privkey-pem",
                sp_key_file.to_str().unwrap(),
                file.to_str().unwrap(),
            ]);
            assert!(ok, "{block:?} {transport:?}: xmlsec1 --decrypt: {err}");
            assert!(plain.contains(">alice@acme.test<"), "{plain}");
            // The decrypted Assertion's own signature (the first one left once the
            // Response's is removed).
            let doc = roxmltree::Document::parse(&plain).unwrap();
            let assertion = doc
                .descendants()
                .find(|n| n.tag_name().name() == "Assertion")
                .unwrap();
            let file = dir.path().join("assertion.xml");
            std::fs::write(&file, &plain[assertion.range()]).unwrap();
            let mut verify = vec!["--verify", "--pubkey-cert-pem", idp_cert.to_str().unwrap()];
            verify.extend(ID_ATTRS);
            verify.push(file.to_str().unwrap());
            let (ok, _, err) = xmlsec1(&verify);
            assert!(ok, "{block:?} {transport:?}: the inner signature: {err}");
        }
    }
}

#[derive(Default)]
struct TestMemory {
    seen: HashSet<String>,
}

impl Memory for TestMemory {
    fn take_request(&mut self, _id: &str) -> bool {
        false
    }
    fn first_use(&mut self, assertion_id: &str, _until: OffsetDateTime) -> bool {
        self.seen.insert(assertion_id.to_owned())
    }
}

fn settings(decryption_key: Option<PKey<Private>>) -> SpSettings {
    SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        idp_entity_id: IDP.into(),
        idp_certs: vec![keys().current.certificate.der().to_vec()],
        allow_unsolicited: true,
        decryption_key,
        allow_sha1: false,
    }
}

/// The honest Response of an app that encrypts (`encrypt`), or one with `fault` applied as the
/// IdP applies it.
fn document(fault: Option<Fault>, public: &PKey<Public>, n: u32) -> String {
    let k = keys().current;
    let enc = encryptor(BlockCipher::Aes256Gcm, KeyTransport::RsaOaep, public);
    let options = Options {
        algorithms: Algorithms::default(),
        encrypt: Some(&enc),
    };
    let p = params(n);
    let Some(fault) = fault else {
        return signature::signed_response_with(
            &p,
            SignWhat::Both,
            &options,
            k.pkey(),
            &k.certificate.base64(),
        )
        .unwrap();
    };
    let honest =
        signature::signed_response(&p, SignWhat::Both, k.pkey(), &k.certificate.base64()).unwrap();
    let ids = faults::Ids {
        response_id: &p.ids.response_id,
        assertion_id: &p.ids.assertion_id,
        xxe_url: "http://127.0.0.1:1/xxe",
    };
    let who = faults::Identity {
        name_id: &p.name_id,
        email: "alice@acme.test",
    };
    let foreign = fakta::keys::foreign_key().expect("a foreign key");
    faults::apply_with(
        fault,
        &honest,
        &ids,
        SignWhat::Both,
        &options,
        &k,
        foreign,
        NOW,
        &who,
    )
    .unwrap()
    .xml
}

fn check(xml: &str, sp: &SpSettings, flaws: &[Flaw]) -> Result<saml::Accepted, Refusal> {
    let flaws = Flaws::parse(&flaws.iter().map(|f| f.name()).collect::<Vec<_>>()).unwrap();
    saml::check(xml, sp, NOW, &mut TestMemory::default(), &flaws)
}

#[test]
fn the_reference_sp_decrypts_verifies_and_each_flaw_opens_only_its_case() {
    let (private, public, _) = sp_key();
    let sp = settings(Some(private));
    let honest = document(None, &public, 3);
    let got = check(&honest, &sp, &[]).unwrap_or_else(|r| panic!("{r}\n{honest}"));
    assert_eq!(got.name_id, "alice@acme.test");

    // S27: in clear, to an SP that decrypts.
    let plain = document(Some(Fault::PlainAssertion), &public, 4);
    assert_eq!(check(&plain, &sp, &[]), Err(Refusal::NotEncrypted));
    assert!(check(&plain, &sp, &[Flaw::AcceptPlainAssertion]).is_ok());
    // S28: encrypted, inner signature missing (nothing signed) or broken.
    let unsigned = document(Some(Fault::EncryptedUnsigned), &public, 5);
    assert_eq!(check(&unsigned, &sp, &[]), Err(Refusal::AssertionUnsigned));
    let broken = document(Some(Fault::EncryptedSignatureBroken), &public, 6);
    assert!(
        matches!(check(&broken, &sp, &[]), Err(Refusal::Signature(_))),
        "{:?}",
        check(&broken, &sp, &[])
    );
    for doc in [&unsigned, &broken] {
        let got = check(doc, &sp, &[Flaw::TrustDecryptedAssertion]).unwrap();
        assert_eq!(got.name_id, faults::FORGED_IDENTITY);
    }
    // S29: SHA-1, to an SP configured for SHA-256 (and to one that takes SHA-1).
    let sha1 = document(Some(Fault::Sha1Signed), &public, 7);
    assert!(matches!(
        check(&sha1, &sp, &[]),
        Err(Refusal::WeakAlgorithm { .. })
    ));
    assert!(check(&sha1, &sp, &[Flaw::AcceptSha1]).is_ok());
    let lenient = SpSettings {
        allow_sha1: true,
        ..sp.clone()
    };
    assert!(check(&sha1, &lenient, &[]).is_ok());

    // Each flaw leaves the other cases refused.
    for (flaw, opens) in [
        (Flaw::AcceptPlainAssertion, &plain),
        (Flaw::TrustDecryptedAssertion, &unsigned),
        (Flaw::AcceptSha1, &sha1),
    ] {
        for doc in [&plain, &unsigned, &broken, &sha1] {
            if doc == opens || (flaw == Flaw::TrustDecryptedAssertion && doc == &broken) {
                continue;
            }
            assert!(check(doc, &sp, &[flaw]).is_err(), "{flaw:?}");
        }
    }
    // An SP that does not decrypt refuses an EncryptedAssertion as no Assertion at all.
    assert_eq!(
        check(&honest, &settings(None), &[]),
        Err(Refusal::NoAssertion)
    );
}

/// Every SAML fault forged for an app that encrypts: its assertions go encrypted (S27's and
/// S31's first root excepted), and the strict reference SP refuses each forgery after
/// decrypting it (the honest replay document and S22's full NameID are taken; S8's and S9's
/// too, as these documents answer no request and this SP takes unsolicited Responses).
#[test]
fn every_fault_for_an_app_that_encrypts_goes_encrypted_and_the_strict_sp_refuses_it() {
    let (private, public, _) = sp_key();
    let sp = settings(Some(private));
    for (n, f) in (20..).zip(Fault::ALL) {
        let xml = document(Some(*f), &public, n);
        let clear = xml.matches("<saml2:Assertion ").count();
        let want = usize::from(matches!(f, Fault::PlainAssertion | Fault::TwoRoots));
        assert_eq!(clear, want, "{f:?}: Assertions in clear:\n{xml}");
        if *f != Fault::PlainAssertion {
            assert!(xml.contains("<saml2:EncryptedAssertion"), "{f:?}:\n{xml}");
        }
        let got = check(&xml, &sp, &[]);
        match f {
            Fault::Replay => assert_eq!(got.unwrap().name_id, "alice@acme.test"),
            // These documents answer no request, and this SP takes unsolicited Responses.
            Fault::Unsolicited | Fault::WrongInResponseTo => {
                assert_eq!(got.unwrap().name_id, faults::FORGED_IDENTITY)
            }
            Fault::CommentInNameId => {
                assert_eq!(got.unwrap().name_id, "alice@acme.test.evil.test")
            }
            _ => assert!(got.is_err(), "{f:?}: {got:?}"),
        }
    }
}

/// Malformed EncryptedAssertions reach the reference SP's decryption: each is a refusal naming
/// what is wrong, never a panic or an acceptance.
#[test]
fn the_reference_sp_refuses_malformed_encrypted_assertions_with_a_reason() {
    let (private, public, _) = sp_key();
    let sp = settings(Some(private));
    // Assertion-signed only, so the Response's signature does not stop the edits first.
    let k = keys().current;
    let enc = encryptor(BlockCipher::Aes128Cbc, KeyTransport::Rsa15, &public);
    let options = Options {
        algorithms: Algorithms::default(),
        encrypt: Some(&enc),
    };
    let honest = signature::signed_response_with(
        &params(8),
        SignWhat::Assertion,
        &options,
        k.pkey(),
        &k.certificate.base64(),
    )
    .unwrap();
    assert!(check(&honest, &sp, &[]).is_ok());
    let values: Vec<String> = {
        let doc = roxmltree::Document::parse(&honest).unwrap();
        doc.descendants()
            .filter(|n| n.tag_name().name() == "CipherValue")
            .map(|n| n.text().unwrap().to_owned())
            .collect()
    };
    let (wrapped, content) = (&values[0], &values[1]);
    let ea0 = honest.find("<saml2:EncryptedAssertion").unwrap();
    let ea1 =
        honest.find("</saml2:EncryptedAssertion>").unwrap() + "</saml2:EncryptedAssertion>".len();
    let cases: Vec<(&str, String)> = vec![
        (
            "content truncated",
            honest.replace(content.as_str(), &content[..content.len() / 2]),
        ),
        (
            "content not base64",
            honest.replace(content.as_str(), "!!!"),
        ),
        ("content emptied", honest.replace(content.as_str(), "")),
        (
            "content huge",
            honest.replace(content.as_str(), &"QUFB".repeat(100_000)),
        ),
        (
            "key truncated",
            honest.replace(wrapped.as_str(), &wrapped[..40]),
        ),
        (
            "unknown block cipher",
            honest.replace("xmlenc#aes128-cbc", "xmlenc#tripledes-cbc"),
        ),
        (
            "unknown key transport",
            honest.replace("xmlenc#rsa-1_5", "xmlenc#kw-aes128"),
        ),
    ];
    for (what, xml) in cases {
        assert!(
            matches!(check(&xml, &sp, &[]), Err(Refusal::Decrypt(_))),
            "{what}: {:?}",
            check(&xml, &sp, &[])
        );
        // The flaws that trust the decrypted Assertion still need one.
        assert!(
            check(&xml, &sp, &[Flaw::TrustDecryptedAssertion]).is_err(),
            "{what}"
        );
    }
    let twice = format!("{}{}{}", &honest[..ea1], &honest[ea0..ea1], &honest[ea1..]);
    assert_eq!(check(&twice, &sp, &[]), Err(Refusal::SeveralAssertions(2)));
}

/// The shipped SAML pack on free ports, its app encrypting for a key pair written beside it,
/// the reference SP started by `fakta test` with `flaw`; the run of trials matching `filter`.
fn encrypted_pack_run(flaw: Option<&str>, filter: &str) -> (i32, String, String) {
    common::shipped_pack_run(
        "qovery-saml",
        |dir| {
            let k = fakta::keys::SigningKey::generate().unwrap();
            std::fs::write(dir.join("sp-enc.crt"), k.certificate.pem()).unwrap();
            std::fs::write(
                dir.join("sp-enc.key"),
                k.pkey().private_key_to_pem_pkcs8().unwrap(),
            )
            .unwrap();
        },
        |yaml| {
            let yaml = yaml.replace(
                "    # sp_certificate: sp.crt",
                "    encryption: { certificate: sp-enc.crt, block: aes256-gcm, private_key: sp-enc.key }\n    # sp_certificate: sp.crt",
            );
            assert!(yaml.contains("encryption: {"));
            yaml
        },
        flaw,
        filter,
    )
}

use common::failed_trials as failed;

/// The pack's SAML attack and session trials (S1-S31): `qovery-saml::S` selects them.
const SAML_ATTACKS: &str = "qovery-saml::S";

#[test]
fn the_encrypted_pack_runs_every_saml_attack_and_the_strict_sp_passes_them() {
    let (code, out, err) = encrypted_pack_run(None, SAML_ATTACKS);
    assert_eq!(code, 0, "{out}\n{err}");
    let verdicts = common::trial_verdicts(&out);
    let ran: Vec<&str> = verdicts
        .iter()
        .filter(|(_, v)| v == "ok")
        .map(|(n, _)| n.as_str())
        .collect();
    // Only the trials this file's settings rule out are ignored, none for the encryption.
    let ignored: Vec<&(String, String)> = verdicts.iter().filter(|(_, v)| v != "ok").collect();
    for (name, verdict) in &ignored {
        assert!(
            verdict.starts_with("ignored") && !verdict.contains("encrypt"),
            "{name}: {verdict}"
        );
    }
    let ignored: Vec<&str> = ignored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        ignored,
        [
            "qovery-saml::S9_unsolicited_refused",
            "qovery-saml::S30_digest_in_a_comment_response_signed_refused",
        ],
        "{out}"
    );
    // S1-S24 (with the XSW family and the published attacks), S27-S31 and S25-S26.
    for case in [
        "S1_", "S2_", "S3_", "S4_", "S5_", "S6_", "S7_", "S8_", "S10_", "S11_", "S12_", "S13_",
        "S14_", "S15_", "S16_", "S17_", "S18_", "S19_", "S20_", "S21_", "S22_", "S23_", "S24_",
        "S25_", "S26_", "S27_", "S28_", "S29_", "S30_", "S31_",
    ] {
        assert!(
            ran.iter()
                .any(|n| n.starts_with(&format!("qovery-saml::{case}"))),
            "{case} did not run:\n{out}"
        );
    }
}

/// For each reference-SP flaw that bends the SAML Response check (`Area::SamlResponse`), the
/// trials of the encrypted pack (`qovery-saml` made to encrypt, S1-S31) that fail against it.
/// Every one of them is encryption-compatible: the reference SP decrypts in place and then
/// checks as in clear, so each flaw bends the encrypted Response the way it bends a clear one,
/// and the encrypted pack catches it with the trials the clear pack does (tests/runner.rs
/// `MUST_FAIL`, `qovery-saml` rows), plus the encryption cases S27/S28 where the flaw opens
/// them too. The flaws of the other areas (roles, revocation, logout, OIDC, session binding)
/// never read the Response's Assertion, so encryption changes nothing for them and they are not
/// run here.
const ENCRYPTED_MUST_FAIL: &[(&str, &[&str])] = &[
    (
        "skip-signature",
        &[
            "S1_assertion_unsigned_in_signed_response_refused",
            "S1_unsigned_refused",
            "S2_signed_by_a_foreign_key_refused",
            "S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused",
            "S2_signed_by_a_foreign_key_value_without_certificate_refused",
            "S30_digest_in_a_comment_assertion_signed_refused",
            "S30_digest_in_a_comment_both_signed_refused",
            "S3_altered_after_signing_refused",
            "S28_encrypted_assertion_unsigned_refused",
            "S28_encrypted_assertion_signature_broken_refused",
        ],
    ),
    (
        "unsigned-assertion",
        &["S1_assertion_unsigned_in_signed_response_refused"],
    ),
    ("ignore-audience", &["S6_audience_of_another_sp_refused"]),
    (
        "ignore-recipient",
        &[
            "S7_destination_not_the_acs_refused",
            "S7_recipient_not_the_acs_refused",
            "S7_destination_the_acs_dash_elsewhere_refused",
            "S7_destination_the_acs_plus_a_letter_refused",
            "S7_destination_the_acs_dot_dot_other_refused",
            "S7_recipient_containing_the_acs_refused",
        ],
    ),
    (
        "ignore-in-response-to",
        &["S8_in_response_to_unknown_refused"],
    ),
    ("allow-replay", &["S10_replayed_refused"]),
    (
        "accept-expired",
        &[
            "S4_expired_refused",
            "S4_not_yet_valid_refused",
            "S5_confirmation_expired_refused",
        ],
    ),
    ("ignore-issuer", &["S11_issuer_not_the_idp_refused"]),
    (
        "first-assertion",
        &[
            "S16_xsw3_evil_assertion_before_the_signed_one_refused",
            "S17_xsw4_evil_assertion_wraps_the_signed_one_refused",
            "S18_xsw5_evil_assertion_keeps_the_signature_copy_at_the_end_refused",
            "S20_xsw7_evil_assertion_in_extensions_refused",
        ],
    ),
    (
        "last-assertion",
        &[
            "S15_xsw2_evil_response_with_the_signed_one_before_its_signature_refused",
            "S23_two_assertions_refused",
        ],
    ),
    ("keep-signed-assertion", &[]),
    (
        "truncate-nameid-at-comment",
        &["S22_comment_in_name_id_full_value_kept"],
    ),
    (
        "accept-any-confirmation",
        &["S12_no_recipient_refused", "S12_not_bearer_refused"],
    ),
    ("ignore-status", &["S13_status_not_success_refused"]),
    ("accept-doctype", &["S24_doctype_with_entities_refused"]),
    (
        "fetch-external-entities",
        &[
            "S24_doctype_with_entities_refused",
            "S24_external_entity_referenced_refused",
        ],
    ),
    (
        "acs-prefix-match",
        &[
            "S7_destination_the_acs_dash_elsewhere_refused",
            "S7_destination_the_acs_plus_a_letter_refused",
            "S7_destination_the_acs_dot_dot_other_refused",
        ],
    ),
    (
        "recipient-substring",
        &["S7_recipient_containing_the_acs_refused"],
    ),
    (
        "trust-keyinfo-keyvalue",
        &["S2_signed_by_a_foreign_key_value_without_certificate_refused"],
    ),
    (
        "keyvalue-beside-idp-certificate",
        &["S2_signed_by_a_foreign_key_value_beside_the_idp_certificate_refused"],
    ),
    (
        "digest-from-first-node",
        &[
            "S30_digest_in_a_comment_assertion_signed_refused",
            "S30_digest_in_a_comment_both_signed_refused",
        ],
    ),
    (
        "parse-past-first-root",
        &["S31_signed_assertion_then_a_second_root_refused"],
    ),
    (
        "accept-plain-assertion",
        &["S27_assertion_not_encrypted_refused"],
    ),
    // Not verifying the decrypted Assertion's signature also lets through the encrypted forms
    // of S1 (no Assertion signature, the Response's alone or none) and of S30 with the
    // Assertion alone signed (its digest is never compared).
    (
        "trust-decrypted-assertion",
        &[
            "S1_assertion_unsigned_in_signed_response_refused",
            "S1_unsigned_refused",
            "S28_encrypted_assertion_signature_broken_refused",
            "S28_encrypted_assertion_unsigned_refused",
            "S30_digest_in_a_comment_assertion_signed_refused",
        ],
    ),
    ("accept-sha1", &["S29_signed_with_sha1_refused"]),
];

#[test]
fn the_encrypted_pack_catches_every_saml_response_flaw_the_clear_pack_catches() {
    use fakta::refsp::flaws::Area;
    let saml_flaws: std::collections::BTreeSet<&str> = Flaw::ALL
        .iter()
        .filter(|f| f.area() == Area::SamlResponse)
        .map(|f| f.name())
        .collect();
    let table: std::collections::BTreeMap<&str, &[&str]> =
        ENCRYPTED_MUST_FAIL.iter().copied().collect();
    assert_eq!(
        table
            .keys()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        saml_flaws,
        "every flaw of the SAML Response check has its row"
    );
    // Two runs at a time (each a `fakta test` with its own SP process and ports).
    let queue = std::sync::Mutex::new(table.iter().collect::<Vec<_>>().into_iter());
    let wrong = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some((flaw, must)) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let (code, out, err) = encrypted_pack_run(Some(flaw), SAML_ATTACKS);
                    let mut got: Vec<String> = failed(&out)
                        .into_iter()
                        .map(|t| t.trim_start_matches("qovery-saml::").to_owned())
                        .collect();
                    got.sort_unstable();
                    let mut want: Vec<String> = must.iter().map(|s| s.to_string()).collect();
                    want.sort_unstable();
                    let mut wrong = wrong.lock().unwrap();
                    if got != want {
                        wrong.push(format!("{flaw}: failed {got:?}, expected {want:?}\n{err}"));
                    }
                    // Each counts only when the SP accepted the forgery (the refusal trials)
                    // or kept the wrong value (S22), not for an unrelated reason.
                    for t in &got {
                        let kind = out
                            .split(&format!("---- qovery-saml::{t} ----\n"))
                            .nth(1)
                            .and_then(|rest| rest.lines().next())
                            .unwrap_or("(no kind line)");
                        let by_the_sp = if t.ends_with("_refused") {
                            kind == "kind: sp-accepted"
                        } else {
                            ["sp-accepted", "sp-refused", "wrong-outcome", "sp-crashed"]
                                .iter()
                                .any(|k| kind == format!("kind: {k}"))
                        };
                        if !by_the_sp {
                            wrong.push(format!("{flaw}: {t} failed as {kind}"));
                        }
                    }
                    // A failure's transcript shows the forged Assertion as the SP decrypted
                    // it, not only the ciphertext: S6's other audience is there in clear.
                    if *flaw == "ignore-audience" {
                        let section = out
                            .split("---- qovery-saml::S6_audience_of_another_sp_refused ----\n")
                            .nth(1)
                            .unwrap_or_default();
                        let plain = section
                            .split("the Assertion the IdP encrypted, as the SP decrypts it:\n")
                            .nth(1)
                            .unwrap_or_default();
                        if !plain.contains("Audience>") || plain.contains("CipherValue") {
                            wrong.push(format!(
                                "{flaw}: S6's transcript lacks the decrypted Assertion:\n{section}"
                            ));
                        }
                    }
                    let want_code = if must.is_empty() { 0 } else { 101 };
                    if code != want_code {
                        wrong.push(format!("{flaw}: exit code {code}"));
                    }
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
