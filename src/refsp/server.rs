//! The reference SP over HTTP: login, the ACS / OIDC callback, the session probe, logout, and
//! the revocation, SLO and back-channel logout receivers, on the paths the connection file gives.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::flaws::Flaw;
use super::jwt::{self, Key};
use super::oidc::{self, OidcRefusal};
use super::revocation;
use super::roles;
use super::saml::{self, SpSettings};
use super::state::{OidcPending, SpSession, SpState, Trust, lock};
use crate::config::{SubjectFormat, TokenAuth, UserField};
use crate::saml::binding;
use crate::saml::xml::escape;

/// The SP's session cookie (not `sid`: the IdP uses that name on the same host).
pub const COOKIE_NAME: &str = "fakta_sp";

pub fn app(state: Arc<SpState>) -> Router {
    let p = state.paths.clone();
    let mut r = Router::new()
        .route("/", get(home))
        .route(&p.login, get(login))
        .route(&p.probe, get(me))
        .route(&p.callback, get(callback_get).post(callback_post));
    if let Some(l) = &p.logout {
        r = r.route(l, get(logout));
    }
    if let Some(s) = &p.slo {
        r = r.route(s, get(slo_get).post(slo_post));
    }
    if let Some(g) = &p.revocation {
        r = r.route(g, post(revoke));
    }
    if let Some(b) = &p.backchannel {
        r = r.route(b, post(backchannel));
    }
    r.layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// The reference SP behind a switch that starts it afresh, as a restart of its process would:
/// new state (no sessions, nothing fetched from the IdP yet), same listener. The runner uses it
/// for trials that need an SP which reads the IdP's discovery again (O13).
#[derive(Debug, Clone)]
pub struct Restartable {
    current: Arc<std::sync::RwLock<Router>>,
    conn: crate::config::Connection,
    flaws: super::Flaws,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Restartable {
    pub fn new(
        conn: crate::config::Connection,
        flaws: super::Flaws,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<Restartable, super::SpError> {
        let first = app(SpState::new(conn.clone(), flaws.clone(), clock.clone())?);
        Ok(Restartable {
            current: Arc::new(std::sync::RwLock::new(first)),
            conn,
            flaws,
            clock,
        })
    }

    /// The service to serve: each request goes to the SP as it is now.
    pub fn router(&self) -> Router {
        let current = self.current.clone();
        Router::new().fallback(move |req: axum::extract::Request| {
            let r = current.read().unwrap_or_else(|e| e.into_inner()).clone();
            async move {
                use tower::ServiceExt;
                match r.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
        })
    }

    /// Serves the SP as it is at each request, on `listener`, within `limits`, until
    /// `shutdown` completes (or the task is dropped).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        limits: crate::serving::Limits,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::serving::serve(listener, self.router(), limits, shutdown).await
    }

    /// Drops the SP's state and starts with a new one.
    pub fn restart(&self) -> Result<(), super::SpError> {
        let next = app(SpState::new(
            self.conn.clone(),
            self.flaws.clone(),
            self.clock.clone(),
        )?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1>{body}<p><small>fakta reference SP</small></p></body></html>\n",
        t = escape(title)
    )
}

/// A refused request: 403 with the reason, as a person debugging would want to read it.
fn refused(reason: &str) -> Response {
    tracing::info!("reference SP refused: {reason}");
    (
        StatusCode::FORBIDDEN,
        Html(page(
            "Refused",
            &format!("<p id=\"reason\">{}</p>", escape(reason)),
        )),
    )
        .into_response()
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|l| l.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE_NAME).then(|| v.to_owned())
        })
}

async fn home(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Html<String> {
    let who = session_id(&headers)
        .and_then(|id| st.session(&id))
        .map(|s| {
            format!(
                "<p>Signed in as {} with role <b>{}</b>.</p>",
                escape(&s.email),
                escape(&s.role)
            )
        })
        .unwrap_or_else(|| format!("<p><a href=\"{}\">Sign in</a></p>", escape(&st.paths.login)));
    Html(page("fakta reference SP", &who))
}

/// Fetches (once) what the SP trusts: SAML metadata, or OIDC discovery and JWKS.
async fn trust(st: &SpState, refetch_keys: bool) -> Result<Trust, String> {
    let mut guard = st.trust.lock().await;
    if let (Some(t), false) = (guard.as_ref(), refetch_keys) {
        return Ok(t.clone());
    }
    let base = st.conn.idp.base().to_owned();
    let t = if st.app.saml().is_some() {
        let url = format!("{base}/app/{}/sso/saml/metadata", st.app.id);
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
        let mut issuer = oidc.server.issuer(&base);
        let url = format!("{base}{}", oidc.server.discovery_path());
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

fn saml_settings(st: &SpState, entity_id: &str, certs: &[Vec<u8>]) -> Option<SpSettings> {
    let s = st.app.saml()?;
    Some(SpSettings {
        entity_id: s.audience.clone(),
        acs_url: s.acs_url.to_string(),
        idp_entity_id: entity_id.to_owned(),
        idp_certs: certs.to_vec(),
        allow_unsolicited: s.allow_idp_initiated,
    })
}

/// The defect of `fetch-external-entities`: like an XML parser that loads external entities, the
/// SP requests each `SYSTEM` URL the document's DOCTYPE declares (only on the IdP's host: the
/// reference SP talks to nothing else), before its checks refuse the document anyway.
async fn fetch_external_entities(st: &SpState, xml: &str) {
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

/// Runs signature work (RSA, ECDSA, libxmlsec1) on tokio's blocking pool, so it never holds
/// one of the async workers that answer the SP's other requests.
async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the signature work failed: {e}"))
}

/// `GET {login_url}`: starts an SP-initiated login.
async fn login(
    State(st): State<Arc<SpState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match trust(&st, false).await {
        Ok(t) => t,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(page("IdP unreachable", &escape(&e))),
            )
                .into_response();
        }
    };
    match t {
        Trust::Saml {
            entity_id,
            sso_url,
            certs,
            ..
        } => {
            let Some(sp) = saml_settings(&st, &entity_id, &certs) else {
                return refused("the app is not a SAML app");
            };
            let id = format!("_{}", st.token());
            let now = st.now();
            lock(&st.saml_memory).add_request(id.clone(), now);
            let xml = saml::authn_request(&id, now, &sp, &sso_url);
            // Signed (SAML Bindings 3.4.4.1) when the SP has a key.
            let (signer, relay) = (Arc::clone(&st), q.get("RelayState").cloned());
            let signed = off_the_workers(move || {
                crate::saml::logout::redirect_query(&xml, relay.as_deref(), signer.sp_key.as_ref())
                    .map_err(|e| e.to_string())
            })
            .await;
            let query = match signed.and_then(|r| r) {
                Ok(q) => q,
                Err(e) => return refused(&format!("cannot sign the AuthnRequest: {e}")),
            };
            let sep = if sso_url.contains('?') { '&' } else { '?' };
            redirect(&format!("{sso_url}{sep}{query}"))
        }
        Trust::Oidc {
            authorization_endpoint,
            ..
        } => {
            let Some(o) = st.app.oidc() else {
                return refused("the app is not an OIDC app");
            };
            let state_param = st.token();
            let nonce = st.token();
            let verifier = format!("{}{}", st.token(), st.token());
            let challenge = crate::oidc::jwt::b64(&openssl::sha::sha256(verifier.as_bytes()));
            {
                let mut pending = lock(&st.oidc_pending);
                if pending.len() >= super::state::MAX_ENTRIES {
                    pending.clear();
                }
                pending.insert(
                    state_param.clone(),
                    OidcPending {
                        nonce: nonce.clone(),
                        verifier,
                        created: st.now(),
                    },
                );
            }
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &o.client_id)
                .append_pair("redirect_uri", o.redirect_uris[0].as_str())
                .append_pair("response_type", "code")
                .append_pair("scope", "openid email profile groups")
                .append_pair("state", &state_param)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .finish();
            redirect(&format!("{authorization_endpoint}?{q}"))
        }
    }
}

/// The user's attributes mapped to the SP's needs, and the refusal for R7/R8.
fn profile(
    st: &SpState,
    email: Option<String>,
    name: Option<String>,
) -> Result<(String, Option<String>), String> {
    let email = match email.filter(|e| !e.is_empty()) {
        Some(e) => e,
        None if st.flaws.on(Flaw::AcceptMissingEmail) => String::new(),
        None => return Err("the IdP sent no email: an email is required to sign in".into()),
    };
    let name = name.filter(|n| !n.is_empty());
    if name.is_none() && st.settings.require_name && !st.flaws.on(Flaw::AcceptMissingName) {
        return Err("the IdP sent no name: a name is required to sign in".into());
    }
    Ok((email, name))
}

fn signed_in(st: &SpState, s: SpSession) -> Response {
    let text = format!(
        "<p>Signed in as <b>{}</b> with role <b id=\"role\">{}</b>.</p>",
        escape(&s.email),
        escape(&s.role)
    );
    tracing::info!(subject = %s.subject, role = %s.role, "reference SP session started");
    let id = st.start_session(s);
    let mut r = Html(page("Signed in", &text)).into_response();
    let cookie = format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// Attribute name in the app's statements for a user field (e.g. `email`).
fn attr_name(st: &SpState, field: &UserField, default: &str) -> String {
    st.app
        .saml()
        .and_then(|s| {
            s.attributes
                .iter()
                .find(|(_, f)| f == field)
                .map(|(n, _)| n.clone())
        })
        .unwrap_or_else(|| default.to_owned())
}

async fn callback_post(
    State(st): State<Arc<SpState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if st.app.saml().is_some() {
        acs(&st, &form).await
    } else {
        oidc_callback(&st, &form).await
    }
}

async fn callback_get(
    State(st): State<Arc<SpState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if st.app.saml().is_some() {
        return refused("the ACS accepts only HTTP-POST");
    }
    oidc_callback(&st, &q).await
}

async fn acs(st: &Arc<SpState>, form: &HashMap<String, String>) -> Response {
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
    let accepted = tokio::task::spawn_blocking(move || {
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
    let groups = a.attributes.get(&group_attr).cloned();
    let role = match roles::role_for(&st.settings, groups.as_deref(), &st.flaws) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    signed_in(
        st,
        SpSession {
            protocol: "saml",
            subject: a.name_id,
            email,
            name,
            groups,
            role,
            session_index: a.session_index,
            id_token: None,
            created: now,
        },
    )
}

async fn oidc_callback(st: &SpState, q: &HashMap<String, String>) -> Response {
    match oidc_login(st, q).await {
        Ok(s) => signed_in(st, s),
        Err(OidcRefusal::Internal(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(page("Internal Server Error", &escape(&e))),
        )
            .into_response(),
        Err(r) => refused(&r.to_string()),
    }
}

async fn oidc_login(st: &SpState, q: &HashMap<String, String>) -> Result<SpSession, OidcRefusal> {
    if let Some(e) = q.get("error") {
        return Err(OidcRefusal::AuthorizeError(format!(
            "{e}: {}",
            q.get("error_description").map(String::as_str).unwrap_or("")
        )));
    }
    let pending = q
        .get("state")
        .and_then(|s| lock(&st.oidc_pending).remove(s))
        .ok_or(OidcRefusal::State)?;
    let code = q
        .get("code")
        .ok_or(OidcRefusal::Token("no code in the callback".into()))?;
    let o = st
        .app
        .oidc()
        .ok_or(OidcRefusal::Token("not an OIDC app".into()))?;
    let Trust::Oidc {
        issuer,
        token_endpoint,
        userinfo_endpoint,
        mut keys,
        ..
    } = trust(st, false).await.map_err(OidcRefusal::Http)?
    else {
        return Err(OidcRefusal::Token("not an OIDC app".into()));
    };
    let redirect_uri = o.redirect_uris[0].to_string();
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    let secret = o.client_secret.as_ref().map(|s| s.expose().to_owned());
    let basic = match (o.token_auth, &secret) {
        (TokenAuth::ClientSecretBasic, Some(s)) => Some((o.client_id.as_str(), s.as_str())),
        (TokenAuth::ClientSecretPost, Some(s)) => {
            fields.push(("client_id", &o.client_id));
            fields.push(("client_secret", s));
            None
        }
        _ => {
            fields.push(("client_id", &o.client_id));
            None
        }
    };
    let answer = st
        .http
        .post_form(&token_endpoint, &fields, basic)
        .await
        .map_err(|e| OidcRefusal::Http(e.to_string()))?;
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| OidcRefusal::Token(format!("status {}: {}", answer.status, answer.text())))?;
    if answer.status != 200 {
        return Err(OidcRefusal::Token(format!(
            "status {}: {}",
            answer.status, body
        )));
    }
    let id_token = body["id_token"]
        .as_str()
        .ok_or(OidcRefusal::Token("no id_token".into()))?
        .to_owned();
    if st.flaws.on(Flaw::FailWithoutKid)
        && jwt::peek(&id_token).is_some_and(|(h, _)| h.get("kid").is_none())
    {
        return Err(OidcRefusal::Internal(
            "the id_token header has no kid (the SP assumed one)".into(),
        ));
    }
    let verify = |keys: Vec<Key>| {
        let (token, flaws) = (id_token.clone(), st.flaws.clone());
        async move {
            off_the_workers(move || jwt::verify(&token, &keys, &["RS256", "ES256"], &flaws))
                .await
                .map_err(OidcRefusal::Internal)?
                .map_err(OidcRefusal::from)
        }
    };
    let verified = match verify(keys.clone()).await {
        Err(OidcRefusal::Jwt(jwt::JwtRefusal::UnknownKid(_)))
            if !st.flaws.on(Flaw::NoJwksRefetch) =>
        {
            // A key the SP has not seen: the IdP may have rotated. Fetch the JWKS again, once.
            if let Ok(Trust::Oidc { keys: fresh, .. }) = trust(st, true).await {
                keys = fresh;
            }
            verify(keys).await
        }
        other => other,
    };
    let (_, claims) = verified?;
    let now = st.now();
    let info = oidc::check_id_token(
        &claims,
        &issuer,
        &o.client_id,
        &pending.nonce,
        now,
        &st.flaws,
    )?;
    let group_claim = st
        .app
        .groups
        .as_ref()
        .map(|g| g.attribute.clone())
        .unwrap_or_else(|| "groups".into());
    let needs_userinfo = ["email", "name", group_claim.as_str()]
        .iter()
        .any(|c| claims.get(*c).is_none());
    let mut userinfo = None;
    if let (true, Some(url), Some(at)) = (
        needs_userinfo,
        &userinfo_endpoint,
        body["access_token"].as_str(),
    ) {
        let a = st
            .http
            .get(url, Some(at))
            .await
            .map_err(|e| OidcRefusal::Http(e.to_string()))?;
        if a.status == 200 {
            let u: Value = serde_json::from_slice(&a.body)
                .map_err(|_| OidcRefusal::Http("userinfo is not JSON".into()))?;
            let differs = u["sub"].as_str() != Some(&info.sub);
            if differs && st.flaws.on(Flaw::UserinfoMismatchDropped) {
                // Not used, not refused: the id_token's identity alone (OIDC Core 5.3.2).
                tracing::info!("userinfo sub differs: answer dropped");
            } else if differs && !st.flaws.on(Flaw::IgnoreUserinfoSub) {
                return Err(OidcRefusal::UserinfoSub {
                    got: u["sub"].to_string(),
                    expected: info.sub.clone(),
                });
            } else {
                userinfo = Some(u);
            }
        }
    }
    let email = oidc::claim_str(&claims, userinfo.as_ref(), "email");
    let name = oidc::claim_str(&claims, userinfo.as_ref(), "name");
    let (email, name) = profile(st, email, name).map_err(OidcRefusal::Profile)?;
    let groups = oidc::claim_list(&claims, userinfo.as_ref(), &group_claim);
    let role = roles::role_for(&st.settings, groups.as_deref(), &st.flaws)
        .map_err(|why| OidcRefusal::Profile(why.into()))?;
    Ok(SpSession {
        protocol: "oidc",
        subject: info.sub,
        email,
        name,
        groups,
        role,
        session_index: info.sid,
        id_token: Some(id_token),
        created: now,
    })
}

/// `GET {probe}`: the session as JSON, or 401.
async fn me(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Response {
    match session_id(&headers).and_then(|id| st.session(&id)) {
        Some(s) => axum::Json(json!({
            "email": s.email,
            "name": s.name,
            "role": s.role,
            "groups": s.groups,
            "protocol": s.protocol,
            "subject": s.subject,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "not signed in"})),
        )
            .into_response(),
    }
}

/// `GET {logout_url}`: ends the local session; an OIDC app then sends the browser to the IdP's
/// end_session endpoint (RP-initiated logout) with the id_token as hint.
async fn logout(State(st): State<Arc<SpState>>, headers: HeaderMap) -> Response {
    let session = session_id(&headers).and_then(|id| st.session(&id).map(|s| (id, s)));
    if let Some((id, _)) = &session {
        st.end_session(id);
    }
    let end_session = match (st.app.oidc(), &session) {
        _ if st.flaws.on(Flaw::LocalLogoutOnly) => None,
        // SAML: SP-initiated Single Logout through the IdP's SLO endpoint.
        (None, Some((_, s))) if s.protocol == "saml" => match trust(&st, false).await {
            Ok(Trust::Saml {
                slo_url: Some(idp_slo),
                ..
            }) if st.app.logout.is_some() => {
                let id = format!("_{}", st.token());
                lock(&st.saml_memory).add_request(id.clone(), st.now());
                let xml = crate::saml::logout::build(&crate::saml::logout::LogoutRequest {
                    id,
                    issue_instant: st.now(),
                    issuer: st
                        .app
                        .saml()
                        .map(|a| a.audience.clone())
                        .unwrap_or_default(),
                    destination: idp_slo.clone(),
                    name_id: s.subject.clone(),
                    name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
                    session_index: s.session_index.clone(),
                });
                let signer = Arc::clone(&st);
                off_the_workers(move || {
                    crate::saml::logout::redirect_query(&xml, None, signer.sp_key.as_ref()).ok()
                })
                .await
                .ok()
                .flatten()
                .map(|q| {
                    format!(
                        "{idp_slo}{}{q}",
                        if idp_slo.contains('?') { '&' } else { '?' }
                    )
                })
            }
            _ => None,
        },
        (Some(o), Some((_, s))) => match (trust(&st, false).await, &s.id_token) {
            (
                Ok(Trust::Oidc {
                    end_session_endpoint: Some(ep),
                    ..
                }),
                Some(hint),
            ) => {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("id_token_hint", hint);
                if let Some(back) = o.post_logout_redirect_uris.first() {
                    q.append_pair("post_logout_redirect_uri", back.as_str());
                    q.append_pair("state", &st.token());
                }
                Some(format!("{ep}?{}", q.finish()))
            }
            _ => None,
        },
        _ => None,
    };
    let mut r = match end_session {
        Some(url) => redirect(&url),
        None => Html(page(
            "Signed out",
            if session.is_some() {
                "<p>Signed out.</p>"
            } else {
                "<p>There was no session.</p>"
            },
        ))
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE_NAME}=; Path=/; Max-Age=0")) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// `POST {global_token_revocation.endpoint}`
async fn revoke(State(st): State<Arc<SpState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(g) = st.app.global_token_revocation.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let t = match trust(&st, false).await {
        Ok(t) => t,
        Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
    };
    let base = st.conn.idp.base().to_owned();
    let (keys, subject_issuer, app) = match (&t, st.app.oidc()) {
        (
            Trust::Saml {
                keys, entity_id, ..
            },
            _,
        ) => (keys.clone(), entity_id.clone(), st.app.id.clone()),
        (Trust::Oidc { keys, issuer, .. }, Some(o)) => {
            (keys.clone(), issuer.clone(), o.client_id.clone())
        }
        _ => return StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    };
    let settings = revocation::Settings {
        endpoint: g.endpoint.to_string(),
        idp_issuer: base,
        app,
        subject_issuer,
        email_supported: g.subject_format == SubjectFormat::Email,
    };
    let now = st.now();
    let auth = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The JWT's signature check: off the async workers.
    let checker = Arc::clone(&st);
    let checked = off_the_workers(move || {
        let mut seen = |jti: &str, exp: i64| {
            let mut jtis = lock(&checker.jtis);
            let t = now.unix_timestamp();
            jtis.retain(|_, e| *e + 60 > t);
            jtis.insert(jti.to_owned(), exp).is_none()
        };
        revocation::check(
            auth.as_deref(),
            &body,
            &keys,
            &settings,
            now,
            &mut seen,
            &checker.flaws,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err(revocation::Refused {
            status: 500,
            reason: e,
        })
    });
    let subject = match checked {
        Ok(s) => s,
        Err(r) => {
            tracing::info!(status = r.status, "revocation refused: {}", r.reason);
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, axum::Json(json!({"error": r.reason}))).into_response();
        }
    };
    let matches = |s: &SpSession| match &subject {
        revocation::Subject::IssSub { sub, .. } => s.subject == *sub,
        revocation::Subject::Email(e) => s.email.eq_ignore_ascii_case(e),
        revocation::Subject::Nobody => false,
    };
    if matches!(subject, revocation::Subject::Nobody) {
        // The `revocation-lenient-body` defect: a body it could not read, answered 204.
        return StatusCode::NO_CONTENT.into_response();
    }
    let known = lock(&st.sessions).values().any(matches);
    if !known && st.flaws.on(Flaw::RevocationUnknownUser204) {
        return StatusCode::NO_CONTENT.into_response();
    }
    if !known {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such user has a session"})),
        )
            .into_response();
    }
    let ended = if st.flaws.on(Flaw::RevocationKeepsSession) {
        0
    } else if st.flaws.on(Flaw::RevocationEndsEveryone) {
        st.end_sessions(|_| true)
    } else {
        st.end_sessions(matches)
    };
    tracing::info!(ended, "revocation accepted");
    StatusCode::NO_CONTENT.into_response()
}

/// `POST {backchannel_logout_uri}` with `logout_token` (OIDC Back-Channel Logout 1.0).
async fn backchannel(
    State(st): State<Arc<SpState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let bad = |why: String| {
        tracing::info!("back-channel logout refused: {why}");
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request", "error_description": why})),
        )
            .into_response()
    };
    let Some(token) = form.get("logout_token") else {
        return bad("no logout_token".into());
    };
    let Some(o) = st.app.oidc() else {
        return bad("not an OIDC app".into());
    };
    let Ok(Trust::Oidc { issuer, keys, .. }) = trust(&st, false).await else {
        return bad("the IdP is unknown".into());
    };
    let claims = if st.flaws.on(Flaw::BackchannelUnsigned) {
        match jwt::peek(token) {
            Some((_, c)) => c,
            None => return bad("the logout_token is not a JWT".into()),
        }
    } else {
        let token = token.clone();
        let verified = off_the_workers(move || {
            jwt::verify(&token, &keys, &["RS256", "ES256"], &Default::default())
        })
        .await;
        match verified {
            Ok(Ok((_, c))) => c,
            Ok(Err(e)) => return bad(format!("the logout_token is not valid: {e}")),
            Err(e) => return bad(e),
        }
    };
    let unchecked = st.flaws.on(Flaw::BackchannelClaimsUnchecked);
    if claims["iss"].as_str() != Some(&issuer) && !unchecked {
        return bad(format!("iss {} is not {issuer}", claims["iss"]));
    }
    let aud_ok = unchecked || oidc::aud_contains(&claims["aud"], &o.client_id);
    if !aud_ok {
        return bad(format!("aud {} is not this client", claims["aud"]));
    }
    let now = st.now().unix_timestamp();
    if claims["iat"].as_i64().is_none() {
        return bad("no iat".into());
    }
    if claims["exp"].as_i64().is_some_and(|e| now - 30 >= e) {
        return bad("the logout_token has expired".into());
    }
    if claims["jti"].as_str().is_none() {
        return bad("no jti".into());
    }
    let event = "http://schemas.openid.net/event/backchannel-logout";
    if !claims["events"].get(event).is_some_and(Value::is_object) && !unchecked {
        return bad(format!("events does not contain {event}"));
    }
    if claims.get("nonce").is_some() && !unchecked {
        return bad("a logout_token must not contain a nonce".into());
    }
    let sub = claims["sub"].as_str().map(str::to_owned);
    let sid = claims["sid"].as_str().map(str::to_owned);
    if sub.is_none() && sid.is_none() {
        return bad("neither sub nor sid".into());
    }
    if st.flaws.on(Flaw::BackchannelKeepsSession) {
        return (StatusCode::OK, [(CONTENT_TYPE, "text/plain")], "").into_response();
    }
    let ended = st.end_sessions(|s| {
        s.protocol == "oidc"
            && sid
                .as_ref()
                .is_none_or(|x| s.session_index.as_deref() == Some(x))
            && sub.as_ref().is_none_or(|x| s.subject == *x)
    });
    tracing::info!(ended, "back-channel logout");
    (StatusCode::OK, [(CONTENT_TYPE, "text/plain")], "").into_response()
}

/// IdP-initiated SAML LogoutRequest over HTTP-Redirect (or the IdP's LogoutResponse to the
/// SP's own LogoutRequest).
async fn slo_get(
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
async fn logout_response(st: &SpState, q: &str) -> Response {
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
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let Ok(doc) = roxmltree::Document::parse_with_options(&xml, opts) else {
        return refused("the LogoutResponse is not XML (or has a DOCTYPE)");
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
async fn slo_post(
    State(st): State<Arc<SpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(b64) = form.get("SAMLRequest") else {
        return refused("no SAMLRequest");
    };
    let Ok(xml) = binding::decode_post(b64) else {
        return refused("the SAMLRequest is not base64");
    };
    // No DTD reaches xmlsec: the document is parsed without one first.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    if roxmltree::Document::parse_with_options(&xml, opts).is_err() {
        return refused("the LogoutRequest is not XML (or has a DOCTYPE)");
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
        let verified = tokio::task::spawn_blocking(move || {
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
enum SloBinding {
    Redirect,
    Post,
}

/// How to answer an accepted LogoutRequest: where (the IdP's SLO URL from its metadata), by
/// which binding, with the RelayState it came with.
struct Answer {
    binding: SloBinding,
    idp_slo: Option<String>,
    relay: Option<String>,
}

/// An IdP-initiated LogoutRequest, its signature checked (unless flawed): ends the sessions it
/// names, then answers the IdP with a LogoutResponse (Status Success) through the browser, by
/// the binding the request came by. `browser_session`: the session of the browser that
/// delivered the request (front channel).
fn logout_request(
    st: &SpState,
    xml: &str,
    idp_entity_id: &str,
    browser_session: Option<String>,
    answer: Answer,
) -> Response {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let Ok(doc) = roxmltree::Document::parse_with_options(xml, opts) else {
        return refused("the LogoutRequest is not XML (or has a DOCTYPE)");
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
    if root.attribute("Destination") != Some(slo.as_str())
        && !st.flaws.on(Flaw::SloIgnoresDestination)
    {
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
