//! The SAML attack faults (CONFORMANCE.md S1-S24), as data, applied to the honest signed
//! Response: the only place SAML login faults are made. Content faults re-sign the altered
//! document with the IdP's key (a valid IdP signature over wrong content, as an IdP issuing for
//! another SP or a stolen assertion would give); signature faults change the signature itself.

use time::{Duration, OffsetDateTime};

use super::signature::{SignError, sign_bare, strip_signatures};
use super::xml::instant;
use crate::config::SignWhat;
use crate::keys::SigningKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Unsigned,
    ResponseSignedOnly,
    ForeignKey,
    TamperedAfterSigning,
    Expired,
    NotYetValid,
    ConfirmationExpired,
    WrongAudience,
    WrongRecipient,
    WrongDestination,
    WrongInResponseTo,
    Unsolicited,
    Replay,
    WrongIssuer,
    NotBearer,
    NoRecipient,
    StatusNotSuccess,
    Xsw3EvilAssertionFirst,
    CommentInNameId,
    TwoAssertions,
    Doctype,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[
        Fault::Unsigned,
        Fault::ResponseSignedOnly,
        Fault::ForeignKey,
        Fault::TamperedAfterSigning,
        Fault::Expired,
        Fault::NotYetValid,
        Fault::ConfirmationExpired,
        Fault::WrongAudience,
        Fault::WrongRecipient,
        Fault::WrongDestination,
        Fault::WrongInResponseTo,
        Fault::Unsolicited,
        Fault::Replay,
        Fault::WrongIssuer,
        Fault::NotBearer,
        Fault::NoRecipient,
        Fault::StatusNotSuccess,
        Fault::Xsw3EvilAssertionFirst,
        Fault::CommentInNameId,
        Fault::TwoAssertions,
        Fault::Doctype,
    ];

    pub fn case(self) -> &'static str {
        match self {
            Fault::Unsigned | Fault::ResponseSignedOnly => "S1",
            Fault::ForeignKey => "S2",
            Fault::TamperedAfterSigning => "S3",
            Fault::Expired | Fault::NotYetValid => "S4",
            Fault::ConfirmationExpired => "S5",
            Fault::WrongAudience => "S6",
            Fault::WrongRecipient | Fault::WrongDestination => "S7",
            Fault::WrongInResponseTo => "S8",
            Fault::Unsolicited => "S9",
            Fault::Replay => "S10",
            Fault::WrongIssuer => "S11",
            Fault::NotBearer | Fault::NoRecipient => "S12",
            Fault::StatusNotSuccess => "S13",
            Fault::Xsw3EvilAssertionFirst => "S16",
            Fault::CommentInNameId => "S22",
            Fault::TwoAssertions => "S23",
            Fault::Doctype => "S24",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::Unsigned => "unsigned",
            Fault::ResponseSignedOnly => "assertion_unsigned_in_signed_response",
            Fault::ForeignKey => "signed_by_a_foreign_key",
            Fault::TamperedAfterSigning => "altered_after_signing",
            Fault::Expired => "expired",
            Fault::NotYetValid => "not_yet_valid",
            Fault::ConfirmationExpired => "confirmation_expired",
            Fault::WrongAudience => "audience_of_another_sp",
            Fault::WrongRecipient => "recipient_not_the_acs",
            Fault::WrongDestination => "destination_not_the_acs",
            Fault::WrongInResponseTo => "in_response_to_unknown",
            Fault::Unsolicited => "unsolicited",
            Fault::Replay => "replayed",
            Fault::WrongIssuer => "issuer_not_the_idp",
            Fault::NotBearer => "not_bearer",
            Fault::NoRecipient => "no_recipient",
            Fault::StatusNotSuccess => "status_not_success",
            Fault::Xsw3EvilAssertionFirst => "xsw3_evil_assertion_before_the_signed_one",
            Fault::CommentInNameId => "comment_in_name_id",
            Fault::TwoAssertions => "two_assertions",
            Fault::Doctype => "doctype_with_entities",
        }
    }
}

/// Values only forged documents carry: transcripts mark the lines that hold them.
pub const MARKERS: &[&str] = &[
    "urn:fakta:another-sp",
    "mallory@evil.invalid",
    "another-idp",
    "127.0.0.1:1/another-acs",
    "_not_a_request_of_this_sp",
    "holder-of-key",
    "status:Requester",
    "<!---->",
    "<!DOCTYPE",
    "id-evil-assertion",
    "id-second-assertion",
];

/// A forged Response and what was altered (for the transcript).
#[derive(Debug, Clone)]
pub struct Forged {
    pub xml: String,
    pub altered: String,
}

/// The ids of the honest document, to re-sign after an alteration.
#[derive(Debug, Clone)]
pub struct Ids<'a> {
    pub response_id: &'a str,
    pub assertion_id: &'a str,
}

fn replace_attr(xml: &str, attr: &str, new: &str) -> String {
    let re = regex::Regex::new(&format!(r#"\b{attr}="[^"]*""#)).ok();
    match re {
        Some(r) => r
            .replace_all(xml, format!("{attr}=\"{new}\"").as_str())
            .into_owned(),
        None => xml.to_owned(),
    }
}

fn replace_text(xml: &str, element: &str, new: &str) -> String {
    let re = regex::Regex::new(&format!(
        r"(<saml2:{element}\b[^>]*>)[^<]*(</saml2:{element}>)"
    ))
    .ok();
    match re {
        Some(r) => r
            .replace_all(xml, format!("${{1}}{new}${{2}}").as_str())
            .into_owned(),
        None => xml.to_owned(),
    }
}

/// An unsigned copy of the bare document's Assertion, with a new ID, for mallory.
fn evil_copy(bare: &str, assertion_id: &str, new_id: &str, name_id: &str) -> String {
    let start = bare.find("<saml2:Assertion").unwrap_or(0);
    let end = bare
        .find("</saml2:Assertion>")
        .map(|e| e + "</saml2:Assertion>".len())
        .unwrap_or(bare.len());
    bare[start..end]
        .replacen(
            &format!("ID=\"{assertion_id}\""),
            &format!("ID=\"{new_id}\""),
            1,
        )
        .replace(&format!(">{name_id}<"), ">mallory@evil.invalid<")
}

/// Applies `fault` to the honest signed Response.
#[expect(
    clippy::too_many_arguments,
    reason = "the honest document and everything needed to re-sign it"
)]
pub fn apply(
    fault: Fault,
    honest: &str,
    ids: &Ids<'_>,
    what: SignWhat,
    idp: &SigningKey,
    foreign: &SigningKey,
    now: OffsetDateTime,
    name_id: &str,
) -> Result<Forged, SignError> {
    let bare = strip_signatures(honest);
    let resign = |xml: &str, w: SignWhat| {
        sign_bare(
            xml,
            ids.response_id,
            ids.assertion_id,
            w,
            idp.private_der(),
            &idp.certificate.base64(),
        )
    };
    let f = |xml: String, altered: String| Ok(Forged { xml, altered });
    match fault {
        Fault::Unsigned => f(bare, "every ds:Signature removed".into()),
        Fault::ResponseSignedOnly => f(
            resign(&bare, SignWhat::Response)?,
            "only the Response is signed; the Assertion carries no signature".into(),
        ),
        Fault::ForeignKey => f(
            sign_bare(
                &bare,
                ids.response_id,
                ids.assertion_id,
                what,
                foreign.private_der(),
                &foreign.certificate.base64(),
            )?,
            "signed by a key that is not the IdP's (its own certificate in KeyInfo)".into(),
        ),
        Fault::TamperedAfterSigning => {
            let evil = honest.replacen(&format!(">{name_id}<"), ">mallory@evil.invalid<", 2);
            f(
                evil,
                format!(
                    "NameID/email changed from {name_id} to mallory@evil.invalid after signing"
                ),
            )
        }
        Fault::Expired => {
            let past = now - Duration::hours(2);
            let x = replace_attr(&bare, "NotBefore", &instant(past - Duration::minutes(5)));
            let x = replace_attr(&x, "NotOnOrAfter", &instant(past + Duration::minutes(5)));
            f(
                resign(&x, what)?,
                format!(
                    "NotOnOrAfter set to {} (two hours ago)",
                    instant(past + Duration::minutes(5))
                ),
            )
        }
        Fault::NotYetValid => {
            let later = now + Duration::hours(2);
            let x = replace_attr(&bare, "NotBefore", &instant(later));
            let x = replace_attr(&x, "NotOnOrAfter", &instant(later + Duration::minutes(5)));
            f(
                resign(&x, what)?,
                format!("NotBefore set to {} (in two hours)", instant(later)),
            )
        }
        Fault::ConfirmationExpired => {
            let re =
                regex::Regex::new(r#"(<saml2:SubjectConfirmationData[^>]*NotOnOrAfter=")[^"]*(")"#)
                    .ok();
            let past = instant(now - Duration::hours(2));
            let x = re
                .map(|r| {
                    r.replace(&bare, format!("${{1}}{past}${{2}}").as_str())
                        .into_owned()
                })
                .unwrap_or(bare);
            f(
                resign(&x, what)?,
                format!("SubjectConfirmationData NotOnOrAfter set to {past}"),
            )
        }
        Fault::WrongAudience => f(
            resign(
                &replace_text(&bare, "Audience", "urn:fakta:another-sp"),
                what,
            )?,
            "Audience set to urn:fakta:another-sp".into(),
        ),
        Fault::WrongRecipient => f(
            resign(
                &replace_attr(&bare, "Recipient", "http://127.0.0.1:1/another-acs"),
                what,
            )?,
            "Recipient set to http://127.0.0.1:1/another-acs".into(),
        ),
        Fault::WrongDestination => f(
            resign(
                &replace_attr(&bare, "Destination", "http://127.0.0.1:1/another-acs"),
                what,
            )?,
            "Destination set to http://127.0.0.1:1/another-acs".into(),
        ),
        Fault::WrongInResponseTo => f(
            resign(
                &replace_attr(&bare, "InResponseTo", "_not_a_request_of_this_sp"),
                what,
            )?,
            "InResponseTo set to _not_a_request_of_this_sp".into(),
        ),
        Fault::Unsolicited => {
            let x = regex::Regex::new(r#" InResponseTo="[^"]*""#)
                .map(|r| r.replace_all(&bare, "").into_owned())
                .unwrap_or(bare);
            f(
                resign(&x, what)?,
                "InResponseTo removed (unsolicited)".into(),
            )
        }
        Fault::Replay => f(
            honest.to_owned(),
            "the honest Response, posted a second time".into(),
        ),
        Fault::WrongIssuer => f(
            resign(
                &replace_text(&bare, "Issuer", "http://www.okta.com/another-idp"),
                what,
            )?,
            "Issuer set to http://www.okta.com/another-idp".into(),
        ),
        Fault::NotBearer => f(
            resign(
                &bare.replace(
                    "urn:oasis:names:tc:SAML:2.0:cm:bearer",
                    "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
                ),
                what,
            )?,
            "SubjectConfirmation Method set to holder-of-key".into(),
        ),
        Fault::NoRecipient => {
            let x = regex::Regex::new(r#" Recipient="[^"]*""#)
                .map(|r| r.replace_all(&bare, "").into_owned())
                .unwrap_or(bare);
            f(
                resign(&x, what)?,
                "Recipient removed from SubjectConfirmationData".into(),
            )
        }
        Fault::StatusNotSuccess => f(
            resign(
                &bare.replace(
                    "urn:oasis:names:tc:SAML:2.0:status:Success",
                    "urn:oasis:names:tc:SAML:2.0:status:Requester",
                ),
                what,
            )?,
            "StatusCode set to Requester".into(),
        ),
        Fault::Xsw3EvilAssertionFirst => {
            let good = resign(&bare, SignWhat::Assertion)?;
            let evil = evil_copy(&bare, ids.assertion_id, "id-evil-assertion", name_id);
            let at = good.find("<saml2:Assertion").unwrap_or(0);
            f(
                format!("{}{evil}{}", &good[..at], &good[at..]),
                "an unsigned copy of the Assertion for mallory@evil.invalid placed before the signed one".into(),
            )
        }
        Fault::CommentInNameId => {
            let full = format!("{name_id}.evil.test");
            let x = replace_text(&bare, "NameID", &full);
            let signed = resign(&x, what)?;
            f(
                signed.replacen(
                    &format!(">{full}<"),
                    &format!(">{name_id}<!---->.evil.test<"),
                    1,
                ),
                format!(
                    "NameID {full} signed, then a comment inserted after {name_id} (exclusive c14n ignores comments, so the signature holds)"
                ),
            )
        }
        Fault::TwoAssertions => {
            let good = resign(&bare, SignWhat::Assertion)?;
            let evil = evil_copy(&bare, ids.assertion_id, "id-second-assertion", name_id);
            let at = good.find("</saml2p:Response>").unwrap_or(good.len());
            f(
                format!("{}{evil}{}", &good[..at], &good[at..]),
                "a second, unsigned Assertion for mallory@evil.invalid after the signed one".into(),
            )
        }
        Fault::Doctype => {
            let body = honest
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                .trim_start();
            f(
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY ext SYSTEM \"http://127.0.0.1:1/xxe\">]>{body}"
                ),
                "a DOCTYPE with internal and external entities prepended".into(),
            )
        }
    }
}
