//! An OIDC app's keys: client, redirect URIs, client authentication, signing, claims and the
//! authorization server.

use marked_yaml::Node;
use url::Url;

use super::super::model::*;
use super::super::reader::{Map, Pos, Sink, join};
use super::app::attribute_statements;
use super::values::{seconds, slug, url};

/// The sign-in redirect URIs (at least one) and the post-logout ones (possibly none).
fn redirects(sink: &mut Sink, m: &Map<'_>) -> (Option<Vec<Url>>, Option<Vec<Url>>) {
    let redirect_uris = match m.get("redirect_uris") {
        Some(_) => redirect_list(sink, m, "redirect_uris"),
        None => {
            sink.error(
                m.pos,
                &m.path,
                "missing key `redirect_uris`: expected the list of the app's sign-in redirect URIs",
            );
            None
        }
    };
    if let Some(list) = &redirect_uris {
        if list.is_empty() {
            sink.error(
                m.pos,
                &m.key_path("redirect_uris"),
                "expected at least one sign-in redirect URI",
            );
        }
    }
    let post_logout = match m.get("post_logout_redirect_uris") {
        Some(_) => redirect_list(sink, m, "post_logout_redirect_uris"),
        None => Some(Vec::new()),
    };
    (redirect_uris, post_logout)
}

/// A list of redirect URIs: absolute URLs without a fragment (RFC 6749 §3.1.2: the IdP appends
/// its answer to the URI, and a fragment would swallow it). Every bad item is reported.
fn redirect_list(sink: &mut Sink, m: &Map<'_>, key: &str) -> Option<Vec<Url>> {
    let items = m.strings(sink, key)?;
    let before = sink.found.len();
    let mut out = Vec::new();
    for s in items {
        let (pos, path) = (s.pos, s.path.clone());
        let Some(u) = url(sink, s) else { continue };
        if let Some(fragment) = u.fragment() {
            sink.error(
                pos,
                &path,
                format!(
                    "a redirect URI must not have a fragment (`#{fragment}`): the IdP adds its answer to the URI (RFC 6749 section 3.1.2)"
                ),
            );
            continue;
        }
        out.push(u);
    }
    (sink.found.len() == before).then_some(out)
}

pub(super) fn oidc_app(sink: &mut Sink, m: &Map<'_>) -> Option<Protocol> {
    let client_id = m.req_string(sink, "client_id", "the OAuth client id, e.g. 0oa1clientid");
    let secret = m.string(sink, "client_secret");
    let (redirect_uris, post_logout) = redirects(sink, m);
    let backchannel = match m.string(sink, "backchannel_logout_uri") {
        Some(s) => Some(url(sink, s)?),
        None => None,
    };
    let auth = m.choice(
        sink,
        "token_endpoint_auth_method",
        &[
            ("client_secret_basic", TokenAuth::ClientSecretBasic),
            ("client_secret_post", TokenAuth::ClientSecretPost),
            ("none", TokenAuth::None),
        ],
    );
    let token_auth = match (&auth, &secret) {
        (Some(a), _) => a.value,
        (None, Some(_)) => TokenAuth::ClientSecretBasic,
        (None, None) => TokenAuth::None,
    };
    match (token_auth, &secret, &auth) {
        (TokenAuth::None, Some(s), _) => sink.error(
            s.pos,
            &s.path,
            "a public client (`token_endpoint_auth_method: none`) has no client secret; remove it or choose client_secret_basic / client_secret_post",
        ),
        (TokenAuth::ClientSecretBasic | TokenAuth::ClientSecretPost, None, Some(a)) => sink.error(
            a.pos,
            &a.path,
            "this method needs a `client_secret`",
        ),
        _ => {}
    }
    let signing_alg = m
        .choice(
            sink,
            "signing_alg",
            &[("RS256", SigningAlg::RS256), ("ES256", SigningAlg::ES256)],
        )
        .map(|a| a.value)
        .unwrap_or(SigningAlg::RS256);
    let claims = match m.get("claims") {
        Some(n) => attribute_statements(sink, n, &m.key_path("claims")),
        None => vec![
            ("email".to_owned(), UserField::Email),
            ("name".to_owned(), UserField::Name),
            ("preferred_username".to_owned(), UserField::Login),
        ],
    };
    if let Some(map) = m.get("claims").and_then(Node::as_mapping) {
        for key in map.keys() {
            if RESERVED_CLAIMS.contains(&key.as_str()) {
                sink.error(
                    Pos::of(key.span()),
                    &join(&m.key_path("claims"), key.as_str()),
                    format!(
                        "`{}` is set by the IdP itself and cannot be a claim statement",
                        key.as_str()
                    ),
                );
            }
        }
    }
    let server = match m.string(sink, "authorization_server") {
        Some(s) if s.value == "org" => AuthServer::Org,
        Some(s) => match slug(sink, Some(s)) {
            Some(id) => AuthServer::Custom(id.value),
            None => return None,
        },
        None => AuthServer::Org,
    };
    let require_pkce =
        m.bool(sink, "require_pkce").unwrap_or(false) || token_auth == TokenAuth::None;
    // "Login initiated by: Either Okta or App", "Redirect to app to initiate login (OIDC
    // Compliant)": Okta's tile redirects to the client's `initiate_login_uri` (Okta help, "Create
    // OpenID Connect app integrations"; OIDC Core §4). The URI takes the IdP's query parameters,
    // so, like a redirect URI, it has no fragment.
    let initiate_login_uri = match m.string(sink, "initiate_login_uri") {
        Some(s) => {
            let (pos, path) = (s.pos, s.path.clone());
            let u = url(sink, s)?;
            if let Some(fragment) = u.fragment() {
                sink.error(
                    pos,
                    &path,
                    format!(
                        "the initiate login URI must not have a fragment (`#{fragment}`): the IdP adds `iss` to its query (OpenID Connect Core section 4)"
                    ),
                );
                return None;
            }
            Some(u)
        }
        None => None,
    };
    let grant_types = grant_types(sink, m, token_auth, &server);
    let wildcard_redirect = wildcards(sink, m, redirect_uris.as_deref().unwrap_or_default());
    let access = seconds(sink, m, "access_token_lifetime_secs", 3600, 86_400);
    let id_life = seconds(sink, m, "id_token_lifetime_secs", 3600, 86_400);
    Some(Protocol::Oidc(OidcApp {
        client_id: client_id?.value,
        client_secret: secret.map(|s| Secret::new(s.value)),
        redirect_uris: redirect_uris?,
        post_logout_redirect_uris: post_logout?,
        backchannel_logout_uri: backchannel,
        token_auth,
        signing_alg,
        claims,
        server,
        require_pkce,
        access_token_lifetime_secs: access?,
        id_token_lifetime_secs: id_life?,
        initiate_login_uri,
        grant_types: grant_types?,
        wildcard_redirect,
    }))
}

/// Okta's "Allow wildcard * in sign-in URI redirect": off by default. With it off, a `*` in a
/// redirect URI's host would never match (an error); with it on, each wildcard URI is a
/// warning: any subdomain of that domain receives codes, so all of them must be trusted.
fn wildcards(sink: &mut Sink, m: &Map<'_>, uris: &[Url]) -> bool {
    let on = m.bool(sink, "wildcard_redirect").unwrap_or(false);
    for (i, u) in uris.iter().enumerate() {
        let host = u.host_str().unwrap_or_default();
        if !host.contains('*') {
            continue;
        }
        let path = super::super::reader::index(&m.key_path("redirect_uris"), i);
        let pos = m.key_pos("redirect_uris");
        let one_label = host
            .strip_prefix("*.")
            .is_some_and(|rest| !rest.contains('*') && rest.contains('.'));
        if !one_label {
            sink.error(
                pos,
                &path,
                format!(
                    "`{host}`: a wildcard must be the whole first label of a host with at least two more, as in `*.example.com`"
                ),
            );
        } else if !on {
            sink.error(
                pos,
                &path,
                format!(
                    "`{u}` has a wildcard, but the app does not allow them: set `wildcard_redirect: true` (Okta's \"Allow wildcard * in sign-in URI redirect\"), or list each URI"
                ),
            );
        } else {
            sink.warning(
                pos,
                &path,
                format!(
                    "`{u}`: every subdomain of `{}` receives this app's codes; each of them must be as trusted as the app",
                    &host[2..]
                ),
            );
        }
    }
    on
}

/// Okta's "Grant type" checkboxes (default: authorization code and refresh token). A client
/// credentials grant is for confidential clients only (RFC 6749 §4.4: "MUST only be used by
/// confidential clients") and, in Okta, on a custom authorization server: its scopes are the
/// server's custom scopes (Okta, "Implement the Client Credentials flow").
fn grant_types(
    sink: &mut Sink,
    m: &Map<'_>,
    token_auth: TokenAuth,
    server: &AuthServer,
) -> Option<Vec<GrantType>> {
    if m.get("grant_types").is_none() {
        return Some(GrantType::DEFAULT.to_vec());
    }
    let choices: Vec<(&str, GrantType)> = GrantType::ALL.iter().map(|g| (g.name(), *g)).collect();
    let items = m.strings(sink, "grant_types")?;
    let before = sink.found.len();
    let mut out: Vec<GrantType> = Vec::new();
    for s in items {
        let (pos, path) = (s.pos, s.path.clone());
        let Some(g) = super::super::reader::choice(sink, s, &choices) else {
            continue;
        };
        if out.contains(&g.value) {
            sink.error(pos, &path, format!("`{}` is listed twice", g.value.name()));
            continue;
        }
        if g.value == GrantType::ClientCredentials {
            if token_auth == TokenAuth::None {
                sink.error(
                    pos,
                    &path,
                    "client_credentials is for confidential clients (RFC 6749 section 4.4): give the app a `client_secret`, or remove the grant",
                );
            } else if *server == AuthServer::Org {
                sink.error(
                    pos,
                    &path,
                    "Okta issues client_credentials tokens for custom scopes on a custom authorization server, not the org server: set `authorization_server`",
                );
            }
        }
        out.push(g.value);
    }
    if sink.found.len() != before {
        return None;
    }
    if out.is_empty() {
        sink.error(
            m.key_pos("grant_types"),
            &m.key_path("grant_types"),
            "expected at least one grant type",
        );
        return None;
    }
    Some(out)
}

/// Claims the IdP sets itself; a claim statement may not override them.
pub(crate) const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "jti",
    "amr",
    "idp",
    "ver",
    "nbf",
    "azp",
];
