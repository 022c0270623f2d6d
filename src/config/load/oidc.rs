//! An OIDC app's keys: client, redirect URIs, client authentication, signing, claims and the
//! authorization server.

use std::path::{Path, PathBuf};

use super::super::tree::Node;
use url::Url;

use super::super::files;
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

pub(super) fn oidc_app(sink: &mut Sink, m: &Map<'_>, base_dir: &Path) -> Option<Protocol> {
    let client_id = m.req_string(sink, "client_id", "the OAuth client id, e.g. 0oa1clientid");
    let secret = m.string(sink, "client_secret");
    let (redirect_uris, post_logout) = redirects(sink, m);
    let backchannel = match m.string(sink, "backchannel_logout_uri") {
        Some(s) => Some(url(sink, s)?),
        None => None,
    };
    let methods: Vec<(&str, TokenAuth)> = TokenAuth::ALL.iter().map(|t| (t.name(), *t)).collect();
    let auth = m.choice(sink, "token_endpoint_auth_method", &methods);
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
        (TokenAuth::PrivateKeyJwt, Some(s), _) => sink.error(
            s.pos,
            &s.path,
            "a `private_key_jwt` client proves itself with its key pair, not a secret (Okta keeps no secret for it); remove `client_secret`",
        ),
        (t, None, Some(a)) if t.uses_secret() => sink.error(
            a.pos,
            &a.path,
            "this method needs a `client_secret`",
        ),
        _ => {}
    }
    let (jwks, client_private_key) = client_keys(sink, m, token_auth, base_dir);
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
    let refresh = match m.get("refresh_token") {
        Some(n) => refresh_policy(sink, n, &m.key_path("refresh_token"), token_auth),
        None => Some(RefreshPolicy::default_for(token_auth)),
    };
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
        jwks: jwks?,
        client_private_key: client_private_key?,
        refresh: refresh?,
    }))
}

/// `jwks` (the client's public keys: a file, or an inline JWK set) and `client_private_key`
/// (the reference SP's signing key), both for `private_key_jwt` only (Okta, "Client
/// authentication methods": the app holds the client's public keys; the client signs with its
/// private key).
#[allow(clippy::type_complexity)]
fn client_keys(
    sink: &mut Sink,
    m: &Map<'_>,
    token_auth: TokenAuth,
    base_dir: &Path,
) -> (Option<Vec<ClientKey>>, Option<Option<PathBuf>>) {
    let key_path = m.key_path("jwks");
    let jwks = match m.get("jwks") {
        None => {
            if token_auth == TokenAuth::PrivateKeyJwt {
                sink.error(
                    m.key_pos("token_endpoint_auth_method"),
                    &m.key_path("token_endpoint_auth_method"),
                    "private_key_jwt needs the client's public keys: add `jwks: FILE` (a JWK set) or an inline JWK set `jwks: { keys: [...] }`",
                );
                None
            } else {
                Some(Vec::new())
            }
        }
        Some(_) if token_auth != TokenAuth::PrivateKeyJwt => {
            sink.error(
                m.key_pos("jwks"),
                &key_path,
                format!(
                    "`jwks` holds the keys of a `private_key_jwt` client, but this one uses {}",
                    token_auth.name()
                ),
            );
            None
        }
        Some(n) => {
            let pos = m.key_pos("jwks");
            let set = match n {
                Node::Scalar(s) => {
                    let file = base_dir.join(s.as_str());
                    match files::read_capped(&file, files::MAX_REFERENCED_FILE_BYTES) {
                        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                            .map_err(|e| format!("{}: not JSON: {e}", s.as_str())),
                        Err(e) => Err(e.to_string()),
                    }
                }
                other => Ok(yaml_json(other)),
            };
            match set
                .and_then(|v| crate::oidc::assertion::parse_jwks(&v).map_err(|e| e.to_string()))
            {
                Ok(keys) => Some(keys),
                Err(e) => {
                    sink.error(pos, &key_path, e);
                    None
                }
            }
        }
    };
    let private = match m.string(sink, "client_private_key") {
        None => Some(None),
        Some(k) if token_auth != TokenAuth::PrivateKeyJwt => {
            sink.error(
                k.pos,
                &k.path,
                "`client_private_key` signs a `private_key_jwt` client's assertions; this client uses another method",
            );
            None
        }
        Some(k) => match files::read_private_key(&base_dir.join(&k.value)) {
            Err(e) => {
                sink.error(k.pos, &k.path, e.to_string());
                None
            }
            Ok(key) => {
                if let Some(keys) = &jwks {
                    if !crate::oidc::assertion::holds(keys, &key) {
                        sink.error(
                            k.pos,
                            &k.path,
                            "this private key's public key is not in `jwks`: the IdP would refuse the reference SP's assertions",
                        );
                    }
                }
                if crate::oidc::assertion::alg_of(&key).is_none() {
                    sink.error(
                        k.pos,
                        &k.path,
                        "expected an RSA private key or an EC one on P-256, P-384 or P-521",
                    );
                }
                Some(Some(PathBuf::from(k.value)))
            }
        },
    };
    (jwks, private)
}

/// An inline JWK set as JSON: its members are mappings, sequences and strings (`n`, `e`, `x`,
/// `y`, `kid` are strings), so scalars stay strings. The depth is the file's, written by the
/// user, and JWK sets are three levels deep; deeper nodes are cut off.
fn yaml_json(node: &Node) -> serde_json::Value {
    fn go(node: &Node, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        if depth > 8 {
            return Value::Null;
        }
        match node {
            Node::Scalar(s) => Value::String(s.as_str().to_owned()),
            Node::Sequence(seq) => Value::Array(seq.iter().map(|n| go(n, depth + 1)).collect()),
            Node::Mapping(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), go(v, depth + 1)))
                    .collect(),
            ),
        }
    }
    go(node, 0)
}

/// `refresh_token: { rotation, grace_period_seconds, lifetime_seconds, idle_seconds }`: Okta's
/// "Refresh token behavior" (rotate or persistent), "Grace period for token rotation" (0 to 60
/// seconds, default 30) and the access policy's refresh token lifetime and "expire if not used
/// every" (Okta, "Refresh token rotation"; "Configure an access policy").
fn refresh_policy(
    sink: &mut Sink,
    node: &Node,
    path: &str,
    token_auth: TokenAuth,
) -> Option<RefreshPolicy> {
    let m = Map::new(
        sink,
        node,
        path,
        &[
            "rotation",
            "grace_period_seconds",
            "lifetime_seconds",
            "idle_seconds",
        ],
    )?;
    let default = RefreshPolicy::default_for(token_auth);
    let choices: Vec<(&str, Rotation)> = Rotation::ALL.iter().map(|r| (r.name(), *r)).collect();
    let rotation = m
        .choice(sink, "rotation", &choices)
        .map_or(default.rotation, |r| r.value);
    let grace_key = m.string(sink, "grace_period_seconds");
    if let (Some(s), Rotation::Static) = (&grace_key, rotation) {
        sink.warning(
            s.pos,
            &s.path,
            "a grace period applies to rotated refresh tokens; with `rotation: static` it has no effect",
        );
    }
    let grace = match grace_key {
        None => Some(default.grace_period_secs),
        Some(s) => match s.value.parse::<i64>() {
            Ok(v) if (0..=60).contains(&v) => Some(v),
            _ => {
                sink.error(
                    s.pos,
                    &s.path,
                    format!(
                        "expected a number of seconds from 0 to 60 (Okta's range), found `{}`",
                        s.value
                    ),
                );
                None
            }
        },
    };
    // Okta's lifetimes go up to five years.
    const MAX: i64 = 5 * 365 * 86_400;
    let optional = |sink: &mut Sink, key: &str, default: Option<i64>| match m.get(key) {
        None => Some(default),
        Some(_) => seconds(sink, &m, key, 1, MAX).map(Some),
    };
    let lifetime = optional(sink, "lifetime_seconds", default.lifetime_secs);
    let idle = optional(sink, "idle_seconds", default.idle_secs);
    if let (Some(Some(l)), Some(Some(i))) = (lifetime, idle) {
        if i > l {
            sink.warning(
                m.key_pos("idle_seconds"),
                &m.key_path("idle_seconds"),
                format!(
                    "idle_seconds ({i}) is longer than lifetime_seconds ({l}): the lifetime ends every refresh token first"
                ),
            );
        }
    }
    Some(RefreshPolicy {
        rotation,
        grace_period_secs: grace?,
        lifetime_secs: lifetime?,
        idle_secs: idle?,
    })
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

#[cfg(test)]
mod tests {
    use super::super::super::model::{Rotation, TokenAuth};

    fn load(apps: &str) -> Result<(super::Connection, String), String> {
        let yaml = format!(
            "idp: {{ base_url: http://127.0.0.1:7000 }}\ndirectory:\n  users:\n    - {{ id: 00u1alice, email: alice@acme.test, name: Alice }}\napps:\n{apps}"
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid");
        match crate::config::load_str(&yaml, "t.yaml", &dir) {
            Ok((c, d)) => Ok((c, d.to_string())),
            Err(d) => Err(d.to_string()),
        }
    }

    /// Okta's defaults: a public client rotates, a confidential one keeps its token; 30 s of
    /// grace; unlimited lifetime; 7 days idle.
    #[test]
    fn refresh_defaults_follow_the_client_type() {
        let (c, _) = load(
            "  - { id: spa, protocol: oidc, client_id: s, token_endpoint_auth_method: none, redirect_uris: [http://127.0.0.1:7200/cb] }\n  - { id: web, protocol: oidc, client_id: w, client_secret: x, redirect_uris: [http://127.0.0.1:7100/cb] }\n",
        )
        .unwrap();
        let policy = |i: usize| c.apps[i].oidc().unwrap().refresh;
        assert_eq!(policy(0).rotation, Rotation::Rotate);
        assert_eq!(policy(1).rotation, Rotation::Static);
        assert_eq!(policy(1).grace_period_secs, 30);
        assert_eq!(policy(1).lifetime_secs, None);
        assert_eq!(policy(1).idle_secs, Some(604_800));
    }

    #[test]
    fn a_grace_period_without_rotation_and_an_idle_time_past_the_lifetime_are_warned() {
        let (c, warnings) = load(
            "  - id: web\n    protocol: oidc\n    client_id: w\n    client_secret: x\n    redirect_uris: [http://127.0.0.1:7100/cb]\n    refresh_token: { rotation: static, grace_period_seconds: 10, lifetime_seconds: 60, idle_seconds: 120 }\n",
        )
        .unwrap();
        assert!(
            warnings.contains("with `rotation: static` it has no effect"),
            "{warnings}"
        );
        assert!(
            warnings.contains("idle_seconds (120) is longer than lifetime_seconds (60)"),
            "{warnings}"
        );
        assert_eq!(c.apps[0].oidc().unwrap().refresh.lifetime_secs, Some(60));
    }

    /// A JWK set inline or from a file; the reference SP's key must be one of its keys.
    #[test]
    fn jwks_load_inline_and_from_a_file() {
        let (c, _) = load(
            "  - id: m2m\n    protocol: oidc\n    client_id: m\n    redirect_uris: [http://127.0.0.1:7100/cb]\n    token_endpoint_auth_method: private_key_jwt\n    jwks: client-jwks.json\n    client_private_key: client-ec.pem\n",
        )
        .unwrap();
        let o = c.apps[0].oidc().unwrap();
        assert_eq!(o.token_auth, TokenAuth::PrivateKeyJwt);
        assert_eq!(o.jwks.len(), 2);
        assert_eq!(o.jwks[0].kid.as_deref(), Some("client-rsa"));
        let e = load(
            "  - id: m2m\n    protocol: oidc\n    client_id: m\n    redirect_uris: [http://127.0.0.1:7100/cb]\n    token_endpoint_auth_method: private_key_jwt\n    jwks: { keys: [ { kty: RSA, n: AQAB, e: AQAB } ] }\n",
        )
        .unwrap_err();
        assert!(e.contains("apps[0].jwks: key 0: an RSA key of"), "{e}");
    }
}
