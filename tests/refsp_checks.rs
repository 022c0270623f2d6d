//! The reference SP's checks, fed crafted documents: every flaw admits exactly the crafted
//! cases it names, and the strict SP refuses them all while accepting the honest ones.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use common::{NOW, keys};
use fakta::config::SignWhat;
use fakta::keys::SigningKey;
use fakta::refsp::saml::{self, Memory, SpSettings};
use fakta::refsp::{Flaw, Flaws};
use fakta::saml::response::{self, Attribute, ResponseIds, ResponseParams, Templates};
use fakta::saml::signature;
use time::{Duration, OffsetDateTime};

const ACS: &str = "http://127.0.0.1:7100/login/callback?connection=acme";
const SP: &str = "urn:auth0:qovery:acme";
const IDP: &str = "http://www.okta.com/qovery";

#[derive(Default)]
struct TestMemory {
    requests: HashSet<String>,
    seen: HashSet<String>,
}

impl Memory for TestMemory {
    fn take_request(&mut self, id: &str) -> bool {
        self.requests.remove(id)
    }
    fn first_use(&mut self, assertion_id: &str, _until: OffsetDateTime) -> bool {
        self.seen.insert(assertion_id.to_owned())
    }
}

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
        authn_context_class: fakta::saml::ns::AC_PASSWORD_PROTECTED.into(),
        in_response_to: None,
        audience: SP.into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        attributes: vec![
            Attribute {
                name: "email".into(),
                name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                values: vec!["alice@acme.test".into()],
            },
            Attribute {
                name: "name".into(),
                name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                values: vec!["Alice Admin".into()],
            },
            Attribute {
                name: "groups".into(),
                name_format: fakta::saml::ns::ATTRNAME_UNSPECIFIED.into(),
                values: vec!["Qovery-Admins".into()],
            },
        ],
    }
}

fn signed(p: &ResponseParams, what: SignWhat) -> String {
    let k = keys().current;
    signature::signed_response(p, what, k.pkey(), &k.certificate.base64()).unwrap()
}

/// A fault of the attack pack (`saml::faults::apply`) applied to an honest Response signed as
/// fakta's IdP signs it (both), solicited by `_req{n}`.
fn forged(fault: fakta::saml::faults::Fault, n: u32) -> String {
    let k = keys().current;
    let mut p = params(n);
    p.in_response_to = Some(format!("_req{n}"));
    let honest = signed(&p, SignWhat::Both);
    let ids = fakta::saml::faults::Ids {
        response_id: &p.ids.response_id,
        assertion_id: &p.ids.assertion_id,
        xxe_url: "http://127.0.0.1:1/xxe",
    };
    let who = fakta::saml::faults::Identity {
        name_id: &p.name_id,
        email: "alice@acme.test",
    };
    let foreign = fakta::keys::foreign_key().expect("a foreign key");
    fakta::saml::faults::apply(fault, &honest, &ids, SignWhat::Both, &k, foreign, NOW, &who)
        .unwrap()
        .xml
}

/// Builds with an assertion template, edits the text, then signs: the edit is covered.
fn edited_then_signed(p: &ResponseParams, edit: impl Fn(String) -> String) -> String {
    let k = keys().current;
    let xml = response::build(
        p,
        Templates {
            response: false,
            assertion: true,
        },
        &k.certificate.base64(),
    );
    signature::sign_first_template(&edit(xml), k.private_der()).unwrap()
}

fn settings(allow_unsolicited: bool) -> SpSettings {
    SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        idp_entity_id: IDP.into(),
        idp_certs: vec![keys().current.certificate.der().to_vec()],
        allow_unsolicited,
        decryption_key: None,
        allow_sha1: false,
    }
}

/// One crafted case: documents posted in order (the last decides), the SP's setting, and the
/// flaws that must let it through.
struct Case {
    name: &'static str,
    docs: Vec<String>,
    allow_unsolicited: bool,
    outstanding: Option<String>,
    admitted_by: &'static [Flaw],
}

fn cases() -> Vec<Case> {
    let honest = signed(&params(1), SignWhat::Both);
    let other_key = SigningKey::generate().unwrap();
    let mut solicited = params(15);
    solicited.in_response_to = Some("_req15".into());
    let tampered = signed(&params(4), SignWhat::Both).replace(">Qovery-Admins<", ">Qovery-Owners<");
    let xsw = {
        let good = signed(&params(12), SignWhat::Assertion);
        let mut evil = params(99);
        evil.name_id = "mallory@evil.test".into();
        evil.attributes[0].values = vec!["mallory@evil.test".into()];
        let evil_xml = response::build(
            &evil,
            Templates {
                response: false,
                assertion: false,
            },
            "",
        );
        let start = evil_xml.find("<saml2:Assertion").unwrap();
        let end = evil_xml.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
        let at = good.find("<saml2:Assertion").unwrap();
        format!("{}{}{}", &good[..at], &evil_xml[start..end], &good[at..])
    };
    let with = |f: &dyn Fn(&mut ResponseParams), n: u32| {
        let mut p = params(n);
        f(&mut p);
        signed(&p, SignWhat::Both)
    };
    let mut out = vec![
        Case {
            name: "L0 honest",
            docs: vec![honest.clone()],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: Flaw::ALL,
        },
        Case {
            name: "L0 honest solicited",
            docs: vec![signed(&solicited, SignWhat::Both)],
            allow_unsolicited: false,
            outstanding: Some("_req15".into()),
            admitted_by: Flaw::ALL,
        },
        Case {
            name: "S1 unsigned",
            docs: vec![response::build(
                &params(2),
                Templates {
                    response: false,
                    assertion: false,
                },
                "",
            )],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::SkipSignature],
        },
        Case {
            name: "S1 response-only signature",
            docs: vec![signed(&params(3), SignWhat::Response)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::SkipSignature, Flaw::UnsignedAssertion],
        },
        Case {
            name: "S2 foreign key",
            docs: vec![
                signature::signed_response(
                    &params(5),
                    SignWhat::Both,
                    other_key.pkey(),
                    &other_key.certificate.base64(),
                )
                .unwrap(),
            ],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::SkipSignature],
        },
        Case {
            name: "S3 tampered",
            docs: vec![tampered],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::SkipSignature],
        },
        Case {
            name: "S4 expired",
            docs: vec![with(&|p| p.issue_instant = NOW - Duration::hours(1), 6)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::AcceptExpired],
        },
        Case {
            name: "S4 not yet valid",
            docs: vec![with(&|p| p.issue_instant = NOW + Duration::hours(1), 16)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::AcceptExpired],
        },
        Case {
            name: "S6 audience",
            docs: vec![with(&|p| p.audience = "urn:someone:else".into(), 7)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreAudience],
        },
        Case {
            name: "S7 recipient",
            docs: vec![with(
                &|p| {
                    p.destination = "http://127.0.0.1:6666/acs".into();
                    p.recipient = "http://127.0.0.1:6666/acs".into();
                },
                8,
            )],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreRecipient],
        },
        // Okta's "Recipient URL" / "Destination URL" set apart from the SSO URL: each alone
        // is enough for the strict SP to refuse.
        Case {
            name: "recipient_url apart from the acs",
            docs: vec![with(
                &|p| p.recipient = "http://127.0.0.1:7100/elsewhere".into(),
                32,
            )],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreRecipient],
        },
        Case {
            name: "destination_url apart from the acs",
            docs: vec![with(
                &|p| p.destination = "http://127.0.0.1:7100/elsewhere".into(),
                33,
            )],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreRecipient],
        },
        Case {
            name: "S7 destination starting with the acs",
            docs: vec![edited_then_signed(&params(30), |x| {
                x.replace(
                    &format!("Destination=\"{ACS}\""),
                    &format!("Destination=\"{ACS}-elsewhere\""),
                )
            })],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreRecipient, Flaw::AcsPrefixMatch],
        },
        Case {
            name: "S7 recipient containing the acs",
            docs: vec![edited_then_signed(&params(31), |x| {
                x.replace(
                    &format!("Recipient=\"{ACS}\""),
                    &format!("Recipient=\"http://evil.test/?{ACS}\""),
                )
            })],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreRecipient, Flaw::RecipientSubstring],
        },
        Case {
            name: "S8 in_response_to",
            docs: vec![with(&|p| p.in_response_to = Some("_not_mine".into()), 9)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreInResponseTo],
        },
        Case {
            name: "S9 unsolicited",
            docs: vec![signed(&params(10), SignWhat::Both)],
            allow_unsolicited: false,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreInResponseTo],
        },
        Case {
            name: "S10 replay",
            docs: vec![signed(&params(11), SignWhat::Both); 2],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::AllowReplay],
        },
        Case {
            name: "S11 issuer",
            docs: vec![with(&|p| p.issuer = "http://evil.test/idp".into(), 13)],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreIssuer],
        },
        Case {
            name: "S13 status",
            docs: vec![edited_then_signed(&params(14), |x| {
                x.replace("status:Success", "status:Requester")
            })],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::IgnoreStatus],
        },
        Case {
            name: "S12 not bearer",
            docs: vec![edited_then_signed(&params(17), |x| {
                x.replace("cm:bearer", "cm:holder-of-key")
            })],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::AcceptAnyConfirmation],
        },
        Case {
            name: "S14 xsw evil assertion first",
            docs: vec![xsw],
            allow_unsolicited: true,
            outstanding: None,
            // The last-assertion and keep-signed-assertion flaws read the signed one here.
            admitted_by: &[
                Flaw::FirstAssertion,
                Flaw::LastAssertion,
                Flaw::KeepSignedAssertion,
            ],
        },
        Case {
            name: "S24 doctype",
            docs: vec![format!(
                "<!DOCTYPE r [<!ENTITY x \"y\">]>{}",
                honest
                    .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                    .trim_start()
            )],
            allow_unsolicited: true,
            outstanding: None,
            admitted_by: &[Flaw::AcceptDoctype],
        },
    ];
    use fakta::saml::faults::Fault as F;
    // The published attacks (S2 variants, S30, S31), as the attack pack makes them.
    let published: [(&'static str, F, u32, &'static [Flaw]); 6] = [
        (
            "S2 key value without certificate",
            F::ForeignKeyValue,
            30,
            &[Flaw::SkipSignature, Flaw::TrustKeyInfoKeyValue],
        ),
        (
            "S2 key value beside the IdP's certificate",
            F::ForeignKeyValueBesideIdpCert,
            31,
            &[Flaw::SkipSignature, Flaw::KeyValueBesideIdpCertificate],
        ),
        (
            "S30 digest in a comment, assertion signed",
            F::DigestCommentAssertion,
            32,
            &[Flaw::SkipSignature, Flaw::DigestFromFirstNode],
        ),
        (
            "S30 digest in a comment, response signed",
            F::DigestCommentResponse,
            33,
            &[Flaw::SkipSignature],
        ),
        (
            "S30 digest in a comment, both signed",
            F::DigestCommentBoth,
            34,
            &[Flaw::SkipSignature, Flaw::DigestFromFirstNode],
        ),
        (
            "S31 two root elements",
            F::TwoRoots,
            35,
            &[Flaw::ParsePastFirstRoot],
        ),
    ];
    for (name, fault, n, admitted_by) in published {
        out.push(Case {
            name,
            docs: vec![forged(fault, n)],
            allow_unsolicited: false,
            outstanding: Some(format!("_req{n}")),
            admitted_by,
        });
    }
    out
}

fn run(case: &Case, flaws: &Flaws) -> Result<saml::Accepted, saml::Refusal> {
    let mut memory = TestMemory::default();
    if let Some(id) = &case.outstanding {
        memory.requests.insert(id.clone());
    }
    let s = settings(case.allow_unsolicited);
    let mut last = Err(saml::Refusal::NoAssertion);
    for doc in &case.docs {
        last = saml::check(doc, &s, NOW, &mut memory, flaws);
    }
    last
}

/// The flaws of the ACS, from the enum: a flaw added there is in this battery at once.
fn saml_flaws() -> Vec<Flaw> {
    Flaw::ALL
        .iter()
        .copied()
        .filter(|f| f.area() == fakta::refsp::flaws::Area::SamlResponse)
        .collect()
}

#[test]
fn the_strict_sp_refuses_every_crafted_fault_and_accepts_the_honest_twins() {
    let mut wrong = Vec::new();
    for case in cases() {
        let expect_ok = case.admitted_by.len() == Flaw::ALL.len();
        let got = run(&case, &Flaws::none());
        if got.is_ok() != expect_ok {
            wrong.push(format!("{}: {got:?}", case.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "strict SP got these wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn each_flaw_admits_exactly_its_cases() {
    let cases = cases();
    let mut report = BTreeMap::new();
    for flaw in &saml_flaws() {
        let flaws = Flaws::none().with(*flaw);
        let admitted: BTreeSet<&str> = cases
            .iter()
            .filter(|c| run(c, &flaws).is_ok())
            .map(|c| c.name)
            .collect();
        let expected: BTreeSet<&str> = cases
            .iter()
            .filter(|c| c.admitted_by.contains(flaw))
            .map(|c| c.name)
            .collect();
        if admitted != expected {
            report.insert(flaw.name(), (admitted, expected));
        }
    }
    assert!(
        report.is_empty(),
        "flaws admitting the wrong cases (admitted, expected): {report:#?}"
    );
}

#[test]
fn a_refusal_names_the_check_and_the_values() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "S6 audience")
        .unwrap();
    let err = run(&case, &Flaws::none()).unwrap_err().to_string();
    assert_eq!(
        err,
        "Audience [\"urn:someone:else\"] does not include this SP `urn:auth0:qovery:acme`"
    );
}

#[test]
fn xsw_with_the_flaw_reads_the_evil_assertion() {
    let case = cases()
        .into_iter()
        .find(|c| c.name.starts_with("S14"))
        .unwrap();
    let ok = run(&case, &Flaws::none().with(Flaw::FirstAssertion)).unwrap();
    assert_eq!(ok.name_id, "mallory@evil.test");
    // Allowed: the signed Assertion alone is used, the unsigned one ignored.
    let ok = run(&case, &Flaws::none().with(Flaw::KeepSignedAssertion)).unwrap();
    assert_eq!(ok.name_id, "alice@acme.test");
}

#[test]
fn s22_comment_injection_the_strict_sp_keeps_the_whole_name_id() {
    let doc = edited_then_signed(&params(20), |x| {
        x.replace(
            ">alice@acme.test</saml2:NameID>",
            ">alice@acme.test<!---->.evil.test</saml2:NameID>",
        )
    });
    let mut m = TestMemory::default();
    let strict = saml::check(&doc, &settings(true), NOW, &mut m, &Flaws::none()).unwrap();
    assert_eq!(strict.name_id, "alice@acme.test.evil.test");
    let mut m = TestMemory::default();
    let flawed = saml::check(
        &doc,
        &settings(true),
        NOW,
        &mut m,
        &Flaws::none().with(Flaw::TruncateNameIdAtComment),
    )
    .unwrap();
    assert_eq!(flawed.name_id, "alice@acme.test");
}

#[test]
fn accepted_responses_carry_attributes_and_session_index() {
    let ok = run(&cases().remove(0), &Flaws::none()).unwrap();
    assert_eq!(ok.name_id, "alice@acme.test");
    assert_eq!(ok.session_index.as_deref(), Some("idsess1"));
    assert_eq!(ok.attributes["groups"], vec!["Qovery-Admins".to_owned()]);
    assert_eq!(ok.attributes["name"], vec!["Alice Admin".to_owned()]);
}

// --- JWTs: id_tokens and revocation requests ------------------------------------------------

mod jwts {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use fakta::config::SigningAlg;
    use fakta::oidc::jwt as signer;
    use fakta::refsp::jwt::{self, JwtRefusal};
    use fakta::refsp::revocation::{self, Settings, Subject};
    use serde_json::{Value, json};

    fn jwks() -> Vec<jwt::Key> {
        let st = common::state(common::oidc_example());
        jwt::parse_jwks(st.jwks.as_bytes()).unwrap()
    }

    fn kid() -> String {
        common::state(common::oidc_example()).rsa_kid.clone()
    }

    fn rs256(claims: &Value, typ: Option<&str>) -> String {
        signer::sign(
            SigningAlg::RS256,
            &kid(),
            typ,
            keys().current.pkey(),
            claims,
        )
        .unwrap()
    }

    fn unsigned(header: Value, claims: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn hs256_with_public_key(claims: &Value) -> String {
        let pem = keys().current.pkey().public_key_to_pem().unwrap();
        let header = json!({"alg": "HS256", "kid": kid()});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let hkey = openssl::pkey::PKey::hmac(&pem).unwrap();
        let mut s =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &hkey).unwrap();
        s.update(input.as_bytes()).unwrap();
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(s.sign_to_vec().unwrap())
        )
    }

    /// The O7 and O8 variants of the attack pack, made by `oidc::faults::forge_id_token` for an
    /// RS256 and an ES256 app: the strict verifier refuses each, and each flaw admits exactly
    /// the variants it names.
    #[test]
    fn published_alg_none_and_key_confusion_variants_and_their_flaws() {
        use fakta::oidc::faults::Fault as O;
        let keys = jwks();
        let st = common::state(common::oidc_example());
        let ks = common::keys();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), json!("http://127.0.0.1:7000"));
        claims.insert("sub".into(), json!("00u1alice"));
        let flaws = [
            Flaw::AcceptAlgNone,
            Flaw::Hs256KeyConfusion,
            Flaw::HmacWithPkcs1Pem,
            Flaw::HmacWithOpensshKey,
            Flaw::HmacWithJwkJson,
            Flaw::NoneForUnknownKid,
            Flaw::NoneWithoutKid,
            Flaw::AlgNoneAnyCase,
        ];
        let admitted_by = |f: O| -> &'static [Flaw] {
            match f {
                O::AlgNone => &[Flaw::AcceptAlgNone],
                O::AlgNoneUnknownKid => &[Flaw::AcceptAlgNone, Flaw::NoneForUnknownKid],
                O::AlgNoneNoKid => &[Flaw::AcceptAlgNone, Flaw::NoneWithoutKid],
                O::AlgNoneCapitalized | O::AlgNoneUppercase => &[Flaw::AlgNoneAnyCase],
                O::Hs256KeyConfusion | O::Hs256EcPem => &[Flaw::Hs256KeyConfusion],
                O::Hs256Pkcs1Pem => &[Flaw::HmacWithPkcs1Pem],
                O::Hs256OpenSsh => &[Flaw::HmacWithOpensshKey],
                O::Hs256JwkJson => &[Flaw::HmacWithJwkJson],
                _ => &[],
            }
        };
        let allowed = ["RS256", "ES256"];
        let mut wrong = Vec::new();
        let mut checked = 0;
        for (alg, kid, key) in [
            (SigningAlg::RS256, st.rsa_kid.as_str(), ks.current.pkey()),
            (SigningAlg::ES256, st.ec_kid.as_str(), ks.ec.pkey()),
        ] {
            for f in O::ALL
                .iter()
                .copied()
                .filter(|f| matches!(f.case(), "O7" | "O8") && f.applies_to(alg))
            {
                let (token, _) = fakta::oidc::faults::forge_id_token(
                    f,
                    claims.clone(),
                    alg,
                    kid,
                    key,
                    ks.current.pkey(),
                    None,
                )
                .unwrap();
                checked += 1;
                if jwt::verify(&token, &keys, &allowed, &Flaws::none()).is_ok() {
                    wrong.push(format!("{alg:?} {f:?}: the strict verifier accepts it"));
                }
                for flaw in flaws {
                    let ok =
                        jwt::verify(&token, &keys, &allowed, &Flaws::none().with(flaw)).is_ok();
                    if ok != admitted_by(f).contains(&flaw) {
                        wrong.push(format!("{alg:?} {f:?} under {flaw}: accepted {ok}"));
                    }
                }
            }
        }
        assert_eq!(
            checked, 19,
            "nine variants for RS256, ten for ES256 (the EC key as PEM too)"
        );
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn id_token_signatures_and_their_flaws() {
        let keys = jwks();
        let claims = json!({"iss": "http://127.0.0.1:7000", "sub": "00u1alice"});
        let honest = rs256(&claims, None);
        let es = signer::sign(
            SigningAlg::ES256,
            &common::state(common::oidc_example()).ec_kid,
            None,
            common::keys().ec.pkey(),
            &claims,
        )
        .unwrap();
        let none = unsigned(json!({"alg": "none"}), &claims, b"");
        let confused = hs256_with_public_key(&claims);
        let mut corrupted = honest.clone();
        corrupted.replace_range(corrupted.len() - 5.., "AAAAA");
        let unknown_kid = signer::sign(
            SigningAlg::RS256,
            "not-a-kid",
            None,
            common::keys().current.pkey(),
            &claims,
        )
        .unwrap();
        let allowed = ["RS256", "ES256"];
        let v = |t: &str, f: &Flaws| jwt::verify(t, &keys, &allowed, f).map(|_| ());
        for f in [
            Flaws::none(),
            Flaws::none().with(Flaw::AcceptAlgNone),
            Flaws::none().with(Flaw::Hs256KeyConfusion),
        ] {
            assert_eq!(v(&honest, &f), Ok(()));
            assert_eq!(v(&es, &f), Ok(()));
            assert_eq!(v(&corrupted, &f), Err(JwtRefusal::Signature));
            assert_eq!(
                v(&unknown_kid, &f),
                Err(JwtRefusal::UnknownKid("not-a-kid".into()))
            );
        }
        assert_eq!(
            v(&none, &Flaws::none()),
            Err(JwtRefusal::Alg("none".into()))
        );
        assert_eq!(v(&none, &Flaws::none().with(Flaw::AcceptAlgNone)), Ok(()));
        assert_eq!(
            v(&none, &Flaws::none().with(Flaw::Hs256KeyConfusion)),
            Err(JwtRefusal::Alg("none".into()))
        );
        assert_eq!(
            v(&confused, &Flaws::none()),
            Err(JwtRefusal::Alg("HS256".into()))
        );
        assert_eq!(
            v(&confused, &Flaws::none().with(Flaw::Hs256KeyConfusion)),
            Ok(())
        );
        assert_eq!(
            v(&confused, &Flaws::none().with(Flaw::AcceptAlgNone)),
            Err(JwtRefusal::Alg("HS256".into()))
        );
        assert_eq!(v("a.b", &Flaws::none()), Err(JwtRefusal::Malformed));
        assert_eq!(
            v(&"x".repeat(20_000), &Flaws::none()),
            Err(JwtRefusal::TooLarge)
        );
    }

    const ENDPOINT: &str = "http://127.0.0.1:7100/oauth/global-token-revocation/connection/acme";

    fn settings() -> Settings {
        Settings {
            endpoint: ENDPOINT.into(),
            idp_issuer: "http://127.0.0.1:7000".into(),
            app: "qovery".into(),
            subject_issuer: "http://www.okta.com/qovery".into(),
            email_supported: false,
        }
    }

    fn gtr_claims() -> Value {
        let now = NOW.unix_timestamp();
        json!({"jti": "j1", "iss": "http://127.0.0.1:7000", "sub": "qovery", "aud": ENDPOINT,
               "iat": now, "nbf": now - 300, "exp": now + 300})
    }

    fn body() -> Vec<u8> {
        json!({"subject": {"format": "iss_sub", "iss": "http://www.okta.com/qovery", "sub": "alice@acme.test"}})
            .to_string()
            .into_bytes()
    }

    fn token_with(edit: impl Fn(&mut Value)) -> String {
        let mut c = gtr_claims();
        edit(&mut c);
        rs256(&c, Some("global-token-revocation+jwt"))
    }

    /// (case, Authorization header, body, strict status or 0 for accepted, flaws that accept it)
    type GtrCase = (&'static str, Option<String>, Vec<u8>, u16, Vec<Flaw>);

    fn gtr_cases() -> Vec<GtrCase> {
        let b = |t: String| Some(format!("Bearer {t}"));
        let all_auth = vec![Flaw::RevocationWithoutAuth];
        let other = SigningKey::generate().unwrap();
        vec![
            ("T1 honest", b(token_with(|_| {})), body(), 0, Flaw::ALL.to_vec()),
            ("T3 no authorization", None, body(), 401, all_auth.clone()),
            ("T3 foreign key", b(signer::sign(SigningAlg::RS256, &kid(), Some("global-token-revocation+jwt"), other.pkey(), &gtr_claims()).unwrap()), body(), 401, all_auth.clone()),
            ("T3 alg none", b(unsigned(json!({"alg": "none", "typ": "global-token-revocation+jwt"}), &gtr_claims(), b"")), body(), 401, all_auth.clone()),
            ("T3 typ missing", b(rs256(&gtr_claims(), None)), body(), 401, all_auth.clone()),
            ("T3 typ wrong", b(rs256(&gtr_claims(), Some("JWT"))), body(), 401, all_auth.clone()),
            ("T3 aud wrong", b(token_with(|c| c["aud"] = json!("http://127.0.0.1:7100/other"))), body(), 401, vec![Flaw::RevocationWithoutAuth, Flaw::RevocationIgnoresAud]),
            ("T3 aud with query", b(token_with(|c| c["aud"] = json!(format!("{ENDPOINT}?x")))), body(), 401, vec![Flaw::RevocationWithoutAuth, Flaw::RevocationIgnoresAud]),
            ("T3 expired", b(token_with(|c| c["exp"] = json!(NOW.unix_timestamp() - 600))), body(), 401, all_auth.clone()),
            ("T3 nbf future", b(token_with(|c| c["nbf"] = json!(NOW.unix_timestamp() + 600))), body(), 401, all_auth.clone()),
            ("T3 wrong iss", b(token_with(|c| c["iss"] = json!("http://evil.test"))), body(), 401, all_auth.clone()),
            ("T4 other app", b(token_with(|c| c["sub"] = json!("other-app"))), body(), 403, all_auth.clone()),
            ("T5 legacy subject", b(token_with(|_| {})), json!({"subject": {"format": "iss_sub"}}).to_string().into_bytes(), 400, vec![]),
            ("T5 not json", b(token_with(|_| {})), b"subject=alice".to_vec(), 400, vec![]),
            ("T5 unknown format", b(token_with(|_| {})), json!({"subject": {"format": "phone_number", "phone_number": "+1"}}).to_string().into_bytes(), 400, vec![]),
            ("T2 email unsupported", b(token_with(|_| {})), json!({"subject": {"format": "email", "email": "alice@acme.test"}}).to_string().into_bytes(), 400, vec![]),
            ("T7 other idp", b(token_with(|_| {})), json!({"subject": {"format": "iss_sub", "iss": "http://www.okta.com/other", "sub": "alice@acme.test"}}).to_string().into_bytes(), 400, vec![]),
        ]
    }

    #[test]
    fn revocation_requests_and_their_flaws() {
        let keys: Vec<jwt::Key> = vec![jwt::Key {
            kid: None,
            kty: "RSA".into(),
            key: keys().current.certificate.x509().public_key().unwrap(),
        }];
        let flaw_sets: Vec<Flaws> = std::iter::once(Flaws::none())
            .chain(
                [Flaw::RevocationWithoutAuth, Flaw::RevocationIgnoresAud]
                    .map(|f| Flaws::none().with(f)),
            )
            .collect();
        let mut wrong = Vec::new();
        for flaws in &flaw_sets {
            for (name, auth, body, status, admitted_by) in gtr_cases() {
                let mut seen = |_: &str, _: i64| true;
                let got = revocation::check(
                    auth.as_deref(),
                    &body,
                    &keys,
                    &settings(),
                    NOW,
                    &mut seen,
                    flaws,
                );
                let flaw = flaws.iter().next();
                let expect_ok = status == 0 || flaw.is_some_and(|f| admitted_by.contains(&f));
                match (&got, expect_ok) {
                    (Ok(_), true) => {}
                    (Err(r), false) if r.status == status => {}
                    _ => wrong.push(format!(
                        "{name} with {flaw:?}: {got:?} (strict status {status})"
                    )),
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_replayed_jti_is_refused_and_the_subject_is_read() {
        let keys: Vec<jwt::Key> = vec![jwt::Key {
            kid: None,
            kty: "RSA".into(),
            key: keys().current.certificate.x509().public_key().unwrap(),
        }];
        let mut jtis = HashSet::new();
        let mut seen = |j: &str, _: i64| jtis.insert(j.to_owned());
        let auth = format!("Bearer {}", token_with(|_| {}));
        let first = revocation::check(
            Some(&auth),
            &body(),
            &keys,
            &settings(),
            NOW,
            &mut seen,
            &Flaws::none(),
        );
        assert_eq!(
            first,
            Ok(Subject::IssSub {
                iss: "http://www.okta.com/qovery".into(),
                sub: "alice@acme.test".into()
            })
        );
        let again = revocation::check(
            Some(&auth),
            &body(),
            &keys,
            &settings(),
            NOW,
            &mut seen,
            &Flaws::none(),
        );
        assert_eq!(again.unwrap_err().status, 401);
    }
}
