//! The reference SP's state: who it is (from the connection file), what it trusts (fetched from
//! the IdP), its sessions and what it remembers between requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::flaws::Flaws;
use super::http::HttpClient;
use super::jwt::Key;
use super::saml::Memory;
use crate::clock::Clock;
use crate::config::{App, Connection, Expectations, SpMessage, Target};

/// Caps on what the SP stores (oldest dropped first).
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SpError {
    #[error("{file}: the reference SP needs a `target` section naming the app to play")]
    NoTarget { file: String },
    #[error("{file}: the reference SP needs an `expectations` section (its connection settings)")]
    NoExpectations { file: String },
    #[error("{file}: target.app `{app}` is not an app of the file")]
    UnknownApp { file: String, app: String },
    #[error(
        "{file}: the SP listens on one address, so `{what}` ({url}) must be on {expected} like target.login_url"
    )]
    OtherOrigin {
        file: String,
        what: &'static str,
        url: String,
        expected: String,
    },
    #[error("{file}: `{a}` and `{b}` have the same path {path}; the SP cannot tell them apart")]
    SamePath {
        file: String,
        a: &'static str,
        b: &'static str,
        path: String,
    },
    #[error(
        "{file}: app `{app}` requires signed messages (sp_certificate, sp_signs); give the reference SP the matching key with apps[].sp_private_key"
    )]
    SignedRequests { file: String, app: String },
    #[error("{file}: the SP private key: {reason}")]
    SpKey { file: String, reason: String },
    #[error(
        "{file}: app `{app}` authenticates with private_key_jwt; give the reference SP the client's private key with apps[].client_private_key"
    )]
    NoClientKey { file: String, app: String },
    #[error(
        "{file}: app `{app}` encrypts assertions (apps[].encryption); give the reference SP its decryption key with apps[].encryption.private_key"
    )]
    NoDecryptionKey { file: String, app: String },
}

/// A logged-in user at the SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpSession {
    pub protocol: &'static str,
    /// SAML NameID or OIDC sub.
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
    pub groups: Option<Vec<String>>,
    pub role: String,
    /// SAML SessionIndex or OIDC sid.
    pub session_index: Option<String>,
    pub id_token: Option<String>,
    /// OIDC: the refresh token, when the SP asked for one (it refreshes at `target.refresh_url`).
    pub refresh_token: Option<String>,
    pub created: OffsetDateTime,
}

/// What the SP learned from the IdP.
#[derive(Debug, Clone)]
pub enum Trust {
    Saml {
        entity_id: String,
        sso_url: String,
        slo_url: Option<String>,
        certs: Vec<Vec<u8>>,
        keys: Vec<Key>,
    },
    Oidc {
        issuer: String,
        authorization_endpoint: String,
        token_endpoint: String,
        userinfo_endpoint: Option<String>,
        end_session_endpoint: Option<String>,
        jwks_uri: String,
        keys: Vec<Key>,
    },
}

/// An OIDC login in flight.
#[derive(Debug, Clone)]
pub struct OidcPending {
    /// The state the authorization request carried.
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Where to go after the login (the login URL's `target.return_param`), if asked.
    pub return_to: Option<String>,
    pub created: OffsetDateTime,
}

/// The routes the SP serves, from the file's URLs.
#[derive(Debug, Clone)]
pub struct Paths {
    pub login: String,
    pub probe: String,
    pub logout: Option<String>,
    /// SAML ACS or OIDC redirect_uri.
    pub callback: String,
    pub slo: Option<String>,
    pub revocation: Option<String>,
    pub backchannel: Option<String>,
    /// Where a signed-in browser makes the SP refresh its tokens.
    pub refresh: Option<String>,
    /// The OIDC app's initiate login URI (third-party-initiated login, OIDC Core §4).
    pub initiate: Option<String>,
}

#[derive(Debug, Default)]
pub struct SamlMemory {
    outstanding: HashMap<String, OffsetDateTime>,
    seen: HashMap<String, OffsetDateTime>,
    pub now: Option<OffsetDateTime>,
}

impl SamlMemory {
    pub fn add_request(&mut self, id: String, now: OffsetDateTime) {
        if self.outstanding.len() >= MAX_ENTRIES {
            self.outstanding
                .retain(|_, t| *t + Duration::minutes(10) > now);
            if self.outstanding.len() >= MAX_ENTRIES {
                self.outstanding.clear();
            }
        }
        self.outstanding.insert(id, now);
    }
}

impl Memory for SamlMemory {
    fn take_request(&mut self, id: &str) -> bool {
        self.outstanding.remove(id).is_some()
    }

    fn peek_request(&mut self, id: &str) -> bool {
        self.outstanding.contains_key(id)
    }

    fn first_use(&mut self, assertion_id: &str, until: OffsetDateTime) -> bool {
        if let Some(now) = self.now {
            if self.seen.len() >= MAX_ENTRIES {
                self.seen.retain(|_, u| *u > now);
            }
        }
        if self.seen.contains_key(assertion_id) {
            return false;
        }
        self.seen.insert(assertion_id.to_owned(), until);
        true
    }
}

#[derive(Debug)]
pub struct SpState {
    pub conn: Connection,
    pub app: App,
    pub target: Target,
    pub settings: Expectations,
    pub flaws: Flaws,
    pub clock: Arc<dyn Clock>,
    pub http: HttpClient,
    pub paths: Paths,
    /// The SP's own origin, e.g. `http://127.0.0.1:7100`.
    pub origin: String,
    pub trust: tokio::sync::Mutex<Option<Trust>>,
    pub sessions: Mutex<HashMap<String, SpSession>>,
    pub saml_memory: Mutex<SamlMemory>,
    /// OIDC logins in flight, by the login cookie of the browser that started them.
    pub oidc_pending: Mutex<HashMap<String, OidcPending>>,
    pub jtis: Mutex<HashMap<String, i64>>,
    /// The SP's signing key, when its requests must be signed (SAML), or the client's
    /// `private_key_jwt` key (OIDC).
    pub sp_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    /// The SP's decryption key, when the app encrypts assertions (`apps[].encryption`).
    pub decryption_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn origin(u: &Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

impl SpState {
    pub fn new(
        conn: Connection,
        flaws: Flaws,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<SpState>, SpError> {
        let file = conn.source.clone();
        let target = conn
            .target
            .clone()
            .ok_or_else(|| SpError::NoTarget { file: file.clone() })?;
        let mut settings = conn
            .expectations
            .clone()
            .ok_or_else(|| SpError::NoExpectations { file: file.clone() })?;
        // The SP is configured for the IdP it is connected to: a mapped group is written the
        // way that vendor sends it (Entra: the group's object id, as an admin copies it from
        // the portal; Keycloak: its path), whether the file names it by name or by id.
        // Behind Keycloak the SP maps group names and reads a full path (`/Qovery-Admins`) as
        // the group it names (`SpState::reads_group_paths`); the `exact-group-path` defect
        // keeps what the app's mapper sends and compares it as sent.
        let reads_paths =
            conn.idp.vendor().group_paths() && !flaws.on(super::flaws::Flaw::ExactGroupPath);
        let statement = conn
            .target
            .as_ref()
            .and_then(|t| conn.app(&t.app))
            .and_then(|a| a.groups.as_ref());
        let full_path = !reads_paths && statement.is_none_or(|s| s.full_path);
        for (_, groups) in &mut settings.group_mappings {
            for g in groups.iter_mut() {
                let name = conn.directory.group_name(g).to_owned();
                *g = conn
                    .idp
                    .vendor()
                    .group_value(&conn.directory, &name, full_path);
            }
        }
        let app = conn
            .app(&target.app)
            .cloned()
            .ok_or_else(|| SpError::UnknownApp {
                file: file.clone(),
                app: target.app.clone(),
            })?;
        let expected = origin(&target.login_url);
        let mut urls: Vec<(&'static str, Url)> = vec![
            ("target.login_url", target.login_url.clone()),
            ("target.session.probe", target.session.probe.clone()),
        ];
        if let Some(u) = &target.logout_url {
            urls.push(("target.logout_url", u.clone()));
        }
        let callback = match (app.saml(), app.oidc()) {
            (Some(s), _) => {
                // A key is needed only when some message must be signed (`sp_signs: []`
                // accepts every message unsigned).
                let must_sign = SpMessage::ALL.iter().any(|m| s.requires_signed(*m));
                if must_sign && s.sp_private_key.is_none() {
                    return Err(SpError::SignedRequests {
                        file,
                        app: app.id.clone(),
                    });
                }
                ("acs_url", s.acs_url.clone())
            }
            (_, Some(o)) => {
                if o.token_auth == crate::config::TokenAuth::PrivateKeyJwt
                    && o.client_private_key.is_none()
                {
                    return Err(SpError::NoClientKey {
                        file,
                        app: app.id.clone(),
                    });
                }
                ("redirect_uris[0]", o.redirect_uris[0].clone())
            }
            _ => ("acs_url", target.login_url.clone()),
        };
        urls.push(callback.clone());
        let slo = app.logout.as_ref().map(|l| l.slo_url.clone());
        if let Some(u) = &slo {
            urls.push(("logout.slo_url", u.clone()));
        }
        let gtr = app
            .global_token_revocation
            .as_ref()
            .map(|g| g.endpoint.clone());
        if let Some(u) = &gtr {
            urls.push(("global_token_revocation.endpoint", u.clone()));
        }
        let bcl = app.oidc().and_then(|o| o.backchannel_logout_uri.clone());
        if let Some(u) = &bcl {
            urls.push(("backchannel_logout_uri", u.clone()));
        }
        let initiate = app.oidc().and_then(|o| o.initiate_login_uri.clone());
        if let Some(u) = &initiate {
            urls.push(("initiate_login_uri", u.clone()));
        }
        for (what, u) in &urls {
            if origin(u) != expected {
                return Err(SpError::OtherOrigin {
                    file,
                    what,
                    url: u.to_string(),
                    expected,
                });
            }
        }
        for (i, (a, ua)) in urls.iter().enumerate() {
            for (b, ub) in &urls[i + 1..] {
                if ua.path() == ub.path() {
                    return Err(SpError::SamePath {
                        file,
                        a,
                        b,
                        path: ua.path().to_owned(),
                    });
                }
            }
        }
        // A SAML SP's request signing key, or an OIDC client's `private_key_jwt` key.
        let sp_key = match app
            .saml()
            .and_then(|s| s.sp_private_key.as_ref())
            .or_else(|| app.oidc().and_then(|o| o.client_private_key.as_ref()))
        {
            Some(p) => {
                let key = crate::config::read_private_key(&conn.base_dir.join(p));
                Some(key.map_err(|e| SpError::SpKey {
                    file: file.clone(),
                    reason: e.to_string(),
                })?)
            }
            None => None,
        };
        let decryption_key = match app.saml().and_then(|s| s.encryption.as_ref()) {
            Some(enc) => {
                let path = enc
                    .private_key
                    .as_ref()
                    .ok_or_else(|| SpError::NoDecryptionKey {
                        file: file.clone(),
                        app: app.id.clone(),
                    })?;
                let key = crate::config::read_private_key(&conn.base_dir.join(path));
                Some(key.map_err(|e| SpError::SpKey {
                    file: file.clone(),
                    reason: e.to_string(),
                })?)
            }
            None => None,
        };
        let paths = Paths {
            login: target.login_url.path().to_owned(),
            probe: target.session.probe.path().to_owned(),
            logout: target.logout_url.as_ref().map(|u| u.path().to_owned()),
            callback: callback.1.path().to_owned(),
            slo: slo.map(|u| u.path().to_owned()),
            revocation: gtr.map(|u| u.path().to_owned()),
            backchannel: bcl.map(|u| u.path().to_owned()),
            refresh: target.refresh_url.as_ref().map(|u| u.path().to_owned()),
            initiate: initiate.map(|u| u.path().to_owned()),
        };
        Ok(Arc::new(SpState {
            conn,
            app,
            target,
            settings,
            flaws,
            clock,
            http: HttpClient::default(),
            paths,
            origin: expected,
            trust: tokio::sync::Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            saml_memory: Mutex::new(SamlMemory::default()),
            oidc_pending: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashMap::new()),
            sp_key,
            decryption_key,
        }))
    }

    /// Whether the IdP the SP is connected to is Okta (`idp.flavor`).
    pub fn behind_okta(&self) -> bool {
        self.conn.idp.flavor == crate::flavor::Flavor::Okta
    }

    /// Whether the SP reads a group sent as a full path (Keycloak's `/Parent/Name`) as the
    /// group named by the path below the realm's root (`Parent/Name`).
    pub fn reads_group_paths(&self) -> bool {
        self.conn.idp.vendor().group_paths() && !self.flaws.on(super::flaws::Flaw::ExactGroupPath)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn token(&self) -> String {
        let b: [u8; 20] = rand::rng().random();
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Starts a session under a new id, or under `id` (the `session-fixation` defect).
    pub fn start_session(&self, id: Option<String>, s: SpSession) -> String {
        let id = id.unwrap_or_else(|| self.token());
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_ENTRIES {
            sessions.clear();
        }
        sessions.insert(id.clone(), s);
        id
    }

    pub fn session(&self, id: &str) -> Option<SpSession> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Ends the sessions `pred` selects; returns how many.
    pub fn end_sessions(&self, pred: impl Fn(&SpSession) -> bool) -> usize {
        let mut sessions = lock(&self.sessions);
        let before = sessions.len();
        sessions.retain(|_, s| !pred(s));
        before - sessions.len()
    }

    pub fn end_session(&self, id: &str) -> bool {
        lock(&self.sessions).remove(id).is_some()
    }
}
