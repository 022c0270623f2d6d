//! The validated model of a connection file. Every value here has been checked; the loader in
//! `load/` is the only way to build one from YAML.

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;
use url::Url;

use super::reader::Pos;

/// One connection file: an IdP with its directory and apps, and how to test one SP.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The file as the user named it (for messages).
    pub source: String,
    /// The file's folder: relative paths in the file (an SP certificate) are resolved from it.
    pub base_dir: PathBuf,
    pub idp: Idp,
    pub directory: Directory,
    pub apps: Vec<App>,
    pub target: Option<Target>,
    pub expectations: Option<Expectations>,
    pub scenarios: Vec<Scenario>,
}

impl Connection {
    pub fn app(&self, id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn user(&self, id_or_login: &str) -> Option<&User> {
        self.directory.find(id_or_login)
    }

    /// The origins whose pages may call the IdP's OAuth endpoints from JavaScript: the file's
    /// `idp.trusted_origins`, or else the origins of every OIDC app's redirect and post-logout
    /// URIs (what Okta's app wizard adds as Trusted Origins for a browser app). Sorted, once each.
    pub fn trusted_origins(&self) -> Vec<String> {
        if let Some(listed) = &self.idp.trusted_origins {
            return listed.clone();
        }
        let mut origins: Vec<String> = self
            .apps
            .iter()
            .filter_map(App::oidc)
            .flat_map(|o| o.redirect_uris.iter().chain(&o.post_logout_redirect_uris))
            .map(|u| u.origin())
            .filter(|o| o.is_tuple())
            .map(|o| o.ascii_serialization())
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }
}

#[derive(Debug, Clone)]
pub struct Idp {
    /// Where the IdP is reached, e.g. `http://127.0.0.1:7000`; no trailing slash.
    pub base_url: Url,
    /// Okta's Trusted Origins with the CORS scope, as ASCII origins (`http://127.0.0.1:5173`),
    /// when the file lists them; otherwise [`Connection::trusted_origins`] derives them.
    pub trusted_origins: Option<Vec<String>>,
}

impl Idp {
    /// `base_url` without a trailing slash, to which paths starting with `/` are appended.
    pub fn base(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: Vec<User>,
}

impl Directory {
    /// A user by id, login or email (the login page accepts any of them).
    pub fn find(&self, key: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id == key)
            .or_else(|| self.users.iter().find(|u| u.login == key))
            .or_else(|| {
                self.users
                    .iter()
                    .find(|u| u.email.eq_ignore_ascii_case(key))
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Okta user id, e.g. `00u1alice`.
    pub id: String,
    /// What a person types on the login page; the email unless set.
    pub login: String,
    pub email: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Extra profile attributes, readable as `user.<key>` in attribute statements.
    pub attributes: BTreeMap<String, String>,
}

impl User {
    pub fn field(&self, field: &UserField) -> Option<&str> {
        match field {
            UserField::Id => Some(&self.id),
            UserField::Login => Some(&self.login),
            UserField::Email => Some(&self.email),
            UserField::Name => self.name.as_deref(),
            UserField::Extra(key) => self.attributes.get(key).map(String::as_str),
        }
    }
}

/// A user profile field named in an attribute statement: `user.email`, `user.department`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserField {
    Id,
    Login,
    Email,
    Name,
    Extra(String),
}

impl UserField {
    pub fn parse(s: &str) -> Option<UserField> {
        let key = s.strip_prefix("user.")?;
        Some(match key {
            "id" => UserField::Id,
            "login" => UserField::Login,
            "email" => UserField::Email,
            "name" => UserField::Name,
            other
                if !other.is_empty() && other.chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                UserField::Extra(other.to_owned())
            }
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct App {
    /// The Okta app instance id; used in URLs and as `sub` of revocation requests.
    pub id: String,
    /// The Okta app name in SSO URLs (`/app/{name}/{id}/sso/saml`).
    pub name: String,
    pub protocol: Protocol,
    pub groups: Option<GroupStatement>,
    pub logout: Option<Logout>,
    pub global_token_revocation: Option<GlobalTokenRevocation>,
    pub pos: Pos,
}

impl App {
    pub fn saml(&self) -> Option<&SamlApp> {
        match &self.protocol {
            Protocol::Saml(s) => Some(s),
            Protocol::Oidc(_) => None,
        }
    }

    pub fn oidc(&self) -> Option<&OidcApp> {
        match &self.protocol {
            Protocol::Oidc(o) => Some(o),
            Protocol::Saml(_) => None,
        }
    }
}

/// The protocol-specific part of an app.
#[derive(Debug, Clone)]
pub enum Protocol {
    Saml(SamlApp),
    Oidc(OidcApp),
}

/// A secret from the file (a client secret): never shown by `Debug`, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.len() == presented.len()
            && openssl::memcmp::eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An OpenID Connect app (an Okta "OIDC - Web Application" or SPA/native app).
#[derive(Debug, Clone)]
pub struct OidcApp {
    pub client_id: String,
    /// None for public clients (`token_endpoint_auth_method: none`).
    pub client_secret: Option<Secret>,
    pub redirect_uris: Vec<Url>,
    pub post_logout_redirect_uris: Vec<Url>,
    pub backchannel_logout_uri: Option<Url>,
    pub token_auth: TokenAuth,
    pub signing_alg: SigningAlg,
    /// Claims added to the id_token and userinfo: claim name -> user field, in file order.
    pub claims: Vec<(String, UserField)>,
    pub server: AuthServer,
    /// Whether the authorize request must carry a PKCE code_challenge (always for public clients).
    pub require_pkce: bool,
    pub access_token_lifetime_secs: i64,
    pub id_token_lifetime_secs: i64,
    /// Okta's "Login initiated by: Either Okta or App" with its "Initiate login URI": the app's
    /// tile sends the browser there with `iss` (OIDC Core §4, third-party-initiated login), and
    /// the client starts its own authorization request. None: "App Only".
    pub initiate_login_uri: Option<Url>,
    /// Okta's "Grant type" checkboxes: the grants the token endpoint accepts from this client
    /// (anything else is `unauthorized_client`, RFC 6749 §5.2). Never empty.
    pub grant_types: Vec<GrantType>,
    /// Okta's "Allow wildcard * in sign-in URI redirect" (off by default): a redirect URI host
    /// `*.example.com` stands for one subdomain label (`oidc::authorize::redirect_matches`).
    pub wildcard_redirect: bool,
}

/// An OAuth grant an app may use (Okta's "Grant type" on the app's General tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// RFC 6749 §4.1: the browser login.
    AuthorizationCode,
    /// RFC 6749 §6: a refresh token with `offline_access`.
    RefreshToken,
    /// RFC 6749 §4.4: a confidential client's own token, no user.
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// Its `grant_type` value at the token endpoint and in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Okta's default for a web app: authorization code, and refresh tokens when asked for.
    pub const DEFAULT: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

/// The JWS algorithm of an app's id_tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    RS256,
    ES256,
}

/// Which Okta authorization server issues an app's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthServer {
    /// The org server: issuer `{base}`, endpoints `/oauth2/v1/...`.
    Org,
    /// A custom server: issuer `{base}/oauth2/{id}`, endpoints `/oauth2/{id}/v1/...`.
    Custom(String),
}

#[derive(Debug, Clone)]
pub struct SamlApp {
    /// The IdP entity id / Issuer for this app: `http://www.okta.com/{id}` unless set.
    pub issuer: String,
    /// The SP entity id: the only Audience, and the Issuer its AuthnRequests must carry.
    pub audience: String,
    /// The ACS URL: the only place assertions are ever posted to.
    pub acs_url: Url,
    /// The certificate the SP signs with: every signature on an SP message is verified with it.
    pub sp_certificate: Option<PathBuf>,
    /// The messages that must be signed (`sp_signs`; all of them when only `sp_certificate` is
    /// given, none without a certificate). A message left out may come unsigned, but a
    /// signature it does carry must still verify.
    pub sp_signs: Vec<SpMessage>,
    /// The SP's private key (PEM), used only by the reference SP to sign its requests.
    pub sp_private_key: Option<PathBuf>,
    pub sign: SignWhat,
    pub name_id: NameIdSpec,
    /// Attribute statements in file order: SAML attribute name -> user field.
    pub attributes: Vec<(String, UserField)>,
    pub allow_idp_initiated: bool,
    /// RelayState sent with IdP-initiated responses.
    pub default_relay_state: Option<String>,
    /// Lifetime of the assertion (Conditions and SubjectConfirmationData), in seconds.
    pub assertion_lifetime_secs: i64,
}

impl SamlApp {
    /// Whether the SP must sign messages of kind `m` (checked with `sp_certificate`).
    pub fn requires_signed(&self, m: SpMessage) -> bool {
        self.sp_certificate.is_some() && self.sp_signs.contains(&m)
    }
}

/// A kind of message the SP sends the IdP, which `apps[].sp_signs` may require signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpMessage {
    AuthnRequests,
    LogoutRequests,
    LogoutResponses,
}

impl SpMessage {
    pub const ALL: &'static [SpMessage] = &[
        SpMessage::AuthnRequests,
        SpMessage::LogoutRequests,
        SpMessage::LogoutResponses,
    ];

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            SpMessage::AuthnRequests => "authn_requests",
            SpMessage::LogoutRequests => "logout_requests",
            SpMessage::LogoutResponses => "logout_responses",
        }
    }

    /// What the index page calls it.
    pub fn title(self) -> &'static str {
        match self {
            SpMessage::AuthnRequests => "AuthnRequests",
            SpMessage::LogoutRequests => "LogoutRequests",
            SpMessage::LogoutResponses => "LogoutResponses",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignWhat {
    Both,
    Response,
    Assertion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameIdSpec {
    pub format: NameIdFormat,
    pub value: UserField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameIdFormat {
    Unspecified,
    EmailAddress,
    Persistent,
}

impl NameIdFormat {
    pub fn urn(self) -> &'static str {
        match self {
            NameIdFormat::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            NameIdFormat::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            NameIdFormat::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        }
    }
}

/// The group statement: which of the user's groups the IdP emits, and under what name.
#[derive(Debug, Clone)]
pub struct GroupStatement {
    pub attribute: String,
    pub filter: GroupFilter,
    pub when_none: WhenNone,
}

/// What to emit when no group passes the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNone {
    /// No groups attribute at all (Okta's behaviour).
    Absent,
    /// A groups attribute with no value.
    Empty,
}

/// Okta's group filter kinds. Matching is case-sensitive; `regex` must match the whole name,
/// as Okta's "Matches regex" does.
#[derive(Debug, Clone)]
pub enum GroupFilter {
    Regex { source: String, anchored: Regex },
    StartsWith(String),
    Equals(String),
    Contains(String),
}

impl GroupFilter {
    pub fn regex(source: &str) -> Result<GroupFilter, regex::Error> {
        let anchored = Regex::new(&format!("^(?:{source})$"))?;
        Ok(GroupFilter::Regex {
            source: source.to_owned(),
            anchored,
        })
    }

    pub fn passes(&self, group: &str) -> bool {
        match self {
            GroupFilter::Regex { anchored, .. } => anchored.is_match(group),
            GroupFilter::StartsWith(p) => group.starts_with(p.as_str()),
            GroupFilter::Equals(p) => group == p,
            GroupFilter::Contains(p) => group.contains(p.as_str()),
        }
    }

    /// The user's groups that pass, in the user's order.
    pub fn apply<'a>(&self, groups: &'a [String]) -> Vec<&'a str> {
        groups
            .iter()
            .filter(|g| self.passes(g))
            .map(String::as_str)
            .collect()
    }
}

impl std::fmt::Display for GroupFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupFilter::Regex { source, .. } => write!(f, "regex {source}"),
            GroupFilter::StartsWith(p) => write!(f, "starts_with {p}"),
            GroupFilter::Equals(p) => write!(f, "equals {p}"),
            GroupFilter::Contains(p) => write!(f, "contains {p}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logout {
    pub slo_url: Url,
}

#[derive(Debug, Clone)]
pub struct GlobalTokenRevocation {
    pub endpoint: Url,
    pub subject_format: SubjectFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectFormat {
    IssSub,
    Email,
}

/// How the runner reaches the SP under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Whether `fakta test` adds the attack pack (S1-S24, S30, S31, O1-O14, O18-O19) and the
    /// session-binding pack (S25-S26, O15-O17, O20-O21) for this target.
    pub attacks: bool,
    /// A shell command that starts the SP: `fakta test` runs it (in the file's directory),
    /// stops it at the end, and restarts it for trials that need a fresh SP (O13).
    pub start: Option<String>,
    pub app: String,
    pub login_url: Url,
    pub logout_url: Option<Url>,
    pub session: SessionProbe,
    /// The SP requires the Assertion itself to be signed (SAML profiles 4.1.3.5 allow a signed
    /// Response around unsigned assertions; set when the SP insists on signed assertions).
    /// Only for a SAML app.
    pub requires_signed_assertions: bool,
    /// The login URL's query parameter naming where to go after the login (`return_to`,
    /// `next`, ...), if the SP has one: O21 sets it to another site.
    pub return_param: Option<String>,
    /// An SP URL that, visited with a session, makes the SP refresh its tokens (O18, O19).
    pub refresh_url: Option<Url>,
}

#[derive(Debug, Clone)]
pub struct SessionProbe {
    pub probe: Url,
    /// The probe's HTTP status that means "logged in".
    pub logged_in_status: u16,
    /// Values read from the probe's answer, by name (`role`, `email`, `groups`, ...).
    pub read: BTreeMap<String, Reader>,
}

#[derive(Debug, Clone)]
pub enum Reader {
    /// A JSON pointer into the body, e.g. `/role`.
    Json(String),
    /// A CSS selector; the text of the first match.
    Css(String),
    /// A regex over the body; the first capture group, or the whole match.
    Regex(Regex),
    /// A response header.
    Header(String),
}

/// The SP-side connection settings the SP is supposed to apply.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub default_role: String,
    pub enforce_group_sync: bool,
    /// role -> IdP groups, in file order.
    pub group_mappings: Vec<(String, Vec<String>)>,
    /// Highest first.
    pub role_precedence: Vec<String>,
    /// Whether the SP must refuse a login without `name` (R8).
    pub require_name: bool,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub user: String,
    /// The app; the target's app unless set.
    pub app: Option<String>,
    pub emit: Emit,
    pub steps: Vec<Step>,
    pub pos: Pos,
}

/// Changes to what the IdP emits for this scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Emit {
    /// SAML attribute names to leave out (`email`, `name`, `groups`).
    pub omit_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Login {
        expect: LoginOutcome,
        /// Who starts it: the SP (its login URL) or the IdP (IdP-initiated, SAML).
        from: LoginFrom,
        /// The browser (cookie jar) it happens in; `main` unless named.
        browser: String,
        /// Another user of the directory, signing in in that browser.
        user: Option<String>,
    },
    /// A logout started by the SP (its logout URL) or by the IdP (SAML LogoutRequest to the
    /// SP's SLO URL, OIDC back-channel logout token), honest or with a fault.
    Logout {
        from: LoginFrom,
        fault: Option<LogoutFault>,
        /// The binding of an IdP-initiated SAML LogoutRequest (G2): HTTP-Redirect unless set.
        binding: SloBinding,
    },
    /// A Global Token Revocation request for the trial's user, honest or with a fault.
    Revoke {
        expect_status: Option<u16>,
        fault: Option<crate::revocation::Fault>,
        /// The subject identifier format (the app's `subject_format` unless set).
        format: Option<SubjectFormat>,
    },
    /// Post the last SAMLResponse again, from a fresh browser; the SP must refuse it (S10).
    Replay,
    /// Replace the user's groups at the IdP (R5).
    SetGroups {
        groups: Vec<String>,
    },
    Expect(SessionExpectation),
}

/// The SAML binding an IdP-initiated LogoutRequest is delivered by: a redirect to the SP's SLO
/// URL (detached query signature), or an auto-submitting form POSTed to it (enveloped
/// signature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SloBinding {
    #[default]
    Redirect,
    Post,
}

/// Faults of an IdP-initiated logout: SAML LogoutRequest (G2) or OIDC logout token (G4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutFault {
    Saml(crate::saml::logout::Fault),
    Oidc(crate::oidc::logout::Fault),
}

impl LogoutFault {
    pub const ALL: &'static [(&'static str, LogoutFault)] = {
        use crate::oidc::logout::Fault as O;
        use crate::saml::logout::Fault as S;
        &[
            ("unsigned", LogoutFault::Saml(S::Unsigned)),
            ("wrong_destination", LogoutFault::Saml(S::WrongDestination)),
            ("other_session", LogoutFault::Saml(S::OtherSession)),
            ("alg_none", LogoutFault::Oidc(O::AlgNone)),
            ("wrong_alg", LogoutFault::Oidc(O::WrongAlg)),
            ("wrong_aud", LogoutFault::Oidc(O::WrongAud)),
            ("wrong_iss", LogoutFault::Oidc(O::WrongIss)),
            ("no_event", LogoutFault::Oidc(O::NoEvent)),
            ("wrong_event", LogoutFault::Oidc(O::WrongEvent)),
            ("nonce_present", LogoutFault::Oidc(O::NoncePresent)),
            ("bad_signature", LogoutFault::Oidc(O::BadSignature)),
        ]
    };

    pub fn name(self) -> &'static str {
        LogoutFault::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFrom {
    Sp,
    Idp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Accepted,
    Rejected,
    /// Either is conformant (e.g. O10: refuse, or try every key); the SP must not fail (5xx).
    Either,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionExpectation {
    pub session: Option<SessionState>,
    /// The IdP session of the browser (after logout or revocation it must be gone).
    pub idp_session: Option<SessionState>,
    /// The browser whose session is read; `main` unless named.
    pub browser: Option<String>,
    /// Expected values by reader name (`role: admin`).
    pub values: BTreeMap<String, ExpectedValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedValue {
    One(String),
    List(Vec<String>),
}
