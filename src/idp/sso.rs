//! Single sign-on: the SSO endpoint for both bindings, IdP-initiated login, and issuing the signed
//! Response through the HTTP-POST binding.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::state::{
    IdpSession, IdpState, MAX_SEEN_REQUESTS, PendingKind, PendingLogin, REQUEST_LIFETIME,
    REQUEST_SKEW, RequestUse,
};
use super::{IdpError, SESSION_COOKIE};
use crate::config::{App, Connection, Emit, SamlApp, SpMessage, User};
use crate::directory::emitted_groups;
use crate::saml::authn_request::{self, AcsUrls, AuthnRequest};
use crate::saml::binding::{self, raw_param};
use crate::saml::response::{self, Attribute, ResponseIds, ResponseParams};
use crate::saml::{ns, signature};

/// Finds the SAML app addressed by `/app/{name}/{id}/...`.
pub fn saml_app<'s>(
    state: &'s IdpState,
    app_name: Option<&str>,
    app_id: &str,
) -> Result<(&'s App, &'s SamlApp), IdpError> {
    let app = state
        .app(app_id)
        .ok_or_else(|| IdpError::UnknownApp(app_id.to_owned()))?;
    if let Some(name) = app_name {
        if name != app.name {
            return Err(IdpError::AppNameMismatch {
                app_id: app.id.clone(),
                got: name.to_owned(),
                expected: app.name.clone(),
            });
        }
    }
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    Ok((app, saml))
}

/// `GET /app/{name}/{id}/sso/saml`: HTTP-Redirect binding, or IdP-initiated without SAMLRequest.
pub async fn sso_get(
    State(state): State<Arc<IdpState>>,
    Path((app_name, app_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || {
        sso_redirect(
            &state,
            &app_name,
            &app_id,
            query.unwrap_or_default(),
            &headers,
        )
    })
    .await
}

pub(super) fn sso_redirect(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    query: String,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, saml) = saml_app(state, Some(app_name), app_id)?;
    let relay_state = raw_param(&query, "RelayState").map(binding::percent_decode);
    let Some(raw_request) = raw_param(&query, "SAMLRequest") else {
        return idp_initiated(state, app, saml, relay_state, headers);
    };
    // A signature is verified whenever there is a certificate; `sp_signs` only says whether
    // one must be there.
    let required = saml.requires_signed(SpMessage::AuthnRequests);
    let signed = match state.sp_certs.get(&app.id) {
        Some(cert) => binding::verify_redirect_signature(&query, "SAMLRequest", cert, required)?,
        None => false,
    };
    let xml = binding::decode_redirect(&binding::percent_decode(raw_request))?;
    super::inspect::authn_request(state, app, "Redirect", signed, &xml);
    let request = authn_request::parse(&xml)?;
    let acs = check_request(state, app, saml, &request, signed)?;
    continue_login(state, app, saml, &request, acs, relay_state, headers)
}

/// `POST /app/{name}/{id}/sso/saml`: HTTP-POST binding.
pub async fn sso_post(
    State(state): State<Arc<IdpState>>,
    Path((app_name, app_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, IdpError> {
    super::off_the_workers(move || sso_form(&state, &app_name, &app_id, &form, &headers)).await
}

pub(super) fn sso_form(
    state: &IdpState,
    app_name: &str,
    app_id: &str,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let (app, saml) = saml_app(state, Some(app_name), app_id)?;
    let raw = form
        .get("SAMLRequest")
        .ok_or(IdpError::MissingField("SAMLRequest"))?;
    let xml = binding::decode_post(raw)?;
    let request = authn_request::parse(&xml)?;
    let required = saml.requires_signed(SpMessage::AuthnRequests);
    let signed = match state.sp_certs.get(&app.id) {
        Some(cert) => verify_post(&xml, cert, "AuthnRequest", &app.id, required)?,
        None => false,
    };
    super::inspect::authn_request(state, app, "POST", signed, &xml);
    let acs = check_request(state, app, saml, &request, signed)?;
    let relay_state = form.get("RelayState").cloned();
    continue_login(state, app, saml, &request, acs, relay_state, headers)
}

/// Checks the enveloped signature of a POSTed request (`message`: AuthnRequest or
/// LogoutRequest) with the app's SP certificate: its shape first (same-document reference to
/// the root element, see `saml::signature::check_enveloped`), then libxmlsec1. Whether it was
/// signed; an unsigned one is an error when `required`, a present one must verify regardless.
/// Blocking.
pub(super) fn verify_post(
    xml: &str,
    cert: &openssl::x509::X509,
    message: &'static str,
    app_id: &str,
    required: bool,
) -> Result<bool, IdpError> {
    use crate::saml::signature::{ReferenceError, VerifyError};
    let bad = || IdpError::BadPostSignature {
        message,
        app: app_id.to_owned(),
    };
    let der = cert.to_der().map_err(|_| bad())?;
    match signature::verify_enveloped(xml, &der) {
        Ok(()) => Ok(true),
        Err(VerifyError::Reference(ReferenceError::SignatureCount { count: 0 })) if !required => {
            Ok(false)
        }
        Err(VerifyError::Reference(ReferenceError::SignatureCount { count: 0 })) => {
            Err(IdpError::UnsignedPost {
                message,
                app: app_id.to_owned(),
            })
        }
        Err(VerifyError::Reference(source)) => Err(IdpError::SignatureShape { message, source }),
        Err(VerifyError::Xml(e)) => Err(IdpError::Xml(e)),
        Err(VerifyError::BadSignature) => Err(bad()),
    }
}

/// Checks the request against the app; a signed one must also be within its validity window
/// and not seen before (replay). The ACS URL to answer to: the app's, or one of its other
/// requestable SSO URLs the request named.
fn check_request(
    state: &IdpState,
    app: &App,
    saml: &SamlApp,
    request: &AuthnRequest,
    signed: bool,
) -> Result<String, IdpError> {
    let sso_url = state.url(&state.sso_path(app));
    let others: Vec<(u16, &str)> = saml
        .other_sso_urls
        .iter()
        .map(|o| (o.index, o.url.as_str()))
        .collect();
    let acs = request.check(
        &saml.audience,
        AcsUrls {
            default: saml.acs_url.as_str(),
            others: &others,
        },
        &sso_url,
    )?;
    if signed {
        once_within_window(
            state,
            &app.id,
            "AuthnRequest",
            &request.id,
            request.issue_instant.as_deref(),
        )?;
    }
    Ok(acs)
}

/// A signed request (AuthnRequest, LogoutRequest) is answered only within its validity window
/// from its IssueInstant, and only once: a captured signed request cannot be replayed.
pub(super) fn once_within_window(
    state: &IdpState,
    app_id: &str,
    message: &'static str,
    id: &str,
    issue_instant: Option<&str>,
) -> Result<(), IdpError> {
    let raw = issue_instant.ok_or(IdpError::NoIssueInstant { message })?;
    let issued = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| IdpError::BadIssueInstant {
        message,
        instant: raw.to_owned(),
    })?;
    let now = state.now();
    let valid_until = issued + REQUEST_LIFETIME;
    if now < issued - REQUEST_SKEW || now > valid_until {
        return Err(IdpError::RequestOutsideWindow {
            message,
            issued: raw.to_owned(),
            now: crate::saml::xml::instant(now),
            lifetime_secs: REQUEST_LIFETIME.whole_seconds(),
        });
    }
    match state.first_use_of_request(app_id, id, valid_until) {
        RequestUse::First => Ok(()),
        RequestUse::Replayed => Err(IdpError::Replayed {
            message,
            id: id.to_owned(),
        }),
        RequestUse::Full => Err(IdpError::TooManyRequests(MAX_SEEN_REQUESTS)),
    }
}

fn idp_initiated(
    state: &IdpState,
    app: &App,
    saml: &SamlApp,
    relay_state: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    if !saml.allow_idp_initiated {
        return Err(IdpError::IdpInitiatedOff(app.id.clone()));
    }
    let relay_state = relay_state.or_else(|| saml.default_relay_state.clone());
    // IdP-initiated logins always go to the app's own SSO URL (Okta's field reference: "This
    // URL is always used for Identity Provider (IdP) initiated sign-on requests").
    let login = Login {
        in_response_to: None,
        acs_url: None,
        relay_state,
        force_authn: false,
        is_passive: false,
    };
    start_login(state, app, login, headers)
}

/// The IdP session from the request's cookie, if any and still valid.
pub fn current_session(state: &IdpState, headers: &HeaderMap) -> Option<(IdpSession, User)> {
    let sid = session_cookie(headers)?;
    let session = state.session(&sid)?;
    let user = state.directory.find(&session.user_id)?;
    Some((session, user))
}

/// The IdP session cookie (`sid`) this browser sent, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            line.split(';').find_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k == SESSION_COOKIE).then(|| v.to_owned())
            })
        })
}

/// An SP-initiated login: see [`start_login`]. ForceAuthn counts only when the app honours
/// it (Okta's "Honor Force Authentication": "select No to ignore the ForceAuthn attribute,
/// permitting the use of an existing session", support.okta.com "When Does SAML Honor Force
/// Authentication Apply"). A RequestedAuthnContext the app's class cannot meet is answered
/// with a NoAuthnContext status before any login page.
fn continue_login(
    state: &IdpState,
    app: &App,
    saml: &SamlApp,
    request: &AuthnRequest,
    acs: String,
    relay_state: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    let login = Login {
        in_response_to: Some(request.id.clone()),
        acs_url: Some(acs),
        relay_state,
        force_authn: request.force_authn && saml.honor_force_authn,
        is_passive: request.is_passive,
    };
    // Okta documents no answer to a RequestedAuthnContext (its AuthnStatement carries the
    // app's "Authentication context class"); SAML Core 3.3.2.2.1 requires an `exact` match of
    // one requested class, and 3.2.2.2 gives NoAuthnContext for a request that cannot be
    // met. fakta takes the conservative side: it refuses rather than send a class the SP said
    // it would not take.
    if let Some(asked) = &request.requested_authn_context {
        let class = saml.authn_context_class.urn();
        if !asked.met_by(class) {
            let why = format!(
                "NoAuthnContext: the request asks for {} ({}), and the app's class is {class}",
                asked.class_refs.join(", "),
                asked.comparison
            );
            return status_answer(state, app, login, ns::STATUS_NO_AUTHN_CONTEXT, &why);
        }
    }
    start_login(state, app, login, headers)
}

/// A login to answer: the request it answers (None: IdP-initiated), where the Response goes
/// (None: the app's `acs_url`), and what the request asked of the IdP.
struct Login {
    in_response_to: Option<String>,
    acs_url: Option<String>,
    relay_state: Option<String>,
    force_authn: bool,
    is_passive: bool,
}

/// The longest RelayState the IdP keeps and sends back, in bytes.
pub const MAX_RELAY_STATE_BYTES: usize = 1024;

/// With a live IdP session (and no ForceAuthn) the Response goes out at once; otherwise the
/// person is sent to the login page, unless the request is passive (`IsPassive`: no
/// interaction allowed), which is answered with a NoPassive status.
fn start_login(
    state: &IdpState,
    app: &App,
    login: Login,
    headers: &HeaderMap,
) -> Result<Response, IdpError> {
    if let Some(len) = login
        .relay_state
        .as_ref()
        .map(String::len)
        .filter(|n| *n > MAX_RELAY_STATE_BYTES)
    {
        return Err(IdpError::RelayStateTooLong(len));
    }
    if !login.force_authn {
        if let Some((session, user)) = current_session(state, headers) {
            let trial = super::state::trial_of(headers);
            return issue(
                state,
                app,
                &user,
                &session,
                login.in_response_to,
                login.acs_url,
                login.relay_state,
                None,
                trial.as_deref(),
            );
        }
    }
    if login.is_passive {
        return status_answer(
            state,
            app,
            login,
            ns::STATUS_NO_PASSIVE,
            "NoPassive: a passive request without an IdP session",
        );
    }
    let token = state.add_pending(PendingLogin {
        app_id: app.id.clone(),
        kind: PendingKind::Saml {
            in_response_to: login.in_response_to,
            acs_url: login.acs_url,
            relay_state: login.relay_state,
        },
        login_hint: None,
        created: state.now(),
    });
    Ok(to_login_page(&token))
}

/// The answer to a request the IdP will not log in for: a signed Response with status
/// Responder and the second-level `detail` (SAML Core 3.2.2.2: NoPassive for a passive request
/// that would need the login page, NoAuthnContext for an authentication context the app
/// cannot give), posted to the ACS URL the request chose among the registered ones.
fn status_answer(
    state: &IdpState,
    app: &App,
    login: Login,
    detail: &str,
    why: &str,
) -> Result<Response, IdpError> {
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    let acs = login
        .acs_url
        .unwrap_or_else(|| saml.acs_url.as_str().to_owned());
    let id = state.new_id();
    let bare = response::build_status(
        &id,
        state.now(),
        &saml.issuer,
        saml.destination_url.as_deref().unwrap_or(&acs),
        login.in_response_to.as_deref(),
        ns::STATUS_RESPONDER,
        detail,
    );
    let key = &state.keys.current;
    let xml = signature::signed_status_response(&bare, &id, key.pkey(), &key.certificate.base64())?;
    super::inspect::status_response(state, app, &xml, why);
    // The status, not `why`: that quotes the request, whose size the SP chose.
    tracing::info!(app = %app.id, status = detail, "answered a request with a status");
    let page = binding::post_form(
        &acs,
        "SAMLResponse",
        &binding::encode_post(&xml),
        login.relay_state.as_deref(),
    );
    Ok(Html(page).into_response())
}

/// A redirect to the login page for a pending login.
pub fn to_login_page(token: &str) -> Response {
    let location = format!("/login/login.htm?state={token}");
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// The attributes an app sends for a user: its attribute statements in file order, then the
/// group statement (each group written the flavor's way, or the flavor's overage link when
/// there are too many), then the flavor's own attributes; attributes named in
/// `emit.omit_attributes` are left out, and so is any statement whose user field is empty.
pub fn attributes_for(
    conn: &Connection,
    app: &App,
    saml: &SamlApp,
    user: &User,
    emit: &Emit,
) -> Vec<Attribute> {
    let omitted = |name: &str| emit.omit_attributes.iter().any(|o| o == name);
    let mut out: Vec<Attribute> = saml
        .attributes
        .iter()
        .filter(|a| !omitted(&a.name))
        .filter_map(|a| {
            user.field(&a.field).map(|v| Attribute {
                name: a.name.clone(),
                name_format: a.name_format.urn().to_owned(),
                values: vec![v.to_owned()],
            })
        })
        .collect();
    if let Some(statement) = &app.groups {
        if !omitted(&statement.attribute) {
            if let Some(passing) = emitted_groups(user, Some(statement)) {
                let vendor = conn.idp.vendor();
                let groups = crate::flavor::groups_in_token(
                    &conn.idp,
                    &conn.directory,
                    user,
                    &passing,
                    crate::flavor::TokenKind::Saml,
                    statement.full_path || emit.full_group_paths,
                );
                match (groups, vendor.overage_saml_attribute()) {
                    (crate::flavor::Groups::Overage { link }, Some(name)) => {
                        out.push(Attribute {
                            name: name.to_owned(),
                            name_format: ns::ATTRNAME_UNSPECIFIED.to_owned(),
                            values: vec![link],
                        });
                    }
                    (crate::flavor::Groups::Listed(values), _) => out.push(Attribute {
                        name: statement.attribute.clone(),
                        name_format: ns::ATTRNAME_UNSPECIFIED.to_owned(),
                        values,
                    }),
                    (crate::flavor::Groups::Overage { .. }, None) => {}
                }
            }
        }
    }
    out.extend(
        conn.idp
            .vendor()
            .saml_attributes(&conn.idp, user)
            .into_iter()
            .filter(|a| !omitted(&a.name)),
    );
    out
}

/// Builds, signs and posts (through the browser) the Response for `user` to the app's ACS URL,
/// or to the other requestable SSO URL `acs_url` the request chose. The ACS URL is always a
/// registered one, never one taken from a request unchecked.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one fact of the Response"
)]
pub fn issue(
    state: &IdpState,
    app: &App,
    user: &User,
    session: &IdpSession,
    in_response_to: Option<String>,
    acs_url: Option<String>,
    relay_state: Option<String>,
    set_cookie: Option<String>,
    trial: Option<&str>,
) -> Result<Response, IdpError> {
    let saml = app
        .saml()
        .ok_or_else(|| IdpError::NotSaml(app.id.clone()))?;
    let viewed = state.user_view(trial, &user.id);
    let user = viewed.as_ref().unwrap_or(user);
    let emit = state.emit_view(trial, &user.id);
    let name_id = saml.name_id_of(user);
    let acs = acs_url.unwrap_or_else(|| saml.acs_url.as_str().to_owned());
    // Okta's "Recipient URL" and "Destination URL", when set apart from the SSO URL.
    let or_acs = |u: &Option<String>| u.clone().unwrap_or_else(|| acs.clone());
    let params = ResponseParams {
        ids: ResponseIds {
            response_id: state.new_id(),
            assertion_id: state.new_id(),
            session_index: session.session_index.clone(),
        },
        issue_instant: state.now(),
        authn_instant: session.authn_instant,
        lifetime: Duration::seconds(saml.assertion_lifetime_secs),
        issuer: saml.issuer.clone(),
        destination: or_acs(&saml.destination_url),
        recipient: or_acs(&saml.recipient_url),
        authn_context_class: saml.authn_context_class.urn().to_owned(),
        in_response_to,
        audience: saml.audience.clone(),
        name_id,
        name_id_format: saml.name_id.format.urn().to_owned(),
        attributes: attributes_for(&state.conn, app, saml, user, &emit),
    };
    state.note_issued(
        trial,
        super::state::Issued {
            kind: super::state::IssuedKind::SamlResponse {
                solicited: params.in_response_to.is_some(),
            },
            subject: params.name_id.clone(),
            email: user.email.clone(),
        },
    );
    let key = &state.keys.current;
    // Okta's Advanced Settings: the algorithms, and "Assertion Encryption" (the Assertion
    // signed, then encrypted, then the Response signed over the EncryptedAssertion).
    let encryption = saml
        .encryption
        .as_ref()
        .zip(state.sp_encryption_keys.get(&app.id));
    // Each Assertion encrypted (a forgery may encrypt several, some it then drops): its
    // plaintext and the content CipherValue that names its encryption, for the inspector.
    let plaintexts = std::cell::RefCell::new(Vec::<(String, String)>::new());
    let encrypt = |xml: &str| -> Result<String, signature::SignError> {
        let Some((enc, sp_key)) = encryption else {
            return Ok(xml.to_owned());
        };
        // A fresh content key and IV for every Response.
        let (k, i) = crate::saml::encrypt::Secrets::lengths(enc.block);
        let mut secrets = crate::saml::encrypt::Secrets {
            key: vec![0; k],
            iv: vec![0; i],
        };
        openssl::rand::rand_bytes(&mut secrets.key)?;
        openssl::rand::rand_bytes(&mut secrets.iv)?;
        let out = crate::saml::encrypt::encrypt_assertion(
            xml,
            enc.block,
            enc.key_transport,
            sp_key,
            &secrets,
        )?;
        if let Some(r) = crate::saml::encrypt::first_assertion(xml) {
            // The encrypted element sits where the Assertion was.
            let tail = xml.len() - r.end;
            let element = out.get(r.start..out.len() - tail).unwrap_or_default();
            if let Some(cv) = crate::saml::encrypt::content_cipher_value(element) {
                plaintexts
                    .borrow_mut()
                    .push((xml[r].to_owned(), cv.to_owned()));
            }
        }
        Ok(out)
    };
    let algorithms = response::Algorithms {
        signature: saml.signature_algorithm,
        digest: saml.digest_algorithm,
    };
    let options = signature::Options {
        algorithms,
        encrypt: encryption
            .is_some()
            .then_some(&encrypt as signature::Encrypt<'_>),
    };
    let fault = state.trial_saml_fault(trial);
    // A fault is applied to the honest document in clear; it encrypts where it should.
    let honest_options = signature::Options {
        encrypt: options.encrypt.filter(|_| fault.is_none()),
        ..options
    };
    let mut xml = signature::signed_response_with(
        &params,
        saml.sign,
        &honest_options,
        key.pkey(),
        &key.certificate.base64(),
    )?;
    // A runner trial's attack, applied to the honest signed document.
    let mut forged = None;
    if let Some(fault) = fault {
        if let Some(foreign) = state.foreign_key() {
            let xxe_url = state.xxe_url(trial.unwrap_or_default());
            let ids = crate::saml::faults::Ids {
                response_id: &params.ids.response_id,
                assertion_id: &params.ids.assertion_id,
                xxe_url: &xxe_url,
            };
            let forged_doc = crate::saml::faults::apply_with(
                fault,
                &xml,
                &ids,
                saml.sign,
                &options,
                key,
                foreign,
                state.now(),
                &crate::saml::faults::Identity {
                    name_id: &params.name_id,
                    email: &user.email,
                },
            )?;
            let altered = format!("{} {}: {}", fault.case(), fault.name(), forged_doc.altered);
            state.note_altered(trial, altered.clone());
            forged = Some(altered);
            xml = forged_doc.xml;
        }
    }
    // The plaintexts of the EncryptedAssertions the document carries, in document order.
    let mut decrypted: Vec<(usize, String)> = plaintexts
        .into_inner()
        .into_iter()
        .filter_map(|(plain, cv)| xml.find(&cv).map(|at| (at, plain)))
        .collect();
    decrypted.sort_by_key(|(at, _)| *at);
    let decrypted: Vec<String> = decrypted.into_iter().map(|(_, p)| p).collect();
    // A forgery in an encrypted Response: the transcript would show only ciphertext, so it
    // also gets the forged Assertion as the SP decrypts it (the inspector shows it too).
    if forged.is_some() {
        for plain in &decrypted {
            state.note_document(
                trial,
                "the Assertion the IdP encrypted, as the SP decrypts it".to_owned(),
                super::inspect::indent_xml(&crate::redact::redact(plain)),
            );
        }
    }
    // The honest Response in clear: what was signed is known, so the inspector does not parse
    // the document again to say it.
    let cert_der = key.certificate.der();
    let honest = (forged.is_none() && encryption.is_none()).then(|| {
        super::inspect::Signed::honest(
            saml.sign,
            &params.ids.response_id,
            &params.ids.assertion_id,
            saml.signature_algorithm.uri(),
            cert_der,
        )
    });
    super::inspect::saml_response(
        state,
        app,
        user,
        &emit,
        &xml,
        honest.as_deref(),
        forged.as_deref(),
        &decrypted,
    );
    tracing::info!(
        app = %app.id,
        user = %user.id,
        solicited = params.in_response_to.is_some(),
        "issued a SAML Response"
    );
    let page = binding::post_form(
        &acs,
        "SAMLResponse",
        &binding::encode_post(&xml),
        relay_state.as_deref(),
    );
    let mut resp = Html(page).into_response();
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(resp)
}
