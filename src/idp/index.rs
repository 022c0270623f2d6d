//! The index page (`GET /`): for every app, what Okta's "Sign On" tab shows an administrator
//! and what a customer shares with the SP's team (SAML: SSO URL, issuer, certificate, SLO URL,
//! Global Token Revocation issuer and subject format; OIDC: client id, issuer, endpoints,
//! redirect URIs, auth method), the users with the groups each app sends them after its filter
//! (and the ones it drops), and the inspector's newest entries.
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
    App, GroupStatement, NameIdFormat, OidcApp, SamlApp, SignWhat, SigningAlg, SpMessage,
    SubjectFormat, TokenAuth, User, UserField, WhenNone,
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

/// A two-column table from (label, HTML) rows; the values are escaped by the caller.
fn table(id: &str, rows: &[(&str, String)]) -> String {
    let mut t = format!("<table id=\"{}\">", e(id));
    for (label, html) in rows {
        t.push_str(&format!("<tr><th>{}</th><td>{html}</td></tr>", e(label)));
    }
    t.push_str("</table>");
    t
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", e(s))
}

fn link(url: &str) -> String {
    format!("<a href=\"{u}\"><code>{u}</code></a>", u = e(url))
}

fn group_statement(g: Option<&GroupStatement>) -> String {
    match g {
        Some(g) => format!(
            "{} filtered by {}{}",
            code(&g.attribute),
            code(&g.filter.to_string()),
            match g.when_none {
                WhenNone::Absent => ", left out when no group passes",
                WhenNone::Empty => ", empty when no group passes",
            }
        ),
        None => "none (no groups are sent)".to_owned(),
    }
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

/// Okta's checkbox, and the URLs when it is cleared.
fn recipient_and_destination(saml: &SamlApp) -> String {
    if saml.recipient_url.is_none() && saml.destination_url.is_none() {
        return "Yes: both are the ACS URL the Response is posted to".to_owned();
    }
    let url = |u: &Option<String>| u.as_deref().map_or_else(|| "the ACS URL".to_owned(), code);
    format!(
        "No: Recipient URL {}, Destination URL {}",
        url(&saml.recipient_url),
        url(&saml.destination_url)
    )
}

fn saml_section(state: &IdpState, app: &App, saml: &SamlApp) -> String {
    let cert = &state.keys.current.certificate;
    let sso = state.url(&IdpState::sso_path(app));
    let mut rows = vec![
        ("Identity Provider Single Sign-On URL", code(&sso)),
        ("Identity Provider Issuer", code(&saml.issuer)),
        (
            "IdP metadata",
            link(&state.url(&IdpState::metadata_path(app))),
        ),
        (
            "X.509 Certificate",
            format!(
                "SHA-256 <code class=\"fingerprint\">{}</code>, valid until {} \
(<a href=\"{}\">download</a>)<pre class=\"certificate\">{}</pre>",
                e(&cert.sha256_fingerprint()),
                e(&cert.not_after()),
                e(&state.url(&certificate_path(app))),
                e(&cert.pem()),
            ),
        ),
    ];
    if app.logout.is_some() {
        rows.push((
            "Identity Provider Single Logout URL",
            code(&state.url(&super::slo::slo_path(app))),
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
        "none".to_owned()
    } else {
        saml.attributes
            .iter()
            .map(|a| {
                format!(
                    "{} = {} ({})",
                    code(&a.name),
                    code(&field(&a.field)),
                    e(a.name_format.title())
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    rows.extend([
        (
            "Single sign-on URL (ACS, of the SP)",
            code(saml.acs_url.as_str()),
        ),
        (
            "Use this for Recipient URL and Destination URL",
            recipient_and_destination(saml),
        ),
        (
            "Other Requestable SSO URLs",
            if saml.other_sso_urls.is_empty() {
                "none".to_owned()
            } else {
                saml.other_sso_urls
                    .iter()
                    .map(|o| format!("{} (index {})", code(o.url.as_str()), o.index))
                    .collect::<Vec<_>>()
                    .join("<br>")
            },
        ),
        ("Audience URI (SP Entity ID)", code(&saml.audience)),
        (
            "Name ID",
            format!(
                "{} = {}",
                code(name_id),
                code(&saml.name_id.value.describe())
            ),
        ),
        ("Signed", e(signed)),
        (
            "Authentication context class",
            format!(
                "{} ({})",
                e(saml.authn_context_class.title()),
                code(saml.authn_context_class.urn())
            ),
        ),
        (
            "Honor Force Authentication",
            e(if saml.honor_force_authn {
                "Yes"
            } else {
                "No: ForceAuthn is ignored when the browser has an IdP session"
            }),
        ),
        ("SP signatures", e(&sp_signatures(saml))),
        ("Attribute statements", attributes),
        (
            "Group attribute statement",
            group_statement(app.groups.as_ref()),
        ),
    ]);
    let mut out = table(&format!("app-{}", app.id), &rows);
    if let Some(g) = &app.global_token_revocation {
        out.push_str(&revocation(state, app, g, &saml.issuer, "the NameID"));
    }
    if saml.allow_idp_initiated {
        out.push_str(&format!(
            "<p><a href=\"{}\">IdP-initiated login</a></p>",
            e(&sso)
        ));
    }
    out
}

/// What a customer shares for Global Token Revocation ("Issuer and Subject Identifier").
fn revocation(
    state: &IdpState,
    app: &App,
    g: &crate::config::GlobalTokenRevocation,
    subject_issuer: &str,
    subject: &str,
) -> String {
    let base = state.conn.idp.base();
    let format = match g.subject_format {
        SubjectFormat::IssSub => format!(
            "Issuer and Subject Identifier (<code>iss_sub</code>): <code>iss</code> {}, \
<code>sub</code> {}",
            code(subject_issuer),
            e(subject)
        ),
        SubjectFormat::Email => "Email (<code>email</code>): the user's email".to_owned(),
    };
    format!(
        "<h4>Global Token Revocation</h4>{}",
        table(
            &format!("gtr-{}", app.id),
            &[
                ("Revocation endpoint (of the SP)", code(g.endpoint.as_str())),
                ("Request issuer (JWT iss)", code(base)),
                (
                    "Keys that sign the request",
                    link(&state.url(&(discovery::Server::Org.endpoint_prefix() + "/keys")))
                ),
                ("Subject format", format),
            ],
        )
    )
}

fn oidc_section(state: &IdpState, app: &App, oidc: &OidcApp) -> String {
    let base = state.conn.idp.base();
    let md = discovery::metadata(&oidc.server, base);
    let uris = |l: &[url::Url]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            l.iter()
                .map(|u| code(u.as_str()))
                .collect::<Vec<_>>()
                .join("<br>")
        }
    };
    let auth = match oidc.token_auth {
        TokenAuth::ClientSecretBasic => {
            "client_secret_basic (the secret is in the file, not shown here)"
        }
        TokenAuth::ClientSecretPost => {
            "client_secret_post (the secret is in the file, not shown here)"
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
        "none besides the standard ones".to_owned()
    } else {
        oidc.claims
            .iter()
            .map(|(name, f)| format!("{} = {}", code(name), code(&field(f))))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let rows = vec![
        ("Client ID", code(&oidc.client_id)),
        ("Client authentication", e(auth)),
        ("Authorization server", e(&server)),
        ("Issuer", code(&md.issuer)),
        ("Discovery", link(&state.url(&oidc.server.discovery_path()))),
        ("JWKS", link(&md.jwks_uri)),
        ("Authorize endpoint", code(&md.authorization_endpoint)),
        ("Token endpoint", code(&md.token_endpoint)),
        ("Userinfo endpoint", code(&md.userinfo_endpoint)),
        ("End session endpoint", code(&md.end_session_endpoint)),
        ("Revocation endpoint", code(&md.revocation_endpoint)),
        ("Sign-in redirect URIs", uris(&oidc.redirect_uris)),
        (
            "Sign-out redirect URIs",
            uris(&oidc.post_logout_redirect_uris),
        ),
        (
            "Back-channel logout URI",
            oidc.backchannel_logout_uri
                .as_ref()
                .map_or_else(|| "none".to_owned(), |u| code(u.as_str())),
        ),
        ("id_token signing", e(alg)),
        (
            "PKCE",
            e(if oidc.require_pkce {
                "required"
            } else {
                "optional"
            }),
        ),
        ("Claims", claims),
        ("Groups claim", group_statement(app.groups.as_ref())),
    ];
    let mut out = table(&format!("app-{}", app.id), &rows);
    if let Some(g) = &app.global_token_revocation {
        out.push_str(&revocation(state, app, g, &md.issuer, "the user id"));
    }
    out
}

/// What an app sends a user: "sent: A, B; dropped: C".
fn sends(app: &App, user: &User) -> String {
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
    body.push_str("<h2>Apps</h2>");
    for app in &state.conn.apps {
        let (protocol, section) = match (app.saml(), app.oidc()) {
            (Some(saml), _) => ("SAML 2.0", saml_section(&state, app, saml)),
            (_, Some(oidc)) => ("OpenID Connect", oidc_section(&state, app, oidc)),
            _ => continue,
        };
        body.push_str(&format!(
            "<h3>{} <small>({protocol}, app name <code>{}</code>)</small></h3>{section}",
            e(&app.id),
            e(&app.name),
        ));
    }
    let apps_with_groups: Vec<&App> = state
        .conn
        .apps
        .iter()
        .filter(|a| a.groups.is_some())
        .collect();
    body.push_str("<h2>Users</h2><table id=\"users\"><tr><th>id</th><th>login</th><th>name</th><th>groups</th>");
    for app in &apps_with_groups {
        body.push_str(&format!("<th>{}</th>", e(&app.id)));
    }
    body.push_str("</tr>");
    for u in state.directory.all() {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            e(&u.id),
            e(&u.login),
            e(u.name.as_deref().unwrap_or("")),
            e(&u.groups.join(", "))
        ));
        for app in &apps_with_groups {
            body.push_str(&format!("<td>{}</td>", e(&sends(app, &u))));
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
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
