//! What the SP trusts, fetched once from the IdP: SAML metadata, or OIDC discovery and JWKS.

use serde_json::Value;

use crate::refsp::flaws::Flaw;
use crate::refsp::jwt::{self, Key};
use crate::refsp::oidc::OidcRefusal;
use crate::refsp::saml::{self, SpSettings};
use crate::refsp::state::{SpState, Trust};

/// Fetches (once) what the SP trusts: SAML metadata, or OIDC discovery and JWKS.
pub(super) async fn trust(st: &SpState, refetch_keys: bool) -> Result<Trust, String> {
    let mut guard = st.trust.lock().await;
    if let (Some(t), false) = (guard.as_ref(), refetch_keys) {
        return Ok(t.clone());
    }
    let base = st.conn.idp.base().to_owned();
    let t = if st.app.saml().is_some() {
        // The metadata URL in the flavor's layout, as an SP behind that vendor is given it.
        let url = format!("{base}{}", st.conn.idp.saml_paths(&st.app).metadata);
        let a = st.http.get(&url, None).await.map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("GET {url} answered {}", a.status));
        }
        let saml::IdpMetadata {
            entity_id,
            sso_url,
            slo_url,
            certs,
        } = saml::read_metadata(&a.text())?;
        let keys = certs
            .iter()
            .filter_map(|der| openssl::x509::X509::from_der(der).ok()?.public_key().ok())
            .map(|key| Key {
                kid: None,
                kty: "RSA".into(),
                key,
            })
            .collect();
        Trust::Saml {
            entity_id,
            sso_url,
            slo_url,
            certs,
            keys,
        }
    } else {
        let oidc = st
            .app
            .oidc()
            .ok_or("the target app is neither SAML nor OIDC")?;
        // The issuer the SP is configured with (an Entra tenant's v2.0 authority, a Keycloak
        // realm, an Okta server), and its discovery document.
        let mut issuer = st.conn.idp.oidc_issuer(&oidc.server);
        let url = format!("{base}{}", st.conn.idp.discovery_path(&oidc.server));
        let a = st.http.get(&url, None).await.map_err(|e| e.to_string())?;
        let d: Value = serde_json::from_slice(&a.body)
            .map_err(|e| format!("discovery at {url} is not JSON: {e}"))?;
        if st.flaws.on(Flaw::TrustDiscoveryIssuer) {
            if let Some(claimed) = d["issuer"].as_str() {
                issuer = claimed.to_owned();
            }
        }
        if d["issuer"].as_str() != Some(&issuer) {
            return Err(OidcRefusal::DiscoveryIssuer {
                got: d["issuer"].to_string(),
                expected: issuer,
            }
            .to_string());
        }
        let s = |k: &str| d[k].as_str().map(str::to_owned);
        let jwks_uri = s("jwks_uri").ok_or("discovery has no jwks_uri")?;
        let j = st
            .http
            .get(&jwks_uri, None)
            .await
            .map_err(|e| e.to_string())?;
        let keys = jwt::parse_jwks(&j.body)?;
        Trust::Oidc {
            issuer,
            authorization_endpoint: s("authorization_endpoint")
                .ok_or("discovery has no authorization_endpoint")?,
            token_endpoint: s("token_endpoint").ok_or("discovery has no token_endpoint")?,
            userinfo_endpoint: s("userinfo_endpoint"),
            end_session_endpoint: s("end_session_endpoint"),
            jwks_uri,
            keys,
        }
    };
    *guard = Some(t.clone());
    Ok(t)
}

pub(super) fn saml_settings(
    st: &SpState,
    entity_id: &str,
    certs: &[Vec<u8>],
) -> Option<SpSettings> {
    let s = st.app.saml()?;
    Some(SpSettings {
        entity_id: s.audience.clone(),
        acs_url: s.acs_url.to_string(),
        idp_entity_id: entity_id.to_owned(),
        idp_certs: certs.to_vec(),
        allow_unsolicited: s.allow_idp_initiated,
        decryption_key: st.decryption_key.clone(),
        // The SP takes what its own IdP connection signs with, and SHA-1 when the file says
        // it does (S29 is then not judged).
        allow_sha1: st.target.allows_sha1
            || s.signature_algorithm == crate::config::SignatureAlgorithm::RsaSha1
            || s.digest_algorithm == crate::config::DigestAlgorithm::Sha1,
    })
}
