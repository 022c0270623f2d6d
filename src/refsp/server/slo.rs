//! SAML Single Logout: the IdP's LogoutRequest by either binding, and the IdP's LogoutResponse
//! to the SP's own request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

use super::*;
use crate::refsp::flaws::Flaw;
use crate::refsp::saml::{self};
use crate::refsp::state::{SpState, Trust, lock};
use crate::saml::binding;

/// IdP-initiated SAML LogoutRequest over HTTP-Redirect (or the IdP's LogoutResponse to the
/// SP's own LogoutRequest).
pub(super) async fn slo_get(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    if binding::raw_param(&q, "SAMLResponse").is_some() {
        return logout_response(&st, &q).await;
    }
    let Some(raw) = binding::raw_param(&q, "SAMLRequest") else {
        return refused("no SAMLRequest");
    };
    let Ok(Trust::Saml {
        entity_id,
        certs,
        slo_url,
        ..
    }) = trust(&st, false).await
    else {
        return refused("the IdP is unknown");
    };
    if !st.flaws.on(Flaw::UnsignedSlo) {
        let query = q.clone();
        let ok = off_the_workers(move || {
            certs.iter().any(|der| {
                openssl::x509::X509::from_der(der).ok().is_some_and(|c| {
                    binding::verify_redirect_signature(&query, "SAMLRequest", &c, true).is_ok()
                })
            })
        })
        .await
        .unwrap_or(false);
        if !ok {
            return refused("the LogoutRequest is not signed by the IdP");
        }
    }
    let relay = binding::raw_param(&q, "RelayState").map(binding::percent_decode);
    match binding::decode_redirect(&binding::percent_decode(raw)) {
        Ok(xml) => logout_request(
            &st,
            &xml,
            &entity_id,
            session_id(&headers),
            Answer {
                binding: SloBinding::Redirect,
                idp_slo: slo_url,
                relay,
            },
        ),
        Err(e) => refused(&e.to_string()),
    }
}

/// The IdP's LogoutResponse to the SP's own LogoutRequest (SP-initiated SLO): signed by the
/// IdP, answering a request this SP sent, Status Success.
pub(super) async fn logout_response(st: &SpState, q: &str) -> Response {
    let Ok(Trust::Saml { certs, .. }) = trust(st, false).await else {
        return refused("the IdP is unknown");
    };
    let query = q.to_owned();
    let signed = off_the_workers(move || {
        certs.iter().any(|der| {
            openssl::x509::X509::from_der(der).ok().is_some_and(|c| {
                binding::verify_redirect_signature(&query, "SAMLResponse", &c, true).is_ok()
            })
        })
    })
    .await
    .unwrap_or(false);
    if !signed {
        return refused("the LogoutResponse is not signed by the IdP");
    }
    let Some(raw) = binding::raw_param(q, "SAMLResponse") else {
        return refused("no SAMLResponse");
    };
    let xml = match binding::decode_redirect(&binding::percent_decode(raw)) {
        Ok(x) => x,
        Err(e) => return refused(&e.to_string()),
    };
    // Depth pre-scan, no DTD: the same guard as every XML from the network.
    let Ok(doc) = crate::saml::untrusted::parse(&xml, false) else {
        return refused("the LogoutResponse is not XML (too deep, or has a DOCTYPE)");
    };
    let root = doc.root_element();
    let answered = root
        .attribute("InResponseTo")
        .is_some_and(|id| saml::Memory::take_request(&mut *lock(&st.saml_memory), id));
    if !answered {
        return refused("the LogoutResponse answers no LogoutRequest of this SP");
    }
    let ok = root
        .descendants()
        .find(|n| n.tag_name().name() == "StatusCode")
        .and_then(|n| n.attribute("Value"))
        == Some("urn:oasis:names:tc:SAML:2.0:status:Success");
    if !ok {
        return refused("the IdP's LogoutResponse is not Success");
    }
    Html(page(
        "Signed out",
        "<p>Signed out at the SP and at the IdP.</p>",
    ))
    .into_response()
}

/// IdP-initiated SAML LogoutRequest over HTTP-POST (enveloped signature).
pub(super) async fn slo_post(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(b64) = form.get("SAMLRequest") else {
        return refused("no SAMLRequest");
    };
    let xml = match binding::decode_post(b64) {
        Ok(x) => x,
        Err(e) => return refused(&format!("the SAMLRequest: {e}")),
    };
    // No DTD and no deep nesting reach xmlsec: the document is checked and parsed first.
    if crate::saml::untrusted::parse(&xml, false).is_err() {
        return refused("the LogoutRequest is not XML (too deep, or has a DOCTYPE)");
    }
    let Ok(Trust::Saml {
        entity_id,
        certs,
        slo_url,
        ..
    }) = trust(&st, false).await
    else {
        return refused("the IdP is unknown");
    };
    if !st.flaws.on(Flaw::UnsignedSlo) {
        // libxmlsec1: off the async workers.
        let signed = xml.clone();
        let verified = off_the_workers(move || {
            certs
                .iter()
                .any(|c| crate::saml::signature::verify_first(&signed, c))
        })
        .await
        .unwrap_or(false);
        if !verified {
            return refused("the LogoutRequest is not signed by the IdP");
        }
    }
    logout_request(
        &st,
        &xml,
        &entity_id,
        session_id(&headers),
        Answer {
            binding: SloBinding::Post,
            idp_slo: slo_url,
            relay: form.get("RelayState").cloned(),
        },
    )
}

/// The binding an IdP-initiated LogoutRequest came by; the LogoutResponse goes back by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SloBinding {
    Redirect,
    Post,
}

/// How to answer an accepted LogoutRequest: where (the IdP's SLO URL from its metadata), by
/// which binding, with the RelayState it came with.
pub(super) struct Answer {
    binding: SloBinding,
    idp_slo: Option<String>,
    relay: Option<String>,
}

/// An IdP-initiated LogoutRequest, its signature checked (unless flawed): ends the sessions it
/// names, then answers the IdP with a LogoutResponse (Status Success) through the browser, by
/// the binding the request came by. `browser_session`: the session of the browser that
/// delivered the request (front channel).
pub(super) fn logout_request(
    st: &SpState,
    xml: &str,
    idp_entity_id: &str,
    browser_session: Option<String>,
    answer: Answer,
) -> Response {
    let Ok(doc) = crate::saml::untrusted::parse(xml, false) else {
        return refused("the LogoutRequest is not XML (too deep, or has a DOCTYPE)");
    };
    let root = doc.root_element();
    if root.tag_name().name() != "LogoutRequest" {
        return refused("not a LogoutRequest");
    }
    let text = |name: &str| {
        root.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .map(|n| {
                n.descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
    };
    let slo = st
        .app
        .logout
        .as_ref()
        .map(|l| l.slo_url.to_string())
        .unwrap_or_default();
    let destination = root.attribute("Destination").unwrap_or_default();
    let names_slo = destination == slo
        || (st.flaws.on(Flaw::SloDestinationPrefix)
            && !slo.is_empty()
            && destination.starts_with(slo.as_str()));
    if !names_slo && !st.flaws.on(Flaw::SloIgnoresDestination) {
        return refused(&format!("the LogoutRequest's Destination is not {slo}"));
    }
    if text("Issuer").as_deref() != Some(idp_entity_id) {
        return refused("the LogoutRequest's Issuer is not the IdP");
    }
    let Some(name_id) = text("NameID") else {
        return refused("the LogoutRequest has no NameID");
    };
    let index = text("SessionIndex");
    let ended = if st.flaws.on(Flaw::SloKeepsSession) {
        0
    } else if st.flaws.on(Flaw::SloEndsBrowserSession) {
        usize::from(browser_session.is_some_and(|id| st.end_session(&id)))
    } else {
        st.end_sessions(|s| {
            s.protocol == "saml"
                && s.subject == name_id
                && index
                    .as_ref()
                    .is_none_or(|i| s.session_index.as_ref() == Some(i))
        })
    };
    tracing::info!(ended, "IdP-initiated logout");
    let Some(request_id) = root.attribute("ID") else {
        return refused("the LogoutRequest has no ID");
    };
    let Some(idp_slo) = answer.idp_slo else {
        // The IdP's metadata names no SLO endpoint: nowhere to send a LogoutResponse.
        return Html(page(
            "Logged out",
            &format!("<p>{ended} session(s) ended.</p>"),
        ))
        .into_response();
    };
    let issuer = st
        .app
        .saml()
        .map(|a| a.audience.clone())
        .unwrap_or_default();
    let id = format!("_{}", st.token());
    let response = crate::saml::logout::response(&id, request_id, st.now(), &issuer, &idp_slo);
    match answer.binding {
        SloBinding::Redirect => {
            match crate::saml::logout::redirect_response_query(
                &response,
                answer.relay.as_deref(),
                st.sp_key.as_ref(),
            ) {
                Ok(q) => redirect(&format!(
                    "{idp_slo}{}{q}",
                    if idp_slo.contains('?') { '&' } else { '?' }
                )),
                Err(e) => refused(&format!("cannot sign the LogoutResponse: {e}")),
            }
        }
        SloBinding::Post => {
            let signed = match &st.sp_key {
                Some(key) => crate::saml::logout::sign_enveloped(&response, &id, key, None),
                None => Ok(response),
            };
            match signed {
                Ok(xml) => Html(binding::post_form(
                    &idp_slo,
                    "SAMLResponse",
                    &binding::encode_post(&xml),
                    answer.relay.as_deref(),
                ))
                .into_response(),
                Err(e) => refused(&format!("cannot sign the LogoutResponse: {e}")),
            }
        }
    }
}
