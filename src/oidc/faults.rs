//! The OIDC login faults (O1-O14 in docs/catalogue.md, O7, O8 and O10 in several variants;
//! O18-O19 in a refresh's id_token; O22 in the authorization response; O23-O24 in the id_token
//! the authorization endpoint returns in the implicit and hybrid flows; O25 in how an
//! okta_post_message answer is posted, made by `idp::post_message`), as data, applied to
//! the honest id_token (and, for O12, to the userinfo answer; for O13, to the discovery
//! document; O22 replaces the code with an error): the only place OIDC login faults are made.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::{HasPublic, PKeyRef, Private};
use serde_json::{Value, json};

use super::jwt::{self, Alg, b64};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::VariantArray)]
pub enum Fault {
    WrongIss,
    WrongAud,
    /// `aud` another client's, `azp` this client: an RP that checks aud only through azp is
    /// fooled.
    WrongAudWithAzp,
    MissingAud,
    MissingSub,
    MissingIat,
    WrongNonce,
    CorruptSignature,
    AlgNone,
    Hs256KeyConfusion,
    UnknownKid,
    Expired,
    UserinfoSubDiffers,
    /// No `kid` while the JWKS holds several keys (the RP may refuse or try them all).
    NoKid,
    /// No `kid` while the JWKS holds only the signing key (OIDF RP test
    /// kid-absent-single-jwks): the RP must accept. The JWKS is changed for everyone, so the
    /// runner restarts the SP for it, alone.
    NoKidSingleKey,
    /// Signed with a new key that appears in the JWKS just before the login: the RP must fetch
    /// the JWKS again and accept.
    KeyRotation,
    /// Discovery names an issuer that is not the one the RP fetched it from (and the id_token
    /// carries that issuer): the RP must not trust it. Needs an SP that reads discovery again,
    /// so the runner restarts the SP for it.
    DiscoveryIssuer,
    /// The id_token of a refresh (not of the login) names another user as `sub` (OIDF RP test
    /// refresh-token-invalid-sub).
    RefreshSubDiffers,
    /// The id_token of a refresh names another issuer (OIDF RP test
    /// refresh-token-invalid-issuer).
    RefreshIssDiffers,
    /// O7 with a kid the JWKS does not hold (a verifier that finds no key and then verifies
    /// with "no key" takes alg none: jsonwebtoken CVE-2022-23540).
    AlgNoneUnknownKid,
    /// O7 with no kid at all.
    AlgNoneNoKid,
    /// O7 spelled `None`.
    AlgNoneCapitalized,
    /// O7 spelled `NONE`.
    AlgNoneUppercase,
    /// O8 with the RSA public key as PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`).
    Hs256Pkcs1Pem,
    /// O8 with the signing key as an OpenSSH public-key line (`ssh-rsa ...`,
    /// `ecdsa-sha2-nistp256 ...`): PyJWT CVE-2022-29217, python-jose CVE-2024-33663.
    Hs256OpenSsh,
    /// O8 with the signing key's JWK (as the JWKS publishes it) as JSON text.
    Hs256JwkJson,
    /// O8 with the EC signing key of an ES256 app as SPKI PEM.
    Hs256EcPem,
    /// The IdP answers the authorization request with an error (`access_denied`, the
    /// request's state) in the RP's response mode, form_post included (OIDF RP test
    /// form-post-error): no code, so no login; the RP must handle it.
    AuthorizationError,
    /// The front-channel id_token's `at_hash` is the hash of another access token than the
    /// one it came with (OIDC Core §3.2.2.9, §3.3.2.9: the RP MUST refuse; OIDF RP test
    /// rp-id_token-bad-at_hash).
    BadAtHash,
    /// The front-channel id_token's `c_hash` is the hash of another code than the one it came
    /// with (OIDC Core §3.3.2.10; OIDF RP test rp-id_token-bad-c_hash): the code may have been
    /// swapped.
    BadCHash,
    /// Not in a token: the app's tile sends the browser to the initiate login URI with an `iss`
    /// that is not the IdP's (OIDC Core §4): the RP must start no login for an issuer it does
    /// not know. Planned next to L0_idp_initiated_login, not in the attack pack's loop.
    LaunchUnknownIssuer,
    /// O25's honest twin: an `okta_post_message` answer (a silent sign-in, after the login)
    /// posted from the IdP's origin, as Okta posts it: the SPA must take it. Nothing is forged.
    PostMessageFromTheIdp,
    /// O25: the same answer (the honest code and state) posted from a frame of another origin
    /// (a sandboxed frame inside the IdP's page: its origin is opaque, `null`). The SPA must
    /// ignore it, as okta-auth-js does: a receiver checks `event.origin`.
    PostMessageFromAnotherOrigin,
}

impl Fault {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    pub fn case(self) -> &'static str {
        match self {
            Fault::WrongIss => "O1",
            Fault::WrongAud | Fault::WrongAudWithAzp | Fault::MissingAud => "O2",
            Fault::MissingSub => "O3",
            Fault::MissingIat => "O4",
            Fault::WrongNonce => "O5",
            Fault::CorruptSignature => "O6",
            Fault::AlgNone
            | Fault::AlgNoneUnknownKid
            | Fault::AlgNoneNoKid
            | Fault::AlgNoneCapitalized
            | Fault::AlgNoneUppercase => "O7",
            Fault::Hs256KeyConfusion
            | Fault::Hs256Pkcs1Pem
            | Fault::Hs256OpenSsh
            | Fault::Hs256JwkJson
            | Fault::Hs256EcPem => "O8",
            Fault::UnknownKid => "O9",
            Fault::Expired => "O11",
            Fault::UserinfoSubDiffers => "O12",
            Fault::NoKid | Fault::NoKidSingleKey => "O10",
            Fault::AuthorizationError => "O22",
            Fault::PostMessageFromTheIdp | Fault::PostMessageFromAnotherOrigin => "O25",
            Fault::KeyRotation => "O14",
            Fault::DiscoveryIssuer => "O13",
            Fault::RefreshSubDiffers => "O18",
            Fault::RefreshIssDiffers => "O19",
            Fault::BadAtHash => "O23",
            Fault::BadCHash => "O24",
            Fault::LaunchUnknownIssuer => "L0",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::WrongIss => "iss_of_another_idp",
            Fault::WrongAud => "aud_of_another_client",
            Fault::WrongAudWithAzp => "aud_of_another_client_azp_this_one",
            Fault::MissingAud => "aud_missing",
            Fault::MissingSub => "sub_missing",
            Fault::MissingIat => "iat_missing",
            Fault::WrongNonce => "nonce_not_the_one_sent",
            Fault::CorruptSignature => "signature_corrupted",
            Fault::AlgNone => "alg_none",
            Fault::Hs256KeyConfusion => "hs256_with_the_public_key_as_secret",
            Fault::UnknownKid => "unknown_kid",
            Fault::Expired => "expired",
            Fault::UserinfoSubDiffers => "userinfo_sub_differs",
            Fault::NoKid => "no_kid_with_several_keys",
            Fault::NoKidSingleKey => "no_kid_with_a_single_key",
            Fault::AuthorizationError => "authorization_error",
            Fault::KeyRotation => "signed_with_a_newly_published_key",
            Fault::DiscoveryIssuer => "discovery_issuer_not_the_issuer_in_use",
            Fault::RefreshSubDiffers => "refreshed_id_token_of_another_sub",
            Fault::RefreshIssDiffers => "refreshed_id_token_of_another_iss",
            Fault::AlgNoneUnknownKid => "alg_none_kid_not_in_the_jwks",
            Fault::AlgNoneNoKid => "alg_none_without_kid",
            Fault::AlgNoneCapitalized => "alg_none_spelled_None",
            Fault::AlgNoneUppercase => "alg_none_spelled_NONE",
            Fault::Hs256Pkcs1Pem => "hs256_with_the_public_key_as_pkcs1_pem",
            Fault::Hs256OpenSsh => "hs256_with_the_public_key_as_openssh_line",
            Fault::Hs256JwkJson => "hs256_with_the_public_key_as_jwk_json",
            Fault::Hs256EcPem => "hs256_with_the_ec_public_key_as_pem",
            Fault::BadAtHash => "at_hash_of_another_access_token",
            Fault::BadCHash => "c_hash_of_another_code",
            Fault::LaunchUnknownIssuer => "idp_initiated_login_unknown_issuer",
            Fault::PostMessageFromTheIdp => "post_message_from_the_idp_origin",
            Fault::PostMessageFromAnotherOrigin => "post_message_from_another_origin",
        }
    }

    /// Whether the fault makes sense for an app whose id_tokens use `alg`: the EC key's own
    /// encodings only for ES256 apps.
    pub fn applies_to(self, alg: Alg) -> bool {
        self != Fault::Hs256EcPem || alg == Alg::ES256
    }

    /// For the O8 variants, how the public key is written as the HMAC secret.
    pub fn key_text(self) -> Option<KeyText> {
        match self {
            Fault::Hs256KeyConfusion => Some(KeyText::SpkiPem),
            Fault::Hs256Pkcs1Pem => Some(KeyText::Pkcs1Pem),
            Fault::Hs256OpenSsh => Some(KeyText::OpenSsh),
            Fault::Hs256JwkJson => Some(KeyText::JwkJson),
            Fault::Hs256EcPem => Some(KeyText::SpkiPem),
            _ => None,
        }
    }

    /// Whether the fault is in the id_token of a refresh grant (the login's is honest): the RP
    /// meets it only when it refreshes (the file's `target.refresh_url`).
    pub fn on_refresh(self) -> bool {
        matches!(self, Fault::RefreshSubDiffers | Fault::RefreshIssDiffers)
    }

    /// Whether the fault is in what an SP reads when it starts (or at its first login) and
    /// keeps: the discovery document (O13), the JWK Set (O10 with a single key). The runner
    /// must restart the SP for it, with no other trial running.
    pub fn needs_fresh_sp(self) -> bool {
        matches!(self, Fault::DiscoveryIssuer | Fault::NoKidSingleKey)
    }

    /// Whether the fault is in how an `okta_post_message` answer reaches the SPA (O25): the
    /// login and every token are honest; the runner has the SPA sign in again silently after
    /// the login (`target.silent_login_url`).
    pub fn in_post_message(self) -> bool {
        matches!(
            self,
            Fault::PostMessageFromTheIdp | Fault::PostMessageFromAnotherOrigin
        )
    }

    /// Whether the fault is in the id_token the authorization endpoint returns (implicit and
    /// hybrid flows), not the token endpoint's: O23, O24.
    pub fn in_front_channel(self) -> bool {
        matches!(self, Fault::BadAtHash | Fault::BadCHash)
    }

    /// Whether the fault is in the id_token's signature (O6-O9): what OpenID Connect Core
    /// §3.1.3.7 step 6 lets an RP leave unchecked in the id_token it takes straight from the
    /// token endpoint over TLS, and requires it to check in every other (§3.2.2.11: the
    /// implicit and hybrid flows' front-channel id_token). When the RP's authorization request
    /// asks for an id_token from the authorization endpoint, these faults forge that one.
    pub fn in_signature(self) -> bool {
        matches!(self.case(), "O6" | "O7" | "O8" | "O9")
    }

    /// Which id_token of the login this fault forges when the SP asks for `response_type`, or
    /// None when it forges none (a refresh's id_token, the okta_post_message page, the launch,
    /// the authorization response). O23 and O24 are in the authorization endpoint's id_token by
    /// definition. The others are in the token endpoint's whenever there is a code to redeem
    /// (the code and hybrid flows), except the signature faults O6-O9 in the hybrid flow: OpenID
    /// Connect Core §3.1.3.7 step 6 lets the RP leave the token endpoint's signature to TLS, so
    /// they forge the front-channel id_token, whose signature §3.2.2.11 requires it to check;
    /// without a code (the implicit flows `id_token`, `id_token token`) there is no token
    /// endpoint, and the login's only id_token is the authorization endpoint's: every id_token
    /// fault is delivered there.
    pub fn login_id_token_channel(
        self,
        response_type: crate::config::ResponseType,
    ) -> Option<IdTokenChannel> {
        if self.on_refresh()
            || self.in_post_message()
            || self.at_launch()
            || self.in_authorization_response()
        {
            None
        } else if self.in_front_channel()
            || !response_type.has_code()
            || (self.in_signature() && response_type.has_id_token())
        {
            Some(IdTokenChannel::AuthorizationEndpoint)
        } else {
            Some(IdTokenChannel::TokenEndpoint)
        }
    }

    /// Why the fault cannot be judged for an SP that asks for `response_type`, if so: O23 needs
    /// an id_token and an access token from the authorization endpoint, O24 an id_token and a
    /// code (the hash is in the id_token only then).
    pub fn needs_response_type(self, response_type: crate::config::ResponseType) -> Option<String> {
        let (carried, needs) = match self {
            Fault::BadAtHash => (
                response_type.has_id_token() && response_type.has_token(),
                "an id_token with an access token (id_token token, code id_token token)",
            ),
            Fault::BadCHash => (
                response_type.has_id_token() && response_type.has_code(),
                "an id_token with a code (code id_token, code id_token token)",
            ),
            _ => return None,
        };
        (!carried).then(|| {
            format!(
                "the SP asks for response_type `{}` (target.response_type), and the hash this case forges is only in {needs} from the authorization endpoint",
                response_type.name()
            )
        })
    }

    /// Whether the fault is in the app tile's launch (the `iss` sent to the initiate login
    /// URI), not in any token.
    pub fn at_launch(self) -> bool {
        self == Fault::LaunchUnknownIssuer
    }

    /// Whether the fault replaces the authorization response (an error instead of a code):
    /// no id_token is ever issued.
    pub fn in_authorization_response(self) -> bool {
        self == Fault::AuthorizationError
    }

    /// Whether the forged id_token asserts the forged identity (`email` mallory): every fault
    /// the RP must refuse; not those it may accept (O10, O14), nor O12, whose forgery is in
    /// userinfo, nor O22, which issues no id_token.
    pub fn forges_identity(self) -> bool {
        !matches!(
            self,
            Fault::NoKid
                | Fault::NoKidSingleKey
                | Fault::KeyRotation
                | Fault::UserinfoSubDiffers
                | Fault::AuthorizationError
                | Fault::PostMessageFromTheIdp
                | Fault::PostMessageFromAnotherOrigin
                | Fault::LaunchUnknownIssuer
        )
    }

    /// Whether the fault is in the signature (or the key behind it) rather than in the header
    /// or claims.
    pub fn alters_signature(self) -> bool {
        matches!(
            self,
            Fault::CorruptSignature
                | Fault::AlgNone
                | Fault::Hs256KeyConfusion
                | Fault::KeyRotation
                | Fault::AlgNoneUnknownKid
                | Fault::AlgNoneNoKid
                | Fault::AlgNoneCapitalized
                | Fault::AlgNoneUppercase
                | Fault::Hs256Pkcs1Pem
                | Fault::Hs256OpenSsh
                | Fault::Hs256JwkJson
                | Fault::Hs256EcPem
        )
    }
}

/// Where the id_token a login fault forges reaches the RP ([`Fault::login_id_token_channel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenChannel {
    /// The authorization response, through the browser (implicit and hybrid flows).
    AuthorizationEndpoint,
    /// The token response to the code's redemption, on the RP's own TLS connection.
    TokenEndpoint,
}

impl std::fmt::Display for IdTokenChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdTokenChannel::TokenEndpoint => "the token endpoint",
            IdTokenChannel::AuthorizationEndpoint => "the authorization endpoint",
        })
    }
}

/// The texts a public key is written in, each of which some JWT library has taken as an HMAC
/// secret when handed the key with `alg` HS256 (the O8 variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyText {
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo, RFC 7468 §13).
    SpkiPem,
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1, RFC 8017 A.1.1); RSA keys only.
    Pkcs1Pem,
    /// One OpenSSH line, no comment: `ssh-rsa <base64>` (RFC 4253 §6.6) or
    /// `ecdsa-sha2-nistp256 <base64>` (RFC 5656 §3.1).
    OpenSsh,
    /// The JWK the JWKS publishes (the same members), as compact JSON text in serde_json's
    /// member order.
    JwkJson,
}

impl KeyText {
    /// The key in this text; None when the text does not exist for the key's type.
    pub fn encode<K: HasPublic>(self, key: &PKeyRef<K>) -> Option<Vec<u8>> {
        use openssl::pkey::Id;
        match self {
            KeyText::SpkiPem => key.public_key_to_pem().ok(),
            KeyText::Pkcs1Pem => key.rsa().ok()?.public_key_to_pem_pkcs1().ok(),
            KeyText::OpenSsh => {
                // SSH wire format: each field a 4-byte big-endian length then the bytes; an
                // mpint with a leading zero when its top bit is set.
                fn field(out: &mut Vec<u8>, bytes: &[u8]) {
                    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                fn mpint(out: &mut Vec<u8>, n: &openssl::bn::BigNumRef) {
                    let mut v = n.to_vec();
                    if v.first().is_some_and(|b| b & 0x80 != 0) {
                        v.insert(0, 0);
                    }
                    field(out, &v);
                }
                let mut blob = Vec::new();
                let name = match key.id() {
                    Id::RSA => {
                        let rsa = key.rsa().ok()?;
                        field(&mut blob, b"ssh-rsa");
                        mpint(&mut blob, rsa.e());
                        mpint(&mut blob, rsa.n());
                        "ssh-rsa"
                    }
                    Id::EC => {
                        let ec = key.ec_key().ok()?;
                        if ec.group().curve_name() != Some(openssl::nid::Nid::X9_62_PRIME256V1) {
                            return None;
                        }
                        let mut ctx = openssl::bn::BigNumContext::new().ok()?;
                        let point = ec
                            .public_key()
                            .to_bytes(
                                ec.group(),
                                openssl::ec::PointConversionForm::UNCOMPRESSED,
                                &mut ctx,
                            )
                            .ok()?;
                        field(&mut blob, b"ecdsa-sha2-nistp256");
                        field(&mut blob, b"nistp256");
                        field(&mut blob, &point);
                        "ecdsa-sha2-nistp256"
                    }
                    _ => return None,
                };
                use base64::engine::general_purpose::STANDARD;
                Some(format!("{name} {}", STANDARD.encode(blob)).into_bytes())
            }
            KeyText::JwkJson => {
                let v = serde_json::to_value(super::jwks::jwk(key)?).ok()?;
                serde_json::to_string(&v).ok().map(String::into_bytes)
            }
        }
    }

    /// How the transcript names it.
    pub fn describe(self) -> &'static str {
        match self {
            KeyText::SpkiPem => "SPKI PEM",
            KeyText::Pkcs1Pem => "PKCS#1 PEM",
            KeyText::OpenSsh => "OpenSSH public-key line",
            KeyText::JwkJson => "JWK JSON text",
        }
    }
}

/// HMAC-SHA256 of `input` keyed with `secret`.
pub fn hmac_sha256(secret: &[u8], input: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let k = openssl::pkey::PKey::hmac(secret)?;
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &k)?;
    s.update(input)?;
    s.sign_to_vec()
}

/// The email every forged id_token (and O12's userinfo) asserts instead of the user's.
pub const FORGED_EMAIL: &str = "mallory@evil.invalid";

/// The access token whose hash O23 puts in `at_hash`: never issued.
pub const OTHER_ACCESS_TOKEN: &str = "an-access-token-the-idp-never-issued";

/// The code whose hash O24 puts in `c_hash`: never issued.
pub const OTHER_CODE: &str = "a-code-the-idp-never-issued";

/// The issuer the forged launch names (`Fault::LaunchUnknownIssuer`): no IdP's.
pub const UNKNOWN_ISSUER: &str = "https://unknown-issuer.invalid";

/// The `sub` O18's refreshed id_token names.
pub const REFRESH_SUB: &str = "00u-someone-else";

/// The issuer O13 puts in discovery and in the id_token: the honest one with a path added, so
/// that an RP comparing by prefix is caught too.
pub fn forged_issuer(honest: &str) -> String {
    format!("{}/not-the-issuer-in-use", honest.trim_end_matches('/'))
}

/// Applies `fault` to the honest discovery document. Returns what was altered, or None when the
/// fault is not a discovery fault (the document is then untouched).
pub fn forge_discovery(fault: Fault, doc: &mut Value) -> Option<String> {
    match fault {
        Fault::DiscoveryIssuer => {
            let honest = doc.get("issuer")?.as_str()?.to_owned();
            let forged = forged_issuer(&honest);
            doc["issuer"] = json!(forged);
            Some(format!(
                "discovery issuer set to {forged} (fetched from {honest})"
            ))
        }
        _ => None,
    }
}

/// Applies `fault` to the honest userinfo answer (O12: another user's `sub`). Returns what was
/// altered, or None when the fault is not a userinfo fault.
pub fn forge_userinfo(fault: Fault, claims: &mut serde_json::Map<String, Value>) -> Option<String> {
    match fault {
        Fault::UserinfoSubDiffers => {
            claims.insert("sub".into(), json!("00u-someone-else"));
            claims.insert("email".into(), json!(FORGED_EMAIL));
            Some(format!(
                "userinfo sub set to 00u-someone-else, email to {FORGED_EMAIL}"
            ))
        }
        _ => None,
    }
}

/// A forged JSON object for a transcript: one member per line, those that differ from the honest
/// object marked `>>`, the members it lacks listed (marked too).
pub fn show_json(honest: &Value, forged: &Value) -> String {
    let (Some(h), Some(f)) = (honest.as_object(), forged.as_object()) else {
        return format!(">>  {forged}\n");
    };
    let mut out = String::from("    {\n");
    for (k, v) in f {
        let mark = if h.get(k) == Some(v) { "    " } else { ">>  " };
        out.push_str(&format!("{mark}  {}: {v}\n", json!(k)));
    }
    for k in h.keys().filter(|k| !f.contains_key(*k)) {
        out.push_str(&format!(">>  - {} (removed)\n", json!(k)));
    }
    out.push_str("    }\n");
    out
}

/// A forged JWT for a transcript: header and claims (`show_json` against the honest ones) and
/// the signature's size (its value redacted), marked when the fault is in the signature.
pub fn show_jwt(fault: Fault, honest_header: &Value, honest_claims: &Value, token: &str) -> String {
    let header = jwt::peek_part(token, 0).unwrap_or_default();
    let claims = jwt::peek_part(token, 1).unwrap_or_default();
    let sig = token.split('.').nth(2).unwrap_or_default();
    let signature = match URL_SAFE_NO_PAD.decode(sig) {
        _ if sig.is_empty() => "(none)".to_owned(),
        Ok(b) => format!("{} bytes [redacted]", b.len()),
        Err(_) => "(not base64url)".to_owned(),
    };
    format!(
        "    header\n{}    claims\n{}{}signature {signature}\n",
        show_json(honest_header, &header),
        show_json(honest_claims, &claims),
        if fault.alters_signature() {
            ">>  "
        } else {
            "    "
        },
    )
}

/// How O5's record ends when the RP's authorization request carried no nonce: then OpenID
/// Connect Core §3.1.3.7 step 11 asks it for no check, and the trial judges nothing.
pub const NO_NONCE_SENT: &str = "(the RP's request carried no nonce)";

/// Applies `fault` to the honest claims and signs (or mis-signs) the result. Returns the token
/// and what was altered.
pub fn forge_id_token<K: HasPublic>(
    fault: Fault,
    mut claims: serde_json::Map<String, Value>,
    alg: Alg,
    kid: &str,
    key: &openssl::pkey::PKey<Private>,
    rsa_public: &PKeyRef<K>,
    rotation: Option<(&str, &openssl::pkey::PKey<Private>)>,
) -> Result<(String, String), jwt::JwtError> {
    let sign = |c: &serde_json::Map<String, Value>, kid: &str| jwt::sign(alg, kid, None, key, c);
    if fault.forges_identity() {
        claims.insert("email".into(), json!(FORGED_EMAIL));
    }
    Ok(match fault {
        Fault::RefreshSubDiffers => {
            claims.insert("sub".into(), json!(REFRESH_SUB));
            (
                sign(&claims, kid)?,
                format!("the refreshed id_token's sub set to {REFRESH_SUB}"),
            )
        }
        Fault::RefreshIssDiffers => {
            claims.insert("iss".into(), json!("https://another-idp.invalid"));
            (
                sign(&claims, kid)?,
                "the refreshed id_token's iss set to https://another-idp.invalid".into(),
            )
        }
        Fault::WrongIss => {
            claims.insert("iss".into(), json!("https://another-idp.invalid"));
            (
                sign(&claims, kid)?,
                "iss set to https://another-idp.invalid".into(),
            )
        }
        Fault::WrongAud => {
            claims.insert("aud".into(), json!("another-client"));
            (sign(&claims, kid)?, "aud set to another-client".into())
        }
        Fault::WrongAudWithAzp => {
            let client = claims.get("aud").cloned().unwrap_or(Value::Null);
            claims.insert("aud".into(), json!("another-client"));
            claims.insert("azp".into(), client.clone());
            (
                sign(&claims, kid)?,
                format!("aud set to another-client, azp set to {client}"),
            )
        }
        Fault::MissingAud => {
            claims.remove("aud");
            (sign(&claims, kid)?, "aud removed".into())
        }
        Fault::MissingSub => {
            claims.remove("sub");
            (sign(&claims, kid)?, "sub removed".into())
        }
        Fault::MissingIat => {
            claims.remove("iat");
            (sign(&claims, kid)?, "iat removed".into())
        }
        Fault::WrongNonce => {
            // The honest id_token carries a nonce only when the RP's request had one.
            let sent = claims.contains_key("nonce");
            claims.insert("nonce".into(), json!("a-nonce-the-rp-never-sent"));
            (
                sign(&claims, kid)?,
                if sent {
                    "nonce set to a-nonce-the-rp-never-sent".into()
                } else {
                    format!("nonce set to a-nonce-the-rp-never-sent {NO_NONCE_SENT}")
                },
            )
        }
        Fault::CorruptSignature => {
            let t = sign(&claims, kid)?;
            let (input, sig) = t.rsplit_once('.').unwrap_or((&t, ""));
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
            if let Some(b) = raw.first_mut() {
                *b ^= 0x01;
            }
            (
                format!("{input}.{}", b64(&raw)),
                "one bit of the signature flipped".into(),
            )
        }
        Fault::AlgNone
        | Fault::AlgNoneUnknownKid
        | Fault::AlgNoneNoKid
        | Fault::AlgNoneCapitalized
        | Fault::AlgNoneUppercase => {
            let (alg, kid, altered) = match fault {
                Fault::AlgNoneUnknownKid => (
                    "none",
                    Some("kid-not-in-the-jwks"),
                    "alg none, no signature, kid kid-not-in-the-jwks",
                ),
                Fault::AlgNoneNoKid => ("none", None, "alg none, no signature, no kid"),
                Fault::AlgNoneCapitalized => {
                    ("None", Some(kid), "alg None (capitalized), no signature")
                }
                Fault::AlgNoneUppercase => {
                    ("NONE", Some(kid), "alg NONE (upper case), no signature")
                }
                _ => ("none", Some(kid), "alg none, no signature"),
            };
            let h = jwt::Header {
                alg,
                kid,
                typ: None,
            };
            (
                format!("{}.", jwt::signing_input(&h, &claims)?),
                altered.into(),
            )
        }
        Fault::Hs256KeyConfusion
        | Fault::Hs256Pkcs1Pem
        | Fault::Hs256OpenSsh
        | Fault::Hs256JwkJson
        | Fault::Hs256EcPem => {
            let h = jwt::Header {
                alg: "HS256",
                kid: Some(kid),
                typ: None,
            };
            let input = jwt::signing_input(&h, &claims)?;
            let text = fault.key_text().unwrap_or(KeyText::SpkiPem);
            // The RSA key's SPKI and PKCS#1 PEM (as before, whatever the app's alg); the
            // signing key itself for the other texts.
            let (secret, which) = match fault {
                Fault::Hs256KeyConfusion | Fault::Hs256Pkcs1Pem => {
                    (text.encode(rsa_public), "the IdP's RSA public key")
                }
                _ => (text.encode(key), "the IdP's id_token signing key"),
            };
            let no_text = || jwt::JwtError::Sign {
                alg: "HS256",
                source: openssl::error::ErrorStack::get(),
            };
            let secret = secret.ok_or_else(no_text)?;
            let mac = hmac_sha256(&secret, input.as_bytes()).map_err(|e| jwt::JwtError::Sign {
                alg: "HS256",
                source: e,
            })?;
            // The transcript names the encoding, and for an OpenSSH line its key type.
            let how = match text {
                KeyText::OpenSsh => format!(
                    "an OpenSSH public-key line (`{} ...`)",
                    String::from_utf8_lossy(&secret)
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                ),
                _ => text.describe().to_owned(),
            };
            (
                format!("{input}.{}", b64(&mac)),
                format!("HS256, HMAC keyed with {which} as {how}"),
            )
        }
        Fault::UnknownKid => (
            sign(&claims, "kid-not-in-the-jwks")?,
            "kid set to kid-not-in-the-jwks".into(),
        ),
        Fault::Expired => {
            let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
            claims.insert("iat".into(), json!(iat - 7200));
            claims.insert("exp".into(), json!(iat - 3600));
            (sign(&claims, kid)?, "exp set to an hour ago".into())
        }
        Fault::NoKid | Fault::NoKidSingleKey => {
            let h = jwt::Header {
                alg: alg.name(),
                kid: None,
                typ: None,
            };
            let input = jwt::signing_input(&h, &claims)?;
            let sig = jwt::sign_input(alg, key, &input)?;
            let keys = if fault == Fault::NoKid {
                "the JWKS has several keys"
            } else {
                "the JWKS holds only this key"
            };
            (
                format!("{input}.{}", b64(&sig)),
                format!("no kid in the header ({keys})"),
            )
        }
        Fault::BadAtHash => {
            claims.insert("at_hash".into(), json!(jwt::half_hash(OTHER_ACCESS_TOKEN)));
            (
                sign(&claims, kid)?,
                format!("at_hash set to the hash of another access token (`{OTHER_ACCESS_TOKEN}`)"),
            )
        }
        Fault::BadCHash => {
            claims.insert("c_hash".into(), json!(jwt::half_hash(OTHER_CODE)));
            (
                sign(&claims, kid)?,
                format!("c_hash set to the hash of another code (`{OTHER_CODE}`)"),
            )
        }
        // The fault is the authorization response, or the launch: never applied to an
        // id_token; one asked for anyway is the honest one.
        Fault::AuthorizationError | Fault::LaunchUnknownIssuer => {
            (sign(&claims, kid)?, "nothing (honest)".into())
        }
        // The fault is in the okta_post_message page, never in a token (the IdP does not
        // forge tokens for it); an id_token asked for anyway is the honest one.
        Fault::PostMessageFromTheIdp | Fault::PostMessageFromAnotherOrigin => {
            (sign(&claims, kid)?, "nothing (honest)".into())
        }
        Fault::KeyRotation => {
            let (new_kid, new_key) = rotation.ok_or_else(|| jwt::JwtError::Sign {
                alg: "RS256",
                source: openssl::error::ErrorStack::get(),
            })?;
            (
                jwt::sign(Alg::RS256, new_kid, None, new_key, &claims)?,
                format!("signed with a new key, kid {new_kid}, published in the JWKS just before"),
            )
        }
        Fault::DiscoveryIssuer => {
            let honest = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let forged = forged_issuer(honest);
            claims.insert("iss".into(), json!(forged));
            (
                sign(&claims, kid)?,
                format!("iss set to {forged}, the issuer the forged discovery names"),
            )
        }
        Fault::UserinfoSubDiffers => {
            // The id_token leaves out the profile claims so that the RP asks userinfo, whose
            // `sub` is then another user's.
            for k in [
                "email",
                "email_verified",
                "name",
                "preferred_username",
                "groups",
            ] {
                claims.remove(k);
            }
            (
                sign(&claims, kid)?,
                "profile claims left to userinfo, whose sub differs".into(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: without a code (implicit flows) every fault of the login's id_token goes in
    /// the authorization endpoint's id_token; with one, only O23 and O24 do; faults outside the
    /// login's id_token go in neither.
    #[test]
    fn the_channel_of_a_login_fault_follows_the_response_type() {
        use crate::config::ResponseType as R;
        use IdTokenChannel::{AuthorizationEndpoint as Front, TokenEndpoint as Back};
        for f in Fault::ALL.iter().copied() {
            let none = f.on_refresh()
                || f.in_post_message()
                || f.at_launch()
                || f.in_authorization_response();
            for rt in R::ALL.iter().copied() {
                let got = f.login_id_token_channel(rt);
                let want = if none {
                    None
                } else if f.in_front_channel()
                    || !rt.has_code()
                    || (f.in_signature() && rt.has_id_token())
                {
                    Some(Front)
                } else {
                    Some(Back)
                };
                assert_eq!(got, want, "{f:?} {}", rt.name());
            }
        }
        // Spelled out for the cases the lead's O6-O9 change is about.
        assert_eq!(
            Fault::CorruptSignature.login_id_token_channel(R::IdToken),
            Some(Front)
        );
        assert_eq!(
            Fault::UnknownKid.login_id_token_channel(R::IdTokenToken),
            Some(Front)
        );
        assert_eq!(
            Fault::AlgNone.login_id_token_channel(R::CodeIdToken),
            Some(Front)
        );
        assert_eq!(Fault::AlgNone.login_id_token_channel(R::Code), Some(Back));
        assert_eq!(
            Fault::WrongIss.login_id_token_channel(R::CodeIdToken),
            Some(Back)
        );
        assert_eq!(
            Fault::BadAtHash.login_id_token_channel(R::CodeIdTokenToken),
            Some(Front)
        );
        assert_eq!(
            Fault::RefreshSubDiffers.login_id_token_channel(R::IdToken),
            None
        );
    }

    #[test]
    fn o13_changes_only_the_issuer_of_discovery() {
        let honest = json!({
            "issuer": "http://127.0.0.1:7000/oauth2/default",
            "jwks_uri": "http://127.0.0.1:7000/oauth2/default/v1/keys",
        });
        let mut doc = honest.clone();
        let note = forge_discovery(Fault::DiscoveryIssuer, &mut doc).unwrap();
        assert_eq!(
            doc["issuer"],
            "http://127.0.0.1:7000/oauth2/default/not-the-issuer-in-use"
        );
        assert_eq!(doc["jwks_uri"], honest["jwks_uri"]);
        assert!(note.contains("fetched from http://127.0.0.1:7000/oauth2/default"));
        let mut doc = honest.clone();
        assert!(forge_discovery(Fault::WrongIss, &mut doc).is_none());
        assert_eq!(doc, honest);
        assert!(Fault::DiscoveryIssuer.needs_fresh_sp());
        assert!(Fault::NoKidSingleKey.needs_fresh_sp());
        assert!(Fault::ALL.iter().filter(|f| f.needs_fresh_sp()).count() == 2);
    }

    #[test]
    fn o10_with_a_single_key_leaves_out_the_kid_and_keeps_the_identity_and_signature() {
        let key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let claims = json!({"iss": "http://idp", "sub": "00u1", "email": "alice@acme.test"});
        let (token, altered) = forge_id_token(
            Fault::NoKidSingleKey,
            claims.as_object().unwrap().clone(),
            Alg::ES256,
            "k1",
            &key,
            &key,
            None,
        )
        .unwrap();
        let header = jwt::peek_part(&token, 0).unwrap();
        assert_eq!(header, json!({"alg": "ES256"}), "no kid");
        assert_eq!(
            jwt::peek_part(&token, 1).unwrap(),
            claims,
            "the honest claims"
        );
        assert!(altered.contains("holds only this key"), "{altered}");
        // The signature is the key's over the token as sent.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let der = openssl::ecdsa::EcdsaSig::from_private_components(
            openssl::bn::BigNum::from_slice(&raw[..32]).unwrap(),
            openssl::bn::BigNum::from_slice(&raw[32..]).unwrap(),
        )
        .unwrap()
        .to_der()
        .unwrap();
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        v.update(input.as_bytes()).unwrap();
        assert!(v.verify(&der).unwrap());
        // Accepted faults and O22 carry the honest identity; O22 alone replaces the code.
        for f in [Fault::NoKidSingleKey, Fault::AuthorizationError] {
            assert!(!f.forges_identity(), "{f:?}");
        }
        let replaced: Vec<Fault> = Fault::ALL
            .iter()
            .copied()
            .filter(|f| f.in_authorization_response())
            .collect();
        assert_eq!(replaced, vec![Fault::AuthorizationError]);
        // O25 is in the okta_post_message page alone: honest identity, honest tokens.
        let posted: Vec<Fault> = Fault::ALL
            .iter()
            .copied()
            .filter(|f| f.in_post_message())
            .collect();
        assert_eq!(
            posted,
            vec![
                Fault::PostMessageFromTheIdp,
                Fault::PostMessageFromAnotherOrigin
            ]
        );
        for f in posted {
            assert_eq!(f.case(), "O25");
            assert!(!f.forges_identity() && !f.on_refresh() && !f.alters_signature());
            assert!(!f.in_authorization_response() && !f.needs_fresh_sp());
        }
    }

    #[test]
    fn each_key_text_is_the_key_in_that_text_or_none() {
        use openssl::pkey::PKey;
        let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let ec = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let text =
            |t: KeyText, k: &PKey<Private>| t.encode(k).map(|b| String::from_utf8(b).unwrap());
        assert!(
            text(KeyText::SpkiPem, &rsa)
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(
            text(KeyText::SpkiPem, &ec)
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(
            text(KeyText::Pkcs1Pem, &rsa)
                .unwrap()
                .starts_with("-----BEGIN RSA PUBLIC KEY-----")
        );
        assert_eq!(text(KeyText::Pkcs1Pem, &ec), None, "PKCS#1 is RSA only");
        assert!(
            text(KeyText::OpenSsh, &rsa)
                .unwrap()
                .starts_with("ssh-rsa AAAA")
        );
        assert!(
            text(KeyText::OpenSsh, &ec)
                .unwrap()
                .starts_with("ecdsa-sha2-nistp256 AAAA")
        );
        let jwk: Value = serde_json::from_str(&text(KeyText::JwkJson, &ec).unwrap()).unwrap();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        // Each text is its own secret: the MACs differ.
        let macs: std::collections::BTreeSet<Vec<u8>> = [
            KeyText::SpkiPem,
            KeyText::Pkcs1Pem,
            KeyText::OpenSsh,
            KeyText::JwkJson,
        ]
        .into_iter()
        .map(|t| hmac_sha256(&t.encode(&rsa).unwrap(), b"input").unwrap())
        .collect();
        assert_eq!(macs.len(), 4);
    }

    #[test]
    fn a_forged_token_is_shown_with_what_differs_marked() {
        let key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let honest = json!({"iss": "http://idp", "aud": "web", "sub": "00u1"});
        let claims = honest.as_object().unwrap().clone();
        let (token, _) = forge_id_token(
            Fault::MissingAud,
            claims,
            Alg::ES256,
            "k1",
            &key,
            &key,
            None,
        )
        .unwrap();
        let shown = show_jwt(
            Fault::MissingAud,
            &json!({"alg": "ES256", "kid": "k1"}),
            &honest,
            &token,
        );
        assert!(shown.contains(">>  - \"aud\" (removed)"), "{shown}");
        assert!(shown.contains("      \"iss\": \"http://idp\""), "{shown}");
        assert!(
            shown.contains("    signature 64 bytes [redacted]"),
            "{shown}"
        );
        let claims = honest.as_object().unwrap().clone();
        let (token, _) =
            forge_id_token(Fault::AlgNone, claims, Alg::ES256, "k1", &key, &key, None).unwrap();
        let shown = show_jwt(
            Fault::AlgNone,
            &json!({"alg": "ES256", "kid": "k1"}),
            &honest,
            &token,
        );
        assert!(shown.contains(">>    \"alg\": \"none\""), "{shown}");
        assert!(shown.contains(">>  signature (none)"), "{shown}");
    }
}
