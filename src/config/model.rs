//! The validated model of a connection file. Every value here has been checked; the loader in
//! `load/` is the only way to build one from YAML.

use std::collections::BTreeMap;
use std::path::PathBuf;

use openssl::x509::X509;
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
    /// The IdP vendor fakta plays (`idp.flavor`, Okta unless set).
    pub flavor: crate::flavor::Flavor,
    /// The vendor's tenant: Entra's tenant id (`idp.tenant`), Keycloak's realm (`idp.realm`);
    /// empty for Okta.
    pub tenant: String,
}

impl Idp {
    /// `base_url` without a trailing slash, to which paths starting with `/` are appended.
    pub fn base(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }

    /// The vendor's facts (`crate::flavor`).
    pub fn vendor(&self) -> &'static dyn crate::flavor::Vendor {
        self.flavor.vendor()
    }

    /// The OIDC issuer of an authorization server, in the flavor's layout.
    pub fn oidc_issuer(&self, server: &AuthServer) -> String {
        self.vendor().oidc_issuer(self, server)
    }

    /// The path of the discovery document of an authorization server.
    pub fn discovery_path(&self, server: &AuthServer) -> String {
        self.vendor().discovery_path(self, server)
    }

    /// The `sub` the IdP gives `user` in the tokens of the client `client_id` (Entra's is
    /// pairwise per application; Okta's is the user id).
    pub fn subject(&self, user: &User, client_id: &str) -> String {
        self.vendor().subject(user, client_id)
    }

    /// Where a SAML app's endpoints are, in the flavor's layout (paths on the base URL).
    pub fn saml_paths(&self, app: &App) -> crate::flavor::SamlPaths {
        self.vendor().saml_paths(self, &app.name, &app.id)
    }

    /// The full URL of an endpoint of an authorization server; None when the vendor has none.
    pub fn oidc_endpoint(
        &self,
        server: &AuthServer,
        endpoint: crate::flavor::Endpoint,
    ) -> Option<String> {
        self.vendor()
            .oidc_path(self, server, endpoint)
            .map(|p| format!("{}{p}", self.base()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: Vec<User>,
    /// Groups the file describes (`directory.groups`): an object id for a name (Entra).
    pub groups: Vec<Group>,
    /// Where each of `groups` is, by name and by object id: a token lists every group of a
    /// user, and a scan of `groups` per group made that quadratic (`Directory::new` builds it).
    group_index: GroupIndex,
}

/// A group's position in `Directory::groups` by name and by id; the first group with a value
/// wins, as a scan in file order would.
#[derive(Debug, Clone, Default)]
struct GroupIndex {
    by_name: std::collections::HashMap<String, usize>,
    by_id: std::collections::HashMap<String, usize>,
}

/// A group the file describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Its object id (Entra's groups claim); derived from the name when not given.
    pub id: Option<String>,
}

impl Directory {
    pub fn new(users: Vec<User>, groups: Vec<Group>) -> Self {
        let mut group_index = GroupIndex::default();
        for (i, g) in groups.iter().enumerate() {
            group_index.by_name.entry(g.name.clone()).or_insert(i);
            if let Some(id) = &g.id {
                group_index.by_id.entry(id.clone()).or_insert(i);
            }
        }
        Directory {
            users,
            groups,
            group_index,
        }
    }

    /// A group's object id: the one the file gives, or fakta's derived one.
    pub fn group_object_id(&self, name: &str) -> String {
        self.group_index
            .by_name
            .get(name)
            .and_then(|&i| self.groups.get(i))
            .and_then(|g| g.id.clone())
            .unwrap_or_else(|| crate::flavor::derived_object_id(name))
    }

    /// The name of the group a reference names: a group's name, or the object id of a group
    /// the file describes (so role mappings can name groups either way).
    pub fn group_name<'a>(&'a self, reference: &'a str) -> &'a str {
        self.group_index
            .by_id
            .get(reference)
            .and_then(|&i| self.groups.get(i))
            .map_or(reference, |g| g.name.as_str())
    }

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

impl std::fmt::Display for UserField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserField::Id => f.write_str("user.id"),
            UserField::Login => f.write_str("user.login"),
            UserField::Email => f.write_str("user.email"),
            UserField::Name => f.write_str("user.name"),
            UserField::Extra(k) => write!(f, "user.{k}"),
        }
    }
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
// A file holds a handful of apps, made once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// The client's public keys for `private_key_jwt` (Okta's "Public keys" on the app): the
    /// signatures of its client assertions are checked with them. Empty for other methods.
    pub jwks: Vec<ClientKey>,
    /// The client's private key (PEM) for `private_key_jwt`, used only by the reference SP to
    /// sign its client assertions; relative to the connection file.
    pub client_private_key: Option<PathBuf>,
    /// Okta's refresh token behaviour: rotation, its grace period, and the lifetimes.
    pub refresh: RefreshPolicy,
}

/// One key of a client's JWK set (`private_key_jwt`).
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub kid: Option<String>,
    /// RSA, or the EC key's curve: which algorithms it verifies (RS256/384/512 for RSA, the ES
    /// alg of its curve).
    pub kind: crate::oidc::assertion::KeyKind,
    /// The JWK's `alg`, when it names one: then only that algorithm.
    pub alg: Option<crate::oidc::assertion::KeyAlg>,
    pub key: openssl::pkey::PKey<openssl::pkey::Public>,
}

impl ClientKey {
    /// Whether the key verifies `alg` (RFC 8725 §3.1: one key, its own algorithms).
    pub fn allows(&self, alg: crate::oidc::assertion::KeyAlg) -> bool {
        alg.kind() == self.kind && self.alg.is_none_or(|a| a == alg)
    }
}

/// Whether a refresh returns a new refresh token (Okta: "Rotate token after every use") or the
/// same one ("Use persistent token").
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Rotation {
    Rotate,
    Static,
}

impl Rotation {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its name in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            Rotation::Rotate => "rotate",
            Rotation::Static => "static",
        }
    }
}

/// An app's refresh tokens (Okta: the app's "Refresh token behavior" and "Grace period for
/// token rotation"; the access policy rule's "Refresh token lifetime ... but will expire if not
/// used every").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub rotation: Rotation,
    /// After a rotation, how long the previous refresh token still works (0 to 60; Okta's
    /// default 30).
    pub grace_period_secs: i64,
    /// From the login: after this, every refresh token of the grant is expired. None: unlimited.
    pub lifetime_secs: Option<i64>,
    /// A refresh token not used for this long expires. None: never.
    pub idle_secs: Option<i64>,
}

impl RefreshPolicy {
    /// Okta's defaults: rotation for public clients (an SPA's default), a persistent token for
    /// confidential ones; a 30-second grace period; unlimited lifetime, idle expiry after 7
    /// days (the default access policy rule).
    pub fn default_for(token_auth: TokenAuth) -> Self {
        RefreshPolicy {
            rotation: if token_auth == TokenAuth::None {
                Rotation::Rotate
            } else {
                Rotation::Static
            },
            grace_period_secs: 30,
            lifetime_secs: None,
            idle_secs: Some(7 * 86_400),
        }
    }
}

/// An OAuth grant an app may use (Okta's "Grant type" on the app's General tab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum GrantType {
    /// RFC 6749 §4.1: the browser login.
    AuthorizationCode,
    /// RFC 6749 §6: a refresh token with `offline_access`.
    RefreshToken,
    /// RFC 6749 §4.4: a confidential client's own token, no user.
    ClientCredentials,
    /// OIDC Core §3.2 (implicit flow): tokens straight from the authorization endpoint
    /// (`response_type` `id_token`, `id_token token`); with `authorization_code` also the hybrid
    /// flow (§3.3, `code id_token`, ...). Never a `grant_type` at the token endpoint.
    Implicit,
}

impl GrantType {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its `grant_type` value at the token endpoint and in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Implicit => "implicit",
        }
    }

    /// Whether the token endpoint takes it as a `grant_type` (the implicit grant has no token
    /// request: RFC 6749 §4.2).
    pub fn at_token_endpoint(self) -> bool {
        self != GrantType::Implicit
    }

    /// Okta's default for a web app: authorization code, and refresh tokens when asked for.
    pub const DEFAULT: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
}

/// An authorization request's `response_type` (Okta's OIDC & OAuth 2.0 API reference,
/// `/authorize`: `code`, `id_token`, `id_token token`, and the hybrid combinations; OIDC Core
/// §3.1 code flow, §3.2 implicit, §3.3 hybrid). Its values are space-separated and unordered
/// (OAuth 2.0 Multiple Response Type Encoding Practices §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::VariantArray)]
pub enum ResponseType {
    #[default]
    Code,
    IdToken,
    IdTokenToken,
    CodeIdToken,
    CodeToken,
    CodeIdTokenToken,
}

impl ResponseType {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its value in OIDC Core's spelling (discovery's `response_types_supported`).
    pub fn name(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
        }
    }

    /// The response type a `response_type` value names, in any order of its words, each once.
    pub fn parse(value: &str) -> Option<ResponseType> {
        let mut words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
        words.sort_unstable();
        let n = words.len();
        words.dedup();
        if words.len() != n {
            return None;
        }
        ResponseType::ALL.iter().copied().find(|r| {
            let mut mine: Vec<&str> = r.name().split(' ').collect();
            mine.sort_unstable();
            mine == words
        })
    }

    pub fn has_code(self) -> bool {
        matches!(
            self,
            ResponseType::Code
                | ResponseType::CodeIdToken
                | ResponseType::CodeToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// Whether the authorization endpoint returns an id_token.
    pub fn has_id_token(self) -> bool {
        matches!(
            self,
            ResponseType::IdToken
                | ResponseType::IdTokenToken
                | ResponseType::CodeIdToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// Whether the authorization endpoint returns an access token.
    pub fn has_token(self) -> bool {
        matches!(
            self,
            ResponseType::IdTokenToken | ResponseType::CodeToken | ResponseType::CodeIdTokenToken
        )
    }

    /// Whether anything but a code comes back from the authorization endpoint (the implicit
    /// and hybrid flows): its default response mode is then `fragment` (Multiple Response
    /// Type Encoding Practices §2.1), and never `query`.
    pub fn returns_tokens(self) -> bool {
        self.has_id_token() || self.has_token()
    }

    /// The grant types an app must have for it (Okta: the implicit flow needs "Implicit
    /// (hybrid)" ticked; the hybrid flow needs it and "Authorization Code").
    pub fn grants(self) -> &'static [GrantType] {
        match self {
            ResponseType::Code => &[GrantType::AuthorizationCode],
            ResponseType::IdToken | ResponseType::IdTokenToken => &[GrantType::Implicit],
            _ => &[GrantType::AuthorizationCode, GrantType::Implicit],
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed (HMAC) with the client secret (RFC 7523 §2.2, OIDC Core §9).
    ClientSecretJwt,
    /// A JWT signed with the client's private key; the IdP holds its public keys.
    PrivateKeyJwt,
    None,
}

impl TokenAuth {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its name in the connection file and in discovery (`token_endpoint_auth_method`).
    pub fn name(self) -> &'static str {
        match self {
            TokenAuth::ClientSecretBasic => "client_secret_basic",
            TokenAuth::ClientSecretPost => "client_secret_post",
            TokenAuth::ClientSecretJwt => "client_secret_jwt",
            TokenAuth::PrivateKeyJwt => "private_key_jwt",
            TokenAuth::None => "none",
        }
    }

    /// Whether the client proves itself with the client secret (which the file must hold).
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            TokenAuth::ClientSecretBasic | TokenAuth::ClientSecretPost | TokenAuth::ClientSecretJwt
        )
    }
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
    pub sp_certificate: Option<SpCertificate>,
    /// The messages that must be signed (`sp_signs`; all of them when only `sp_certificate` is
    /// given, none without a certificate). A message left out may come unsigned, but a
    /// signature it does carry must still verify.
    pub sp_signs: Vec<SpMessage>,
    /// The SP's private key (PEM), used only by the reference SP to sign its requests.
    pub sp_private_key: Option<PathBuf>,
    pub sign: SignWhat,
    pub name_id: NameIdSpec,
    /// Attribute statements in file order.
    pub attributes: Vec<SamlAttribute>,
    /// Okta's "Recipient URL" when "Use this for Recipient URL and Destination URL" is off:
    /// the bearer SubjectConfirmationData's Recipient. None: the ACS URL the Response goes to.
    /// Kept as the validated URL's text: an `Url` is 88 bytes, and the app is stored in an
    /// enum beside the OIDC app.
    pub recipient_url: Option<String>,
    /// Okta's "Destination URL", likewise: the Response's Destination. None: the ACS URL.
    pub destination_url: Option<String>,
    /// Okta's "Other Requestable SSO URLs": further ACS URLs an AuthnRequest may name, by
    /// `AssertionConsumerServiceURL` or by `AssertionConsumerServiceIndex`. IdP-initiated
    /// logins always go to `acs_url`.
    pub other_sso_urls: Vec<OtherSsoUrl>,
    /// Okta's "Authentication context class": the AuthnStatement's AuthnContextClassRef.
    pub authn_context_class: AuthnContextClass,
    /// Okta's "Honor Force Authentication": whether `ForceAuthn="true"` shows the login page
    /// even when the browser has an IdP session (false: the request's flag is ignored).
    pub honor_force_authn: bool,
    pub allow_idp_initiated: bool,
    /// RelayState sent with IdP-initiated responses.
    pub default_relay_state: Option<String>,
    /// Lifetime of the assertion (Conditions and SubjectConfirmationData), in seconds.
    pub assertion_lifetime_secs: i64,
    /// `sp_metadata` as written, when that metadata says `WantAssertionsSigned="true"`: only a
    /// hint for `target.requires_signed_assertions` (a lint), since the target may be another SP.
    pub metadata_wants_signed_assertions: Option<String>,
    /// Okta's "Signature Algorithm" (Advanced Settings): RSA-SHA256 unless set.
    pub signature_algorithm: SignatureAlgorithm,
    /// Okta's "Digest Algorithm" (Advanced Settings): SHA256 unless set.
    pub digest_algorithm: DigestAlgorithm,
    /// Okta's "Assertion Encryption: Encrypted" with its algorithms and the SP's encryption
    /// certificate; None: assertions go in clear.
    pub encryption: Option<Encryption>,
}

/// Okta's "Signature Algorithm" choices for a SAML app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum SignatureAlgorithm {
    RsaSha256,
    RsaSha1,
}

impl SignatureAlgorithm {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => "rsa-sha256",
            SignatureAlgorithm::RsaSha1 => "rsa-sha1",
        }
    }

    /// The XML Signature algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => crate::saml::ns::ALG_RSA_SHA256,
            SignatureAlgorithm::RsaSha1 => crate::saml::ns::ALG_RSA_SHA1,
        }
    }
}

/// Okta's "Digest Algorithm" choices for a SAML app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum DigestAlgorithm {
    Sha256,
    Sha1,
}

impl DigestAlgorithm {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha1 => "sha1",
        }
    }

    /// The XML Signature digest URI.
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => crate::saml::ns::ALG_SHA256,
            DigestAlgorithm::Sha1 => crate::saml::ns::ALG_SHA1,
        }
    }
}

/// `apps[].encryption`: the Assertion is signed, then encrypted for the SP (Okta's "Assertion
/// Encryption: Encrypted", "Encryption Algorithm", "Key Transport Algorithm", "Encryption
/// Certificate").
#[derive(Debug, Clone)]
pub struct Encryption {
    /// The SP's encryption certificate (PEM): its RSA key wraps the content key.
    pub certificate: PathBuf,
    pub block: BlockCipher,
    pub key_transport: KeyTransport,
    /// The matching private key (PEM), used only by the reference SP to decrypt.
    pub private_key: Option<PathBuf>,
}

/// Okta's "Encryption Algorithm" choices (XML Encryption block ciphers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum BlockCipher {
    Aes256Cbc,
    Aes128Cbc,
    Aes256Gcm,
    Aes128Gcm,
}

impl BlockCipher {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            BlockCipher::Aes128Cbc => "aes128-cbc",
            BlockCipher::Aes256Cbc => "aes256-cbc",
            BlockCipher::Aes128Gcm => "aes128-gcm",
            BlockCipher::Aes256Gcm => "aes256-gcm",
        }
    }
}

/// Okta's "Key Transport Algorithm" choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum KeyTransport {
    RsaOaep,
    Rsa15,
}

impl KeyTransport {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            KeyTransport::RsaOaep => "rsa-oaep",
            KeyTransport::Rsa15 => "rsa-1_5",
        }
    }
}

impl SamlApp {
    /// Whether the SP must sign messages of kind `m` (checked with `sp_certificate`).
    pub fn requires_signed(&self, m: SpMessage) -> bool {
        self.sp_certificate.is_some() && self.sp_signs.contains(&m)
    }

    /// The NameID value the app sends for `user` (Okta's "Application username"); the email
    /// when the field it names is empty for this user.
    pub fn name_id_of(&self, user: &User) -> String {
        self.name_id
            .value
            .render(user)
            .unwrap_or_else(|| user.email.clone())
    }
}

/// One SAML attribute statement: its name, the user field it carries, and its `NameFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlAttribute {
    pub name: String,
    pub field: UserField,
    pub name_format: AttrNameFormat,
}

/// Okta's attribute "Name format" choices (SAML Core 8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum AttrNameFormat {
    Unspecified,
    Uri,
    Basic,
}

impl AttrNameFormat {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            AttrNameFormat::Unspecified => "unspecified",
            AttrNameFormat::Uri => "uri",
            AttrNameFormat::Basic => "basic",
        }
    }

    /// What Okta's admin console calls it.
    pub fn title(self) -> &'static str {
        match self {
            AttrNameFormat::Unspecified => "Unspecified",
            AttrNameFormat::Uri => "URI Reference",
            AttrNameFormat::Basic => "Basic",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            AttrNameFormat::Unspecified => {
                "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
            }
            AttrNameFormat::Uri => "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
            AttrNameFormat::Basic => "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        }
    }
}

/// One of Okta's "Other Requestable SSO URLs", with its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherSsoUrl {
    pub url: Url,
    /// The `AssertionConsumerServiceIndex` that names it (an unsignedShort, SAML Core 3.4.1).
    pub index: u16,
}

/// Okta's "Authentication context class" choices: the AuthnContextClassRef of the
/// AuthnStatement (SAML Authentication Context, section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum AuthnContextClass {
    PasswordProtectedTransport,
    Password,
    TlsClient,
    X509,
    Kerberos,
    IntegratedWindows,
    Unspecified,
}

impl AuthnContextClass {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            AuthnContextClass::PasswordProtectedTransport => "password_protected_transport",
            AuthnContextClass::Password => "password",
            AuthnContextClass::TlsClient => "tls_client",
            AuthnContextClass::X509 => "x509",
            AuthnContextClass::Kerberos => "kerberos",
            AuthnContextClass::IntegratedWindows => "integrated_windows",
            AuthnContextClass::Unspecified => "unspecified",
        }
    }

    /// What Okta's admin console calls it.
    pub fn title(self) -> &'static str {
        match self {
            AuthnContextClass::PasswordProtectedTransport => "PasswordProtectedTransport",
            AuthnContextClass::Password => "Password",
            AuthnContextClass::TlsClient => "TLS Client",
            AuthnContextClass::X509 => "X.509 Certificate",
            AuthnContextClass::Kerberos => "Kerberos",
            AuthnContextClass::IntegratedWindows => "Integrated Windows Authentication",
            AuthnContextClass::Unspecified => "Unspecified",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            AuthnContextClass::PasswordProtectedTransport => {
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            }
            AuthnContextClass::Password => "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
            AuthnContextClass::TlsClient => "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient",
            AuthnContextClass::X509 => "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
            AuthnContextClass::Kerberos => "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos",
            AuthnContextClass::IntegratedWindows => "urn:federation:authentication:windows",
            AuthnContextClass::Unspecified => "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
        }
    }
}

/// Where the SP's signing certificate comes from.
#[derive(Debug, Clone)]
pub enum SpCertificate {
    /// `sp_certificate`: a PEM file, relative to the connection file's folder. The loader
    /// checks it; the IdP reads it again when it starts (the file may have been replaced).
    File(PathBuf),
    /// The signing KeyDescriptor of `sp_metadata`, read with the metadata. `source` is the
    /// metadata's file or URL as the connection file gives it.
    Metadata { source: String, x509: X509 },
}

/// A kind of message the SP sends the IdP, which `apps[].sp_signs` may require signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum SpMessage {
    AuthnRequests,
    LogoutRequests,
    LogoutResponses,
}

impl SpMessage {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum SignWhat {
    Both,
    Response,
    Assertion,
}

impl SignWhat {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameIdSpec {
    pub format: NameIdFormat,
    pub value: NameIdValue,
}

/// What the NameID carries: Okta's "Application username" choices, or (as before them) a user
/// field named directly (`user.email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameIdValue {
    /// A user field (`user.login` is Okta's "Okta username", `user.email` its "Email").
    Field(UserField),
    /// Okta's "Email prefix": the email up to its `@`.
    EmailPrefix,
    /// Okta's "Custom": a template of literal text and `${user.field}` substitutions.
    Custom(Template),
}

impl NameIdValue {
    /// The value for `user`; None when a field it needs is empty for this user.
    pub fn render(&self, user: &User) -> Option<String> {
        match self {
            NameIdValue::Field(f) => user.field(f).map(str::to_owned),
            NameIdValue::EmailPrefix => Some(
                user.email
                    .split_once('@')
                    .map_or(user.email.as_str(), |(prefix, _)| prefix)
                    .to_owned(),
            ),
            NameIdValue::Custom(t) => t.render(user),
        }
    }

    /// As the file spells it (`okta_username`, `email`, `email_prefix`, `user.id`, or the
    /// custom template).
    pub fn describe(&self) -> String {
        match self {
            NameIdValue::Field(UserField::Login) => "okta_username".to_owned(),
            NameIdValue::Field(UserField::Email) => "email".to_owned(),
            NameIdValue::Field(f) => f.to_string(),
            NameIdValue::EmailPrefix => "email_prefix".to_owned(),
            NameIdValue::Custom(t) => format!("custom {t}"),
        }
    }
}

/// A tiny template: literal text and `${user.field}` substitutions, concatenated. Nothing
/// else is evaluated (no functions, no conditionals, no nesting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<TemplatePart>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Field(UserField),
}

/// Why a template does not parse; the byte offset is into the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`${{` at byte {at} is not closed by `}}`")]
    Unclosed { at: usize },
    #[error(
        "`${{{inner}}}` at byte {at} is not a user field; expected user.id, user.login, user.email, user.name or user.<attribute>"
    )]
    NotAField { inner: String, at: usize },
    #[error("the template is empty")]
    Empty,
}

impl Template {
    /// Parses `text`: `${` starts a substitution that runs to the next `}`; `$` alone is text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(TemplatePart::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or(TemplateError::Unclosed { at: offset + start })?;
            let inner = after[..end].trim();
            let field = UserField::parse(inner).ok_or_else(|| TemplateError::NotAField {
                inner: inner.to_owned(),
                at: offset + start,
            })?;
            parts.push(TemplatePart::Field(field));
            let consumed = start + 2 + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err(TemplateError::Empty);
        }
        Ok(Template(parts))
    }

    /// The fields it reads.
    pub fn fields(&self) -> impl Iterator<Item = &UserField> {
        self.0.iter().filter_map(|p| match p {
            TemplatePart::Field(f) => Some(f),
            TemplatePart::Text(_) => None,
        })
    }

    /// The text for `user`; None when a field it reads is empty for this user.
    pub fn render(&self, user: &User) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Field(f) => out.push_str(user.field(f)?),
            }
        }
        Some(out)
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            match p {
                TemplatePart::Text(t) => f.write_str(t)?,
                TemplatePart::Field(field) => write!(f, "${{{field}}}")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum NameIdFormat {
    Unspecified,
    EmailAddress,
    Persistent,
}

impl NameIdFormat {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The word for it in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            NameIdFormat::Unspecified => "unspecified",
            NameIdFormat::EmailAddress => "email_address",
            NameIdFormat::Persistent => "persistent",
        }
    }

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
    /// Keycloak's Group Membership mapper "Full group path": groups written as paths
    /// (`/Qovery-Admins`) or as names. On unless the file says `full_path: false`; only a
    /// Keycloak file may set it.
    pub full_path: bool,
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
        // Apps of one file mostly share their filter: compiling it (a DFA) once, not per app,
        // keeps a 100-app file's load in milliseconds. Bounded: a file has at most that many.
        static COMPILED: std::sync::Mutex<Option<std::collections::HashMap<String, Regex>>> =
            std::sync::Mutex::new(None);
        const MOST_CACHED: usize = 1024;
        let mut cache = COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = cache.get_or_insert_with(Default::default);
        let anchored = match cache.get(source) {
            Some(re) => re.clone(),
            None => {
                let re = Regex::new(&format!("^(?:{source})$"))?;
                if cache.len() >= MOST_CACHED {
                    cache.clear();
                }
                cache.insert(source.to_owned(), re.clone());
                re
            }
        };
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
    /// Whether `fakta test` adds the attack pack (S1-S24, S27-S31, O1-O14, O18-O19) and the
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
    /// The SP takes SHA-1 signatures and digests (S29 is then not judged). Only for a SAML app.
    pub allows_sha1: bool,
    /// The SP checks the signature of the id_token it takes straight from the token endpoint,
    /// which OpenID Connect Core §3.1.3.7 step 6 lets it leave to TLS: O6-O9 in the code flow
    /// then fail when it accepts a forged signature (without it, such an acceptance is reported,
    /// not judged). Only for an OIDC app.
    pub verifies_id_token_signature: bool,
    /// The login URL's query parameter naming where to go after the login (`return_to`,
    /// `next`, ...), if the SP has one: O21 sets it to another site.
    pub return_param: Option<String>,
    /// An SP URL that, visited with a session, makes the SP refresh its tokens (O18, O19; O26).
    pub refresh_url: Option<Url>,
    /// An SPA page that, visited by a browser signed in at the IdP, drops the SPA's own tokens
    /// and signs in again silently (prompt=none, response_mode okta_post_message: okta-auth-js
    /// `token.getWithoutPrompt()`), then shows the session (O25, in a real browser).
    pub silent_login_url: Option<Url>,
    /// The `response_type` the SP's login asks for (OIDC only; default `code`): O23 runs when
    /// it returns an id_token with an access token, O24 when it returns one with a code.
    pub response_type: ResponseType,
}

#[derive(Debug, Clone)]
pub struct SessionProbe {
    pub probe: Url,
    /// The probe's HTTP status that means "logged in".
    pub logged_in_status: u16,
    /// A JavaScript expression that also decides "logged in" (`--browser chromium` only): true
    /// or false once the page decided, null or undefined before.
    pub logged_in_js: Option<String>,
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
    /// A JavaScript expression evaluated in the probe's page once it settled (`--browser
    /// chromium` only; the HTTP browser runs no script).
    Js(String),
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
    /// Groups written as full paths whatever the app's `full_path` (Keycloak; the F2 trial).
    pub full_group_paths: bool,
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
    /// Every fault with its name in a scenario's `logout_fault`: the SAML ones (G2), then the
    /// OIDC ones (G4), each in declaration order. Built from the inner enums' derived lists, so
    /// a fault added to either is planned and accepted by the loader without more.
    pub const ALL: &'static [(&'static str, LogoutFault)] = &LOGOUT_FAULTS;

    pub const fn name(self) -> &'static str {
        match self {
            LogoutFault::Saml(f) => f.name(),
            LogoutFault::Oidc(f) => f.name(),
        }
    }
}

/// `LogoutFault::ALL`, concatenated in a const context (a slice cannot be chained there).
const LOGOUT_FAULTS: [(&str, LogoutFault); SAML_LOGOUT_FAULTS.len() + OIDC_LOGOUT_FAULTS.len()] = {
    let mut all = [(
        SAML_LOGOUT_FAULTS[0].name(),
        LogoutFault::Saml(SAML_LOGOUT_FAULTS[0]),
    ); SAML_LOGOUT_FAULTS.len() + OIDC_LOGOUT_FAULTS.len()];
    let mut i = 0;
    while i < SAML_LOGOUT_FAULTS.len() {
        let f = SAML_LOGOUT_FAULTS[i];
        all[i] = (f.name(), LogoutFault::Saml(f));
        i += 1;
    }
    let mut j = 0;
    while j < OIDC_LOGOUT_FAULTS.len() {
        let f = OIDC_LOGOUT_FAULTS[j];
        all[i + j] = (f.name(), LogoutFault::Oidc(f));
        j += 1;
    }
    all
};
const SAML_LOGOUT_FAULTS: &[crate::saml::logout::Fault] =
    <crate::saml::logout::Fault as strum::VariantArray>::VARIANTS;
const OIDC_LOGOUT_FAULTS: &[crate::oidc::logout::Fault] =
    <crate::oidc::logout::Fault as strum::VariantArray>::VARIANTS;

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
    /// The values are checked only when the browser is signed in; a refused login passes
    /// (F1: fetch the overage's groups, or refuse).
    pub only_if_signed_in: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups are found through the index, by name and by id, the first of a duplicate
    /// winning as a scan would; a group the file does not describe gets the derived id.
    #[test]
    fn groups_are_indexed_by_name_and_id() {
        let g = |name: &str, id: Option<&str>| Group {
            name: name.into(),
            id: id.map(str::to_owned),
        };
        let mut groups: Vec<Group> = (0..5000)
            .map(|i| g(&format!("G{i}"), Some(&format!("id-{i}"))))
            .collect();
        groups.push(g("G7", Some("second-G7")));
        groups.push(g("NoId", None));
        let d = Directory::new(Vec::new(), groups);
        assert_eq!(d.group_object_id("G4999"), "id-4999");
        assert_eq!(d.group_object_id("G7"), "id-7");
        assert_eq!(
            d.group_object_id("NoId"),
            crate::flavor::derived_object_id("NoId")
        );
        assert_eq!(
            d.group_object_id("Other"),
            crate::flavor::derived_object_id("Other")
        );
        assert_eq!(d.group_name("id-4999"), "G4999");
        assert_eq!(d.group_name("second-G7"), "G7");
        assert_eq!(d.group_name("G1"), "G1");
        assert_eq!(d.group_name("unknown"), "unknown");
    }

    #[test]
    fn response_types_parse_in_any_order_and_name_their_grants() {
        for r in ResponseType::ALL.iter().copied() {
            assert_eq!(ResponseType::parse(r.name()), Some(r));
            let reversed: Vec<&str> = r.name().split(' ').rev().collect();
            assert_eq!(ResponseType::parse(&reversed.join(" ")), Some(r));
        }
        assert_eq!(
            ResponseType::parse("token  id_token"),
            Some(ResponseType::IdTokenToken)
        );
        for bad in [
            "",
            "token",
            "none",
            "code code",
            "code id_token id_token",
            "Code",
        ] {
            assert_eq!(ResponseType::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ResponseType::Code.grants(), [GrantType::AuthorizationCode]);
        assert_eq!(ResponseType::IdTokenToken.grants(), [GrantType::Implicit]);
        assert_eq!(
            ResponseType::CodeToken.grants(),
            [GrantType::AuthorizationCode, GrantType::Implicit]
        );
        let returns: Vec<&str> = ResponseType::ALL
            .iter()
            .filter(|r| r.returns_tokens())
            .map(|r| r.name())
            .collect();
        assert_eq!(
            returns,
            [
                "id_token",
                "id_token token",
                "code id_token",
                "code token",
                "code id_token token"
            ]
        );
        assert!(!GrantType::Implicit.at_token_endpoint());
    }

    fn alice() -> User {
        User {
            id: "00u1alice".into(),
            login: "alice".into(),
            email: "alice@acme.test".into(),
            name: None,
            groups: Vec::new(),
            attributes: [("dept".to_owned(), "R&D".to_owned())].into(),
        }
    }

    #[test]
    fn a_template_is_text_and_substitutions_only() {
        let t = Template::parse("${user.login}.${ user.dept }@corp$x").unwrap();
        assert_eq!(
            t.0,
            [
                TemplatePart::Field(UserField::Login),
                TemplatePart::Text(".".into()),
                TemplatePart::Field(UserField::Extra("dept".into())),
                TemplatePart::Text("@corp$x".into()),
            ]
        );
        assert_eq!(t.render(&alice()).as_deref(), Some("alice.R&D@corp$x"));
        assert_eq!(t.to_string(), "${user.login}.${user.dept}@corp$x");
        // A field the user lacks: no value, so the caller's fallback applies.
        let name = Template::parse("${user.name}").unwrap();
        assert_eq!(name.render(&alice()), None);
    }

    #[test]
    fn template_errors_say_where() {
        assert_eq!(
            Template::parse("ab${user.id"),
            Err(TemplateError::Unclosed { at: 2 })
        );
        assert_eq!(
            Template::parse("${user.id}${toUpper(user.id)}"),
            Err(TemplateError::NotAField {
                inner: "toUpper(user.id)".into(),
                at: 10
            })
        );
        assert_eq!(Template::parse(""), Err(TemplateError::Empty));
        // Nesting is not a thing: the first `}` ends the substitution.
        assert!(matches!(
            Template::parse("${user.${user.id}}"),
            Err(TemplateError::NotAField { .. })
        ));
    }

    #[test]
    fn the_name_id_value_words() {
        let u = alice();
        assert_eq!(
            NameIdValue::EmailPrefix.render(&u).as_deref(),
            Some("alice")
        );
        assert_eq!(
            NameIdValue::Field(UserField::Login).describe(),
            "okta_username"
        );
        assert_eq!(NameIdValue::Field(UserField::Id).describe(), "user.id");
    }

    #[test]
    fn every_setting_word_is_its_own() {
        let mut formats: Vec<&str> = AttrNameFormat::ALL.iter().map(|f| f.name()).collect();
        formats.dedup();
        assert_eq!(formats.len(), AttrNameFormat::ALL.len());
        let mut classes: Vec<&str> = AuthnContextClass::ALL.iter().map(|c| c.name()).collect();
        classes.sort_unstable();
        classes.dedup();
        assert_eq!(classes.len(), AuthnContextClass::ALL.len());
    }

    /// The SAML and OIDC logout faults share one namespace in a scenario's `logout_fault`: a
    /// name used by both would make the loader pick the first silently. Each listed name is
    /// the fault's own.
    #[test]
    fn logout_fault_names_are_unique_and_their_own() {
        let mut names: Vec<&str> = LogoutFault::ALL.iter().map(|(n, _)| *n).collect();
        for (n, f) in LogoutFault::ALL {
            assert_eq!(*n, f.name());
        }
        assert_eq!(
            LogoutFault::ALL.len(),
            <crate::saml::logout::Fault as strum::VariantArray>::VARIANTS.len()
                + <crate::oidc::logout::Fault as strum::VariantArray>::VARIANTS.len()
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LogoutFault::ALL.len(), "a name used twice");
    }
}
