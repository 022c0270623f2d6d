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
        in_response_to: None,
        audience: SP.into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        attributes: vec![
            Attribute { name: "email".into(), values: vec!["alice@acme.test".into()] },
            Attribute { name: "name".into(), values: vec!["Alice Admin".into()] },
            Attribute { name: "groups".into(), values: vec!["Qovery-Admins".into()] },
        ],
    }
}

fn signed(p: &ResponseParams, what: SignWhat) -> String {
    let k = keys().current;
    signature::signed_response(p, what, k.private_der(), &k.certificate.base64()).unwrap()
}

/// Builds with an assertion template, edits the text, then signs: the edit is covered.
fn edited_then_signed(p: &ResponseParams, edit: impl Fn(String) -> String) -> String {
    let k = keys().current;
    let xml = response::build(p, Templates { response: false, assertion: true }, &k.certificate.base64());
    signature::sign_first_template(&edit(xml), k.private_der()).unwrap()
}

fn settings(allow_unsolicited: bool) -> SpSettings {
    SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        idp_entity_id: IDP.into(),
        idp_certs: vec![keys().current.certificate.der().to_vec()],
        allow_unsolicited,
    }
}

/// One crafted case: documents posted in order (the last decides), the SP's setting, and the
/// flaws that must let it through.
struct Case {
    name: &'static str,
    docs: Vec<String>,
    allow_unsolicited: bool,
    outstanding: Option<&'static str>,
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
        let evil_xml = response::build(&evil, Templates { response: false, assertion: false }, "");
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
    vec![
        Case { name: "L0 honest", docs: vec![honest.clone()], allow_unsolicited: true, outstanding: None, admitted_by: Flaw::ALL },
        Case { name: "L0 honest solicited", docs: vec![signed(&solicited, SignWhat::Both)], allow_unsolicited: false, outstanding: Some("_req15"), admitted_by: Flaw::ALL },
        Case { name: "S1 unsigned", docs: vec![response::build(&params(2), Templates { response: false, assertion: false }, "")], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::SkipSignature] },
        Case { name: "S1 response-only signature", docs: vec![signed(&params(3), SignWhat::Response)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::SkipSignature, Flaw::UnsignedAssertion] },
        Case { name: "S2 foreign key", docs: vec![signature::signed_response(&params(5), SignWhat::Both, other_key.private_der(), &other_key.certificate.base64()).unwrap()], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::SkipSignature] },
        Case { name: "S3 tampered", docs: vec![tampered], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::SkipSignature] },
        Case { name: "S4 expired", docs: vec![with(&|p| p.issue_instant = NOW - Duration::hours(1), 6)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::AcceptExpired] },
        Case { name: "S4 not yet valid", docs: vec![with(&|p| p.issue_instant = NOW + Duration::hours(1), 16)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::AcceptExpired] },
        Case { name: "S6 audience", docs: vec![with(&|p| p.audience = "urn:someone:else".into(), 7)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::IgnoreAudience] },
        Case { name: "S7 recipient", docs: vec![with(&|p| p.destination = "http://127.0.0.1:6666/acs".into(), 8)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::IgnoreRecipient] },
        Case { name: "S8 in_response_to", docs: vec![with(&|p| p.in_response_to = Some("_not_mine".into()), 9)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::IgnoreInResponseTo] },
        Case { name: "S9 unsolicited", docs: vec![signed(&params(10), SignWhat::Both)], allow_unsolicited: false, outstanding: None, admitted_by: &[Flaw::IgnoreInResponseTo] },
        Case { name: "S10 replay", docs: vec![signed(&params(11), SignWhat::Both); 2], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::AllowReplay] },
        Case { name: "S11 issuer", docs: vec![with(&|p| p.issuer = "http://evil.test/idp".into(), 13)], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::IgnoreIssuer] },
        Case { name: "S13 status", docs: vec![edited_then_signed(&params(14), |x| x.replace("status:Success", "status:Requester"))], allow_unsolicited: true, outstanding: None, admitted_by: &[] },
        Case { name: "S12 not bearer", docs: vec![edited_then_signed(&params(17), |x| x.replace("cm:bearer", "cm:holder-of-key"))], allow_unsolicited: true, outstanding: None, admitted_by: &[] },
        Case { name: "S14 xsw evil assertion first", docs: vec![xsw], allow_unsolicited: true, outstanding: None, admitted_by: &[Flaw::FirstAssertion] },
        Case { name: "S24 doctype", docs: vec![format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{}", honest.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"))], allow_unsolicited: true, outstanding: None, admitted_by: &[] },
    ]
}

fn run(case: &Case, flaws: &Flaws) -> Result<saml::Accepted, saml::Refusal> {
    let mut memory = TestMemory::default();
    if let Some(id) = case.outstanding {
        memory.requests.insert(id.into());
    }
    let s = settings(case.allow_unsolicited);
    let mut last = Err(saml::Refusal::NoAssertion);
    for doc in &case.docs {
        last = saml::check(doc, &s, NOW, &mut memory, flaws);
    }
    last
}

const SAML_FLAWS: &[Flaw] = &[
    Flaw::SkipSignature,
    Flaw::UnsignedAssertion,
    Flaw::IgnoreAudience,
    Flaw::IgnoreRecipient,
    Flaw::IgnoreInResponseTo,
    Flaw::AllowReplay,
    Flaw::AcceptExpired,
    Flaw::IgnoreIssuer,
    Flaw::FirstAssertion,
];

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
    assert!(wrong.is_empty(), "strict SP got these wrong:\n{}", wrong.join("\n"));
}

#[test]
fn each_flaw_admits_exactly_its_cases() {
    let cases = cases();
    let mut report = BTreeMap::new();
    for flaw in SAML_FLAWS {
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
    assert!(report.is_empty(), "flaws admitting the wrong cases (admitted, expected): {report:#?}");
}

#[test]
fn a_refusal_names_the_check_and_the_values() {
    let case = cases().into_iter().find(|c| c.name == "S6 audience").unwrap();
    let err = run(&case, &Flaws::none()).unwrap_err().to_string();
    assert_eq!(err, "Audience [\"urn:someone:else\"] does not include this SP `urn:auth0:qovery:acme`");
}

#[test]
fn xsw_with_the_flaw_reads_the_evil_assertion() {
    let case = cases().into_iter().find(|c| c.name.starts_with("S14")).unwrap();
    let ok = run(&case, &Flaws::none().with(Flaw::FirstAssertion)).unwrap();
    assert_eq!(ok.name_id, "mallory@evil.test");
}

#[test]
fn s22_comment_injection_the_strict_sp_keeps_the_whole_name_id() {
    let doc = edited_then_signed(&params(20), |x| {
        x.replace(">alice@acme.test</saml2:NameID>", ">alice@acme.test<!---->.evil.test</saml2:NameID>")
    });
    let mut m = TestMemory::default();
    let strict = saml::check(&doc, &settings(true), NOW, &mut m, &Flaws::none()).unwrap();
    assert_eq!(strict.name_id, "alice@acme.test.evil.test");
    let mut m = TestMemory::default();
    let flawed = saml::check(&doc, &settings(true), NOW, &mut m, &Flaws::none().with(Flaw::TruncateNameIdAtComment)).unwrap();
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
