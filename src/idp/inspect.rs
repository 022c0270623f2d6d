//! The inspector: the last documents the IdP received and issued, for a person checking what an
//! SP was sent (`GET /fakta/inspect`, HTML, or JSON with `Accept: application/json`; one entry
//! at `/fakta/inspect/{seq}`).
//!
//! What it records: decoded AuthnRequests, LogoutRequests and LogoutResponses (both ways); every
//! SAML Response, indented, with what was signed and by which certificate; authorization
//! requests answered with a code (never the code); tokens as JOSE header and claims (never a
//! signature value, a refresh token or a code); userinfo answers; Global Token Revocation
//! requests sent and the SP's answer. For every login: the user's groups, the ones the app's
//! filter sent and the ones it dropped, and the attributes a scenario removed.
//!
//! Bounded in bytes, not entries: a ring of at most [`MAX_TOTAL_BYTES`], each entry at most
//! [`MAX_ENTRY_BYTES`] (longer texts are cut and marked); the oldest entries go first. An
//! entry's size counts its strings and the structs that hold them ([`Entry::bytes`]).
//!
//! Every text is redacted when it is recorded (`crate::redact::redact`, the runner's rules), and
//! everything shown in HTML is escaped. The inspector shows identities: it is served only on the
//! IdP's own listen address, like every other page (loopback unless `--listen` says otherwise).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use axum::response::{Html, IntoResponse, Json, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::html::{e, page};
use super::state::IdpState;
use crate::config::{App, Emit, User};
use crate::directory::emitted_groups;

/// The ring's total size.
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// One entry's size; a SAML Response of fakta's is about 5 KiB.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// How the tracing target of the one-line-per-login log (`fakta serve -v`) is named.
pub const LOGIN_LOG_TARGET: &str = "fakta::logins";

/// Which way a document went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From an SP (through the browser or directly).
    Received,
    /// By the IdP, through the browser or from its token and userinfo endpoints.
    Issued,
    /// By the IdP to an SP over the back channel.
    Sent,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Received => "received",
            Direction::Issued => "issued",
            Direction::Sent => "sent",
        }
    }
}

/// What kind of document an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AuthnRequest,
    SamlResponse,
    LogoutRequest,
    LogoutResponse,
    /// An OIDC authorization request answered with a code.
    Authorization,
    Tokens,
    Userinfo,
    GlobalTokenRevocation,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::AuthnRequest => "AuthnRequest",
            Kind::SamlResponse => "SAML Response",
            Kind::LogoutRequest => "LogoutRequest",
            Kind::LogoutResponse => "LogoutResponse",
            Kind::Authorization => "authorization request",
            Kind::Tokens => "tokens",
            Kind::Userinfo => "userinfo answer",
            Kind::GlobalTokenRevocation => "Global Token Revocation request",
        }
    }
}

/// A titled text block of an entry (a document, a JWT's claims, an answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub title: String,
    pub text: String,
}

impl Part {
    pub fn new(title: impl Into<String>, text: impl Into<String>) -> Part {
        Part {
            title: title.into(),
            text: text.into(),
        }
    }
}

/// What a login sent about its user's groups and attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Login {
    pub user: String,
    /// The user's groups in the directory (as the trial sees them, if any).
    pub groups: Vec<String>,
    /// The app's group attribute (claim) and filter; None without a group statement.
    pub group_attribute: Option<String>,
    pub filter: Option<String>,
    /// The groups sent; None when no groups attribute was sent at all (no statement, no
    /// passing group with `when_none: absent`, or removed by a scenario).
    pub sent: Option<Vec<String>>,
    /// The user's groups the filter did not pass.
    pub dropped: Vec<String>,
    /// Attributes (claims) a scenario removed (`emit.omit_attributes`).
    pub missing: Vec<String>,
}

impl Login {
    /// The facts of `user` logging in to `app` with `emit` applied.
    pub fn of(app: &App, user: &User, emit: &Emit) -> Login {
        let statement = app.groups.as_ref();
        let removed = statement.is_some_and(|s| emit.omit_attributes.contains(&s.attribute));
        let sent = if removed {
            None
        } else {
            emitted_groups(user, statement)
        };
        let dropped = match statement {
            Some(s) => user
                .groups
                .iter()
                .filter(|g| !s.filter.passes(g))
                .cloned()
                .collect(),
            None => user.groups.clone(),
        };
        Login {
            user: user.id.clone(),
            groups: user.groups.clone(),
            group_attribute: statement.map(|s| s.attribute.clone()),
            filter: statement.map(|s| s.filter.to_string()),
            sent,
            dropped,
            missing: emit.omit_attributes.clone(),
        }
    }

    fn bytes(&self) -> usize {
        let list = |l: &[String]| l.iter().map(|s| string_bytes(s)).sum::<usize>();
        string_bytes(&self.user)
            + list(&self.groups)
            + self.group_attribute.as_deref().map_or(0, string_bytes)
            + self.filter.as_deref().map_or(0, string_bytes)
            + self.sent.as_deref().map_or(0, list)
            + list(&self.dropped)
            + list(&self.missing)
    }

    /// Drops list items from the end of the longest list until the facts take at most `cap`
    /// bytes (the lists come from the directory, which may be large).
    fn shrink_to(&mut self, cap: usize) {
        let mut bytes = self.bytes();
        while bytes > cap {
            let mut lists: Vec<&mut Vec<String>> =
                vec![&mut self.groups, &mut self.dropped, &mut self.missing];
            if let Some(sent) = &mut self.sent {
                lists.push(sent);
            }
            match lists.into_iter().max_by_key(|l| l.len()).and_then(Vec::pop) {
                Some(gone) => bytes -= string_bytes(&gone),
                None => {
                    self.user.truncate(floor_boundary(&self.user, 64));
                    self.filter = None;
                    break;
                }
            }
        }
    }
}

/// One document (or exchange) the IdP saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Increasing from 1; the entry's address (`/fakta/inspect/{seq}`).
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    pub direction: Direction,
    pub kind: Kind,
    pub app: String,
    pub summary: String,
    pub login: Option<Login>,
    pub parts: Vec<Part>,
    /// Some text was cut to keep the entry within [`MAX_ENTRY_BYTES`].
    pub truncated: bool,
}

/// The bytes a string holds, with its header.
fn string_bytes(s: &str) -> usize {
    size_of::<String>() + s.len()
}

impl Entry {
    /// The bytes this entry holds: its struct, its strings and the structs holding them.
    pub fn bytes(&self) -> usize {
        size_of::<Entry>()
            + string_bytes(&self.at)
            + string_bytes(&self.app)
            + string_bytes(&self.summary)
            + self
                .login
                .as_ref()
                .map_or(0, |l| size_of::<Login>() + l.bytes())
            + self
                .parts
                .iter()
                .map(|p| size_of::<Part>() + p.title.len() + p.text.len())
                .sum::<usize>()
    }

    /// Cuts texts (then login lists) until the entry takes at most `cap` bytes.
    fn fit(&mut self, cap: usize) {
        const CUT: &str = "\n[... cut: the inspector keeps at most this much of an entry]";
        if self.bytes() <= cap {
            return;
        }
        self.truncated = true;
        self.summary.truncate(floor_boundary(&self.summary, 512));
        self.app.truncate(floor_boundary(&self.app, 256));
        if let Some(login) = &mut self.login {
            login.shrink_to(cap / 4);
        }
        // The longest text is cut first, so short parts (claims, answers) survive a long
        // document. Each pass shortens it by at least the excess, so the loop ends.
        while self.bytes() > cap {
            let over = self.bytes() - cap;
            let Some(longest) = self.parts.iter_mut().max_by_key(|p| p.text.len()) else {
                break;
            };
            if longest.text.len() <= CUT.len() {
                // Nothing left worth cutting: drop parts from the end.
                self.parts.pop();
                continue;
            }
            let keep = longest.text.len().saturating_sub(over + CUT.len());
            let at = floor_boundary(&longest.text, keep);
            longest.text.truncate(at);
            longest.text.push_str(CUT);
        }
        for s in [&mut self.at, &mut self.app, &mut self.summary] {
            s.shrink_to_fit();
        }
        for p in &mut self.parts {
            p.text.shrink_to_fit();
        }
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What a hook hands to [`Inspector::record`].
#[derive(Debug, Clone)]
pub struct Draft {
    pub direction: Direction,
    pub kind: Kind,
    pub app: String,
    pub summary: String,
    pub login: Option<Login>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
    next: u64,
}

/// The ring of recent entries, bounded in bytes.
#[derive(Debug)]
pub struct Inspector {
    total_cap: usize,
    entry_cap: usize,
    ring: Mutex<Ring>,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector::with_caps(MAX_TOTAL_BYTES, MAX_ENTRY_BYTES)
    }
}

impl Inspector {
    /// A ring of at most `total` bytes with entries of at most `entry` bytes (at most `total`).
    pub fn with_caps(total: usize, entry: usize) -> Inspector {
        Inspector {
            total_cap: total,
            entry_cap: entry.min(total),
            ring: Mutex::new(Ring::default()),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a draft, redacted and cut to the entry cap; evicts the oldest entries to stay
    /// within the total. Returns the entry's sequence number.
    pub fn record(&self, now: OffsetDateTime, draft: Draft) -> u64 {
        let redact = crate::redact::redact;
        let mut entry = Entry {
            seq: 0,
            at: crate::saml::xml::instant(now),
            direction: draft.direction,
            kind: draft.kind,
            app: draft.app,
            summary: redact(&draft.summary),
            login: draft.login,
            parts: draft
                .parts
                .into_iter()
                .map(|p| Part::new(redact(&p.title), redact(&p.text)))
                .collect(),
            truncated: false,
        };
        entry.fit(self.entry_cap);
        let size = entry.bytes();
        let mut ring = self.ring();
        ring.next += 1;
        entry.seq = ring.next;
        while ring.bytes + size > self.total_cap {
            match ring.entries.pop_front() {
                Some(old) => ring.bytes -= old.bytes(),
                None => break,
            }
        }
        ring.bytes += size;
        ring.entries.push_back(entry);
        ring.next
    }

    /// The bytes the ring holds now (the sum of [`Entry::bytes`]).
    pub fn bytes(&self) -> usize {
        self.ring().bytes
    }

    pub fn len(&self) -> usize {
        self.ring().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most `n` entries, newest first.
    pub fn newest(&self, n: usize) -> Vec<Entry> {
        self.ring().entries.iter().rev().take(n).cloned().collect()
    }

    pub fn get(&self, seq: u64) -> Option<Entry> {
        self.ring().entries.iter().find(|e| e.seq == seq).cloned()
    }
}

// ---- the hooks: one call per place the IdP receives or issues a document ----

fn record(state: &IdpState, draft: Draft) {
    state.inspector.record(state.now(), draft);
}

/// One log line per login, for `fakta serve -v`.
fn log_login(app: &App, login: &Login) {
    let sent = match &login.sent {
        Some(g) => format!("[{}]", g.join(", ")),
        None => "none (no groups attribute)".to_owned(),
    };
    tracing::debug!(
        target: LOGIN_LOG_TARGET,
        "login: app {}, user {}, groups sent {sent}",
        app.id,
        login.user
    );
}

/// An AuthnRequest decoded from either binding, once its signature (if the app requires one)
/// verified, and before its content is checked: a request refused for its content (ACS URL,
/// audience, replay) can be read too.
pub fn authn_request(state: &IdpState, app: &App, binding: &str, signed: bool, xml: &str) {
    let signed = if signed {
        "signature verified with the app's SP certificate"
    } else {
        "not signed (or the app has no SP certificate)"
    };
    record(
        state,
        Draft {
            direction: Direction::Received,
            kind: Kind::AuthnRequest,
            app: app.id.clone(),
            summary: format!("HTTP-{binding} binding; {signed}"),
            login: None,
            parts: vec![Part::new("AuthnRequest", indent_xml(xml))],
        },
    );
}

/// One signature of a Response the IdP signed honestly, as `signatures` would read it back:
/// the signed element's local name, its ID, the SignatureMethod and the certificate (DER).
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub element: &'a str,
    pub id: &'a str,
    pub method: &'a str,
    pub cert_der: &'a [u8],
}

impl<'a> Signed<'a> {
    /// The signatures of an honest Response in clear signed as `what` says, in document order
    /// (the Response's sits after the Response's Issuer, before the Assertion).
    pub fn honest(
        what: crate::config::SignWhat,
        response_id: &'a str,
        assertion_id: &'a str,
        method: &'a str,
        cert_der: &'a [u8],
    ) -> Vec<Signed<'a>> {
        use crate::config::SignWhat;
        let one = |element, id| Signed {
            element,
            id,
            method,
            cert_der,
        };
        let mut out = Vec::with_capacity(2);
        if what != SignWhat::Assertion {
            out.push(one("Response", response_id));
        }
        if what != SignWhat::Response {
            out.push(one("Assertion", assertion_id));
        }
        out
    }
}

/// A SAML Response as it left (after a runner trial's attack, if any), for `user` with `emit`.
/// `signed` lists its signatures in document order when the IdP knows them (the honest
/// Response, in clear): the document is then not parsed again to say what was signed.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one fact of the recorded login"
)]
pub fn saml_response(
    state: &IdpState,
    app: &App,
    user: &User,
    emit: &Emit,
    xml: &str,
    signed: Option<&[Signed<'_>]>,
    forged: Option<&str>,
    decrypted: &[String],
) {
    let login = Login::of(app, user, emit);
    log_login(app, &login);
    let mut summary = match signed {
        Some(signed) => signed_summary(signed),
        None => signatures(xml),
    };
    let mut parts = vec![Part::new("Response", indent_xml(xml))];
    // The IdP kept what it encrypted (it never holds the SP's private key): each
    // EncryptedAssertion's Assertion, signed as it was before the encryption.
    for (i, plain) in decrypted.iter().enumerate() {
        let which = if decrypted.len() == 1 {
            String::new()
        } else {
            format!(" {} of {}", i + 1, decrypted.len())
        };
        summary.push_str(&format!(
            "\nEncryptedAssertion{which}, as the IdP encrypted it: {}",
            signatures(plain)
        ));
        parts.push(Part::new(
            format!(
                "EncryptedAssertion{which}: the Assertion the IdP encrypted (the SP decrypts it)"
            ),
            indent_xml(plain),
        ));
    }
    if let Some(f) = forged {
        summary.push_str(&format!(
            "\nforged by a runner trial's attack (not what the IdP signs honestly): {f}"
        ));
    }
    record(
        state,
        Draft {
            direction: Direction::Issued,
            kind: Kind::SamlResponse,
            app: app.id.clone(),
            summary,
            login: Some(login),
            parts,
        },
    );
}

/// A SAML Response that logs no one in (an error status), with why it was sent.
pub fn status_response(state: &IdpState, app: &App, xml: &str, why: &str) {
    record(
        state,
        Draft {
            direction: Direction::Issued,
            kind: Kind::SamlResponse,
            app: app.id.clone(),
            summary: format!("{why}\n{}", signatures(xml)),
            login: None,
            parts: vec![Part::new("Response", indent_xml(xml))],
        },
    );
}

/// A SAML logout message (either kind, either way).
pub fn logout_message(
    state: &IdpState,
    app: &App,
    direction: Direction,
    kind: Kind,
    summary: &str,
    xml: &str,
) {
    record(
        state,
        Draft {
            direction,
            kind,
            app: app.id.clone(),
            summary: summary.to_owned(),
            login: None,
            parts: vec![Part::new(kind.title(), indent_xml(xml))],
        },
    );
}

/// An authorization request answered with a code and/or tokens (their values are never
/// recorded).
pub fn authorization(
    state: &IdpState,
    request: &crate::oidc::authorize::AuthorizeRequest,
    user: &User,
    emit: &Emit,
) {
    let Some(app) = state
        .conn
        .apps
        .iter()
        .find(|a| a.oidc().is_some_and(|o| o.client_id == request.client_id))
    else {
        return;
    };
    let login = Login::of(app, user, emit);
    log_login(app, &login);
    let shown = serde_json::json!({
        "client_id": request.client_id,
        "redirect_uri": request.redirect_uri,
        "response_type": request.response_type.name(),
        "scope": request.scopes.join(" "),
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge_method": request.code_challenge.as_ref().map(|(_, m)| format!("{m:?}")),
        "response_mode": format!("{:?}", request.response_mode),
        "login_hint": request.login_hint,
    });
    record(
        state,
        Draft {
            direction: Direction::Received,
            kind: Kind::Authorization,
            app: app.id.clone(),
            summary: if request.response_type == crate::config::ResponseType::Code {
                "answered with an authorization code (its value is not shown)".into()
            } else {
                format!(
                    "answered response_type `{}` (the values are not shown)",
                    request.response_type.name()
                )
            },
            login: Some(login),
            parts: vec![Part::new("authorization request", pretty_json(&shown))],
        },
    );
}

/// The JOSE header and claims of a compact JWT (never its signature).
fn jwt_part(title: &str, token: &str) -> Part {
    use crate::oidc::jwt::peek_part;
    let text = match (peek_part(token, 0), peek_part(token, 1)) {
        (Some(h), Some(c)) => format!(
            "header {}\nclaims {}\n(signature not shown)",
            pretty_json(&h),
            pretty_json(&c)
        ),
        _ => "(not a JWT fakta can decode)".to_owned(),
    };
    Part::new(title, text)
}

/// Tokens from the token endpoint: access token and id_token as header and claims.
pub fn tokens(
    state: &IdpState,
    app: &App,
    user: &User,
    emit: &Emit,
    access_token: &str,
    id_token: &str,
) {
    record(
        state,
        Draft {
            direction: Direction::Issued,
            kind: Kind::Tokens,
            app: app.id.clone(),
            summary: "from the token endpoint (a refresh token, if any, is not shown)".into(),
            login: Some(Login::of(app, user, emit)),
            parts: vec![
                jwt_part("id_token", id_token),
                jwt_part("access token", access_token),
            ],
        },
    );
}

/// A userinfo answer.
pub fn userinfo(state: &IdpState, app: &App, claims: &serde_json::Map<String, Value>) {
    record(
        state,
        Draft {
            direction: Direction::Issued,
            kind: Kind::Userinfo,
            app: app.id.clone(),
            summary: String::new(),
            login: None,
            parts: vec![Part::new(
                "claims",
                serde_json::to_string_pretty(claims).unwrap_or_default(),
            )],
        },
    );
}

/// What a Global Token Revocation request looked like and what the SP answered.
#[derive(Debug)]
pub struct Revocation<'a> {
    pub endpoint: &'a str,
    pub header: &'a Value,
    pub claims: &'a Value,
    pub body: &'a str,
    pub status: u16,
    pub answer: &'a str,
}

/// A Global Token Revocation request sent, and the SP's answer.
pub fn revocation(state: &IdpState, app: &App, r: &Revocation<'_>) {
    record(
        state,
        Draft {
            direction: Direction::Sent,
            kind: Kind::GlobalTokenRevocation,
            app: app.id.clone(),
            summary: format!("POST {} answered {}", r.endpoint, r.status),
            login: None,
            parts: vec![
                Part::new(
                    "bearer JWT (signature not shown)",
                    format!(
                        "header {}\nclaims {}",
                        pretty_json(r.header),
                        pretty_json(r.claims)
                    ),
                ),
                Part::new("body", r.body),
                Part::new(format!("the SP's answer ({})", r.status), r.answer),
            ],
        },
    );
}

fn pretty_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Which elements of a SAML document carry a signature, over what, and by which certificate
/// (SHA-256 fingerprint of the `ds:X509Certificate` it names). Read from the document itself,
/// so a forged document is described as it is.
fn signatures(xml: &str) -> String {
    use crate::saml::ns::DSIG;
    let doc = match crate::saml::untrusted::parse(xml, false) {
        Ok(d) => d,
        Err(e) => return format!("signatures: cannot read the document: {e}"),
    };
    let mut lines = Vec::new();
    for sig in doc
        .descendants()
        .filter(|n| n.has_tag_name((DSIG, "Signature")))
    {
        let signed = sig
            .parent_element()
            .map(|p| p.tag_name().name().to_owned())
            .unwrap_or_else(|| "?".into());
        let find = |name: &str| sig.descendants().find(|n| n.has_tag_name((DSIG, name)));
        let reference = find("Reference")
            .and_then(|r| r.attribute("URI"))
            .unwrap_or("?");
        let method = find("SignatureMethod")
            .and_then(|m| m.attribute("Algorithm"))
            .unwrap_or("?");
        let key = match find("X509Certificate").and_then(|c| c.text()) {
            Some(b64) => {
                use base64::Engine;
                let clean: String = b64.split_whitespace().collect();
                match base64::engine::general_purpose::STANDARD.decode(clean) {
                    Ok(der) => format!("certificate SHA-256 {}", fingerprint(&der)),
                    Err(_) => "a certificate that is not base64".to_owned(),
                }
            }
            None => "no certificate in KeyInfo".to_owned(),
        };
        lines.push(format!(
            "signed: the {signed} (Reference URI {reference}), {method}, by {key}"
        ));
    }
    if lines.is_empty() {
        "signed: nothing (no ds:Signature)".to_owned()
    } else {
        lines.join("\n")
    }
}

/// What [`signatures`] says of a document whose signatures are `signed`, written from them.
fn signed_summary(signed: &[Signed<'_>]) -> String {
    if signed.is_empty() {
        return "signed: nothing (no ds:Signature)".to_owned();
    }
    signed
        .iter()
        .map(|s| {
            format!(
                "signed: the {} (Reference URI #{}), {}, by certificate SHA-256 {}",
                s.element,
                s.id,
                s.method,
                fingerprint(s.cert_der)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `AB:CD:...`, as `keys::Certificate::sha256_fingerprint` writes it.
fn fingerprint(der: &[u8]) -> String {
    openssl::sha::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One element per line, indented by depth (one iterative pass; the depth shown stops at 16).
pub(super) fn indent_xml(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() + xml.len() / 4);
    let mut depth: usize = 0;
    for piece in xml.replace("><", ">\n<").lines() {
        let p = piece.trim();
        if p.is_empty() {
            continue;
        }
        if p.starts_with("</") {
            depth = depth.saturating_sub(1);
        }
        for _ in 0..depth.min(16) {
            out.push_str("  ");
        }
        out.push_str(p);
        out.push('\n');
        let opens = p.starts_with('<')
            && !p.starts_with("</")
            && !p.starts_with("<?")
            && !p.starts_with("<!")
            && !p.ends_with("/>");
        if opens && !p.contains("</") {
            depth += 1;
        }
    }
    out
}

// ---- the pages ----

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// The path of one entry.
pub fn entry_path(seq: u64) -> String {
    format!("/fakta/inspect/{seq}")
}

/// `GET /fakta/inspect`: every entry, newest first.
pub async fn list(State(state): State<Arc<IdpState>>, headers: HeaderMap) -> Response {
    let entries = state.inspector.newest(usize::MAX);
    if wants_json(&headers) {
        return Json(serde_json::json!({
            "bytes": state.inspector.bytes(),
            "max_bytes": state.inspector.total_cap,
            "max_entry_bytes": state.inspector.entry_cap,
            "entries": entries,
        }))
        .into_response();
    }
    let mut body = format!(
        "<p>The last documents this IdP received and issued, newest first: {} entries, {} KiB of \
at most {} KiB (the oldest go first). Secrets are redacted: codes, refresh tokens, signature \
values and client secrets are never shown. This page shows identities: keep the IdP on a \
loopback address. <a href=\"{}\">Back to the apps</a>.</p>",
        entries.len(),
        state.inspector.bytes() / 1024,
        state.inspector.total_cap / 1024,
        e(&state.url("/")),
    );
    if let Some(line) = super::index::flavor_line(&state) {
        body.push_str(&line);
    }
    if entries.is_empty() {
        body.push_str("<p>Nothing yet: log in through an app first.</p>");
    }
    for entry in &entries {
        body.push_str(&render(&state, entry));
    }
    Html(page("fakta inspector", &body)).into_response()
}

/// `GET /fakta/inspect/{seq}`: one entry.
pub async fn one(
    State(state): State<Arc<IdpState>>,
    Path(seq): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let Some(entry) = state.inspector.get(seq) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            Html(page(
                "fakta inspector",
                &format!(
                    "<p class=\"error\">No entry {seq}: it was never recorded or was evicted (the \
inspector keeps the last {} KiB). <a href=\"{}\">All entries</a>.</p>",
                    state.inspector.total_cap / 1024,
                    e(&state.url("/fakta/inspect"))
                ),
            )),
        )
            .into_response();
    };
    if wants_json(&headers) {
        return Json(entry).into_response();
    }
    Html(page("fakta inspector", &render(&state, &entry))).into_response()
}

/// One line for an entry, for lists (the index page).
pub fn headline(entry: &Entry) -> String {
    let who = entry
        .login
        .as_ref()
        .map(|l| format!(", user {}", l.user))
        .unwrap_or_default();
    format!(
        "{} {} {}, app {}{who}",
        entry.at,
        entry.direction.name(),
        entry.kind.title(),
        entry.app
    )
}

fn render(state: &IdpState, entry: &Entry) -> String {
    let mut out = format!(
        "<section id=\"e{seq}\" class=\"entry\" data-kind=\"{kind:?}\"><h2><a href=\"{href}\">#{seq}</a> {head}</h2>",
        seq = entry.seq,
        kind = entry.kind,
        href = e(&state.url(&entry_path(entry.seq))),
        head = e(&headline(entry)),
    );
    if !entry.summary.is_empty() {
        out.push_str(&format!("<pre>{}</pre>", e(&entry.summary)));
    }
    if let Some(l) = &entry.login {
        let list = |g: &[String]| {
            if g.is_empty() {
                "(none)".to_owned()
            } else {
                g.join(", ")
            }
        };
        let statement = match (&l.group_attribute, &l.filter) {
            (Some(a), Some(f)) => format!("attribute {a}, filter {f}"),
            _ => "no group statement: no groups are sent".to_owned(),
        };
        let sent = match &l.sent {
            Some(g) => list(g),
            None => "no groups attribute".to_owned(),
        };
        out.push_str(&format!(
            "<table class=\"login\">\
<tr><th>user</th><td>{}</td></tr>\
<tr><th>groups in the directory</th><td>{}</td></tr>\
<tr><th>group statement</th><td>{}</td></tr>\
<tr><th>groups sent</th><td class=\"sent\">{}</td></tr>\
<tr><th>groups dropped by the filter</th><td class=\"dropped\">{}</td></tr>\
<tr><th>attributes removed by a scenario</th><td class=\"missing\">{}</td></tr></table>",
            e(&l.user),
            e(&list(&l.groups)),
            e(&statement),
            e(&sent),
            e(&list(&l.dropped)),
            e(&list(&l.missing)),
        ));
    }
    for p in &entry.parts {
        out.push_str(&format!(
            "<h3>{}</h3><pre>{}</pre>",
            e(&p.title),
            e(&p.text)
        ));
    }
    if entry.truncated {
        out.push_str(&format!(
            "<p><em>Cut to {} KiB.</em></p>",
            state.inspector.entry_cap / 1024
        ));
    }
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(text: &str) -> Draft {
        Draft {
            direction: Direction::Issued,
            kind: Kind::SamlResponse,
            app: "qovery".into(),
            summary: "s".into(),
            login: None,
            parts: vec![Part::new("Response", text)],
        }
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-11-28 09:00:00 UTC);

    #[test]
    fn the_ring_stays_within_its_bytes_and_evicts_the_oldest() {
        let ring = Inspector::with_caps(64 * 1024, 8 * 1024);
        for i in 0..10_000 {
            ring.record(
                NOW,
                draft(&format!("<doc n=\"{i}\">{}</doc>", "x".repeat(i % 3000))),
            );
            assert!(ring.bytes() <= 64 * 1024, "over the cap at {i}");
        }
        let newest = ring.newest(usize::MAX);
        assert_eq!(newest[0].seq, 10_000, "newest first");
        assert!(newest.windows(2).all(|w| w[0].seq > w[1].seq));
        // The count matches what the entries hold.
        assert_eq!(ring.bytes(), newest.iter().map(Entry::bytes).sum::<usize>());
        assert!(ring.get(1).is_none(), "the oldest went first");
    }

    #[test]
    fn a_long_entry_is_cut_to_the_entry_cap_and_marked() {
        let ring = Inspector::with_caps(1024 * 1024, 4 * 1024);
        let seq = ring.record(NOW, draft(&"é".repeat(100_000)));
        let entry = ring.get(seq).unwrap();
        assert!(entry.truncated);
        assert!(entry.bytes() <= 4 * 1024, "{}", entry.bytes());
        assert!(
            entry.parts[0]
                .text
                .ends_with("at most this much of an entry]")
        );
        // A short entry is kept whole.
        let seq = ring.record(NOW, draft("<a/>"));
        let entry = ring.get(seq).unwrap();
        assert!(!entry.truncated);
        assert_eq!(entry.parts[0].text, "<a/>");
    }

    #[test]
    fn huge_login_facts_are_cut_too() {
        let ring = Inspector::with_caps(1024 * 1024, 4 * 1024);
        let mut d = draft("x");
        d.login = Some(Login {
            user: "u".into(),
            groups: (0..5000).map(|i| format!("group-{i}")).collect(),
            ..Login::default()
        });
        let seq = ring.record(NOW, d);
        let entry = ring.get(seq).unwrap();
        assert!(entry.truncated && entry.bytes() <= 4 * 1024);
    }

    #[test]
    fn texts_are_redacted_when_recorded() {
        let ring = Inspector::default();
        let seq = ring.record(
            NOW,
            draft("<ds:SignatureValue>SIGVALUE</ds:SignatureValue> code=THECODE"),
        );
        let text = &ring.get(seq).unwrap().parts[0].text;
        assert!(
            !text.contains("SIGVALUE") && !text.contains("THECODE"),
            "{text}"
        );
    }

    #[test]
    fn xml_is_indented_by_depth() {
        assert_eq!(
            indent_xml("<?xml version=\"1.0\"?><a><b x=\"1\"/><c>t</c></a>"),
            "<?xml version=\"1.0\"?>\n<a>\n  <b x=\"1\"/>\n  <c>t</c>\n</a>\n"
        );
    }

    #[test]
    fn the_honest_summary_is_what_reading_the_signed_response_says() {
        use crate::config::SignWhat;
        use crate::saml::response::{ResponseIds, ResponseParams};
        let key = crate::keys::SigningKey::generate().unwrap();
        let params = ResponseParams {
            ids: ResponseIds {
                response_id: "id-r".into(),
                assertion_id: "id-a".into(),
                session_index: "id-s".into(),
            },
            issue_instant: NOW,
            authn_instant: NOW,
            lifetime: time::Duration::minutes(5),
            issuer: "http://www.okta.com/exk1".into(),
            destination: "http://127.0.0.1:7100/acs".into(),
            recipient: "http://127.0.0.1:7100/acs".into(),
            authn_context_class: crate::saml::ns::AC_PASSWORD_PROTECTED.into(),
            in_response_to: None,
            audience: "urn:sp".into(),
            name_id: "alice@acme.test".into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            attributes: vec![],
        };
        for what in SignWhat::ALL.iter().copied() {
            let xml = crate::saml::signature::signed_response(
                &params,
                what,
                key.pkey(),
                &key.certificate.base64(),
            )
            .unwrap();
            let known = Signed::honest(
                what,
                "id-r",
                "id-a",
                crate::saml::ns::ALG_RSA_SHA256,
                key.certificate.der(),
            );
            assert_eq!(signed_summary(&known), signatures(&xml), "{what:?}");
        }
        assert_eq!(signed_summary(&[]), signatures("<r/>"));
    }

    #[test]
    fn signatures_name_the_signed_element_and_the_certificate() {
        let cert = crate::keys::SigningKey::generate().unwrap().certificate;
        let xml = format!(
            "<r xmlns:ds=\"{dsig}\" ID=\"r1\"><a ID=\"a1\"><ds:Signature><ds:SignedInfo>\
<ds:SignatureMethod Algorithm=\"rsa-sha256\"/><ds:Reference URI=\"#a1\"/></ds:SignedInfo>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data>\
</ds:KeyInfo></ds:Signature></a></r>",
            dsig = crate::saml::ns::DSIG,
            b64 = cert.base64()
        );
        let s = signatures(&xml);
        assert_eq!(
            s,
            format!(
                "signed: the a (Reference URI #a1), rsa-sha256, by certificate SHA-256 {}",
                cert.sha256_fingerprint()
            )
        );
        assert_eq!(signatures("<r/>"), "signed: nothing (no ds:Signature)");
    }
}
