//! Microsoft Entra ID: a tenant's v2.0 OIDC endpoints, the `sts.windows.net` SAML issuer, claim
//! URIs for SAML attributes, groups as object ids, and the group overage.
//!
//! Sources (each fact below names its own):
//! - \[SAML\]: "SAML token claims reference",
//!   <https://learn.microsoft.com/entra/identity-platform/reference-saml-tokens>
//! - \[ID\]: "ID token claims reference",
//!   <https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>
//! - \[OIDC\]: "OpenID Connect on the Microsoft identity platform",
//!   <https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc>
//! - \[CUSTOM\]: "Customize SAML token claims",
//!   <https://learn.microsoft.com/entra/identity-platform/saml-claims-customization>
//! - \[GROUPS\]: "Configure group claims for applications by using Microsoft Entra ID",
//!   <https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-fed-group-claims>
//! - \[FEDMD\]: "Federation metadata",
//!   <https://learn.microsoft.com/entra/identity-platform/federation-metadata>
//! - \[SAMLP\]: "How the Microsoft identity platform uses the SAML protocol",
//!   <https://learn.microsoft.com/entra/identity-platform/saml-protocol-reference>, and
//!   "Single sign-on SAML protocol", <https://learn.microsoft.com/entra/identity-platform/single-sign-on-saml-protocol>
//! - \[SLO\]: "Single Sign-Out SAML Protocol",
//!   <https://learn.microsoft.com/entra/identity-platform/single-sign-out-saml-protocol>
//!
//! What fakta does not change for Entra (left as Okta's, not verified or not done): the
//! discovery document's lists of methods and algorithms, the federation metadata's signature
//! and its WS-Federation `RoleDescriptor`s, and the IdP-initiated start (Entra's is the My
//! Apps portal, another host: fakta keeps its `/app/{name}/{id}/sso/saml` tile).

use serde_json::{Map, Value, json};

use super::{Endpoint, SamlPaths, TokenKind, Vendor};
use crate::config::{
    AttrNameFormat, AuthServer, Directory, Idp, NameIdFormat, NameIdSpec, NameIdValue,
    SamlAttribute, User, UserField,
};
use crate::saml::response::Attribute;

/// The tenant id when the file names none: a fixed GUID of fakta's own.
pub const DEFAULT_TENANT: &str = "f4c7a000-0000-4000-8000-00000000fa17";

/// \[SAML\] "Email" claims use the WS-* claim type URIs; \[CUSTOM\] "The SAML token also contains
/// other claims that include the user's email address".
pub const CLAIM_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
/// \[SAML\] Name: `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name`, "a human readable
/// value that identifies the subject", in the sample the user principal name.
pub const CLAIM_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
/// \[SAML\] Groups: "Provides object IDs that represent the subject's group memberships".
pub const CLAIM_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
/// \[SAML\] Groups Overage Indicator: "For SAML this is added as a new claim in place of the
/// `groups` claim" (the documented name has a stray leading space; fakta writes it without).
pub const CLAIM_GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";
/// \[SAML\] Object ID and Tenant ID, and the Identity Provider (the issuer).
pub const CLAIM_OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
pub const CLAIM_TENANT_ID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
pub const CLAIM_IDP: &str = "http://schemas.microsoft.com/identity/claims/identityprovider";

/// \[GROUPS\] "The number of groups emitted in a token is limited to 150 for SAML assertions and
/// 200 for JWT"; \[ID\] "If a user is a member of more groups than the overage limit (150 for
/// SAML tokens, 200 for JWT tokens), the groups claim isn't included in the token."
pub const SAML_GROUP_LIMIT: usize = 150;
pub const JWT_GROUP_LIMIT: usize = 200;

#[derive(Debug)]
pub struct Entra;

/// The per-application `sub` of a user (`Entra::subject`).
pub fn pairwise_subject(object_id: &str, client_id: &str) -> String {
    use base64::Engine as _;
    let digest = openssl::sha::sha256(format!("fakta-sub:{client_id}:{object_id}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// \[SAML\] Issuer: "the issuer is sts.windows.net. The GUID in the Issuer claim value is the
/// tenant ID", e.g. `https://sts.windows.net/{tenant}/`.
pub fn saml_issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

impl Vendor for Entra {
    fn saml_issuer(&self, idp: &Idp, _app_id: &str) -> String {
        saml_issuer(&idp.tenant)
    }

    fn saml_tenant_wide(&self) -> bool {
        true
    }

    /// \[FEDMD\] "SAML protocol endpoint URL": the tenant's `SingleSignOnService` and
    /// `SingleLogoutService` are both `https://login.microsoftonline.com/{tenant}/saml2`
    /// (fakta's host stands for login.microsoftonline.com), one endpoint for every app of the
    /// tenant: \[SAMLP\] the request's `Issuer` "must exactly match one of the
    /// ServicePrincipalNames in the cloud service". The metadata: \[SAMLP\] "The tenant-specific
    /// endpoint is located at `https://login.microsoftonline.com/<TenantDomainName>/FederationMetadata/2007-06/FederationMetadata.xml`";
    /// an app's copy adds `?appid={application id}` (the "App Federation Metadata Url" of the
    /// portal's SAML page, which Microsoft's MSIdentityTools `Get-MsIdSamlFederationMetadata
    /// -AppId` fetches; fakta's app id stands for the application id).
    fn saml_paths(&self, idp: &Idp, name: &str, id: &str) -> SamlPaths {
        let t = &idp.tenant;
        let tenant_endpoint = format!("/{t}/saml2");
        SamlPaths {
            sso: tenant_endpoint.clone(),
            slo: tenant_endpoint,
            metadata: format!("/{t}/federationmetadata/2007-06/federationmetadata.xml?appid={id}"),
            idp_initiated: super::okta::saml_paths(name, id).idp_initiated,
        }
    }

    /// \[FEDMD\] the sample `IDPSSODescriptor` lists `SingleLogoutService` and
    /// `SingleSignOnService` with the HTTP-Redirect binding only; \[SLO\] "Microsoft Entra ID
    /// supports redirect binding (HTTP GET), and not HTTP POST binding".
    fn saml_redirect_binding_only(&self) -> bool {
        true
    }

    /// \[OIDC\] "Authority URL: `https://login.microsoftonline.com/{tenant}/v2.0`"; \[ID\] "If the
    /// token was issued by the v2.0 endpoint, the URI ends in /v2.0". fakta's host stands for
    /// login.microsoftonline.com.
    fn oidc_issuer(&self, idp: &Idp, _server: &AuthServer) -> String {
        format!("{}/{}/v2.0", idp.base(), idp.tenant)
    }

    /// \[OIDC\] sample configuration: `/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token`,
    /// `/{tenant}/discovery/v2.0/keys`, and `userinfo_endpoint`
    /// `https://graph.microsoft.com/oidc/userinfo` (Graph's host: fakta serves `/oidc/userinfo`);
    /// "Send a sign-out request": `/{tenant}/oauth2/v2.0/logout`. Entra publishes no revocation
    /// or introspection endpoint.
    fn oidc_path(&self, idp: &Idp, _server: &AuthServer, endpoint: Endpoint) -> Option<String> {
        let t = &idp.tenant;
        match endpoint {
            Endpoint::Authorize => Some(format!("/{t}/oauth2/v2.0/authorize")),
            Endpoint::Token => Some(format!("/{t}/oauth2/v2.0/token")),
            Endpoint::Logout => Some(format!("/{t}/oauth2/v2.0/logout")),
            Endpoint::Keys => Some(format!("/{t}/discovery/v2.0/keys")),
            Endpoint::Userinfo => Some("/oidc/userinfo".to_owned()),
            Endpoint::Revoke | Endpoint::Introspect => None,
        }
    }

    /// \[OIDC\] "append the well-known OpenID configuration path to your app registration's
    /// authority URL".
    fn discovery_path(&self, idp: &Idp, _server: &AuthServer) -> String {
        format!("/{}/v2.0/.well-known/openid-configuration", idp.tenant)
    }

    /// \[CUSTOM\] "By default, the Microsoft identity platform issues a SAML token to an
    /// application that contains a claim with a value of the user's username (also known as
    /// the user principal name)"; fakta's login is the UPN in an Entra file.
    fn default_name_id(&self) -> NameIdSpec {
        NameIdSpec {
            format: NameIdFormat::Unspecified,
            value: NameIdValue::Field(UserField::Login),
        }
    }

    /// \[CUSTOM\] the default claims: the email address, and \[SAML\] the name claim (the UPN).
    fn default_saml_attributes(&self) -> Vec<SamlAttribute> {
        super::claim_attributes([
            (CLAIM_EMAIL, UserField::Email),
            (CLAIM_NAME, UserField::Login),
        ])
    }

    fn default_group_attribute(&self, kind: TokenKind) -> &'static str {
        match kind {
            TokenKind::Saml => CLAIM_GROUPS,
            // [ID] the JWT claim is `groups`.
            TokenKind::Jwt => "groups",
        }
    }

    /// \[SAML\] groups are object ids: the directory's `id` of the group, or fakta's derived one.
    fn group_value(&self, directory: &Directory, name: &str, _full_path: bool) -> String {
        directory.group_object_id(name)
    }

    fn overage_limit(&self, kind: TokenKind) -> Option<usize> {
        Some(match kind {
            TokenKind::Saml => SAML_GROUP_LIMIT,
            TokenKind::Jwt => JWT_GROUP_LIMIT,
        })
    }

    fn overage_saml_attribute(&self) -> Option<&'static str> {
        Some(CLAIM_GROUPS_LINK)
    }

    /// \[ID\] `_claim_sources`: `"src1": { "endpoint":
    /// "<https://graph.microsoft.com/v1.0/users/{userID}/getMemberObjects"> }` (fakta's host
    /// stands for graph.microsoft.com; `{userID}` is the user's object id, `oid`). \[SAML\] shows
    /// the older Azure AD Graph URL and says it is being replaced by Microsoft Graph's
    /// getMemberObjects: fakta links the Microsoft Graph one in both.
    fn overage_link(&self, idp: &Idp, user: &User) -> Option<String> {
        Some(format!(
            "{}/v1.0/users/{}/getMemberObjects",
            idp.base(),
            user.id
        ))
    }

    /// \[ID\] `sub`: "The subject is a pairwise identifier that's unique to a particular
    /// application ID. If a single user signs into two different applications using two
    /// different client IDs, those applications receive two different values for the subject
    /// claim"; `oid` is the user's id across applications. Entra's derivation is not
    /// published: fakta's is the unpadded base64url SHA-256 of the client id and the user's
    /// object id, stable per (user, app).
    fn subject(&self, user: &User, client_id: &str) -> String {
        pairwise_subject(&user.id, client_id)
    }

    /// [ID]: `ver` "2.0" for the v2.0 endpoint; `oid` "The immutable identifier for an object,
    /// in this case, a user account" (an Entra file's user id); `tid` "the tenant that the
    /// user is signing in to"; `preferred_username` "The primary username that represents the
    /// user" (the UPN, fakta's login).
    fn id_token_claims(&self, idp: &Idp, user: &User, claims: &mut Map<String, Value>) {
        claims.insert("ver".into(), json!("2.0"));
        claims.insert("oid".into(), json!(user.id));
        claims.insert("tid".into(), json!(idp.tenant));
        claims
            .entry("preferred_username")
            .or_insert_with(|| json!(user.login));
    }

    /// \[SAML\] sample token: objectidentifier, tenantid and identityprovider in every assertion.
    fn saml_attributes(&self, idp: &Idp, user: &User) -> Vec<Attribute> {
        let one = |name: &str, v: String| Attribute {
            name: name.to_owned(),
            name_format: AttrNameFormat::Unspecified.urn().to_owned(),
            values: vec![v],
        };
        vec![
            one(CLAIM_OBJECT_ID, user.id.clone()),
            one(CLAIM_TENANT_ID, idp.tenant.clone()),
            one(CLAIM_IDP, saml_issuer(&idp.tenant)),
        ]
    }
}
