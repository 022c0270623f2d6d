//! The library's entry point for tests: [`MockIdp`], a fake Okta started in-process on a free
//! loopback port, built from a connection file or with [`MockIdp::builder`], steered between
//! logins ([`MockIdp::login_as`], [`MockIdp::set_groups`], [`MockIdp::revoke`]) and stopped
//! when dropped.
//!
//! The builder writes a connection file and loads it with the same loader and checks as
//! `fakta check` and `fakta serve`, so a builder and a YAML file cannot disagree; what it wrote
//! is [`MockIdpBuilder::to_yaml`]. `fakta serve` starts its IdP through [`Running::start`] too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::SystemClock;
use crate::config::{self, Connection, Diagnostics};
use crate::idp::{IdpState, StateError};
use crate::keys::{EcKey, KeyError, KeyStore, SigningKey};

/// Why a [`MockIdp`] (or a [`Suite`](crate::Suite)) could not start or do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection (a file, or what the builder wrote) does not pass `fakta check`.
    #[error("{file} has {} error(s):\n{diagnostics}", diagnostics.errors().count())]
    Invalid {
        /// The file's name, or `MockIdp::builder`.
        file: String,
        /// Every finding, errors and warnings, as `fakta check` prints them.
        diagnostics: Diagnostics,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No loopback port could be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's answer.
        source: std::io::Error,
    },
    /// The process's temporary signing key could not be made.
    #[error("making a temporary signing key: {0}")]
    TemporaryKey(String),
    /// The signing key folder given with [`MockIdpBuilder::certs_dir`] could not be used.
    #[error("loading the signing key from {dir}: {source}")]
    Keys {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        source: KeyError,
    },
    /// A file named by the connection (an SP certificate) could not be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// An `https` base URL: TLS needs a local CA (`fakta serve` makes one); a `MockIdp` serves
    /// plain HTTP on loopback.
    #[error("{0} is https; a MockIdp serves http on 127.0.0.1 (use `fakta serve` for HTTPS)")]
    Https(String),
    /// No user of the directory has this id, login or email.
    #[error("no user `{0}` in the directory")]
    NoSuchUser(String),
    /// The IdP could not send a Global Token Revocation request, or refused to.
    #[error("revocation for `{user}` of app `{app}`: {reason}")]
    Revocation {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// What went wrong.
        reason: String,
    },
    /// The conformance runner could not run.
    #[error(transparent)]
    Run(#[from] crate::runner::RunError),
    /// The runner's thread ended without an answer.
    #[error("the run ended without an answer: {0}")]
    Aborted(String),
}

/// A user of the mock directory. The login is the email, the id (the `sub` of tokens, Okta's
/// `00u…`) is made from the user's place in the directory unless set.
///
/// ```
/// let alice = fakta::User::new("alice@acme.test").name("Alice").groups(["Qovery-Admins"]);
/// # let _ = alice;
/// ```
#[derive(Debug, Clone)]
pub struct User {
    email: String,
    id: Option<String>,
    login: Option<String>,
    name: Option<String>,
    groups: Vec<String>,
    attributes: Vec<(String, String)>,
}

impl User {
    /// A user with this email (also the login) and no groups.
    pub fn new(email: impl Into<String>) -> User {
        User {
            email: email.into(),
            id: None,
            login: None,
            name: None,
            groups: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// The Okta user id (`sub`), e.g. `00u1alice`.
    pub fn id(mut self, id: impl Into<String>) -> User {
        self.id = Some(id.into());
        self
    }

    /// What is typed on the login page, when it is not the email.
    pub fn login(mut self, login: impl Into<String>) -> User {
        self.login = Some(login.into());
        self
    }

    /// The display name (`name` in the default claims and attributes).
    pub fn name(mut self, name: impl Into<String>) -> User {
        self.name = Some(name.into());
        self
    }

    /// The user's Okta groups (every app built here sends all of them, as `groups`).
    pub fn groups<I, S>(mut self, groups: I) -> User
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// An extra profile attribute, readable as `user.<key>` in a connection file.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> User {
        self.attributes.push((key.into(), value.into()));
        self
    }
}

/// A SAML app: the SP's Assertion Consumer Service URL and entity id (the Audience). It signs
/// Response and Assertion, sends the email as NameID, `email` and `name` attributes and every
/// group as `groups`, and allows IdP-initiated logins, as the connection file's defaults do.
///
/// ```
/// let app = fakta::SamlApp::new("qovery", "http://127.0.0.1:7100/acs", "urn:qovery:acme");
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct SamlApp {
    id: String,
    acs_url: String,
    audience: String,
    slo_url: Option<String>,
    revocation: Option<String>,
}

impl SamlApp {
    /// An app with this instance id (in its URLs), ACS URL and SP entity id.
    pub fn new(
        id: impl Into<String>,
        acs_url: impl Into<String>,
        audience: impl Into<String>,
    ) -> SamlApp {
        SamlApp {
            id: id.into(),
            acs_url: acs_url.into(),
            audience: audience.into(),
            slo_url: None,
            revocation: None,
        }
    }

    /// The SP's Single Logout URL.
    pub fn slo_url(mut self, url: impl Into<String>) -> SamlApp {
        self.slo_url = Some(url.into());
        self
    }

    /// The SP's Global Token Revocation endpoint, for [`MockIdp::revoke`].
    pub fn global_token_revocation(mut self, endpoint: impl Into<String>) -> SamlApp {
        self.revocation = Some(endpoint.into());
        self
    }
}

/// An OpenID Connect app on the org authorization server. Without a client secret it is a
/// public client that must use PKCE (as the connection file's `token_endpoint_auth_method:
/// none`); its id_tokens carry `email`, `name`, `preferred_username` and every group as
/// `groups`.
///
/// ```
/// let app = fakta::OidcApp::new("web", "0oa1web")
///     .client_secret("test-secret")
///     .redirect_uri("http://127.0.0.1:7100/callback");
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct OidcApp {
    id: String,
    client_id: String,
    client_secret: Option<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    revocation: Option<String>,
}

impl OidcApp {
    /// An app with this instance id and OAuth client id.
    pub fn new(id: impl Into<String>, client_id: impl Into<String>) -> OidcApp {
        OidcApp {
            id: id.into(),
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            revocation: None,
        }
    }

    /// Makes it a confidential client authenticating with HTTP Basic (`client_secret_basic`).
    pub fn client_secret(mut self, secret: impl Into<String>) -> OidcApp {
        self.client_secret = Some(secret.into());
        self
    }

    /// Adds a sign-in redirect URI (at least one is needed).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> OidcApp {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Adds a post-logout redirect URI.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> OidcApp {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    /// The client's back-channel logout URI.
    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> OidcApp {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// The client's Global Token Revocation endpoint, for [`MockIdp::revoke`].
    pub fn global_token_revocation(mut self, endpoint: impl Into<String>) -> OidcApp {
        self.revocation = Some(endpoint.into());
        self
    }
}

/// Builds a [`MockIdp`]: users and apps, then [`start`](MockIdpBuilder::start).
#[derive(Debug, Clone, Default)]
pub struct MockIdpBuilder {
    users: Vec<User>,
    saml: Vec<SamlApp>,
    oidc: Vec<OidcApp>,
    certs: Option<PathBuf>,
}

/// What the builder names its connection in messages.
const BUILDER_SOURCE: &str = "MockIdp::builder";

impl MockIdpBuilder {
    /// Adds a user to the directory.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Adds a SAML app.
    pub fn saml_app(mut self, app: SamlApp) -> Self {
        self.saml.push(app);
        self
    }

    /// Adds an OpenID Connect app.
    pub fn oidc_app(mut self, app: OidcApp) -> Self {
        self.oidc.push(app);
        self
    }

    /// Signs with the key in this folder (made there when missing), as `fakta serve --certs`,
    /// instead of the process's temporary key.
    pub fn certs_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.certs = Some(dir.into());
        self
    }

    /// The connection file this builder stands for, with `base_url` as the IdP's address: what
    /// [`start`](MockIdpBuilder::start) loads, and what `fakta serve` would run.
    ///
    /// ```
    /// let yaml = fakta::MockIdp::builder()
    ///     .user(fakta::User::new("alice@acme.test").groups(["Eng"]))
    ///     .to_yaml("http://127.0.0.1:7000");
    /// assert!(yaml.contains("email: \"alice@acme.test\""));
    /// ```
    pub fn to_yaml(&self, base_url: &str) -> String {
        let mut y = format!("idp:\n  base_url: {}\n", q(base_url));
        y.push_str("directory:\n  users:");
        if self.users.is_empty() {
            y.push_str(" []");
        }
        y.push('\n');
        for (i, u) in self.users.iter().enumerate() {
            let id = u.id.clone().unwrap_or_else(|| format!("00u{}fakta", i + 1));
            y.push_str(&format!(
                "    - id: {}\n      email: {}\n",
                q(&id),
                q(&u.email)
            ));
            if let Some(login) = &u.login {
                y.push_str(&format!("      login: {}\n", q(login)));
            }
            if let Some(name) = &u.name {
                y.push_str(&format!("      name: {}\n", q(name)));
            }
            y.push_str(&format!("      groups: {}\n", list(&u.groups)));
            if !u.attributes.is_empty() {
                y.push_str("      attributes:\n");
                for (k, v) in &u.attributes {
                    y.push_str(&format!("        {}: {}\n", q(k), q(v)));
                }
            }
        }
        y.push_str("apps:");
        if self.saml.is_empty() && self.oidc.is_empty() {
            y.push_str(" []");
        }
        y.push('\n');
        // Every group is sent: a test chooses the groups it gives its users.
        let groups = "    groups: { attribute: groups, filter: { regex: \".*\" } }\n";
        for a in &self.saml {
            y.push_str(&format!(
                "  - id: {}\n    protocol: saml\n    audience: {}\n    acs_url: {}\n",
                q(&a.id),
                q(&a.audience),
                q(&a.acs_url)
            ));
            y.push_str("    attributes: { email: user.email, name: user.name }\n");
            y.push_str(groups);
            if let Some(u) = &a.slo_url {
                y.push_str(&format!("    logout: {{ slo_url: {} }}\n", q(u)));
            }
            if let Some(u) = &a.revocation {
                y.push_str(&format!(
                    "    global_token_revocation: {{ endpoint: {} }}\n",
                    q(u)
                ));
            }
        }
        for a in &self.oidc {
            y.push_str(&format!(
                "  - id: {}\n    protocol: oidc\n    client_id: {}\n    redirect_uris: {}\n",
                q(&a.id),
                q(&a.client_id),
                list(&a.redirect_uris)
            ));
            if let Some(s) = &a.client_secret {
                y.push_str(&format!("    client_secret: {}\n", q(s)));
            }
            if !a.post_logout_redirect_uris.is_empty() {
                y.push_str(&format!(
                    "    post_logout_redirect_uris: {}\n",
                    list(&a.post_logout_redirect_uris)
                ));
            }
            if let Some(u) = &a.backchannel_logout_uri {
                y.push_str(&format!("    backchannel_logout_uri: {}\n", q(u)));
            }
            y.push_str(groups);
            if let Some(u) = &a.revocation {
                y.push_str(&format!(
                    "    global_token_revocation: {{ endpoint: {} }}\n",
                    q(u)
                ));
            }
        }
        y
    }

    /// Starts the IdP on 127.0.0.1 at a free port, signing with the process's temporary key
    /// (made by the first IdP of the process) unless [`certs_dir`](Self::certs_dir) is given.
    /// The connection goes through `fakta check`'s loader: its errors come back as
    /// [`Error::Invalid`].
    pub async fn start(self) -> Result<MockIdp, Error> {
        let listener = bind().await?;
        let base = format!("http://{}", local_addr(&listener)?);
        let yaml = self.to_yaml(&base);
        let (conn, warnings) = match config::load_str(&yaml, BUILDER_SOURCE, Path::new(".")) {
            Ok(loaded) => loaded,
            Err(diagnostics) => {
                return Err(Error::Invalid {
                    file: BUILDER_SOURCE.into(),
                    diagnostics,
                });
            }
        };
        let keys = keys(self.certs.as_deref()).await?;
        MockIdp::on(conn, warnings, keys, listener)
    }
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A YAML flow sequence of double-quoted scalars.
fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

async fn bind() -> Result<tokio::net::TcpListener, Error> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

fn local_addr(listener: &tokio::net::TcpListener) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::Listen {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        source,
    })
}

/// The signing keys: the folder's, or the process's temporary ones.
async fn keys(certs: Option<&Path>) -> Result<KeyStore, Error> {
    match certs {
        Some(dir) => {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || {
                KeyStore::open_or_create(&dir)
                    .map(|(k, _)| k)
                    .map_err(|source| Error::Keys { dir, source })
            })
            .await
            .map_err(|e| Error::TemporaryKey(e.to_string()))?
        }
        // RSA key generation takes from tens of milliseconds to seconds: off the workers.
        None => tokio::task::spawn_blocking(temporary_keys)
            .await
            .map_err(|e| Error::TemporaryKey(e.to_string()))?,
    }
}

/// The process's temporary keys: made once, never written anywhere (`dir` is empty).
pub fn temporary_keys() -> Result<KeyStore, Error> {
    static KEYS: OnceLock<Result<KeyStore, String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || -> Result<KeyStore, openssl::error::ErrorStack> {
            Ok(KeyStore {
                dir: PathBuf::new(),
                current: SigningKey::generate()?,
                previous: None,
                ec: EcKey::generate()?,
            })
        };
        make().map_err(|e| e.to_string())
    })
    .clone()
    .map_err(Error::TemporaryKey)
}

/// A fake Okta running in-process: its URLs, and what a test changes between logins. Dropped,
/// it stops (open connections get a bounded grace period).
///
/// ```no_run
/// # async fn demo() -> Result<(), fakta::Error> {
/// let idp = fakta::MockIdp::builder()
///     .user(fakta::User::new("alice@acme.test").name("Alice").groups(["Qovery-Admins"]))
///     .saml_app(fakta::SamlApp::new("qovery", "http://127.0.0.1:7100/acs", "urn:qovery"))
///     .oidc_app(fakta::OidcApp::new("web", "0oa1web").redirect_uri("http://127.0.0.1:7100/cb"))
///     .start()
///     .await?;
/// idp.login_as("alice@acme.test")?; // the next logins are Alice's, without the login page
/// let metadata = idp.metadata_url("qovery"); // give these to the SP under test
/// let discovery = idp.discovery_url();
/// # let _ = (metadata, discovery);
/// # Ok(()) }
/// ```
/// (A server is started, so the example is not run here; `examples/axum_sp.rs` is.)
#[derive(Debug)]
pub struct MockIdp {
    running: Running,
    /// What `fakta check` warns about in the connection (`fakta serve` prints them).
    warnings: Diagnostics,
}

impl MockIdp {
    /// A builder: users, apps, then `start`.
    pub fn builder() -> MockIdpBuilder {
        MockIdpBuilder::default()
    }

    /// Starts the connection file at `path` (checked as `fakta check` does) on 127.0.0.1 at a
    /// free port: the port of the file's `base_url` is replaced by it, so that tests run in
    /// parallel. Signs with the process's temporary key.
    pub async fn from_file(path: impl AsRef<Path>) -> Result<MockIdp, Error> {
        let path = path.as_ref().to_path_buf();
        let loaded = tokio::task::spawn_blocking(move || config::load_file(&path))
            .await
            .map_err(|e| Error::Aborted(e.to_string()))?;
        Self::from_loaded(loaded).await
    }

    /// [`from_file`](Self::from_file) for the text of a connection file; relative paths in it
    /// resolve from the current directory.
    pub async fn from_yaml(yaml: &str) -> Result<MockIdp, Error> {
        Self::from_loaded(config::load_str(yaml, "MockIdp::from_yaml", Path::new("."))).await
    }

    async fn from_loaded(
        loaded: Result<(Connection, Diagnostics), Diagnostics>,
    ) -> Result<MockIdp, Error> {
        let (mut conn, warnings) = match loaded {
            Ok(loaded) => loaded,
            Err(diagnostics) => {
                let file = diagnostics
                    .0
                    .first()
                    .map(|d| d.file.clone())
                    .unwrap_or_default();
                return Err(Error::Invalid { file, diagnostics });
            }
        };
        if conn.idp.base_url.scheme() != "http" {
            return Err(Error::Https(conn.idp.base_url.to_string()));
        }
        let listener = bind().await?;
        let port = local_addr(&listener)?.port();
        // An http URL with a host always takes a port.
        let _ = conn.idp.base_url.set_port(Some(port));
        let keys = keys(None).await?;
        MockIdp::on(conn, warnings, keys, listener)
    }

    fn on(
        conn: Connection,
        warnings: Diagnostics,
        keys: KeyStore,
        listener: tokio::net::TcpListener,
    ) -> Result<MockIdp, Error> {
        let state = IdpState::new(conn, keys, Arc::new(SystemClock))?;
        Ok(MockIdp {
            warnings,
            running: Running::start(state, listener, None, crate::serving::Limits::default()),
        })
    }

    fn state(&self) -> &IdpState {
        &self.running.state
    }

    /// What `fakta check` warns about in the connection (the errors stop it from starting).
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }

    /// The address it listens on (127.0.0.1 and its port).
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`: the org's URL, the OIDC org issuer.
    pub fn base_url(&self) -> String {
        self.state().conn.idp.base().to_owned()
    }

    /// A SAML app's metadata URL (`{base}/app/{id}/sso/saml/metadata`, Okta's layout).
    pub fn metadata_url(&self, app: &str) -> String {
        match self.state().app(app) {
            Some(a) => self.state().url(&self.state().metadata_path(a)),
            None => self.state().url(&format!("/app/{app}/sso/saml/metadata")),
        }
    }

    /// A SAML app's SSO URL: where the SP sends its AuthnRequest; a GET without one is an
    /// IdP-initiated login. None when there is no such SAML app.
    pub fn sso_url(&self, app: &str) -> Option<String> {
        let app = self.state().app(app).filter(|a| a.saml().is_some())?;
        Some(self.state().url(&self.state().sso_path(app)))
    }

    /// The org authorization server's discovery document URL.
    pub fn discovery_url(&self) -> String {
        self.state().url("/.well-known/openid-configuration")
    }

    /// The IdP's signing certificate (PEM), as its metadata and JWKS publish it.
    pub fn certificate_pem(&self) -> String {
        self.state().keys.current.certificate.pem()
    }

    /// From now on the login page answers for itself as this user (id, login or email): the
    /// next logins, SAML or OIDC, in any browser, are this user's without a page to fill in.
    /// The IdP sessions already open end, so no browser goes on as someone else.
    pub fn login_as(&self, user: &str) -> Result<(), Error> {
        let found = self
            .state()
            .directory
            .find(user)
            .ok_or_else(|| Error::NoSuchUser(user.to_owned()))?;
        self.state().set_auto_login(Some(found.id));
        Ok(())
    }

    /// Shows the login page again (undoes [`login_as`](Self::login_as)).
    pub fn show_login_page(&self) {
        self.state().set_auto_login(None);
    }

    /// Replaces a user's groups (id, login or email); the next login (and token refresh, and
    /// userinfo) carries them.
    pub fn set_groups<I, S>(&self, user: &str, groups: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let found = self
            .state()
            .directory
            .find(user)
            .ok_or_else(|| Error::NoSuchUser(user.to_owned()))?;
        let groups = groups.into_iter().map(Into::into).collect();
        self.state().directory.set_groups(&found.id, groups);
        Ok(())
    }

    /// Sends the app's Global Token Revocation request for the user (as Okta's Universal
    /// Logout does, and `fakta revoke`) and ends the user's IdP sessions. Returns the SP's
    /// answer; the request itself is refused when the app has no endpoint or the user does not
    /// exist.
    pub async fn revoke(&self, app: &str, user: &str) -> Result<Revoked, Error> {
        let err = |reason: String| Error::Revocation {
            app: app.to_owned(),
            user: user.to_owned(),
            reason,
        };
        let url = self.state().url("/api/v1/fakta/revoke");
        let body = serde_json::json!({"user": user, "app": app});
        let (status, answer) = crate::runner::revoke::post_control(&url, &body)
            .await
            .map_err(|e| err(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        if status != 200 {
            return Err(err(v["error"].as_str().unwrap_or(&answer).to_owned()));
        }
        Ok(Revoked {
            endpoint: v["endpoint"].as_str().unwrap_or_default().to_owned(),
            status: v["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(0),
            answer: v["answer"].as_str().unwrap_or_default().to_owned(),
            idp_sessions_ended: v["idp_sessions_ended"].as_u64().unwrap_or(0),
        })
    }

    /// Stops the IdP and waits until it has (open connections get a bounded grace period).
    pub async fn stop(self) {
        let _ = self.running.stop().await;
    }
}

/// What came of a [`MockIdp::revoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// The SP endpoint the request went to.
    pub endpoint: String,
    /// The SP's HTTP status (204 is a success).
    pub status: u16,
    /// The start of the SP's answer body.
    pub answer: String,
    /// How many IdP sessions of the user ended.
    pub idp_sessions_ended: u64,
}

/// An IdP serving on a listener until stopped: the one way fakta starts its IdP for `fakta
/// serve` and [`MockIdp`]. Dropped, it stops.
#[derive(Debug)]
pub struct Running {
    /// The IdP's state.
    pub state: Arc<IdpState>,
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Serves `state` on `listener` (TLS with `tls`) from a task of the current tokio runtime.
    pub fn start(
        state: Arc<IdpState>,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<openssl::ssl::SslAcceptor>>,
        limits: crate::serving::Limits,
    ) -> Running {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::idp::serve_maybe_tls(
            listener,
            state.clone(),
            tls,
            limits,
            async move {
                // A send or the sender's drop: either way, stop.
                let _ = stopped.await;
            },
        ));
        Running {
            state,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Serves until `signal` completes (then stops) or the server ends on its own.
    pub async fn until(mut self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            _ = signal => {
                self.stop.take();
                joined(task.await)
            }
            ended = &mut task => joined(ended),
        }
    }

    /// Stops and waits until the server has.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.stop.take();
        match self.task.take() {
            Some(task) => joined(task.await),
            None => Ok(()),
        }
    }
}

fn joined(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    r.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the builder against writing YAML the loader reads otherwise than meant: quotes,
    /// colons and `#` in values survive, and the model is the one a file gives.
    #[test]
    fn the_builders_yaml_loads_as_the_values_given() {
        let b = MockIdp::builder()
            .user(
                User::new("o'brien@acme.test")
                    .name("O'Brien: \"#1\" & <Sons>")
                    .groups(["A: b", "#c"])
                    .attribute("department", "R&D"),
            )
            .user(User::new("bob@acme.test").id("00u2bob"))
            .saml_app(SamlApp::new(
                "qovery",
                "http://127.0.0.1:7100/acs?x=1#",
                "urn:a:b",
            ))
            .oidc_app(
                OidcApp::new("web", "0oa1web")
                    .client_secret("s3cr#t")
                    .redirect_uri("http://127.0.0.1:7100/cb")
                    .global_token_revocation("http://127.0.0.1:7100/gtr"),
            );
        let yaml = b.to_yaml("http://127.0.0.1:7000");
        let (conn, _) = config::load_str(&yaml, BUILDER_SOURCE, Path::new("."))
            .unwrap_or_else(|d| panic!("{d}\n{yaml}"));
        let u = &conn.directory.users[0];
        assert_eq!(u.id, "00u1fakta");
        assert_eq!(u.email, "o'brien@acme.test");
        assert_eq!(u.name.as_deref(), Some("O'Brien: \"#1\" & <Sons>"));
        assert_eq!(u.groups, ["A: b", "#c"]);
        assert_eq!(u.attributes["department"], "R&D");
        assert_eq!(conn.directory.users[1].id, "00u2bob");
        let saml = conn.app("qovery").and_then(|a| a.saml()).expect("saml app");
        assert_eq!(saml.acs_url.as_str(), "http://127.0.0.1:7100/acs?x=1#");
        let web = conn.app("web").expect("oidc app");
        assert_eq!(web.oidc().map(|o| o.client_id.as_str()), Some("0oa1web"));
        assert!(web.global_token_revocation.is_some());
    }

    /// Guards "the same validation as `fakta check`": a bad value is a typed error naming the
    /// key, not a panic or a print.
    #[tokio::test]
    async fn an_invalid_builder_is_refused_with_the_loaders_diagnostics() {
        let err = MockIdp::builder()
            .user(User::new("not-an-email"))
            .oidc_app(OidcApp::new("web", "0oa1web"))
            .start()
            .await
            .expect_err("invalid");
        let Error::Invalid { diagnostics, .. } = &err else {
            panic!("{err}")
        };
        let text = diagnostics.to_string();
        assert!(text.contains("directory.users[0].email"), "{text}");
        assert!(text.contains("redirect_uris"), "{text}");
    }
}
