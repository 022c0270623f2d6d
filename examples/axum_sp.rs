//! A service provider written with axum, and its tests against fakta's in-process fake Okta
//! (`fakta::MockIdp`): the way an SP's own `cargo test` can log a chosen user in, SAML and
//! OpenID Connect, without a login page.
//!
//! The SP: SAML 2.0 through the `samael` crate (SP-initiated, HTTP-Redirect request, HTTP-POST
//! response whose signature libxmlsec1 checks against the IdP's metadata), and OpenID Connect's
//! authorization code flow by hand (state, nonce, the code exchanged with the client secret).
//! Its `/me` page shows who is logged in and their groups.
//!
//! `cargo test --example axum_sp` runs the tests at the bottom; `cargo run --example axum_sp`
//! starts both and prints where to log in with a browser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use samael::metadata::EntityDescriptor;
use samael::service_provider::ServiceProvider;

/// The SP's settings: its own address, and the IdP's (read from the IdP's published documents
/// at start, as a real SP reads Okta's).
struct Sp {
    /// `http://127.0.0.1:{port}`.
    base: String,
    saml: ServiceProvider,
    /// The IdP's SSO URL (HTTP-Redirect binding), from its metadata.
    saml_sso: String,
    oidc: OidcClient,
    http: reqwest::Client,
    /// Requests sent and not answered yet: SAML AuthnRequest IDs, OIDC `state` -> `nonce`.
    pending: Mutex<HashMap<String, String>>,
    /// Sessions by cookie value.
    sessions: Mutex<HashMap<String, Session>>,
}

struct OidcClient {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    client_id: String,
    client_secret: String,
}

/// Who is logged in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
struct Session {
    email: String,
    groups: Vec<String>,
    via: String,
}

const SESSION_COOKIE: &str = "sp_session";
const ENTITY_ID: &str = "urn:example:axum-sp";
const CLIENT_ID: &str = "0oa1axumsp";
const CLIENT_SECRET: &str = "example-secret";

/// Where the SP will listen: bound first, so that the IdP can be told the SP's URLs.
async fn sp_listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    (listener, base)
}

/// The IdP for this SP: a SAML app and an OIDC app pointing at `sp_base`, and two users.
async fn mock_idp(sp_base: &str) -> Result<fakta::MockIdp, fakta::Error> {
    fakta::MockIdp::builder()
        .user(
            fakta::User::new("alice@acme.test")
                .name("Alice")
                .groups(["Admins"]),
        )
        .user(
            fakta::User::new("bob@acme.test")
                .name("Bob")
                .groups(["Eng"]),
        )
        .saml_app(fakta::SamlApp::new(
            "axum-sp",
            format!("{sp_base}/saml/acs"),
            ENTITY_ID,
        ))
        .oidc_app(
            fakta::OidcApp::new("axum-sp-oidc", CLIENT_ID)
                .client_secret(CLIENT_SECRET)
                .redirect_uri(format!("{sp_base}/oidc/callback")),
        )
        .start()
        .await
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

/// Reads the IdP's SAML metadata and OIDC discovery, and serves the SP on `listener`.
async fn start_sp(
    listener: tokio::net::TcpListener,
    base: String,
    idp: &fakta::MockIdp,
) -> Result<(), Failed> {
    let http = reqwest::Client::new();
    let metadata = http
        .get(idp.metadata_url("axum-sp"))
        .send()
        .await?
        .text()
        .await?;
    let idp_metadata: EntityDescriptor = metadata.parse()?;
    let saml = ServiceProvider {
        entity_id: Some(ENTITY_ID.into()),
        acs_url: Some(format!("{base}/saml/acs")),
        idp_metadata,
        ..ServiceProvider::default()
    };
    let saml_sso = saml
        .sso_binding_location("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        .ok_or("the IdP's metadata has no HTTP-Redirect SSO service")?;
    let discovery: serde_json::Value = http.get(idp.discovery_url()).send().await?.json().await?;
    let field = |k: &str| -> Result<String, Failed> {
        Ok(discovery[k]
            .as_str()
            .ok_or_else(|| format!("discovery has no {k}"))?
            .to_owned())
    };
    let oidc = OidcClient {
        issuer: field("issuer")?,
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    };
    let sp = Arc::new(Sp {
        base,
        saml,
        saml_sso,
        oidc,
        http,
        pending: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/saml/login", get(saml_login))
        .route("/saml/acs", post(saml_acs))
        .route("/oidc/login", get(oidc_login))
        .route("/oidc/callback", get(oidc_callback))
        .route("/me", get(me))
        .with_state(sp);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

fn random_id() -> String {
    format!("id{:032x}", rand::random::<u128>())
}

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, why.to_string()).into_response()
}

/// Starts a session and sends the browser to `/me`.
fn logged_in(sp: &Sp, session: Session) -> Response {
    let id = random_id();
    sp.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), session);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/me".to_owned()),
            (
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"),
            ),
        ],
    )
        .into_response()
}

async fn saml_login(State(sp): State<Arc<Sp>>) -> Response {
    let request = match sp.saml.make_authentication_request(&sp.saml_sso) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let url = match request.redirect("") {
        Ok(Some(url)) => url,
        Ok(None) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "no redirect URL"),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    sp.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(request.id.clone(), String::new());
    Redirect::to(url.as_str()).into_response()
}

async fn saml_acs(
    State(sp): State<Arc<Sp>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(encoded) = form.get("SAMLResponse").cloned() else {
        return refuse(StatusCode::BAD_REQUEST, "no SAMLResponse");
    };
    let ids: Vec<String> = sp
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect();
    // Signature checks are blocking work (libxmlsec1): off the async workers.
    let checker = sp.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        checker
            .saml
            .parse_base64_response(&encoded, Some(&ids))
            .map_err(|e| e.to_string())
    })
    .await;
    let assertion = match checked {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return refuse(StatusCode::FORBIDDEN, format!("SAML response refused: {e}")),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let subject = assertion.subject.as_ref();
    // One response per request: the request it answers is no longer pending.
    if let Some(id) = subject
        .and_then(|s| s.subject_confirmations.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.subject_confirmation_data.as_ref())
        .and_then(|d| d.in_response_to.as_ref())
    {
        sp.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
    let Some(email) = subject
        .and_then(|s| s.name_id.as_ref())
        .map(|n| n.value.clone())
    else {
        return refuse(StatusCode::FORBIDDEN, "no NameID");
    };
    let groups = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes)
        .filter(|a| a.name.as_deref() == Some("groups"))
        .flat_map(|a| &a.values)
        .filter_map(|v| v.value.clone())
        .collect();
    logged_in(
        &sp,
        Session {
            email,
            groups,
            via: "saml".into(),
        },
    )
}

async fn oidc_login(State(sp): State<Arc<Sp>>) -> Response {
    let (state, nonce) = (random_id(), random_id());
    let redirect_uri = format!("{}/oidc/callback", sp.base);
    let url = match url::Url::parse_with_params(
        &sp.oidc.authorization_endpoint,
        [
            ("response_type", "code"),
            ("client_id", sp.oidc.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid email profile"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
        ],
    ) {
        Ok(u) => u,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    sp.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(state, nonce);
    Redirect::to(url.as_str()).into_response()
}

async fn oidc_callback(
    State(sp): State<Arc<Sp>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let nonce = q.get("state").and_then(|s| {
        sp.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(s)
    });
    let (Some(nonce), Some(code)) = (nonce, q.get("code")) else {
        return refuse(StatusCode::BAD_REQUEST, "unknown state or no code");
    };
    let redirect_uri = format!("{}/oidc/callback", sp.base);
    let answer = sp
        .http
        .post(&sp.oidc.token_endpoint)
        .basic_auth(&sp.oidc.client_id, Some(&sp.oidc.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
        ])
        .send()
        .await;
    let tokens: serde_json::Value = match answer {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(v) => v,
            Err(e) => return refuse(StatusCode::BAD_GATEWAY, e),
        },
        Ok(r) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                format!("token endpoint: {}", r.status()),
            );
        }
        Err(e) => return refuse(StatusCode::BAD_GATEWAY, e),
    };
    // The id_token came straight from the token endpoint to this client (OpenID Connect Core
    // 3.1.3.7, 6.: TLS server validation may stand in for its signature there; a production SP
    // on HTTPS would still check it against the JWKS). Its claims are checked here.
    let claims = tokens["id_token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(claims) = claims else {
        return refuse(StatusCode::FORBIDDEN, "no readable id_token");
    };
    if claims["iss"] != sp.oidc.issuer.as_str()
        || claims["aud"] != sp.oidc.client_id.as_str()
        || claims["nonce"] != nonce.as_str()
    {
        return refuse(StatusCode::FORBIDDEN, "id_token for someone else");
    }
    let groups = claims["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    logged_in(
        &sp,
        Session {
            email: claims["email"].as_str().unwrap_or_default().to_owned(),
            groups,
            via: "oidc".into(),
        },
    )
}

async fn me(State(sp): State<Arc<Sp>>, headers: HeaderMap) -> Response {
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|l| l.split(';'))
        .filter_map(|c| c.trim().strip_prefix(&format!("{SESSION_COOKIE}=")))
        .find_map(|id| {
            sp.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .cloned()
        });
    match session {
        Some(s) => Json(s).into_response(),
        None => refuse(StatusCode::UNAUTHORIZED, "not logged in"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Failed> {
    let (listener, base) = sp_listener().await;
    let idp = mock_idp(&base).await?;
    idp.login_as("alice@acme.test")?;
    start_sp(listener, base.clone(), &idp).await?;
    println!(
        "fake Okta at {} (logs in as alice@acme.test)",
        idp.base_url()
    );
    println!("log in at {base}/saml/login or {base}/oidc/login; Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A browser: a cookie jar, redirects followed, and the IdP's auto-submitting SAML form
    /// posted as its script would.
    fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("HTTP client")
    }

    /// GETs `url` following redirects; the SAML POST binding's form is submitted, as its
    /// script would. Returns the last answer's status and body.
    async fn visit(client: &reqwest::Client, url: &str) -> (StatusCode, String) {
        let mut answer = client.get(url).send().await.expect("GET");
        for _ in 0..3 {
            let status = answer.status();
            let page = answer.url().clone();
            let body = answer.text().await.expect("body");
            let form = {
                let doc = scraper::Html::parse_document(&body);
                let form_sel = scraper::Selector::parse("form").expect("selector");
                let input_sel = scraper::Selector::parse("input[name]").expect("selector");
                doc.select(&form_sel).next().and_then(|f| {
                    let action = page.join(f.value().attr("action")?).ok()?;
                    let fields: Vec<(String, String)> = f
                        .select(&input_sel)
                        .map(|i| {
                            let v = i.value();
                            (
                                v.attr("name").unwrap_or_default().to_owned(),
                                v.attr("value").unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    // Only the SAML POST binding's form submits itself; a login page waits.
                    fields
                        .iter()
                        .any(|(n, _)| n == "SAMLResponse")
                        .then_some((action, fields))
                })
            };
            let Some((action, fields)) = form else {
                return (StatusCode::from_u16(status.as_u16()).expect("status"), body);
            };
            answer = client
                .post(action)
                .form(&fields)
                .send()
                .await
                .expect("POST");
        }
        panic!("more than three forms in a row");
    }

    async fn sp_and_idp() -> (fakta::MockIdp, String) {
        let (listener, base) = sp_listener().await;
        let idp = mock_idp(&base).await.expect("the IdP starts");
        start_sp(listener, base.clone(), &idp)
            .await
            .expect("the SP starts");
        (idp, base)
    }

    fn session(body: &str) -> Session {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    #[tokio::test]
    async fn saml_login_as_the_chosen_user_and_groups_changed_between_logins() {
        let (idp, sp) = sp_and_idp().await;
        idp.login_as("alice@acme.test").expect("alice exists");
        let (status, body) = visit(&browser(), &format!("{sp}/saml/login")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let alice = session(&body);
        assert_eq!(alice.email, "alice@acme.test");
        assert_eq!(alice.groups, ["Admins"]);
        assert_eq!(alice.via, "saml");

        idp.set_groups("alice@acme.test", ["Eng", "Ops"])
            .expect("alice exists");
        let (_, body) = visit(&browser(), &format!("{sp}/saml/login")).await;
        assert_eq!(session(&body).groups, ["Eng", "Ops"]);

        idp.login_as("bob@acme.test").expect("bob exists");
        let (_, body) = visit(&browser(), &format!("{sp}/saml/login")).await;
        assert_eq!(session(&body).email, "bob@acme.test");
    }

    #[tokio::test]
    async fn oidc_login_as_the_chosen_user() {
        let (idp, sp) = sp_and_idp().await;
        idp.login_as("bob@acme.test").expect("bob exists");
        let client = browser();
        let (status, body) = visit(&client, &format!("{sp}/oidc/login")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let bob = session(&body);
        assert_eq!(bob.email, "bob@acme.test");
        assert_eq!(bob.groups, ["Eng"]);
        assert_eq!(bob.via, "oidc");
        // The same browser, another chosen user: login_as ended the IdP session it had.
        idp.login_as("alice@acme.test").expect("alice exists");
        let (_, body) = visit(&client, &format!("{sp}/oidc/login")).await;
        assert_eq!(session(&body).email, "alice@acme.test");
    }

    #[tokio::test]
    async fn without_login_as_the_idp_shows_its_login_page() {
        let (_idp, sp) = sp_and_idp().await;
        let (status, body) = visit(&browser(), &format!("{sp}/oidc/login")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Pick a user of the directory"), "{body}");
    }
}
