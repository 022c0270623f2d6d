//! The JSON Schema (draft 2020-12) of the connection file, for editors: `fakta schema` prints it,
//! and the shipped files name it in a `# yaml-language-server: $schema=...` comment so that
//! editors complete and check their keys. The loader (config/load) stays the full check: the
//! schema has the keys and their shapes, not cross-references, regexes or lint rules.
//!
//! One source: scenarios/fakta.schema.json, embedded here. tests/schema.rs validates the
//! shipped files and the invalid fixtures against it with an independent validator; the tests
//! below hold its key lists and enums to the loader's.

/// The schema, as scenarios/fakta.schema.json holds it.
pub const SCHEMA: &str = include_str!("../../scenarios/fakta.schema.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::super::load::{
        COMMON_APP_KEYS, OIDC_APP_KEYS, RESERVED_CLAIMS, SAML_APP_KEYS, TOP_KEYS,
    };
    use super::super::model::LogoutFault;
    use super::SCHEMA;

    fn schema() -> Value {
        serde_json::from_str(SCHEMA).expect("scenarios/fakta.schema.json is JSON")
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("expected an object, found {v}"))
            .keys()
            .cloned()
            .collect()
    }

    fn set<'a>(lists: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        lists.into_iter().map(str::to_owned).collect()
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("expected an array, found {v}"))
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    }

    #[test]
    fn is_draft_2020_12_and_closed_at_the_top() {
        let s = schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(keys(&s["properties"]), set(TOP_KEYS.iter().copied()));
    }

    /// An app's keys are the loader's, and each protocol refuses exactly the other's keys.
    #[test]
    fn app_keys_are_the_loaders() {
        let s = schema();
        let app = &s["$defs"]["app"];
        assert_eq!(app["additionalProperties"], false);
        let all = COMMON_APP_KEYS
            .iter()
            .chain(SAML_APP_KEYS)
            .chain(OIDC_APP_KEYS)
            .copied();
        assert_eq!(keys(&app["properties"]), set(all));
        let forbidden_for = |protocol: &str| {
            app["allOf"]
                .as_array()
                .expect("allOf")
                .iter()
                .find(|c| c["if"]["properties"]["protocol"]["const"] == protocol)
                .map(|c| keys(&c["then"]["properties"]))
                .unwrap_or_else(|| panic!("no condition on protocol {protocol}"))
        };
        assert_eq!(forbidden_for("saml"), set(OIDC_APP_KEYS.iter().copied()));
        assert_eq!(forbidden_for("oidc"), set(SAML_APP_KEYS.iter().copied()));
        let reserved = &app["properties"]["claims"]["propertyNames"]["not"]["enum"];
        assert_eq!(strings(reserved), set(RESERVED_CLAIMS.iter().copied()));
    }

    /// The SAML app settings' words are the enums' own.
    #[test]
    fn saml_setting_words_are_the_enums() {
        use super::super::model::{AttrNameFormat, AuthnContextClass};
        let s = schema();
        let app = &s["$defs"]["app"]["properties"];
        assert_eq!(
            strings(&app["authn_context_class"]["enum"]),
            set(AuthnContextClass::ALL.iter().map(|c| c.name()))
        );
        let attribute = &s["$defs"]["saml_attributes"]["additionalProperties"]["anyOf"][1];
        assert_eq!(
            strings(&attribute["properties"]["name_format"]["enum"]),
            set(AttrNameFormat::ALL.iter().map(|f| f.name()))
        );
    }

    /// The flavors are `crate::flavor::Flavor`'s, and each one's tenant key is in the `idp`
    /// section.
    #[test]
    fn flavors_are_the_enums() {
        use crate::flavor::Flavor;
        let s = schema();
        let idp = &s["properties"]["idp"]["properties"];
        assert_eq!(
            strings(&idp["flavor"]["enum"]),
            set(Flavor::ALL.iter().map(|f| f.name()))
        );
        for key in Flavor::ALL.iter().filter_map(|f| f.tenant_key()) {
            assert!(idp.get(key).is_some(), "no idp.{key} in the schema");
        }
    }

    /// The fault names of the logout and revoke steps are the enums' own.
    #[test]
    fn step_faults_are_the_enums() {
        let s = schema();
        let step = |key: &str| {
            s["$defs"]["step"]["anyOf"]
                .as_array()
                .expect("anyOf")
                .iter()
                .find_map(|b| b["properties"].get(key))
                .cloned()
                .unwrap_or_else(|| panic!("no `{key}` step"))
        };
        assert_eq!(
            strings(&step("logout")["properties"]["fault"]["enum"]),
            set(LogoutFault::ALL.iter().map(|(n, _)| *n))
        );
        assert_eq!(
            strings(&step("revoke")["properties"]["fault"]["enum"]),
            set(crate::revocation::Fault::ALL.iter().map(|f| f.name()))
        );
    }

    /// An OIDC app's `grant_types` are the loader's enum.
    #[test]
    fn grant_types_are_the_enum() {
        let s = schema();
        let app = &s["$defs"]["app"]["properties"]["grant_types"];
        assert_eq!(
            strings(&app["items"]["enum"]),
            set(crate::config::GrantType::ALL.iter().map(|g| g.name()))
        );
    }

    /// `token_endpoint_auth_method` and `refresh_token.rotation` are the loader's enums.
    #[test]
    fn client_auth_methods_and_rotations_are_the_enums() {
        let s = schema();
        let app = &s["$defs"]["app"]["properties"];
        assert_eq!(
            strings(&app["token_endpoint_auth_method"]["enum"]),
            set(crate::config::TokenAuth::ALL.iter().map(|t| t.name()))
        );
        assert_eq!(
            strings(&app["refresh_token"]["properties"]["rotation"]["enum"]),
            set(crate::config::Rotation::ALL.iter().map(|r| r.name()))
        );
    }
}
