//! The reference SP end to end on loopback sockets, next to a real fakta IdP: logins through a
//! cookie-keeping client that follows redirects and auto-submit forms like a browser, roles for
//! every rule, refusals, and the revocation, back-channel and SLO receivers with their flaws.

mod common;

use std::sync::Arc;

use fakta::clock::SystemClock;
use fakta::config::{Emit, SigningAlg};
use fakta::idp::IdpState;
use fakta::oidc::jwt as signer;
use fakta::refsp::{Flaw, Flaws, SpState};
use serde_json::{Value, json};

struct World {
    idp: Arc<IdpState>,
    sp: String,
    idp_base: String,
}

async fn world(file: &str, flaws: Flaws) -> World {
    let idp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp_addr = idp_l.local_addr().unwrap().to_string();
    let sp_addr = sp_l.local_addr().unwrap().to_string();
    let yaml = std::fs::read_to_string(file)
        .unwrap()
        .replace("127.0.0.1:7000", &idp_addr)
        .replace("127.0.0.1:7100", &sp_addr);
    let base = std::path::Path::new(file)
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let conn = common::connection(&yaml, base);
    let idp = IdpState::new(conn.clone(), common::keys(), Arc::new(SystemClock)).unwrap();
    let sp = SpState::new(conn, flaws, Arc::new(SystemClock)).unwrap();
    let idp_app = fakta::idp::app(idp.clone());
    tokio::spawn(async move { axum::serve(idp_l, idp_app).await });
    tokio::spawn(async move { axum::serve(sp_l, fakta::refsp::app(sp)).await });
    World {
        idp,
        sp: format!("http://{sp_addr}"),
        idp_base: format!("http://{idp_addr}"),
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Follows redirects, picks `user` on the IdP login page, submits auto-post forms; returns the
/// last answer's status and body.
async fn browse(b: &reqwest::Client, start: &str, user: &str) -> (u16, String) {
    let mut url = start.to_owned();
    let mut form: Option<Vec<(String, String)>> = None;
    let fields = regex::Regex::new(r#"name="([^"]+)" value="([^"]*)""#).unwrap();
    for _ in 0..12 {
        let resp = match form.take() {
            Some(f) => b.post(&url).form(&f).send().await.unwrap(),
            None => b.get(&url).send().await.unwrap(),
        };
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join(&loc)
                .unwrap()
                .to_string();
            continue;
        }
        let body = resp.text().await.unwrap();
        let field = |name: &str| {
            let m = format!("name=\"{name}\" value=\"");
            body.find(&m).map(|i| {
                let rest = &body[i + m.len()..];
                unescape(&rest[..rest.find('"').unwrap()])
            })
        };
        if body.contains("id=\"pick-user\"") {
            let state = field("state").unwrap();
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join("/login/login.htm")
                .unwrap()
                .to_string();
            form = Some(vec![
                ("state".into(), state),
                ("username".into(), user.into()),
            ]);
            continue;
        }
        if body.contains("document.forms[0].submit()") {
            let a = body.find("action=\"").unwrap() + 8;
            url = unescape(&body[a..a + body[a..].find('"').unwrap()]);
            form = Some(
                fields
                    .captures_iter(&body)
                    .map(|c| (unescape(&c[1]), unescape(&c[2])))
                    .collect(),
            );
            continue;
        }
        return (status, body);
    }
    panic!("too many hops from {start}");
}

async fn me(b: &reqwest::Client, w: &World) -> (u16, Value) {
    let r = b.get(format!("{}/api/me", w.sp)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn saml_login(w: &World, user: &str) -> (reqwest::Client, u16, String) {
    let b = browser();
    let (s, body) = browse(&b, &format!("{}/login?connection=acme", w.sp), user).await;
    (b, s, body)
}

#[tokio::test]
async fn saml_logins_get_the_role_the_rules_give() {
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let b = browser();
    assert_eq!(me(&b, &w).await.0, 401);
    for (user, role) in [
        ("00u1alice", "admin"),
        ("00u2bob", "viewer"),
        ("00u3dora", "devops"),
        ("00u4max", "admin"),
    ] {
        let (b, status, body) = saml_login(&w, user).await;
        assert_eq!(status, 200, "{user}: {body}");
        let (s, v) = me(&b, &w).await;
        assert_eq!(s, 200);
        assert_eq!(v["role"], role, "{user}: {v}");
        assert_eq!(v["protocol"], "saml");
    }
    let (b, _, _) = saml_login(&w, "00u5obrien").await;
    assert_eq!(me(&b, &w).await.1["name"], "O'Brien & <Sons>");
}

#[tokio::test]
async fn role_flaws_change_only_their_rule() {
    let w = world(
        common::EXAMPLE,
        Flaws::none().with(Flaw::FirstMatchingGroup),
    )
    .await;
    let (b, _, _) = saml_login(&w, "00u4max").await;
    assert_eq!(
        me(&b, &w).await.1["role"],
        "devops",
        "first mapped group wins, precedence ignored"
    );
    let (b, _, _) = saml_login(&w, "00u1alice").await;
    assert_eq!(me(&b, &w).await.1["role"], "admin");
    let w = world(common::EXAMPLE, Flaws::none().with(Flaw::IgnoreGroups)).await;
    let (b, _, _) = saml_login(&w, "00u1alice").await;
    assert_eq!(me(&b, &w).await.1["role"], "viewer");
}

#[tokio::test]
async fn missing_email_or_name_is_refused_unless_flawed() {
    for (omit, flaw) in [
        ("email", Flaw::AcceptMissingEmail),
        ("name", Flaw::AcceptMissingName),
    ] {
        let w = world(common::EXAMPLE, Flaws::none()).await;
        w.idp.set_emit(
            "00u1alice",
            Emit {
                omit_attributes: vec![omit.into()],
                ..Default::default()
            },
        );
        let (b, status, body) = saml_login(&w, "00u1alice").await;
        assert_eq!(status, 403, "{omit}: {body}");
        assert!(body.contains(&format!("sent no {omit}")), "{body}");
        assert_eq!(me(&b, &w).await.0, 401);

        let w = world(common::EXAMPLE, Flaws::none().with(flaw)).await;
        w.idp.set_emit(
            "00u1alice",
            Emit {
                omit_attributes: vec![omit.into()],
                ..Default::default()
            },
        );
        let (b, status, _) = saml_login(&w, "00u1alice").await;
        assert_eq!(status, 200);
        assert_eq!(me(&b, &w).await.0, 200);
    }
}

/// Okta's "Recipient URL" or "Destination URL" set apart from the SSO URL (what `fakta check`
/// warns about): the strict SP refuses the login, naming the value; only its
/// `ignore-recipient` flaw lets it in.
#[tokio::test]
async fn a_recipient_or_destination_apart_from_the_acs_url_is_refused() {
    for (key, what) in [
        ("recipient_url", "Recipient"),
        ("destination_url", "Destination"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("apart.yaml");
        let yaml = std::fs::read_to_string(common::EXAMPLE).unwrap().replacen(
            "    allow_idp_initiated: true\n",
            &format!("    allow_idp_initiated: true\n    {key}: http://127.0.0.1:7100/elsewhere\n"),
            1,
        );
        std::fs::write(&file, yaml).unwrap();
        let file = file.to_str().unwrap();
        let w = world(file, Flaws::none()).await;
        let (b, status, body) = saml_login(&w, "00u1alice").await;
        assert_eq!(status, 403, "{key}: {body}");
        let elsewhere = format!("{what} `{}/elsewhere` is not this ACS URL", w.sp);
        assert!(body.contains(&elsewhere), "{key}: {body}");
        assert_eq!(me(&b, &w).await.0, 401);

        let w = world(file, Flaws::none().with(Flaw::IgnoreRecipient)).await;
        let (b, status, body) = saml_login(&w, "00u1alice").await;
        assert_eq!(status, 200, "{key} with the flaw: {body}");
        assert_eq!(me(&b, &w).await.0, 200);
    }
}

fn gtr_token(w: &World, endpoint: &str, sub_app: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jti = format!("j{}", rand_suffix());
    let claims = json!({"jti": jti, "iss": w.idp_base, "sub": sub_app, "aud": endpoint,
        "iat": now, "nbf": now - 300, "exp": now + 300});
    signer::sign(
        SigningAlg::RS256,
        &w.idp.rsa_kid,
        Some("global-token-revocation+jwt"),
        common::keys().current.pkey(),
        &claims,
    )
    .unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 1000
}

async fn revoke(w: &World, sub: &str) -> u16 {
    let endpoint = format!("{}/oauth/global-token-revocation/connection/acme", w.sp);
    let body =
        json!({"subject": {"format": "iss_sub", "iss": "http://www.okta.com/qovery", "sub": sub}});
    reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(gtr_token(w, &endpoint, "qovery"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn revocation_ends_that_users_sessions_only() {
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    let (bob, _, _) = saml_login(&w, "00u2bob").await;
    assert_eq!(revoke(&w, "alice@acme.test").await, 204);
    assert_eq!(me(&alice, &w).await.0, 401, "T1: the session is gone");
    assert_eq!(me(&bob, &w).await.0, 200, "T9: other users keep theirs");
    assert_eq!(revoke(&w, "nobody@acme.test").await, 404, "T6");
}

#[tokio::test]
async fn revocation_flaws_keep_or_end_too_much() {
    let w = world(
        common::EXAMPLE,
        Flaws::none().with(Flaw::RevocationKeepsSession),
    )
    .await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    assert_eq!(revoke(&w, "alice@acme.test").await, 204);
    assert_eq!(me(&alice, &w).await.0, 200);
    let w = world(
        common::EXAMPLE,
        Flaws::none().with(Flaw::RevocationEndsEveryone),
    )
    .await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    let (bob, _, _) = saml_login(&w, "00u2bob").await;
    assert_eq!(revoke(&w, "alice@acme.test").await, 204);
    assert_eq!(me(&alice, &w).await.0, 401);
    assert_eq!(me(&bob, &w).await.0, 401);
}

#[tokio::test]
async fn a_replayed_post_is_refused() {
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let b = browser();
    // Drive the flow by hand to keep the posted form.
    let (_, body) = {
        let start = b
            .get(format!("{}/login?connection=acme", w.sp))
            .send()
            .await
            .unwrap();
        let sso = start.headers()["location"].to_str().unwrap().to_owned();
        let login = b.get(&sso).send().await.unwrap();
        let page = w.idp_base.clone() + login.headers()["location"].to_str().unwrap();
        let html = b.get(&page).send().await.unwrap().text().await.unwrap();
        let m = "name=\"state\" value=\"";
        let i = html.find(m).unwrap() + m.len();
        let state = html[i..i + html[i..].find('"').unwrap()].to_owned();
        let r = b
            .post(format!("{}/login/login.htm", w.idp_base))
            .form(&[("state", state.as_str()), ("username", "00u1alice")])
            .send()
            .await
            .unwrap();
        (200, r.text().await.unwrap())
    };
    let m = "name=\"SAMLResponse\" value=\"";
    let i = body.find(m).unwrap() + m.len();
    let saml = body[i..i + body[i..].find('"').unwrap()].to_owned();
    let acs = format!("{}/login/callback?connection=acme", w.sp);
    let first = b
        .post(&acs)
        .form(&[("SAMLResponse", saml.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let other = browser();
    let again = other
        .post(&acs)
        .form(&[("SAMLResponse", saml.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 403);
    assert!(again.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn oidc_login_roles_and_back_channel_logout() {
    let w = world(common::OIDC_EXAMPLE, Flaws::none()).await;
    let b = browser();
    let (status, body) = browse(&b, &format!("{}/login/oidc", w.sp), "00u4max").await;
    assert_eq!(status, 200, "{body}");
    let (s, v) = me(&b, &w).await;
    assert_eq!(s, 200);
    assert_eq!(v["role"], "admin");
    assert_eq!(v["protocol"], "oidc");
    assert_eq!(v["subject"], "00u4max");

    let bcl = format!("{}/oidc/backchannel-logout", w.sp);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let event = json!({"http://schemas.openid.net/event/backchannel-logout": {}});
    let claims = |extra: Value| {
        let mut c = json!({"iss": w.idp_base, "aud": "0oa1qoveryweb", "sub": "00u4max", "iat": now, "exp": now + 120, "jti": format!("bcl{}", rand_suffix()), "events": event});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let token = |c: &Value| {
        signer::sign(
            SigningAlg::RS256,
            &w.idp.rsa_kid,
            Some("logout+jwt"),
            common::keys().current.pkey(),
            c,
        )
        .unwrap()
    };
    let post = |t: String| {
        let bcl = bcl.clone();
        async move {
            reqwest::Client::new()
                .post(&bcl)
                .form(&[("logout_token", t)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(token(&claims(json!({"nonce": "x"})))).await,
        400,
        "a nonce is refused"
    );
    assert_eq!(post(token(&claims(json!({"aud": "other"})))).await, 400);
    assert_eq!(post(token(&claims(json!({"events": {}})))).await, 400);
    let mut forged = token(&claims(json!({})));
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(post(forged).await, 400, "bad signature");
    assert_eq!(me(&b, &w).await.0, 200, "nothing ended the session so far");
    assert_eq!(post(token(&claims(json!({})))).await, 200);
    assert_eq!(me(&b, &w).await.0, 401, "G4: the session ended");
}

#[tokio::test]
async fn backchannel_unsigned_flaw_obeys_a_forged_token() {
    let w = world(
        common::OIDC_EXAMPLE,
        Flaws::none().with(Flaw::BackchannelUnsigned),
    )
    .await;
    let b = browser();
    browse(&b, &format!("{}/login/oidc", w.sp), "00u1alice").await;
    assert_eq!(me(&b, &w).await.0, 200);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let c = json!({"iss": w.idp_base, "aud": "0oa1qoveryweb", "sub": "00u1alice", "iat": now, "exp": now + 120,
        "jti": "forged", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    let other = fakta::keys::SigningKey::generate().unwrap();
    let forged = signer::sign(
        SigningAlg::RS256,
        &w.idp.rsa_kid,
        Some("logout+jwt"),
        other.pkey(),
        &c,
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/oidc/backchannel-logout", w.sp))
        .form(&[("logout_token", forged)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(me(&b, &w).await.0, 401);
}

#[tokio::test]
async fn oidc_rp_initiated_logout_goes_through_end_session() {
    let w = world(common::OIDC_EXAMPLE, Flaws::none()).await;
    let b = browser();
    browse(&b, &format!("{}/login/oidc", w.sp), "00u1alice").await;
    let r = b.get(format!("{}/logout", w.sp)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("{}/oauth2/v1/logout?id_token_hint=", w.idp_base)),
        "{to}"
    );
    let back = b.get(&to).send().await.unwrap();
    assert_eq!(
        back.status().as_u16(),
        302,
        "the IdP accepts the registered post_logout_redirect_uri"
    );
    assert!(
        back.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{}/?state=", w.sp))
    );
    assert_eq!(me(&b, &w).await.0, 401);
    // The IdP session is gone too: the next login shows the login page.
    let again = b.get(format!("{}/login/oidc", w.sp)).send().await.unwrap();
    let authorize = again.headers()["location"].to_str().unwrap().to_owned();
    let idp = b.get(&authorize).send().await.unwrap();
    assert!(
        idp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/login.htm")
    );
}

#[tokio::test]
async fn oidc_missing_email_is_refused_with_the_reason() {
    let w = world(common::OIDC_EXAMPLE, Flaws::none()).await;
    w.idp.set_emit(
        "00u1alice",
        Emit {
            omit_attributes: vec!["email".into()],
            ..Default::default()
        },
    );
    let b = browser();
    let (status, body) = browse(&b, &format!("{}/login/oidc", w.sp), "00u1alice").await;
    assert_eq!(status, 403);
    assert!(body.contains("sent no email"), "{body}");
}

fn logout_request(w: &World, destination: &str) -> String {
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_lr{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{destination}\"><saml:Issuer>http://www.okta.com/qovery</saml:Issuer><saml:NameID>alice@acme.test</saml:NameID></samlp:LogoutRequest>",
        rand_suffix(),
        fakta::saml::xml::instant(time::OffsetDateTime::now_utc()),
    )
    .replace("{sp}", &w.sp)
}

/// An HTTP-Redirect query, signed with `key` when given.
fn slo_query(xml: &str, key: Option<&openssl::pkey::PKey<openssl::pkey::Private>>) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q = format!(
        "SAMLRequest={}",
        enc(&fakta::saml::binding::encode_redirect(xml))
    );
    if let Some(key) = key {
        q.push_str(&format!(
            "&SigAlg={}",
            enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        ));
        let mut s =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
        s.update(q.as_bytes()).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec().unwrap());
        q.push_str(&format!("&Signature={}", enc(&sig)));
    }
    q
}

#[tokio::test]
async fn idp_initiated_slo_needs_the_idps_signature() {
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    let slo = format!("{}/saml/slo", w.sp);
    let key = common::keys().current.pkey().clone();
    let get = |q: String| {
        let slo = slo.clone();
        async move {
            reqwest::get(format!("{slo}?{q}"))
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        get(slo_query(&logout_request(&w, &slo), None)).await,
        403,
        "unsigned"
    );
    let other = fakta::keys::SigningKey::generate().unwrap();
    assert_eq!(
        get(slo_query(&logout_request(&w, &slo), Some(other.pkey()))).await,
        403,
        "foreign key"
    );
    assert_eq!(
        get(slo_query(
            &logout_request(&w, "http://127.0.0.1:1/slo"),
            Some(&key)
        ))
        .await,
        403,
        "wrong Destination"
    );
    assert_eq!(
        me(&alice, &w).await.0,
        200,
        "G2: none of those ended the session"
    );
    let ok = browser()
        .get(format!(
            "{slo}?{}",
            slo_query(&logout_request(&w, &slo), Some(&key))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 302, "{}", ok.text().await.unwrap());
    assert!(
        ok.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{}?SAMLResponse=", idp_slo(&w))),
        "the SP answers with a LogoutResponse to the IdP's SLO URL"
    );
    assert_eq!(me(&alice, &w).await.0, 401);

    let w = world(common::EXAMPLE, Flaws::none().with(Flaw::UnsignedSlo)).await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    let slo = format!("{}/saml/slo", w.sp);
    let r = browser()
        .get(format!(
            "{slo}?{}",
            slo_query(&logout_request(&w, &slo), None)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        me(&alice, &w).await.0,
        401,
        "the flawed SP obeys an unsigned request"
    );
}

fn idp_slo(w: &World) -> String {
    format!("{}/app/acme_qovery_1/qovery/slo/saml", w.idp_base)
}

/// A connection file like the example whose app has an SP certificate, and the reference SP
/// the matching key (it then signs its requests and LogoutResponses).
fn signed_file(dir: &std::path::Path) -> String {
    let sp_key = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.join("sp.crt"), sp_key.certificate.pem()).unwrap();
    std::fs::write(
        dir.join("sp.key"),
        sp_key.pkey().private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let yaml = std::fs::read_to_string(common::EXAMPLE).unwrap().replace(
        "    # sp_certificate: sp.crt",
        "    sp_certificate: sp.crt\n    sp_private_key: sp.key",
    );
    let file = dir.join("signed.yaml");
    std::fs::write(&file, yaml).unwrap();
    file.to_str().unwrap().to_owned()
}

/// G2 as the runner does it, in the runner's browser: alice signs in at the SP, then the IdP's
/// LogoutRequest (honest or with a fault) goes through the browser by `binding`. Returns the
/// browser, what the runner made of it, and the hops of the logout alone.
async fn g2(
    w: &World,
    fault: Option<fakta::config::LogoutFault>,
    binding: fakta::config::SloBinding,
) -> (
    fakta::runner::browser::Browser,
    fakta::runner::logout::Done,
    Vec<fakta::runner::browser::Hop>,
) {
    use fakta::runner::browser::Browser;
    // The IdP keeps its users in the live directory (its `conn.directory.users` is empty).
    let mut conn = w.idp.conn.clone();
    conn.directory.users = w.idp.directory.first(usize::MAX);
    let conn = Arc::new(conn);
    let spec = fakta::runner::plan::logout_pack("qovery-saml", &conn)
        .into_iter()
        .find(|t| t.name.ends_with("G2_idp_initiated_logout_ends_the_session"))
        .expect("the G2 trial");
    let alice = conn.directory.users[0].clone();
    let trial = format!("t{}", rand_suffix());
    let mut b = Browser::new(&w.idp_base, &trial).unwrap();
    let page = b
        .navigate(&format!("{}/login?connection=acme", w.sp), &alice.login)
        .await
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let before = b.hops.len();
    let mut driver = fakta::runner::transport::Driver {
        record: &mut b,
        tab: None,
    };
    let done = fakta::runner::logout::idp_initiated(
        &spec,
        &w.idp,
        &trial,
        &alice,
        &mut driver,
        fault,
        binding,
    )
    .await
    .unwrap();
    let hops = b.hops[before..].to_vec();
    (b, done, hops)
}

async fn probe(b: &mut fakta::runner::browser::Browser, w: &World) -> u16 {
    b.get(&format!("{}/api/me", w.sp)).await.unwrap().status
}

#[tokio::test]
async fn g2_the_sps_logout_response_goes_back_to_the_idp_by_either_binding() {
    use fakta::config::SloBinding;
    use fakta::runner::logout::SloAnswer;
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let sp_slo = format!("{}/saml/slo", w.sp);
    for (binding, method) in [(SloBinding::Redirect, "GET"), (SloBinding::Post, "POST")] {
        let (mut b, done, hops) = g2(&w, None, binding).await;
        let shown: Vec<(&str, &str, u16)> = hops
            .iter()
            .map(|h| (h.method, h.url.split('?').next().unwrap(), h.status))
            .collect();
        let idp_slo = idp_slo(&w);
        let sp_status = if binding == SloBinding::Redirect {
            302
        } else {
            200
        };
        assert_eq!(
            shown,
            vec![
                (method, sp_slo.as_str(), sp_status),
                (method, idp_slo.as_str(), 200)
            ],
            "{binding:?}: the SP's answer, then the IdP's SLO endpoint"
        );
        assert_eq!(
            done.slo_answer,
            Some(SloAnswer::SignedOut),
            "{}",
            done.description
        );
        assert_eq!(done.status, 200);
        assert!(
            done.description
                .contains(&if binding == SloBinding::Redirect {
                    format!("GET {idp_slo}?SAMLResponse=… -> 200")
                } else {
                    format!("POST {idp_slo} [form SAMLResponse=…] -> 200")
                })
                && done
                    .description
                    .contains("-> 200 (the IdP: Signed out of qovery)"),
            "{}",
            done.description
        );
        assert!(
            done.description.contains(&format!("{method} {sp_slo}"))
                && done
                    .description
                    .contains(&format!("-> {sp_status} (the SP)")),
            "{}",
            done.description
        );
        // The SP's LogoutResponse, as the browser carried it.
        let response = b
            .seen
            .iter()
            .rev()
            .find(|s| s.what.starts_with("SAMLResponse"))
            .expect("a SAMLResponse on the way");
        assert!(
            response
                .text
                .contains(&format!("Destination=\"{idp_slo}\""))
                && response
                    .text
                    .contains("urn:auth0:qovery:acme</saml2:Issuer>")
                && response.text.contains("status:Success"),
            "{}",
            response.text
        );
        assert_eq!(
            probe(&mut b, &w).await,
            401,
            "{binding:?}: the SP session ended"
        );
    }
}

#[tokio::test]
async fn g2_an_sp_with_a_key_signs_its_logout_responses_and_the_idp_checks_them() {
    use fakta::config::SloBinding;
    use fakta::runner::logout::SloAnswer;
    let dir = tempfile::tempdir().unwrap();
    let w = world(&signed_file(dir.path()), Flaws::none()).await;
    for binding in [SloBinding::Redirect, SloBinding::Post] {
        let (mut b, done, hops) = g2(&w, None, binding).await;
        assert_eq!(
            done.slo_answer,
            Some(SloAnswer::SignedOut),
            "{binding:?}: {}",
            done.description
        );
        assert_eq!(hops.len(), 2, "{hops:?}");
        assert_eq!(probe(&mut b, &w).await, 401);
    }
}

#[tokio::test]
async fn g2_refused_requests_get_no_logout_response_and_flaws_still_answer() {
    use fakta::config::{LogoutFault, SloBinding};
    use fakta::runner::logout::SloAnswer;
    use fakta::saml::logout::Fault;
    let w = world(common::EXAMPLE, Flaws::none()).await;
    for binding in [SloBinding::Redirect, SloBinding::Post] {
        let (mut b, done, hops) = g2(&w, Some(LogoutFault::Saml(Fault::Unsigned)), binding).await;
        assert_eq!(hops.len(), 1, "{hops:?}");
        assert_eq!(done.status, 403);
        assert_eq!(done.slo_answer, None);
        assert!(
            done.description
                .contains("(the SP: Refused: the LogoutRequest is not signed by the IdP)")
                && done.description.contains("the SP sent no LogoutResponse"),
            "{}",
            done.description
        );
        assert_eq!(probe(&mut b, &w).await, 200, "no effect");
    }
    // A flawed SP that keeps the session still answers Success.
    let w = world(common::EXAMPLE, Flaws::none().with(Flaw::SloKeepsSession)).await;
    let (mut b, done, _) = g2(&w, None, SloBinding::Redirect).await;
    assert_eq!(done.slo_answer, Some(SloAnswer::SignedOut));
    assert_eq!(probe(&mut b, &w).await, 200);
}

#[tokio::test]
async fn a_reference_sp_with_a_key_signs_its_requests_and_the_idp_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(&signed_file(dir.path()), Flaws::none()).await;
    let b = browser();
    let (status, body) = browse(&b, &format!("{}/login?connection=acme", w.sp), "00u1alice").await;
    assert_eq!(
        status, 200,
        "the IdP accepted the signed AuthnRequest: {body}"
    );
    assert_eq!(me(&b, &w).await.1["role"], "admin");
    // SP-initiated SLO with a signed LogoutRequest; the IdP answers with a signed response.
    let (status, body) = browse(&b, &format!("{}/logout", w.sp), "00u1alice").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Signed out at the SP and at the IdP"),
        "{body}"
    );
    assert_eq!(me(&b, &w).await.0, 401);
}

#[tokio::test]
async fn o13_a_discovery_issuer_that_is_not_the_issuer_in_use_is_refused() {
    // The IdP believes it is `localhost`, the SP was told `127.0.0.1`: discovery's issuer then
    // differs from the issuer the SP uses, and the SP must not trust it.
    let idp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ip, sp_port) = (
        idp_l.local_addr().unwrap().port(),
        sp_l.local_addr().unwrap().port(),
    );
    let text = std::fs::read_to_string(common::OIDC_EXAMPLE)
        .unwrap()
        .replace("127.0.0.1:7100", &format!("127.0.0.1:{sp_port}"));
    let sp_conn = common::connection(
        &text.replace("127.0.0.1:7000", &format!("127.0.0.1:{ip}")),
        std::path::Path::new("."),
    );
    let idp_conn = common::connection(
        &text.replace("127.0.0.1:7000", &format!("localhost:{ip}")),
        std::path::Path::new("."),
    );
    let idp = IdpState::new(idp_conn, common::keys(), Arc::new(SystemClock)).unwrap();
    let sp = SpState::new(sp_conn, Flaws::none(), Arc::new(SystemClock)).unwrap();
    tokio::spawn(async move { axum::serve(idp_l, fakta::idp::app(idp)).await });
    tokio::spawn(async move { axum::serve(sp_l, fakta::refsp::app(sp)).await });
    let r = browser()
        .get(format!("http://127.0.0.1:{sp_port}/login/oidc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 502);
    let body = r.text().await.unwrap();
    // The reference SP's pages escape every value the way fakta's IdP does.
    assert!(body.contains("discovery document&apos;s issuer"), "{body}");
}

#[tokio::test]
async fn g2_a_logout_response_the_idp_refuses_fails_the_trial_as_the_sps_fault() {
    use axum::extract::RawQuery;
    use fakta::config::{LoginFrom, SloBinding, Step};
    use fakta::saml::{binding, logout};
    let idp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sp_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp_addr = idp_l.local_addr().unwrap().to_string();
    let sp_addr = sp_l.local_addr().unwrap().to_string();
    let yaml = std::fs::read_to_string(common::EXAMPLE)
        .unwrap()
        .replace("127.0.0.1:7000", &idp_addr)
        .replace("127.0.0.1:7100", &sp_addr);
    let conn = common::connection(&yaml, std::path::Path::new("."));
    let idp = IdpState::new(conn.clone(), common::keys(), Arc::new(SystemClock)).unwrap();
    let idp_app = fakta::idp::app(idp.clone());
    tokio::spawn(async move { axum::serve(idp_l, idp_app).await });
    // An SP that answers every LogoutRequest with a LogoutResponse naming the wrong Issuer.
    let idp_slo = format!("http://{idp_addr}/app/acme_qovery_1/qovery/slo/saml");
    let to = idp_slo.clone();
    let bad_sp = axum::Router::new().route(
        "/saml/slo",
        axum::routing::get(move |RawQuery(q): RawQuery| async move {
            let q = q.unwrap_or_default();
            let raw = binding::raw_param(&q, "SAMLRequest").unwrap();
            let xml = binding::decode_redirect(&binding::percent_decode(raw)).unwrap();
            let request = logout::parse_request(&xml).unwrap();
            let response = logout::response(
                "_bad",
                &request.id,
                time::OffsetDateTime::now_utc(),
                "urn:not-the-sp",
                &to,
            );
            let q = logout::redirect_response_query(&response, None, None).unwrap();
            axum::response::Redirect::to(&format!("{to}?{q}"))
        }),
    );
    tokio::spawn(async move { axum::serve(sp_l, bad_sp).await });
    let conn = Arc::new(conn);
    let mut spec = fakta::runner::plan::logout_pack("qovery-saml", &conn)
        .into_iter()
        .find(|t| t.name.ends_with("G2_idp_initiated_logout_ends_the_session"))
        .expect("the G2 trial");
    spec.steps = vec![Step::Logout {
        from: LoginFrom::Idp,
        fault: None,
        binding: SloBinding::Redirect,
    }];
    let failure = fakta::runner::exec::run_alone(&spec, &idp)
        .await
        .unwrap_err();
    assert_eq!(
        failure.kind,
        fakta::runner::verdict::FailureKind::WrongOutcome
    );
    let transcript = failure.transcript;
    let reason = "the LogoutResponse's Issuer `urn:not-the-sp` is not the SP entity id `urn:auth0:qovery:acme`";
    for needle in [
        format!(
            "the SP answered the IdP's LogoutRequest with a LogoutResponse that the IdP's SLO endpoint refused (400): {reason}"
        ),
        format!("-> 400 (the IdP: refused: {reason})"),
        "-> 303 (the SP)".to_owned(),
        format!("last page (400 {idp_slo}?SAMLResponse="),
    ] {
        assert!(transcript.contains(&needle), "{needle}\n{transcript}");
    }
}

/// Third-party-initiated login (OIDC Core §4): the IdP's tile sends the browser to the SP's
/// initiate login URI with `iss`; the SP starts its own authorization request and the user ends
/// up signed in, at the `target_link_uri` when it is the SP's own. An `iss` that is not the
/// issuer the SP trusts, or none, starts no login.
#[tokio::test]
async fn the_idps_tile_starts_the_sps_own_oidc_login() {
    let w = world(common::OIDC_EXAMPLE, Flaws::none()).await;
    let b = browser();
    let (status, body) = browse(
        &b,
        &format!("{}/home/qovery-oidc/launch", w.idp_base),
        "00u4max",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (s, v) = me(&b, &w).await;
    assert_eq!(s, 200);
    assert_eq!(v["subject"], "00u4max");

    // The SP's own page as target_link_uri is followed; another site is not.
    let b = browser();
    let tile = format!(
        "{}/home/qovery-oidc/launch?target_link_uri={}",
        w.idp_base,
        url::form_urlencoded::byte_serialize(format!("{}/api/me", w.sp).as_bytes())
            .collect::<String>()
    );
    let (status, body) = browse(&b, &tile, "00u4max").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("00u4max"), "landed on /api/me: {body}");

    for (iss, why) in [
        ("https://evil.test", "names issuer `https://evil.test`"),
        ("", "has no `iss`"),
    ] {
        let r = browser()
            .get(format!(
                "{}/login/oidc/initiate?iss={}",
                w.sp,
                url::form_urlencoded::byte_serialize(iss.as_bytes()).collect::<String>()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{body}");
    }
}

/// The example with the web app's client authentication replaced by `auth`, written to `dir`.
fn oidc_file_with(dir: &std::path::Path, auth: &str) -> String {
    let yaml = std::fs::read_to_string(common::OIDC_EXAMPLE).unwrap().replace(
        "    client_secret: fakta-demo-secret-change-me   # a test secret; never a real one\n    token_endpoint_auth_method: client_secret_basic   # or client_secret_post, or none (public + PKCE)\n",
        auth,
    );
    assert!(yaml.contains(auth), "the example changed");
    let file = dir.join("jwt.yaml");
    std::fs::write(&file, yaml).unwrap();
    file.to_str().unwrap().to_owned()
}

/// The reference SP authenticates with `private_key_jwt` (its `client_private_key`) and with
/// `client_secret_jwt` (its secret), and keeps each rotated refresh token: with rotation and no
/// grace period, refreshing twice works only if it discards the old one (RFC 6749 §6).
#[tokio::test]
async fn the_reference_sp_signs_client_assertions_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let private_key_jwt = format!(
        "    token_endpoint_auth_method: private_key_jwt\n    jwks: {root}/tests/valid/client-jwks.json\n    client_private_key: {root}/tests/valid/client-rsa.pem\n    refresh_token: {{ rotation: rotate, grace_period_seconds: 0 }}\n"
    );
    let client_secret_jwt = "    client_secret: a-long-enough-client-secret-for-hs256\n    token_endpoint_auth_method: client_secret_jwt\n    refresh_token: { rotation: rotate, grace_period_seconds: 0 }\n".to_owned();
    for auth in [private_key_jwt, client_secret_jwt] {
        let w = world(&oidc_file_with(dir.path(), &auth), Flaws::none()).await;
        let b = browser();
        let (status, body) = browse(&b, &format!("{}/login/oidc", w.sp), "00u1alice").await;
        assert_eq!(status, 200, "{auth}: {body}");
        let (s, v) = me(&b, &w).await;
        assert_eq!((s, &v["subject"]), (200, &json!("00u1alice")), "{auth}");
        for round in 0..2 {
            let r = b.get(format!("{}/refresh", w.sp)).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, 200, "{auth} refresh {round}: {text}");
            assert!(text.contains("refreshed"), "{text}");
        }
    }
}

/// Hostile input at the reference SP's SLO endpoint: a LogoutRequest nested deeper than the XML
/// depth limit, by POST, is refused with a 403 naming it, before any parser or xmlsec sees it, and
/// the SP keeps answering (and keeps the session).
#[tokio::test]
async fn slo_post_refuses_a_deeply_nested_request_and_keeps_answering() {
    let w = world(common::EXAMPLE, Flaws::none()).await;
    let (alice, _, _) = saml_login(&w, "00u1alice").await;
    let slo = format!("{}/saml/slo", w.sp);
    let depth = fakta::saml::untrusted::MAX_DEPTH * 20;
    let deep = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">{}{}</samlp:LogoutRequest>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let r = reqwest::Client::new()
        .post(&slo)
        .form(&[("SAMLRequest", fakta::saml::binding::encode_post(&deep))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains("nests deeper than 64 elements"), "{body}");
    assert_eq!(me(&alice, &w).await.0, 200, "the session survives");
}
