//! Client authentication with JWTs (`client_secret_jwt`, `private_key_jwt`; RFC 7523, Okta's
//! "Client authentication methods") and refresh token rotation (Okta's "Refresh token
//! rotation") over HTTP (oneshot), with the IdP's clock moved by the test.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use fakta::idp::IdpState;
use fakta::oidc::assertion::{ASSERTION_TYPE, hmac};
use fakta::oidc::jwt;
use openssl::pkey::{PKey, Private};
use serde_json::{Value, json};
use time::Duration;

const CLIENT: &str = "0oa1qoveryweb";
const REDIRECT: &str = "http://127.0.0.1:7100/login/oidc/callback";
const BASE: &str = "http://127.0.0.1:7000";
const TOKEN_URL: &str = "http://127.0.0.1:7000/oauth2/v1/token";
const HMAC_SECRET: &str = "a-long-enough-client-secret-for-hs256";

/// The example's web app with `auth` in place of its client secret and method.
fn with_auth(auth: &str) -> fakta::config::Connection {
    let yaml = std::fs::read_to_string(OIDC_EXAMPLE).unwrap().replace(
        "    client_secret: fakta-demo-secret-change-me   # a test secret; never a real one\n    token_endpoint_auth_method: client_secret_basic   # or client_secret_post, or none (public + PKCE)\n",
        auth,
    );
    assert!(yaml.contains(auth), "the example changed");
    connection(&yaml, Path::new(env!("CARGO_MANIFEST_DIR")))
}

const PRIVATE_KEY_JWT: &str = "    token_endpoint_auth_method: private_key_jwt\n    jwks: tests/valid/client-jwks.json\n    client_private_key: tests/valid/client-rsa.pem\n";

fn client_secret_jwt() -> String {
    format!("    client_secret: {HMAC_SECRET}\n    token_endpoint_auth_method: client_secret_jwt\n")
}

fn key(file: &str) -> PKey<Private> {
    let pem = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    PKey::private_key_from_pem(&pem).unwrap()
}

fn claims(aud: &str, jti: &str) -> Value {
    let now = NOW.unix_timestamp();
    json!({"iss": CLIENT, "sub": CLIENT, "aud": aud, "iat": now, "exp": now + 300, "jti": jti})
}

fn rs256(claims: &Value) -> String {
    jwt::sign(
        jwt::Alg::RS256,
        "client-rsa",
        None,
        &key("tests/valid/client-rsa.pem"),
        claims,
    )
    .unwrap()
}

fn hs(alg: &str, secret: &str, claims: &Value) -> String {
    let header = jwt::Header {
        alg,
        kid: None,
        typ: None,
    };
    let input = jwt::signing_input(&header, claims).unwrap();
    let mac = hmac(alg, secret.as_bytes(), input.as_bytes()).unwrap();
    format!("{input}.{}", jwt::b64(&mac))
}

fn json_of(a: &Answer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", a.body))
}

/// Logs alice in; returns the code.
async fn code(st: &Arc<IdpState>) -> String {
    code_in(st, None).await
}

/// A code for alice, in the browser whose `cookie` (if any) names a runner trial: the login
/// page's form is posted with it, which ties the grant to the trial.
async fn code_in(st: &Arc<IdpState>, cookie: Option<&str>) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid email offline_access"),
            ("state", "st-123"),
            ("nonce", "n-456"),
        ])
        .finish();
    let start = get(st, &format!("/oauth2/v1/authorize?{q}"), cookie).await;
    let done = match cookie {
        None => pick_user(st, &start, "00u1alice").await,
        Some(_) => {
            let token = start.location().split("state=").nth(1).unwrap().to_owned();
            post_form(
                st,
                "/login/login.htm",
                &[("state", &token), ("username", "00u1alice")],
                cookie,
            )
            .await
        }
    };
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let url = url::Url::parse(done.location()).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code")
}

/// A token request authenticated by `assertion` (None: no client authentication fields).
async fn token_with(st: &Arc<IdpState>, fields: &[(&str, &str)], assertion: &str) -> Answer {
    let mut all = fields.to_vec();
    all.push(("client_assertion_type", ASSERTION_TYPE));
    all.push(("client_assertion", assertion));
    post_form_basic(st, "/oauth2/v1/token", &all, None).await
}

async fn exchange(st: &Arc<IdpState>, assertion: &str) -> Answer {
    let c = code(st).await;
    token_with(
        st,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
        ],
        assertion,
    )
    .await
}

/// The error description of a 401 invalid_client.
fn refused(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    let v = json_of(a);
    assert_eq!(v["error"], "invalid_client", "{}", a.body);
    v["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// private_key_jwt end to end (RS256 and ES256 keys from the file), and each of Okta's
/// refusals as `invalid_client` naming the fault.
#[tokio::test]
async fn private_key_jwt_is_checked_as_okta_does() {
    let st = state(with_auth(PRIVATE_KEY_JWT));
    let ok = exchange(&st, &rs256(&claims(TOKEN_URL, "j-1"))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(json_of(&ok)["id_token"].is_string());
    let es = jwt::sign(
        jwt::Alg::ES256,
        "client-ec",
        None,
        &key("tests/valid/client-ec.pem"),
        &claims(TOKEN_URL, "j-2"),
    )
    .unwrap();
    let ok = exchange(&st, &es).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // The jti of the first request again.
    let again = exchange(&st, &rs256(&claims(TOKEN_URL, "j-1"))).await;
    assert!(refused(&again).contains("jti `j-1` was already used"));
    // aud: the issuer, not the token endpoint.
    let a = exchange(&st, &rs256(&claims(BASE, "j-3"))).await;
    assert!(refused(&a).contains("does not name"), "{}", a.body);
    // Expired, and too far ahead.
    let mut c = claims(TOKEN_URL, "j-4");
    c["exp"] = json!(NOW.unix_timestamp() - 5);
    assert!(refused(&exchange(&st, &rs256(&c)).await).contains("expired"));
    c["exp"] = json!(NOW.unix_timestamp() + 7200);
    assert!(refused(&exchange(&st, &rs256(&c)).await).contains("3600 seconds"));
    // iss is not sub.
    let mut c = claims(TOKEN_URL, "j-5");
    c["iss"] = json!("0oa-someone");
    assert!(refused(&exchange(&st, &rs256(&c)).await).contains("iss `0oa-someone` and sub"));
    // Signed with a key that is not the client's.
    let other = jwt::sign(
        jwt::Alg::RS256,
        "client-rsa",
        None,
        keys().current.pkey(),
        &claims(TOKEN_URL, "j-6"),
    )
    .unwrap();
    assert!(refused(&exchange(&st, &other).await).contains("does not verify"));
    // HS256 keyed with the client's public key (key confusion), and alg none.
    let pem = String::from_utf8(
        key("tests/valid/client-rsa.pem")
            .public_key_to_pem()
            .unwrap(),
    )
    .unwrap();
    let confused = hs("HS256", &pem, &claims(TOKEN_URL, "j-7"));
    assert!(refused(&exchange(&st, &confused).await).contains("alg `HS256` is not accepted"));
    let none = format!(
        "{}.{}.",
        jwt::b64(br#"{"alg":"none"}"#),
        jwt::b64(claims(TOKEN_URL, "j-8").to_string().as_bytes())
    );
    assert!(refused(&exchange(&st, &none).await).contains("alg `none`"));
    // No client_assertion_type, and a secret in place of the assertion.
    let c = code(&st).await;
    let a = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
            ("client_assertion", &rs256(&claims(TOKEN_URL, "j-9"))),
        ],
        None,
    )
    .await;
    assert!(refused(&a).contains("no client_assertion_type"));
    let a = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, "a-guess")),
    )
    .await;
    assert!(refused(&a).contains("registered for private_key_jwt"));

    // Introspection and revocation take the same method: aud is their own URL, or the token
    // endpoint's (RFC 7523 §3).
    let tokens = json_of(&exchange(&st, &rs256(&claims(TOKEN_URL, "j-10"))).await);
    let at = tokens["access_token"].as_str().unwrap();
    let intro_url = format!("{BASE}/oauth2/v1/introspect");
    for (aud, jti) in [(intro_url.as_str(), "j-11"), (TOKEN_URL, "j-12")] {
        let a = post_form_basic(
            &st,
            "/oauth2/v1/introspect",
            &[
                ("token", at),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &rs256(&claims(aud, jti))),
            ],
            None,
        )
        .await;
        assert_eq!(json_of(&a)["active"], true, "{}", a.body);
    }
    let a = post_form_basic(
        &st,
        "/oauth2/v1/revoke",
        &[
            ("token", at),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &rs256(&claims(&intro_url, "j-13"))),
        ],
        None,
    )
    .await;
    assert!(refused(&a).contains("does not name"), "{}", a.body);
}

/// client_secret_jwt: HS256/384/512 with the client secret; a wrong secret and an RS256
/// assertion are refused.
#[tokio::test]
async fn client_secret_jwt_is_an_hmac_with_the_client_secret() {
    let st = state(with_auth(&client_secret_jwt()));
    for (i, alg) in ["HS256", "HS384", "HS512"].iter().enumerate() {
        let a = exchange(
            &st,
            &hs(alg, HMAC_SECRET, &claims(TOKEN_URL, &format!("h-{i}"))),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{alg}: {}", a.body);
    }
    let wrong = exchange(&st, &hs("HS256", "not-it", &claims(TOKEN_URL, "h-9"))).await;
    assert!(refused(&wrong).contains("does not verify with the client's client secret"));
    let rs = exchange(&st, &rs256(&claims(TOKEN_URL, "h-10"))).await;
    assert!(refused(&rs).contains("not accepted for client_secret_jwt"));
    let basic = {
        let c = code(&st).await;
        post_form_basic(
            &st,
            "/oauth2/v1/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", REDIRECT),
            ],
            Some((CLIENT, HMAC_SECRET)),
        )
        .await
    };
    assert!(refused(&basic).contains("registered for client_secret_jwt"));
}

/// Discovery lists the methods and the assertion algorithms; the index page shows the app's.
#[tokio::test]
async fn discovery_and_the_index_page_show_the_methods() {
    let st = state(with_auth(PRIVATE_KEY_JWT));
    let d = json_of(&get(&st, "/.well-known/openid-configuration", None).await);
    for m in ["client_secret_jwt", "private_key_jwt"] {
        for list in [
            "token_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
        ] {
            assert!(d[list].as_array().unwrap().iter().any(|x| x == m), "{list}");
        }
    }
    let algs = &d["token_endpoint_auth_signing_alg_values_supported"];
    assert!(algs.as_array().unwrap().iter().any(|x| x == "RS256"));
    assert!(!algs.as_array().unwrap().iter().any(|x| x == "none"));
    let index = get(&st, "/", None).await;
    assert!(index.body.contains("private_key_jwt"), "{}", index.body);
}

/// The web app with a client secret and `policy` as its refresh token settings.
fn with_refresh(policy: &str) -> fakta::config::Connection {
    with_auth(&format!(
        "    client_secret: s3cret\n    refresh_token: {policy}\n"
    ))
}

async fn refresh(st: &Arc<IdpState>, rt: &str) -> Answer {
    post_form_basic(
        st,
        "/oauth2/v1/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((CLIENT, "s3cret")),
    )
    .await
}

async fn login(st: &Arc<IdpState>) -> Value {
    login_in(st, None).await
}

async fn login_in(st: &Arc<IdpState>, cookie: Option<&str>) -> Value {
    let c = code_in(st, cookie).await;
    let a = post_form_basic(
        st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, "s3cret")),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    json_of(&a)
}

fn error_of(a: &Answer) -> (String, String) {
    let v = json_of(a);
    (
        v["error"].as_str().unwrap_or_default().to_owned(),
        v["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn active(st: &Arc<IdpState>, token: &str) -> bool {
    let a = post_form_basic(
        st,
        "/oauth2/v1/introspect",
        &[("token", token)],
        Some((CLIENT, "s3cret")),
    )
    .await;
    json_of(&a)["active"] == true
}

/// Rotation: each refresh returns a new refresh token; the previous one works within the grace
/// period (answering with the same new one), and a reuse after it revokes every token of the
/// grant (Okta's reuse detection).
#[tokio::test]
async fn rotated_refresh_tokens_have_a_grace_period_then_reuse_revokes_the_family() {
    let (st, clock) = state_with_clock(with_refresh(
        "{ rotation: rotate, grace_period_seconds: 10 }",
    ));
    let first = login(&st).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let at1 = first["access_token"].as_str().unwrap().to_owned();

    let r = refresh(&st, &rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rt2 = json_of(&r)["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt1, "rotation gives a new refresh token");
    let at2 = json_of(&r)["access_token"].as_str().unwrap().to_owned();

    // Within the grace period: the old token still works and answers with rt2.
    clock.set(NOW + Duration::seconds(9));
    let r = refresh(&st, &rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json_of(&r)["refresh_token"], rt2.as_str());

    // rt2 rotates to rt3: rt1 is now two generations old.
    let r = refresh(&st, &rt2).await;
    let rt3 = json_of(&r)["refresh_token"].as_str().unwrap().to_owned();
    let at3 = json_of(&r)["access_token"].as_str().unwrap().to_owned();
    assert!(active(&st, &at3).await);

    // After the grace period: rt1 again is a reuse: every token of the grant is revoked.
    clock.set(NOW + Duration::seconds(11));
    let r = refresh(&st, &rt1).await;
    let (error, why) = error_of(&r);
    assert_eq!(error, "invalid_grant", "{}", r.body);
    assert!(why.contains("reuse detection"), "{why}");
    for t in [&at1, &at2, &at3, &rt2, &rt3] {
        assert!(!active(&st, t).await, "{t} must be revoked");
    }
    let r = refresh(&st, &rt3).await;
    assert_eq!(error_of(&r).1, "the refresh token has been revoked");
}

/// A grace period of 0: the previous token is refused at once, and the family goes with it.
#[tokio::test]
async fn without_a_grace_period_any_reuse_revokes_the_family() {
    let (st, _clock) = state_with_clock(with_refresh(
        "{ rotation: rotate, grace_period_seconds: 0 }",
    ));
    let rt1 = login(&st).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rt2 = json_of(&refresh(&st, &rt1).await)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error_of(&refresh(&st, &rt1).await)
            .1
            .contains("reuse detection")
    );
    assert_eq!(error_of(&refresh(&st, &rt2).await).0, "invalid_grant");
}

/// Issue 19: a rotated refresh token the bounded token store has evicted is not "unknown":
/// its tombstone keeps the grace period (the successor again) and, after it, reuse detection
/// (the whole family revoked), on the test clock.
#[tokio::test]
async fn an_evicted_rotated_refresh_token_still_revokes_its_family() {
    let (st, clock) = state_with_clock(with_refresh(
        "{ rotation: rotate, grace_period_seconds: 10 }",
    ));
    // A store of 24 KiB: a few logins' access tokens push the old refresh token out.
    *st.tokens.lock().unwrap() = fakta::idp::TokenStore::with_token_bytes(24 * 1024);
    let first = login(&st).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let r = refresh(&st, &rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rt2 = json_of(&r)["refresh_token"].as_str().unwrap().to_owned();
    let at2 = json_of(&r)["access_token"].as_str().unwrap().to_owned();
    // Other grants' tokens, until rt1's record is gone (rt2 is kept in use below).
    let mut logins = 0;
    while st.tokens.lock().unwrap().token(&rt1).is_some() {
        login(&st).await;
        logins += 1;
        assert!(logins < 100, "rt1 is never evicted");
    }
    assert!(
        st.tokens.lock().unwrap().token(&rt2).is_some(),
        "rt2 must outlive rt1 for the grace period to apply"
    );
    // Within the grace period: the evicted rt1 answers with its successor, as if stored.
    clock.set(NOW + Duration::seconds(5));
    let r = refresh(&st, &rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json_of(&r)["refresh_token"], rt2.as_str());
    // After it: a reuse, which revokes the family (before issue 19: "the refresh token is
    // unknown", and rt2 lived on).
    clock.set(NOW + Duration::seconds(11));
    let r = refresh(&st, &rt1).await;
    let (error, why) = error_of(&r);
    assert_eq!(error, "invalid_grant", "{}", r.body);
    assert!(why.contains("reuse detection"), "{why}");
    assert!(!active(&st, &rt2).await, "rt2 must be revoked");
    assert!(!active(&st, &at2).await, "at2 must be revoked");
    // A token that was never issued is still unknown.
    assert_eq!(
        error_of(&refresh(&st, "never-issued").await).1,
        "the refresh token is unknown"
    );
}

/// Static tokens come back unchanged; the idle time and the lifetime expire them.
#[tokio::test]
async fn persistent_refresh_tokens_expire_when_idle_or_past_their_lifetime() {
    let (st, clock) = state_with_clock(with_refresh(
        "{ rotation: static, idle_seconds: 100, lifetime_seconds: 250 }",
    ));
    let rt = login(&st).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for at in [90, 180] {
        clock.set(NOW + Duration::seconds(at));
        let r = refresh(&st, &rt).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(json_of(&r)["refresh_token"], rt.as_str());
    }
    // Used at 180: still within the idle time at 260, but past the lifetime (250).
    clock.set(NOW + Duration::seconds(260));
    let (_, why) = error_of(&refresh(&st, &rt).await);
    assert!(why.contains("lifetime"), "{why}");

    let rt = login(&st).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.set(NOW + Duration::seconds(260 + 100));
    let (error, why) = error_of(&refresh(&st, &rt).await);
    assert_eq!(error, "invalid_grant");
    assert!(why.contains("not used for 100 s"), "{why}");
}

/// A reuse answered from a tombstone alone (the rotated token and its successor both evicted)
/// is still recorded against the runner's trial the grant was issued in, as O26 reads it.
#[tokio::test]
async fn a_reuse_of_a_token_evicted_with_its_successor_is_recorded_against_its_trial() {
    let (st, clock) = state_with_clock(with_refresh(
        "{ rotation: rotate, grace_period_seconds: 10 }",
    ));
    *st.tokens.lock().unwrap() = fakta::idp::TokenStore::with_token_bytes(24 * 1024);
    st.set_trial_emit("t-evict", "00u1alice", Default::default());
    let cookie = format!("{}=t-evict", fakta::idp::TRIAL_COOKIE);
    let r = login_in(&st, Some(&cookie)).await;
    let rt1 = r["refresh_token"].as_str().unwrap().to_owned();
    let rt2 = json_of(&refresh(&st, &rt1).await)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut logins = 0;
    while st.tokens.lock().unwrap().token(&rt2).is_some()
        || st.tokens.lock().unwrap().token(&rt1).is_some()
    {
        login(&st).await;
        logins += 1;
        assert!(logins < 200, "rt1 and rt2 are never evicted");
    }
    clock.set(NOW + Duration::seconds(11));
    let (error, why) = error_of(&refresh(&st, &rt1).await);
    assert_eq!(error, "invalid_grant");
    assert!(why.contains("replaced since"), "{why}");
    assert_eq!(
        st.refreshes("t-evict"),
        [
            fakta::idp::RefreshUse::Current { rotated: true },
            fakta::idp::RefreshUse::RotatedReused
        ]
    );
}
