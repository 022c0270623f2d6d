//! Every SAML and OIDC login fault, applied to an honest document: the forged document parses
//! (or, for S24, carries the DOCTYPE that is its point), differs from the honest one where the
//! fault says, and asserts the forged identity wherever the verdict reads it.

mod common;

use fakta::config::{SignWhat, SigningAlg};
use fakta::oidc::faults::{self as ofaults, FORGED_EMAIL};
use fakta::oidc::jwt;
use fakta::saml::faults::{FORGED_IDENTITY, Fault, Identity, Ids};
use fakta::saml::response::{Attribute, ResponseIds, ResponseParams};
use fakta::saml::signature::signed_response;
use serde_json::{Value, json};

const NAME_ID: &str = "00u1alice";
const EMAIL: &str = "alice@acme.test";

fn params() -> ResponseParams {
    ResponseParams {
        ids: ResponseIds {
            response_id: "id-response-1".into(),
            assertion_id: "id-assertion-1".into(),
            session_index: "id-session-1".into(),
        },
        issue_instant: common::NOW,
        authn_instant: common::NOW,
        lifetime: time::Duration::minutes(5),
        issuer: "http://www.okta.com/exk1".into(),
        destination: "http://127.0.0.1:7100/acs".into(),
        recipient: "http://127.0.0.1:7100/acs".into(),
        authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
        in_response_to: Some("_req1".into()),
        audience: "urn:sp".into(),
        name_id: NAME_ID.into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        attributes: vec![
            Attribute {
                name: "email".into(),
                name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                values: vec![EMAIL.into()],
            },
            Attribute {
                name: "groups".into(),
                name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                values: vec!["Qovery-Admins".into()],
            },
        ],
    }
}

/// What each fault must visibly change (a substring only the forged document has).
fn changed_marker(f: Fault) -> &'static str {
    match f {
        Fault::Unsigned => FORGED_IDENTITY,
        Fault::ResponseSignedOnly => FORGED_IDENTITY,
        Fault::ForeignKey => FORGED_IDENTITY,
        Fault::TamperedAfterSigning => FORGED_IDENTITY,
        Fault::Expired | Fault::NotYetValid | Fault::ConfirmationExpired => FORGED_IDENTITY,
        Fault::WrongAudience => "urn:fakta:another-sp",
        Fault::WrongRecipient => "Recipient=\"http://127.0.0.1:1/another-acs\"",
        Fault::WrongDestination => "Destination=\"http://127.0.0.1:1/another-acs\"",
        Fault::WrongInResponseTo => "_not_a_request_of_this_sp",
        Fault::Unsolicited => FORGED_IDENTITY,
        Fault::Replay => "",
        Fault::WrongIssuer => "another-idp",
        Fault::NotBearer => "holder-of-key",
        Fault::NoRecipient => FORGED_IDENTITY,
        Fault::StatusNotSuccess => "status:Requester",
        Fault::Xsw1 | Fault::Xsw2 => "id-evil-",
        Fault::Xsw3EvilAssertionFirst
        | Fault::Xsw4
        | Fault::Xsw5
        | Fault::Xsw6
        | Fault::Xsw7
        | Fault::Xsw8 => "id-evil-",
        Fault::CommentInNameId => "<!---->.evil.test",
        Fault::TwoAssertions => "id-second-",
        Fault::Doctype => "<!DOCTYPE",
        Fault::ExternalEntity => "&ext;",
        Fault::DestinationAcsDashElsewhere => "Destination=\"http://127.0.0.1:7100/acs-elsewhere\"",
        Fault::DestinationAcsPlusALetter => "Destination=\"http://127.0.0.1:7100/acsx\"",
        Fault::DestinationAcsDotDotOther => "Destination=\"http://127.0.0.1:7100/acs/../other\"",
        Fault::RecipientContainingTheAcs => {
            "Recipient=\"http://evil.test/?http://127.0.0.1:7100/acs\""
        }
        Fault::ForeignKeyValue | Fault::ForeignKeyValueBesideIdpCert => "<ds:RSAKeyValue>",
        Fault::DigestCommentAssertion | Fault::DigestCommentResponse | Fault::DigestCommentBoth => {
            "<ds:DigestValue><!--"
        }
        Fault::TwoRoots => "id-second-",
        // The honest document in clear (S27), like the replay.
        Fault::PlainAssertion => "",
        // Without the app's encryption (tests/encryption.rs encrypts them), S28's Assertion
        // shows in clear.
        Fault::EncryptedUnsigned | Fault::EncryptedSignatureBroken => FORGED_IDENTITY,
        Fault::Sha1Signed => "xmldsig#rsa-sha1",
    }
}

#[test]
fn every_saml_fault_forges_what_it_says_and_asserts_mallory() {
    let keys = common::keys();
    let key = &keys.current;
    let foreign = fakta::keys::foreign_key().expect("a foreign key");
    let p = params();
    let honest =
        signed_response(&p, SignWhat::Both, key.pkey(), &key.certificate.base64()).unwrap();
    let ids = Ids {
        response_id: &p.ids.response_id,
        assertion_id: &p.ids.assertion_id,
        xxe_url: "http://127.0.0.1:1/xxe",
    };
    let who = Identity {
        name_id: NAME_ID,
        email: EMAIL,
    };
    let no_dtd = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    for f in Fault::ALL {
        let forged = fakta::saml::faults::apply(
            *f,
            &honest,
            &ids,
            SignWhat::Both,
            key,
            foreign,
            common::NOW,
            &who,
        )
        .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(!forged.altered.is_empty(), "{f:?} says what it altered");
        if matches!(*f, Fault::Replay | Fault::PlainAssertion) {
            assert_eq!(forged.xml, honest, "{f:?} is the honest document");
            continue;
        }
        assert_ne!(forged.xml, honest, "{f:?} changes the document");
        assert!(
            forged.xml.contains(changed_marker(*f)),
            "{f:?} must contain {}:\n{}",
            changed_marker(*f),
            forged.xml
        );
        // S31 is two root elements: not a document, and the second root (what a parser that
        // keeps going reads) is the forgery.
        let xml = if *f == Fault::TwoRoots {
            assert!(
                roxmltree::Document::parse_with_options(&forged.xml, no_dtd).is_err(),
                "{f:?} is not well-formed"
            );
            let at = forged.xml.find("<saml2p:Response").expect("a second root");
            assert!(
                forged.xml[..at].contains("<ds:Signature"),
                "the first root is signed"
            );
            forged.xml[at..].to_owned()
        } else {
            forged.xml.clone()
        };
        match f {
            Fault::Doctype | Fault::ExternalEntity => {
                assert!(
                    roxmltree::Document::parse_with_options(&forged.xml, no_dtd).is_err(),
                    "{f:?} carries a DTD"
                );
            }
            _ => {
                let doc = roxmltree::Document::parse_with_options(&xml, no_dtd)
                    .unwrap_or_else(|e| panic!("{f:?} does not parse: {e}\n{xml}"));
                let text = |name: &str| -> Vec<String> {
                    doc.descendants()
                        .filter(|n| n.tag_name().name() == name)
                        .map(|n| {
                            n.descendants()
                                .filter(|d| d.is_text())
                                .filter_map(|d| d.text())
                                .collect::<String>()
                        })
                        .collect()
                };
                let name_ids = text("NameID");
                let values = text("AttributeValue");
                if *f == Fault::CommentInNameId {
                    assert!(
                        name_ids
                            .iter()
                            .any(|n| n == &format!("{NAME_ID}.evil.test"))
                    );
                    continue;
                }
                // The identity the verdict reads: mallory in the forged part.
                assert!(
                    name_ids.iter().any(|n| n == FORGED_IDENTITY),
                    "{f:?}: NameIDs {name_ids:?}"
                );
                assert!(
                    values.iter().any(|v| v == FORGED_IDENTITY),
                    "{f:?}: attribute values {values:?}"
                );
                let keeps_honest = name_ids.iter().any(|n| n == NAME_ID);
                assert_eq!(
                    keeps_honest,
                    f.wrapping(),
                    "{f:?}: only wrapping cases keep the honest, signed Assertion beside the forged one"
                );
            }
        }
    }
}

/// Every OIDC fault forges the id_token (or userinfo) and asserts mallory where it must; O22,
/// whose fault is the authorization response, and L0's forged launch leave the id_token alone.
#[test]
fn every_oidc_fault_forges_the_id_token_or_userinfo_and_asserts_mallory() {
    use ofaults::Fault as O;
    let keys = common::keys();
    let rsa = keys.current.pkey();
    let rotation = fakta::keys::rotation_key().expect("a rotation key");
    let mut honest = serde_json::Map::new();
    for (k, v) in [
        ("iss", json!("http://127.0.0.1:7000")),
        ("aud", json!("0oa1client")),
        ("sub", json!("00u1alice")),
        ("email", json!(EMAIL)),
        ("name", json!("Alice")),
        ("iat", json!(1_800_000_000)),
        ("exp", json!(1_800_003_600)),
        ("nonce", json!("n-1")),
    ] {
        honest.insert(k.into(), v);
    }
    let honest_token = jwt::sign(SigningAlg::RS256, "kid-1", None, rsa, &honest).unwrap();
    for f in O::ALL {
        let (token, altered) = ofaults::forge_id_token(
            *f,
            honest.clone(),
            SigningAlg::RS256,
            "kid-1",
            rsa,
            rsa,
            Some(("kid-new", rotation.pkey())),
        )
        .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(!altered.is_empty(), "{f:?}");
        if f.in_authorization_response() || f.at_launch() || f.in_post_message() {
            // O22 replaces the code with an error, L0's forged launch names another issuer,
            // O25's fault is in how the okta_post_message page posts: no id_token is forged,
            // and one asked for anyway is the honest one.
            assert_eq!(token, honest_token, "{f:?} leaves the id_token alone");
            continue;
        }
        assert_ne!(token, honest_token, "{f:?} changes the id_token");
        let claims = jwt::peek_part(&token, 1).expect("claims");
        let email = claims.get("email").and_then(Value::as_str);
        if f.forges_identity() {
            assert_eq!(email, Some(FORGED_EMAIL), "{f:?}: {claims}");
        } else if *f == O::UserinfoSubDiffers {
            assert_eq!(email, None, "O12 leaves the profile to userinfo");
            let mut info = honest.clone();
            let note = ofaults::forge_userinfo(*f, &mut info).expect("a userinfo fault");
            assert!(note.contains(FORGED_EMAIL), "{note}");
            assert_eq!(info["email"], FORGED_EMAIL);
            assert_ne!(info["sub"], honest["sub"]);
        } else {
            assert_eq!(
                email,
                Some(EMAIL),
                "{f:?} is accepted on purpose: honest identity"
            );
        }
        if *f != O::UserinfoSubDiffers {
            let mut info = honest.clone();
            assert!(ofaults::forge_userinfo(*f, &mut info).is_none(), "{f:?}");
        }
    }
}

/// The OpenSSH public-key lines of the O8 variants are what OpenSSH itself reads:
/// `ssh-keygen -e -m PKCS8` turns each (RSA, P-256) back into the key's SPKI PEM.
#[test]
fn openssh_lines_round_trip_through_ssh_keygen() {
    use ofaults::KeyText;
    let keys = common::keys();
    let dir = tempfile::tempdir().unwrap();
    for (name, key) in [("rsa", keys.current.pkey()), ("ec", keys.ec.pkey())] {
        let line = KeyText::OpenSsh.encode(key).expect("an OpenSSH line");
        let path = dir.path().join(format!("{name}.pub"));
        std::fs::write(&path, &line).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .args(["-e", "-m", "PKCS8", "-f"])
            .arg(&path)
            .output()
            .expect("ssh-keygen (Debian package openssh-client, installed by scripts/setup-deps)");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8(KeyText::SpkiPem.encode(key).unwrap()).unwrap(),
            "{name}"
        );
    }
}
