//! The pages for people, through `fakta::idp::app` with `oneshot`: the index page (Okta's "Sign
//! On" tab of every app) and the inspector (the documents the IdP received and issued, newest
//! first, bounded in bytes, secrets redacted).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use fakta::idp::inspect::MAX_TOTAL_BYTES;
use serde_json::Value;
use std::path::Path;

const CLIENT: &str = "0oa1qoveryweb";
const SECRET: &str = "fakta-demo-secret-change-me";
const REDIRECT: &str = "http://127.0.0.1:7100/login/oidc/callback";

/// The SAML example's apps and the OIDC example's, on one IdP (the directories are the same).
fn both() -> fakta::config::Connection {
    let mut conn = example();
    conn.apps.extend(oidc_example().apps);
    conn
}

async fn get_json(st: &std::sync::Arc<fakta::idp::IdpState>, uri: &str) -> Value {
    let req = Request::get(uri)
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let a = send(st, req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", a.body))
}

/// Where `needle` is in `page`, failing with the page when it is not there.
fn at(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not on the page:\n{page}"))
}

#[tokio::test]
async fn the_index_is_the_sign_on_tab_of_a_saml_and_an_oidc_app() {
    let st = state(both());
    let page = get(&st, "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let p = &page.body;
    let cert = &keys().current.certificate;
    // SAML: what the customer shares.
    for needle in [
        "Identity Provider Single Sign-On URL",
        "<code>http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml</code>",
        "Identity Provider Issuer</th><td><code>http://www.okta.com/qovery</code>",
        "http://127.0.0.1:7000/app/qovery/sso/saml/metadata",
        "http://127.0.0.1:7000/app/qovery/sso/saml/certificate.pem",
        &cert.sha256_fingerprint(),
        "-----BEGIN CERTIFICATE-----",
        &cert.base64()[..64],
        "Identity Provider Single Logout URL</th><td><code>http://127.0.0.1:7000/app/acme_qovery_1/qovery/slo/saml</code>",
        "Audience URI (SP Entity ID)</th><td><code>urn:auth0:qovery:acme</code>",
        "SP signatures</th><td>none required (no SP certificate in the file)</td>",
        // Okta's Advanced Settings: the defaults.
        "Signature Algorithm / Digest Algorithm</th><td>RSA-SHA256 / SHA256</td>",
        "Assertion Encryption</th><td>Unencrypted</td>",
        // Global Token Revocation: the issuer and the subject format to share.
        "Request issuer (JWT iss)</th><td><code>http://127.0.0.1:7000</code>",
        "Issuer and Subject Identifier (<code>iss_sub</code>): <code>iss</code> <code>http://www.okta.com/qovery</code>",
        "<code>groups</code> filtered by <code>regex .*Qovery.*</code>",
    ] {
        at(p, needle);
    }
    // OIDC: the client's settings and the authorization server's endpoints.
    for needle in [
        "qovery-oidc <small>(OpenID Connect",
        "Client ID</th><td><code>0oa1qoveryweb</code>",
        "Issuer</th><td><code>http://127.0.0.1:7000</code>",
        "http://127.0.0.1:7000/.well-known/openid-configuration",
        "http://127.0.0.1:7000/oauth2/v1/keys",
        "<code>http://127.0.0.1:7000/oauth2/v1/authorize</code>",
        "<code>http://127.0.0.1:7000/oauth2/v1/token</code>",
        "<code>http://127.0.0.1:7000/oauth2/v1/userinfo</code>",
        "<code>http://127.0.0.1:7000/oauth2/v1/logout</code>",
        "<code>http://127.0.0.1:7000/oauth2/v1/revoke</code>",
        "<code>http://127.0.0.1:7100/login/oidc/callback</code>",
        "client_secret_basic",
        // The custom server of the SPA.
        "<code>http://127.0.0.1:7000/oauth2/default</code>",
        "http://127.0.0.1:7000/oauth2/default/.well-known/openid-configuration",
        "none (a public client: PKCE)",
    ] {
        at(p, needle);
    }
    // Users, with what each app sends them after its filter and what it drops.
    at(p, "<td>sent: Qovery-Admins; dropped: Eng</td>");
    at(p, "<td>sent: no groups attribute; dropped: Eng</td>");
    // Escaped; and no secret, no key.
    at(p, "O&apos;Brien &amp; &lt;Sons&gt;");
    assert!(!p.contains("<Sons>"), "unescaped name");
    assert!(
        !p.contains(SECRET),
        "the client secret is on the index page"
    );
    assert!(!p.contains("PRIVATE KEY"), "a key is on the index page");

    // The certificate downloads as PEM.
    let pem = get(&st, "/app/qovery/sso/saml/certificate.pem", None).await;
    assert_eq!(pem.status, StatusCode::OK);
    assert_eq!(pem.body, cert.pem());
    assert!(
        pem.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("fakta-qovery.pem")
    );
    let not_saml = get(&st, "/app/qovery-oidc/sso/saml/certificate.pem", None).await;
    assert_eq!(
        not_saml.status,
        StatusCode::BAD_REQUEST,
        "{}",
        not_saml.body
    );
    at(&not_saml.body, "is not a SAML app");
}

/// The index says which of the SP's messages must be signed (`sp_signs`), and that a signature
/// on the others is still checked.
#[tokio::test]
async fn the_index_shows_which_sp_messages_must_be_signed() {
    let dir = tempfile::tempdir().unwrap();
    let sp = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("sp.crt"), sp.certificate.pem()).unwrap();
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    for (extra, shown) in [
        (
            "",
            "required on AuthnRequests, LogoutRequests, LogoutResponses; every signature present",
        ),
        (
            "\n    sp_signs: [logout_requests]",
            "required on LogoutRequests; AuthnRequests, LogoutResponses may come unsigned; every signature present",
        ),
        (
            "\n    sp_signs: []",
            "none required; AuthnRequests, LogoutRequests, LogoutResponses may come unsigned; every signature present",
        ),
    ] {
        let yaml = example.replace(
            "# sp_certificate: sp.crt",
            &format!("sp_certificate: sp.crt{extra}"),
        );
        let st = state(connection(&yaml, dir.path()));
        let page = get(&st, "/", None).await;
        at(&page.body, &format!("SP signatures</th><td>{shown}"));
    }
}

/// The index shows Okta's SAML app settings (issue 19) as the admin console names them, the
/// defaults first, then each turned.
#[tokio::test]
async fn the_index_shows_the_saml_app_settings() {
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let page = get(&state(connection(&example, Path::new("."))), "/", None).await;
    for shown in [
        "Use this for Recipient URL and Destination URL</th><td>Yes: both are the ACS URL",
        "Other Requestable SSO URLs</th><td>none</td>",
        "Authentication context class</th><td>PasswordProtectedTransport (<code>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</code>)",
        "Honor Force Authentication</th><td>Yes</td>",
        "<code>email</code> = <code>user.email</code> (Unspecified)",
    ] {
        at(&page.body, shown);
    }
    let yaml = example
        .replacen(
            "    allow_idp_initiated: true\n",
            "    allow_idp_initiated: true\n    recipient_url: http://127.0.0.1:7100/r\n    authn_context_class: integrated_windows\n    honor_force_authn: false\n    other_sso_urls: [{ url: http://127.0.0.1:7200/acs, index: 5 }]\n",
            1,
        )
        .replacen(
            "      name: user.name\n",
            "      name: { value: user.name, name_format: uri }\n",
            1,
        )
        .replacen(
            "value: user.email }",
            "value: custom, expression: \"${user.id}@corp\" }",
            1,
        );
    let page = get(&state(connection(&yaml, Path::new("."))), "/", None).await;
    for shown in [
        "Use this for Recipient URL and Destination URL</th><td>No: Recipient URL <code>http://127.0.0.1:7100/r</code>, Destination URL the ACS URL",
        "Other Requestable SSO URLs</th><td><code>http://127.0.0.1:7200/acs</code> (index 5)",
        "Authentication context class</th><td>Integrated Windows Authentication (<code>urn:federation:authentication:windows</code>)",
        "Honor Force Authentication</th><td>No: ForceAuthn is ignored",
        "<code>name</code> = <code>user.name</code> (URI Reference)",
        "<code>Unspecified</code> = <code>custom ${user.id}@corp</code>",
    ] {
        at(&page.body, shown);
    }
}

#[tokio::test]
async fn the_index_of_the_oidc_example_lists_its_apps() {
    let st = state(oidc_example());
    let page = get(&st, "/", None).await.body;
    let apps = at(&page, "<h2>Apps</h2>");
    let users = at(&page, "<h2>Users</h2>");
    let between = &page[apps..users];
    assert!(
        between.contains("qovery-oidc") && between.contains("qovery-spa"),
        "{between}"
    );
}

#[tokio::test]
async fn the_inspector_shows_a_saml_login_then_an_oidc_login_newest_first() {
    let st = state(both());
    let empty = get(&st, "/fakta/inspect", None).await;
    assert_eq!(empty.status, StatusCode::OK);
    at(&empty.body, "Nothing yet");

    // An SP-initiated SAML login (HTTP-Redirect), then an OIDC code flow and userinfo.
    let response = sp_initiated_response(&st, "_inspected-request-1", "00u1alice").await;
    let signature_value = between(&response, "<ds:SignatureValue>", "</ds:SignatureValue>");
    let params = [
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email groups offline_access"),
        ("state", "st-123"),
        ("nonce", "n-inspected"),
    ];
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let start = get(&st, &format!("/oauth2/v1/authorize?{q}"), None).await;
    let done = pick_user(&st, &start, "00u4max").await;
    let code = url::Url::parse(done.location())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = post_form_basic(
        &st,
        "/oauth2/v1/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((CLIENT, SECRET)),
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let tokens: Value = serde_json::from_str(&tokens.body).unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let ui = get_bearer(&st, "/oauth2/v1/userinfo", access).await;
    assert_eq!(ui.status, StatusCode::OK, "{}", ui.body);

    // JSON: newest first.
    let json = get_json(&st, "/fakta/inspect").await;
    let entries = json["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "userinfo",
            "tokens",
            "authorization",
            "saml_response",
            "authn_request"
        ]
    );
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    assert!(json["bytes"].as_u64().unwrap() > 0);
    assert_eq!(json["max_bytes"], MAX_TOTAL_BYTES);

    let request = &entries[4];
    assert_eq!(request["direction"], "received");
    assert!(
        request["summary"]
            .as_str()
            .unwrap()
            .contains("HTTP-Redirect")
    );
    let text = request["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("ID=\"_inspected-request-1\""), "{text}");

    let saml = &entries[3];
    assert_eq!(saml["app"], "qovery");
    let summary = saml["summary"].as_str().unwrap();
    let fp = keys().current.certificate.sha256_fingerprint();
    assert!(
        summary.contains("the Assertion (Reference URI #") && summary.contains(&fp),
        "{summary}"
    );
    assert!(
        summary.contains("the Response (Reference URI #"),
        "{summary}"
    );
    let xml = saml["parts"][0]["text"].as_str().unwrap();
    assert!(xml.contains("<saml2:AttributeStatement"), "{xml}");
    assert!(
        xml.contains("InResponseTo=\"_inspected-request-1\""),
        "{xml}"
    );
    assert!(
        xml.contains("\n    <saml2:Assertion") || xml.contains("\n  <saml2:Assertion"),
        "indented:\n{xml}"
    );
    let login = &saml["login"];
    assert_eq!(login["user"], "00u1alice");
    assert_eq!(login["groups"], serde_json::json!(["Qovery-Admins", "Eng"]));
    assert_eq!(login["sent"], serde_json::json!(["Qovery-Admins"]));
    assert_eq!(login["dropped"], serde_json::json!(["Eng"]));
    assert_eq!(login["missing"], serde_json::json!([]));

    let authz = &entries[2];
    assert_eq!(authz["login"]["user"], "00u4max");
    assert_eq!(
        authz["login"]["sent"],
        serde_json::json!(["Qovery-DevOps", "Qovery-Admins"])
    );
    let tok = entries[1]["parts"].as_array().unwrap();
    assert_eq!(tok[0]["title"], "id_token");
    let claims = tok[0]["text"].as_str().unwrap();
    for needle in [
        "\"nonce\": \"n-inspected\"",
        "\"email\": \"max@acme.test\"",
        "\"sub\": \"00u4max\"",
        "\"alg\": \"RS256\"",
        "(signature not shown)",
    ] {
        assert!(claims.contains(needle), "{needle} not in:\n{claims}");
    }
    let userinfo = entries[0]["parts"][0]["text"].as_str().unwrap();
    assert!(
        userinfo.contains("\"email\": \"max@acme.test\""),
        "{userinfo}"
    );

    // One entry by itself, both ways; the index links to it.
    let seq = saml["seq"].as_u64().unwrap();
    let one = get_json(&st, &format!("/fakta/inspect/{seq}")).await;
    assert_eq!(&one, saml);
    let index = get(&st, "/", None).await.body;
    at(
        &index,
        &format!("http://127.0.0.1:7000/fakta/inspect/{seq}"),
    );
    let gone = get(&st, "/fakta/inspect/999999", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // HTML: newest first, escaped, the login's groups shown.
    let html = get(&st, "/fakta/inspect", None).await.body;
    assert!(at(&html, "userinfo answer") < at(&html, "issued tokens"));
    assert!(at(&html, "issued SAML Response") < at(&html, "received AuthnRequest"));
    at(&html, "&lt;saml2:AttributeStatement");
    at(&html, "<td class=\"dropped\">Eng</td>");
    assert!(!html.contains("<saml2:"), "unescaped XML in the page");

    // Nothing secret, anywhere.
    let all = format!("{html}\n{json}\n{index}");
    let id_sig = id_token.rsplit('.').next().unwrap();
    for (what, secret) in [
        ("client secret", SECRET),
        ("authorization code", code.as_str()),
        ("refresh token", refresh),
        ("access token", access),
        ("id_token", id_token),
        ("id_token signature", id_sig),
        ("SAML signature value", signature_value.as_str()),
    ] {
        assert!(!secret.is_empty());
        assert!(!all.contains(secret), "the {what} is shown");
    }
}

fn between(s: &str, open: &str, close: &str) -> String {
    let a = s.find(open).expect("open") + open.len();
    let b = s[a..].find(close).expect("close") + a;
    s[a..b].to_owned()
}

/// Logins through the IdP, three times what the ring can hold (about 650 signed Responses): it
/// never holds more than its cap (measured as the bytes of its entries), keeps the newest, and is
/// full enough to show the cap is what limits it. (The unit tests of `idp::inspect` record
/// 10,000 entries directly; 10,000 signed logins here would cost two minutes of a debug CI run.)
const LOGINS: u64 = 2_000;

#[tokio::test]
async fn the_byte_cap_holds_under_thousands_of_logins() {
    let st = state(example());
    let first = get(&st, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let done = pick_user(&st, &first, "00u1alice").await;
    let cookie = done.session_cookie().expect("an IdP session");
    let mut peak = 0;
    for i in 0..LOGINS {
        // With the IdP session, each request is a login: a signed Response at once.
        let a = get(&st, "/app/acme_qovery_1/qovery/sso/saml", Some(&cookie)).await;
        assert_eq!(a.status, StatusCode::OK, "login {i}: {}", a.body);
        peak = peak.max(st.inspector.bytes());
        assert!(
            st.inspector.bytes() <= MAX_TOTAL_BYTES,
            "over the cap at login {i}"
        );
    }
    let entries = st.inspector.newest(usize::MAX);
    let held: usize = entries.iter().map(|e| e.bytes()).sum();
    assert_eq!(held, st.inspector.bytes());
    assert!(peak <= MAX_TOTAL_BYTES);
    let oldest = entries.last().unwrap().seq;
    assert!(
        oldest > 1,
        "the oldest were evicted: {} kept",
        entries.len()
    );
    assert_eq!(oldest + entries.len() as u64 - 1, LOGINS + 1, "no gap");
    // Full to within one entry of the cap: the cap is what limits it.
    let largest = entries.iter().map(|e| e.bytes()).max().unwrap();
    assert!(
        MAX_TOTAL_BYTES - held < largest,
        "held {held} of {MAX_TOTAL_BYTES}"
    );
    assert_eq!(entries[0].seq, LOGINS + 1, "the newest is kept");
    eprintln!(
        "after {} logins the inspector holds {} entries in {held} bytes (cap {MAX_TOTAL_BYTES})",
        LOGINS + 1,
        entries.len()
    );
}

/// An SP-initiated logout: the LogoutRequest received and the LogoutResponse issued; a login
/// with an attribute a scenario removed says which.
#[tokio::test]
async fn the_inspector_shows_logouts_and_removed_attributes() {
    let st = state(example());
    st.set_emit(
        "00u1alice",
        fakta::config::Emit {
            omit_attributes: vec!["groups".into(), "name".into()],
            ..Default::default()
        },
    );
    let start = get(&st, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    let cookie = done.session_cookie().unwrap();
    let request = fakta::saml::logout::build(&fakta::saml::logout::LogoutRequest {
        id: "_inspected-logout".into(),
        issue_instant: NOW,
        issuer: "urn:auth0:qovery:acme".into(),
        destination: "http://127.0.0.1:7000/app/acme_qovery_1/qovery/slo/saml".into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        session_index: None,
    });
    let q = fakta::saml::logout::redirect_query(&request, None, None).unwrap();
    let a = get(
        &st,
        &format!("/app/acme_qovery_1/qovery/slo/saml?{q}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);

    let json = get_json(&st, "/fakta/inspect").await;
    let entries = json["entries"].as_array().unwrap();
    let shape: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["direction"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("issued", "logout_response"),
            ("received", "logout_request"),
            ("issued", "saml_response"),
        ]
    );
    let response = entries[0]["parts"][0]["text"].as_str().unwrap();
    assert!(
        response.contains("InResponseTo=\"_inspected-logout\""),
        "{response}"
    );
    let received = entries[1]["parts"][0]["text"].as_str().unwrap();
    assert!(received.contains("ID=\"_inspected-logout\""), "{received}");
    let login = &entries[2]["login"];
    assert_eq!(login["missing"], serde_json::json!(["groups", "name"]));
    assert_eq!(
        login["sent"],
        Value::Null,
        "the groups attribute was removed"
    );
    assert_eq!(login["dropped"], serde_json::json!(["Eng"]));
    let xml = entries[2]["parts"][0]["text"].as_str().unwrap();
    assert!(
        !xml.contains("Name=\"groups\"") && !xml.contains("Name=\"name\""),
        "{xml}"
    );
    let html = get(&st, "/fakta/inspect", None).await.body;
    at(&html, "<td class=\"missing\">groups, name</td>");
    at(&html, "<td class=\"sent\">no groups attribute</td>");
}

/// An app that encrypts: the inspector shows the Response as sent (the EncryptedAssertion) and,
/// beside it, the Assertion the IdP signed and then encrypted, which is what the SP decrypts
/// (checked here by decrypting the posted Response with the SP's key).
#[tokio::test]
async fn the_inspector_shows_the_assertion_the_idp_encrypted_beside_the_encrypted_response() {
    let dir = tempfile::tempdir().unwrap();
    let sp = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("sp-enc.crt"), sp.certificate.pem()).unwrap();
    let yaml = std::fs::read_to_string(EXAMPLE).unwrap().replacen(
        "    sign: both ",
        "    encryption: { certificate: sp-enc.crt, block: aes256-cbc, key_transport: rsa-oaep }\n    sign: both ",
        1,
    );
    assert!(yaml.contains("encryption: {"));
    let st = state(connection(&yaml, dir.path()));
    let response = sp_initiated_response(&st, "_inspected-encrypted-1", "00u1alice").await;
    assert!(response.contains("<saml2:EncryptedAssertion"), "{response}");
    assert!(!response.contains(">alice@acme.test<"), "{response}");

    let json = get_json(&st, "/fakta/inspect").await;
    let saml = &json["entries"][0];
    assert_eq!(saml["kind"], "saml_response");
    let parts = saml["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let sent = parts[0]["text"].as_str().unwrap();
    assert!(sent.contains("<saml2:EncryptedAssertion"), "{sent}");
    let shown = parts[1]["text"].as_str().unwrap();

    // What the SP decrypts is what the inspector shows (up to the indentation and the
    // redacted signature value and certificate).
    let doc = roxmltree::Document::parse(&response).unwrap();
    let encrypted = doc
        .descendants()
        .find(|n| n.tag_name().name() == "EncryptedAssertion")
        .unwrap();
    let plain = fakta::saml::encrypt::decrypt_assertion(encrypted, sp.pkey()).unwrap();
    let words = |s: &str| -> Vec<String> {
        let p = roxmltree::Document::parse(s).unwrap();
        p.descendants()
            .filter(|n| {
                n.is_element()
                    && !["SignatureValue", "X509Certificate", "DigestValue"]
                        .contains(&n.tag_name().name())
            })
            .map(|n| {
                let attrs: Vec<String> = n
                    .attributes()
                    .map(|a| format!("{}={}", a.name(), a.value()))
                    .collect();
                let text = n.text().map(str::trim).unwrap_or_default();
                format!("{} {} {text}", n.tag_name().name(), attrs.join(" "))
            })
            .collect()
    };
    assert_eq!(words(shown), words(&plain));
    assert!(shown.contains(">alice@acme.test<"), "{shown}");

    // The text for people, the IDs (random per login) replaced.
    let summary = saml["summary"].as_str().unwrap();
    let fp = keys().current.certificate.sha256_fingerprint();
    let rendered = format!(
        "summary:\n{summary}\n\npart: {}\n\npart: {}\n{shown}",
        parts[0]["title"].as_str().unwrap(),
        parts[1]["title"].as_str().unwrap()
    )
    .replace(&fp, "[IdP certificate SHA-256]");
    insta::with_settings!({
        omit_expression => true,
        filters => vec![
            (r#"\bid[0-9A-Za-z_-]{8,}"#, "[id]"),
        ],
    }, {
        insta::assert_snapshot!(rendered);
    });
}
