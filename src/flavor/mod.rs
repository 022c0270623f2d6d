//! Other IdPs' shapes (`idp.flavor`): what changes when fakta plays Microsoft Entra ID,
//! Keycloak, Google or Auth0 instead of Okta. Each vendor's facts live in one module (`okta`,
//! `entra`, `keycloak`, `google`, `auth0`), behind the [`Vendor`] trait: URL layout and issuers, SAML attribute names and
//! NameID defaults, id_token claim names, how a group is written in a token, and the group
//! overage. Every fact is cited next to the code that emits it; a fact that could not be
//! checked against the vendor's documentation is left out (Okta's behaviour stays).
//!
//! Okta is exactly what fakta did before flavors: every Okta method returns today's value.

pub mod auth0;
pub mod entra;
pub mod google;
pub mod keycloak;
pub mod okta;

use serde_json::{Map, Value};

use crate::config::{AuthServer, Directory, Idp, NameIdSpec, SamlAttribute, User};

/// The IdP vendor a connection file plays (`idp.flavor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::VariantArray)]
pub enum Flavor {
    #[default]
    Okta,
    Entra,
    Keycloak,
    Google,
    Auth0,
}

impl Flavor {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;

    /// Its name in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Okta => "okta",
            Flavor::Entra => "entra",
            Flavor::Keycloak => "keycloak",
            Flavor::Google => "google",
            Flavor::Auth0 => "auth0",
        }
    }

    /// The vendor's product name, for pages and reports.
    pub fn title(self) -> &'static str {
        match self {
            Flavor::Okta => "Okta",
            Flavor::Entra => "Microsoft Entra ID",
            Flavor::Keycloak => "Keycloak",
            Flavor::Google => "Google",
            Flavor::Auth0 => "Auth0",
        }
    }

    /// The file's key naming the vendor's tenant (`idp.tenant` for Entra, `idp.realm` for
    /// Keycloak, `idp.domain` for Google: the Workspace domain sent as `hd`); Okta and Auth0
    /// have none (an org, an Auth0 tenant, is its own host: the base URL).
    pub fn tenant_key(self) -> Option<&'static str> {
        match self {
            Flavor::Okta | Flavor::Auth0 => None,
            Flavor::Entra => Some("tenant"),
            Flavor::Keycloak => Some("realm"),
            Flavor::Google => Some("domain"),
        }
    }

    /// The tenant when the file names none.
    pub fn default_tenant(self) -> &'static str {
        match self {
            // Google without a Workspace domain: a consumer account, no `hd`.
            Flavor::Okta | Flavor::Google | Flavor::Auth0 => "",
            Flavor::Entra => entra::DEFAULT_TENANT,
            Flavor::Keycloak => keycloak::DEFAULT_REALM,
        }
    }

    pub fn parse(s: &str) -> Option<Flavor> {
        Flavor::ALL.iter().copied().find(|f| f.name() == s)
    }

    /// The vendor's facts.
    pub fn vendor(self) -> &'static dyn Vendor {
        match self {
            Flavor::Okta => &okta::Okta,
            Flavor::Entra => &entra::Entra,
            Flavor::Keycloak => &keycloak::Keycloak,
            Flavor::Google => &google::Google,
            Flavor::Auth0 => &auth0::Auth0,
        }
    }
}

/// An OAuth/OIDC endpoint of an authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Endpoint {
    Authorize,
    Token,
    Userinfo,
    Keys,
    Logout,
    Revoke,
    Introspect,
}

impl Endpoint {
    pub const ALL: &'static [Self] = <Self as strum::VariantArray>::VARIANTS;
}

/// Where a SAML app's endpoints are, as paths on fakta's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlPaths {
    /// The SingleSignOnService (both bindings).
    pub sso: String,
    /// The SingleLogoutService.
    pub slo: String,
    /// The IdP metadata (may carry a query: Entra's `?appid=`).
    pub metadata: String,
    /// Where a browser starts an IdP-initiated login (the app's tile).
    pub idp_initiated: String,
}

impl SamlPaths {
    /// The metadata path without its query, for routing.
    pub fn metadata_route(&self) -> &str {
        self.metadata.split('?').next().unwrap_or_default()
    }

    /// Whether the SSO and SLO endpoints are one for the whole tenant (Entra, Keycloak), so
    /// the app is told by the message's Issuer rather than by the path.
    pub fn shared(idp: &Idp) -> bool {
        idp.vendor().saml_tenant_wide()
    }
}

/// Which kind of token a group list goes into: the overage limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Saml,
    Jwt,
}

/// What a token carries for a user's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// The group statement's values, as the vendor writes them.
    Listed(Vec<String>),
    /// Too many groups for the token: no list, a link to fetch them from (Entra's overage).
    Overage { link: String },
}

/// SAML attributes named by claim URIs, NameFormat unspecified: Entra ID's and Auth0's
/// default attribute statements.
pub(crate) fn claim_attributes<const N: usize>(
    list: [(&str, crate::config::UserField); N],
) -> Vec<SamlAttribute> {
    list.into_iter()
        .map(|(name, field)| SamlAttribute {
            name: name.to_owned(),
            field,
            name_format: crate::config::AttrNameFormat::Unspecified,
        })
        .collect()
}

/// One vendor's facts. Okta's methods return what fakta always did.
pub trait Vendor: Sync {
    /// The SAML IdP entity id (the Issuer) of an app whose file sets none.
    fn saml_issuer(&self, idp: &Idp, app_id: &str) -> String;
    /// The OIDC issuer of an authorization server.
    fn oidc_issuer(&self, idp: &Idp, server: &AuthServer) -> String;
    /// The path of an endpoint of an authorization server; None when the vendor has none.
    fn oidc_path(&self, idp: &Idp, server: &AuthServer, endpoint: Endpoint) -> Option<String>;
    /// Where the endpoints of the SAML app `id` (named `name` in Okta's URLs) are. Okta's
    /// layout: one set per app.
    fn saml_paths(&self, _idp: &Idp, name: &str, id: &str) -> SamlPaths {
        okta::saml_paths(name, id)
    }
    /// Why this vendor's SAML apps are not played (fakta then uses Okta's SAML shape for them):
    /// None when they are.
    fn saml_not_played(&self) -> Option<&'static str> {
        None
    }
    /// Whether one SAML endpoint serves every app of the tenant or realm (Entra's, Keycloak's),
    /// the app told by the message's Issuer; Okta's layout (every other vendor's here) has one
    /// per app.
    fn saml_tenant_wide(&self) -> bool {
        false
    }
    /// Whether the IdP metadata lists the HTTP-Redirect binding only (Entra's), rather than
    /// HTTP-POST and HTTP-Redirect.
    fn saml_redirect_binding_only(&self) -> bool {
        false
    }
    /// The path of the discovery document.
    fn discovery_path(&self, idp: &Idp, server: &AuthServer) -> String;
    /// The NameID of an app whose file sets none.
    fn default_name_id(&self) -> NameIdSpec;
    /// The attribute statements of an app whose file lists none.
    fn default_saml_attributes(&self) -> Vec<SamlAttribute>;
    /// The group statement's attribute (SAML) or claim (JWT) when the file names none.
    fn default_group_attribute(&self, _kind: TokenKind) -> &'static str {
        "groups"
    }
    /// How a group (by its name in the directory) is written in a token; `full_path`:
    /// Keycloak's mapper setting (the others ignore it).
    fn group_value(&self, directory: &Directory, name: &str, full_path: bool) -> String;
    /// Whether the vendor can write groups as paths (Keycloak's "Full group path").
    fn group_paths(&self) -> bool {
        false
    }
    /// More groups than this in one token: the vendor's overage instead of a list.
    fn overage_limit(&self, _kind: TokenKind) -> Option<usize> {
        None
    }
    /// The SAML attribute carrying the overage link in place of the groups.
    fn overage_saml_attribute(&self) -> Option<&'static str> {
        None
    }
    /// Where a client fetches the groups of an overage.
    fn overage_link(&self, _idp: &Idp, _user: &User) -> Option<String> {
        None
    }
    /// The `sub` of a user's id_token and userinfo answer for the client `client_id`: the
    /// user id (Okta's), unless the vendor's is per application.
    fn subject(&self, user: &User, _client_id: &str) -> String {
        user.id.clone()
    }
    /// The vendor's own claims in every id_token (and its changes to fakta's Okta claims).
    fn id_token_claims(&self, _idp: &Idp, _user: &User, _claims: &mut Map<String, Value>) {}
    /// The vendor's own attributes in every SAML assertion, after the app's.
    fn saml_attributes(&self, _idp: &Idp, _user: &User) -> Vec<crate::saml::response::Attribute> {
        Vec::new()
    }
    /// Why the vendor cannot put a group statement in this kind of token (Google's id_token
    /// carries no groups); None when it can.
    fn no_groups(&self, _kind: TokenKind) -> Option<&'static str> {
        None
    }
    /// Why a group statement cannot be sent under this claim name (Auth0's restricted
    /// claims); None when it can.
    fn refuses_group_claim(&self, _kind: TokenKind, _name: &str) -> Option<String> {
        None
    }
}

/// The groups a token carries for `passing` (the group statement's groups, by name): each
/// written the vendor's way, or the vendor's overage when there are too many.
pub fn groups_in_token(
    idp: &Idp,
    directory: &Directory,
    user: &User,
    passing: &[String],
    kind: TokenKind,
    full_path: bool,
) -> Groups {
    let vendor = idp.flavor.vendor();
    if let (Some(limit), Some(link)) = (vendor.overage_limit(kind), vendor.overage_link(idp, user))
    {
        if passing.len() > limit {
            return Groups::Overage { link };
        }
    }
    Groups::Listed(
        passing
            .iter()
            .map(|g| vendor.group_value(directory, g, full_path))
            .collect(),
    )
}

/// A stable GUID-shaped object id for a group the file gives none: the first 16 bytes of
/// SHA-256 over its name, laid out 8-4-4-4-12 (fakta's own; Entra's are random).
pub fn derived_object_id(name: &str) -> String {
    let d = openssl::sha::sha256(format!("fakta-group:{name}").as_bytes());
    let h: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flavor_parses_by_its_name() {
        for f in Flavor::ALL.iter().copied() {
            assert_eq!(Flavor::parse(f.name()), Some(f));
        }
        assert_eq!(Flavor::parse("Okta"), None);
        assert_eq!(Flavor::default(), Flavor::Okta);
    }

    #[test]
    fn derived_ids_are_guid_shaped_and_stable() {
        let a = derived_object_id("Qovery-Admins");
        assert_eq!(a, derived_object_id("Qovery-Admins"));
        assert_ne!(a, derived_object_id("Qovery-DevOps"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}

#[cfg(test)]
mod vendor_tests {
    use super::*;
    use crate::config::{Group, User};

    fn idp(flavor: Flavor) -> Idp {
        Idp {
            base_url: url::Url::parse("http://127.0.0.1:7000").unwrap(),
            trusted_origins: None,
            flavor,
            tenant: flavor.default_tenant().to_owned(),
        }
    }

    fn directory() -> Directory {
        Directory::new(
            Vec::new(),
            vec![Group {
                name: "Qovery-Admins".into(),
                id: Some("5581e43f-6096-41d4-8ffa-04e560bab39d".into()),
            }],
        )
    }

    fn user() -> User {
        User {
            id: "3c1a7f52-0b6e-4a51-9d3a-0f5c2e7d9a01".into(),
            login: "alice@acmecorp.onmicrosoft.com".into(),
            email: "alice@acme.test".into(),
            name: Some("Alice".into()),
            groups: Vec::new(),
            attributes: Default::default(),
        }
    }

    fn many(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("G{i}")).collect()
    }

    #[test]
    fn each_vendor_writes_a_group_its_way() {
        let d = directory();
        let value = |f: Flavor, name: &str| f.vendor().group_value(&d, name, true);
        assert_eq!(value(Flavor::Okta, "Qovery-Admins"), "Qovery-Admins");
        assert_eq!(
            value(Flavor::Entra, "Qovery-Admins"),
            "5581e43f-6096-41d4-8ffa-04e560bab39d"
        );
        // A group the file gives no id gets a stable derived one.
        assert_eq!(value(Flavor::Entra, "Eng"), derived_object_id("Eng"));
        assert_eq!(value(Flavor::Keycloak, "Qovery-Admins"), "/Qovery-Admins");
        // Keycloak's mapper with "Full group path" off writes the name.
        assert_eq!(
            Flavor::Keycloak
                .vendor()
                .group_value(&d, "Qovery-Admins", false),
            "Qovery-Admins"
        );
        // A mapping may name the group by its id.
        assert_eq!(
            d.group_name("5581e43f-6096-41d4-8ffa-04e560bab39d"),
            "Qovery-Admins"
        );
        assert_eq!(d.group_name("Eng"), "Eng");
    }

    #[test]
    fn entra_sends_its_overage_above_150_saml_and_200_jwt_groups() {
        let (i, d, u) = (idp(Flavor::Entra), directory(), user());
        let listed = |n, kind| {
            matches!(
                groups_in_token(&i, &d, &u, &many(n), kind, true),
                Groups::Listed(v) if v.len() == n
            )
        };
        assert!(listed(150, TokenKind::Saml));
        assert!(listed(200, TokenKind::Jwt));
        let link = format!("http://127.0.0.1:7000/v1.0/users/{}/getMemberObjects", u.id);
        for (n, kind) in [(151, TokenKind::Saml), (201, TokenKind::Jwt)] {
            assert_eq!(
                groups_in_token(&i, &d, &u, &many(n), kind, true),
                Groups::Overage { link: link.clone() }
            );
        }
        // Okta, Keycloak, Google and Auth0 have no overage.
        for f in [
            Flavor::Okta,
            Flavor::Keycloak,
            Flavor::Google,
            Flavor::Auth0,
        ] {
            assert!(matches!(
                groups_in_token(&idp(f), &d, &u, &many(500), TokenKind::Saml, true),
                Groups::Listed(v) if v.len() == 500
            ));
        }
    }

    /// Entra's `sub` is per application and stable; `oid` stays the user id. Okta's `sub` is
    /// the user id for every client.
    #[test]
    fn entras_subject_is_pairwise_per_client() {
        let (i, u) = (idp(Flavor::Entra), user());
        let a = i.subject(&u, "client-a");
        assert_eq!(a, i.subject(&u, "client-a"));
        assert_ne!(a, i.subject(&u, "client-b"));
        assert_ne!(a, u.id);
        assert_eq!(a.len(), 43, "{a}");
        let mut other = user();
        other.id = "another-object-id".into();
        assert_ne!(a, i.subject(&other, "client-a"));
        assert_eq!(idp(Flavor::Okta).subject(&u, "client-a"), u.id);
        assert_eq!(idp(Flavor::Keycloak).subject(&u, "client-a"), u.id);
    }

    #[test]
    fn entra_claims_and_attributes() {
        let (i, u) = (idp(Flavor::Entra), user());
        let mut c = Map::new();
        Flavor::Entra.vendor().id_token_claims(&i, &u, &mut c);
        assert_eq!(c["ver"], "2.0");
        assert_eq!(c["oid"], u.id.as_str());
        assert_eq!(c["tid"], entra::DEFAULT_TENANT);
        assert_eq!(c["preferred_username"], u.login.as_str());
        let mut okta = Map::new();
        Flavor::Okta.vendor().id_token_claims(&i, &u, &mut okta);
        assert!(okta.is_empty());
        let names: Vec<String> = Flavor::Entra
            .vendor()
            .saml_attributes(&i, &u)
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                entra::CLAIM_OBJECT_ID,
                entra::CLAIM_TENANT_ID,
                entra::CLAIM_IDP
            ]
        );
        assert_eq!(
            Flavor::Entra.vendor().saml_issuer(&i, "qovery"),
            format!("https://sts.windows.net/{}/", entra::DEFAULT_TENANT)
        );
        assert_eq!(
            Flavor::Okta
                .vendor()
                .saml_issuer(&idp(Flavor::Okta), "qovery"),
            "http://www.okta.com/qovery"
        );
        let defaults: Vec<String> = Flavor::Entra
            .vendor()
            .default_saml_attributes()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(defaults, [entra::CLAIM_EMAIL, entra::CLAIM_NAME]);
        assert!(Flavor::Okta.vendor().default_saml_attributes().is_empty());
    }

    /// Only Google refuses a group statement (in id_tokens), only Auth0 a group claim's name;
    /// the others take any.
    #[test]
    fn which_vendors_refuse_a_group_statement() {
        for f in Flavor::ALL.iter().copied() {
            let v = f.vendor();
            assert_eq!(
                v.no_groups(TokenKind::Jwt).is_some(),
                f == Flavor::Google,
                "{f:?}"
            );
            assert!(v.no_groups(TokenKind::Saml).is_none(), "{f:?}");
            assert_eq!(
                v.refuses_group_claim(TokenKind::Jwt, "groups").is_some(),
                f == Flavor::Auth0,
                "{f:?}"
            );
        }
    }
}
