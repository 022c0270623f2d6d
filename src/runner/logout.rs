//! IdP-initiated logouts, as fakta's IdP sends them: a signed SAML LogoutRequest delivered
//! through the browser to the SP's SLO URL by HTTP-Redirect or HTTP-POST (G2), the browser then
//! following the SP's LogoutResponse back to the IdP's SLO endpoint, or an OIDC back-channel
//! logout token POSTed to the RP (G4); each honest or with one fault (applied by
//! `saml::logout::apply` / `oidc::logout::apply`).

use super::browser::{Hop, Page};
use super::plan::TrialSpec;
use super::transport::Driver;
use crate::config::{App, LogoutFault, OidcApp, SamlApp, SigningAlg, SloBinding, User};
use crate::idp::IdpState;
use crate::oidc::logout::{self as bcl, Signing};
use crate::saml::logout as slo;

/// What happened, for the transcript.
#[derive(Debug, Clone)]
pub struct Done {
    pub description: String,
    pub status: u16,
    /// SAML: what fakta's IdP SLO endpoint made of the SP's LogoutResponse, when the browser
    /// got there (None: the SP sent no LogoutResponse to the IdP).
    pub slo_answer: Option<SloAnswer>,
    /// SAML: the page the browser ended on.
    pub page: Option<Page>,
}

/// The IdP SLO endpoint's answer to the LogoutResponse the SP sent through the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloAnswer {
    /// Accepted, status Success: the IdP's page "Signed out of {app}".
    SignedOut,
    /// Accepted, but the SP's status was not Success (the status is given).
    NotConfirmed(String),
    /// Refused: the IdP's HTTP status and the reason its page gives.
    Refused { status: u16, reason: String },
}

/// Most bytes read of an RP's answer to a back-channel logout (it is only shown, cut short).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

fn random_hex() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// The URL without its query string.
fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}

/// A URL with its query values elided (SAML messages and signatures are long and shown
/// decoded elsewhere in the transcript).
fn short_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, q)) => {
            let names: Vec<String> = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}=…"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", names.join("&"))
        }
        None => url.to_owned(),
    }
}

/// The text of the first element `selector` matches, whitespace collapsed.
fn text_of(body: &str, selector: &str) -> Option<String> {
    let sel = scraper::Selector::parse(selector).ok()?;
    let doc = scraper::Html::parse_document(body);
    let el = doc.select(&sel).next()?;
    let text = el.text().collect::<Vec<_>>().join(" ");
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// What the IdP SLO page `page` says about the SP's LogoutResponse.
fn slo_answer(page: &Page) -> SloAnswer {
    let title = text_of(&page.body, "title").unwrap_or_default();
    if page.status == 200 && title.starts_with("Signed out of ") {
        SloAnswer::SignedOut
    } else if page.status == 200 {
        let status = scraper::Selector::parse("#slo-result")
            .ok()
            .and_then(|sel| {
                scraper::Html::parse_document(&page.body)
                    .select(&sel)
                    .next()
                    .and_then(|e| e.value().attr("data-status").map(str::to_owned))
            })
            .unwrap_or(title);
        SloAnswer::NotConfirmed(status)
    } else {
        SloAnswer::Refused {
            status: page.status,
            reason: text_of(&page.body, ".error").unwrap_or(title),
        }
    }
}

/// The hops one logout made, each with who answered (and, for the last one, what it said).
fn describe_hops(hops: &[Hop], page: &Page, idp_base: &str, idp_slo: &str) -> String {
    let mut out = String::new();
    for (i, h) in hops.iter().enumerate() {
        let at_idp = h
            .url
            .strip_prefix(idp_base.trim_end_matches('/'))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        let mut who = if at_idp { "the IdP" } else { "the SP" }.to_owned();
        if i + 1 == hops.len() && h.url == page.url {
            let said = if without_query(&h.url) == idp_slo {
                match slo_answer(page) {
                    SloAnswer::SignedOut => text_of(&page.body, "title").unwrap_or_default(),
                    SloAnswer::NotConfirmed(st) => {
                        format!("the SP's LogoutResponse has status {st}")
                    }
                    SloAnswer::Refused { reason, .. } => format!("refused: {reason}"),
                }
            } else {
                let title = text_of(&page.body, "title").unwrap_or_default();
                match text_of(&page.body, "#reason") {
                    Some(reason) => format!("{title}: {reason}"),
                    None => title,
                }
            };
            if !said.is_empty() {
                who = format!("{who}: {}", said.chars().take(300).collect::<String>());
            }
        }
        let form = if h.posted.is_empty() {
            String::new()
        } else {
            let fields: Vec<String> = h.posted.iter().map(|k| format!("{k}=…")).collect();
            format!(" [form {}]", fields.join("&"))
        };
        out.push_str(&format!(
            "\n  {} {}{form} -> {} ({who})",
            h.method,
            short_url(&h.url),
            h.status
        ));
    }
    out
}

/// The IdP session index of the browser's IdP session, if it has one.
async fn session_index(idp: &IdpState, browser: &mut Driver<'_>) -> Option<String> {
    let sid = browser
        .cookie(idp.conn.idp.base(), crate::idp::SESSION_COOKIE)
        .await?;
    idp.session(&sid).map(|s| s.session_index)
}

/// Sends the trial's IdP-initiated logout (honest, or with `fault`) for `user` to the app: a
/// SAML LogoutRequest through `browser` by `binding`, or an OIDC back-channel logout token; an
/// honest one also ends the user's IdP session.
pub async fn idp_initiated(
    spec: &TrialSpec,
    idp: &IdpState,
    trial: &str,
    user: &User,
    browser: &mut Driver<'_>,
    fault: Option<LogoutFault>,
    binding: SloBinding,
) -> Result<Done, String> {
    let app = spec.conn.app(&spec.app).ok_or("unknown app")?;
    let index = session_index(idp, browser).await;
    let done = if let Some(saml) = app.saml() {
        let sent = Slo {
            spec,
            idp,
            trial,
            user,
            app,
            saml,
            index: index.clone(),
        };
        sent.send(browser, fault, binding).await?
    } else if let Some(o) = app.oidc() {
        if binding == SloBinding::Post {
            return Err(
                "`binding: post` is the binding of a SAML LogoutRequest; this app is OIDC".into(),
            );
        }
        backchannel(idp, app, o, user, index.as_deref(), fault).await?
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

/// A SAML IdP-initiated logout of one trial's user.
struct Slo<'a> {
    spec: &'a TrialSpec,
    idp: &'a IdpState,
    trial: &'a str,
    user: &'a User,
    app: &'a App,
    saml: &'a SamlApp,
    index: Option<String>,
}

impl Slo<'_> {
    /// The LogoutRequest to send, with or without its fault, and whether it is signed.
    fn request(
        &self,
        slo_url: &str,
        fault: Option<LogoutFault>,
    ) -> Result<(slo::LogoutRequest, bool), String> {
        let (saml, idp, user) = (self.saml, self.idp, self.user);
        let honest = slo::LogoutRequest {
            id: format!("id{}", random_hex()),
            issue_instant: idp.now(),
            issuer: saml.issuer.clone(),
            destination: slo_url.to_owned(),
            name_id: saml.name_id_of(user),
            name_id_format: saml.name_id.format.urn().to_owned(),
            session_index: self.index.clone(),
        };
        Ok(match fault {
            Some(LogoutFault::Saml(f)) => {
                let other = self
                    .spec
                    .conn
                    .directory
                    .users
                    .iter()
                    .find(|u| u.id != self.spec.user)
                    .and_then(|u| idp.user_view(Some(self.trial), &u.id))
                    .map(|u| saml.name_id_of(&u))
                    .unwrap_or_else(|| "someone-else@other.invalid".into());
                slo::apply(f, honest, (other, Some(format!("id{}", random_hex()))))
            }
            Some(LogoutFault::Oidc(_)) => return Err("an OIDC logout fault on a SAML app".into()),
            None => (honest, true),
        })
    }

    /// Sends the LogoutRequest through the browser and reads where the browser ended.
    async fn send(
        &self,
        browser: &mut Driver<'_>,
        fault: Option<LogoutFault>,
        binding: SloBinding,
    ) -> Result<Done, String> {
        let (idp, app, user) = (self.idp, self.app, self.user);
        let slo_url = app
            .logout
            .as_ref()
            .ok_or_else(|| format!("app `{}` has no logout.slo_url", app.id))?
            .slo_url
            .to_string();
        let (request, signed) = self.request(&slo_url, fault)?;
        // The IdP remembers the request, to match the SP's LogoutResponse to it.
        idp.remember_logout_request(&request.id, &app.id);
        let xml = slo::build(&request);
        let first_hop = browser.hops_so_far();
        // The request as the binding carries it, signed off the async workers (RSA; xmlsec for
        // the POST binding's enveloped signature).
        let encoded = {
            let (xml, id) = (xml.clone(), request.id.clone());
            let key = signed.then(|| idp.keys.current.pkey().clone());
            let cert = idp.keys.current.certificate.base64();
            tokio::task::spawn_blocking(move || -> Result<String, String> {
                match binding {
                    SloBinding::Redirect => {
                        slo::redirect_query(&xml, None, key.as_ref()).map_err(|e| e.to_string())
                    }
                    SloBinding::Post => {
                        let sent = match &key {
                            Some(key) => slo::sign_enveloped(&xml, &id, key, Some(&cert))
                                .map_err(|e| e.to_string())?,
                            None => xml,
                        };
                        Ok(crate::saml::binding::encode_post(&sent))
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let page = match binding {
            SloBinding::Redirect => {
                let sep = if slo_url.contains('?') { '&' } else { '?' };
                browser
                    .navigate(&format!("{slo_url}{sep}{encoded}"), &user.login)
                    .await
            }
            SloBinding::Post => {
                let fields = vec![("SAMLRequest".to_owned(), encoded)];
                browser.navigate_form(&slo_url, fields, &user.login).await
            }
        }?;
        let idp_slo = idp.url(&crate::idp::slo::slo_path(&idp.conn.idp, app));
        let all = &browser.record.hops;
        let hops = &all[first_hop.min(all.len())..];
        let answer = (without_query(&page.url) == idp_slo).then(|| slo_answer(&page));
        Ok(Done {
            description: format!(
                "IdP-initiated LogoutRequest{} ({}, {}) sent through the browser to {slo_url}; the browser went:{}\n{}",
                fault
                    .map(|f| format!(" with fault {}", f.name()))
                    .unwrap_or_default(),
                if signed { "signed" } else { "unsigned" },
                match binding {
                    SloBinding::Redirect => "HTTP-Redirect",
                    SloBinding::Post => "HTTP-POST",
                },
                describe_hops(hops, &page, idp.conn.idp.base(), &idp_slo),
                slo_verdict(answer.as_ref()),
            ),
            status: page.status,
            slo_answer: answer,
            page: Some(page),
        })
    }
}

/// What the IdP made of the SP's LogoutResponse, in words.
fn slo_verdict(answer: Option<&SloAnswer>) -> String {
    match answer {
        None => "the SP sent no LogoutResponse to the IdP's SLO endpoint".to_owned(),
        Some(SloAnswer::SignedOut) => {
            "the SP's LogoutResponse (status Success) was accepted by the IdP".to_owned()
        }
        Some(SloAnswer::NotConfirmed(st)) => {
            format!(
                "the IdP accepted the SP's LogoutResponse, whose status is {st}: the SP did not confirm the logout"
            )
        }
        Some(SloAnswer::Refused { status, reason }) => format!(
            "the IdP's SLO endpoint refused the SP's LogoutResponse ({status}): {reason}; the SP's fault: its LogoutResponse is not acceptable"
        ),
    }
}

/// An OIDC back-channel logout token (G4) POSTed to the RP.
async fn backchannel(
    idp: &IdpState,
    app: &App,
    o: &OidcApp,
    user: &User,
    index: Option<&str>,
    fault: Option<LogoutFault>,
) -> Result<Done, String> {
    let uri = o
        .backchannel_logout_uri
        .as_ref()
        .ok_or_else(|| format!("app `{}` has no backchannel_logout_uri", app.id))?
        .to_string();
    let issuer = idp.conn.idp.oidc_issuer(&o.server);
    let claims = bcl::claims(
        &issuer,
        &o.client_id,
        // The `sub` of the id_token the RP holds (OIDC Back-Channel Logout §2.4).
        &idp.conn.idp.subject(user, &o.client_id),
        index,
        idp.now(),
        &random_hex(),
    );
    let (claims, signing) = match fault {
        Some(LogoutFault::Oidc(f)) => bcl::apply(f, claims),
        Some(LogoutFault::Saml(_)) => return Err("a SAML logout fault on an OIDC app".into()),
        None => (claims, Signing::Idp),
    };
    let token = logout_token(idp, o.signing_alg, signing, claims.clone()).await?;
    let client = super::fetch::client().map_err(|e| e.to_string())?;
    let req = client.post(&uri).form(&[("logout_token", token.as_str())]);
    let (status, _, answer) = super::fetch::send("POST", &uri, req, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    Ok(Done {
        description: format!(
            "back-channel logout{} POSTed to {uri}: claims {claims}; the RP answered {status} {}",
            fault
                .map(|f| format!(" with fault {}", f.name()))
                .unwrap_or_default(),
            answer.chars().take(200).collect::<String>()
        ),
        status,
        slo_answer: None,
        page: None,
    })
}

/// The logout token as `signing` says: by the IdP's key for the app's algorithm, a foreign
/// key, unsigned, or HS256 with a secret the RP cannot know.
/// Signed off the async workers (RSA or ECDSA; the foreign key may be made on first use).
async fn logout_token(
    idp: &IdpState,
    alg: SigningAlg,
    signing: Signing,
    claims: serde_json::Value,
) -> Result<String, String> {
    let (alg, kid, key) = match alg {
        SigningAlg::RS256 => (
            SigningAlg::RS256,
            idp.rsa_kid.clone(),
            idp.keys.current.pkey().clone(),
        ),
        SigningAlg::ES256 => (
            SigningAlg::ES256,
            idp.ec_kid.clone(),
            idp.keys.ec.pkey().clone(),
        ),
    };
    tokio::task::spawn_blocking(move || sign_logout_token(alg, &kid, &key, signing, &claims))
        .await
        .map_err(|e| e.to_string())?
}

fn sign_logout_token(
    alg: SigningAlg,
    kid: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    signing: Signing,
    claims: &serde_json::Value,
) -> Result<String, String> {
    let typ = Some("logout+jwt");
    let token = match signing {
        Signing::Idp => {
            crate::oidc::jwt::sign(alg, kid, typ, key, claims).map_err(|e| e.to_string())?
        }
        Signing::Foreign => {
            let other = crate::keys::foreign_key().ok_or("cannot make a foreign key")?;
            crate::oidc::jwt::sign(SigningAlg::RS256, kid, typ, other.pkey(), claims)
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
                crate::oidc::jwt::signing_input(&h, claims).map_err(|e| e.to_string())?
            )
        }
        Signing::Hs256 => {
            let h = crate::oidc::jwt::Header {
                alg: "HS256",
                kid: Some(kid),
                typ,
            };
            let input = crate::oidc::jwt::signing_input(&h, claims).map_err(|e| e.to_string())?;
            let secret = random_hex();
            let hkey = openssl::pkey::PKey::hmac(secret.as_bytes()).map_err(|e| e.to_string())?;
            let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &hkey)
                .map_err(|e| e.to_string())?;
            s.update(input.as_bytes()).map_err(|e| e.to_string())?;
            format!(
                "{input}.{}",
                crate::oidc::jwt::b64(&s.sign_to_vec().map_err(|e| e.to_string())?)
            )
        }
    };
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(url: &str, status: u16, body: &str) -> Page {
        Page {
            url: url.to_owned(),
            status,
            headers: Default::default(),
            body: body.to_owned(),
        }
    }

    const IDP_SLO: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/slo/saml";

    #[test]
    fn urls_are_shown_without_their_query_values() {
        assert_eq!(
            short_url("http://sp/slo?SAMLRequest=abc%2B&SigAlg=x&flag"),
            "http://sp/slo?SAMLRequest=…&SigAlg=…&flag"
        );
        assert_eq!(short_url("http://sp/slo"), "http://sp/slo");
        assert_eq!(without_query("http://sp/slo?a=1"), "http://sp/slo");
    }

    #[test]
    fn the_idp_slo_page_is_read_as_signed_out_not_confirmed_or_refused() {
        let ok = page(
            IDP_SLO,
            200,
            "<html><head><title>Signed out of qovery</title></head><body></body></html>",
        );
        assert_eq!(slo_answer(&ok), SloAnswer::SignedOut);
        let responder = "urn:oasis:names:tc:SAML:2.0:status:Responder";
        let not = page(
            IDP_SLO,
            200,
            &format!(
                "<html><head><title>Sign-out of qovery not confirmed</title></head><body><p id=\"slo-result\" data-status=\"{responder}\">..</p></body></html>"
            ),
        );
        assert_eq!(slo_answer(&not), SloAnswer::NotConfirmed(responder.into()));
        let refused = page(
            IDP_SLO,
            400,
            "<html><head><title>Bad logout response</title></head><body><p class=\"error\">the LogoutResponse's Issuer `x`\n is wrong</p></body></html>",
        );
        assert_eq!(
            slo_answer(&refused),
            SloAnswer::Refused {
                status: 400,
                reason: "the LogoutResponse's Issuer `x` is wrong".into()
            }
        );
    }

    #[test]
    fn each_hop_says_who_answered_and_the_last_what_it_said() {
        let sp_hop = Hop {
            method: "GET",
            url: "http://127.0.0.1:7100/saml/slo?SAMLRequest=zz".into(),
            status: 302,
            posted: Vec::new(),
            set_cookies: Vec::new(),
        };
        let idp_hop = Hop {
            method: "POST",
            url: IDP_SLO.into(),
            status: 200,
            posted: vec!["SAMLResponse".into(), "RelayState".into()],
            set_cookies: Vec::new(),
        };
        let last = page(
            IDP_SLO,
            200,
            "<html><head><title>Signed out of qovery</title></head></html>",
        );
        assert_eq!(
            describe_hops(
                &[sp_hop.clone(), idp_hop],
                &last,
                "http://127.0.0.1:7000",
                IDP_SLO
            ),
            format!(
                "\n  GET http://127.0.0.1:7100/saml/slo?SAMLRequest=… -> 302 (the SP)\
\n  POST {IDP_SLO} [form SAMLResponse=…&RelayState=…] -> 200 (the IdP: Signed out of qovery)"
            )
        );
        // An SP refusal page names its reason; an origin sharing the IdP's prefix is not the IdP.
        let refusal = page(
            &sp_hop.url,
            403,
            "<html><head><title>Refused</title></head><body><p id=\"reason\">not signed</p></body></html>",
        );
        let hop = Hop {
            status: 403,
            ..sp_hop
        };
        assert_eq!(
            describe_hops(&[hop], &refusal, "http://127.0.0.1:71", IDP_SLO),
            "\n  GET http://127.0.0.1:7100/saml/slo?SAMLRequest=… -> 403 (the SP: Refused: not signed)"
        );
    }
}
