//! The index page (`GET /`): for every app, what Okta's "Sign On" tab shows an administrator
//! and what a customer shares with the SP's team (SAML: SSO URL, issuer, certificate, SLO URL,
//! Global Token Revocation issuer and subject format; OIDC: client id, issuer, endpoints,
//! redirect URIs, auth method), the users with the groups each app sends them after its filter
//! (and the ones it drops), and the inspector's newest entries. The first two are gathered as
//! data ([`sign_on`], [`users`]) that the runner's report (`runner::handover`) shows too.
//!
//! Public values only: never a client secret or a key. Everything is escaped.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};

use super::IdpError;
use super::html::{e, page};
use super::inspect;
use super::state::IdpState;
use crate::config::{
    App, BlockCipher, DigestAlgorithm, GroupStatement, KeyTransport, NameIdFormat, OidcApp,
    SamlApp, SignWhat, SignatureAlgorithm, SigningAlg, SpMessage, SubjectFormat, TokenAuth, User,
    UserField, WhenNone,
};
use crate::directory::emitted_groups;
use crate::oidc::discovery;

/// How many inspector entries the index lists.
const RECENT: usize = 10;

/// The path of the signing certificate (PEM) of a SAML app.
pub fn certificate_path(app: &App) -> String {
    format!("/app/{}/sso/saml/certificate.pem", app.id)
}

/// `GET /app/{id}/sso/saml/certificate.pem`: the IdP signing certificate, as Okta's "Download
/// certificate" gives it.
pub async fn certificate(
    State(state): State<Arc<IdpState>>,
    Path(app_id): Path<String>,
) -> Result<Response, IdpError> {
    let (app, _) = super::sso::saml_app(&state, None, &app_id)?;
    let name = format!(
        "attachment; filename=\"fakta-{}.pem\"",
        app.id.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_"
        )
    );
    Ok((
        [
            (CONTENT_TYPE, "application/x-pem-file".to_owned()),
            (CONTENT_DISPOSITION, name),
        ],
        state.keys.current.certificate.pem(),
    )
        .into_response())
}

fn field(f: &UserField) -> String {
    match f {
        UserField::Id => "user.id".to_owned(),
        UserField::Login => "user.login".to_owned(),
        UserField::Email => "user.email".to_owned(),
        UserField::Name => "user.name".to_owned(),
        UserField::Extra(k) => format!("user.{k}"),
    }
}

/// One piece of a setting's value: the index page links and marks up each kind its way, the
/// runner's report (`runner::handover`) its own (without links: it is a file to hand over).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    /// Words.
    Text { text: String },
    /// A value to copy as is (a URL to paste, an issuer, an attribute name).
    Code { text: String },
    /// A URL the IdP serves (metadata, discovery, keys): a link on the index page.
    Link { url: String },
    /// A line break between values.
    Break,
    /// The signing certificate: what Okta's "X.509 Certificate" shows.
    Certificate {
        fingerprint: String,
        not_after: String,
        download: String,
        pem: String,
    },
}

fn text(s: impl Into<String>) -> Part {
    Part::Text { text: s.into() }
}

fn code(s: impl Into<String>) -> Part {
    Part::Code { text: s.into() }
}

fn link(url: impl Into<String>) -> Part {
    Part::Link { url: url.into() }
}

/// One row of an app's "Sign On" tab: a label and its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    pub label: &'static str,
    pub value: Vec<Part>,
}

fn row(label: &'static str, value: Vec<Part>) -> Setting {
    Setting { label, value }
}

/// One app's "Sign On" tab, as data: what a customer shares with the SP's team. Public values
/// only, never a client secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignOn {
    pub app: String,
    pub name: String,
    /// "SAML 2.0" or "OpenID Connect".
    pub protocol: &'static str,
    pub settings: Vec<Setting>,
    /// Global Token Revocation's settings (empty when the app has none).
    pub revocation: Vec<Setting>,
    /// The IdP-initiated login URL, when the app takes one.
    pub idp_initiated: Option<String>,
}

/// A user of the directory and the groups each app with a group statement sends them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    pub id: String,
    pub login: String,
    pub name: String,
    pub groups: Vec<String>,
    /// Per app with a group statement, in [`Users::apps`]' order: "sent: A; dropped: B".
    pub sends: Vec<String>,
}

/// The directory as the index page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Users {
    /// The apps with a group statement (one column each).
    pub apps: Vec<String>,
    pub rows: Vec<UserRow>,
    /// Users past the first [`LISTED_USERS`], counted, not listed.
    pub unlisted: usize,
}

/// Users the index page and the report list; a 100,000-user directory would make them
/// megabytes (the inspector and `fakta check` still see every user).
pub const LISTED_USERS: usize = 500;

/// Every app's "Sign On" tab: the data of the index page and of the runner's report.
pub fn sign_on(state: &IdpState) -> Vec<SignOn> {
    let mut out = Vec::new();
    for app in &state.conn.apps {
        let (protocol, settings, issuer, subject) = match (app.saml(), app.oidc()) {
            (Some(saml), _) => (
                "SAML 2.0",
                saml_settings(state, app, saml),
                saml.issuer.clone(),
                "the NameID",
            ),
            (_, Some(oidc)) => {
                let md = discovery::metadata(&state.conn.idp, &oidc.server);
                (
                    "OpenID Connect",
                    oidc_settings(state, app, oidc),
                    md.issuer,
                    "the user id",
                )
            }
            _ => continue,
        };
        let revocation = app
            .global_token_revocation
            .as_ref()
            .map(|g| revocation(state, g, &issuer, subject))
            .unwrap_or_default();
        // The app's tile: the SAML IdP-initiated SSO URL, or for an OIDC app launched by
        // "Either Okta or App", the launch URL that sends the browser to its initiate login URI.
        let idp_initiated = match (app.saml(), app.oidc()) {
            (Some(s), _) if s.allow_idp_initiated => {
                Some(state.url(&state.idp_initiated_path(app)))
            }
            (_, Some(o)) if o.initiate_login_uri.is_some() => {
                Some(state.url(&IdpState::launch_path(app)))
            }
            _ => None,
        };
        out.push(SignOn {
            app: app.id.clone(),
            name: app.name.clone(),
            protocol,
            settings,
            revocation,
            idp_initiated,
        });
    }
    out
}

/// The users of the directory (as it is now), with what each app sends them.
pub fn users(state: &IdpState) -> Users {
    let apps: Vec<&App> = state
        .conn
        .apps
        .iter()
        .filter(|a| a.groups.is_some())
        .collect();
    Users {
        apps: apps.iter().map(|a| a.id.clone()).collect(),
        unlisted: state.directory.len().saturating_sub(LISTED_USERS),
        rows: state
            .directory
            .first(LISTED_USERS)
            .into_iter()
            .map(|u| UserRow {
                sends: apps.iter().map(|a| sends(a, &u)).collect(),
                id: u.id,
                login: u.login,
                name: u.name.unwrap_or_default(),
                groups: u.groups,
            })
            .collect(),
    }
}

fn group_statement(g: Option<&GroupStatement>) -> Vec<Part> {
    match g {
        Some(g) => vec![
            code(&g.attribute),
            text(" filtered by "),
            code(g.filter.to_string()),
            text(match g.when_none {
                WhenNone::Absent => ", left out when no group passes",
                WhenNone::Empty => ", empty when no group passes",
            }),
        ],
        None => vec![text("none (no groups are sent)")],
    }
}

/// Values one a line.
fn lines(values: impl IntoIterator<Item = Part>) -> Vec<Part> {
    let mut out = Vec::new();
    for v in values {
        if !out.is_empty() {
            out.push(Part::Break);
        }
        out.push(v);
    }
    out
}

/// Which of the SP's messages must be signed (`sp_signs`), and what happens to the others.
fn sp_signatures(saml: &SamlApp) -> String {
    if saml.sp_certificate.is_none() {
        return "none required (no SP certificate in the file)".to_owned();
    }
    let (required, optional): (Vec<SpMessage>, Vec<SpMessage>) = SpMessage::ALL
        .iter()
        .partition(|m| saml.requires_signed(**m));
    let names = |ms: &[SpMessage]| ms.iter().map(|m| m.title()).collect::<Vec<_>>().join(", ");
    let mut out = if required.is_empty() {
        "none required".to_owned()
    } else {
        format!("required on {}", names(&required))
    };
    if !optional.is_empty() {
        out.push_str(&format!("; {} may come unsigned", names(&optional)));
    }
    out.push_str("; every signature present is verified with the SP certificate of the file");
    out
}

/// Okta's "Assertion Encryption" with its algorithms, as Okta's Advanced Settings name them.
fn assertion_encryption(saml: &SamlApp) -> String {
    let Some(enc) = &saml.encryption else {
        return "Unencrypted".to_owned();
    };
    let block = match enc.block {
        BlockCipher::Aes256Cbc => "AES256-CBC",
        BlockCipher::Aes128Cbc => "AES128-CBC",
        BlockCipher::Aes256Gcm => "AES256-GCM",
        BlockCipher::Aes128Gcm => "AES128-GCM",
    };
    let transport = match enc.key_transport {
        KeyTransport::RsaOaep => "RSA-OAEP",
        KeyTransport::Rsa15 => "RSA15",
    };
    format!(
        "Encrypted: {block}, key transport {transport}, for the certificate {}",
        enc.certificate.display()
    )
}

/// Okta's checkbox, and the URLs when it is cleared.
fn recipient_and_destination(saml: &SamlApp) -> Vec<Part> {
    if saml.recipient_url.is_none() && saml.destination_url.is_none() {
        return vec![text("Yes: both are the ACS URL the Response is posted to")];
    }
    let url = |u: &Option<String>| u.as_deref().map_or_else(|| text("the ACS URL"), code);
    vec![
        text("No: Recipient URL "),
        url(&saml.recipient_url),
        text(", Destination URL "),
        url(&saml.destination_url),
    ]
}

fn saml_settings(state: &IdpState, app: &App, saml: &SamlApp) -> Vec<Setting> {
    let cert = &state.keys.current.certificate;
    let sso = state.url(&state.sso_path(app));
    let mut rows = vec![
        row("Identity Provider Single Sign-On URL", vec![code(&sso)]),
        row("Identity Provider Issuer", vec![code(&saml.issuer)]),
        row(
            "IdP metadata",
            vec![link(state.url(&state.metadata_path(app)))],
        ),
        row(
            "X.509 Certificate",
            vec![Part::Certificate {
                fingerprint: cert.sha256_fingerprint(),
                not_after: cert.not_after(),
                download: state.url(&certificate_path(app)),
                pem: cert.pem(),
            }],
        ),
    ];
    if app.logout.is_some() {
        rows.push(row(
            "Identity Provider Single Logout URL",
            vec![code(state.url(&super::slo::slo_path(&state.conn.idp, app)))],
        ));
    }
    let name_id = match saml.name_id.format {
        NameIdFormat::Unspecified => "Unspecified",
        NameIdFormat::EmailAddress => "EmailAddress",
        NameIdFormat::Persistent => "Persistent",
    };
    let signed = match saml.sign {
        SignWhat::Both => "Response and Assertion",
        SignWhat::Response => "Response",
        SignWhat::Assertion => "Assertion",
    };
    let attributes = if saml.attributes.is_empty() {
        vec![text("none")]
    } else {
        let mut out = Vec::new();
        for a in &saml.attributes {
            if !out.is_empty() {
                out.push(Part::Break);
            }
            out.extend([
                code(a.name.as_str()),
                text(" = "),
                code(field(&a.field)),
                text(format!(" ({})", a.name_format.title())),
            ]);
        }
        out
    };
    rows.extend([
        row(
            "Single sign-on URL (ACS, of the SP)",
            vec![code(saml.acs_url.as_str())],
        ),
        row(
            "Use this for Recipient URL and Destination URL",
            recipient_and_destination(saml),
        ),
        row("Other Requestable SSO URLs", {
            let mut out = Vec::new();
            for o in &saml.other_sso_urls {
                if !out.is_empty() {
                    out.push(Part::Break);
                }
                out.extend([code(o.url.as_str()), text(format!(" (index {})", o.index))]);
            }
            if out.is_empty() {
                out.push(text("none"));
            }
            out
        }),
        row("Audience URI (SP Entity ID)", vec![code(&saml.audience)]),
        row(
            "Name ID",
            vec![
                code(name_id),
                text(" = "),
                code(saml.name_id.value.describe()),
            ],
        ),
        row("Signed", vec![text(signed)]),
        row(
            "Authentication context class",
            vec![
                text(saml.authn_context_class.title()),
                text(" ("),
                code(saml.authn_context_class.urn()),
                text(")"),
            ],
        ),
        row(
            "Honor Force Authentication",
            vec![text(if saml.honor_force_authn {
                "Yes"
            } else {
                "No: ForceAuthn is ignored when the browser has an IdP session"
            })],
        ),
        row(
            "Signature Algorithm / Digest Algorithm",
            vec![text(format!(
                "{} / {}",
                match saml.signature_algorithm {
                    SignatureAlgorithm::RsaSha256 => "RSA-SHA256",
                    SignatureAlgorithm::RsaSha1 => "RSA-SHA1",
                },
                match saml.digest_algorithm {
                    DigestAlgorithm::Sha256 => "SHA256",
                    DigestAlgorithm::Sha1 => "SHA1",
                }
            ))],
        ),
        row(
            "Assertion Encryption",
            vec![text(assertion_encryption(saml))],
        ),
        row("SP signatures", vec![text(sp_signatures(saml))]),
        row("Attribute statements", attributes),
        row(
            "Group attribute statement",
            group_statement(app.groups.as_ref()),
        ),
    ]);
    rows
}

/// What a customer shares for Global Token Revocation ("Issuer and Subject Identifier").
fn revocation(
    state: &IdpState,
    g: &crate::config::GlobalTokenRevocation,
    subject_issuer: &str,
    subject: &str,
) -> Vec<Setting> {
    let base = state.conn.idp.base();
    let format = match g.subject_format {
        SubjectFormat::IssSub => vec![
            text("Issuer and Subject Identifier ("),
            code("iss_sub"),
            text("): "),
            code("iss"),
            text(" "),
            code(subject_issuer),
            text(", "),
            code("sub"),
            text(format!(" {subject}")),
        ],
        SubjectFormat::Email => vec![text("Email ("), code("email"), text("): the user's email")],
    };
    vec![
        row(
            "Revocation endpoint (of the SP)",
            vec![code(g.endpoint.as_str())],
        ),
        row("Request issuer (JWT iss)", vec![code(base)]),
        row(
            "Keys that sign the request",
            vec![link(
                state.url(&(discovery::Server::Org.endpoint_prefix() + "/keys")),
            )],
        ),
        row("Subject format", format),
    ]
}

/// Okta's "Refresh token behavior" and the lifetimes, in words.
fn refresh_text(p: &crate::config::RefreshPolicy) -> String {
    let rotation = match p.rotation {
        crate::config::Rotation::Rotate => format!(
            "rotated after every use (grace period {} s)",
            p.grace_period_secs
        ),
        crate::config::Rotation::Static => "persistent (the same token every refresh)".to_owned(),
    };
    let life = p
        .lifetime_secs
        .map_or("unlimited lifetime".to_owned(), |s| {
            format!("lifetime {s} s")
        });
    let idle = p.idle_secs.map_or("never idle-expired".to_owned(), |s| {
        format!("expires if not used every {s} s")
    });
    format!("{rotation}; {life}; {idle}")
}

fn oidc_settings(state: &IdpState, app: &App, oidc: &OidcApp) -> Vec<Setting> {
    let md = discovery::metadata(&state.conn.idp, &oidc.server);
    let uris = |l: &[url::Url]| {
        if l.is_empty() {
            vec![text("none")]
        } else {
            lines(l.iter().map(|u| code(u.as_str())))
        }
    };
    let auth = match oidc.token_auth {
        TokenAuth::ClientSecretBasic => {
            "client_secret_basic (the secret is in the file, not shown here)"
        }
        TokenAuth::ClientSecretPost => {
            "client_secret_post (the secret is in the file, not shown here)"
        }
        TokenAuth::ClientSecretJwt => {
            "client_secret_jwt (a JWT signed with the client secret, which is in the file, not shown here)"
        }
        TokenAuth::PrivateKeyJwt => {
            "private_key_jwt (a JWT signed with the client's private key; its public keys are in the file)"
        }
        TokenAuth::None => "none (a public client: PKCE)",
    };
    let alg = match oidc.signing_alg {
        SigningAlg::RS256 => "RS256",
        SigningAlg::ES256 => "ES256",
    };
    let server = match &oidc.server {
        crate::config::AuthServer::Org => "org".to_owned(),
        crate::config::AuthServer::Custom(id) => format!("custom ({id})"),
    };
    let claims = if oidc.claims.is_empty() {
        vec![text("none besides the standard ones")]
    } else {
        let mut out = Vec::new();
        for (name, f) in &oidc.claims {
            if !out.is_empty() {
                out.push(Part::Break);
            }
            out.extend([code(name), text(" = "), code(field(f))]);
        }
        out
    };
    vec![
        row("Client ID", vec![code(&oidc.client_id)]),
        row("Client authentication", vec![text(auth)]),
        row("Authorization server", vec![text(server)]),
        row("Issuer", vec![code(&md.issuer)]),
        row(
            "Discovery",
            vec![link(
                state.url(&state.conn.idp.discovery_path(&oidc.server)),
            )],
        ),
        row("JWKS", vec![link(&md.jwks_uri)]),
        row("Authorize endpoint", vec![code(&md.authorization_endpoint)]),
        row("Token endpoint", vec![code(&md.token_endpoint)]),
        row("Userinfo endpoint", vec![code(&md.userinfo_endpoint)]),
        row(
            "End session endpoint",
            vec![code(md.end_session_endpoint.as_deref().unwrap_or("none"))],
        ),
        row(
            "Revocation endpoint",
            vec![code(md.revocation_endpoint.as_deref().unwrap_or("none"))],
        ),
        row("Sign-in redirect URIs", uris(&oidc.redirect_uris)),
        row(
            "Sign-out redirect URIs",
            uris(&oidc.post_logout_redirect_uris),
        ),
        row(
            "Back-channel logout URI",
            vec![
                oidc.backchannel_logout_uri
                    .as_ref()
                    .map_or_else(|| text("none"), |u| code(u.as_str())),
            ],
        ),
        row(
            "Login initiated by",
            match &oidc.initiate_login_uri {
                Some(u) => vec![
                    text("Either Okta or App; initiate login URI "),
                    code(u.as_str()),
                ],
                None => vec![text("App Only")],
            },
        ),
        row(
            "Grant types",
            vec![code(crate::oidc::grant_names(&oidc.grant_types))],
        ),
        row("Refresh token", vec![text(refresh_text(&oidc.refresh))]),
        row("id_token signing", vec![text(alg)]),
        row(
            "PKCE",
            vec![text(if oidc.require_pkce {
                "required"
            } else {
                "optional"
            })],
        ),
        row("Claims", claims),
        row("Groups claim", group_statement(app.groups.as_ref())),
    ]
}

/// The vendor this IdP plays, when it is not Okta (`idp.flavor`), as a paragraph: the pages
/// of an Okta file stay as they were.
pub fn flavor_line(state: &IdpState) -> Option<String> {
    let idp = &state.conn.idp;
    let groups = match idp.flavor {
        crate::flavor::Flavor::Okta => return None,
        crate::flavor::Flavor::Entra => {
            "groups are sent by object id (directory.groups, or derived from the name); the \
             users table below names them"
        }
        crate::flavor::Flavor::Keycloak => "groups are sent as full paths (/name)",
        crate::flavor::Flavor::Google => {
            "id_tokens carry no groups (every user gets the default role), and hd when the \
             file names a Workspace domain"
        }
        crate::flavor::Flavor::Auth0 => {
            "groups go in the custom claim an Action sets (a namespaced name, never a \
             restricted one like groups)"
        }
    };
    // Okta-like vendors whose tenant is their host (Auth0), or Google without a domain,
    // name none.
    let tenant = match idp.flavor.tenant_key() {
        Some(key) if !idp.tenant.is_empty() => format!(" ({key} <code>{}</code>)", e(&idp.tenant)),
        _ => String::new(),
    };
    Some(format!(
        "<p id=\"flavor\">Playing <strong>{}</strong>{tenant}: its URLs, issuers and claim \
names; {groups}.</p>",
        e(idp.flavor.title()),
    ))
}

/// What an app sends a user: "sent: A, B; dropped: C".
pub fn sends(app: &App, user: &User) -> String {
    let Some(statement) = &app.groups else {
        return "no group statement".to_owned();
    };
    let sent = match emitted_groups(user, Some(statement)) {
        Some(g) if g.is_empty() => "sent: (empty)".to_owned(),
        Some(g) => format!("sent: {}", g.join(", ")),
        None => "sent: no groups attribute".to_owned(),
    };
    let dropped: Vec<&str> = user
        .groups
        .iter()
        .filter(|g| !statement.filter.passes(g))
        .map(String::as_str)
        .collect();
    if dropped.is_empty() {
        sent
    } else {
        format!("{sent}; dropped: {}", dropped.join(", "))
    }
}

/// A value's parts as the index page shows them.
fn parts_html(parts: &[Part]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text { text } => out.push_str(&e(text)),
            Part::Code { text } => out.push_str(&format!("<code>{}</code>", e(text))),
            Part::Link { url } => {
                out.push_str(&format!("<a href=\"{u}\"><code>{u}</code></a>", u = e(url)))
            }
            Part::Break => out.push_str("<br>"),
            Part::Certificate {
                fingerprint,
                not_after,
                download,
                pem,
            } => out.push_str(&format!(
                "SHA-256 <code class=\"fingerprint\">{}</code>, valid until {} \
(<a href=\"{}\">download</a>)<pre class=\"certificate\">{}</pre>",
                e(fingerprint),
                e(not_after),
                e(download),
                e(pem),
            )),
        }
    }
    out
}

/// A two-column table of settings.
fn table(id: &str, rows: &[Setting]) -> String {
    let mut t = format!("<table id=\"{}\">", e(id));
    for r in rows {
        t.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            e(r.label),
            parts_html(&r.value)
        ));
    }
    t.push_str("</table>");
    t
}

/// An app's "Sign On" tab as the index page shows it.
fn sign_on_html(s: &SignOn) -> String {
    let mut out = table(&format!("app-{}", s.app), &s.settings);
    if !s.revocation.is_empty() {
        out.push_str(&format!(
            "<h4>Global Token Revocation</h4>{}",
            table(&format!("gtr-{}", s.app), &s.revocation)
        ));
    }
    if let Some(url) = &s.idp_initiated {
        out.push_str(&format!(
            "<p><a href=\"{}\">IdP-initiated login</a></p>",
            e(url)
        ));
    }
    out
}

/// `GET /`: what this IdP serves, for a person setting up an SP.
pub async fn index(State(state): State<Arc<IdpState>>) -> Html<String> {
    let mut body = String::new();
    let cert = &state.keys.current.certificate;
    body.push_str(&format!(
        "<p>Signing certificate SHA-256 fingerprint: <code>{}</code>. \
<a href=\"{}\">Inspector</a>: the documents this IdP received and issued.</p>",
        e(&cert.sha256_fingerprint()),
        e(&state.url("/fakta/inspect")),
    ));
    if let Some(line) = flavor_line(&state) {
        body.push_str(&line);
    }
    body.push_str("<h2>Apps</h2>");
    for app in sign_on(&state) {
        body.push_str(&format!(
            "<h3>{} <small>({}, app name <code>{}</code>)</small></h3>{}",
            e(&app.app),
            app.protocol,
            e(&app.name),
            sign_on_html(&app),
        ));
    }
    let users = users(&state);
    body.push_str("<h2>Users</h2><table id=\"users\"><tr><th>id</th><th>login</th><th>name</th><th>groups</th>");
    for app in &users.apps {
        body.push_str(&format!("<th>{}</th>", e(app)));
    }
    body.push_str("</tr>");
    for u in &users.rows {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            e(&u.id),
            e(&u.login),
            e(&u.name),
            e(&u.groups.join(", "))
        ));
        for sent in &u.sends {
            body.push_str(&format!("<td>{}</td>", e(sent)));
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    if users.unlisted > 0 {
        body.push_str(&format!(
            "<p>{} more users are not listed.</p>",
            users.unlisted
        ));
    }
    let recent = state.inspector.newest(RECENT);
    body.push_str(&format!(
        "<h2>Recent documents</h2><p><a href=\"{}\">All of them</a></p><ul id=\"recent\">",
        e(&state.url("/fakta/inspect"))
    ));
    if recent.is_empty() {
        body.push_str("<li>none yet</li>");
    }
    for entry in &recent {
        body.push_str(&format!(
            "<li><a href=\"{}\">#{} {}</a></li>",
            e(&state.url(&inspect::entry_path(entry.seq))),
            entry.seq,
            e(&inspect::headline(entry))
        ));
    }
    body.push_str("</ul>");
    Html(page("fakta IdP", &body))
}
