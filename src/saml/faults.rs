//! The SAML attack faults (S1-S24, S27-S31 in docs/catalogue.md), as data, applied to the
//! honest signed Response: the only place SAML login faults are made. Content faults re-sign
//! the altered document with the IdP's key (a valid IdP signature over wrong content, as an IdP
//! issuing for another SP or a stolen assertion would give); signature faults change the
//! signature itself (S2 and its key-value variants, S30's comment in each DigestValue); S31 is
//! no longer one document. For an app that encrypts its assertions every fault is forged in
//! encrypted form ([`apply_with`], [`Fault::encrypted_form`]).

use time::{Duration, OffsetDateTime};

use super::signature::{Options, SignError, sign_bare_key_info, sign_bare_with, strip_signatures};
use super::xml::{self, instant};
use crate::config::SignWhat;
use crate::keys::SigningKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::VariantArray)]
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
    Xsw1,
    Xsw2,
    Xsw3EvilAssertionFirst,
    Xsw4,
    Xsw5,
    Xsw6,
    Xsw7,
    Xsw8,
    CommentInNameId,
    TwoAssertions,
    Doctype,
    /// A DOCTYPE whose external entity the NameID references: the SP must refuse it without
    /// fetching the entity (the IdP counts requests to its URL).
    ExternalEntity,
    /// The Destination is the ACS URL followed by `-elsewhere`: an SP comparing by prefix
    /// takes it.
    DestinationAcsDashElsewhere,
    /// The Destination is the ACS URL followed by one more character.
    DestinationAcsPlusALetter,
    /// The Destination is the ACS URL followed by `/../other`: another path once resolved.
    DestinationAcsDotDotOther,
    /// The bearer Recipient is another site's URL that merely contains the ACS URL (in its
    /// query): an SP comparing by substring takes it.
    RecipientContainingTheAcs,
    /// S2 with the foreign public key as a bare `ds:KeyValue` (no certificate): verifiers that
    /// let the document choose the key accept it (pysaml2 CVE-2021-21239).
    ForeignKeyValue,
    /// S2 with a KeyInfo carrying the IdP's real certificate and, beside it, a `ds:KeyValue` of
    /// the foreign key that actually signed.
    ForeignKeyValueBesideIdpCert,
    /// S30: NameID and email altered after signing; each DigestValue starts with a comment
    /// holding the digest of the altered element (xml-crypto CVE-2025-29775). The Assertion
    /// alone is signed.
    DigestCommentAssertion,
    /// S30, the Response alone signed.
    DigestCommentResponse,
    /// S30, both signed.
    DigestCommentBoth,
    /// S31: the IdP-signed Assertion as a first root element, then a forged Response for
    /// mallory (passport-saml CVE-2022-39299).
    TwoRoots,
    /// S27: the honest signed Response with its Assertion in clear, to an SP that has
    /// encryption configured (`apps[].encryption`).
    PlainAssertion,
    /// S28: an Assertion for mallory, signed by no one, encrypted for the SP (its encryption
    /// certificate is public): only the inner signature could show who made it.
    EncryptedUnsigned,
    /// S28: the Assertion signed by the IdP, then altered (mallory) and encrypted: the inner
    /// signature no longer verifies; the Response is signed as the app says.
    EncryptedSignatureBroken,
    /// S29: the Response signed RSA-SHA1 over SHA-1 digests (a downgrade from the SHA-256 the
    /// SP is configured for), by the IdP's key, asserting mallory.
    Sha1Signed,
}

impl Fault {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Wrapping and multi-assertion cases: the forged document also carries the honest, signed
    /// Assertion, so an SP that uses only what the signature covers logs in the honest user
    /// ("accepted, not fooled"), which the SAML profiles allow.
    pub fn wrapping(self) -> bool {
        matches!(
            self,
            Fault::Xsw1
                | Fault::Xsw2
                | Fault::Xsw3EvilAssertionFirst
                | Fault::Xsw4
                | Fault::Xsw5
                | Fault::Xsw6
                | Fault::Xsw7
                | Fault::Xsw8
                | Fault::TwoAssertions
        )
    }

    pub fn case(self) -> &'static str {
        match self {
            Fault::Unsigned | Fault::ResponseSignedOnly => "S1",
            Fault::ForeignKey | Fault::ForeignKeyValue | Fault::ForeignKeyValueBesideIdpCert => {
                "S2"
            }
            Fault::TamperedAfterSigning => "S3",
            Fault::Expired | Fault::NotYetValid => "S4",
            Fault::ConfirmationExpired => "S5",
            Fault::WrongAudience => "S6",
            Fault::WrongRecipient
            | Fault::WrongDestination
            | Fault::DestinationAcsDashElsewhere
            | Fault::DestinationAcsPlusALetter
            | Fault::DestinationAcsDotDotOther
            | Fault::RecipientContainingTheAcs => "S7",
            Fault::WrongInResponseTo => "S8",
            Fault::Unsolicited => "S9",
            Fault::Replay => "S10",
            Fault::WrongIssuer => "S11",
            Fault::NotBearer | Fault::NoRecipient => "S12",
            Fault::StatusNotSuccess => "S13",
            Fault::Xsw1 => "S14",
            Fault::Xsw2 => "S15",
            Fault::Xsw3EvilAssertionFirst => "S16",
            Fault::Xsw4 => "S17",
            Fault::Xsw5 => "S18",
            Fault::Xsw6 => "S19",
            Fault::Xsw7 => "S20",
            Fault::Xsw8 => "S21",
            Fault::CommentInNameId => "S22",
            Fault::TwoAssertions => "S23",
            Fault::Doctype | Fault::ExternalEntity => "S24",
            Fault::DigestCommentAssertion
            | Fault::DigestCommentResponse
            | Fault::DigestCommentBoth => "S30",
            Fault::TwoRoots => "S31",
            Fault::PlainAssertion => "S27",
            Fault::EncryptedUnsigned | Fault::EncryptedSignatureBroken => "S28",
            Fault::Sha1Signed => "S29",
        }
    }

    /// How the forgery is made for an app that encrypts its assertions ([`apply_with`] with
    /// `options.encrypt`), for docs/catalogue.md: the plaintext is forged as in clear, then
    /// encrypted the way the app's settings say.
    pub fn encrypted_form(self) -> &'static str {
        match self {
            Fault::Unsigned => "the Assertion for mallory encrypted for the SP; nothing is signed",
            Fault::ResponseSignedOnly => {
                "the unsigned Assertion encrypted; the Response signed by the IdP over the \
                 EncryptedAssertion"
            }
            Fault::ForeignKey | Fault::ForeignKeyValue | Fault::ForeignKeyValueBesideIdpCert => {
                "signed by the foreign key in the app's order (the Assertion signed, encrypted, \
                 then the Response signed over the EncryptedAssertion), KeyInfo as in clear"
            }
            Fault::TamperedAfterSigning => {
                "the IdP-signed Assertion altered, then encrypted; the Response keeps the \
                 signature the IdP made over the honest content, which no longer matches"
            }
            Fault::Expired
            | Fault::NotYetValid
            | Fault::ConfirmationExpired
            | Fault::WrongAudience
            | Fault::WrongRecipient
            | Fault::WrongDestination
            | Fault::DestinationAcsDashElsewhere
            | Fault::DestinationAcsPlusALetter
            | Fault::DestinationAcsDotDotOther
            | Fault::RecipientContainingTheAcs
            | Fault::WrongInResponseTo
            | Fault::Unsolicited
            | Fault::WrongIssuer
            | Fault::NotBearer
            | Fault::NoRecipient
            | Fault::StatusNotSuccess
            | Fault::Sha1Signed => {
                "the altered document signed by the IdP in the app's order: the Assertion \
                 signed, encrypted for the SP, then the Response signed over the \
                 EncryptedAssertion"
            }
            Fault::Replay => "the honest encrypted Response, posted a second time",
            Fault::Xsw1 | Fault::Xsw2 => {
                "the honest Response as the app sends it (its Assertion encrypted, its signature \
                 over the EncryptedAssertion) wrapped as in clear; the evil Assertion is \
                 encrypted for the SP too (its encryption certificate is public), since an SP \
                 that takes only encrypted assertions refuses a clear one whatever else it does"
            }
            Fault::Xsw3EvilAssertionFirst
            | Fault::Xsw4
            | Fault::Xsw5
            | Fault::Xsw6
            | Fault::Xsw7
            | Fault::Xsw8
            | Fault::TwoAssertions => {
                "built as in clear, then every Assertion of the document encrypted for the SP, \
                 each in its own EncryptedAssertion (one nested in another, as XSW4's wrapper \
                 holds the signed one, goes inside it): injected assertions are encrypted as an \
                 attacker can, so what is judged is which Assertion the SP uses after decrypting"
            }
            Fault::CommentInNameId => {
                "the comment goes into the NameID after the Assertion's signature, before the \
                 encryption; the Response signed over the EncryptedAssertion"
            }
            Fault::Doctype => "the DOCTYPE prepended to the honest encrypted Response",
            Fault::ExternalEntity => {
                "the DOCTYPE prepended to the encrypted Response; the entity reference is in \
                 the NameID inside the encrypted Assertion (an SP that decrypts within the \
                 document would expand it); an SP that fetches the entity is seen either way"
            }
            Fault::DigestCommentAssertion
            | Fault::DigestCommentResponse
            | Fault::DigestCommentBoth => {
                "the Assertion signed, altered and its DigestValue commented in clear, then \
                 encrypted; the Response keeps the IdP's signature over the honest \
                 ciphertext, its DigestValue led by a comment holding the digest of the \
                 Response with the new EncryptedAssertion"
            }
            Fault::TwoRoots => {
                "the first root stays the IdP-signed Assertion in clear (a signed document is \
                 all the attack needs there); the forged Response's Assertion is encrypted \
                 for the SP"
            }
            Fault::PlainAssertion => "the case itself: the Assertion sent in clear",
            Fault::EncryptedUnsigned | Fault::EncryptedSignatureBroken => {
                "the case itself: encrypted for the SP"
            }
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
            Fault::Xsw1 => "xsw1_evil_response_wraps_the_signed_one_in_its_signature",
            Fault::Xsw2 => "xsw2_evil_response_with_the_signed_one_before_its_signature",
            Fault::Xsw3EvilAssertionFirst => "xsw3_evil_assertion_before_the_signed_one",
            Fault::Xsw4 => "xsw4_evil_assertion_wraps_the_signed_one",
            Fault::Xsw5 => "xsw5_evil_assertion_keeps_the_signature_copy_at_the_end",
            Fault::Xsw6 => "xsw6_evil_assertion_copy_inside_its_signature",
            Fault::Xsw7 => "xsw7_evil_assertion_in_extensions",
            Fault::Xsw8 => "xsw8_evil_assertion_copy_in_a_signature_object",
            Fault::CommentInNameId => "comment_in_name_id",
            Fault::TwoAssertions => "two_assertions",
            Fault::Doctype => "doctype_with_entities",
            Fault::ExternalEntity => "external_entity_referenced",
            Fault::DestinationAcsDashElsewhere => "destination_the_acs_dash_elsewhere",
            Fault::DestinationAcsPlusALetter => "destination_the_acs_plus_a_letter",
            Fault::DestinationAcsDotDotOther => "destination_the_acs_dot_dot_other",
            Fault::RecipientContainingTheAcs => "recipient_containing_the_acs",
            Fault::ForeignKeyValue => "signed_by_a_foreign_key_value_without_certificate",
            Fault::ForeignKeyValueBesideIdpCert => {
                "signed_by_a_foreign_key_value_beside_the_idp_certificate"
            }
            Fault::DigestCommentAssertion => "digest_in_a_comment_assertion_signed",
            Fault::DigestCommentResponse => "digest_in_a_comment_response_signed",
            Fault::DigestCommentBoth => "digest_in_a_comment_both_signed",
            Fault::TwoRoots => "signed_assertion_then_a_second_root",
            Fault::PlainAssertion => "assertion_not_encrypted",
            Fault::EncryptedUnsigned => "encrypted_assertion_unsigned",
            Fault::EncryptedSignatureBroken => "encrypted_assertion_signature_broken",
            Fault::Sha1Signed => "signed_with_sha1",
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
    "&ext;",
    "\"id-evil-",
    "\"id-second-",
    "-elsewhere\"",
    "/../other\"",
    "http://evil.test/",
];

/// The identity every forged document asserts instead of the honest one (NameID and email).
pub const FORGED_IDENTITY: &str = "mallory@evil.invalid";

/// The honest identity of a Response: its NameID and the user's email, as written (escaped).
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub name_id: &'a str,
    pub email: &'a str,
}

impl Identity<'_> {
    /// `xml` with the honest NameID and email values replaced by [`FORGED_IDENTITY`].
    fn forge(&self, xml: &str) -> String {
        let mut out = xml.to_owned();
        for v in [self.name_id, self.email] {
            if !v.is_empty() {
                out = out.replace(
                    &format!(">{}<", xml::escape(v)),
                    &format!(">{FORGED_IDENTITY}<"),
                );
            }
        }
        out
    }
}

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
    /// Where the external entity of S24 points: a URL of the IdP that counts requests, so that
    /// an SP fetching it is seen.
    pub xxe_url: &'a str,
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

/// The (escaped) value of the first `attr="..."` in `xml`.
fn attr_value(xml: &str, attr: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"\b{attr}="([^"]*)""#)).ok()?;
    Some(re.captures(xml)?.get(1)?.as_str().to_owned())
}

fn remove_attr(xml: &str, attr: &str) -> String {
    match regex::Regex::new(&format!(r#" {attr}="[^"]*""#)) {
        Ok(r) => r.replace_all(xml, "").into_owned(),
        Err(_) => xml.to_owned(),
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
fn evil_copy(bare: &str, assertion_id: &str, new_id: &str, who: &Identity<'_>) -> String {
    let start = bare.find("<saml2:Assertion").unwrap_or(0);
    let end = bare
        .find("</saml2:Assertion>")
        .map(|e| e + "</saml2:Assertion>".len())
        .unwrap_or(bare.len());
    let copy = bare[start..end].replacen(
        &format!("ID=\"{assertion_id}\""),
        &format!("ID=\"{new_id}\""),
        1,
    );
    who.forge(&copy)
}

/// The first `<ds:Signature>...</ds:Signature>` block at or after `from`: (start, end).
fn signature_span(xml: &str, from: usize) -> Option<(usize, usize)> {
    let start = xml[from..].find("<ds:Signature")? + from;
    let end = xml[start..].find("</ds:Signature>")? + start + "</ds:Signature>".len();
    Some((start, end))
}

/// The first EncryptedAssertion element of a document: (start, end).
fn encrypted_assertion_span(xml: &str) -> Option<(usize, usize)> {
    let start = xml.find("<saml2:EncryptedAssertion")?;
    let close = "</saml2:EncryptedAssertion>";
    let end = xml[start..].find(close)? + start + close.len();
    Some((start, end))
}

/// The most Assertions a forged document holds (S23, XSW5, XSW7: two).
const MAX_FORGED_ASSERTIONS: usize = 4;

/// The first Assertion element of a document: (start, end).
fn assertion_span(xml: &str) -> Option<(usize, usize)> {
    let start = xml.find("<saml2:Assertion")?;
    let end = xml.find("</saml2:Assertion>")? + "</saml2:Assertion>".len();
    Some((start, end))
}

/// XSW shapes built from a document whose Assertion alone is signed (`good`): `evil` is an
/// unsigned Assertion for mallory with a new ID; `copy` is the honest Assertion without its
/// signature; `signed` is the honest signed Assertion.
fn assertion_wrap(
    fault: Fault,
    good: &str,
    evil: &str,
    ids: &Ids<'_>,
    who: &Identity<'_>,
) -> Option<String> {
    let (a0, a1) = assertion_span(good)?;
    let signed = &good[a0..a1];
    let (s0, s1) = signature_span(signed, 0)?;
    let copy = format!("{}{}", &signed[..s0], &signed[s1..]);
    // The signed Assertion turned evil: new ID, mallory, its original signature kept (which
    // still names the honest ID).
    let evil_keeping_sig = who.forge(&signed.replacen(
        &format!("ID=\"{}\"", ids.assertion_id),
        &format!("ID=\"id-evil-{}\"", ids.assertion_id),
        1,
    ));
    let (head, tail) = (&good[..a0], &good[a1..]);
    Some(match fault {
        Fault::Xsw4 => {
            let open_end = evil.find("</saml2:Assertion>")?;
            format!(
                "{head}{}{signed}</saml2:Assertion>{tail}",
                &evil[..open_end]
            )
        }
        Fault::Xsw5 => {
            let close = tail.rfind("</saml2p:Response>")?;
            format!(
                "{head}{evil_keeping_sig}{}{copy}{}",
                &tail[..close],
                &tail[close..]
            )
        }
        Fault::Xsw6 | Fault::Xsw8 => {
            let (e0, e1) = signature_span(&evil_keeping_sig, 0)?;
            let inner_close = e1 - "</ds:Signature>".len();
            let inserted = if fault == Fault::Xsw6 {
                copy.clone()
            } else {
                format!("<ds:Object>{copy}</ds:Object>")
            };
            format!(
                "{head}{}{}{}{}{tail}",
                &evil_keeping_sig[..e0],
                &evil_keeping_sig[e0..inner_close],
                inserted,
                &evil_keeping_sig[inner_close..]
            )
        }
        Fault::Xsw7 => {
            let issuer_end = good.find("</saml2:Issuer>")? + "</saml2:Issuer>".len();
            format!(
                "{}<saml2p:Extensions>{evil}</saml2p:Extensions>{}",
                &good[..issuer_end],
                &good[issuer_end..]
            )
        }
        _ => return None,
    })
}

/// `<ds:KeyValue>` with the RSA public key of `key` (base64 of the big-endian modulus and
/// exponent, XML Signature §4.4.2.2).
fn rsa_key_value(key: &SigningKey) -> Result<String, SignError> {
    use base64::Engine;
    let rsa = key.pkey().rsa()?;
    let b64 =
        |n: &openssl::bn::BigNumRef| base64::engine::general_purpose::STANDARD.encode(n.to_vec());
    Ok(format!(
        "<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>{}</ds:Modulus><ds:Exponent>{}</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>",
        b64(rsa.n()),
        b64(rsa.e())
    ))
}

/// S30: `signed` with the forged identity put in after signing, and each `ds:DigestValue`
/// given a first child `<!--digest of the altered element-->` before the genuine digest text.
/// Exclusive c14n without comments drops the comment, so SignedInfo and its SignatureValue
/// still verify; a verifier that takes the digest from the DigestValue's first child node
/// compares the altered content with the comment and is satisfied.
fn digest_in_comment(signed: &str, who: &Identity<'_>) -> Result<String, SignError> {
    use base64::Engine;
    let altered = who.forge(signed);
    let doc = roxmltree::Document::parse(&altered)
        .map_err(|e| SignError::Native(format!("the altered document is not XML: {e}")))?;
    let dsig = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.is_element()
            && n.tag_name().name() == name
            && n.tag_name().namespace() == Some(super::ns::DSIG)
    };
    // (where the DigestValue's content starts, the comment to put there)
    let mut inserts = Vec::new();
    for sig in doc.descendants().filter(|n| dsig(n, "Signature")) {
        for reference in sig.descendants().filter(|n| dsig(n, "Reference")) {
            let id = reference
                .attribute("URI")
                .and_then(|u| u.strip_prefix('#'))
                .unwrap_or_default();
            let Some(element) = doc
                .descendants()
                .find(|n| n.is_element() && n.attribute("ID") == Some(id))
            else {
                continue;
            };
            let own_signature = element.children().find(|c| dsig(c, "Signature"));
            let canonical = super::c14n::canonicalize(element, own_signature.map(|s| s.id()));
            let digest =
                openssl::hash::hash(openssl::hash::MessageDigest::sha256(), canonical.as_bytes())?;
            let Some(value) = reference.descendants().find(|n| dsig(n, "DigestValue")) else {
                continue;
            };
            let at = value.range().start + "<ds:DigestValue>".len();
            inserts.push((
                at,
                format!(
                    "<!--{}-->",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                ),
            ));
        }
    }
    let mut out = altered.clone();
    // From the end, so the earlier offsets stay valid.
    inserts.sort_by_key(|i| std::cmp::Reverse(i.0));
    for (at, comment) in inserts {
        out.insert_str(at, &comment);
    }
    Ok(out)
}

/// Applies `fault` to the honest signed Response (RSA-SHA256, in clear).
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
    who: &Identity<'_>,
) -> Result<Forged, SignError> {
    apply_with(
        fault,
        honest,
        ids,
        what,
        &Options::default(),
        idp,
        foreign,
        now,
        who,
    )
}

/// Applies `fault` to the honest signed Response, whose Assertion is in clear: re-signed with
/// the app's algorithms. For an app that encrypts (`options.encrypt`), every forgery is made on
/// the plaintext and then encrypted the way the app's settings say, in the app's order (the
/// Assertion signed, encrypted, then the Response signed over the `EncryptedAssertion`); an
/// Assertion the forgery injects (the wrapping cases, S23, S31's second root) is encrypted
/// too, as an attacker can with the SP's public encryption certificate, so an SP that takes
/// only encrypted assertions is judged on what it does after decrypting. Signatures the
/// attacker cannot make stay the IdP's: S3's Response signature is the one over the honest
/// content, S30's Response DigestValue gets its comment over the new ciphertext.
#[expect(
    clippy::too_many_arguments,
    reason = "the honest document and everything needed to re-sign it"
)]
pub fn apply_with(
    fault: Fault,
    honest: &str,
    ids: &Ids<'_>,
    what: SignWhat,
    options: &Options<'_>,
    idp: &SigningKey,
    foreign: &SigningKey,
    now: OffsetDateTime,
    who: &Identity<'_>,
) -> Result<Forged, SignError> {
    let name_id = who.name_id;
    let bare = strip_signatures(honest);
    // Content and signature faults assert the forged identity: an SP that takes such a
    // document shows mallory, never the honest user.
    let evil = who.forge(&bare);
    let in_clear = Options {
        algorithms: options.algorithms,
        encrypt: None,
    };
    let resign_with = |xml: &str, w: SignWhat, o: &Options<'_>| {
        sign_bare_with(
            xml,
            ids.response_id,
            ids.assertion_id,
            w,
            o,
            idp.private_der(),
            &idp.certificate.base64(),
        )
    };
    let resign = |xml: &str, w: SignWhat| resign_with(xml, w, &in_clear);
    // Signed as the app signs: for an app that encrypts, the Assertion is encrypted between
    // its signature and the Response's.
    let as_app = |xml: &str, w: SignWhat| resign_with(xml, w, options);
    let encrypts = options.encrypt.is_some();
    // The first Assertion of `xml` (an Assertion element alone too) encrypted for the SP.
    let encrypt = |xml: &str| match options.encrypt {
        Some(e) => e(xml),
        None => Ok(xml.to_owned()),
    };
    // Every Assertion of a forged document encrypted, each in its own EncryptedAssertion (one
    // nested in another goes with the outer one).
    let encrypt_all = |xml: &str| -> Result<String, SignError> {
        let mut out = xml.to_owned();
        if encrypts {
            for _ in 0..MAX_FORGED_ASSERTIONS {
                if !out.contains("<saml2:Assertion ") {
                    break;
                }
                out = encrypt(&out)?;
            }
        }
        Ok(out)
    };
    let f = |xml: String, altered: String| Ok(Forged { xml, altered });
    match fault {
        Fault::PlainAssertion => f(
            honest.to_owned(),
            "the Assertion is sent in clear (signed as usual), not encrypted for the SP".into(),
        ),
        Fault::EncryptedUnsigned => f(
            encrypt(&evil)?,
            format!(
                "an unsigned Assertion for {FORGED_IDENTITY}, encrypted with the SP's (public) encryption certificate; nothing is signed"
            ),
        ),
        Fault::EncryptedSignatureBroken => {
            let signed = resign(&bare, SignWhat::Assertion)?;
            let xml = encrypt(&who.forge(&signed))?;
            let xml = if what == SignWhat::Assertion {
                xml
            } else {
                resign(&xml, SignWhat::Response)?
            };
            f(
                xml,
                format!(
                    "NameID/email changed to {FORGED_IDENTITY} after the Assertion was signed, then encrypted (its signature no longer verifies){}",
                    if what == SignWhat::Assertion {
                        ""
                    } else {
                        "; the Response signed over the EncryptedAssertion"
                    }
                ),
            )
        }
        Fault::Sha1Signed => {
            let sha1 = Options {
                algorithms: crate::saml::response::Algorithms {
                    signature: crate::config::SignatureAlgorithm::RsaSha1,
                    digest: crate::config::DigestAlgorithm::Sha1,
                },
                encrypt: options.encrypt,
            };
            f(
                resign_with(&evil, what, &sha1)?,
                format!(
                    "signed RSA-SHA1 over SHA-1 digests (the IdP's key), asserting {FORGED_IDENTITY}: the content a SHA-1 collision would let an attacker substitute"
                ),
            )
        }
        Fault::Unsigned => f(encrypt(&evil)?, "every ds:Signature removed".into()),
        Fault::ResponseSignedOnly => f(
            as_app(&evil, SignWhat::Response)?,
            "only the Response is signed; the Assertion carries no signature".into(),
        ),
        Fault::ForeignKey => f(
            sign_bare_with(
                &evil,
                ids.response_id,
                ids.assertion_id,
                what,
                options,
                foreign.private_der(),
                &foreign.certificate.base64(),
            )?,
            "signed by a key that is not the IdP's (its own certificate in KeyInfo)".into(),
        ),
        // Encrypted: the altered plaintext is encrypted; the Response keeps the IdP's signature,
        // made over the honest content, which no longer matches.
        Fault::TamperedAfterSigning => f(
            encrypt(&who.forge(honest))?,
            format!(
                "NameID/email changed from {name_id}/{} to {FORGED_IDENTITY} after signing",
                who.email
            ),
        ),
        Fault::Expired => {
            let past = now - Duration::hours(2);
            let x = replace_attr(&evil, "NotBefore", &instant(past - Duration::minutes(5)));
            let x = replace_attr(&x, "NotOnOrAfter", &instant(past + Duration::minutes(5)));
            f(
                as_app(&x, what)?,
                format!(
                    "NotOnOrAfter set to {} (two hours ago)",
                    instant(past + Duration::minutes(5))
                ),
            )
        }
        Fault::NotYetValid => {
            let later = now + Duration::hours(2);
            let x = replace_attr(&evil, "NotBefore", &instant(later));
            let x = replace_attr(&x, "NotOnOrAfter", &instant(later + Duration::minutes(5)));
            f(
                as_app(&x, what)?,
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
                    r.replace(&evil, format!("${{1}}{past}${{2}}").as_str())
                        .into_owned()
                })
                .unwrap_or(evil);
            f(
                as_app(&x, what)?,
                format!("SubjectConfirmationData NotOnOrAfter set to {past}"),
            )
        }
        Fault::WrongAudience => f(
            as_app(
                &replace_text(&evil, "Audience", "urn:fakta:another-sp"),
                what,
            )?,
            "Audience set to urn:fakta:another-sp".into(),
        ),
        Fault::WrongRecipient => f(
            as_app(
                &replace_attr(&evil, "Recipient", "http://127.0.0.1:1/another-acs"),
                what,
            )?,
            "Recipient set to http://127.0.0.1:1/another-acs".into(),
        ),
        Fault::WrongDestination => f(
            as_app(
                &replace_attr(&evil, "Destination", "http://127.0.0.1:1/another-acs"),
                what,
            )?,
            "Destination set to http://127.0.0.1:1/another-acs".into(),
        ),
        Fault::DestinationAcsDashElsewhere
        | Fault::DestinationAcsPlusALetter
        | Fault::DestinationAcsDotDotOther => {
            // The honest Destination is the ACS URL (escaped as written).
            let acs = attr_value(&evil, "Destination").unwrap_or_default();
            let to = match fault {
                Fault::DestinationAcsDashElsewhere => format!("{acs}-elsewhere"),
                Fault::DestinationAcsPlusALetter => format!("{acs}x"),
                _ => format!("{}/../other", acs.trim_end_matches('/')),
            };
            f(
                as_app(&replace_attr(&evil, "Destination", &to), what)?,
                format!("Destination set to {to} (the ACS URL is only its prefix)"),
            )
        }
        Fault::RecipientContainingTheAcs => {
            let acs = attr_value(&evil, "Recipient").unwrap_or_default();
            let to = format!("http://evil.test/?{acs}");
            f(
                as_app(&replace_attr(&evil, "Recipient", &to), what)?,
                format!("Recipient set to {to} (it only contains the ACS URL)"),
            )
        }
        Fault::WrongInResponseTo => f(
            as_app(
                &replace_attr(&evil, "InResponseTo", "_not_a_request_of_this_sp"),
                what,
            )?,
            "InResponseTo set to _not_a_request_of_this_sp".into(),
        ),
        Fault::Unsolicited => f(
            as_app(&remove_attr(&evil, "InResponseTo"), what)?,
            "InResponseTo removed (unsolicited)".into(),
        ),
        Fault::Replay => f(
            if encrypts {
                as_app(&bare, what)?
            } else {
                honest.to_owned()
            },
            "the honest Response, posted a second time".into(),
        ),
        Fault::WrongIssuer => f(
            as_app(
                &replace_text(&evil, "Issuer", "http://www.okta.com/another-idp"),
                what,
            )?,
            "Issuer set to http://www.okta.com/another-idp".into(),
        ),
        Fault::NotBearer => f(
            as_app(
                &evil.replace(
                    "urn:oasis:names:tc:SAML:2.0:cm:bearer",
                    "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
                ),
                what,
            )?,
            "SubjectConfirmation Method set to holder-of-key".into(),
        ),
        Fault::NoRecipient => f(
            as_app(&remove_attr(&evil, "Recipient"), what)?,
            "Recipient removed from SubjectConfirmationData".into(),
        ),
        Fault::StatusNotSuccess => f(
            as_app(
                &evil.replace(
                    "urn:oasis:names:tc:SAML:2.0:status:Success",
                    "urn:oasis:names:tc:SAML:2.0:status:Requester",
                ),
                what,
            )?,
            "StatusCode set to Requester".into(),
        ),
        Fault::Xsw3EvilAssertionFirst => {
            let good = resign(&bare, SignWhat::Assertion)?;
            let evil = evil_copy(
                &bare,
                ids.assertion_id,
                &format!("id-evil-{}", ids.assertion_id),
                who,
            );
            let at = good.find("<saml2:Assertion").unwrap_or(0);
            f(
                encrypt_all(&format!("{}{evil}{}", &good[..at], &good[at..]))?,
                "an unsigned copy of the Assertion for mallory@evil.invalid placed before the signed one".into(),
            )
        }
        Fault::Xsw1 | Fault::Xsw2 => {
            // Response-level wrapping: the document's root becomes an evil Response (new IDs,
            // mallory) holding the honest signed Response's signature, with the honest Response
            // (less its own signature) inside that signature (XSW1) or before it (XSW2).
            // Encrypted: the honest Response as the app signs it (over its EncryptedAssertion);
            // the evil Assertion encrypted for the SP.
            let both = as_app(&bare, SignWhat::Both)?;
            let issuer_end = both.find("</saml2:Issuer>").unwrap_or(0) + "</saml2:Issuer>".len();
            let (s0, s1) = signature_span(&both, issuer_end).unwrap_or((issuer_end, issuer_end));
            let sig = &both[s0..s1];
            let honest_response = format!("{}{}", &both[..s0], &both[s1..]);
            let honest_response = honest_response
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                .trim_start()
                .to_owned();
            let evil = encrypt(&evil_copy(
                &bare,
                ids.assertion_id,
                &format!("id-evil-{}", ids.assertion_id),
                who,
            ))?;
            let root_open_end = bare.find("<saml2:Issuer").unwrap_or(0);
            let root_open = bare[..root_open_end].replacen(
                &format!("ID=\"{}\"", ids.response_id),
                &format!("ID=\"id-evil-{}\"", ids.response_id),
                1,
            );
            let issuer = &bare[root_open_end
                ..bare.find("</saml2:Issuer>").unwrap_or(0) + "</saml2:Issuer>".len()];
            let status_start = bare.find("<saml2p:Status").unwrap_or(0);
            let (a0, _) = assertion_span(&bare).unwrap_or((status_start, status_start));
            let status = &bare[status_start..a0];
            let sig_open_end = sig.len() - "</ds:Signature>".len();
            let body = if fault == Fault::Xsw1 {
                format!(
                    "{}{honest_response}</ds:Signature>{status}{evil}",
                    &sig[..sig_open_end]
                )
            } else {
                format!("{honest_response}{sig}{status}{evil}")
            };
            f(
                format!("{root_open}{issuer}{body}</saml2p:Response>"),
                format!(
                    "the root is an evil Response (id-evil-...) for mallory@evil.invalid; the honest signed Response sits {} its signature",
                    if fault == Fault::Xsw1 {
                        "inside"
                    } else {
                        "before"
                    }
                ),
            )
        }
        Fault::Xsw4 | Fault::Xsw5 | Fault::Xsw6 | Fault::Xsw7 | Fault::Xsw8 => {
            let good = resign(&bare, SignWhat::Assertion)?;
            let evil = evil_copy(
                &bare,
                ids.assertion_id,
                &format!("id-evil-{}", ids.assertion_id),
                who,
            );
            let xml = assertion_wrap(fault, &good, &evil, ids, who).unwrap_or(good);
            let what = match fault {
                Fault::Xsw4 => "an evil Assertion for mallory wraps the signed one",
                Fault::Xsw5 => {
                    "the signed Assertion turned evil (new ID, mallory) keeps its signature; an unsigned copy of the honest one is appended to the Response"
                }
                Fault::Xsw6 => {
                    "the signed Assertion turned evil keeps its signature, which now holds an unsigned copy of the honest one"
                }
                Fault::Xsw7 => {
                    "an evil Assertion for mallory inside samlp:Extensions, before the signed one"
                }
                _ => {
                    "the signed Assertion turned evil keeps its signature, whose ds:Object holds an unsigned copy of the honest one"
                }
            };
            f(encrypt_all(&xml)?, what.into())
        }
        Fault::CommentInNameId => {
            let full = format!("{name_id}.evil.test");
            let x = replace_text(&bare, "NameID", &full);
            let comment = |xml: &str| {
                xml.replacen(
                    &format!(">{full}<"),
                    &format!(">{name_id}<!---->.evil.test<"),
                    1,
                )
            };
            // Encrypted: the comment goes in after the Assertion's signature, before the
            // encryption (and so before the Response's signature).
            let commented_then_encrypted = |xml: &str| encrypt(&comment(xml));
            let signed = if encrypts {
                let o = Options {
                    algorithms: options.algorithms,
                    encrypt: Some(&commented_then_encrypted),
                };
                resign_with(&x, what, &o)?
            } else {
                comment(&resign(&x, what)?)
            };
            f(
                signed,
                format!(
                    "NameID {full} signed, then a comment inserted after {name_id} (exclusive c14n ignores comments, so the signature holds)"
                ),
            )
        }
        Fault::TwoAssertions => {
            let good = resign(&bare, SignWhat::Assertion)?;
            let evil = evil_copy(
                &bare,
                ids.assertion_id,
                &format!("id-second-{}", ids.assertion_id),
                who,
            );
            let at = good.find("</saml2p:Response>").unwrap_or(good.len());
            f(
                encrypt_all(&format!("{}{evil}{}", &good[..at], &good[at..]))?,
                "a second, unsigned Assertion for mallory@evil.invalid after the signed one".into(),
            )
        }
        Fault::ForeignKeyValue | Fault::ForeignKeyValueBesideIdpCert => {
            let key_value = rsa_key_value(foreign)?;
            let (key_info, altered) = if fault == Fault::ForeignKeyValue {
                (
                    key_value,
                    "signed by a key that is not the IdP's, whose public key is the only KeyInfo (ds:KeyValue/ds:RSAKeyValue, no certificate)",
                )
            } else {
                (
                    format!(
                        "<ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data>{key_value}",
                        idp.certificate.base64()
                    ),
                    "signed by a key that is not the IdP's; KeyInfo holds the IdP's own certificate and, beside it, the signing key as a ds:KeyValue",
                )
            };
            f(
                sign_bare_key_info(
                    &evil,
                    ids.response_id,
                    ids.assertion_id,
                    what,
                    options,
                    foreign.private_der(),
                    &key_info,
                )?,
                altered.into(),
            )
        }
        Fault::DigestCommentAssertion | Fault::DigestCommentResponse | Fault::DigestCommentBoth => {
            let (w, which) = match fault {
                Fault::DigestCommentAssertion => (SignWhat::Assertion, "the Assertion's"),
                Fault::DigestCommentResponse => (SignWhat::Response, "the Response's"),
                _ => (SignWhat::Both, "each"),
            };
            let xml = if encrypts {
                // The Assertion signed, altered and its DigestValue given the comment (in
                // clear), then encrypted; the Response keeps the IdP's signature over the
                // honest ciphertext, and its DigestValue gets a comment with the digest of the
                // Response holding the new one.
                let altered = if w == SignWhat::Response {
                    who.forge(&bare)
                } else {
                    digest_in_comment(&resign(&bare, SignWhat::Assertion)?, who)?
                };
                let encrypted = encrypt(&altered)?;
                if w == SignWhat::Assertion {
                    encrypted
                } else {
                    let honest = as_app(&bare, w)?;
                    let no_span = || {
                        SignError::Native("the encrypted document has no EncryptedAssertion".into())
                    };
                    let (h0, h1) = encrypted_assertion_span(&honest).ok_or_else(no_span)?;
                    let (n0, n1) = encrypted_assertion_span(&encrypted).ok_or_else(no_span)?;
                    digest_in_comment(
                        &format!("{}{}{}", &honest[..h0], &encrypted[n0..n1], &honest[h1..]),
                        who,
                    )?
                }
            } else {
                digest_in_comment(&resign(&bare, w)?, who)?
            };
            f(
                xml,
                format!(
                    "NameID/email changed to {FORGED_IDENTITY} after signing; {which} DigestValue starts with a comment holding the digest of the altered element, the genuine digest after it"
                ),
            )
        }
        Fault::TwoRoots => {
            // The IdP-signed Assertion (its own enveloped signature) as the first root, then a
            // forged Response (same InResponseTo and Destination) with an unsigned Assertion.
            let good = resign(&bare, SignWhat::Assertion)?;
            let (a0, a1) = assertion_span(&good).unwrap_or((0, 0));
            let signed_assertion = &good[a0..a1];
            // Encrypted: the forged Response's Assertion is encrypted for the SP; the first root
            // stays the IdP-signed Assertion in clear (a signed document is all the attack needs
            // there).
            let evil_assertion = encrypt(&evil_copy(
                &bare,
                ids.assertion_id,
                &format!("id-second-{}", ids.assertion_id),
                who,
            ))?;
            let (b0, b1) = assertion_span(&bare).unwrap_or((0, 0));
            let response = bare
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                .trim_start();
            let shift = bare.len() - response.len();
            let response = format!(
                "{}{evil_assertion}{}",
                &response[..b0.saturating_sub(shift)],
                &response[b1.saturating_sub(shift)..]
            )
            .replacen(
                &format!("ID=\"{}\"", ids.response_id),
                &format!("ID=\"id-second-{}\"", ids.response_id),
                1,
            );
            f(
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{signed_assertion}{response}"),
                "two root elements: the IdP-signed Assertion, then a forged Response (same InResponseTo and Destination) with an unsigned Assertion for mallory@evil.invalid".into(),
            )
        }
        Fault::Doctype | Fault::ExternalEntity => {
            // Encrypted: the honest document as the app sends it; S24's entity reference goes
            // into the NameID after the Assertion's signature, before the encryption.
            let with_reference = |xml: &str| {
                encrypt(&xml.replacen(
                    &format!(">{}</saml2:NameID>", xml::escape(name_id)),
                    &format!(">{}&ext;</saml2:NameID>", xml::escape(name_id)),
                    1,
                ))
            };
            let as_sent = if !encrypts {
                honest.to_owned()
            } else if fault == Fault::ExternalEntity {
                let o = Options {
                    algorithms: options.algorithms,
                    encrypt: Some(&with_reference),
                };
                resign_with(&bare, what, &o)?
            } else {
                as_app(&bare, what)?
            };
            let body = as_sent
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                .trim_start();
            let url = xml::escape(ids.xxe_url);
            let (body, altered) = if fault == Fault::ExternalEntity {
                (
                    body.replacen(
                        &format!(">{}</saml2:NameID>", xml::escape(name_id)),
                        &format!(">{}&ext;</saml2:NameID>", xml::escape(name_id)),
                        1,
                    ),
                    format!(
                        "a DOCTYPE declaring the external entity `ext` ({}), referenced in the NameID",
                        ids.xxe_url
                    ),
                )
            } else {
                (
                    body.to_owned(),
                    "a DOCTYPE with internal and external entities prepended".to_owned(),
                )
            };
            f(
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY ext SYSTEM \"{url}\">]>{body}"
                ),
                altered,
            )
        }
    }
}
