//! IdP-initiated logouts, as fakta's IdP sends them: a signed SAML LogoutRequest delivered
//! through the browser to the SP's SLO URL (G2), or an OIDC back-channel logout token POSTed to
//! the RP (G4); each honest or with one fault (applied by `saml::logout::apply` /
//! `oidc::logout::apply`).

use super::browser::Browser;
use super::plan::TrialSpec;
use crate::config::{LogoutFault, SigningAlg, User};
use crate::idp::IdpState;
use crate::oidc::logout::{self as bcl, Signing};
use crate::saml::logout as slo;

/// What happened, for the transcript.
#[derive(Debug, Clone)]
pub struct Done {
    pub description: String,
    pub status: u16,
}

fn random_hex() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// The IdP session index of the browser's IdP session, if it has one.
fn session_index(idp: &IdpState, browser: &Browser) -> Option<String> {
    let sid = browser.cookie(idp.conn.idp.base(), crate::idp::SESSION_COOKIE)?;
    idp.session(&sid).map(|s| s.session_index)
}

pub async fn idp_initiated(
    spec: &TrialSpec,
    idp: &IdpState,
    trial: &str,
    user: &User,
    browser: &mut Browser,
    fault: Option<LogoutFault>,
) -> Result<Done, String> {
    let app = spec.conn.app(&spec.app).ok_or("unknown app")?;
    let index = session_index(idp, browser);
    let done = if let Some(saml) = app.saml() {
        let slo_url = app
            .logout
            .as_ref()
            .ok_or_else(|| format!("app `{}` has no logout.slo_url", app.id))?
            .slo_url
            .to_string();
        let honest = slo::LogoutRequest {
            id: format!("id{}", random_hex()),
            issue_instant: idp.now(),
            issuer: saml.issuer.clone(),
            destination: slo_url.clone(),
            name_id: user
                .field(&saml.name_id.value)
                .unwrap_or(&user.email)
                .to_owned(),
            name_id_format: saml.name_id.format.urn().to_owned(),
            session_index: index.clone(),
        };
        let (request, signed) = match fault {
            Some(LogoutFault::Saml(f)) => {
                let other = spec
                    .conn
                    .directory
                    .users
                    .iter()
                    .find(|u| u.id != spec.user)
                    .and_then(|u| idp.user_view(Some(trial), &u.id))
                    .map(|u| u.field(&saml.name_id.value).unwrap_or(&u.email).to_owned())
                    .unwrap_or_else(|| "someone-else@other.invalid".into());
                slo::apply(f, honest, (other, Some(format!("id{}", random_hex()))))
            }
            Some(LogoutFault::Oidc(_)) => return Err("an OIDC logout fault on a SAML app".into()),
            None => (honest, true),
        };
        let xml = slo::build(&request);
        let key = signed.then(|| idp.keys.current.pkey());
        let query = slo::redirect_query(&xml, None, key).map_err(|e| e.to_string())?;
        let page = browser
            .navigate(&format!("{slo_url}?{query}"), &user.login)
            .await
            .map_err(|e| e.to_string())?;
        Done {
            description: format!(
                "IdP-initiated LogoutRequest{} ({}) sent through the browser to {slo_url}; the SP answered {}\n{}",
                fault
                    .map(|f| format!(" with fault {}", f.name()))
                    .unwrap_or_default(),
                if signed { "signed" } else { "unsigned" },
                page.status,
                xml
            ),
            status: page.status,
        }
    } else if let Some(o) = app.oidc() {
        let uri = o
            .backchannel_logout_uri
            .as_ref()
            .ok_or_else(|| format!("app `{}` has no backchannel_logout_uri", app.id))?
            .to_string();
        let issuer = o.server.issuer(idp.conn.idp.base());
        let claims = bcl::claims(
            &issuer,
            &o.client_id,
            &user.id,
            index.as_deref(),
            idp.now(),
            &random_hex(),
        );
        let (claims, signing) = match fault {
            Some(LogoutFault::Oidc(f)) => bcl::apply(f, claims),
            Some(LogoutFault::Saml(_)) => return Err("a SAML logout fault on an OIDC app".into()),
            None => (claims, Signing::Idp),
        };
        let typ = Some("logout+jwt");
        let (alg, kid, key) = match o.signing_alg {
            SigningAlg::RS256 => (
                SigningAlg::RS256,
                idp.rsa_kid.as_str(),
                idp.keys.current.pkey().clone(),
            ),
            SigningAlg::ES256 => (
                SigningAlg::ES256,
                idp.ec_kid.as_str(),
                idp.keys.ec.pkey().clone(),
            ),
        };
        let token = match signing {
            Signing::Idp => {
                crate::oidc::jwt::sign(alg, kid, typ, &key, &claims).map_err(|e| e.to_string())?
            }
            Signing::Foreign => {
                let other = crate::keys::foreign_key().ok_or("cannot make a foreign key")?;
                crate::oidc::jwt::sign(SigningAlg::RS256, kid, typ, other.pkey(), &claims)
                    .map_err(|e| e.to_string())?
            }
            Signing::Unsigned => {
                let h = crate::oidc::jwt::Header {
                    alg: "none",
                    kid: Some(kid),
                    typ,
                };
                format!(
                    "{}.",
                    crate::oidc::jwt::signing_input(&h, &claims).map_err(|e| e.to_string())?
                )
            }
            Signing::Hs256 => {
                let h = crate::oidc::jwt::Header {
                    alg: "HS256",
                    kid: Some(kid),
                    typ,
                };
                let input =
                    crate::oidc::jwt::signing_input(&h, &claims).map_err(|e| e.to_string())?;
                let secret = random_hex();
                let hkey =
                    openssl::pkey::PKey::hmac(secret.as_bytes()).map_err(|e| e.to_string())?;
                let mut s =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &hkey)
                        .map_err(|e| e.to_string())?;
                s.update(input.as_bytes()).map_err(|e| e.to_string())?;
                format!(
                    "{input}.{}",
                    crate::oidc::jwt::b64(&s.sign_to_vec().map_err(|e| e.to_string())?)
                )
            }
        };
        let resp = reqwest::Client::new()
            .post(&uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| format!("POST {uri} failed: {e}"))?;
        let status = resp.status().as_u16();
        let answer = resp.text().await.unwrap_or_default();
        Done {
            description: format!(
                "back-channel logout{} POSTed to {uri}: claims {claims}; the RP answered {status} {}",
                fault
                    .map(|f| format!(" with fault {}", f.name()))
                    .unwrap_or_default(),
                answer.chars().take(200).collect::<String>()
            ),
            status,
        }
    } else {
        return Err("the app has no protocol".into());
    };
    if fault.is_none() {
        if let Some(i) = &index {
            idp.end_session_by_index(i);
        }
    }
    Ok(done)
}
