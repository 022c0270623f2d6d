//! The claims of Okta-shaped tokens: id_token, access token (a JWT too) and userinfo. Pure:
//! instants and identifiers are arguments.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::jwt::half_hash;
use crate::config::{App, Connection, OidcApp, User};
use crate::directory::emitted_groups;
use crate::flavor::{Groups, TokenKind, groups_in_token};

/// What a set of tokens is about.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// The connection: its flavor decides how groups are written and the vendor's claims.
    pub conn: &'a Connection,
    pub issuer: &'a str,
    pub app: &'a App,
    pub oidc: &'a OidcApp,
    pub user: &'a User,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: OffsetDateTime,
    /// The IdP session id (`sid`).
    pub sid: &'a str,
    /// Claim names to leave out (a scenario's `emit.omit_attributes`).
    pub omit: &'a [String],
    /// Groups as full paths whatever the app's setting (a scenario's `emit`; Keycloak).
    pub full_group_paths: bool,
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// The user's profile claims for this app: the claim statements, `email_verified` with an
/// email, and the filtered groups (absent or empty as the group statement says).
pub fn profile_claims(g: &Grant<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, field) in &g.oidc.claims {
        if let Some(v) = g.user.field(field) {
            out.insert(name.clone(), json!(v));
        }
    }
    if out.contains_key("email") {
        out.insert("email_verified".into(), json!(true));
    }
    if let Some(statement) = &g.app.groups {
        if let Some(passing) = emitted_groups(g.user, Some(statement)) {
            let (idp, directory) = (&g.conn.idp, &g.conn.directory);
            let full_path = statement.full_path || g.full_group_paths;
            match groups_in_token(idp, directory, g.user, &passing, TokenKind::Jwt, full_path) {
                Groups::Listed(values) => {
                    out.insert(statement.attribute.clone(), json!(values));
                }
                // Too many groups (Entra's overage): an OIDC Core §5.6.2 distributed claim,
                // whose source is where the client fetches them.
                Groups::Overage { link } => {
                    out.insert(
                        "_claim_names".into(),
                        json!({ statement.attribute.clone(): "src1" }),
                    );
                    out.insert(
                        "_claim_sources".into(),
                        json!({ "src1": { "endpoint": link } }),
                    );
                }
            }
        }
    }
    out.retain(|k, _| !g.omit.iter().any(|o| o == k));
    out
}

/// id_token claims (OIDC Core 2), with `at_hash` when an access token goes with it.
pub fn id_token_claims(
    g: &Grant<'_>,
    now: OffsetDateTime,
    jti: &str,
    access_token: Option<&str>,
) -> Map<String, Value> {
    front_channel_id_token_claims(g, now, jti, access_token, None)
}

/// id_token claims with `at_hash` when an access token goes with it and `c_hash` when a code
/// does (OIDC Core §3.3.2.11: both REQUIRED for an id_token the authorization endpoint returns
/// beside them; §3.2.2.10 `at_hash` in the implicit flow).
pub fn front_channel_id_token_claims(
    g: &Grant<'_>,
    now: OffsetDateTime,
    jti: &str,
    access_token: Option<&str>,
    code: Option<&str>,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("ver".into(), json!(1));
    c.insert("jti".into(), json!(jti));
    c.insert("iss".into(), json!(g.issuer));
    c.insert(
        "sub".into(),
        json!(g.conn.idp.subject(g.user, &g.oidc.client_id)),
    );
    c.insert("aud".into(), json!(g.oidc.client_id));
    c.insert("iat".into(), json!(unix(now)));
    c.insert(
        "exp".into(),
        json!(unix(now) + g.oidc.id_token_lifetime_secs),
    );
    c.insert("auth_time".into(), json!(unix(g.auth_time)));
    c.insert("amr".into(), json!(["pwd"]));
    c.insert("idp".into(), json!(g.issuer));
    c.insert("sid".into(), json!(g.sid));
    if let Some(n) = g.nonce {
        c.insert("nonce".into(), json!(n));
    }
    if let Some(at) = access_token {
        c.insert("at_hash".into(), json!(half_hash(at)));
    }
    if let Some(code) = code {
        c.insert("c_hash".into(), json!(half_hash(code)));
    }
    for (k, v) in profile_claims(g) {
        c.insert(k, v);
    }
    // The vendor's own claims (Entra's `oid`, `tid`, `ver` 2.0, ...); none for Okta.
    g.conn
        .idp
        .vendor()
        .id_token_claims(&g.conn.idp, g.user, &mut c);
    c.retain(|k, _| !g.omit.iter().any(|o| o == k));
    c
}

/// Access token claims, as Okta's JWT access tokens carry them.
pub fn access_token_claims(
    g: &Grant<'_>,
    audience: &str,
    now: OffsetDateTime,
    jti: &str,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("ver".into(), json!(1));
    c.insert("jti".into(), json!(jti));
    c.insert("iss".into(), json!(g.issuer));
    c.insert("aud".into(), json!(audience));
    c.insert("iat".into(), json!(unix(now)));
    c.insert(
        "exp".into(),
        json!(unix(now) + g.oidc.access_token_lifetime_secs),
    );
    c.insert("cid".into(), json!(g.oidc.client_id));
    c.insert("uid".into(), json!(g.user.id));
    c.insert("scp".into(), json!(g.scopes));
    c.insert("auth_time".into(), json!(unix(g.auth_time)));
    c.insert("sub".into(), json!(g.user.login));
    c
}

/// A client_credentials access token: Okta's shape, with the client as `sub` and no user
/// (`uid`, `auth_time` absent).
pub fn client_access_token_claims(
    issuer: &str,
    audience: &str,
    oidc: &OidcApp,
    scopes: &[String],
    now: OffsetDateTime,
    jti: &str,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("ver".into(), json!(1));
    c.insert("jti".into(), json!(jti));
    c.insert("iss".into(), json!(issuer));
    c.insert("aud".into(), json!(audience));
    c.insert("iat".into(), json!(unix(now)));
    c.insert(
        "exp".into(),
        json!(unix(now) + oidc.access_token_lifetime_secs),
    );
    c.insert("cid".into(), json!(oidc.client_id));
    c.insert("scp".into(), json!(scopes));
    c.insert("sub".into(), json!(oidc.client_id));
    c
}

/// The userinfo answer: `sub` and the profile claims.
pub fn userinfo_claims(g: &Grant<'_>) -> Map<String, Value> {
    let mut c = profile_claims(g);
    // OIDC Core §5.3.2: the same `sub` as the id_token's.
    c.insert(
        "sub".into(),
        json!(g.conn.idp.subject(g.user, &g.oidc.client_id)),
    );
    c
}
