//! Shared IdP state: the connection, the live directory, the keys, IdP sessions and logins
//! waiting for a person to pick a user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openssl::x509::X509;
use rand::Rng;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::config::{App, Connection, Emit, SpCertificate, User};
use crate::directory::Directory;
use crate::keys::KeyStore;
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::jwks::{JwkSet, jwk};

use super::bounded::{Bounded, ENTRY_OVERHEAD, Footprint};
use super::tokens::TokenStore;

/// How long an IdP session lasts without a new login.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);
/// How long a login may wait on the login page.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);
/// Caps in bytes (estimated, see `bounded::Footprint`) on stored sessions and pending logins,
/// so a flood of requests cannot grow memory without bound; the oldest entries go first. A
/// session is about 300 bytes; a pending login 400 bytes to a few KiB (its OAuth parameters
/// are at most `oidc::params::MAX_PARAM_BYTES` each, a RelayState at most 1 KiB).
pub const MAX_SESSION_BYTES: usize = 2 << 20;
pub const MAX_PENDING_BYTES: usize = 4 << 20;
/// Runner trials with a record at once (the runner opens and ends them; not reachable from
/// the network).
pub const MAX_TRIALS: usize = 10_000;
/// How long an IdP-initiated LogoutRequest waits for the SP's LogoutResponse, and how many
/// bytes of them are remembered (the oldest go first).
pub const LOGOUT_REQUEST_LIFETIME: Duration = Duration::minutes(10);
pub const MAX_LOGOUT_REQUEST_BYTES: usize = 1 << 20;
/// How long a signed AuthnRequest is valid after its IssueInstant; one issued up to
/// [`REQUEST_SKEW`] in the future (the SP's clock ahead of ours) is valid too.
pub const REQUEST_LIFETIME: Duration = Duration::minutes(5);
pub const REQUEST_SKEW: Duration = Duration::minutes(1);
/// Cap on the signed request IDs remembered for replay detection. Only the SP's key makes
/// signed requests, so filling it takes the SP itself sending this many in
/// [`REQUEST_LIFETIME`]; past it new requests are refused (never an old ID forgotten early).
pub const MAX_SEEN_REQUESTS: usize = 10_000;
/// The same store's cap in bytes (an ID may be long): past it new requests are refused too.
pub const MAX_SEEN_REQUEST_BYTES: usize = 2 << 20;

/// Whether a signed request ID may be answered: [`IdpState::first_use_of_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestUse {
    First,
    Replayed,
    /// The store is full of requests still within their window.
    Full,
}

/// A trial's private changes to the directory and to what is emitted.
#[derive(Debug, Clone, Default)]
pub struct TrialOverrides {
    pub emit: HashMap<String, Emit>,
    pub groups: HashMap<String, Vec<String>>,
    /// Users get an identity of their own in this trial (id `00u1alice.t1a2b3c4`, email
    /// `alice+t1a2b3c4@acme.test`), so that ending "all of alice's sessions" at the SP touches
    /// no other trial.
    pub isolated: Option<String>,
    /// The attack this trial's logins get (applied after the honest document is signed).
    pub saml_fault: Option<crate::saml::faults::Fault>,
    pub oidc_fault: Option<crate::oidc::faults::Fault>,
    /// What end_session's redirect back to the RP does with its state (G3's variants).
    pub post_logout_state: Option<crate::oidc::logout::PostLogoutState>,
    /// What the faults altered, for the transcript.
    pub altered: Vec<String>,
    /// Forged documents the runner's browser does not see (they go over the back channel), by
    /// title, as the transcript shows them.
    pub documents: Vec<(String, String)>,
    /// Requests for the external entity of the trial's forged DOCTYPE (S24): an XXE.
    pub xxe_fetches: usize,
    /// What the IdP issued to this trial's browsers and SP: the evidence that a login went
    /// through it.
    pub issued: Vec<Issued>,
    /// Where the trial's forged id_tokens went: what the RP must check depends on it (OpenID
    /// Connect Core §3.1.3.7 step 6).
    pub forged_id_tokens: Vec<crate::oidc::faults::IdTokenChannel>,
    /// The refresh tokens the SP presented at the token endpoint, in order, as the IdP found
    /// them (O26: did it present the one the last rotation gave it?).
    pub refreshes: Vec<RefreshUse>,
}

/// Which refresh token an RP presented at the token endpoint, as its family's record has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    /// The family's newest token, never rotated: answered (with a new token when the app
    /// rotates).
    Current { rotated: bool },
    /// A token an earlier refresh had already replaced, within its grace period: answered
    /// with its successor.
    RotatedInGrace,
    /// A token an earlier refresh had already replaced, after its grace period: the family
    /// was revoked (Okta's reuse detection).
    RotatedReused,
}

/// One document the IdP issued in a trial, and the identity it asserted (before any fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub kind: IssuedKind,
    /// The NameID (SAML) or `sub` (OIDC).
    pub subject: String,
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedKind {
    /// A SAML Response posted through the browser to the app's ACS URL; `solicited` when it
    /// answers an AuthnRequest.
    SamlResponse { solicited: bool },
    /// An authorization code sent through the browser to a registered redirect_uri.
    Code,
    /// Tokens the SP got from the token endpoint.
    Tokens,
    /// An error sent through the browser to a registered redirect_uri instead of a code (O22).
    AuthorizationError,
}

/// The forged discovery documents served under a discovery fault (O13), for the transcript.
#[derive(Debug, Clone, Default)]
pub struct ForgedDiscovery {
    /// How many were served.
    pub served: usize,
    /// What the fault altered, and the last forged document as the transcript shows it (its
    /// changes marked), once one was served.
    pub last: Option<(String, String)>,
}

/// The cookie naming the runner's trial a browser belongs to.
pub const TRIAL_COOKIE: &str = "fakta_trial";

/// The trial id from the request's cookies, if any.
pub fn trial_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|l| l.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == TRIAL_COOKIE).then(|| v.to_owned())
        })
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the SP certificate of app `{app}`: {source}")]
    SpCertificate {
        app: String,
        source: crate::config::FileError,
    },
    #[error("the encryption certificate of app `{app}` has no usable public key: {reason}")]
    EncryptionKey { app: String, reason: String },
}

/// A person logged in at the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpSession {
    pub user_id: String,
    pub authn_instant: OffsetDateTime,
    pub session_index: String,
    pub expires: OffsetDateTime,
}

/// An IdP-initiated LogoutRequest fakta sent, waiting for the SP's LogoutResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SentLogoutRequest {
    app_id: String,
    sent: OffsetDateTime,
    answered: bool,
}

/// Why a LogoutResponse's InResponseTo is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InResponseToProblem {
    #[error("names no LogoutRequest this IdP sent")]
    Unknown,
    #[error("names a LogoutRequest this IdP sent for app `{0}`")]
    OtherApp(String),
    #[error("names a LogoutRequest that was already answered (one LogoutResponse is accepted)")]
    AlreadyAnswered,
    #[error("names a LogoutRequest sent more than {} minutes ago", LOGOUT_REQUEST_LIFETIME.whole_minutes())]
    Expired,
}

/// A login waiting on the login page: what to answer once a user is picked.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub app_id: String,
    pub kind: PendingKind,
    pub login_hint: Option<String>,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub enum PendingKind {
    Saml {
        /// The AuthnRequest ID; None for IdP-initiated.
        in_response_to: Option<String>,
        /// The ACS URL the request chose among the registered ones; None: the app's `acs_url`.
        acs_url: Option<String>,
        relay_state: Option<String>,
    },
    Oidc(AuthorizeRequest),
}

/// Signed request IDs answered, by (app id, request id), and until when they are valid.
type SeenRequests = HashMap<(String, String), OffsetDateTime>;

/// Everything the handlers share.
#[derive(Debug)]
pub struct IdpState {
    /// The connection file, except its users (`conn.directory.users` is empty): they are in
    /// `directory`, whose groups can change while the IdP runs.
    pub conn: Connection,
    pub directory: Directory,
    pub keys: KeyStore,
    pub clock: Arc<dyn Clock>,
    /// SP certificates by app id, for apps that require signed AuthnRequests.
    pub sp_certs: HashMap<String, X509>,
    /// The RSA keys of the SAML apps' encryption certificates (`apps[].encryption`), by app id.
    pub sp_encryption_keys: HashMap<String, openssl::pkey::PKey<openssl::pkey::Public>>,
    sessions: Mutex<Bounded<String, IdpSession>>,
    pending: Mutex<Bounded<String, PendingLogin>>,
    /// IdP-initiated LogoutRequests sent, by ID.
    logout_requests: Mutex<Bounded<String, SentLogoutRequest>>,
    emit: Mutex<HashMap<String, Emit>>,
    /// OAuth codes and tokens.
    pub tokens: Mutex<TokenStore>,
    /// Client assertion jtis already used (Okta refuses a reused one).
    pub assertion_jtis: Mutex<super::tokens::SeenJtis>,
    /// Per-trial changes (what a test runner's trial asked for), keyed by the trial id the
    /// browser carries in the `fakta_trial` cookie.
    trials: Mutex<HashMap<String, TrialOverrides>>,
    /// The JWKS with the rotation key added (O14), once a trial has published it.
    rotated_jwks: std::sync::OnceLock<String>,
    /// A fault in the discovery documents served to everyone (O13), while the runner has the
    /// SP to itself, and what was served under it.
    discovery_fault: Mutex<Option<(crate::oidc::faults::Fault, ForgedDiscovery)>>,
    /// A JWK Set served to everyone instead of the published one (O10's single-key variant:
    /// only the signing key), while the runner has the SP to itself, and how often it was
    /// served.
    jwks_override: Mutex<Option<(String, usize)>>,
    /// Signed AuthnRequest IDs answered (app id, request id) and until when they would be
    /// valid: a replay within the window is refused, after it the request is expired anyway.
    /// With the bytes its keys hold.
    seen_requests: Mutex<(SeenRequests, usize)>,
    /// The last documents received and issued, for people (`/fakta/inspect`), bounded in bytes.
    pub inspector: super::inspect::Inspector,
    /// The JWK Set served at `.../v1/keys`, made once.
    pub jwks: String,
    /// `kid` of the current RSA key and of the EC key.
    pub rsa_kid: String,
    pub ec_kid: String,
    /// The origins answered with CORS headers (`Connection::trusted_origins`), made once.
    pub trusted_origins: Vec<String>,
    /// The user id the login page answers for by itself (`MockIdp::login_as`): set, a login
    /// that would show the page completes at once as this user.
    auto_login: Mutex<Option<String>>,
}

impl IdpState {
    pub fn new(
        mut conn: Connection,
        keys: KeyStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<IdpState>, StateError> {
        let mut sp_certs = HashMap::new();
        for app in &conn.apps {
            let cert = match app.saml().and_then(|s| s.sp_certificate.as_ref()) {
                None => continue,
                Some(SpCertificate::Metadata { x509, .. }) => x509.clone(),
                Some(SpCertificate::File(path)) => crate::config::read_certificate(
                    &conn.base_dir.join(path),
                )
                .map_err(|source| StateError::SpCertificate {
                    app: app.id.clone(),
                    source,
                })?,
            };
            sp_certs.insert(app.id.clone(), cert);
        }
        let mut sp_encryption_keys = HashMap::new();
        for app in &conn.apps {
            if let Some(enc) = app.saml().and_then(|s| s.encryption.as_ref()) {
                let cert = crate::config::read_certificate(&conn.base_dir.join(&enc.certificate))
                    .map_err(|source| StateError::SpCertificate {
                    app: app.id.clone(),
                    source,
                })?;
                let key = cert.public_key().map_err(|e| StateError::EncryptionKey {
                    app: app.id.clone(),
                    reason: e.to_string(),
                })?;
                sp_encryption_keys.insert(app.id.clone(), key);
            }
        }
        let rsa_jwk = jwk(keys.current.pkey());
        let ec_jwk = jwk(keys.ec.pkey());
        let previous = keys
            .previous
            .as_ref()
            .and_then(|c| c.x509().public_key().ok())
            .and_then(|k| jwk(&k));
        let rsa_kid = rsa_jwk.as_ref().map(|k| k.kid.clone()).unwrap_or_default();
        let ec_kid = ec_jwk.as_ref().map(|k| k.kid.clone()).unwrap_or_default();
        let set = JwkSet {
            keys: [rsa_jwk, previous, ec_jwk].into_iter().flatten().collect(),
        };
        let jwks = serde_json::to_string(&set).unwrap_or_else(|_| "{\"keys\":[]}".into());
        Ok(Arc::new(IdpState {
            trusted_origins: conn.trusted_origins(),
            jwks,
            rsa_kid,
            ec_kid,
            // The users move into the live directory: a second copy of a 100,000-user list
            // was a fifth of `fakta serve`'s start (benches/scale.sh).
            directory: Directory::from_users(std::mem::take(&mut conn.directory.users)),
            conn,
            keys,
            clock,
            sp_certs,
            sp_encryption_keys,
            sessions: Mutex::new(Bounded::new(MAX_SESSION_BYTES)),
            pending: Mutex::new(Bounded::new(MAX_PENDING_BYTES)),
            logout_requests: Mutex::new(Bounded::new(MAX_LOGOUT_REQUEST_BYTES)),
            emit: Mutex::new(HashMap::new()),
            tokens: Mutex::new(TokenStore::default()),
            assertion_jtis: Mutex::default(),
            trials: Mutex::new(HashMap::new()),
            rotated_jwks: std::sync::OnceLock::new(),
            discovery_fault: Mutex::new(None),
            jwks_override: Mutex::new(None),
            seen_requests: Mutex::new((HashMap::new(), 0)),
            inspector: super::inspect::Inspector::default(),
            auto_login: Mutex::new(None),
        }))
    }

    pub fn app(&self, id: &str) -> Option<&App> {
        self.conn.app(id)
    }

    /// Makes the login page answer for itself as `user_id` (None: show it again). The IdP
    /// sessions of every browser end, so that no browser goes on as another user: the next
    /// login anywhere is this user's.
    pub fn set_auto_login(&self, user_id: Option<String>) {
        *self.auto_login.lock().unwrap_or_else(|e| e.into_inner()) = user_id;
        lock(&self.sessions).retain(|_, _| false);
    }

    /// The user the login page answers for by itself, if any.
    pub fn auto_login(&self) -> Option<String> {
        self.auto_login
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// `{base}{path}` for a path starting with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.conn.idp.base())
    }

    /// A SAML app's SSO endpoint, in the flavor's layout (`crate::flavor::SamlPaths`).
    pub fn sso_path(&self, app: &App) -> String {
        self.conn.idp.saml_paths(app).sso
    }

    /// Where a browser starts an IdP-initiated login to a SAML app (its tile).
    pub fn idp_initiated_path(&self, app: &App) -> String {
        self.conn.idp.saml_paths(app).idp_initiated
    }

    /// An OIDC app's tile: sends the browser to the app's `initiate_login_uri`
    /// (`oidc::launch`).
    pub fn launch_path(app: &App) -> String {
        format!("/home/{}/launch", app.id)
    }

    /// A SAML app's IdP metadata, in the flavor's layout (Entra's carries `?appid=`).
    pub fn metadata_path(&self, app: &App) -> String {
        self.conn.idp.saml_paths(app).metadata
    }

    /// A fresh random identifier, Okta style: `id` followed by digits (a valid xs:ID).
    pub fn new_id(&self) -> String {
        let n: u128 = rand::rng().random();
        format!("id{n}")
    }

    /// A fresh opaque token for cookies and form fields.
    pub fn new_token(&self) -> String {
        let bytes: [u8; 24] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn session(&self, sid: &str) -> Option<IdpSession> {
        let now = self.now();
        let mut sessions = lock(&self.sessions);
        let key = sid.to_owned();
        match sessions.get(&key) {
            Some(s) if s.expires > now => {
                let s = s.clone();
                // In use: the newest, the last to be evicted.
                sessions.touch(&key);
                Some(s)
            }
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Starts an IdP session for a user; returns the cookie value.
    pub fn start_session(&self, user_id: &str) -> (String, IdpSession) {
        let now = self.now();
        let sid = self.new_token();
        let session = IdpSession {
            user_id: user_id.to_owned(),
            authn_instant: now,
            session_index: self.new_id(),
            expires: now + SESSION_LIFETIME,
        };
        // Sessions are evicted oldest first, so expired ones go before live ones.
        lock(&self.sessions).insert(sid.clone(), session.clone());
        (sid, session)
    }

    /// Ends the IdP session with cookie value `sid`; true when there was one.
    pub fn end_session(&self, sid: &str) -> bool {
        lock(&self.sessions).remove(&sid.to_owned()).is_some()
    }

    /// Ends one IdP session by its session index (`sid` of OIDC tokens); returns the user.
    pub fn end_session_by_index(&self, session_index: &str) -> Option<String> {
        let mut sessions = lock(&self.sessions);
        let key = sessions
            .iter()
            .find(|(_, s)| s.session_index == session_index)
            .map(|(k, _)| k.clone())?;
        sessions.remove(&key).map(|s| s.user_id)
    }

    /// Ends every IdP session of a user (logout, revocation); returns how many ended.
    pub fn end_sessions_of(&self, user_id: &str) -> usize {
        let mut sessions = lock(&self.sessions);
        let before = sessions.len();
        sessions.retain(|_, s| s.user_id != user_id);
        before - sessions.len()
    }

    pub fn add_pending(&self, p: PendingLogin) -> String {
        let token = self.new_token();
        // Evicted oldest first: expired logins go before live ones.
        lock(&self.pending).insert(token.clone(), p);
        token
    }

    /// Takes a pending login (each can complete once).
    pub fn take_pending(&self, token: &str) -> Option<PendingLogin> {
        let now = self.now();
        let p = lock(&self.pending).remove(&token.to_owned())?;
        (p.created + PENDING_LIFETIME > now).then_some(p)
    }

    pub fn peek_pending(&self, token: &str) -> Option<PendingLogin> {
        lock(&self.pending).get(&token.to_owned()).cloned()
    }

    /// Remembers the ID of an IdP-initiated LogoutRequest sent to app `app_id`, so that the SP's
    /// LogoutResponse can be matched to it ([`IdpState::take_logout_request`]).
    pub fn remember_logout_request(&self, id: &str, app_id: &str) {
        let now = self.now();
        // Evicted oldest first: expired requests go before waiting ones.
        let mut sent = lock(&self.logout_requests);
        sent.insert(
            id.to_owned(),
            SentLogoutRequest {
                app_id: app_id.to_owned(),
                sent: now,
                answered: false,
            },
        );
    }

    /// Marks the LogoutRequest `id` sent to `app_id` answered; each is answered once. An entry
    /// stays (answered) until it expires, so a second answer is named as such.
    pub fn take_logout_request(&self, id: &str, app_id: &str) -> Result<(), InResponseToProblem> {
        let now = self.now();
        let mut sent = lock(&self.logout_requests);
        let key = id.to_owned();
        let r = sent.get(&key).ok_or(InResponseToProblem::Unknown)?;
        if r.app_id != app_id {
            return Err(InResponseToProblem::OtherApp(r.app_id.clone()));
        }
        if r.sent + LOGOUT_REQUEST_LIFETIME <= now {
            sent.remove(&key);
            return Err(InResponseToProblem::Expired);
        }
        if r.answered {
            return Err(InResponseToProblem::AlreadyAnswered);
        }
        sent.update(&key, |r| r.answered = true);
        Ok(())
    }

    /// Changes what the IdP emits for a user's next logins (missing attributes, ...).
    pub fn set_emit(&self, user_id: &str, emit: Emit) {
        lock(&self.emit).insert(user_id.to_owned(), emit);
    }

    pub fn emit_for(&self, user_id: &str) -> Emit {
        lock(&self.emit).get(user_id).cloned().unwrap_or_default()
    }

    /// What the IdP emits for a user in a trial: the trial's change, else the global one.
    /// `user_id` may be the trial's identity of the user.
    pub fn emit_view(&self, trial: Option<&str>, user_id: &str) -> Emit {
        let found = trial.and_then(|t| {
            let trials = lock(&self.trials);
            let o = trials.get(t)?;
            let base = o
                .isolated
                .as_ref()
                .and_then(|tag| user_id.strip_suffix(&format!(".{tag}")))
                .unwrap_or(user_id);
            o.emit.get(base).cloned()
        });
        found.unwrap_or_else(|| self.emit_for(user_id))
    }

    /// A user as a trial sees them (with the trial's group changes and own identity). `key`
    /// may be the trial's identity of the user too.
    pub fn user_view(&self, trial: Option<&str>, key: &str) -> Option<User> {
        let trials = lock(&self.trials);
        let o = trial.and_then(|t| trials.get(t));
        let tag = o.and_then(|o| o.isolated.clone());
        let base = tag
            .as_ref()
            .and_then(|t| key.strip_suffix(&format!(".{t}")))
            .unwrap_or(key);
        let mut user = self.directory.find(base)?;
        let Some(o) = o else {
            return Some(user);
        };
        if let Some(groups) = o.groups.get(&user.id) {
            user.groups = groups.clone();
        }
        if let Some(tag) = &tag {
            user.id = format!("{}.{tag}", user.id);
            user.email = match user.email.split_once('@') {
                Some((local, domain)) => format!("{local}+{tag}@{domain}"),
                None => format!("{}+{tag}", user.email),
            };
        }
        Some(user)
    }

    pub fn set_trial_saml_fault(&self, trial: &str, f: crate::saml::faults::Fault) {
        lock(&self.trials)
            .entry(trial.to_owned())
            .or_default()
            .saml_fault = Some(f);
    }

    pub fn set_trial_oidc_fault(&self, trial: &str, f: crate::oidc::faults::Fault) {
        lock(&self.trials)
            .entry(trial.to_owned())
            .or_default()
            .oidc_fault = Some(f);
    }

    /// Reads or changes a running trial's record; None when there is no such trial.
    fn with_trial<R>(
        &self,
        trial: Option<&str>,
        f: impl FnOnce(&mut TrialOverrides) -> R,
    ) -> Option<R> {
        lock(&self.trials).get_mut(trial?).map(f)
    }

    pub fn trial_saml_fault(&self, trial: Option<&str>) -> Option<crate::saml::faults::Fault> {
        self.with_trial(trial, |o| o.saml_fault).flatten()
    }

    /// Changes the state end_session returns to the RP, in one trial only.
    pub fn set_trial_post_logout_state(
        &self,
        trial: &str,
        change: crate::oidc::logout::PostLogoutState,
    ) {
        lock(&self.trials)
            .entry(trial.to_owned())
            .or_default()
            .post_logout_state = Some(change);
    }

    pub fn trial_post_logout_state(
        &self,
        trial: Option<&str>,
    ) -> Option<crate::oidc::logout::PostLogoutState> {
        self.with_trial(trial, |o| o.post_logout_state).flatten()
    }

    pub fn trial_oidc_fault(&self, trial: Option<&str>) -> Option<crate::oidc::faults::Fault> {
        self.with_trial(trial, |o| o.oidc_fault).flatten()
    }

    /// Records what a fault altered, for the trial's transcript.
    pub fn note_altered(&self, trial: Option<&str>, what: String) {
        self.with_trial(trial, |o| o.altered.push(what));
    }

    /// Records that a trial's forged id_token was sent from `source`.
    pub fn note_forged_id_token(
        &self,
        trial: Option<&str>,
        source: crate::oidc::faults::IdTokenChannel,
    ) {
        self.with_trial(trial, |o| {
            if o.forged_id_tokens.len() < 16 {
                o.forged_id_tokens.push(source)
            }
        });
    }

    /// Where a trial's forged id_tokens were sent from, in order.
    pub fn forged_id_tokens(&self, trial: &str) -> Vec<crate::oidc::faults::IdTokenChannel> {
        self.with_trial(Some(trial), |o| o.forged_id_tokens.clone())
            .unwrap_or_default()
    }

    /// Records a forged document the SP got over the back channel, for the trial's transcript.
    pub fn note_document(&self, trial: Option<&str>, title: String, shown: String) {
        self.with_trial(trial, |o| o.documents.push((title, shown)));
    }

    /// The URL the external entity of a trial's forged DOCTYPE points at (S24): requests for it
    /// are counted (`note_xxe_fetch`).
    pub fn xxe_url(&self, trial: &str) -> String {
        self.url(&format!("/fakta/xxe/{trial}"))
    }

    /// Counts a request for a trial's external entity; returns the count (0: no such trial).
    pub fn note_xxe_fetch(&self, trial: &str) -> usize {
        self.with_trial(Some(trial), |o| {
            o.xxe_fetches += 1;
            o.xxe_fetches
        })
        .unwrap_or(0)
    }

    pub fn xxe_fetches(&self, trial: &str) -> usize {
        self.with_trial(Some(trial), |o| o.xxe_fetches).unwrap_or(0)
    }

    pub fn documents(&self, trial: &str) -> Vec<(String, String)> {
        self.with_trial(Some(trial), |o| o.documents.clone())
            .unwrap_or_default()
    }

    pub fn altered(&self, trial: &str) -> Vec<String> {
        self.with_trial(Some(trial), |o| o.altered.clone())
            .unwrap_or_default()
    }

    /// The JWKS as served now: the single-key set while one is set (counted), else the
    /// published one (with the rotation key once O14 has published it).
    pub fn jwks_document(&self) -> String {
        if let Some((doc, served)) = lock(&self.jwks_override).as_mut() {
            *served += 1;
            return doc.clone();
        }
        self.rotated_jwks
            .get()
            .cloned()
            .unwrap_or_else(|| self.jwks.clone())
    }

    /// The JWK Set holding only the key that signs the id_tokens of `alg` (the current RSA key
    /// or the EC key).
    pub fn single_key_jwks(&self, alg: crate::oidc::jwt::Alg) -> Option<String> {
        let key = match alg {
            crate::oidc::jwt::Alg::RS256 => jwk(self.keys.current.pkey())?,
            crate::oidc::jwt::Alg::ES256 => jwk(self.keys.ec.pkey())?,
        };
        serde_json::to_string(&JwkSet { keys: vec![key] }).ok()
    }

    /// Serves `doc` as the JWKS to every caller until called with None (O10's single-key
    /// variant, while the runner has the SP alone). Returns how often the previous override
    /// was served.
    pub fn set_jwks_override(&self, doc: Option<String>) -> usize {
        let mut g = lock(&self.jwks_override);
        let served = g.take().map_or(0, |(_, n)| n);
        *g = doc.map(|d| (d, 0));
        served
    }

    /// Publishes the rotation key in the JWKS (from now on, for everyone) and returns it with
    /// its kid.
    pub fn publish_rotation_key(&self) -> Option<(String, &'static crate::keys::SigningKey)> {
        let key = crate::keys::rotation_key()?;
        let jwk = jwk(key.pkey())?;
        let kid = jwk.kid.clone();
        self.rotated_jwks.get_or_init(|| {
            let mut set: serde_json::Value = serde_json::from_str(&self.jwks)
                .unwrap_or_else(|_| serde_json::json!({"keys": []}));
            if let (Some(keys), Ok(v)) = (set["keys"].as_array_mut(), serde_json::to_value(&jwk)) {
                keys.push(v);
            }
            set.to_string()
        });
        Some((kid, key))
    }

    /// Serves discovery documents with `fault` applied, to every caller, until called with None.
    /// Returns what was served under the previous setting.
    pub fn set_discovery_fault(
        &self,
        fault: Option<crate::oidc::faults::Fault>,
    ) -> ForgedDiscovery {
        let mut g = lock(&self.discovery_fault);
        let previous = g.take().map(|(_, served)| served).unwrap_or_default();
        *g = fault.map(|f| (f, ForgedDiscovery::default()));
        previous
    }

    /// The discovery document as served now: the honest one, or forged (and recorded).
    pub fn discovery_document(&self, honest: serde_json::Value) -> serde_json::Value {
        let mut g = lock(&self.discovery_fault);
        let Some((fault, record)) = g.as_mut() else {
            return honest;
        };
        let mut doc = honest.clone();
        if let Some(altered) = crate::oidc::faults::forge_discovery(*fault, &mut doc) {
            record.served += 1;
            record.last = Some((altered, crate::oidc::faults::show_json(&honest, &doc)));
        }
        doc
    }

    /// A key that is not the IdP's, for "signed by another key" faults.
    pub fn foreign_key(&self) -> Option<&'static crate::keys::SigningKey> {
        crate::keys::foreign_key()
    }

    /// Gives every user an identity of their own in this trial.
    pub fn isolate_trial(&self, trial: &str) {
        let tag: String = trial.chars().take(8).collect();
        lock(&self.trials)
            .entry(trial.to_owned())
            .or_default()
            .isolated = Some(tag);
    }

    /// Changes what the IdP emits for a user, in one trial only.
    pub fn set_trial_emit(&self, trial: &str, user_id: &str, emit: Emit) {
        let mut trials = lock(&self.trials);
        if trials.len() >= MAX_TRIALS {
            trials.clear();
        }
        trials
            .entry(trial.to_owned())
            .or_default()
            .emit
            .insert(user_id.to_owned(), emit);
    }

    /// Changes a user's groups at the IdP, in one trial only.
    pub fn set_trial_groups(&self, trial: &str, user_id: &str, groups: Vec<String>) {
        let mut trials = lock(&self.trials);
        if trials.len() >= MAX_TRIALS {
            trials.clear();
        }
        trials
            .entry(trial.to_owned())
            .or_default()
            .groups
            .insert(user_id.to_owned(), groups);
    }

    /// Opens a trial's record, so that what the IdP issues to it is kept even when the trial
    /// changes nothing at the IdP.
    pub fn begin_trial(&self, trial: &str) {
        let mut trials = lock(&self.trials);
        if trials.len() >= MAX_TRIALS {
            trials.clear();
        }
        trials.entry(trial.to_owned()).or_default();
    }

    /// Records a document issued in a trial (no-op outside trials).
    pub fn note_issued(&self, trial: Option<&str>, issued: Issued) {
        self.with_trial(trial, |o| {
            if o.issued.len() < 64 {
                o.issued.push(issued)
            }
        });
    }

    /// Records a refresh token's use at the token endpoint for the trial it was issued in.
    pub fn note_refresh(&self, trial: Option<&str>, used: RefreshUse) {
        self.with_trial(trial, |o| {
            if o.refreshes.len() < 64 {
                o.refreshes.push(used)
            }
        });
    }

    /// The refresh tokens presented in a trial so far.
    pub fn refreshes(&self, trial: &str) -> Vec<RefreshUse> {
        self.with_trial(Some(trial), |o| o.refreshes.clone())
            .unwrap_or_default()
    }

    /// What the IdP issued in a trial so far.
    pub fn issued(&self, trial: &str) -> Vec<Issued> {
        self.with_trial(Some(trial), |o| o.issued.clone())
            .unwrap_or_default()
    }

    /// Records a signed request's ID until `valid_until` (the end of its validity window);
    /// says whether it was seen before. Expired entries are dropped first.
    pub fn first_use_of_request(
        &self,
        app_id: &str,
        request_id: &str,
        valid_until: OffsetDateTime,
    ) -> RequestUse {
        let now = self.now();
        let mut guard = lock(&self.seen_requests);
        let (seen, bytes) = &mut *guard;
        let key = (app_id.to_owned(), request_id.to_owned());
        if seen.get(&key).is_some_and(|until| *until >= now) {
            return RequestUse::Replayed;
        }
        let size = key.footprint() + ENTRY_OVERHEAD;
        let full = |seen: &HashMap<_, _>, bytes: usize| {
            seen.len() >= MAX_SEEN_REQUESTS || bytes + size > MAX_SEEN_REQUEST_BYTES
        };
        if full(seen, *bytes) {
            seen.retain(|_, until| *until >= now);
            *bytes = seen.keys().map(|k| k.footprint() + ENTRY_OVERHEAD).sum();
            if full(seen, *bytes) {
                return RequestUse::Full;
            }
        }
        if seen.insert(key, valid_until).is_none() {
            *bytes += size;
        }
        RequestUse::First
    }

    pub fn end_trial(&self, trial: &str) {
        lock(&self.trials).remove(trial);
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Footprint for IdpSession {
    fn heap_bytes(&self) -> usize {
        self.user_id.heap_bytes() + self.session_index.heap_bytes()
    }
}

impl Footprint for SentLogoutRequest {
    fn heap_bytes(&self) -> usize {
        self.app_id.heap_bytes()
    }
}

impl Footprint for PendingLogin {
    fn heap_bytes(&self) -> usize {
        let kind = match &self.kind {
            PendingKind::Saml {
                in_response_to,
                acs_url,
                relay_state,
            } => in_response_to.heap_bytes() + acs_url.heap_bytes() + relay_state.heap_bytes(),
            PendingKind::Oidc(r) => {
                r.client_id.heap_bytes()
                    + r.redirect_uri.heap_bytes()
                    + r.scopes.heap_bytes()
                    + r.state.heap_bytes()
                    + r.nonce.heap_bytes()
                    + r.code_challenge.as_ref().map_or(0, |(c, _)| c.heap_bytes())
                    + r.login_hint.heap_bytes()
            }
        };
        self.app_id.heap_bytes() + self.login_hint.heap_bytes() + kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    fn state(clock: Arc<FixedClock>) -> Arc<IdpState> {
        let (conn, _) = crate::config::load_str(
            crate::cli::EMBEDDED_EXAMPLE,
            crate::cli::EMBEDDED_EXAMPLE_NAME,
            std::path::Path::new("."),
        )
        .unwrap();
        let keys = KeyStore {
            dir: ".".into(),
            current: crate::keys::foreign_key().unwrap().clone(),
            previous: None,
            ec: crate::keys::EcKey::generate().unwrap(),
        };
        IdpState::new(conn, keys, clock).unwrap()
    }

    #[test]
    fn a_logout_request_is_answered_once_by_its_app_before_it_expires() {
        let t = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let clock = Arc::new(FixedClock::new(t));
        let st = state(clock.clone());
        assert_eq!(
            st.take_logout_request("id1", "qovery"),
            Err(InResponseToProblem::Unknown)
        );
        st.remember_logout_request("id1", "qovery");
        assert_eq!(
            st.take_logout_request("id1", "other"),
            Err(InResponseToProblem::OtherApp("qovery".into()))
        );
        assert_eq!(st.take_logout_request("id1", "qovery"), Ok(()));
        assert_eq!(
            st.take_logout_request("id1", "qovery"),
            Err(InResponseToProblem::AlreadyAnswered)
        );
        st.remember_logout_request("id2", "qovery");
        clock.set(t + LOGOUT_REQUEST_LIFETIME);
        assert_eq!(
            st.take_logout_request("id2", "qovery"),
            Err(InResponseToProblem::Expired)
        );
        assert_eq!(
            st.take_logout_request("id2", "qovery"),
            Err(InResponseToProblem::Unknown),
            "an expired entry is dropped"
        );
    }

    #[test]
    fn a_single_key_jwks_is_served_to_everyone_until_taken_back_and_counted() {
        let clock = Arc::new(FixedClock::new(
            time::macros::datetime!(2026-11-28 09:00:00 UTC),
        ));
        let st = state(clock);
        let published = st.jwks_document();
        let kids = |doc: &str| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(doc).unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(kids(&published).len() >= 2, "RSA and EC: {published}");
        for (alg, kid) in [
            (crate::oidc::jwt::Alg::RS256, st.rsa_kid.clone()),
            (crate::oidc::jwt::Alg::ES256, st.ec_kid.clone()),
        ] {
            let single = st.single_key_jwks(alg).unwrap();
            assert_eq!(kids(&single), vec![kid], "{alg:?}");
            assert_eq!(st.set_jwks_override(Some(single.clone())), 0);
            assert_eq!(st.jwks_document(), single);
            assert_eq!(st.jwks_document(), single);
            assert_eq!(st.set_jwks_override(None), 2, "served twice");
            assert_eq!(st.jwks_document(), published);
            assert_eq!(st.set_jwks_override(None), 0);
        }
    }

    #[test]
    fn the_logout_request_store_is_bounded_in_bytes() {
        let t = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let clock = Arc::new(FixedClock::new(t));
        let st = state(clock.clone());
        let n = 20_000;
        for i in 0..n {
            clock.set(t + Duration::milliseconds(i as i64));
            st.remember_logout_request(&format!("id{i}"), "qovery");
        }
        assert!(lock(&st.logout_requests).bytes() <= MAX_LOGOUT_REQUEST_BYTES);
        assert_eq!(
            st.take_logout_request("id0", "qovery"),
            Err(InResponseToProblem::Unknown),
            "the oldest went first"
        );
        let last = format!("id{}", n - 1);
        assert_eq!(st.take_logout_request(&last, "qovery"), Ok(()));
    }

    /// Issue 13: pending logins with huge values (190 KB RelayStates made 1.9 GB) stay within
    /// the byte cap, the newest kept.
    #[test]
    fn pending_logins_are_bounded_in_bytes() {
        let t = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let st = state(Arc::new(FixedClock::new(t)));
        let mut last = String::new();
        for _ in 0..2_000 {
            last = st.add_pending(PendingLogin {
                app_id: "qovery".into(),
                kind: PendingKind::Saml {
                    in_response_to: Some("_r".into()),
                    acs_url: None,
                    relay_state: Some("r".repeat(60_000)),
                },
                login_hint: None,
                created: t,
            });
        }
        let pending = lock(&st.pending);
        assert!(pending.bytes() <= MAX_PENDING_BYTES, "{}", pending.bytes());
        assert!(
            pending.len() < 2_000 && pending.len() > 30,
            "{}",
            pending.len()
        );
        drop(pending);
        assert!(st.peek_pending(&last).is_some());
    }

    /// Issue 13: sessions are bounded in bytes too (oldest first).
    #[test]
    fn sessions_are_bounded_in_bytes() {
        let t = time::macros::datetime!(2026-11-28 09:00:00 UTC);
        let st = state(Arc::new(FixedClock::new(t)));
        let (first, _) = st.start_session("00u1alice");
        for _ in 0..20_000 {
            st.start_session("00u1alice");
        }
        assert!(lock(&st.sessions).bytes() <= MAX_SESSION_BYTES);
        assert!(st.session(&first).is_none(), "the oldest went first");
    }
}
