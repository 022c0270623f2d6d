//! The OpenID Connect provider over HTTP (oneshot): the code flow with PKCE, tokens, userinfo,
//! end_session, revocation, introspection, and every error RFC 6749 / OIDC Core name.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use common::*;
use fakta::config::Emit;
use fakta::oidc::jwt::{half_hash, peek_claims};
use serde_json::Value;

const CLIENT: &str = "0oa1qoveryweb";
const SECRET: &str = "fakta-demo-secret-change-me";
const REDIRECT: &str = "http://127.0.0.1:7100/login/oidc/callback";
const SPA: &str = "0oa2qoveryspa";
const SPA_REDIRECT: &str = "http://127.0.0.1:7200/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_uri(prefix: &str, params: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{prefix}/authorize?{q}")
}

fn web_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email groups offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        p.push((k, v));
    }
    p
}

/// The query parameters of a redirect.
fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).expect("absolute redirect");
    url.query_pairs().into_owned().collect()
}

/// Logs `user` in through the login page; returns the code and the IdP session cookie.
async fn code_for(
    st: &std::sync::Arc<fakta::idp::IdpState>,
    params: &[(&str, &str)],
    user: &str,
) -> (String, String) {
    let start = get(st, &authorize_uri("/oauth2/v1", params), None).await;
    let done = pick_user(st, &start, user).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let q = query_of(done.location());
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
    (q["code"].clone(), done.session_cookie().expect("cookie"))
}

async fn exchange(st: &std::sync::Arc<fakta::idp::IdpState>, code: &str) -> Answer {
    post_form_basic(
        st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, SECRET)),
    )
    .await
}

fn json(a: &Answer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", a.body))
}

fn oauth_error(a: &Answer) -> String {
    json(a)["error"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn discovery_documents_and_jwks() {
    let st = state(oidc_example());
    let org = json(&get(&st, "/.well-known/openid-configuration", None).await);
    assert_eq!(org["issuer"], "http://127.0.0.1:7000");
    assert_eq!(
        org["token_endpoint"],
        "http://127.0.0.1:7000/oauth2/v1/token"
    );
    insta::assert_json_snapshot!("discovery_org", org);
    let custom = json(
        &get(
            &st,
            "/oauth2/default/.well-known/openid-configuration",
            None,
        )
        .await,
    );
    assert_eq!(custom["issuer"], "http://127.0.0.1:7000/oauth2/default");
    assert_eq!(
        custom["jwks_uri"],
        "http://127.0.0.1:7000/oauth2/default/v1/keys"
    );
    let nope = get(&st, "/oauth2/nope/.well-known/openid-configuration", None).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);

    let jwks = json(&get(&st, "/oauth2/v1/keys", None).await);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "RSA + EC");
    assert!(
        keys.iter()
            .all(|k| k["kid"].as_str().is_some_and(|s| !s.is_empty()))
    );
    insta::assert_json_snapshot!("jwks", jwks, {
        ".keys[].kid" => "[kid]", ".keys[].n" => "[n]", ".keys[].x" => "[x]", ".keys[].y" => "[y]"
    });
}

#[tokio::test]
async fn code_flow_issues_okta_shaped_tokens() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let t = exchange(&st, &code).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert_eq!(t.headers.get("cache-control").unwrap(), "no-store");
    let body = json(&t);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );
    let at = body["access_token"].as_str().unwrap();
    let id = peek_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(id["iss"], "http://127.0.0.1:7000");
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["sub"], "00u1alice");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], "alice@acme.test");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Alice Admin");
    assert_eq!(id["groups"], serde_json::json!(["Qovery-Admins"]));
    assert_eq!(id["at_hash"], half_hash(at));
    assert_eq!(id["iat"], NOW.unix_timestamp());
    assert_eq!(id["exp"], NOW.unix_timestamp() + 3600);
    assert!(id["sid"].is_string() && id["auth_time"].is_number());
    let header = body["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], st.rsa_kid);
    let access = peek_claims(at).unwrap();
    assert_eq!(access["cid"], CLIENT);
    assert_eq!(access["uid"], "00u1alice");

    let ui = get_bearer(&st, "/oauth2/v1/userinfo", at).await;
    assert_eq!(ui.status, StatusCode::OK, "{}", ui.body);
    let ui = json(&ui);
    assert_eq!(ui["sub"], "00u1alice");
    assert_eq!(ui["groups"], serde_json::json!(["Qovery-Admins"]));
}

#[tokio::test]
async fn a_user_without_passing_groups_gets_no_groups_claim_and_omissions_apply() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u2bob").await;
    let body = json(&exchange(&st, &code).await);
    let id = peek_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert!(id.get("groups").is_none(), "{id}");

    st.set_emit(
        "00u1alice",
        Emit {
            omit_attributes: vec!["email".into(), "name".into()],
            ..Default::default()
        },
    );
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let body = json(&exchange(&st, &code).await);
    let id = peek_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert!(
        id.get("email").is_none() && id.get("name").is_none(),
        "{id}"
    );
    assert!(id.get("groups").is_some());
}

#[tokio::test]
async fn form_post_mode_posts_code_and_state() {
    let st = state(oidc_example());
    let start = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("response_mode", "form_post")])),
        None,
    )
    .await;
    let done = pick_user(&st, &start, "00u1alice").await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.form_action(), REDIRECT);
    assert_eq!(form_field(&done.body, "state").as_deref(), Some("st-123"));
    assert!(form_field(&done.body, "code").is_some());
}

/// The `data` and `origin` a response_mode=okta_post_message page posts (JSON literals in its
/// script).
fn posted(page: &str) -> (Value, String) {
    let grab = |name: &str| -> Value {
        let at = page
            .find(&format!("var {name} = "))
            .unwrap_or_else(|| panic!("no {name} in {page}"));
        let start = at + name.len() + 7;
        let end = start + page[start..].find(";\n").unwrap();
        serde_json::from_str(&page[start..end]).unwrap()
    };
    (grab("data"), grab("origin").as_str().unwrap().to_owned())
}

/// okta-auth-js's silent renew (`token.getWithoutPrompt`: prompt=none,
/// response_mode=okta_post_message in a hidden iframe): without a session the page posts
/// login_required with the state, with one it posts a code that redeems; always to the redirect
/// URI's origin, never `*`.
#[tokio::test]
async fn okta_post_message_posts_the_result_to_the_redirect_uris_origin() {
    let st = state(oidc_example());
    let silent = web_params(&[("prompt", "none"), ("response_mode", "okta_post_message")]);
    let first = get(&st, &authorize_uri("/oauth2/v1", &silent), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let (data, origin) = posted(&first.body);
    assert_eq!(origin, "http://127.0.0.1:7100");
    assert_eq!(data["error"], "login_required", "{data}");
    assert_eq!(data["state"], "st-123");
    assert!(data.get("code").is_none());
    assert!(!first.body.contains("\"*\""));

    let (_, cookie) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let again = get(&st, &authorize_uri("/oauth2/v1", &silent), Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let (data, origin) = posted(&again.body);
    assert_eq!(origin, "http://127.0.0.1:7100");
    assert_eq!(data["state"], "st-123");
    let code = data["code"].as_str().expect("a code");
    let tokens = exchange(&st, code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert!(json(&tokens)["id_token"].is_string());

    // A value chosen by the client cannot close the script.
    let evil = web_params(&[
        ("prompt", "none"),
        ("response_mode", "okta_post_message"),
        ("state", "</script><script>alert(1)</script>"),
    ]);
    let page = get(&st, &authorize_uri("/oauth2/v1", &evil), Some(&cookie)).await;
    assert_eq!(page.body.matches("</script").count(), 1, "{}", page.body);
    assert_eq!(
        posted(&page.body).0["state"],
        "</script><script>alert(1)</script>"
    );

    // Discovery says so, as Okta's does.
    let doc = get(&st, "/.well-known/openid-configuration", None).await;
    assert!(
        json(&doc)["response_modes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "okta_post_message")
    );
}

/// O22 (the OpenID Foundation's RP test form-post-error): under a trial's authorization-error
/// fault the IdP answers the signed-in user with access_denied and the request's state, in
/// the response mode the client asked for, and issues no code; other browsers get codes.
#[tokio::test]
async fn an_authorization_error_goes_back_in_the_clients_response_mode() {
    use fakta::idp::IssuedKind;
    use fakta::oidc::faults::Fault;
    let st = state(oidc_example());
    for mode in ["query", "form_post", "okta_post_message"] {
        let trial = format!("trial-{mode}");
        st.begin_trial(&trial);
        st.set_trial_oidc_fault(&trial, Fault::AuthorizationError);
        let cookie = format!("fakta_trial={trial}");
        let params = web_params(&[("response_mode", mode)]);
        let start = get(&st, &authorize_uri("/oauth2/v1", &params), Some(&cookie)).await;
        assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
        let token = start
            .location()
            .split("state=")
            .nth(1)
            .expect("state in login URL")
            .to_owned();
        let done = post_form(
            &st,
            "/login/login.htm",
            &[("state", &token), ("username", "00u1alice")],
            Some(&cookie),
        )
        .await;
        let field = |name: &str| -> Option<String> {
            match mode {
                "query" => query_of(done.location()).get(name).cloned(),
                "form_post" => form_field(&done.body, name),
                _ => posted(&done.body).0[name].as_str().map(str::to_owned),
            }
        };
        if mode == "query" {
            assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
            assert!(done.location().starts_with(REDIRECT), "{}", done.location());
        } else {
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            if mode == "form_post" {
                assert_eq!(done.form_action(), REDIRECT);
            }
        }
        assert_eq!(field("error").as_deref(), Some("access_denied"), "{mode}");
        assert_eq!(field("state").as_deref(), Some("st-123"), "{mode}");
        assert_eq!(field("code"), None, "{mode}");
        let issued = st.issued(&trial);
        assert!(
            issued
                .iter()
                .any(|i| i.kind == IssuedKind::AuthorizationError),
            "{mode}"
        );
        assert!(!issued.iter().any(|i| i.kind == IssuedKind::Code), "{mode}");
        let altered = st.altered(&trial).join("\n");
        assert!(
            altered.contains(&format!("response_mode {mode}")),
            "{altered}"
        );
    }
    // Another browser (no trial cookie) signing in gets its code.
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    assert!(!code.is_empty());
}

#[tokio::test]
async fn codes_are_single_use_and_a_reuse_revokes_their_tokens() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let first = json(&exchange(&st, &code).await);
    let at = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        get_bearer(&st, "/oauth2/v1/userinfo", &at).await.status,
        StatusCode::OK
    );
    let again = exchange(&st, &code).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(&again), "invalid_grant");
    assert!(again.body.contains("already used"), "{}", again.body);
    let ui = get_bearer(&st, "/oauth2/v1/userinfo", &at).await;
    assert_eq!(ui.status, StatusCode::UNAUTHORIZED);
    assert!(
        ui.headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let rt = first["refresh_token"].as_str().unwrap();
    let r = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(
        oauth_error(&r),
        "invalid_grant",
        "the refresh token went with the code"
    );
}

#[tokio::test]
async fn codes_expire_after_a_minute() {
    let (st, clock) = state_with_clock(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    clock.set(NOW + time::Duration::seconds(61));
    let t = exchange(&st, &code).await;
    assert_eq!(oauth_error(&t), "invalid_grant");
    assert!(t.body.contains("expired"));
}

#[tokio::test]
async fn token_endpoint_errors() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    // Wrong secret, unknown client, wrong method: invalid_client, 401.
    let bad = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, "wrong")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(oauth_error(&bad), "invalid_client");
    assert!(bad.headers.get("www-authenticate").is_some());
    let unknown = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some(("nobody", "x")),
    )
    .await;
    assert_eq!(oauth_error(&unknown), "invalid_client");
    let post = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&post), "invalid_client");
    assert!(
        post.body.contains("registered for client_secret_basic"),
        "{}",
        post.body
    );
    let garbage = post_form(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "authorization_code")],
        None,
    )
    .await;
    assert_eq!(oauth_error(&garbage), "invalid_client");
    // The failed attempts did not consume the code; a wrong redirect_uri does.
    let wrong_redirect = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:7100/other"),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&wrong_redirect), "invalid_grant");
    let unknown_code = exchange(&st, "not-a-code").await;
    assert_eq!(oauth_error(&unknown_code), "invalid_grant");
    let grant = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "password")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&grant), "unsupported_grant_type");
    let none = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("code", "x")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&none), "invalid_request");
    let no_code = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "authorization_code")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&no_code), "invalid_request");
    // Malformed Basic credentials are an error, never a panic.
    let req = Request::post("/oauth2/v1/token")
        .header("authorization", "Basic %%%not-base64")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=authorization_code"))
        .unwrap();
    assert_eq!(oauth_error(&send(&st, req).await), "invalid_client");
}

#[tokio::test]
async fn pkce_for_public_clients() {
    let st = state(oidc_example());
    let spa = |extra: &[(&'static str, &'static str)]| {
        let mut p = vec![
            ("client_id", SPA),
            ("redirect_uri", SPA_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "s1"),
        ];
        p.extend_from_slice(extra);
        p
    };
    // No code_challenge: the error goes back to the client.
    let start = get(&st, &authorize_uri("/oauth2/default/v1", &spa(&[])), None).await;
    assert_eq!(start.status, StatusCode::FOUND);
    let q = query_of(start.location());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");

    let params = spa(&[
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let start = get(&st, &authorize_uri("/oauth2/default/v1", &params), None).await;
    let done = pick_user(&st, &start, "00u3dora").await;
    let code = query_of(done.location())["code"].clone();
    let exchange_with = |verifier: &'static str, code: String| {
        let st = st.clone();
        async move {
            post_form(
                &st,
                "/oauth2/default/v1/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", SPA_REDIRECT),
                    ("client_id", SPA),
                    ("code_verifier", verifier),
                ],
                None,
            )
            .await
        }
    };
    let wrong = exchange_with(
        "wrong-verifier-wrong-verifier-wrong-verifier-00",
        code.clone(),
    )
    .await;
    assert_eq!(oauth_error(&wrong), "invalid_grant");
    assert!(wrong.body.contains("PKCE"));

    let start = get(
        &st,
        &authorize_uri("/oauth2/default/v1", &params),
        Some(&done.session_cookie().unwrap()),
    )
    .await;
    let code = query_of(start.location())["code"].clone();
    let ok = exchange_with(VERIFIER, code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let body = json(&ok);
    let id_token = body["id_token"].as_str().unwrap();
    let id = peek_claims(id_token).unwrap();
    assert_eq!(id["iss"], "http://127.0.0.1:7000/oauth2/default");
    assert_eq!(id["groups"], serde_json::json!(["Qovery-DevOps"]));
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], st.ec_kid);
    assert_eq!(
        peek_claims(body["access_token"].as_str().unwrap()).unwrap()["aud"],
        "api://default"
    );
    // The SPA is not a client of the org server.
    let org = get(&st, &authorize_uri("/oauth2/v1", &params), None).await;
    assert_eq!(org.status, StatusCode::BAD_REQUEST);
    assert!(org.body.contains("no client `0oa2qoveryspa`"));
}

#[tokio::test]
async fn authorize_errors_never_redirect_to_unverified_places() {
    let st = state(oidc_example());
    let unknown = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("client_id", "nobody")])),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.headers.get("location").is_none());
    assert!(unknown.body.contains("no client `nobody`"));
    let evil = get(
        &st,
        &authorize_uri(
            "/oauth2/v1",
            &web_params(&[("redirect_uri", "http://127.0.0.1:6666/steal")]),
        ),
        None,
    )
    .await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST);
    assert!(evil.headers.get("location").is_none());
    assert!(evil.body.contains("is not registered"));
    let missing = get(&st, "/oauth2/v1/authorize", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    for (extra, expected) in [
        (("response_type", "token"), "unsupported_response_type"),
        (("scope", "profile email"), "invalid_scope"),
        (("scope", "openid admin"), "invalid_scope"),
        (("prompt", "sideways"), "invalid_request"),
        (("max_age", "-1"), "invalid_request"),
        (("code_challenge_method", "S512"), "invalid_request"),
        (("response_mode", "sideways"), "invalid_request"),
    ] {
        let mut p = web_params(&[extra]);
        if extra.0 == "code_challenge_method" {
            p.push(("code_challenge", CHALLENGE));
        }
        let a = get(&st, &authorize_uri("/oauth2/v1", &p), None).await;
        assert_eq!(a.status, StatusCode::FOUND, "{extra:?}: {}", a.body);
        let q = query_of(a.location());
        assert_eq!(q["error"], expected, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert!(a.location().starts_with(REDIRECT));
    }
}

#[tokio::test]
async fn prompt_max_age_and_login_hint() {
    let (st, clock) = state_with_clock(oidc_example());
    let none = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("prompt", "none")])),
        None,
    )
    .await;
    assert_eq!(query_of(none.location())["error"], "login_required");

    let hinted = get(
        &st,
        &authorize_uri(
            "/oauth2/v1",
            &web_params(&[("login_hint", "dora@acme.test")]),
        ),
        None,
    )
    .await;
    let page = get(&st, hinted.location(), None).await;
    assert!(
        page.body.contains("value=\"dora@acme.test\""),
        "{}",
        page.body
    );

    let (_, cookie) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let silent = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("prompt", "none")])),
        Some(&cookie),
    )
    .await;
    assert!(
        query_of(silent.location()).contains_key("code"),
        "a session answers prompt=none"
    );
    let forced = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("prompt", "login")])),
        Some(&cookie),
    )
    .await;
    assert!(forced.location().starts_with("/login/login.htm"));
    clock.set(NOW + time::Duration::seconds(120));
    let old = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("max_age", "60")])),
        Some(&cookie),
    )
    .await;
    assert!(
        old.location().starts_with("/login/login.htm"),
        "the session is older than max_age"
    );
    let fresh = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("max_age", "600")])),
        Some(&cookie),
    )
    .await;
    assert!(query_of(fresh.location()).contains_key("code"));
}

#[tokio::test]
async fn refresh_revoke_and_introspect() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let body = json(&exchange(&st, &code).await);
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let at = body["access_token"].as_str().unwrap().to_owned();

    let refreshed = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid email"),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(json(&refreshed)["scope"], "openid email");
    let wider = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid admin"),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&wider), "invalid_scope");

    let intro = post_form_basic(
        &st,
        "/oauth2/v1/introspect",
        &[("token", &at)],
        Some((CLIENT, SECRET)),
    )
    .await;
    let intro = json(&intro);
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], CLIENT);
    assert_eq!(intro["username"], "alice@acme.test");

    let r = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", &at), ("token_type_hint", "access_token")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        json(
            &post_form_basic(
                &st,
                "/oauth2/v1/introspect",
                &[("token", &at)],
                Some((CLIENT, SECRET))
            )
            .await
        )["active"],
        false
    );
    assert_eq!(
        get_bearer(&st, "/oauth2/v1/userinfo", &at).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Unknown tokens: 200 (RFC 7009 2.2); a bad client: 401.
    let unknown = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", "nope")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
    let bad = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", &rt)],
        Some((CLIENT, "wrong")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let hint = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", &rt), ("token_type_hint", "id_token")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&hint), "unsupported_token_type");

    post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", &rt)],
        Some((CLIENT, SECRET)),
    )
    .await;
    let after = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&after), "invalid_grant");
    assert_eq!(
        get_bearer(&st, "/oauth2/v1/userinfo", "not-a-token")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let no_bearer = get(&st, "/oauth2/v1/userinfo", None).await;
    assert_eq!(no_bearer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn end_session_checks_the_redirect_and_ends_the_idp_session() {
    let st = state(oidc_example());
    let (code, cookie) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let id_token = json(&exchange(&st, &code).await)["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let logout = |uri: &'static str| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", uri)
            .append_pair("state", "bye")
            .finish();
        format!("/oauth2/v1/logout?{q}")
    };
    let bad = get(
        &st,
        &logout("http://127.0.0.1:6666/elsewhere"),
        Some(&cookie),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not registered"));
    let forged = get(&st, "/oauth2/v1/logout?id_token_hint=eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A7100%2F", None).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);

    let ok = get(&st, &logout("http://127.0.0.1:7100/"), Some(&cookie)).await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
    assert_eq!(ok.location(), "http://127.0.0.1:7100/?state=bye");
    let again = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[])),
        Some(&cookie),
    )
    .await;
    assert!(
        again.location().starts_with("/login/login.htm"),
        "the IdP session is gone"
    );
}

/// RP-initiated logout ends this browser's IdP session, not the user's session in another
/// browser (the same rule as `/login/signout`).
/// G3's state variants: in a trial whose end_session state is changed, the redirect back to
/// the post_logout_redirect_uri carries another state, or none; without the trial cookie the
/// RP's own state comes back.
#[tokio::test]
async fn end_session_returns_another_state_or_none_in_a_trial_that_asks() {
    use fakta::oidc::logout::{OTHER_STATE, PostLogoutState};
    let st = state(oidc_example());
    let mut back = Vec::new();
    for change in [
        Some(PostLogoutState::Other),
        Some(PostLogoutState::Dropped),
        None,
    ] {
        let (code, session) = code_for(&st, &web_params(&[]), "00u1alice").await;
        let id_token = json(&exchange(&st, &code).await)["id_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", "http://127.0.0.1:7100/")
            .append_pair("state", "bye")
            .finish();
        let mut cookie = session;
        if let Some(c) = change {
            let trial = format!("trial-{}", c.name());
            st.set_trial_post_logout_state(&trial, c);
            cookie = format!("{cookie}; fakta_trial={trial}");
        }
        let done = get(&st, &format!("/oauth2/v1/logout?{q}"), Some(&cookie)).await;
        assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
        back.push(done.location().to_owned());
        if let Some(c) = change {
            let altered = st.altered(&format!("trial-{}", c.name())).join("\n");
            assert!(altered.contains(&format!("G3 {}", c.name())), "{altered}");
        }
    }
    assert_eq!(
        back,
        [
            format!("http://127.0.0.1:7100/?state={OTHER_STATE}"),
            "http://127.0.0.1:7100/".to_owned(),
            "http://127.0.0.1:7100/?state=bye".to_owned(),
        ]
    );
}

#[tokio::test]
async fn end_session_ends_only_this_browsers_idp_session() {
    let st = state(oidc_example());
    let (code, first) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let (_, second) = code_for(&st, &web_params(&[]), "00u1alice").await;
    assert_ne!(first, second, "two browsers, two IdP sessions");
    let id_token = json(&exchange(&st, &code).await)["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:7100/")
        .finish();
    let ok = get(&st, &format!("/oauth2/v1/logout?{q}"), Some(&first)).await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
    let authorize = authorize_uri("/oauth2/v1", &web_params(&[]));
    let this = get(&st, &authorize, Some(&first)).await;
    assert!(
        this.location().starts_with("/login/login.htm"),
        "this browser signs in again"
    );
    let other = get(&st, &authorize, Some(&second)).await;
    assert!(
        other.location().starts_with("http://127.0.0.1:7100/"),
        "the other browser keeps its session: {}",
        other.location()
    );
}

/// Issue 13: RFC 6749 §3.1/§3.2, a parameter repeated at the authorize or token endpoint is an
/// `invalid_request` (sent to the client when its client_id and redirect_uri are sound).
#[tokio::test]
async fn a_repeated_parameter_is_an_invalid_request_at_authorize_and_token() {
    let st = state(oidc_example());
    let mut params = web_params(&[]);
    params.push(("scope", "openid"));
    let start = get(&st, &authorize_uri("/oauth2/v1", &params), None).await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let q = query_of(start.location());
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("`scope` appears more than once"));
    assert_eq!(q["state"], "st-123");

    let mut params = web_params(&[]);
    params.push(("redirect_uri", "http://evil.test/cb"));
    let start = get(&st, &authorize_uri("/oauth2/v1", &params), None).await;
    assert_eq!(start.status, StatusCode::BAD_REQUEST, "never redirected");
    assert!(start.body.contains("`redirect_uri` appears more than once"));

    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let twice = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code", "another"),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(&twice), "invalid_request");
    assert!(twice.body.contains("`code` appears more than once"));
    assert_eq!(
        exchange(&st, &code).await.status,
        StatusCode::OK,
        "the refused request did not use the code up"
    );
}

/// Issue 13: a body too large or not a form gets an OAuth JSON error at the token endpoint.
#[tokio::test]
async fn the_token_endpoint_answers_413_and_415_as_oauth_json() {
    use axum::body::Body;
    use axum::http::Request;
    let st = state(oidc_example());
    let big = format!("grant_type=x&pad={}", "a".repeat(300 * 1024));
    let req = Request::post("/oauth2/v1/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(big))
        .unwrap();
    let a = send(&st, req).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oauth_error(&a), "invalid_request");
    assert!(a.body.contains("larger than"), "{}", a.body);
    let req = Request::post("/oauth2/v1/token")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let a = send(&st, req).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(oauth_error(&a), "invalid_request");
}

/// Issue 13: a huge `state` is refused (not kept in a pending login) and a scope repeated
/// many times is one scope in the tokens.
#[tokio::test]
async fn oauth_parameters_are_bounded_in_bytes_and_scopes_deduplicated() {
    let st = state(oidc_example());
    let huge = "s".repeat(60_000);
    let start = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("state", &huge)])),
        None,
    )
    .await;
    assert_eq!(start.status, StatusCode::FOUND);
    let q = query_of(start.location());
    assert_eq!(q["error"], "invalid_request");
    assert!(
        q["error_description"].contains("at most 4096 bytes"),
        "{q:?}"
    );
    assert!(
        !q.contains_key("state"),
        "the oversized state is not echoed"
    );

    let scope = "openid email ".repeat(300);
    let (code, _) = code_for(&st, &web_params(&[("scope", &scope)]), "00u1alice").await;
    let body = json(&exchange(&st, &code).await);
    assert_eq!(body["scope"], "openid email");
    assert!(body["access_token"].as_str().unwrap().len() < 2048);
}

/// Issue 13: RFC 7009 §2.1, revoking a refresh token revokes the access tokens of its grant.
#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let body = json(&exchange(&st, &code).await);
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let first = body["access_token"].as_str().unwrap().to_owned();
    let refreshed = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((CLIENT, SECRET)),
    )
    .await;
    let second = json(&refreshed)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for at in [&first, &second] {
        assert_eq!(
            get_bearer(&st, "/oauth2/v1/userinfo", at).await.status,
            StatusCode::OK
        );
    }
    let revoked = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[("token", &rt), ("token_type_hint", "refresh_token")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    for at in [&first, &second] {
        let a = get_bearer(&st, "/oauth2/v1/userinfo", at).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }
}

/// Issue 13: the auth-scheme is case-insensitive (RFC 7235 §2.1), so `bearer` works.
#[tokio::test]
async fn the_bearer_scheme_is_matched_case_insensitively() {
    use axum::body::Body;
    use axum::http::Request;
    let st = state(oidc_example());
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let at = json(&exchange(&st, &code).await)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = Request::get("/oauth2/v1/userinfo")
        .header("authorization", format!("bearer {at}"))
        .body(Body::empty())
        .unwrap();
    let a = send(&st, req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// Issue 13: RFC 7636 §4.2, a challenge outside the base64url alphabet or not 43 characters
/// (S256) is refused; a verifier shorter than 43 characters is named as such (§4.1).
#[tokio::test]
async fn pkce_challenges_and_verifiers_are_checked_for_shape() {
    let st = state(oidc_example());
    let spa = |challenge: &'static str| {
        vec![
            ("client_id", SPA),
            ("redirect_uri", SPA_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "s1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    };
    for bad in [
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
    ] {
        let start = get(&st, &authorize_uri("/oauth2/default/v1", &spa(bad)), None).await;
        let q = query_of(start.location());
        assert_eq!(q["error"], "invalid_request", "{bad}");
        assert!(q["error_description"].contains("RFC 7636"), "{q:?}");
    }
    let start = get(
        &st,
        &authorize_uri("/oauth2/default/v1", &spa(CHALLENGE)),
        None,
    )
    .await;
    let done = pick_user(&st, &start, "00u3dora").await;
    let code = query_of(done.location())["code"].clone();
    let short = post_form(
        &st,
        "/oauth2/default/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_REDIRECT),
            ("client_id", SPA),
            ("code_verifier", "too-short"),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&short), "invalid_grant");
    assert!(
        short
            .body
            .contains("is 9 characters; RFC 7636 §4.1 requires 43 to 128"),
        "{}",
        short.body
    );
}

/// A browser's request from a page at `origin`, with extra headers.
fn from_origin(method: &str, uri: &str, origin: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("origin", origin);
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn a_trusted_origin_gets_the_token_preflight_and_the_answers() {
    // The SPA's redirect URI is on 127.0.0.1:7200: that origin is trusted by default.
    let st = state(oidc_example());
    let origin = "http://127.0.0.1:7200";
    let pre = send(
        &st,
        from_origin(
            "OPTIONS",
            "/oauth2/default/v1/token",
            origin,
            &[
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, X-Okta-User-Agent-Extended",
                ),
            ],
        ),
    )
    .await;
    assert_eq!(pre.status, StatusCode::NO_CONTENT, "{}", pre.body);
    let h = |a: &Answer, k: &str| {
        a.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(h(&pre, "access-control-allow-origin"), origin);
    assert_eq!(h(&pre, "access-control-allow-credentials"), "true");
    assert!(h(&pre, "access-control-allow-methods").contains("POST"));
    assert!(h(&pre, "access-control-allow-headers").contains("content-type"));
    assert_eq!(h(&pre, "vary"), "Origin");
    for path in [
        "/oauth2/default/v1/keys",
        "/oauth2/default/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
        "/oauth2/v1/keys",
    ] {
        let a = send(&st, from_origin("GET", path, origin, &[])).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(h(&a, "access-control-allow-origin"), origin, "{path}");
    }
    // An error answer carries the grant too: the page must be able to read the OAuth error.
    let a = send(
        &st,
        from_origin("POST", "/oauth2/default/v1/token", origin, &[]),
    )
    .await;
    assert!(a.status.is_client_error(), "{}", a.body);
    assert_eq!(h(&a, "access-control-allow-origin"), origin);
}

#[tokio::test]
async fn an_untrusted_origin_is_never_reflected() {
    let st = state(oidc_example());
    for origin in [
        "http://evil.invalid",
        "null",
        "http://127.0.0.1:7200.evil.invalid",
    ] {
        let pre = send(
            &st,
            from_origin(
                "OPTIONS",
                "/oauth2/default/v1/token",
                origin,
                &[("access-control-request-method", "POST")],
            ),
        )
        .await;
        assert_eq!(pre.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(
            pre.body
                .contains("is not a trusted origin; list it under idp.trusted_origins"),
            "{}",
            pre.body
        );
        assert!(pre.headers.get("access-control-allow-origin").is_none());
        let a = send(
            &st,
            from_origin("GET", "/oauth2/default/v1/keys", origin, &[]),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.headers.get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert_eq!(
            a.headers.get("vary").map(|v| v.as_bytes()),
            Some(&b"Origin"[..])
        );
    }
    // A trusted origin asking for a header or method the endpoints do not take.
    let origin = "http://127.0.0.1:7200";
    for (method, headers, says) in [
        ("PUT", "", "method `PUT` is not answered here"),
        (
            "POST",
            "x-custom",
            "request header `x-custom` is not allowed",
        ),
    ] {
        let pre = send(
            &st,
            from_origin(
                "OPTIONS",
                "/oauth2/default/v1/userinfo",
                origin,
                &[
                    ("access-control-request-method", method),
                    ("access-control-request-headers", headers),
                ],
            ),
        )
        .await;
        assert_eq!(pre.status, StatusCode::FORBIDDEN);
        assert!(pre.body.contains(says), "{}", pre.body);
    }
    // Requests without Origin (servers, curl) are unchanged.
    let a = get(&st, "/oauth2/default/v1/keys", None).await;
    assert!(a.headers.get("vary").is_none());
}

#[tokio::test]
async fn listed_trusted_origins_replace_the_derived_ones() {
    let yaml = std::fs::read_to_string(OIDC_EXAMPLE)
        .expect("example")
        .replacen(
            "base_url: http://127.0.0.1:7000",
            "base_url: http://127.0.0.1:7000\n  trusted_origins: [\"http://LOCALHOST:5173/\"]",
            1,
        );
    let conn = connection(&yaml, std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(conn.trusted_origins(), ["http://localhost:5173"]);
    let st = state(conn);
    let a = send(
        &st,
        from_origin(
            "GET",
            "/oauth2/default/v1/keys",
            "http://localhost:5173",
            &[],
        ),
    )
    .await;
    assert_eq!(
        a.headers
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"http://localhost:5173"[..])
    );
    let a = send(
        &st,
        from_origin(
            "GET",
            "/oauth2/default/v1/keys",
            "http://127.0.0.1:7200",
            &[],
        ),
    )
    .await;
    assert!(a.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn sessions_me_answers_as_okta_and_delete_ends_the_session() {
    let st = state(oidc_example());
    let none = get(&st, "/api/v1/sessions/me", None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let err: Value = serde_json::from_str(&none.body).unwrap();
    assert_eq!(err["errorCode"], "E0000007");
    assert_eq!(
        err["errorSummary"],
        "Not found: Resource not found: me (Session)"
    );
    assert!(
        err["errorId"]
            .as_str()
            .is_some_and(|s| s.starts_with("oae"))
    );
    assert_eq!(err["errorCauses"], serde_json::json!([]));

    let (_, sid) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let me = get(&st, "/api/v1/sessions/me", Some(&sid)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["userId"], "00u1alice");
    assert_eq!(me["status"], "ACTIVE");
    assert!(me["login"].as_str().is_some_and(|l| l.contains('@')));
    assert!(me["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        me["_links"]["self"]["href"],
        "http://127.0.0.1:7000/api/v1/sessions/me"
    );

    let del = send(
        &st,
        Request::delete("/api/v1/sessions/me")
            .header("cookie", &sid)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(
        del.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The session is gone for every endpoint: sessions/me, and a prompt=none authorize.
    let after = get(&st, "/api/v1/sessions/me", Some(&sid)).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    let silent = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("prompt", "none")])),
        Some(&sid),
    )
    .await;
    assert!(
        silent.location().contains("error=login_required"),
        "{}",
        silent.location()
    );
}

#[tokio::test]
async fn the_rfc_8414_document_is_served_beside_discovery() {
    let st = state(oidc_example());
    for (prefix, issuer) in [
        ("", "http://127.0.0.1:7000"),
        ("/oauth2/default", "http://127.0.0.1:7000/oauth2/default"),
    ] {
        let oidc = get(
            &st,
            &format!("{prefix}/.well-known/openid-configuration"),
            None,
        )
        .await;
        let oauth = get(
            &st,
            &format!("{prefix}/.well-known/oauth-authorization-server"),
            None,
        )
        .await;
        assert_eq!(oauth.status, StatusCode::OK, "{prefix}");
        let doc: Value = serde_json::from_str(&oauth.body).unwrap();
        // RFC 8414 section 3.3: the issuer is the one the document was asked for.
        assert_eq!(doc["issuer"], issuer);
        assert!(doc["token_endpoint"].is_string());
        assert_eq!(oauth.body, oidc.body);
    }
    let unknown = get(
        &st,
        "/oauth2/nope/.well-known/oauth-authorization-server",
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_management_api_paths_answer_in_oktas_error_shape() {
    let st = state(oidc_example());
    let a = get(&st, "/api/v1/users/me", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let err: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(err["errorCode"], "E0000007");
    assert!(
        err["errorSummary"]
            .as_str()
            .is_some_and(|s| s.contains("/api/v1/users/me")),
        "{err}"
    );
}

/// The qovery-oidc app launched by "Either Okta or App", with an initiate login URI that has
/// its own query.
fn launchable() -> fakta::config::Connection {
    let yaml = std::fs::read_to_string(OIDC_EXAMPLE).unwrap().replace(
        "initiate_login_uri: http://127.0.0.1:7100/login/oidc/initiate ",
        "initiate_login_uri: http://127.0.0.1:7100/login/oidc/initiate?tenant=acme ",
    );
    assert!(yaml.contains("initiate?tenant=acme"));
    connection(&yaml, std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// Third-party-initiated login (OIDC Core §4): the app's tile sends the browser to its initiate
/// login URI with the issuer, and passes on login_hint and target_link_uri; an app without one
/// ("App Only") has no tile to launch, and the index page links the tile.
#[tokio::test]
async fn the_tile_of_an_app_with_an_initiate_login_uri_sends_the_browser_there_with_iss() {
    let st = state(launchable());
    let a = get(&st, "/home/qovery-oidc/launch", None).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);
    let to = url::Url::parse(a.location()).unwrap();
    assert_eq!(
        &to[..url::Position::AfterPath],
        "http://127.0.0.1:7100/login/oidc/initiate"
    );
    let q = query_of(a.location());
    assert_eq!(q.get("tenant").map(String::as_str), Some("acme"));
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(st.conn.idp.base().trim_end_matches('/'))
    );
    assert!(!q.contains_key("login_hint"));

    let a = get(
        &st,
        "/home/qovery-oidc/launch?login_hint=alice%40acme.test&target_link_uri=http%3A%2F%2F127.0.0.1%3A7100%2Fdeep",
        None,
    )
    .await;
    let q = query_of(a.location());
    assert_eq!(
        q.get("login_hint").map(String::as_str),
        Some("alice@acme.test")
    );
    assert_eq!(
        q.get("target_link_uri").map(String::as_str),
        Some("http://127.0.0.1:7100/deep")
    );

    // The SPA has no initiate login URI: App Only.
    let a = get(&st, "/home/qovery-spa/launch", None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("no `initiate_login_uri`"), "{}", a.body);
    let a = get(&st, "/home/nope/launch", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let index = get(&st, "/", None).await;
    assert!(
        index.body.contains("/home/qovery-oidc/launch"),
        "{}",
        index.body
    );
    assert!(!index.body.contains("/home/qovery-spa/launch"));
    assert!(index.body.contains("Either Okta or App"));
}

/// The example plus a service app (client_credentials only, on the custom server), and the web
/// app without the refresh token grant.
fn with_grant_types() -> fakta::config::Connection {
    let yaml = std::fs::read_to_string(OIDC_EXAMPLE)
        .unwrap()
        .replace(
            "    redirect_uris: [http://127.0.0.1:7100/login/oidc/callback]\n",
            "    redirect_uris: [http://127.0.0.1:7100/login/oidc/callback]\n    grant_types: [authorization_code]\n",
        )
        .replace(
            "\ntarget:",
            "  - id: service\n    protocol: oidc\n    client_id: 0oa3service\n    client_secret: svc-secret\n    redirect_uris: [http://127.0.0.1:7300/cb]\n    authorization_server: default\n    grant_types: [client_credentials]\n\ntarget:",
        );
    assert!(yaml.contains("0oa3service") && yaml.contains("grant_types: [authorization_code]"));
    connection(&yaml, std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// Okta's "Grant type" boxes (RFC 6749 §4.4, §5.2): a client_credentials token for the client
/// itself, no user and no id_token; OpenID scopes refused as Okta does; a grant the app does not
/// have is `unauthorized_client` at the token and authorize endpoints; no refresh token without
/// the refresh token grant.
#[tokio::test]
async fn grant_types_decide_what_the_token_endpoint_issues() {
    let st = state(with_grant_types());
    let svc = Some(("0oa3service", "svc-secret"));
    let token = |fields: Vec<(&'static str, &'static str)>, who| {
        let st = st.clone();
        async move { post_form_basic(&st, "/oauth2/default/v1/token", &fields, who).await }
    };
    let ok = token(
        vec![
            ("grant_type", "client_credentials"),
            ("scope", "fakta.read"),
        ],
        svc,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let body = json(&ok);
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "fakta.read");
    let at = body["access_token"].as_str().unwrap();
    let claims = peek_claims(at).unwrap();
    assert_eq!(claims["sub"], "0oa3service");
    assert_eq!(claims["cid"], "0oa3service");
    assert_eq!(
        claims["iss"],
        format!(
            "{}/oauth2/default",
            st.conn.idp.base().trim_end_matches('/')
        )
    );
    assert!(claims.get("uid").is_none());
    let intro = post_form_basic(&st, "/oauth2/default/v1/introspect", &[("token", at)], svc).await;
    let intro = json(&intro);
    assert_eq!(intro["active"], true);
    assert_eq!(intro["sub"], "0oa3service");
    // Userinfo has no user to answer for.
    let ui = get_bearer(&st, "/oauth2/default/v1/userinfo", at).await;
    assert_eq!(ui.status, StatusCode::UNAUTHORIZED);

    for (scope, says) in [
        ("openid fakta.read", "Cannot request 'openid' scopes"),
        (
            "",
            "at least one of the authorization server's custom scopes",
        ),
    ] {
        let bad = post_form_basic(
            &st,
            "/oauth2/default/v1/token",
            &[("grant_type", "client_credentials"), ("scope", scope)],
            svc,
        )
        .await;
        assert_eq!(oauth_error(&bad), "invalid_scope", "{}", bad.body);
        assert!(bad.body.contains(says), "{}", bad.body);
    }

    // The service app has no authorization code grant; the web app no client credentials.
    let bad = token(
        vec![("grant_type", "authorization_code"), ("code", "x")],
        svc,
    )
    .await;
    assert_eq!(oauth_error(&bad), "unauthorized_client", "{}", bad.body);
    assert!(
        bad.body.contains("its grant_types: client_credentials"),
        "{}",
        bad.body
    );
    let start = get(
        &st,
        &authorize_uri(
            "/oauth2/default/v1",
            &[
                ("client_id", "0oa3service"),
                ("redirect_uri", "http://127.0.0.1:7300/cb"),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s1"),
            ],
        ),
        None,
    )
    .await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let q = query_of(start.location());
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("unauthorized_client")
    );
    assert_eq!(q.get("state").map(String::as_str), Some("s1"));
    let bad = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "fakta.read"),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&bad), "unauthorized_client", "{}", bad.body);
    let bad = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "password")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&bad), "unsupported_grant_type", "{}", bad.body);

    // offline_access without the refresh token grant: tokens, but no refresh token.
    let (code, _) = code_for(&st, &web_params(&[]), "00u1alice").await;
    let done = exchange(&st, &code).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let body = json(&done);
    assert!(body.get("id_token").is_some());
    assert!(body.get("refresh_token").is_none(), "{}", done.body);
}

/// The example with the web app's "Implicit (hybrid)" grant ticked.
fn with_implicit() -> fakta::config::Connection {
    let mut c = oidc_example();
    for a in &mut c.apps {
        if let fakta::config::Protocol::Oidc(o) = &mut a.protocol {
            o.grant_types.push(fakta::config::GrantType::Implicit);
        }
    }
    c
}

/// The parameters of a redirect's fragment.
fn fragment_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).expect("absolute redirect");
    assert_eq!(url.query(), None, "nothing in the query: {location}");
    url::form_urlencoded::parse(url.fragment().expect("a fragment").as_bytes())
        .into_owned()
        .collect()
}

/// Without the implicit grant a token-returning response type is `unauthorized_client`, sent
/// in the fragment (the default mode for tokens, OIDC Core §3.2.2.5); with it, a request without
/// a nonce is `invalid_request` (§3.2.2.1), and so is `response_mode=query`; the token endpoint
/// never takes `grant_type=implicit`.
#[tokio::test]
async fn implicit_and_hybrid_requests_are_checked_against_the_grants_nonce_and_mode() {
    let st = state(oidc_example());
    let a = get(
        &st,
        &authorize_uri(
            "/oauth2/v1",
            &web_params(&[("response_type", "code id_token")]),
        ),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::FOUND);
    let f = fragment_of(a.location());
    assert_eq!(f["error"], "unauthorized_client");
    assert!(f["error_description"].contains("implicit"), "{f:?}");
    assert_eq!(f["state"], "st-123");

    let st = state(with_implicit());
    let no_nonce: Vec<(&str, &str)> = web_params(&[("response_type", "id_token")])
        .into_iter()
        .filter(|(k, _)| *k != "nonce")
        .collect();
    let a = get(&st, &authorize_uri("/oauth2/v1", &no_nonce), None).await;
    let f = fragment_of(a.location());
    assert_eq!(f["error"], "invalid_request");
    assert!(f["error_description"].contains("nonce"), "{f:?}");
    // `code token` returns no id_token from the authorization endpoint: nonce stays optional.
    let no_nonce: Vec<(&str, &str)> = web_params(&[("response_type", "code token")])
        .into_iter()
        .filter(|(k, _)| *k != "nonce")
        .collect();
    let a = get(&st, &authorize_uri("/oauth2/v1", &no_nonce), None).await;
    assert!(
        a.location().starts_with("/login/login.htm"),
        "the login page: {}",
        a.location()
    );

    let a = get(
        &st,
        &authorize_uri(
            "/oauth2/v1",
            &web_params(&[
                ("response_type", "id_token token"),
                ("response_mode", "query"),
            ]),
        ),
        None,
    )
    .await;
    let f = fragment_of(a.location());
    assert_eq!(f["error"], "invalid_request");
    assert!(f["error_description"].contains("query"), "{f:?}");
    let a = get(
        &st,
        &authorize_uri("/oauth2/v1", &web_params(&[("response_type", "token")])),
        None,
    )
    .await;
    assert_eq!(query_of(a.location())["error"], "unsupported_response_type");

    let t = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[("grant_type", "implicit")],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(oauth_error(&t), "unsupported_grant_type");
    let d = json(&get(&st, "/.well-known/openid-configuration", None).await);
    let types: Vec<&str> = d["response_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        types,
        [
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ]
    );
}

/// Each response type in its default mode (fragment) and by form_post: what comes back, with
/// at_hash for an access token and c_hash for a code in the front-channel id_token (OIDC Core
/// §3.2.2.10, §3.3.2.11); the access token works at userinfo and the code redeems.
#[tokio::test]
async fn implicit_and_hybrid_answers_carry_at_hash_and_c_hash() {
    let st = state(with_implicit());
    for (rt, mode) in [
        ("id_token", None),
        ("id_token token", None),
        ("code id_token", None),
        ("code token", None),
        ("code id_token token", None),
        // Words in any order (Multiple Response Type Encoding Practices §5).
        ("token code id_token", Some("form_post")),
        ("code id_token", Some("form_post")),
        ("id_token token", Some("form_post")),
        ("code id_token token", Some("okta_post_message")),
    ] {
        let mut extra = vec![("response_type", rt)];
        if let Some(m) = mode {
            extra.push(("response_mode", m));
        }
        let start = get(&st, &authorize_uri("/oauth2/v1", &web_params(&extra)), None).await;
        let done = pick_user(&st, &start, "00u1alice").await;
        let got: std::collections::HashMap<String, String> = match mode {
            None => {
                assert_eq!(done.status, StatusCode::FOUND, "{rt}: {}", done.body);
                assert!(done.location().starts_with(&format!("{REDIRECT}#")), "{rt}");
                fragment_of(done.location())
            }
            Some("okta_post_message") => {
                assert_eq!(done.status, StatusCode::OK, "{rt}");
                let (data, origin) = posted(&done.body);
                assert_eq!(origin, "http://127.0.0.1:7100");
                data.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            }
            Some(_) => {
                assert_eq!(done.status, StatusCode::OK, "{rt}");
                assert_eq!(done.form_action(), REDIRECT);
                ["code", "id_token", "access_token", "token_type", "state"]
                    .into_iter()
                    .filter_map(|k| form_field(&done.body, k).map(|v| (k.to_owned(), v)))
                    .collect()
            }
        };
        assert_eq!(got["state"], "st-123", "{rt}");
        let words: Vec<&str> = rt.split(' ').collect();
        for (word, field) in [
            ("code", "code"),
            ("id_token", "id_token"),
            ("token", "access_token"),
        ] {
            assert_eq!(
                got.contains_key(field),
                words.contains(&word),
                "{rt}: {field} in {got:?}"
            );
        }
        if let Some(at) = got.get("access_token") {
            assert_eq!(got["token_type"], "Bearer", "{rt}");
            let ui = get_bearer(&st, "/oauth2/v1/userinfo", at).await;
            assert_eq!(ui.status, StatusCode::OK, "{rt}: {}", ui.body);
        }
        if let Some(id) = got.get("id_token") {
            let c = peek_claims(id).unwrap();
            assert_eq!(c["nonce"], "n-456", "{rt}");
            assert_eq!(c["aud"], CLIENT);
            assert_eq!(c["email"], "alice@acme.test");
            assert_eq!(
                c.get("at_hash").and_then(Value::as_str).map(str::to_owned),
                got.get("access_token").map(|t| half_hash(t)),
                "{rt}: at_hash"
            );
            assert_eq!(
                c.get("c_hash").and_then(Value::as_str).map(str::to_owned),
                got.get("code").map(|t| half_hash(t)),
                "{rt}: c_hash"
            );
        }
        if let Some(code) = got.get("code") {
            let t = exchange(&st, code).await;
            assert_eq!(t.status, StatusCode::OK, "{rt}: {}", t.body);
            let id = json(&t)["id_token"].as_str().unwrap().to_owned();
            let c = peek_claims(&id).unwrap();
            assert!(
                c.get("c_hash").is_none(),
                "{rt}: the token endpoint's has none"
            );
        }
    }
}
