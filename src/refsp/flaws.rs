//! The reference SP's deliberate defects. Each flaw turns off exactly one check (or bends one
//! rule) and names the catalogue cases (docs/catalogue.md) whose trials must catch it.

use std::collections::BTreeSet;
use std::fmt;

/// The part of the reference SP a flaw bends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The ACS: checking a SAML Response.
    SamlResponse,
    /// Roles and the profile a login needs.
    Roles,
    /// The Global Token Revocation receiver.
    Revocation,
    /// SAML SLO, RP-initiated and back-channel logout.
    Logout,
    /// Checking an id_token, userinfo, discovery and JWKS.
    OidcLogin,
    /// Binding a login to the browser that started it: state, PKCE and nonce, the session
    /// cookie.
    SessionBinding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::VariantArray)]
pub enum Flaw {
    SkipSignature,
    UnsignedAssertion,
    IgnoreAudience,
    IgnoreRecipient,
    IgnoreInResponseTo,
    AllowReplay,
    AcceptExpired,
    IgnoreIssuer,
    FirstAssertion,
    TruncateNameIdAtComment,
    FirstMatchingGroup,
    IgnoreGroups,
    AcceptMissingEmail,
    AcceptMissingName,
    RevocationWithoutAuth,
    RevocationIgnoresAud,
    RevocationKeepsSession,
    RevocationEndsEveryone,
    UnsignedSlo,
    BackchannelUnsigned,
    IgnoreNonce,
    IgnoreIdTokenAud,
    AcceptAlgNone,
    Hs256KeyConfusion,
    IgnoreExp,
    TrustDiscoveryIssuer,
    IgnoreIdTokenIss,
    AcceptMissingSub,
    AcceptMissingIat,
    AcceptBadSignature,
    IgnoreKid,
    FailWithoutKid,
    IgnoreUserinfoSub,
    NoJwksRefetch,
    AcceptAnyConfirmation,
    IgnoreStatus,
    AcceptDoctype,
    RefuseUnmappedUsers,
    RevocationAnyFormat,
    RevocationLenientBody,
    RevocationUnknownUser204,
    RevocationIgnoresSubIdIss,
    LocalLogoutOnly,
    SloKeepsSession,
    SloIgnoresDestination,
    SloEndsBrowserSession,
    BackchannelKeepsSession,
    BackchannelClaimsUnchecked,
    AudViaAzp,
    FetchExternalEntities,
    KeepSignedAssertion,
    UserinfoMismatchDropped,
    LastAssertion,
    AcsPrefixMatch,
    RecipientSubstring,
    SloDestinationPrefix,
    StateAnyPending,
    StateOptional,
    NoPkceNonceAnyPending,
    SessionFixation,
    OpenRedirect,
    RefreshIgnoresSub,
    RefreshIgnoresIss,
    TrustKeyInfoKeyValue,
    KeyValueBesideIdpCertificate,
    DigestFromFirstNode,
    ParsePastFirstRoot,
    HmacWithPkcs1Pem,
    HmacWithOpensshKey,
    HmacWithJwkJson,
    NoneForUnknownKid,
    NoneWithoutKid,
    AlgNoneAnyCase,
    RequireKid,
    FailOnAuthorizationError,
    AcceptPlainAssertion,
    TrustDecryptedAssertion,
    AcceptSha1,
    SkipAtHash,
    SkipCHash,
    LaunchAnyIssuer,
    ReuseRefreshToken,
    OverageAsNoGroups,
    EmailFromUsername,
    ExactGroupPath,
}

impl Flaw {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Flaw::SkipSignature => "skip-signature",
            Flaw::UnsignedAssertion => "unsigned-assertion",
            Flaw::IgnoreAudience => "ignore-audience",
            Flaw::IgnoreRecipient => "ignore-recipient",
            Flaw::IgnoreInResponseTo => "ignore-in-response-to",
            Flaw::AllowReplay => "allow-replay",
            Flaw::AcceptExpired => "accept-expired",
            Flaw::IgnoreIssuer => "ignore-issuer",
            Flaw::FirstAssertion => "first-assertion",
            Flaw::TruncateNameIdAtComment => "truncate-nameid-at-comment",
            Flaw::FirstMatchingGroup => "first-matching-group",
            Flaw::IgnoreGroups => "ignore-groups",
            Flaw::AcceptMissingEmail => "accept-missing-email",
            Flaw::AcceptMissingName => "accept-missing-name",
            Flaw::RevocationWithoutAuth => "revocation-without-auth",
            Flaw::RevocationIgnoresAud => "revocation-ignores-aud",
            Flaw::RevocationKeepsSession => "revocation-keeps-session",
            Flaw::RevocationEndsEveryone => "revocation-ends-everyone",
            Flaw::UnsignedSlo => "unsigned-slo",
            Flaw::BackchannelUnsigned => "backchannel-unsigned",
            Flaw::IgnoreNonce => "ignore-nonce",
            Flaw::IgnoreIdTokenAud => "ignore-id-token-aud",
            Flaw::AcceptAlgNone => "accept-alg-none",
            Flaw::Hs256KeyConfusion => "hs256-key-confusion",
            Flaw::IgnoreExp => "ignore-exp",
            Flaw::TrustDiscoveryIssuer => "trust-discovery-issuer",
            Flaw::IgnoreIdTokenIss => "ignore-id-token-iss",
            Flaw::AcceptMissingSub => "accept-missing-sub",
            Flaw::AcceptMissingIat => "accept-missing-iat",
            Flaw::AcceptBadSignature => "accept-bad-signature",
            Flaw::IgnoreKid => "ignore-kid",
            Flaw::FailWithoutKid => "fail-without-kid",
            Flaw::IgnoreUserinfoSub => "ignore-userinfo-sub",
            Flaw::NoJwksRefetch => "no-jwks-refetch",
            Flaw::AcceptAnyConfirmation => "accept-any-confirmation",
            Flaw::IgnoreStatus => "ignore-status",
            Flaw::AcceptDoctype => "accept-doctype",
            Flaw::RefuseUnmappedUsers => "refuse-unmapped-users",
            Flaw::RevocationAnyFormat => "revocation-any-format",
            Flaw::RevocationLenientBody => "revocation-lenient-body",
            Flaw::RevocationUnknownUser204 => "revocation-204-for-unknown-users",
            Flaw::RevocationIgnoresSubIdIss => "revocation-ignores-sub-id-iss",
            Flaw::LocalLogoutOnly => "local-logout-only",
            Flaw::SloKeepsSession => "slo-keeps-session",
            Flaw::SloIgnoresDestination => "slo-ignores-destination",
            Flaw::SloEndsBrowserSession => "slo-ends-browser-session",
            Flaw::BackchannelKeepsSession => "backchannel-keeps-session",
            Flaw::BackchannelClaimsUnchecked => "backchannel-claims-unchecked",
            Flaw::AudViaAzp => "aud-via-azp",
            Flaw::FetchExternalEntities => "fetch-external-entities",
            Flaw::KeepSignedAssertion => "keep-signed-assertion",
            Flaw::UserinfoMismatchDropped => "userinfo-mismatch-dropped",
            Flaw::LastAssertion => "last-assertion",
            Flaw::AcsPrefixMatch => "acs-prefix-match",
            Flaw::RecipientSubstring => "recipient-substring",
            Flaw::SloDestinationPrefix => "slo-destination-prefix",
            Flaw::StateAnyPending => "state-any-pending",
            Flaw::StateOptional => "state-optional",
            Flaw::NoPkceNonceAnyPending => "no-pkce-nonce-any-pending",
            Flaw::SessionFixation => "session-fixation",
            Flaw::OpenRedirect => "open-redirect",
            Flaw::RefreshIgnoresSub => "refresh-ignores-sub",
            Flaw::RefreshIgnoresIss => "refresh-ignores-iss",
            Flaw::TrustKeyInfoKeyValue => "trust-keyinfo-keyvalue",
            Flaw::KeyValueBesideIdpCertificate => "keyvalue-beside-idp-certificate",
            Flaw::DigestFromFirstNode => "digest-from-first-node",
            Flaw::ParsePastFirstRoot => "parse-past-first-root",
            Flaw::HmacWithPkcs1Pem => "hmac-with-pkcs1-pem",
            Flaw::HmacWithOpensshKey => "hmac-with-openssh-key",
            Flaw::HmacWithJwkJson => "hmac-with-jwk-json",
            Flaw::NoneForUnknownKid => "none-for-unknown-kid",
            Flaw::NoneWithoutKid => "none-without-kid",
            Flaw::AlgNoneAnyCase => "alg-none-any-case",
            Flaw::RequireKid => "require-kid",
            Flaw::FailOnAuthorizationError => "fail-on-authorization-error",
            Flaw::AcceptPlainAssertion => "accept-plain-assertion",
            Flaw::TrustDecryptedAssertion => "trust-decrypted-assertion",
            Flaw::AcceptSha1 => "accept-sha1",
            Flaw::SkipAtHash => "skip-at-hash",
            Flaw::SkipCHash => "skip-c-hash",
            Flaw::LaunchAnyIssuer => "launch-any-issuer",
            Flaw::ReuseRefreshToken => "reuse-refresh-token",
            Flaw::OverageAsNoGroups => "overage-as-no-groups",
            Flaw::EmailFromUsername => "email-from-username",
            Flaw::ExactGroupPath => "exact-group-path",
        }
    }

    /// What the flawed SP does, in one line.
    pub fn describe(self) -> &'static str {
        match self {
            Flaw::SkipSignature => "accepts SAML Responses without checking any signature",
            Flaw::UnsignedAssertion => "accepts an unsigned Assertion inside a signed Response",
            Flaw::IgnoreAudience => "does not check the Assertion's Audience",
            Flaw::IgnoreRecipient => "does not check Recipient and Destination against its ACS URL",
            Flaw::IgnoreInResponseTo => {
                "does not match InResponseTo to its own requests (accepts unsolicited)"
            }
            Flaw::AllowReplay => {
                "accepts the same Assertion twice (no replay cache; an answered AuthnRequest stays open)"
            }
            Flaw::AcceptExpired => {
                "ignores NotBefore / NotOnOrAfter in Conditions and SubjectConfirmationData"
            }
            Flaw::IgnoreIssuer => "does not check the Issuer against the IdP's entity id",
            Flaw::FirstAssertion => {
                "reads the first Assertion of the document, signed or not (signature wrapping)"
            }
            Flaw::TruncateNameIdAtComment => "reads the NameID only up to an XML comment",
            Flaw::FirstMatchingGroup => {
                "gives the role of the first mapped group in the groups attribute, ignoring precedence"
            }
            Flaw::IgnoreGroups => {
                "ignores the groups attribute (no group sync): always the default role"
            }
            Flaw::AcceptMissingEmail => "logs a user in without an email",
            Flaw::AcceptMissingName => "logs a user in without a name",
            Flaw::RevocationWithoutAuth => {
                "accepts Global Token Revocation requests without checking the JWT"
            }
            Flaw::RevocationIgnoresAud => "accepts revocation JWTs whose aud is not its endpoint",
            Flaw::RevocationKeepsSession => "answers 204 to revocation but keeps the session",
            Flaw::RevocationEndsEveryone => "ends every user's sessions on any revocation",
            Flaw::UnsignedSlo => "accepts unsigned IdP-initiated SAML LogoutRequests",
            Flaw::BackchannelUnsigned => {
                "accepts back-channel logout tokens without checking the signature"
            }
            Flaw::IgnoreNonce => "does not compare the id_token nonce with the one it sent",
            Flaw::IgnoreIdTokenAud => "does not check the id_token aud",
            Flaw::AcceptAlgNone => "accepts id_tokens with alg none",
            Flaw::Hs256KeyConfusion => {
                "verifies HS256 id_tokens with the IdP's public key (SPKI PEM) as the HMAC secret"
            }
            Flaw::IgnoreExp => "accepts expired id_tokens",
            Flaw::TrustDiscoveryIssuer => {
                "takes the issuer from discovery without comparing it with the issuer it fetched"
            }
            Flaw::IgnoreIdTokenIss => "does not compare the id_token iss with the issuer",
            Flaw::AcceptMissingSub => "logs in an id_token without sub (keyed by email instead)",
            Flaw::AcceptMissingIat => "accepts an id_token without iat",
            Flaw::AcceptBadSignature => {
                "accepts a JWT whose signature does not verify with the key its kid names"
            }
            Flaw::IgnoreKid => {
                "ignores the kid and tries every key it has (an unknown kid is not refused, nor a reason to fetch the JWKS again)"
            }
            Flaw::FailWithoutKid => "fails (500) on an id_token without kid",
            Flaw::IgnoreUserinfoSub => "does not compare the userinfo sub with the id_token sub",
            Flaw::NoJwksRefetch => "never fetches the JWKS again (a rotated key is refused)",
            Flaw::AcceptAnyConfirmation => {
                "accepts a SubjectConfirmation that is not bearer, or has no Recipient"
            }
            Flaw::IgnoreStatus => "reads the Assertion whatever the Response's Status",
            Flaw::AcceptDoctype => "parses Responses that carry a DOCTYPE (entities declared)",
            Flaw::RefuseUnmappedUsers => {
                "refuses users in no mapped group instead of giving them the default role"
            }
            Flaw::RevocationAnyFormat => {
                "accepts the email subject format when configured for iss_sub only"
            }
            Flaw::RevocationLenientBody => {
                "answers 204 (doing nothing) to revocation bodies it cannot read"
            }
            Flaw::RevocationUnknownUser204 => {
                "answers 204 to revocation of a user it has no session for"
            }
            Flaw::RevocationIgnoresSubIdIss => "does not check that subject.iss is its IdP",
            Flaw::LocalLogoutOnly => {
                "its logout ends only its own session (never sends the user to the IdP)"
            }
            Flaw::SloKeepsSession => "answers an IdP-initiated LogoutRequest but keeps the session",
            Flaw::SloIgnoresDestination => "does not check a LogoutRequest's Destination",
            Flaw::SloEndsBrowserSession => {
                "ends the session of the browser that delivers a LogoutRequest, whatever NameID it names"
            }
            Flaw::BackchannelKeepsSession => {
                "answers 200 to back-channel logout but keeps the session"
            }
            Flaw::BackchannelClaimsUnchecked => {
                "checks a logout token's signature but not its iss, aud, events or nonce"
            }
            Flaw::AudViaAzp => {
                "checks the id_token audience through azp when there is one (aud is then not read)"
            }
            Flaw::FetchExternalEntities => {
                "fetches the external entities a DOCTYPE declares (then refuses the document)"
            }
            Flaw::LastAssertion => {
                "reads the last Assertion of the document, signed or not (signature wrapping)"
            }
            Flaw::KeepSignedAssertion => {
                "takes a Response with several Assertions or wrapped content, and uses only the signed one (allowed: not fooled)"
            }
            Flaw::AcsPrefixMatch => {
                "accepts a Destination or Recipient that merely starts with its ACS URL"
            }
            Flaw::RecipientSubstring => "accepts a Recipient that merely contains its ACS URL",
            Flaw::SloDestinationPrefix => {
                "accepts a LogoutRequest whose Destination merely starts with its SLO URL"
            }
            Flaw::StateAnyPending => {
                "accepts a callback state that any pending login carried, not only this browser's"
            }
            Flaw::StateOptional => "skips the state check when the callback carries no state",
            Flaw::NoPkceNonceAnyPending => {
                "sends no PKCE challenge and accepts an id_token nonce of any pending login"
            }
            Flaw::SessionFixation => {
                "sets its session cookie before the login and keeps that value once signed in"
            }
            Flaw::OpenRedirect => {
                "after a login, redirects to any RelayState or return URL, another site's too"
            }
            Flaw::RefreshIgnoresSub => {
                "takes a refreshed id_token whose sub is not the session's (the session becomes that user)"
            }
            Flaw::RefreshIgnoresIss => "takes a refreshed id_token from another issuer",
            Flaw::UserinfoMismatchDropped => {
                "on a userinfo sub that differs, drops the userinfo answer and keeps the id_token's identity (allowed: not fooled)"
            }
            Flaw::TrustKeyInfoKeyValue => {
                "verifies with the ds:KeyValue a signature carries when its KeyInfo has no certificate (the document chooses the key)"
            }
            Flaw::KeyValueBesideIdpCertificate => {
                "trusts a KeyInfo that holds the IdP's certificate, then verifies with the ds:KeyValue beside it"
            }
            Flaw::DigestFromFirstNode => {
                "reads each DigestValue from its first child node (a comment there is taken as the digest)"
            }
            Flaw::ParsePastFirstRoot => {
                "takes a document with a second root element: the signature of the first, the Response after it"
            }
            Flaw::HmacWithPkcs1Pem => {
                "verifies HS256 id_tokens with the IdP's RSA public key as PKCS#1 PEM as the HMAC secret"
            }
            Flaw::HmacWithOpensshKey => {
                "verifies HS256 id_tokens with the IdP's public key as an OpenSSH line (ssh-rsa, ecdsa-sha2-nistp256) as the HMAC secret"
            }
            Flaw::HmacWithJwkJson => {
                "verifies HS256 id_tokens with the IdP's public key as JWK JSON text as the HMAC secret"
            }
            Flaw::NoneForUnknownKid => {
                "when the kid names no key, verifies with no key, which passes alg none"
            }
            Flaw::NoneWithoutKid => {
                "when the token has no kid, verifies with no key, which passes alg none"
            }
            Flaw::AlgNoneAnyCase => "reads alg none in any letter case (None, NONE) and accepts it",
            Flaw::RequireKid => {
                "refuses an id_token without kid, even when the IdP's JWKS holds a single key"
            }
            Flaw::FailOnAuthorizationError => {
                "fails (500) on a callback carrying an authorization error instead of showing it"
            }
            Flaw::AcceptPlainAssertion => {
                "configured to receive encrypted assertions, still accepts one in clear"
            }
            Flaw::TrustDecryptedAssertion => {
                "takes an Assertion that decrypts with its key as authentic, without verifying the signature inside"
            }
            Flaw::AcceptSha1 => {
                "configured for SHA-256, still accepts RSA-SHA1 signatures and SHA-1 digests"
            }
            Flaw::SkipAtHash => {
                "does not check the front-channel id_token's at_hash against the access token it came with"
            }
            Flaw::SkipCHash => {
                "does not check the front-channel id_token's c_hash against the code it came with"
            }
            Flaw::LaunchAnyIssuer => {
                "starts a login from its initiate-login URI whatever issuer `iss` names"
            }
            Flaw::ReuseRefreshToken => {
                "keeps refreshing with the login's refresh token after the IdP rotated it"
            }
            Flaw::OverageAsNoGroups => {
                "reads Entra's group overage (a link instead of the groups) as no groups: the default role"
            }
            Flaw::EmailFromUsername => {
                "behind another IdP than Okta, requires the email attribute or claim but takes the account's email from the username (NameID, preferred_username: Entra's UPN)"
            }
            Flaw::ExactGroupPath => {
                "compares Keycloak's groups with its mappings as sent: a full path (/Qovery-Admins) maps to nothing"
            }
        }
    }

    /// Which part of the reference SP the flaw bends (tests pick the flaws of one part from
    /// this, never from a hand-kept list).
    pub fn area(self) -> Area {
        use Flaw::*;
        match self {
            SkipSignature
            | UnsignedAssertion
            | IgnoreAudience
            | IgnoreRecipient
            | IgnoreInResponseTo
            | AllowReplay
            | AcceptExpired
            | IgnoreIssuer
            | FirstAssertion
            | LastAssertion
            | KeepSignedAssertion
            | TruncateNameIdAtComment
            | AcceptAnyConfirmation
            | IgnoreStatus
            | AcceptDoctype
            | FetchExternalEntities
            | AcsPrefixMatch
            | RecipientSubstring
            | TrustKeyInfoKeyValue
            | KeyValueBesideIdpCertificate
            | DigestFromFirstNode
            | ParsePastFirstRoot
            | AcceptPlainAssertion
            | TrustDecryptedAssertion
            | AcceptSha1 => Area::SamlResponse,
            FirstMatchingGroup | IgnoreGroups | AcceptMissingEmail | AcceptMissingName
            | RefuseUnmappedUsers | OverageAsNoGroups | EmailFromUsername | ExactGroupPath => {
                Area::Roles
            }
            RevocationWithoutAuth
            | RevocationIgnoresAud
            | RevocationKeepsSession
            | RevocationEndsEveryone
            | RevocationAnyFormat
            | RevocationLenientBody
            | RevocationUnknownUser204
            | RevocationIgnoresSubIdIss => Area::Revocation,
            UnsignedSlo
            | SloKeepsSession
            | SloIgnoresDestination
            | SloEndsBrowserSession
            | LocalLogoutOnly
            | BackchannelUnsigned
            | BackchannelKeepsSession
            | BackchannelClaimsUnchecked
            | SloDestinationPrefix => Area::Logout,
            IgnoreNonce
            | IgnoreIdTokenAud
            | AcceptAlgNone
            | Hs256KeyConfusion
            | IgnoreExp
            | TrustDiscoveryIssuer
            | IgnoreIdTokenIss
            | AcceptMissingSub
            | AcceptMissingIat
            | AcceptBadSignature
            | IgnoreKid
            | FailWithoutKid
            | IgnoreUserinfoSub
            | NoJwksRefetch
            | AudViaAzp
            | UserinfoMismatchDropped
            | RefreshIgnoresSub
            | RefreshIgnoresIss
            | HmacWithPkcs1Pem
            | HmacWithOpensshKey
            | HmacWithJwkJson
            | NoneForUnknownKid
            | NoneWithoutKid
            | AlgNoneAnyCase
            | RequireKid
            | FailOnAuthorizationError
            | SkipAtHash
            | SkipCHash
            | LaunchAnyIssuer
            | ReuseRefreshToken => Area::OidcLogin,
            StateAnyPending
            | StateOptional
            | NoPkceNonceAnyPending
            | SessionFixation
            | OpenRedirect => Area::SessionBinding,
        }
    }

    /// The catalogue cases whose trials must catch this flaw.
    pub fn defeats(self) -> &'static [&'static str] {
        match self {
            Flaw::SkipSignature => &["S1", "S2", "S3"],
            Flaw::UnsignedAssertion => &["S1"],
            Flaw::AcceptPlainAssertion => &["S27"],
            // In an encrypted pack, also the encrypted forms of S1 and S30 (tests/encryption.rs).
            Flaw::TrustDecryptedAssertion => &["S28", "S1", "S30"],
            Flaw::AcceptSha1 => &["S29"],
            Flaw::IgnoreAudience => &["S6"],
            Flaw::IgnoreRecipient => &["S7"],
            Flaw::IgnoreInResponseTo => &["S8", "S9"],
            Flaw::AllowReplay => &["S10"],
            Flaw::AcceptExpired => &["S4", "S5"],
            Flaw::IgnoreIssuer => &["S11"],
            Flaw::FirstAssertion => &["S16", "S17", "S18", "S20"],
            Flaw::TruncateNameIdAtComment => &["S22"],
            Flaw::FirstMatchingGroup => &["R4"],
            Flaw::IgnoreGroups => &["R1", "R5"],
            Flaw::AcceptMissingEmail => &["R7"],
            Flaw::AcceptMissingName => &["R8"],
            Flaw::RevocationWithoutAuth => &["T3"],
            Flaw::RevocationIgnoresAud => &["T3"],
            Flaw::RevocationKeepsSession => &["T1"],
            Flaw::RevocationEndsEveryone => &["T9"],
            Flaw::UnsignedSlo => &["G2"],
            Flaw::BackchannelUnsigned => &["G4"],
            Flaw::IgnoreNonce => &["O5"],
            Flaw::IgnoreIdTokenAud => &["O2"],
            Flaw::AcceptAlgNone => &["O7"],
            Flaw::Hs256KeyConfusion => &["O8"],
            Flaw::IgnoreExp => &["O11"],
            Flaw::TrustDiscoveryIssuer => &["O13"],
            Flaw::IgnoreIdTokenIss => &["O1"],
            Flaw::AcceptMissingSub => &["O3"],
            Flaw::AcceptMissingIat => &["O4"],
            Flaw::AcceptBadSignature => &["O6"],
            Flaw::IgnoreKid => &["O9", "O14"],
            Flaw::FailWithoutKid => &["O10"],
            Flaw::IgnoreUserinfoSub => &["O12"],
            Flaw::NoJwksRefetch => &["O14"],
            Flaw::AcceptAnyConfirmation => &["S12"],
            Flaw::IgnoreStatus => &["S13"],
            Flaw::AcceptDoctype => &["S24"],
            Flaw::RefuseUnmappedUsers => &["R2", "R5"],
            Flaw::RevocationAnyFormat => &["T2"],
            Flaw::RevocationLenientBody => &["T5"],
            Flaw::RevocationUnknownUser204 => &["T6"],
            Flaw::RevocationIgnoresSubIdIss => &["T7"],
            Flaw::LocalLogoutOnly => &["G1", "G3"],
            Flaw::SloKeepsSession => &["G2"],
            Flaw::SloIgnoresDestination => &["G2"],
            Flaw::SloEndsBrowserSession => &["G2"],
            Flaw::BackchannelKeepsSession => &["G4"],
            Flaw::BackchannelClaimsUnchecked => &["G4"],
            Flaw::AudViaAzp => &["O2"],
            Flaw::FetchExternalEntities => &["S24"],
            Flaw::LastAssertion => &["S15", "S23"],
            Flaw::AcsPrefixMatch | Flaw::RecipientSubstring => &["S7"],
            Flaw::SloDestinationPrefix => &["G2"],
            Flaw::StateAnyPending => &["O15"],
            Flaw::StateOptional => &["O16"],
            Flaw::NoPkceNonceAnyPending => &["O17"],
            Flaw::SessionFixation => &["O20", "S26"],
            Flaw::OpenRedirect => &["O21", "S25"],
            Flaw::RefreshIgnoresSub => &["O18"],
            Flaw::RefreshIgnoresIss => &["O19"],
            Flaw::TrustKeyInfoKeyValue => &["S2"],
            Flaw::KeyValueBesideIdpCertificate => &["S2"],
            Flaw::DigestFromFirstNode => &["S30"],
            Flaw::ParsePastFirstRoot => &["S31"],
            Flaw::HmacWithPkcs1Pem => &["O8"],
            Flaw::HmacWithOpensshKey => &["O8"],
            Flaw::HmacWithJwkJson => &["O8"],
            Flaw::NoneForUnknownKid => &["O7"],
            Flaw::NoneWithoutKid => &["O7"],
            Flaw::AlgNoneAnyCase => &["O7"],
            Flaw::RequireKid => &["O10"],
            Flaw::FailOnAuthorizationError => &["O22"],
            Flaw::SkipAtHash => &["O23"],
            Flaw::SkipCHash => &["O24"],
            Flaw::LaunchAnyIssuer => &["L0"],
            Flaw::ReuseRefreshToken => &["O26"],
            Flaw::OverageAsNoGroups => &["F1"],
            Flaw::EmailFromUsername => &["F3"],
            Flaw::ExactGroupPath => &["F2"],
            Flaw::KeepSignedAssertion | Flaw::UserinfoMismatchDropped => &[],
        }
    }

    /// The cases where the flaw's behaviour is allowed (the SP is not fooled): no trial may
    /// fail against it, and those trials must say "accepted, not fooled" or refuse.
    pub fn allowed_in(self) -> &'static [&'static str] {
        match self {
            Flaw::KeepSignedAssertion => &[
                "S14", "S15", "S16", "S17", "S18", "S19", "S20", "S21", "S23",
            ],
            Flaw::UserinfoMismatchDropped => &["O12"],
            _ => &[],
        }
    }

    pub fn parse(name: &str) -> Option<Flaw> {
        Flaw::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The flaws switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flaws(BTreeSet<Flaw>);

impl Flaws {
    pub fn none() -> Self {
        Flaws::default()
    }

    pub fn on(&self, f: Flaw) -> bool {
        self.0.contains(&f)
    }

    pub fn with(mut self, f: Flaw) -> Self {
        self.0.insert(f);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = Flaw> + '_ {
        self.0.iter().copied()
    }

    /// Parses names; an unknown one is an error listing the known ones.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Flaws, String> {
        let mut set = BTreeSet::new();
        for n in names {
            match Flaw::parse(n.as_ref()) {
                Some(f) => {
                    set.insert(f);
                }
                None => {
                    return Err(format!(
                        "unknown flaw `{}`; run `fakta sp --list-flaws` for the list",
                        n.as_ref()
                    ));
                }
            }
        }
        Ok(Flaws(set))
    }
}

/// The `--list-flaws` table.
pub fn table() -> String {
    let mut out = String::new();
    for f in Flaw::ALL {
        out.push_str(&format!(
            "{:<28} {:<22} {}\n",
            f.name(),
            if f.defeats().is_empty() {
                "(allowed)".to_owned()
            } else {
                f.defeats().join(",")
            },
            f.describe()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = BTreeSet::new();
        for f in Flaw::ALL {
            assert_eq!(Flaw::parse(f.name()), Some(*f));
            assert!(seen.insert(f.name()));
            assert!(
                f.defeats().is_empty() != f.allowed_in().is_empty(),
                "{}: a flaw either defeats cases or is allowed in some",
                f.name()
            );
        }
        assert!(Flaws::parse(&["nope"]).is_err());
    }
}
