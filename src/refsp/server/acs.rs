//! The ACS (SAML HTTP-POST) and the callback route it shares with OIDC.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::*;
use crate::config::UserField;
use crate::refsp::flaws::Flaw;
use crate::refsp::roles;
use crate::refsp::saml::{self};
use crate::refsp::state::{SpSession, SpState, Trust, lock};
use crate::saml::binding;

pub(super) async fn callback_post(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if st.app.saml().is_some() {
        acs(&st, &headers, &form).await
    } else {
        oidc_callback(&st, &headers, &form).await
    }
}

pub(super) async fn callback_get(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if st.app.saml().is_some() {
        return refused("the ACS accepts only HTTP-POST");
    }
    oidc_callback(&st, &headers, &q).await
}

pub(super) async fn acs(
    st: &Arc<SpState>,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Response {
    let Some(b64) = form.get("SAMLResponse") else {
        return refused("no SAMLResponse in the form");
    };
    let Ok(xml) = binding::decode_post(b64) else {
        return refused(&saml::Refusal::Encoding.to_string());
    };
    let (entity_id, certs) = match trust(st, false).await {
        Ok(Trust::Saml {
            entity_id, certs, ..
        }) => (entity_id, certs),
        Ok(_) => return refused("the app is not a SAML app"),
        Err(e) => return refused(&format!("cannot read the IdP metadata: {e}")),
    };
    let Some(sp) = saml_settings(st, &entity_id, &certs) else {
        return refused("the app is not a SAML app");
    };
    if st.flaws.on(Flaw::FetchExternalEntities) {
        fetch_external_entities(st, &xml).await;
    }
    let now = st.now();
    // libxmlsec1 and RSA: off the async workers.
    let checker = Arc::clone(st);
    let accepted = off_the_workers(move || {
        let mut memory = lock(&checker.saml_memory);
        memory.now = Some(now);
        saml::check(&xml, &sp, now, &mut *memory, &checker.flaws)
    })
    .await;
    let a = match accepted {
        Ok(Ok(a)) => a,
        Ok(Err(r)) => return refused(&r.to_string()),
        Err(e) => return refused(&format!("the Response could not be checked: {e}")),
    };
    let first = |name: &str| a.attributes.get(name).and_then(|v| v.first().cloned());
    let email = first(&attr_name(st, &UserField::Email, "email"));
    // The `email-from-username` defect: behind another IdP than Okta, the email attribute
    // must be there, but the account's email is taken from the NameID (Entra's: the UPN).
    let email = match email {
        Some(_) if st.flaws.on(Flaw::EmailFromUsername) && !st.behind_okta() => {
            Some(a.name_id.clone())
        }
        e => e,
    };
    let name = first(&attr_name(st, &UserField::Name, "name"));
    let (email, name) = match profile(st, email, name) {
        Ok(p) => p,
        Err(r) => return refused(&r),
    };
    let group_attr = st
        .app
        .groups
        .as_ref()
        .map(|g| g.attribute.clone())
        .unwrap_or_else(|| "groups".into());
    let mut groups = a.attributes.get(&group_attr).cloned();
    // Entra's group overage: a link in place of the groups. This SP has no Graph credentials
    // of its own to fetch them with, so it refuses rather than treating the user as groupless
    // (the `overage-as-no-groups` defect does that).
    let overage = st.conn.idp.vendor().overage_saml_attribute();
    if let Some(link) = overage.and_then(|name| a.attributes.get(name)) {
        if !st.flaws.on(Flaw::OverageAsNoGroups) {
            return refused(&format!(
                "the assertion carries a group overage ({}) instead of the groups; this SP cannot fetch them, so it cannot give a role",
                link.first().map_or("", String::as_str)
            ));
        }
        groups = None;
    }
    if st.reads_group_paths() {
        groups = roles::from_paths(groups);
    }
    let role = match roles::role_for(&st.settings, groups.as_deref(), &st.flaws) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    let relay = form.get("RelayState").map(String::as_str);
    signed_in(
        st,
        headers,
        SpSession {
            protocol: "saml",
            subject: a.name_id,
            email,
            name,
            groups,
            role,
            session_index: a.session_index,
            id_token: None,
            refresh_token: None,
            created: now,
        },
        relay,
    )
}

/// The defect of `fetch-external-entities`: like an XML parser that loads external entities, the
/// SP requests each `SYSTEM` URL the document's DOCTYPE declares (only on the IdP's host: the
/// reference SP talks to nothing else), before its checks refuse the document anyway.
pub(super) async fn fetch_external_entities(st: &SpState, xml: &str) {
    let Ok(re) = regex::Regex::new(r#"<!ENTITY\s+[^\s>]+\s+SYSTEM\s+"([^"]+)""#) else {
        return;
    };
    let idp = url::Url::parse(st.conn.idp.base()).ok();
    for cap in re.captures_iter(xml).take(4) {
        let target = cap[1].replace("&amp;", "&");
        let same_host = url::Url::parse(&target).ok().is_some_and(|u| {
            idp.as_ref()
                .is_some_and(|i| u.host_str() == i.host_str() && u.port() == i.port())
        });
        if same_host {
            let _ = st.http.get(&target, None).await;
        }
    }
}

/// Attribute name in the app's statements for a user field (e.g. `email`).
pub(super) fn attr_name(st: &SpState, field: &UserField, default: &str) -> String {
    st.app
        .saml()
        .and_then(|s| {
            s.attributes
                .iter()
                .find(|a| a.field == *field)
                .map(|a| a.name.clone())
        })
        .unwrap_or_else(|| default.to_owned())
}
