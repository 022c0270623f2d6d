//! The catalogue of cases: for every case id of the suite (L0, R1-R8, T1-T9, G1-G4, S1-S24,
//! S25, S26, S30, S31, O1-O26), and for every variant whose rule differs from its case's, the
//! rule a trial enforces, where that rule is written down, and how strong it is. It is what a
//! user shows the SP's owner when a trial fails, so every citation names the document and,
//! where it could be checked, the section; none is guessed.
//!
//! Pure data and lookups. `docs/catalogue.md` is rendered from this table (`markdown`), with,
//! after the cases, how each SAML fault is forged for an app that encrypts (from
//! `saml::faults::Fault::encrypted_form`), and a test keeps the two identical.

use std::fmt;

/// How strongly the cited text requires what the trial checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// A MUST (or MUST NOT) of the cited specification.
    Must,
    /// A SHOULD, or a rule that follows from the cited text without a MUST on the SP.
    Should,
    /// Okta's documented behaviour: what an SP behind Okta meets, beyond any standard.
    Vendor,
    /// What the connection file says of this SP (its `expectations`, the app's settings).
    Connection,
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strength::Must => "MUST",
            Strength::Should => "SHOULD",
            Strength::Vendor => "Okta behaviour",
            Strength::Connection => "connection settings",
        })
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The case id: `S7`.
    pub case: &'static str,
    /// The start of the trial names this entry is for, after `<case>_`
    /// (`recipient_not_the_acs`); empty for the case-level entry, which covers every trial of
    /// the case that no variant entry names.
    pub variant: &'static str,
    /// One line: what the trial throws at the SP, or what it expects.
    pub title: &'static str,
    /// The rule, as a citation the SP's owner can check.
    pub rule: &'static str,
    pub strength: Strength,
}

const fn case(
    case: &'static str,
    title: &'static str,
    strength: Strength,
    rule: &'static str,
) -> Rule {
    Rule {
        case,
        variant: "",
        title,
        rule,
        strength,
    }
}

const fn variant(
    case: &'static str,
    variant: &'static str,
    title: &'static str,
    strength: Strength,
    rule: &'static str,
) -> Rule {
    Rule {
        case,
        variant,
        title,
        rule,
        strength,
    }
}

/// The rule of the signature-wrapping and two-assertion cases (S14-S21, S23).
const ONLY_WHAT_IS_SIGNED: &str = "The SP must use only what the signature covers. SAML 2.0 \
    Profiles §4.1.4.5 (errata E26): over HTTP-POST each assertion MUST be protected by a digital \
    signature, so the unsigned, forged one is not an assertion the SP may rely on; §4.1.4.3: the \
    SP MUST verify the signatures; XML Signature Syntax and Processing, Security Considerations \
    (\"See\" What is Signed): an application that trusts a signature operates on the data that \
    was signed, not on the document around it.";

static RULES: &[Rule] = &[
    // --- the control --------------------------------------------------------------------------
    case(
        "L0",
        "the honest login succeeds, with the role the connection settings give",
        Strength::Connection,
        "The connection as the file describes it (its app, users and expectations): an honest, \
         Okta-shaped login must work and give the expected role. Every fault trial is paired \
         with it: an SP that refuses the honest login refuses everything, and its refusals \
         prove nothing.",
    ),
    variant(
        "L0",
        "idp_initiated_login",
        "an IdP-initiated (unsolicited) login succeeds",
        Strength::Connection,
        "SAML 2.0 Profiles §4.1.5 (Unsolicited Responses): an identity provider MAY send a \
         Response the SP did not ask for; the app's `allow_idp_initiated` (default true) says \
         this SP takes them. For an OIDC app with an `initiate_login_uri` (Okta's \"Login \
         initiated by: Either Okta or App\"), OpenID Connect Core 1.0 §4 (Initiating Login from \
         a Third Party): the app's tile sends the browser to that URI with `iss`, and the RP \
         starts its own authorization request, which must end in a session (the OpenID \
         Foundation's RP test 3rd-party-init-login).",
    ),
    variant(
        "L0",
        "idp_initiated_login_unknown_issuer",
        "the app's tile names an issuer the RP does not trust: the RP starts no login",
        Strength::Should,
        "OpenID Connect Core 1.0 §4 (Initiating Login from a Third Party): `iss` is the \
         \"Issuer Identifier for the OP that the RP is to send the Authentication Request to\"; \
         an RP that trusts one issuer cannot send the request to another, and starting a login \
         toward its own IdP instead answers a request nobody made for it (anyone's page can \
         start logins through the initiate login URI). No MUST says it in these words, hence \
         SHOULD. The trial launches the app with iss https://unknown-issuer.invalid; an \
         authorization request reaching the IdP after it, or a session, fails it.",
    ),
    // --- roles: the file's expectations ------------------------------------------------------
    case(
        "R1",
        "group sync on: a user in a mapped group gets that group's role",
        Strength::Connection,
        "The connection's expectations: with `enforce_group_sync`, `group_mappings` give a user \
         in a mapped group the role it maps to (Qovery's enterprise-connection settings).",
    ),
    case(
        "R2",
        "no mapped group, no groups attribute, or a mapped group the filter never sends: the \
         default role",
        Strength::Connection,
        "The connection's expectations: `default_role` applies when no group the IdP sends is \
         mapped, including when it sends no groups attribute at all; a group the app's group \
         filter does not pass is never sent (Okta's group attribute statement sends only the \
         groups that pass its filter), so its mapping cannot apply.",
    ),
    case(
        "R3",
        "group sync off: mappings are ignored",
        Strength::Connection,
        "The connection's expectations: without `enforce_group_sync` every user gets \
         `default_role`, whatever groups the IdP sends.",
    ),
    case(
        "R4",
        "a user in several mapped groups gets the highest role",
        Strength::Connection,
        "The connection's expectations: `role_precedence` (highest first) decides between the \
         roles of several mapped groups, whatever order the groups arrive in; Qovery does not \
         document an order, so the file states the one the SP is configured with.",
    ),
    case(
        "R5",
        "groups removed at the IdP, then a new login: the role is downgraded",
        Strength::Connection,
        "The connection's expectations: with `enforce_group_sync` the role follows the groups \
         of each login, so a group removed at the IdP takes its role away at the next login.",
    ),
    case(
        "R6",
        "group names that differ only in case or whitespace (no trial yet)",
        Strength::Connection,
        "Not documented by Qovery, so not judged: the file's group names are taken exactly as \
         written (Okta's group filters are case-sensitive), and what an SP does with a near miss \
         is for a scenario of the file to record.",
    ),
    case(
        "R7",
        "no email: the login is refused",
        Strength::Connection,
        "The connection's expectations: the SP requires an email for every user (it provisions \
         and finds users by it), so a login without one must be refused.",
    ),
    case(
        "R8",
        "no name: the login is refused, or accepted with `require_name: false`",
        Strength::Connection,
        "The connection's expectations: `require_name` (default true) says whether the SP needs \
         a name to provision the user.",
    ),
    // --- Global Token Revocation (Okta Universal Logout) --------------------------------------
    case(
        "T1",
        "the honest revocation request gets 204 and ends the user's sessions",
        Strength::Vendor,
        "draft-parecki-oauth-global-token-revocation-05 §3.3: on a valid request the receiver \
         MUST revoke the user's refresh tokens and MUST re-authenticate the user before issuing \
         new ones; §3.4.1: 204 on success. Okta, Build Universal Logout for your app, \
         \"Revocation details\": the app should revoke all of the user's session cookies, and a \
         204 means the user is logged out.",
    ),
    case(
        "T2",
        "the email subject format: 204 when the connection uses it, else 400",
        Strength::Connection,
        "The app's `global_token_revocation.subject_format` says which identifier Okta sends \
         (Okta Integration Wizard, \"Subject format\": Email or Issuer and Subject identifier). \
         RFC 9493 §3.2.2 defines the email format; draft-parecki-oauth-global-token-revocation-05 \
         §3.4.2: 400 for a subject identifier type the receiver does not support.",
    ),
    case(
        "T3",
        "authentication missing or invalid: 401, and the session survives",
        Strength::Vendor,
        "draft-parecki-oauth-global-token-revocation-05 §3.2: the request MUST be \
         authenticated; §3.4.2: 401 when the authentication provided is invalid. Okta, Build \
         Universal Logout for your app, \"Endpoint authentication\": Okta sends a JWT (typ \
         `global-token-revocation+jwt`; jti, iss, sub, aud, exp, nbf, iat) signed with the key \
         that signs the app's ID tokens or SAML assertions, and the endpoint should validate \
         its signature and claims; \"Logout response and response codes\": authentication is \
         checked first.",
    ),
    variant(
        "T3",
        "no_authorization",
        "no Authorization header",
        Strength::Must,
        "draft-parecki-oauth-global-token-revocation-05 §3.2: the request MUST be authenticated; \
         §3.4.2: 401 Unauthorized.",
    ),
    variant(
        "T3",
        "foreign_key",
        "the JWT is signed by a key that is not the IdP's",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": the JWT is \
         signed with the key that signs the app's ID tokens or SAML assertions, and the endpoint \
         should validate the signature; RFC 7519 §7.2: a JWT whose validation fails MUST be \
         rejected.",
    ),
    variant(
        "T3",
        "alg_none",
        "the JWT is unsigned (alg none)",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": the JWT is \
         signed with the algorithm and key of the app's SSO tokens; RFC 8725 §3.2: JWTs using \
         none SHOULD NOT be consumed unless the caller asked for them.",
    ),
    variant(
        "T3",
        "typ_missing",
        "the JWT has no typ",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": the header \
         carries typ `global-token-revocation+jwt`; RFC 8725 §3.11 (explicit typing): the typ \
         tells this JWT from the other JWTs the same key signs.",
    ),
    variant(
        "T3",
        "typ_wrong",
        "the JWT's typ is not global-token-revocation+jwt",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": the header \
         carries typ `global-token-revocation+jwt`; RFC 8725 §3.11 (explicit typing): the typ \
         tells this JWT from the other JWTs the same key signs.",
    ),
    variant(
        "T3",
        "aud_wrong",
        "aud is not the endpoint",
        Strength::Must,
        "RFC 7519 §4.1.3: a recipient that does not identify itself with a value of aud MUST \
         reject the JWT; Okta, Build Universal Logout for your app, \"Endpoint authentication\": \
         aud is the URL of the revocation endpoint.",
    ),
    variant(
        "T3",
        "aud_with_query",
        "aud is the endpoint with a query string appended",
        Strength::Must,
        "RFC 7519 §4.1.3: a recipient that does not identify itself with a value of aud MUST \
         reject the JWT; Okta, Build Universal Logout for your app, \"Endpoint authentication\": \
         aud is the endpoint URL without query string or fragment, so `{endpoint}?x` names \
         another audience.",
    ),
    variant(
        "T3",
        "expired",
        "the JWT has expired",
        Strength::Must,
        "RFC 7519 §4.1.4: the current time MUST be before exp (a little leeway for clock skew).",
    ),
    variant(
        "T3",
        "nbf_in_the_future",
        "the JWT is not yet valid (nbf in the future)",
        Strength::Must,
        "RFC 7519 §4.1.5: the current time MUST be after or equal to nbf (a little leeway for \
         clock skew).",
    ),
    variant(
        "T3",
        "wrong_iss",
        "iss is not the IdP",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": iss is the \
         issuer URL of the org's OpenID Connect ID tokens, and the endpoint should validate it.",
    ),
    case(
        "T4",
        "sub names another app: 401 or 403",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": sub is the app \
         itself (the OIDC client_id, or the SAML app instance id); \"Logout response and \
         response codes\": 401 for invalid authentication, 403 for insufficient authorization.",
    ),
    case(
        "T5",
        "a malformed request body: 400, and the session survives",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Logout request\": the body is a JSON object \
         whose `subject` is an RFC 9493 subject identifier (email or iss_sub); \"Logout response \
         and response codes\": 400 for a malformed request, invalid or unrecognized properties, \
         or an unrecognized subject identifier type (later drafts of \
         draft-parecki-oauth-global-token-revocation name the property sub_id; Okta sends \
         `subject`).",
    ),
    variant(
        "T5",
        "unknown_format",
        "a subject identifier of a format the SP does not know",
        Strength::Vendor,
        "draft-parecki-oauth-global-token-revocation-05 §3.4.2: 400 Bad Request for an \
         unrecognized or unsupported type of subject identifier; Okta, \"Logout response and \
         response codes\": the same.",
    ),
    variant(
        "T5",
        "missing_subject",
        "a body without the subject identifier",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Logout request\": the body names the user \
         under `subject`; \"Logout response and response codes\": 400 for a malformed request.",
    ),
    variant(
        "T5",
        "not_json",
        "a body that is not JSON",
        Strength::Vendor,
        "draft-parecki-oauth-global-token-revocation-05 §3.1: the endpoint takes an \
         application/json body; §3.4.2: 400 for a malformed request.",
    ),
    case(
        "T6",
        "a user with no session at the SP: 404",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Logout response and response codes\": \
         look up the user the subject identifier names and return 404 if not found; \
         draft-parecki-oauth-global-token-revocation-05 §3.4.2: 404 User Not Found.",
    ),
    case(
        "T7",
        "subject.iss names another IdP: refused, the session survives",
        Strength::Should,
        "RFC 9493 §3.2.3: an iss_sub identifier names its subject by the pair of issuer and \
         subject, so the same sub under another issuer is another subject; ending this IdP's \
         user's sessions for it logs out someone the request did not name.",
    ),
    case(
        "T8",
        "the same request again after a new login: refused, the new session survives",
        Strength::Vendor,
        "Okta, Build Universal Logout for your app, \"Endpoint authentication\": every JWT \
         carries a unique jti; RFC 7523 §3 lets the receiver keep the jti values it has seen \
         until they expire and refuse them again (a MAY there), and a request replayed after \
         the user signed in again must not end the new session.",
    ),
    case(
        "T9",
        "other users keep their sessions",
        Strength::Vendor,
        "draft-parecki-oauth-global-token-revocation-05 §3: a request revokes the tokens of \
         the subject its sub_id identifies; Okta, Build Universal Logout for your app: the \
         request asks the app to log out that user, not every user.",
    ),
    // --- logout --------------------------------------------------------------------------------
    case(
        "G1",
        "SAML SP-initiated logout ends the SP session and, through the IdP's SLO, the IdP's",
        Strength::Connection,
        "SAML 2.0 Profiles §4.4 (Single Logout Profile) and Core §3.7 (Single Logout Protocol): \
         a session participant that logs the principal out sends a LogoutRequest to the \
         session authority; the file's `target.logout_url` and the app's `logout.slo_url` say \
         this connection uses single logout.",
    ),
    case(
        "G2",
        "a signed IdP-initiated LogoutRequest ends the SP session",
        Strength::Must,
        "SAML 2.0 Core §3.7.3.1 (Session Participant Rules): a session participant receiving a \
         LogoutRequest from the authority that issued the principal's assertion MUST invalidate \
         the session(s) it names.",
    ),
    variant(
        "G2",
        "unsigned",
        "an unsigned LogoutRequest has no effect",
        Strength::Must,
        "SAML 2.0 Core §3.7.3.1: the session participant MUST authenticate the LogoutRequest; \
         an unsigned one, delivered through the browser, authenticates nothing.",
    ),
    variant(
        "G2",
        "wrong_destination",
        "a LogoutRequest whose Destination only starts with the SLO URL (`-elsewhere`) has no effect",
        Strength::Must,
        "SAML 2.0 Core §3.2.1: when a request carries a Destination, the recipient MUST check \
         that it is the location at which the message was received, and MUST discard the \
         request if it is not; a URL of which the SLO URL is only a prefix is another location.",
    ),
    variant(
        "G2",
        "other_session",
        "a LogoutRequest naming another user's NameID and SessionIndex leaves this session alone",
        Strength::Must,
        "SAML 2.0 Core §3.7.3.1: the session participant MUST invalidate the session(s) the \
         request's NameID and SessionIndex refer to: another user's, not the session of the \
         browser that happens to deliver it.",
    ),
    case(
        "G3",
        "OIDC RP-initiated logout goes through the OP's end_session; both sessions end",
        Strength::Connection,
        "OpenID Connect RP-Initiated Logout 1.0 §2: an RP requests that the OP log the End-User \
         out by redirecting the User Agent to the OP's logout endpoint; the file's \
         `target.logout_url` says this RP offers logout.",
    ),
    variant(
        "G3",
        "post_logout_redirect_with_another_state",
        "end_session comes back to the post_logout_redirect_uri with another state: what the RP \
         did is reported, not judged",
        Strength::Should,
        "OpenID Connect RP-Initiated Logout 1.0 §2: state is an opaque value the RP uses to \
         maintain state between the logout request and the callback to its \
         post_logout_redirect_uri, and the OP passes it back; neither §2 nor §3 puts a MUST on \
         the RP's check of it. The trial (the OpenID Foundation's RP test \
         rp-init-logout-other-state) notes what the RP answered and whether its session ended, \
         and never fails on it; it is not run when the RP's logout sends no state.",
    ),
    variant(
        "G3",
        "post_logout_redirect_without_state",
        "end_session comes back to the post_logout_redirect_uri without the state the RP sent: \
         what the RP did is reported, not judged",
        Strength::Should,
        "OpenID Connect RP-Initiated Logout 1.0 §2: if the logout request included state, the OP \
         passes it back; the RP's handling of a return without it has no MUST. The trial (the \
         OpenID Foundation's RP test rp-init-logout-no-state) notes what the RP answered and \
         whether its session ended, and never fails on it; it is not run when the RP's logout \
         sends no state.",
    ),
    case(
        "G4",
        "a valid back-channel logout token: 200, and the session ends",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 (Back-Channel Logout Actions): after a valid \
         Logout Token the RP clears the state of the session(s) it identifies; §2.8: if the \
         logout succeeded, the RP MUST respond 200 OK.",
    ),
    variant(
        "G4",
        "alg_none",
        "an unsigned logout token (alg none)",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 3: an alg with the value none MUST \
         NOT be used for Logout Tokens; §2.6: if any validation step fails, the RP rejects the \
         Logout Token, and §2.8: an invalid logout request MUST be answered 400 Bad Request \
         (the session stays).",
    ),
    variant(
        "G4",
        "wrong_alg",
        "a logout token MACed with HS256 and a secret the RP does not share",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 steps 2 and 3: validate the signature and \
         the alg as for an ID Token (OpenID Connect Core 1.0 §3.1.3.7 steps 6-8: the keys the \
         Issuer provides, or the client_secret for a MAC); §2.6: if any validation step fails, \
         the RP rejects the Logout Token, and §2.8: an invalid logout request MUST be answered \
         400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "wrong_aud",
        "a logout token for another client",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 4: validate aud as in ID Tokens \
         (OpenID Connect Core 1.0 §3.1.3.7 step 3: aud MUST contain the client_id); §2.6: if \
         any validation step fails, the RP rejects the Logout Token, and §2.8: an invalid \
         logout request MUST be answered 400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "wrong_iss",
        "a logout token from another issuer",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 4: validate iss as in ID Tokens \
         (OpenID Connect Core 1.0 §3.1.3.7 step 2: iss MUST exactly match the Issuer \
         Identifier); §2.6: if any validation step fails, the RP rejects the Logout Token, and \
         §2.8: an invalid logout request MUST be answered 400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "no_event",
        "a logout token without the back-channel logout event",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 6: verify that the events claim holds \
         the member http://schemas.openid.net/event/backchannel-logout; §2.6: if any validation \
         step fails, the RP rejects the Logout Token, and §2.8: an invalid logout request MUST \
         be answered 400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "wrong_event",
        "a logout token whose event is another one",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 6: verify that the events claim holds \
         the member http://schemas.openid.net/event/backchannel-logout; §2.6: if any validation \
         step fails, the RP rejects the Logout Token, and §2.8: an invalid logout request MUST \
         be answered 400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "nonce_present",
        "a logout token carrying a nonce",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 7: verify that the Logout Token does \
         not contain a nonce claim (so that an ID Token cannot be passed off as one); §2.6: if \
         any validation step fails, the RP rejects the Logout Token, and §2.8: an invalid \
         logout request MUST be answered 400 Bad Request (the session stays).",
    ),
    variant(
        "G4",
        "bad_signature",
        "a logout token signed by a key that is not the OP's",
        Strength::Must,
        "OpenID Connect Back-Channel Logout 1.0 §2.6 step 2: validate the signature as for an \
         ID Token, with the keys the Issuer provides (OpenID Connect Core 1.0 §3.1.3.7 step 6); \
         §2.6: if any validation step fails, the RP rejects the Logout Token, and §2.8: an \
         invalid logout request MUST be answered 400 Bad Request (the session stays).",
    ),
    // --- SAML login faults ---------------------------------------------------------------------
    case(
        "S1",
        "no signature on the Response or the Assertion",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.5 (errata E26): when the HTTP-POST binding delivers the \
         Response, each assertion MUST be protected by a digital signature, on the Assertion \
         or on the Response; §4.1.4.3: the SP MUST verify the signatures.",
    ),
    variant(
        "S1",
        "assertion_unsigned_in_signed_response",
        "only the Response is signed (a fault only for an SP that requires signed assertions)",
        Strength::Connection,
        "SAML 2.0 Profiles §4.1.4.5 (errata E26) lets a signed Response protect its assertions, \
         so refusing an unsigned Assertion inside a signed Response is required only of an SP \
         whose settings require signed assertions (Okta signs both by default: the app's \
         `sign: both`).",
    ),
    case(
        "S2",
        "signed by a key that is not the IdP's, with its own certificate in KeyInfo",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify the signatures on the Response or its \
         assertions, which means with the key it holds for its IdP (from its metadata or \
         settings): a certificate the document carries in its own KeyInfo proves only that \
         someone signed it.",
    ),
    variant(
        "S2",
        "signed_by_a_foreign_key_value_without_certificate",
        "signed by a foreign key given only as a ds:KeyValue (no certificate)",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify the signatures with the key it holds for \
         its IdP; XML Signature Syntax and Processing §4.4 (KeyInfo): KeyInfo is optional and \
         may carry any key, so a key the document brings proves nothing (pysaml2 \
         CVE-2021-21239: xmlsec1 took any key the document carried until pysaml2 6.5.0 enabled \
         only raw X.509 certificates as key data).",
    ),
    variant(
        "S2",
        "signed_by_a_foreign_key_value_beside_the_idp_certificate",
        "KeyInfo holds the IdP's real certificate and, beside it, the foreign key that signed",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify the signatures with the key it holds for \
         its IdP: finding the IdP's certificate in KeyInfo does not make the signature the \
         IdP's; the signature must verify with the configured key itself, never with another \
         key the same KeyInfo offers.",
    ),
    case(
        "S3",
        "the content was altered after signing",
        Strength::Must,
        "XML Signature Syntax and Processing §3.2.1 (Reference Validation): a digest that does \
         not match the referenced content fails core validation; SAML 2.0 Profiles §4.1.4.3: \
         the SP MUST verify the signatures.",
    ),
    case(
        "S4",
        "the Assertion's Conditions have expired or are not yet valid",
        Strength::Must,
        "SAML 2.0 Core §2.5.1.2 (NotBefore and NotOnOrAfter) and §2.5.1.1: an assertion whose \
         Conditions are Invalid MUST be rejected by the relying party.",
    ),
    case(
        "S5",
        "the bearer SubjectConfirmationData NotOnOrAfter has passed",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify that the NotOnOrAfter attribute in any \
         bearer SubjectConfirmationData has not passed, subject to allowable clock skew.",
    ),
    case(
        "S6",
        "the Audience is another SP",
        Strength::Must,
        "SAML 2.0 Core §2.5.1.4: the audience restriction is Valid if and only if the relying \
         party is one of the audiences, and §2.5.1.1: an Invalid assertion MUST be rejected; \
         Profiles §4.1.4.2: each bearer assertion names the SP's own entity id as Audience.",
    ),
    case(
        "S7",
        "the Recipient or the Destination is not the ACS URL",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify that the bearer Recipient matches the \
         assertion consumer service URL the Response was delivered to; Core §3.2.2: a \
         Destination that is not where the Response was received MUST make the SP discard it.",
    ),
    variant(
        "S7",
        "recipient_not_the_acs",
        "the bearer Recipient is another URL",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify that the Recipient attribute in any \
         bearer SubjectConfirmationData matches the assertion consumer service URL to which \
         the Response was delivered.",
    ),
    variant(
        "S7",
        "destination_not_the_acs",
        "the Response's Destination is another URL",
        Strength::Must,
        "SAML 2.0 Core §3.2.2: when a Response carries a Destination, the recipient MUST check \
         that it is the location at which the message was received, and MUST discard the \
         Response if it is not; Bindings §3.5.5.2: a signed message delivered over HTTP-POST \
         MUST carry the Destination it was sent to.",
    ),
    variant(
        "S7",
        "destination_the_acs",
        "the Destination only starts with the ACS URL (`-elsewhere`, one more letter, `/../other`)",
        Strength::Must,
        "SAML 2.0 Core §3.2.2: the recipient MUST check that the Destination is the location at \
         which the Response was received and MUST discard it if not; a URL of which the ACS URL \
         is only a prefix is another location (an SP comparing with startswith takes it).",
    ),
    variant(
        "S7",
        "recipient_containing_the_acs",
        "the bearer Recipient is another site's URL that only contains the ACS URL",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify that the Recipient matches the assertion \
         consumer service URL to which the Response was delivered; a URL that merely contains \
         it (an SP comparing by substring takes it) does not match.",
    ),
    case(
        "S8",
        "InResponseTo is not one of the SP's requests",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.3: the SP MUST verify that InResponseTo in the bearer \
         SubjectConfirmationData equals the ID of its original AuthnRequest (unless the \
         Response is unsolicited, when it MUST NOT be present).",
    ),
    case(
        "S9",
        "an unsolicited Response to an SP that takes SP-initiated logins only",
        Strength::Connection,
        "SAML 2.0 Profiles §4.1.5 allows unsolicited Responses, and whether an SP takes them is \
         its setting: with the app's `allow_idp_initiated: false`, a Response that answers none \
         of the SP's requests must be refused (§4.1.4.3).",
    ),
    case(
        "S10",
        "the same Response posted again, from another browser",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.5: the SP MUST ensure that bearer assertions are not \
         replayed, by keeping the set of used assertion IDs for as long as the assertion would \
         be valid.",
    ),
    case(
        "S11",
        "the Issuer is not the IdP",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.2: the Issuer MUST contain the unique identifier of the \
         issuing identity provider; §4.1.4.3: the SP MUST verify that the assertions it relies \
         on are valid in other respects, which an assertion claiming another issuer is not.",
    ),
    case(
        "S12",
        "the subject confirmation is not a bearer one with a Recipient",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.2: an assertion of the Web Browser SSO profile carries a \
         bearer SubjectConfirmation whose SubjectConfirmationData MUST contain a Recipient; \
         §4.1.4.3: the SP verifies both.",
    ),
    variant(
        "S12",
        "not_bearer",
        "the SubjectConfirmation method is holder-of-key, not bearer",
        Strength::Should,
        "SAML 2.0 Profiles §4.1.4.2: any assertion issued for this profile MUST contain a \
         SubjectConfirmation with the bearer method; §4.1.4.3: an assertion whose subject \
         confirmation requirements cannot be met (a browser proves no key) SHOULD be discarded \
         and SHOULD NOT be used to establish a security context.",
    ),
    variant(
        "S12",
        "no_recipient",
        "the bearer SubjectConfirmationData has no Recipient",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.2: the bearer SubjectConfirmationData MUST contain a \
         Recipient attribute with the SP's assertion consumer service URL; §4.1.4.3: the SP \
         MUST verify that Recipient matches the URL the Response was delivered to, which an \
         absent Recipient cannot.",
    ),
    case(
        "S13",
        "the Response's Status is not Success",
        Strength::Should,
        "SAML 2.0 Core §3.2.2.2: a top-level StatusCode other than Success reports that the \
         request failed; Profiles §4.1.4.2: an identity provider returning an error MUST NOT \
         include assertions. An SP should establish no session from such a Response.",
    ),
    case(
        "S14",
        "XSW1: an evil Response wraps the signed one inside its signature",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S15",
        "XSW2: an evil Response with the signed one before its signature",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S16",
        "XSW3: an evil Assertion before the signed one",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S17",
        "XSW4: an evil Assertion wraps the signed one",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S18",
        "XSW5: the signed Assertion turned evil, an unsigned honest copy at the end",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S19",
        "XSW6: the signed Assertion turned evil, the honest copy inside its signature",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S20",
        "XSW7: an evil Assertion in samlp:Extensions",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S21",
        "XSW8: the signed Assertion turned evil, the honest copy in a ds:Object",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S22",
        "a comment inside the NameID: the SP keeps the whole value",
        Strength::Must,
        "The signature covers the NameID's whole text: exclusive canonicalization drops the \
         comment, so `alice@acme.test<!---->.evil.test` is signed as \
         `alice@acme.test.evil.test`. SAML 2.0 Core §2.2.2: NameID is a string-valued element, \
         its content the identifier; SAML 2.0 Profiles §4.1.4.3 and XML Signature (\"See\" What \
         is Signed): the SP uses the value that was signed, never the text before the comment \
         (the comment-injection flaws Duo Labs disclosed in 2018, CVE-2017-11427 and others).",
    ),
    case(
        "S23",
        "two assertions: the signed one, then a forged, unsigned one",
        Strength::Must,
        ONLY_WHAT_IS_SIGNED,
    ),
    case(
        "S24",
        "a DOCTYPE declaring entities: refused, nothing fetched or expanded",
        Strength::Should,
        "No SAML or XML Signature text requires refusing a DOCTYPE; OWASP's XML External \
         Entity Prevention Cheat Sheet advises disabling DTDs entirely: a parser that honours \
         them can be made to read files or fetch URLs (CWE-611) or to exhaust memory (CWE-776). \
         A SAML message needs no DTD.",
    ),
    variant(
        "S24",
        "external_entity_referenced",
        "the NameID references an external entity: refused without fetching it",
        Strength::Should,
        "OWASP's XML External Entity Prevention Cheat Sheet: disable DTDs and external \
         entities; fetching one (CWE-611, the IdP sees the request) is a failure whatever the SP \
         then decides.",
    ),
    case(
        "S25",
        "the RelayState points at another site: after the ACS the SP stays on its own site",
        Strength::Should,
        "SAML 2.0 Bindings §3.4.3 and §3.5.3: RelayState is state the SP itself sent (MUST \
         return it unchanged), not a destination the SP may trust; OWASP's Unvalidated \
         Redirects and Forwards Cheat Sheet: redirect only to validated, local destinations \
         (CWE-601). Refusing such a login is allowed; redirecting off-site is not.",
    ),
    case(
        "S26",
        "session fixation: the cookies the SP set before the login get no session after it",
        Strength::Should,
        "OWASP ASVS 4.0.3 V3.2.1: the application generates a new session token on user \
         authentication. A browser holding only the cookies the SP set before the login (their \
         pre-login values) must not be signed in once the user is; cookies that are not the \
         session (CSRF or login-state cookies) are harmless and not judged.",
    ),
    case(
        "S27",
        "the Assertion in clear to an SP that takes only encrypted assertions",
        Strength::Connection,
        "SAML 2.0 Core §2.3.4 (EncryptedAssertion) and Profiles §4.1.4.2 leave encryption to \
         the parties' agreement: an SP that gave the IdP its encryption certificate (Okta: \
         Advanced Settings, Assertion Encryption: Encrypted, the app's `encryption`) has made \
         confidentiality its policy, and an Assertion in clear (readable by the browser and \
         anything between) is outside it. No MUST of SAML forbids a clear Assertion, so this is \
         the SP's own configured policy.",
    ),
    case(
        "S28",
        "an encrypted Assertion whose inner signature is missing or broken",
        Strength::Must,
        "SAML 2.0 Profiles §4.1.4.5 (errata E26): each assertion MUST be protected by a \
         signature, and §4.1.4.3: the SP MUST verify it; encryption is no signature (Core \
         §2.3.4: the encryption key is the SP's public certificate, so anyone can encrypt an \
         Assertion for it). XML Signature §3.2: a signature present that fails core validation \
         fails; the SP verifies the Assertion's signature after decrypting it.",
    ),
    case(
        "S29",
        "a Response signed RSA-SHA1 over SHA-1 digests to an SP configured for SHA-256",
        Strength::Connection,
        "XML Signature 1.1 §6.2.1 and §6.4.2: SHA-1 and RSA-SHA1 are discouraged (use is \
         discouraged because of collision attacks; SHA-256 and RSA-SHA256 are the required \
         algorithms); NIST SP 800-131A Rev. 2 §9: SHA-1 is disallowed for generating digital \
         signatures. No SAML MUST forbids verifying one, so the refusal is judged against the \
         SP's configuration (Okta's Signature and Digest Algorithm: RSA-SHA256 and SHA256 by \
         default); `target.allows_sha1: true` says the SP takes SHA-1, and the case is not \
         run.",
    ),
    case(
        "S30",
        "content altered after signing, each DigestValue led by a comment holding the new digest",
        Strength::Must,
        "XML Signature Syntax and Processing §3.2.1 (Reference Validation): the digest of the \
         referenced content is compared with the DigestValue; the comment is no part of that \
         value (Canonical XML drops comments from SignedInfo, which is why the SignatureValue \
         still verifies), so the altered content fails core validation. SAML 2.0 Profiles \
         §4.1.4.3: the SP MUST verify the signatures (xml-crypto CVE-2025-29775: the digest was \
         read from the DigestValue's first child node; fixed in 6.0.1, 3.2.1 and 2.1.6).",
    ),
    case(
        "S31",
        "two root elements: the IdP-signed Assertion, then a forged Response",
        Strength::Must,
        "XML 1.0 §2.1 (Well-Formed XML Documents): a document has exactly one root element, and \
         §1.2: a fatal error stops normal processing, so the text is no SAML message at all; \
         SAML 2.0 Profiles §4.1.4.3: the SP MUST verify the signatures of the Response it reads, \
         not of another element (passport-saml CVE-2022-39299: a signature over the first root \
         element was taken for the Response after it).",
    ),
    // --- OIDC login faults ---------------------------------------------------------------------
    case(
        "O1",
        "the id_token's iss is another IdP's",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 2: the Issuer Identifier for the OpenID \
         Provider MUST exactly match the value of the iss claim.",
    ),
    case(
        "O2",
        "the id_token's aud does not list this client",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 3: the Client MUST validate that aud contains its \
         client_id, and the ID Token MUST be rejected if it does not list the Client as a valid \
         audience.",
    ),
    variant(
        "O2",
        "aud_of_another_client",
        "aud names another client",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 3: the Client MUST validate that aud contains its \
         client_id; the ID Token MUST be rejected if it does not list the Client as a valid \
         audience.",
    ),
    variant(
        "O2",
        "aud_of_another_client_azp_this_one",
        "aud names another client while azp names this one",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 3: aud MUST contain the client_id whatever azp \
         says, and the ID Token MUST be rejected otherwise; azp is checked in addition to aud, \
         never instead of it.",
    ),
    variant(
        "O2",
        "aud_missing",
        "the id_token has no aud",
        Strength::Must,
        "OpenID Connect Core 1.0 §2: aud is REQUIRED in an ID Token; §3.1.3.7 step 3: a token \
         that does not list the Client as an audience MUST be rejected.",
    ),
    case(
        "O3",
        "the id_token has no sub",
        Strength::Should,
        "OpenID Connect Core 1.0 §2: sub is REQUIRED in an ID Token; §5.7: iss and sub together \
         are the only identifier of the End-User an RP can rely on (an email can be reassigned). \
         The OpenID Foundation's RP test rp-id_token-sub expects the ID Token to be rejected; \
         §3.1.3.7's validation steps name no MUST for it, hence SHOULD.",
    ),
    case(
        "O4",
        "the id_token has no iat",
        Strength::Should,
        "OpenID Connect Core 1.0 §2: iat is REQUIRED in an ID Token. The OpenID Foundation's RP \
         test rp-id_token-iat (oidcc-client-test-missing-iat): the client must identify the \
         missing iat and reject the ID Token; §3.1.3.7's validation steps name no MUST for it \
         (step 10 lets the client use iat), hence SHOULD.",
    ),
    case(
        "O5",
        "the id_token's nonce is not the one sent",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 11: if a nonce was sent in the Authentication \
         Request, a nonce claim MUST be present and its value MUST be the one sent.",
    ),
    case(
        "O6",
        "the id_token's signature does not verify",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.2.2.11 (and §3.3.2.12): the Client MUST validate the \
         signature of an ID Token from the authorization endpoint (implicit and hybrid flows), \
         so there O6-O9 forge that one and are judged. §3.1.3.7 step 6 lets an RP rely on TLS \
         instead of the signature of the ID Token it takes straight from the token endpoint: in \
         the code flow an acceptance is reported as not judged, unless \
         target.verifies_id_token_signature says the SP checks it, and then RFC 8725 §3.3 \
         applies: every cryptographic operation of a JWT MUST be validated and the JWT MUST be \
         rejected if any fails (RFC 7519 §7.2).",
    ),
    case(
        "O7",
        "the id_token is unsigned (alg none)",
        Strength::Must,
        "OpenID Connect Core 1.0 §2: ID Tokens MUST NOT use none as the alg unless the Client \
         registered for it (this client registered RS256 or ES256); RFC 8725 §3.1: only the \
         algorithms the application accepts are used. Judged like O6: always for an ID Token \
         from the authorization endpoint, for the token endpoint's when \
         target.verifies_id_token_signature says the SP checks its signature (§3.1.3.7 step 6).",
    ),
    variant(
        "O7",
        "alg_none_kid_not_in_the_jwks",
        "alg none with a kid the JWKS does not hold",
        Strength::Must,
        "OpenID Connect Core 1.0 §2: ID Tokens MUST NOT use none unless the Client registered \
         for it; §3.1.3.7 step 6: the Client MUST validate the signature with the keys the \
         Issuer provides: a kid that names none of them is a reason to refuse, never to verify \
         with no key (jsonwebtoken CVE-2022-23540: verify() with an empty key and no algorithms \
         list fell back to none; fixed in 9.0.0).",
    ),
    variant(
        "O7",
        "alg_none_spelled",
        "alg none written in another letter case",
        Strength::Must,
        "RFC 7515 §4.1.1: alg values are case-sensitive, so None or NONE is no algorithm this \
         client registered (RS256 or ES256) and the token MUST be rejected (RFC 8725 §3.1: only \
         the algorithms the application accepts); a verifier that blocks none as written and \
         reads the other spellings as none is fooled.",
    ),
    variant(
        "O7",
        "alg_none_without_kid",
        "alg none with no kid at all",
        Strength::Must,
        "OpenID Connect Core 1.0 §2: ID Tokens MUST NOT use none unless the Client registered \
         for it; a token that names no key still must verify with one of the Issuer's keys \
         (§3.1.3.7 step 6), never with no key (jsonwebtoken CVE-2022-23540).",
    ),
    case(
        "O8",
        "HS256 keyed with the IdP's public key (key confusion)",
        Strength::Must,
        "RFC 8725 §3.1: each key MUST be used with exactly one algorithm, checked when the \
         cryptographic operation is performed; OpenID Connect Core 1.0 §3.1.3.7 step 8: a MAC \
         alg is keyed with the client_secret, never the OP's public key. Judged like O6: always \
         for an ID Token from the authorization endpoint, for the token endpoint's when \
         target.verifies_id_token_signature says the SP checks its signature.",
    ),
    variant(
        "O8",
        "hs256_with_the_ec_public_key_as_pem",
        "HS256 keyed with the ES256 app's EC public key (SPKI PEM)",
        Strength::Must,
        "RFC 8725 §3.1: each key MUST be used with exactly one algorithm; the EC key signs \
         ES256 and is never an HMAC secret (OpenID Connect Core 1.0 §3.1.3.7 step 8: a MAC is \
         keyed with the client_secret).",
    ),
    variant(
        "O8",
        "hs256_with_the_public_key_as_jwk_json",
        "HS256 keyed with the IdP's public key as its JWK JSON text",
        Strength::Must,
        "RFC 8725 §3.1: each key MUST be used with exactly one algorithm, whatever text it is \
         kept in; a JWK of kty RSA or EC is no octet secret (RFC 7518 §6.4). PyJWT before 2.13.0 \
         took a public JWK as an HMAC secret (CVE-2026-48526).",
    ),
    variant(
        "O8",
        "hs256_with_the_public_key_as_openssh_line",
        "HS256 keyed with the IdP's public key as an OpenSSH line (ssh-rsa, ecdsa-sha2-nistp256)",
        Strength::Must,
        "RFC 8725 §3.1: each key MUST be used with exactly one algorithm. PyJWT before 2.4.0 \
         (CVE-2022-29217) and python-jose through 3.3.0 (CVE-2024-33663) blocked PEM and ssh-rsa \
         keys as HMAC secrets but let ecdsa-sha2-nistp256 and other OpenSSH keys through.",
    ),
    variant(
        "O8",
        "hs256_with_the_public_key_as_pkcs1_pem",
        "HS256 keyed with the IdP's RSA public key as PKCS#1 PEM",
        Strength::Must,
        "RFC 8725 §3.1: each key MUST be used with exactly one algorithm; an RSA public key in \
         PKCS#1 PEM (BEGIN RSA PUBLIC KEY) is the same key as its SPKI PEM and no HMAC secret.",
    ),
    case(
        "O9",
        "the id_token's kid is not in the JWKS, even after fetching it again",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 6: the Client MUST use the keys provided by the \
         Issuer; a kid the Issuer's JWK Set does not hold after fetching it again (§10.1.1) \
         names no such key. Judged like O6: always for an ID Token from the authorization \
         endpoint, for the token endpoint's when target.verifies_id_token_signature says the SP \
         checks its signature.",
    ),
    case(
        "O10",
        "no kid while the JWKS holds several keys: refused or tried, never a failure",
        Strength::Should,
        "OpenID Connect Core 1.0 §10.1: with several keys in the JWK Set a kid MUST be given, so \
         the OP is at fault; the RP may refuse the token or try each of the Issuer's keys (the \
         OpenID Foundation's RP test rp-id_token-kid-absent-multiple-jwks accepts either), but \
         an error (5xx) is neither.",
    ),
    variant(
        "O10",
        "no_kid_with_a_single_key",
        "no kid while the JWKS holds only the signing key: the SP accepts",
        Strength::Should,
        "OpenID Connect Core 1.0 §10.1: a kid MUST be provided when the referenced JWK Set holds \
         several keys, so with a single key an ID Token may leave it out and is still valid under \
         every step of §3.1.3.7; refusing it refuses a valid login (the OpenID Foundation's RP \
         test rp-id_token-kid-absent-single-jwks expects it accepted). The JWK Set is served to \
         everyone, so the trial restarts the SP and runs alone (target.start, or the demo's \
         reference SP); an SP that does not fetch the JWK Set after its restart is not judged.",
    ),
    case(
        "O11",
        "the id_token has expired",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.1.3.7 step 9: the current time MUST be before exp (a small \
         leeway for clock skew).",
    ),
    case(
        "O12",
        "userinfo's sub is not the id_token's: its values are not used",
        Strength::Must,
        "OpenID Connect Core 1.0 §5.3.2: the sub claim in the UserInfo Response MUST be \
         verified to exactly match the sub claim in the ID Token; if they do not match, the \
         UserInfo Response values MUST NOT be used. The RP must not use them; it need not refuse \
         the login.",
    ),
    case(
        "O13",
        "discovery names an issuer that is not the issuer in use",
        Strength::Must,
        "OpenID Connect Discovery 1.0 §4.3: the issuer value returned MUST be identical to the \
         Issuer URL the configuration was fetched from (and to the iss of its ID Tokens); if \
         they are not identical, the data in the response MUST NOT be used.",
    ),
    case(
        "O14",
        "the id_token is signed with a newly published key: the SP fetches the JWKS and accepts",
        Strength::Vendor,
        "Okta, Key rotation: Okta rotates the keys that sign tokens automatically (currently \
         four times a year) and in an emergency, and always publishes them at the jwks_uri. \
         OpenID Connect Core 1.0 §10.1.1: the verifier goes back to the jwks_uri when it sees \
         an unfamiliar kid (the OpenID Foundation's RP test rp-key-rotation-op-sign-key).",
    ),
    case(
        "O15",
        "login CSRF: the callback carries the state of another browser's login",
        Strength::Must,
        "RFC 6749 §10.12: the client MUST implement CSRF protection for its redirection URI, \
         binding each request to the user-agent's authenticated state (the state parameter \
         tied to the browser that started the login); a state from another browser's request \
         must be refused.",
    ),
    case(
        "O16",
        "login CSRF: the request carried state, the callback has none",
        Strength::Must,
        "RFC 6749 §10.12: the client MUST implement CSRF protection for its redirection URI; \
         §4.1.2: the authorization server returns state whenever the request carried it, so a \
         callback without it was not made for this browser's request and must be refused.",
    ),
    case(
        "O17",
        "code injection: a code issued to another browser's request is delivered to this one",
        Strength::Must,
        "RFC 9700 (OAuth 2.0 Security Best Current Practice) §2.1.1 and §4.5: clients MUST \
         prevent authorization code injection, by PKCE (the code_verifier of this browser's \
         request does not redeem a code issued to another's) or by checking the id_token's \
         nonce against the one this browser's request carried (OpenID Connect Core 1.0 \
         §3.1.3.7 step 11).",
    ),
    case(
        "O18",
        "a refresh returns an id_token whose sub is another user's",
        Strength::Must,
        "OpenID Connect Core 1.0 §12.2: the ID Token of a refresh response MUST have the same \
         sub as the ID Token issued at the original authentication (the OpenID Foundation's RP \
         test refresh-token-invalid-sub). Runs when the file says how to make the SP refresh \
         (target.refresh_url); refusing the refresh or ending the session are both allowed.",
    ),
    case(
        "O19",
        "a refresh returns an id_token from another issuer",
        Strength::Must,
        "OpenID Connect Core 1.0 §12.2: the ID Token of a refresh response MUST have the same \
         iss as the ID Token issued at the original authentication (the OpenID Foundation's RP \
         test refresh-token-invalid-issuer). Runs when the file says how to make the SP refresh \
         (target.refresh_url).",
    ),
    case(
        "O20",
        "session fixation: the cookies the RP set before the login get no session after it",
        Strength::Should,
        "OWASP ASVS 4.0.3 V3.2.1: the application generates a new session token on user \
         authentication. A browser holding only the cookies the RP set before the login (their \
         pre-login values) must not be signed in once the user is; cookies that are not the \
         session (CSRF or state cookies) are harmless and not judged.",
    ),
    case(
        "O21",
        "the login's return parameter points at another site: after the callback the RP stays on \
         its own site",
        Strength::Must,
        "RFC 9700 (OAuth 2.0 Security Best Current Practice) §4.11.1: clients MUST NOT expose \
         open redirectors; OWASP's Unvalidated Redirects and Forwards Cheat Sheet: redirect only \
         to validated, local destinations (CWE-601). Runs when the file names the parameter \
         (target.return_param); refusing such a login is allowed.",
    ),
    case(
        "O22",
        "the IdP answers the authorization request with an error (access_denied): the RP has \
         no session and does not fail",
        Strength::Vendor,
        "Okta support, \"Why am I redirected back to my app instead of being shown the \
         Okta-hosted error pages when my OpenID Connect app returns an error?\": Okta returns \
         every error of the authorization request to the client's redirect URI (access_denied \
         \"User is not assigned to the client application.\" included), and the application must \
         catch it and show an error page. OpenID Connect Core 1.0 §3.1.2.6 and RFC 6749 §4.1.2.1: \
         the error and the request's state are returned to the redirect URI, in the response \
         mode the client asked for (OAuth 2.0 Form Post Response Mode §2: a POST form; the OpenID \
         Foundation's RP test form-post-error). No code was issued, so a session fails the trial \
         (sp-accepted); so does a server error (5xx) instead of an error page (sp-crashed).",
    ),
    case(
        "O23",
        "the id_token the authorization endpoint returns beside an access token carries the \
         at_hash of another access token",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.2.2.8 (implicit flow) and §3.3.2.8 (hybrid flow): the \
         Client MUST validate the response, the Access Token included, by §3.2.2.9 / §3.3.2.9: \
         the at_hash of the ID Token (the left half of the SHA-256 of the token, base64url; \
         §3.2.2.10, §3.3.2.11) MUST match the Access Token; the OpenID Foundation's RP test \
         rp-id_token-bad-at_hash. Runs when the SP asks for an id_token and an access token \
         (target.response_type `id_token token` or `code id_token token`).",
    ),
    case(
        "O24",
        "the id_token the authorization endpoint returns beside a code carries the c_hash of \
         another code",
        Strength::Must,
        "OpenID Connect Core 1.0 §3.3.2.8 (hybrid flow): the Client MUST validate the \
         response, the code included, by §3.3.2.10: the c_hash of the ID Token (the left half \
         of the SHA-256 of the code, base64url; §3.3.2.11) MUST match the code, which binds the \
         code to the signed ID Token (a swapped code is caught); the OpenID Foundation's RP \
         test rp-id_token-bad-c_hash. Runs when the SP asks for an id_token with a code \
         (target.response_type `code id_token` or `code id_token token`).",
    ),
    case(
        "O25",
        "okta_post_message: the silent sign-in's answer posted by a frame of another origin is \
         ignored (no session)",
        Strength::Should,
        "HTML Living Standard, Web messaging, \"Posting messages\", security: authors should \
         check the origin attribute to ensure that messages are only accepted from domains that \
         they expect to receive messages from. Okta, OpenID Connect & OAuth 2.0 API, \
         /authorize, response_mode okta_post_message: the result is sent with postMessage from \
         the Okta (issuer's) origin to the origin of the redirect_uri; okta-auth-js takes a \
         message only when event.origin is the issuer's. After the honest login the browser \
         visits target.silent_login_url (the SPA drops its tokens and signs in silently, \
         prompt=none); the IdP's page posts the honest code and state to the SPA's origin from \
         a sandboxed frame (event.origin \"null\"). A session afterwards fails the trial \
         (sp-accepted). Runs in a real browser (--browser chromium) for files with \
         target.silent_login_url.",
    ),
    variant(
        "O25",
        "post_message_from_the_idp_origin",
        "okta_post_message, honest: the silent sign-in's answer posted by the IdP's page is taken",
        Strength::Vendor,
        "Okta, OpenID Connect & OAuth 2.0 API, /authorize, response_mode okta_post_message \
         (used with prompt=none for a silent sign-in in a hidden iframe, okta-auth-js \
         token.getWithoutPrompt()): the result is posted from the issuer's origin to the \
         redirect_uri's origin, and the app signs the user in with it. The honest twin of O25: \
         after it the session must show the user.",
    ),
    case(
        "O26",
        "with rotating refresh tokens, the second refresh presents the token the first returned, \
         and the session stays",
        Strength::Must,
        "RFC 6749 §6: \"The authorization server MAY issue a new refresh token, in which case \
         the client MUST discard the old refresh token and replace it with the new refresh \
         token.\" Okta, Refresh token rotation: a rotated token used after its grace period \
         makes Okta invalidate the most recently issued refresh token and all access tokens \
         issued since the user authenticated (reuse detection), so an RP that keeps the old \
         token loses the grant. \
         After the honest login the browser visits target.refresh_url twice; fakta's token \
         endpoint records which refresh token each refresh presented. The old one at the \
         second refresh (within or after the grace period) fails the trial (wrong-outcome), so \
         does no session afterwards. Runs when the app rotates refresh tokens \
         (refresh_token.rotation rotate), has the refresh token grant, and the file says how \
         to make the SP refresh (target.refresh_url).",
    ),
    variant(
        "O26",
        "one_refresh_with_rotation_keeps_the_session",
        "honest: one refresh with rotating refresh tokens; the session stays",
        Strength::Vendor,
        "Okta, Refresh token rotation: each refresh returns a new refresh token, which the RP \
         keeps. The honest twin of O26: one refresh, presenting the login's refresh token, \
         after which the SP must still have its session; a failure here means the SP cannot \
         refresh with rotation at all, whatever O26 says.",
    ),
    // --- other IdPs' shapes (`idp.flavor`, issue 17) -----------------------------------------
    case(
        "F1",
        "Entra's group overage (a user in more groups than the token holds): the SP fetches the \
         groups and gives the mapped role, or refuses the login; never the default role",
        Strength::Should,
        "Microsoft Entra ID, ID token claims reference, \"Groups overage claim\": above 200 \
         groups in a JWT (150 in a SAML assertion) \"the groups claim isn't included in the \
         token. Instead, it includes an overage claim in the token that indicates to the \
         application to query the Microsoft Graph API to retrieve the user's group membership\" \
         (`_claim_names` / `_claim_sources`, OpenID Connect Core 1.0 §5.6.2 distributed claims; \
         SAML: a `groups.link` attribute \"in place of the `groups` claim\"). An SP that reads \
         the overage as \"no groups\" gives a mapped user the default role. fakta serves the \
         linked Graph call (getMemberObjects, and memberOf). The user of the trial is in a \
         mapped group and enough other groups passing the app's filter; a session with another \
         role than the mapped one fails (wrong-outcome); a refused login passes with a note. \
         \"Needs to\", not MUST: SHOULD.",
    ),
    case(
        "F2",
        "Keycloak's full group path (`/Qovery-Admins`) maps like the group's name",
        Strength::Connection,
        "Keycloak's Group Membership mapper with \"Full group path\" on writes a group as its \
         path from the realm's root (`/Qovery-Admins`; GroupMembershipMapper.useFullPath); an \
         SP connected to Keycloak (the file's `idp.flavor: keycloak`) whose mappings name \
         `Qovery-Admins` must give that group's role to `/Qovery-Admins`, or it silently gives \
         the default role. Planned when the app's mapper sends names (`groups.full_path: \
         false`): the trial sends the mapped group as its full path and expects the mapped \
         role; with full paths on, the role matrix already sends them (the trial is ignored).",
    ),
    case(
        "F3",
        "the SP reads the email from the vendor's email attribute or claim, not from the \
         username",
        Strength::Connection,
        "The identity the IdP asserts (as L0 and R7 check it) under the vendor's names: Entra \
         sends the email in `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress` \
         (SAML) or `email` (id_token), while its NameID and `preferred_username` are the user \
         principal name (Customize SAML token claims: \"a claim with a value of the user's \
         username (also known as the user principal name)\"; ID token claims reference: \
         `preferred_username` is mutable, for display and hints). The trial signs in a user \
         whose username is not their email; the SP's session must show the email.",
    ),
];

/// Every entry, in catalogue order (each case-level entry before its variants).
pub fn all() -> &'static [Rule] {
    RULES
}

/// The entry for `case` and the trial name's tail after `<case>_` (`variant`): the variant
/// entry whose name is, or starts, that tail (the longest such), else the case-level entry.
pub fn rule(case: &str, variant: &str) -> Option<&'static Rule> {
    let names = |r: &Rule| {
        variant == r.variant
            || variant
                .strip_prefix(r.variant)
                .is_some_and(|rest| rest.starts_with('_'))
    };
    let mut found: Option<&'static Rule> = None;
    for r in RULES.iter().filter(|r| r.case == case) {
        let better = if r.variant.is_empty() {
            found.is_none()
        } else {
            names(r) && found.is_none_or(|f| f.variant.len() < r.variant.len())
        };
        if better {
            found = Some(r);
        }
    }
    found
}

/// The entry for a trial name, with or without its pack:
/// `qovery-saml::S7_recipient_not_the_acs_refused` or `S7_recipient_not_the_acs_refused`.
pub fn for_trial(trial_name: &str) -> Option<&'static Rule> {
    let tail = trial_name
        .rsplit_once("::")
        .map_or(trial_name, |(_, tail)| tail);
    let (case, variant) = tail.split_once('_').unwrap_or((tail, ""));
    rule(case, variant)
}

/// The families of cases, by the letter of their ids, with the heading docs/catalogue.md gives
/// each.
const FAMILIES: &[(&str, &str)] = &[
    ("L", "The control"),
    ("R", "Roles (the file's `expectations`)"),
    ("T", "Global Token Revocation (Okta Universal Logout)"),
    ("G", "Logout"),
    ("S", "SAML login faults"),
    ("O", "OpenID Connect login faults"),
    ("F", "Other IdPs' shapes (`idp.flavor`)"),
];

/// The catalogue as the Markdown of docs/catalogue.md's generated part.
pub fn markdown() -> String {
    let mut out = String::new();
    for (letter, heading) in FAMILIES {
        out.push_str(&format!("\n### {heading}\n"));
        for r in RULES.iter().filter(|r| r.case.starts_with(letter)) {
            if r.variant.is_empty() {
                out.push_str(&format!(
                    "\n#### {} — {}\n\n**Strength: {}.** {}\n",
                    r.case, r.title, r.strength, r.rule
                ));
            } else {
                out.push_str(&format!(
                    "\n- `{}_{}`: {}. **Strength: {}.** {}\n",
                    r.case, r.variant, r.title, r.strength, r.rule
                ));
            }
        }
    }
    out.push_str(&encrypted_forms());
    out
}

/// How each SAML fault is forged for an app that encrypts its assertions (its `encryption`):
/// one line per trial name, from `saml::faults::Fault`.
fn encrypted_forms() -> String {
    use crate::saml::faults::Fault;
    let mut out = String::from(
        "\n### SAML faults for an app that encrypts its assertions\n\nFor an app with \
         `encryption`, every SAML fault is forged on the plaintext and then encrypted the way \
         the app's settings say, in the order Okta uses (the Assertion signed, encrypted, then \
         the Response signed over the EncryptedAssertion), so an SP that takes only encrypted \
         assertions meets each attack past its decryption; the rule of each case is the one \
         above. Signatures an attacker cannot make stay the IdP's, over what the IdP signed; \
         an Assertion the attack injects is encrypted for the SP, as anyone holding its public \
         encryption certificate can.\n\n",
    );
    for f in Fault::ALL {
        out.push_str(&format!(
            "- `{}_{}`: {}.\n",
            f.case(),
            f.name(),
            f.encrypted_form()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::Arc;

    /// Every case id the suite names.
    fn case_ids() -> Vec<String> {
        let mut ids = vec!["L0".to_owned()];
        for (prefix, n) in [("R", 8), ("T", 9), ("G", 4), ("S", 24), ("O", 14)] {
            ids.extend((1..=n).map(|i| format!("{prefix}{i}")));
        }
        // The session-binding pack (issue 12) so far.
        ids.extend(["S25", "S26"].map(String::from));
        ids.extend((15..=22).map(|i| format!("O{i}")));
        // The published-vulnerability cases.
        ids.extend(["S30", "S31"].map(str::to_owned));
        // Assertion encryption and signature algorithms (issue 19).
        ids.extend(["S27", "S28", "S29"].map(str::to_owned));
        // The implicit and hybrid flows' front-channel hashes (issue 19).
        ids.extend(["O23", "O24"].map(str::to_owned));
        // okta_post_message from another origin (issue 20).
        ids.push("O25".to_owned());
        // A rotated refresh token kept (issue 19).
        ids.push("O26".to_owned());
        // Other IdPs' shapes (issue 17).
        ids.extend(["F1", "F2", "F3"].map(str::to_owned));
        ids
    }

    /// Every trial name `fakta demo` runs, planned as the demo plans them (attack pack on).
    fn demo_trials() -> Vec<String> {
        let mut names = Vec::new();
        for (pack, yaml) in crate::cli::DEMO_PACKS {
            let (conn, _) = crate::config::load_str(yaml, pack, Path::new("."))
                .unwrap_or_else(|d| panic!("the shipped pack {pack} is invalid: {d}"));
            names.extend(
                crate::runner::plan::plan(pack, Arc::new(conn), true)
                    .into_iter()
                    .map(|t| t.name),
            );
        }
        names
    }

    /// A trial name for every fault fakta can make, as the runner names them.
    fn fault_trials() -> Vec<(String, &'static str)> {
        use crate::config::LogoutFault;
        let mut out = Vec::new();
        for f in crate::saml::faults::Fault::ALL {
            out.push((format!("{}_{}_refused", f.case(), f.name()), f.case()));
        }
        for f in crate::oidc::faults::Fault::ALL {
            out.push((format!("{}_{}_refused", f.case(), f.name()), f.case()));
        }
        for f in crate::revocation::Fault::ALL {
            out.push((format!("{}_{}_refused", f.case(), f.name()), f.case()));
        }
        for a in crate::runner::binding::BindingAttack::ALL {
            for saml in [false, true] {
                if let Some(case) = a.case(saml) {
                    out.push((format!("{case}_{}_refused", a.name()), case));
                }
            }
        }
        for (name, f) in LogoutFault::ALL {
            let case = match f {
                LogoutFault::Saml(_) => "G2",
                LogoutFault::Oidc(_) => "G4",
            };
            out.push((format!("{case}_{name}_refused"), case));
        }
        out
    }

    #[test]
    fn every_case_id_has_a_case_level_entry_and_nothing_else_is_listed() {
        let ids = case_ids();
        for id in &ids {
            assert!(
                RULES.iter().any(|r| r.case == id && r.variant.is_empty()),
                "no case-level entry for {id}"
            );
        }
        for r in RULES {
            assert!(
                ids.iter().any(|id| id == r.case),
                "{} is not a case id",
                r.case
            );
        }
    }

    #[test]
    fn entries_are_unique_complete_and_in_order() {
        let mut seen = BTreeSet::new();
        let mut last_case = "";
        for r in RULES {
            assert!(
                seen.insert((r.case, r.variant)),
                "{} {} listed twice",
                r.case,
                r.variant
            );
            assert!(!r.title.is_empty() && !r.rule.is_empty(), "{r:?}");
            assert!(!r.title.ends_with('.'), "titles are phrases: {}", r.title);
            assert!(r.rule.ends_with('.'), "rules are sentences: {}", r.case);
            // Variants follow their case-level entry, so the rendered docs group them.
            if r.variant.is_empty() {
                last_case = r.case;
            } else {
                assert_eq!(
                    r.case, last_case,
                    "{} {} is out of place",
                    r.case, r.variant
                );
            }
        }
    }

    #[test]
    fn lookups_take_the_longest_variant_and_fall_back_to_the_case() {
        let r = for_trial("qovery-saml::S7_recipient_not_the_acs_refused").unwrap();
        assert_eq!((r.case, r.variant), ("S7", "recipient_not_the_acs"));
        let r = for_trial("S7_destination_not_the_acs_refused").unwrap();
        assert_eq!(r.variant, "destination_not_the_acs");
        // `aud_of_another_client` starts `aud_of_another_client_azp_this_one`: the longer wins.
        let r = rule("O2", "aud_of_another_client_azp_this_one_refused").unwrap();
        assert_eq!(r.variant, "aud_of_another_client_azp_this_one");
        let r = rule("O2", "aud_of_another_client_refused").unwrap();
        assert_eq!(r.variant, "aud_of_another_client");
        // A prefix that stops inside a word is not a match.
        assert_eq!(rule("O2", "aud_of_another_clientele").unwrap().variant, "");
        // Unknown variants, and trial names that are only a case id, get the case-level entry.
        assert_eq!(for_trial("R1_admin_gets_admin").unwrap().variant, "");
        assert_eq!(for_trial("pack::L0").unwrap().case, "L0");
        assert_eq!(
            for_trial("L0_idp_initiated_login").unwrap().variant,
            "idp_initiated_login"
        );
        assert_eq!(
            for_trial("S1_unsigned_refused").unwrap().strength,
            Strength::Must
        );
        assert_eq!(
            for_trial("S1_assertion_unsigned_in_signed_response_refused")
                .unwrap()
                .strength,
            Strength::Connection
        );
        assert!(for_trial("Z9_nothing").is_none());
        assert!(for_trial("my_own_scenario").is_none());
        assert!(for_trial("").is_none());
    }

    #[test]
    fn strengths_read_as_the_docs_say() {
        assert_eq!(Strength::Must.to_string(), "MUST");
        assert_eq!(Strength::Should.to_string(), "SHOULD");
        assert_eq!(Strength::Vendor.to_string(), "Okta behaviour");
        assert_eq!(Strength::Connection.to_string(), "connection settings");
    }

    #[test]
    fn every_trial_of_the_demo_has_a_rule() {
        let trials = demo_trials();
        assert!(trials.len() > 100, "the demo plans {} trials", trials.len());
        let missing: Vec<&String> = trials.iter().filter(|t| for_trial(t).is_none()).collect();
        assert!(missing.is_empty(), "trials without a rule: {missing:#?}");
    }

    #[test]
    fn every_fault_resolves_to_its_own_case_and_every_variant_names_a_trial() {
        let faults = fault_trials();
        for (name, case) in &faults {
            let r = for_trial(name).unwrap_or_else(|| panic!("{name} has no rule"));
            assert_eq!(r.case, *case, "{name}");
        }
        let mut names: Vec<String> = faults.into_iter().map(|(n, _)| n).collect();
        names.extend(demo_trials());
        for r in RULES.iter().filter(|r| !r.variant.is_empty()) {
            assert!(
                names.iter().any(|n| for_trial(n) == Some(r)),
                "{}_{} names no trial fakta makes",
                r.case,
                r.variant
            );
        }
    }

    const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/catalogue.md");
    const BEGIN: &str = "<!-- catalogue: generated from src/catalogue.rs, do not edit -->\n";
    const END: &str = "\n<!-- catalogue: end -->";

    #[test]
    fn every_entry_is_in_the_docs() {
        let docs = std::fs::read_to_string(DOCS).unwrap();
        for r in RULES {
            let id = if r.variant.is_empty() {
                format!("#### {} — ", r.case)
            } else {
                format!("`{}_{}`", r.case, r.variant)
            };
            assert!(docs.contains(&id), "docs/catalogue.md lacks {id}");
        }
    }

    /// docs/catalogue.md holds `markdown()` between its markers, byte for byte. After changing
    /// the catalogue, `FAKTA_BLESS_DOCS=1 cargo test --lib catalogue::tests::the_docs` rewrites
    /// that part.
    #[test]
    fn the_docs_are_the_catalogue() {
        let docs = std::fs::read_to_string(DOCS).unwrap();
        let start = docs.find(BEGIN).expect("begin marker") + BEGIN.len();
        let end = docs[start..].find(END).expect("end marker") + start;
        let generated = markdown();
        if docs[start..end] != generated {
            if std::env::var_os("FAKTA_BLESS_DOCS").is_some() {
                let updated = format!("{}{generated}{}", &docs[..start], &docs[end..]);
                std::fs::write(DOCS, updated).unwrap();
            } else {
                panic!(
                    "docs/catalogue.md is not the catalogue of src/catalogue.rs: run \
                     FAKTA_BLESS_DOCS=1 cargo test --lib catalogue::tests::the_docs, then \
                     review git diff"
                );
            }
        }
    }
}
