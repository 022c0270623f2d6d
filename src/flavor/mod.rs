//! Other IdPs' shapes (`idp.flavor`): what changes when fakta plays Microsoft Entra ID or
//! Keycloak instead of Okta. Each vendor's facts live in one module (`okta`, `entra`,
//! `keycloak`), behind the [`Vendor`] trait: URL layout and issuers, SAML attribute names and
//! NameID defaults, id_token claim names, how a group is written in a token, and the group
//! overage. Every fact is cited next to the code that emits it; a fact that could not be
//! checked against the vendor's documentation is left out (Okta's behaviour stays).
//!
//! Okta is exactly what fakta did before flavors: every Okta method returns today's value.

pub mod entra;
pub mod keycloak;
pub mod okta;

use serde_json::{Map, Value};

use crate::config::{AuthServer, Directory, Idp, NameIdSpec, SamlAttribute, User};

/// The IdP vendor a connection file plays (`idp.flavor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    #[default]
    Okta,
    Entra,
    Keycloak,
}

impl Flavor {
    pub const ALL: [Flavor; 3] = [Flavor::Okta, Flavor::Entra, Flavor::Keycloak];

    /// Its name in the connection file.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Okta => "okta",
            Flavor::Entra => "entra",
            Flavor::Keycloak => "keycloak",
        }
    }

    /// The vendor's product name, for pages and reports.
    pub fn title(self) -> &'static str {
        match self {
            Flavor::Okta => "Okta",
            Flavor::Entra => "Microsoft Entra ID",
            Flavor::Keycloak => "Keycloak",
        }
    }

    /// The file's key naming the vendor's tenant (`idp.tenant` for Entra, `idp.realm` for
    /// Keycloak); Okta has none (an org is its own host).
    pub fn tenant_key(self) -> Option<&'static str> {
        match self {
            Flavor::Okta => None,
            Flavor::Entra => Some("tenant"),
            Flavor::Keycloak => Some("realm"),
        }
    }

    /// The tenant when the file names none.
    pub fn default_tenant(self) -> &'static str {
        match self {
            Flavor::Okta => "",
            Flavor::Entra => entra::DEFAULT_TENANT,
            Flavor::Keycloak => keycloak::DEFAULT_REALM,
        }
    }

    pub fn parse(s: &str) -> Option<Flavor> {
        Flavor::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The vendor's facts.
    pub fn vendor(self) -> &'static dyn Vendor {
        match self {
            Flavor::Okta => &okta::Okta,
            Flavor::Entra => &entra::Entra,
            Flavor::Keycloak => &keycloak::Keycloak,
        }
    }
}

/// An OAuth/OIDC endpoint of an authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Authorize,
        Endpoint::Token,
        Endpoint::Userinfo,
        Endpoint::Keys,
        Endpoint::Logout,
        Endpoint::Revoke,
        Endpoint::Introspect,
    ];
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

/// One vendor's facts. Okta's methods return what fakta always did.
pub trait Vendor: Sync {
    /// The SAML IdP entity id (the Issuer) of an app whose file sets none.
    fn saml_issuer(&self, idp: &Idp, app_id: &str) -> String;
    /// The OIDC issuer of an authorization server.
    fn oidc_issuer(&self, idp: &Idp, server: &AuthServer) -> String;
    /// The path of an endpoint of an authorization server; None when the vendor has none.
    fn oidc_path(&self, idp: &Idp, server: &AuthServer, endpoint: Endpoint) -> Option<String>;
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
    /// How a group (by its name in the directory) is written in a token.
    fn group_value(&self, directory: &Directory, name: &str) -> String;
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
    /// The vendor's own claims in every id_token (and its changes to fakta's Okta claims).
    fn id_token_claims(&self, _idp: &Idp, _user: &User, _claims: &mut Map<String, Value>) {}
    /// The vendor's own attributes in every SAML assertion, after the app's.
    fn saml_attributes(&self, _idp: &Idp, _user: &User) -> Vec<crate::saml::response::Attribute> {
        Vec::new()
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
            .map(|g| vendor.group_value(directory, g))
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
        for f in Flavor::ALL {
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
