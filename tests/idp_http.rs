//! The IdP's HTTP endpoints, through `fakta::idp::app` with `oneshot`: every endpoint, the IdP
//! session, and every kind of bad request (each answered with a page that names the problem).

mod common;

use std::path::Path;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use fakta::config::{Emit, SpMessage};
use fakta::saml::{authn_request, binding};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

const SSO: &str = "/app/acme_qovery_1/qovery/sso/saml";
const SSO_URL: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml";
const ACS: &str = "http://127.0.0.1:7100/login/callback?connection=acme";
const SP: &str = "urn:auth0:qovery:acme";

fn request(id: &str, issuer: &str, destination: &str, acs: &str, force: bool) -> String {
    authn_request::build(
        id,
        "2026-11-28T09:00:00.000Z",
        issuer,
        destination,
        acs,
        force,
    )
}

fn redirect_uri(xml: &str, relay: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", &binding::encode_redirect(xml));
    if let Some(r) = relay {
        q.append_pair("RelayState", r);
    }
    format!("{SSO}?{}", q.finish())
}

fn honest() -> String {
    request("_r1", SP, SSO_URL, ACS, false)
}

async fn refused(uri: &str, status: StatusCode, needle: &str) {
    let st = state(example());
    let a = get(&st, uri, None).await;
    assert_eq!(a.status, status, "{uri}: {}", a.body);
    assert!(
        a.body.contains(needle),
        "the page for {uri} should say {needle:?}:\n{}",
        a.body
    );
}

#[tokio::test]
async fn metadata_names_the_sso_url_and_the_certificate() {
    let st = state(example());
    let a = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("entityID=\"http://www.okta.com/qovery\""));
    assert!(a.body.contains(&format!("Location=\"{SSO_URL}\"")));
    assert!(a.body.contains(&keys().current.certificate.base64()));
    assert!(a.body.contains("WantAuthnRequestsSigned=\"false\""));
}

#[tokio::test]
async fn unknown_apps_get_a_404_page() {
    refused(
        "/app/nope/sso/saml/metadata",
        StatusCode::NOT_FOUND,
        "no app with id `nope`",
    )
    .await;
    refused(
        "/app/wrong_name/qovery/sso/saml",
        StatusCode::NOT_FOUND,
        "is named `acme_qovery_1` in its URLs, not `wrong_name`",
    )
    .await;
}

#[tokio::test]
async fn index_lists_apps_users_and_the_fingerprint() {
    let st = state(example());
    let a = get(&st, "/", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body
            .contains("http://127.0.0.1:7000/app/qovery/sso/saml/metadata")
    );
    assert!(
        a.body
            .contains(&keys().current.certificate.sha256_fingerprint())
    );
    assert!(a.body.contains("O&apos;Brien &amp; &lt;Sons&gt;"));
}

#[tokio::test]
async fn idp_initiated_login_posts_an_unsolicited_response_to_the_acs_url() {
    let st = state(example());
    let start = get(&st, SSO, None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.form_action(), ACS);
    let xml = done.saml_response();
    assert!(xml.contains("<saml2:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">alice@acme.test</saml2:NameID>"));
    assert!(!xml.contains("InResponseTo"));
}

#[tokio::test]
async fn sp_initiated_login_answers_the_request_and_returns_relay_state() {
    let st = state(example());
    let start = get(&st, &redirect_uri(&honest(), Some("/x?y=1&z=<2>")), None).await;
    let done = pick_user(&st, &start, "bob@acme.test").await;
    assert_eq!(
        form_field(&done.body, "RelayState").as_deref(),
        Some("/x?y=1&z=<2>")
    );
    let xml = done.saml_response();
    assert!(xml.contains("InResponseTo=\"_r1\""));
    assert!(xml.contains(&format!("Destination=\"{}\"", ACS.replace('&', "&amp;"))));
    assert!(xml.contains(&format!("Recipient=\"{}\"", ACS.replace('&', "&amp;"))));
    assert!(xml.contains(&format!("<saml2:Audience>{SP}</saml2:Audience>")));
    assert!(xml.contains("Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\""));
    assert!(xml.contains("SessionIndex=\"id"));
    // Bob is in no group that passes `.*Qovery.*`: Okta sends no groups attribute at all.
    assert!(!xml.contains("Name=\"groups\""));
}

#[tokio::test]
async fn http_post_binding_is_accepted() {
    let st = state(example());
    let start = post_form(
        &st,
        SSO,
        &[
            ("SAMLRequest", &binding::encode_post(&honest())),
            ("RelayState", "rs"),
        ],
        None,
    )
    .await;
    let done = pick_user(&st, &start, "00u2bob").await;
    assert!(done.saml_response().contains("InResponseTo=\"_r1\""));
    assert_eq!(form_field(&done.body, "RelayState").as_deref(), Some("rs"));
}

#[tokio::test]
async fn the_idp_session_skips_the_login_page_unless_force_authn() {
    let st = state(example());
    let start = get(&st, &redirect_uri(&honest(), None), None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    let cookie = done.session_cookie().expect("IdP session cookie");
    assert!(cookie.starts_with("sid="));
    let set_cookie = done.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");

    let again = get(
        &st,
        &redirect_uri(&request("_r2", SP, SSO_URL, ACS, false), None),
        Some(&cookie),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "no login page with a live session"
    );
    assert!(again.saml_response().contains("InResponseTo=\"_r2\""));

    let forced = get(
        &st,
        &redirect_uri(&request("_r3", SP, SSO_URL, ACS, true), None),
        Some(&cookie),
    )
    .await;
    assert_eq!(
        forced.status,
        StatusCode::FOUND,
        "ForceAuthn shows the login page again"
    );
    assert!(forced.location().starts_with("/login/login.htm?state="));

    let out = get(&st, "/login/signout", Some(&cookie)).await;
    assert!(out.body.contains("signed out"));
    let after = get(
        &st,
        &redirect_uri(&request("_r4", SP, SSO_URL, ACS, false), None),
        Some(&cookie),
    )
    .await;
    assert_eq!(
        after.status,
        StatusCode::FOUND,
        "after sign-out the login page is back"
    );
}

#[tokio::test]
async fn login_page_lists_users_and_refuses_unknown_ones() {
    let st = state(example());
    let start = get(&st, SSO, None).await;
    let loc = start.location().to_owned();
    let token = loc.split("state=").nth(1).unwrap().to_owned();
    let page = get(&st, &loc, None).await;
    assert!(page.body.contains("alice@acme.test"));
    assert!(page.body.contains("O&apos;Brien &amp; &lt;Sons&gt;"));
    let bad = post_form(
        &st,
        "/login/login.htm",
        &[("state", &token), ("username", "mallory")],
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("no user `mallory` in the directory"));
    // The pending login survives a typo.
    let good = post_form(
        &st,
        "/login/login.htm",
        &[("state", &token), ("username", "00u1alice")],
        None,
    )
    .await;
    assert_eq!(good.status, StatusCode::OK);
    // ...and completes only once.
    let replay = post_form(
        &st,
        "/login/login.htm",
        &[("state", &token), ("username", "00u1alice")],
        None,
    )
    .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("unknown or has expired"));
    let expired = get(&st, "/login/login.htm?state=nope", None).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_base64_is_refused() {
    refused(
        &format!("{SSO}?SAMLRequest=%25%25%25"),
        StatusCode::BAD_REQUEST,
        "not valid base64",
    )
    .await;
}

#[tokio::test]
async fn bad_deflate_is_refused() {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &STANDARD.encode(b"this is not deflate"))
        .finish();
    refused(
        &format!("{SSO}?{q}"),
        StatusCode::BAD_REQUEST,
        "not valid DEFLATE",
    )
    .await;
}

#[tokio::test]
async fn not_xml_is_refused() {
    refused(
        &redirect_uri("hello, world", None),
        StatusCode::BAD_REQUEST,
        "not well-formed XML",
    )
    .await;
}

#[tokio::test]
async fn doctype_and_entities_are_refused_without_expansion() {
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:9/evil\">]>{}",
        honest()
    );
    refused(
        &redirect_uri(&xxe, None),
        StatusCode::BAD_REQUEST,
        "DOCTYPE",
    )
    .await;
    let laughs = "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\">&c;</samlp:AuthnRequest>";
    refused(
        &redirect_uri(laughs, None),
        StatusCode::BAD_REQUEST,
        "DOCTYPE",
    )
    .await;
}

#[tokio::test]
async fn messages_over_64_kib_are_refused() {
    // A GET URI cannot carry 64 KiB (the URI itself is capped below that), so the Redirect
    // binding is tested with a deflate bomb: small on the wire, over 64 KiB once inflated.
    let bomb = format!("{}{}", honest(), " ".repeat(80 * 1024));
    refused(
        &redirect_uri(&bomb, None),
        StatusCode::BAD_REQUEST,
        "inflates to more than 65536",
    )
    .await;
    let big = "A".repeat(70 * 1024);
    let st = state(example());
    let a = post_form(&st, SSO, &[("SAMLRequest", &big)], None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("at most 65536"), "{}", a.body);
    // Bodies far over the limit are cut off before they are read.
    let huge = "A".repeat(300 * 1024);
    let a = post_form(&st, SSO, &[("SAMLRequest", &huge)], None).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_unknown_issuer_is_refused() {
    let xml = request("_r1", "urn:someone:else", SSO_URL, ACS, false);
    refused(
        &redirect_uri(&xml, None),
        StatusCode::BAD_REQUEST,
        "Issuer `urn:someone:else` is not this app",
    )
    .await;
}

#[tokio::test]
async fn an_unregistered_acs_url_is_refused() {
    let xml = request("_r1", SP, SSO_URL, "http://127.0.0.1:6666/steal", false);
    refused(
        &redirect_uri(&xml, None),
        StatusCode::BAD_REQUEST,
        "never posts an assertion to an unregistered URL",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_destination_is_refused() {
    let xml = request(
        "_r1",
        SP,
        "http://127.0.0.1:7000/app/other/x/sso/saml",
        ACS,
        false,
    );
    refused(
        &redirect_uri(&xml, None),
        StatusCode::BAD_REQUEST,
        "Destination",
    )
    .await;
}

#[tokio::test]
async fn another_saml_message_is_refused() {
    let xml =
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>";
    refused(
        &redirect_uri(xml, None),
        StatusCode::BAD_REQUEST,
        "expected a samlp:AuthnRequest",
    )
    .await;
}

#[tokio::test]
async fn idp_initiated_login_can_be_turned_off() {
    let yaml = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("allow_idp_initiated: true", "allow_idp_initiated: false");
    let st = state(connection(&yaml, Path::new(".")));
    let a = get(&st, SSO, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("IdP-initiated login is turned off"));
}

#[tokio::test]
async fn emitted_attributes_follow_the_statements_and_omissions() {
    let st = state(example());
    let xml = idp_initiated_response(&st, "00u1alice").await;
    assert!(xml.contains("Name=\"email\""));
    assert!(xml.contains("Name=\"name\""));
    // Alice is in Qovery-Admins and Eng; only the first passes `.*Qovery.*`.
    assert!(xml.contains(">Qovery-Admins</saml2:AttributeValue>"));
    assert!(!xml.contains(">Eng<"));

    st.set_emit(
        "00u1alice",
        Emit {
            omit_attributes: vec!["email".into(), "groups".into()],
            ..Default::default()
        },
    );
    let xml = idp_initiated_response(&st, "00u1alice").await;
    assert!(!xml.contains("Name=\"email\""));
    assert!(!xml.contains("Name=\"groups\""));
    assert!(xml.contains("Name=\"name\""));
}

#[tokio::test]
async fn values_are_escaped_in_the_signed_response() {
    let st = state(example());
    let xml = idp_initiated_response(&st, "00u5obrien").await;
    // fakta writes and signs its own text: every special character escaped, exactly so.
    assert!(
        xml.contains(">O&apos;Brien &amp; &lt;Sons&gt;</saml2:AttributeValue>"),
        "{xml}"
    );
}

#[tokio::test]
async fn empty_groups_and_email_address_name_ids_are_selectable() {
    let yaml = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("when_none: absent", "when_none: empty")
        .replace(
            "format: unspecified, value: user.email",
            "format: email_address, value: user.email",
        );
    let st = state(connection(&yaml, Path::new(".")));
    let xml = idp_initiated_response(&st, "00u2bob").await;
    assert!(xml.contains("<saml2:Attribute Name=\"groups\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified\"></saml2:Attribute>"), "{xml}");
    assert!(xml.contains(
        "Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">bob@acme.test<"
    ));
}

// --- apps that require signed AuthnRequests -------------------------------------------------

struct SignedSp {
    _dir: tempfile::TempDir,
    key: PKey<Private>,
    cert_b64: String,
    state: std::sync::Arc<fakta::idp::IdpState>,
}

fn signed_sp() -> SignedSp {
    let dir = tempfile::tempdir().unwrap();
    let sp = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("sp.crt"), sp.certificate.pem()).unwrap();
    let yaml = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("# sp_certificate: sp.crt", "sp_certificate: sp.crt");
    let state = state(connection(&yaml, dir.path()));
    SignedSp {
        _dir: dir,
        key: sp.pkey().clone(),
        cert_b64: sp.certificate.base64(),
        state,
    }
}

/// A Redirect-binding query signed as SAML Bindings 3.4.4.1 says.
fn signed_query(xml: &str, key: &PKey<Private>) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        enc(&binding::encode_redirect(xml)),
        enc("rs"),
        enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    );
    let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
    s.update(signed.as_bytes()).unwrap();
    let sig = STANDARD.encode(s.sign_to_vec().unwrap());
    format!("{signed}&Signature={}", enc(&sig))
}

#[tokio::test]
async fn signed_redirect_requests_are_verified() {
    let sp = signed_sp();
    let md = get(&sp.state, "/app/qovery/sso/saml/metadata", None).await;
    assert!(md.body.contains("WantAuthnRequestsSigned=\"true\""));

    let ok = get(
        &sp.state,
        &format!("{SSO}?{}", signed_query(&honest(), &sp.key)),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);

    let unsigned = get(&sp.state, &redirect_uri(&honest(), Some("rs")), None).await;
    assert_eq!(unsigned.status, StatusCode::BAD_REQUEST);
    assert!(
        unsigned.body.contains("requires signed requests"),
        "{}",
        unsigned.body
    );

    let other = fakta::keys::SigningKey::generate().unwrap();
    let forged = get(
        &sp.state,
        &format!("{SSO}?{}", signed_query(&honest(), other.pkey())),
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(
        forged
            .body
            .contains("does not verify with the SP certificate"),
        "{}",
        forged.body
    );

    // Changing the RelayState after signing breaks the signature.
    let tampered = signed_query(&honest(), &sp.key).replace("RelayState=rs", "RelayState=evil");
    let t = get(&sp.state, &format!("{SSO}?{tampered}"), None).await;
    assert_eq!(t.status, StatusCode::BAD_REQUEST);
}

fn signed_post_request(xml: &str, sp: &SignedSp, key_der: &[u8]) -> String {
    let close = "</saml:Issuer>";
    let at = xml.find(close).unwrap() + close.len();
    let with_template = format!(
        "{}{}{}",
        &xml[..at],
        fakta::saml::response::signature_template("_r1", &sp.cert_b64),
        &xml[at..]
    );
    fakta::saml::signature::sign_first_template(&with_template, key_der).unwrap()
}

#[tokio::test]
async fn signed_post_requests_are_verified() {
    let sp = signed_sp();
    let der = sp.key.private_key_to_pkcs8().unwrap();
    let signed = signed_post_request(&honest(), &sp, &der);
    let ok = post_form(
        &sp.state,
        SSO,
        &[("SAMLRequest", &binding::encode_post(&signed))],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);

    let unsigned = post_form(
        &sp.state,
        SSO,
        &[("SAMLRequest", &binding::encode_post(&honest()))],
        None,
    )
    .await;
    assert_eq!(unsigned.status, StatusCode::BAD_REQUEST);
    assert!(unsigned.body.contains("is not signed"));

    let other = fakta::keys::SigningKey::generate().unwrap();
    let forged = signed_post_request(&honest(), &sp, other.private_der());
    let bad = post_form(
        &sp.state,
        SSO,
        &[("SAMLRequest", &binding::encode_post(&forged))],
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("does not verify"), "{}", bad.body);
}

// --- SAML Single Logout (SP-initiated) --------------------------------------------------------

fn sp_logout_request(issuer: &str, destination: &str, session_index: Option<String>) -> String {
    fakta::saml::logout::build(&fakta::saml::logout::LogoutRequest {
        id: "_lo1".into(),
        issue_instant: NOW,
        issuer: issuer.into(),
        destination: destination.into(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        session_index,
    })
}

const SLO: &str = "/app/acme_qovery_1/qovery/slo/saml";
const SLO_URL: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/slo/saml";

#[tokio::test]
async fn sp_initiated_logout_ends_the_idp_session_and_answers_signed() {
    let st = state(example());
    let md = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    assert!(md.body.contains(&format!("SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{SLO_URL}\"")));
    let start = get(&st, SSO, None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    let cookie = done.session_cookie().unwrap();
    let q = fakta::saml::logout::redirect_query(
        &sp_logout_request(SP, SLO_URL, None),
        Some("rs"),
        None,
    )
    .unwrap();
    let a = get(&st, &format!("{SLO}?{q}"), Some(&cookie)).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);
    let to = a.location().to_owned();
    assert!(
        to.starts_with("http://127.0.0.1:7100/saml/slo?SAMLResponse="),
        "{to}"
    );
    assert!(to.contains("&RelayState=rs&SigAlg=") && to.contains("&Signature="));
    // The LogoutResponse's signature verifies with the IdP certificate.
    let query = to.split_once('?').unwrap().1;
    let cert = keys().current.certificate.x509().clone();
    assert!(binding::verify_redirect_signature(query, "SAMLResponse", &cert, true).unwrap());
    let xml = binding::decode_redirect(&binding::percent_decode(
        binding::raw_param(query, "SAMLResponse").unwrap(),
    ))
    .unwrap();
    assert!(xml.contains("InResponseTo=\"_lo1\"") && xml.contains("status:Success"));
    // The IdP session is gone: a new SP-initiated login shows the login page.
    let again = get(&st, &redirect_uri(&honest(), None), Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(again.location().starts_with("/login/login.htm"));
}

#[tokio::test]
async fn bad_logout_requests_are_refused() {
    let st = state(example());
    for (xml, needle) in [
        (
            sp_logout_request("urn:other", SLO_URL, None),
            "is not this app&apos;s SP entity id",
        ),
        (
            sp_logout_request(SP, "http://127.0.0.1:7000/elsewhere", None),
            "is not this SLO URL",
        ),
        (
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>"
                .to_owned(),
            "expected a samlp:LogoutRequest",
        ),
        (
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>".to_owned(),
            "DOCTYPE",
        ),
    ] {
        let q = fakta::saml::logout::redirect_query(&xml, None, None).unwrap();
        let a = get(&st, &format!("{SLO}?{q}"), None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{needle}: {}", a.body);
        assert!(a.body.contains(needle), "{needle}: {}", a.body);
    }
    // With an SP certificate, an unsigned LogoutRequest is refused.
    let sp = signed_sp();
    let q = fakta::saml::logout::redirect_query(&sp_logout_request(SP, SLO_URL, None), None, None)
        .unwrap();
    let a = get(&sp.state, &format!("{SLO}?{q}"), None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("requires signed requests"), "{}", a.body);
    let q = fakta::saml::logout::redirect_query(
        &sp_logout_request(SP, SLO_URL, None),
        None,
        Some(&sp.key),
    )
    .unwrap();
    let ok = get(&sp.state, &format!("{SLO}?{q}"), None).await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
}

/// The connection is checked when it is loaded, but the IdP and the reference SP read the SP's
/// certificate and key again when they start: through the same capped reader, so a device is
/// refused at once instead of being read until memory runs out.
#[test]
fn an_sp_certificate_or_key_that_is_not_a_regular_file_is_refused_at_start() {
    let mut conn = example();
    let app = conn
        .apps
        .iter_mut()
        .find(|a| a.id == "qovery")
        .expect("app");
    let fakta::config::Protocol::Saml(saml) = &mut app.protocol else {
        panic!("qovery is a SAML app");
    };
    saml.sp_certificate = Some(fakta::config::SpCertificate::File("/dev/zero".into()));
    saml.sp_private_key = Some("/dev/zero".into());
    let Err(err) = fakta::idp::IdpState::new(
        conn.clone(),
        keys(),
        std::sync::Arc::new(fakta::clock::FixedClock::new(NOW)),
    ) else {
        panic!("the IdP started with /dev/zero as an SP certificate");
    };
    assert_eq!(
        err.to_string(),
        "the SP certificate of app `qovery`: /dev/zero is not a regular file"
    );
    let Err(err) = fakta::refsp::SpState::new(
        conn,
        fakta::refsp::Flaws::none(),
        std::sync::Arc::new(fakta::clock::SystemClock),
    ) else {
        panic!("the reference SP started with /dev/zero as its key");
    };
    assert!(
        err.to_string()
            .ends_with(": the SP private key: /dev/zero is not a regular file"),
        "{err}"
    );
}

// --- SAML Single Logout (IdP-initiated): the SP's LogoutResponse ------------------------------

/// The SP's LogoutResponse to `in_response_to`, with `status`.
fn sp_logout_response(in_response_to: &str, issuer: &str, status: &str) -> String {
    fakta::saml::logout::response_with_status(
        "_sp_resp1",
        in_response_to,
        NOW,
        issuer,
        SLO_URL,
        status,
    )
}

fn response_query(xml: &str, key: Option<&PKey<Private>>) -> String {
    fakta::saml::logout::redirect_response_query(xml, Some("rs"), key).unwrap()
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

#[tokio::test]
async fn an_sps_logout_response_to_a_request_the_idp_sent_is_shown_once() {
    let st = state(example());
    st.remember_logout_request("id_g2_1", "qovery");
    let q = response_query(&sp_logout_response("id_g2_1", SP, SUCCESS), None);
    let a = get(&st, &format!("{SLO}?{q}"), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("<title>Signed out of qovery</title>"),
        "{}",
        a.body
    );
    // The same InResponseTo again: spent.
    let again = get(&st, &format!("{SLO}?{q}"), None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(
        again
            .body
            .contains("InResponseTo `id_g2_1` names a LogoutRequest that was already answered"),
        "{}",
        again.body
    );
    // By HTTP-POST too.
    st.remember_logout_request("id_g2_2", "qovery");
    let xml = sp_logout_response("id_g2_2", SP, SUCCESS);
    let a = post_form(
        &st,
        SLO,
        &[("SAMLResponse", &binding::encode_post(&xml))],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Signed out of qovery"), "{}", a.body);
}

#[tokio::test]
async fn a_non_success_logout_response_is_reported_with_its_status() {
    let st = state(example());
    st.remember_logout_request("id_g2_3", "qovery");
    let responder = "urn:oasis:names:tc:SAML:2.0:status:Responder";
    let q = response_query(&sp_logout_response("id_g2_3", SP, responder), None);
    let a = get(&st, &format!("{SLO}?{q}"), None).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "the SP answered properly: {}",
        a.body
    );
    assert!(
        a.body.contains("Sign-out of qovery not confirmed") && a.body.contains(responder),
        "{}",
        a.body
    );
    assert!(!a.body.contains("Signed out of"), "{}", a.body);
}

#[tokio::test]
async fn bad_logout_responses_are_refused_naming_what_is_wrong() {
    let st = state(example());
    st.remember_logout_request("id_g2_4", "qovery");
    st.remember_logout_request("id_for_other_app", "some-other-app");
    for (xml, needle) in [
        (
            sp_logout_response("id_never_sent", SP, SUCCESS),
            "InResponseTo `id_never_sent` names no LogoutRequest this IdP sent",
        ),
        (
            sp_logout_response("id_for_other_app", SP, SUCCESS),
            "InResponseTo `id_for_other_app` names a LogoutRequest this IdP sent for app `some-other-app`",
        ),
        (
            sp_logout_response("id_g2_4", "urn:other", SUCCESS),
            "the LogoutResponse&apos;s Issuer `urn:other` is not the SP entity id `urn:auth0:qovery:acme`",
        ),
        (
            fakta::saml::logout::response(
                "_r",
                "id_g2_4",
                NOW,
                SP,
                "http://127.0.0.1:7000/elsewhere",
            ),
            "the LogoutResponse&apos;s Destination `http://127.0.0.1:7000/elsewhere` is not this SLO URL",
        ),
        (
            sp_logout_request(SP, SLO_URL, None).replace("LogoutRequest", "Other"),
            "expected a samlp:LogoutResponse, found Other",
        ),
        (
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>".to_owned(),
            "DOCTYPE",
        ),
    ] {
        let a = get(&st, &format!("{SLO}?{}", response_query(&xml, None)), None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{needle}: {}", a.body);
        assert!(a.body.contains(needle), "{needle}: {}", a.body);
        assert!(a.body.contains("Bad logout response"), "{}", a.body);
    }
    // None of those spent the request it named.
    let q = response_query(&sp_logout_response("id_g2_4", SP, SUCCESS), None);
    assert_eq!(
        get(&st, &format!("{SLO}?{q}"), None).await.status,
        StatusCode::OK
    );
    let none = get(&st, &format!("{SLO}?RelayState=x"), None).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(
        none.body
            .contains("neither `SAMLRequest` nor `SAMLResponse`"),
        "{}",
        none.body
    );
}

#[tokio::test]
async fn an_app_with_an_sp_certificate_gets_only_signed_logout_responses() {
    let sp = signed_sp();
    let st = &sp.state;
    let foreign = fakta::keys::SigningKey::generate().unwrap();
    for i in 1..=6 {
        st.remember_logout_request(&format!("id_s{i}"), "qovery");
    }
    // HTTP-Redirect: unsigned, signed by another key, then signed by the SP.
    let cases = [
        (
            response_query(&sp_logout_response("id_s1", SP, SUCCESS), None),
            StatusCode::BAD_REQUEST,
            "app `qovery` has an SP certificate, and the LogoutResponse is not signed",
        ),
        (
            response_query(
                &sp_logout_response("id_s1", SP, SUCCESS),
                Some(foreign.pkey()),
            ),
            StatusCode::BAD_REQUEST,
            "the LogoutResponse&apos;s signature does not verify with the SP certificate",
        ),
        (
            response_query(&sp_logout_response("id_s1", SP, SUCCESS), Some(&sp.key)),
            StatusCode::OK,
            "Signed out of qovery",
        ),
    ];
    for (q, status, needle) in cases {
        let a = get(st, &format!("{SLO}?{q}"), None).await;
        assert_eq!(a.status, status, "{needle}: {}", a.body);
        assert!(a.body.contains(needle), "{needle}: {}", a.body);
    }
    // HTTP-POST: the enveloped signature must be the root's, and verify.
    let post = |xml: String| async move {
        post_form(
            st,
            SLO,
            &[("SAMLResponse", &binding::encode_post(&xml))],
            None,
        )
        .await
    };
    let signed = |irt: &str, key: &PKey<Private>| {
        fakta::saml::logout::sign_enveloped(
            &sp_logout_response(irt, SP, SUCCESS),
            "_sp_resp1",
            key,
            None,
        )
        .unwrap()
    };
    let a = post(sp_logout_response("id_s2", SP, SUCCESS)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body.contains("the LogoutResponse is not signed"),
        "{}",
        a.body
    );
    let a = post(signed("id_s2", foreign.pkey())).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body.contains("does not verify with the SP certificate"),
        "{}",
        a.body
    );
    let a = post(signed("id_s2", &sp.key).replace("id_s2", "id_s3")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "altered after signing");
    let a = post(signed("id_s2", &sp.key)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Signed out of qovery"), "{}", a.body);
    // A DOCTYPE is refused before xmlsec sees the document, request or response.
    let doctype = "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>";
    for field in ["SAMLResponse", "SAMLRequest"] {
        let a = post_form(st, SLO, &[(field, &binding::encode_post(doctype))], None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(a.body.contains("DOCTYPE"), "{field}: {}", a.body);
    }
}

// --- hostile requests (issue 13) ---------------------------------------------------------------

#[tokio::test]
async fn a_passive_request_without_a_session_is_answered_no_passive() {
    let st = state(example());
    let passive = request("_p1", SP, SSO_URL, ACS, false)
        .replace("ProtocolBinding=", "IsPassive=\"true\" ProtocolBinding=");
    let a = get(&st, &redirect_uri(&passive, Some("rs")), None).await;
    assert_eq!(a.status, StatusCode::OK, "no login page: {}", a.body);
    let xml = a.saml_response();
    assert!(
        xml.contains("<saml2p:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><saml2p:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:NoPassive\"/>"),
        "{xml}"
    );
    assert!(xml.contains("InResponseTo=\"_p1\"") && !xml.contains("Assertion"));
    assert!(
        a.body
            .contains(&format!("action=\"{}\"", ACS.replace('&', "&amp;")))
    );
    assert_eq!(form_field(&a.body, "RelayState").as_deref(), Some("rs"));
    let cert = keys().current.certificate.der().to_vec();
    assert!(fakta::saml::signature::verify_first(&xml, &cert));

    // With an IdP session the passive request gets the user's Response.
    let start = get(&st, &redirect_uri(&honest(), None), None).await;
    let cookie = pick_user(&st, &start, "00u1alice")
        .await
        .session_cookie()
        .unwrap();
    let again = get(
        &st,
        &redirect_uri(&passive.replace("_p1", "_p2"), None),
        Some(&cookie),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    let xml = again.saml_response();
    assert!(xml.contains("status:Success") && xml.contains("alice@acme.test"));
}

#[tokio::test]
async fn a_signed_redirect_request_is_answered_once_and_only_in_its_window() {
    let sp = signed_sp();
    let uri = format!("{SSO}?{}", signed_query(&honest(), &sp.key));
    let first = get(&sp.state, &uri, None).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    let replay = get(&sp.state, &uri, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(
        replay
            .body
            .contains("signed AuthnRequest `_r1` was received before"),
        "{}",
        replay.body
    );
    // Another ID goes through; an old or future IssueInstant does not.
    let fresh = request("_r2", SP, SSO_URL, ACS, false);
    let ok = get(
        &sp.state,
        &format!("{SSO}?{}", signed_query(&fresh, &sp.key)),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
    for (id, at) in [
        ("_old", "2026-11-28T08:54:59.000Z"),
        ("_future", "2026-11-28T09:01:01.000Z"),
    ] {
        let xml = authn_request::build(id, at, SP, SSO_URL, ACS, false);
        let a = get(
            &sp.state,
            &format!("{SSO}?{}", signed_query(&xml, &sp.key)),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{at}");
        assert!(
            a.body.contains("outside the 300 s it is valid for"),
            "{at}: {}",
            a.body
        );
    }
    // The edges of the window are inside it.
    for (id, at) in [
        ("_edge1", "2026-11-28T08:55:00.000Z"),
        ("_edge2", "2026-11-28T09:01:00.000Z"),
    ] {
        let xml = authn_request::build(id, at, SP, SSO_URL, ACS, false);
        let a = get(
            &sp.state,
            &format!("{SSO}?{}", signed_query(&xml, &sp.key)),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::FOUND, "{at}: {}", a.body);
    }
}

#[tokio::test]
async fn a_signature_over_a_wrapped_element_is_refused() {
    let sp = signed_sp();
    let der = sp.key.private_key_to_pkcs8().unwrap();
    // The attacker's root (no Destination, own ID) with the SP's genuinely signed request
    // inside Extensions; the signature is a child of the root and references the inner one.
    let inner = request("_inner", SP, SSO_URL, ACS, false);
    let evil = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_evil\" Version=\"2.0\" IssueInstant=\"2026-11-28T09:00:00.000Z\" ForceAuthn=\"true\"><saml:Issuer>{SP}</saml:Issuer>{}<samlp:Extensions>{inner}</samlp:Extensions></samlp:AuthnRequest>",
        fakta::saml::response::signature_template("_inner", &sp.cert_b64)
    );
    let signed = fakta::saml::signature::sign_first_template(&evil, &der).unwrap();
    // xmlsec alone accepts it: the signature is valid, over the inner element.
    let cert_der = STANDARD.decode(&sp.cert_b64).unwrap();
    assert!(fakta::saml::signature::verify_first(&signed, &cert_der));
    let a = post_form(
        &sp.state,
        SSO,
        &[("SAMLRequest", &binding::encode_post(&signed))],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body
            .contains("the signature covers `#_inner`, not the root element `#_evil`"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_bad_logout_request_signature_is_named_as_such() {
    let sp = signed_sp();
    let other = fakta::keys::SigningKey::generate().unwrap();
    let xml = sp_logout_request(SP, SLO_URL, None);
    let close = "</saml2:Issuer>";
    let at = xml.find(close).unwrap() + close.len();
    let with_template = format!(
        "{}{}{}",
        &xml[..at],
        fakta::saml::response::signature_template("_lo1", &sp.cert_b64),
        &xml[at..]
    );
    let forged =
        fakta::saml::signature::sign_first_template(&with_template, other.private_der()).unwrap();
    let a = post_form(
        &sp.state,
        SLO,
        &[("SAMLRequest", &binding::encode_post(&forged))],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body
            .contains("the POSTed LogoutRequest&apos;s signature does not verify"),
        "{}",
        a.body
    );
    let unsigned = post_form(
        &sp.state,
        SLO,
        &[("SAMLRequest", &binding::encode_post(&xml))],
        None,
    )
    .await;
    assert!(
        unsigned
            .body
            .contains("the POSTed LogoutRequest is not signed"),
        "{}",
        unsigned.body
    );
    let der = sp.key.private_key_to_pkcs8().unwrap();
    let honest = fakta::saml::signature::sign_first_template(&with_template, &der).unwrap();
    let ok = post_form(
        &sp.state,
        SLO,
        &[("SAMLRequest", &binding::encode_post(&honest))],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
    // A captured signed LogoutRequest is answered once: replayed (into a victim's browser, say),
    // it is refused, naming the replay.
    let again = post_form(
        &sp.state,
        SLO,
        &[("SAMLRequest", &binding::encode_post(&honest))],
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(
        again
            .body
            .contains("the signed LogoutRequest `_lo1` was received before"),
        "{}",
        again.body
    );
    // ... and outside its window from IssueInstant, even the first time.
    let stale_xml = xml.replace(
        &format!("IssueInstant=\"{}\"", fakta::saml::xml::instant(NOW)),
        "IssueInstant=\"2020-01-01T00:00:00Z\"",
    );
    assert_ne!(stale_xml, xml);
    let at = stale_xml.find(close).unwrap() + close.len();
    let stale = fakta::saml::signature::sign_first_template(
        &format!(
            "{}{}{}",
            &stale_xml[..at],
            fakta::saml::response::signature_template("_lo1", &sp.cert_b64),
            &stale_xml[at..]
        ),
        &der,
    )
    .unwrap();
    let late = post_form(
        &sp.state,
        SLO,
        &[("SAMLRequest", &binding::encode_post(&stale))],
        None,
    )
    .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);
    assert!(
        late.body
            .contains("the signed LogoutRequest was issued at 2020-01-01T00:00:00Z, outside"),
        "{}",
        late.body
    );
}

#[test]
fn the_replay_store_is_bounded_and_forgets_only_expired_requests() {
    use fakta::idp::{MAX_SEEN_REQUESTS, RequestUse};
    let clock = std::sync::Arc::new(fakta::clock::FixedClock::new(NOW));
    let st = fakta::idp::IdpState::new(example(), keys(), clock.clone()).unwrap();
    let until = NOW + time::Duration::minutes(5);
    for i in 0..MAX_SEEN_REQUESTS {
        assert_eq!(
            st.first_use_of_request("qovery", &format!("_{i}"), until),
            RequestUse::First
        );
    }
    assert_eq!(
        st.first_use_of_request("qovery", "_0", until),
        RequestUse::Replayed
    );
    // Full of requests still in their window: a new one is refused, none is forgotten.
    assert_eq!(
        st.first_use_of_request("qovery", "_new", until),
        RequestUse::Full
    );
    // The cap counts the requests of every app.
    assert_eq!(
        st.first_use_of_request("other", "_1", until),
        RequestUse::Full
    );
    // Once the window is over the old IDs are dropped.
    clock.set(until + time::Duration::seconds(1));
    assert_eq!(
        st.first_use_of_request("qovery", "_new", until + time::Duration::minutes(6)),
        RequestUse::First
    );
    assert_eq!(
        st.first_use_of_request("qovery", "_0", until + time::Duration::minutes(6)),
        RequestUse::First
    );
}

/// Issue 13: signing out ends this browser's IdP session only, not the user's sessions in
/// other browsers.
#[tokio::test]
async fn sign_out_ends_only_this_browsers_session() {
    let st = state(example());
    let mut cookies = Vec::new();
    for id in ["_a1", "_a2"] {
        let start = get(
            &st,
            &redirect_uri(&request(id, SP, SSO_URL, ACS, false), None),
            None,
        )
        .await;
        let done = pick_user(&st, &start, "00u1alice").await;
        cookies.push(done.session_cookie().expect("IdP session cookie"));
    }
    let out = get(&st, "/login/signout", Some(&cookies[0])).await;
    assert!(out.body.contains("You are signed out"), "{}", out.body);
    let first = get(
        &st,
        &redirect_uri(&request("_a3", SP, SSO_URL, ACS, false), None),
        Some(&cookies[0]),
    )
    .await;
    assert_eq!(
        first.status,
        StatusCode::FOUND,
        "this browser logs in again"
    );
    let other = get(
        &st,
        &redirect_uri(&request("_a4", SP, SSO_URL, ACS, false), None),
        Some(&cookies[1]),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "the other browser's session is untouched: {}",
        other.body
    );
    assert!(other.saml_response().contains("InResponseTo=\"_a4\""));
}

/// Issue 13: RelayState is capped (1 KiB), with the cap and the binding's 80 bytes named.
#[tokio::test]
async fn a_relay_state_over_the_cap_is_refused_with_the_cap() {
    let long = "r".repeat(1025);
    refused(
        &redirect_uri(&honest(), Some(&long)),
        StatusCode::BAD_REQUEST,
        "the RelayState is 1025 bytes; fakta accepts at most 1024",
    )
    .await;
    let st = state(example());
    let ok = get(&st, &redirect_uri(&honest(), Some(&"r".repeat(1024))), None).await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
}

/// Issue 13: the control endpoint answers only requests addressed to the base URL's host and
/// port (DNS rebinding); `fakta revoke` keeps working (tests/cli.rs).
#[tokio::test]
async fn the_control_endpoint_refuses_other_hosts() {
    use axum::body::Body;
    use axum::http::Request;
    let st = state(example());
    let post = |host: Option<&'static str>| {
        let mut b =
            Request::post("/api/v1/fakta/revoke").header("content-type", "application/json");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(Body::from(r#"{"user":"mallory"}"#)).unwrap()
    };
    for host in [Some("rebound.evil.test:7000"), Some("127.0.0.1:7001"), None] {
        let a = send(&st, post(host)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{host:?}: {}", a.body);
        assert!(a.body.contains("addressed to 127.0.0.1:7000"), "{}", a.body);
    }
    let a = send(&st, post(Some("127.0.0.1:7000"))).await;
    assert_eq!(
        a.status,
        StatusCode::NOT_FOUND,
        "past the guard: {}",
        a.body
    );
    assert!(a.body.contains("no user `mallory`"));
}

// --- `sp_signs`: which SP messages must be signed ---------------------------------------------

/// An app with the SP certificate and `sp_signs: [<sp_signs>]`.
fn sp_that_signs(sp_signs: &[SpMessage]) -> SignedSp {
    let dir = tempfile::tempdir().unwrap();
    let sp = fakta::keys::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("sp.crt"), sp.certificate.pem()).unwrap();
    let kinds: Vec<&str> = sp_signs.iter().map(|k| k.name()).collect();
    let yaml = std::fs::read_to_string(EXAMPLE).unwrap().replace(
        "# sp_certificate: sp.crt",
        &format!(
            "sp_certificate: sp.crt\n    sp_signs: [{}]",
            kinds.join(", ")
        ),
    );
    let state = state(connection(&yaml, dir.path()));
    SignedSp {
        _dir: dir,
        key: sp.pkey().clone(),
        cert_b64: sp.certificate.base64(),
        state,
    }
}

/// Who signs a message: nobody, the SP (its certificate's key), or another key.
#[derive(Debug, Clone, Copy)]
enum By {
    Unsigned,
    Sp,
    Foreign,
}

/// Sends the SP's message of kind `kind` (id made unique with `n`) by HTTP-POST or
/// HTTP-Redirect, signed as `by` says. A LogoutResponse answers a LogoutRequest the IdP
/// remembers having sent.
async fn send_sp_message(
    sp: &SignedSp,
    foreign: &PKey<Private>,
    kind: SpMessage,
    post: bool,
    by: By,
    n: usize,
) -> Answer {
    let key = match by {
        By::Unsigned => None,
        By::Sp => Some(&sp.key),
        By::Foreign => Some(foreign),
    };
    let (path, field, xml, id, issuer_close) = match kind {
        SpMessage::AuthnRequests => {
            let id = format!("_r{n}");
            let xml = request(&id, SP, SSO_URL, ACS, false);
            (SSO, "SAMLRequest", xml, id, "</saml:Issuer>")
        }
        SpMessage::LogoutRequests => {
            let id = format!("_lo{n}");
            let xml = fakta::saml::logout::build(&fakta::saml::logout::LogoutRequest {
                id: id.clone(),
                issue_instant: NOW,
                issuer: SP.into(),
                destination: SLO_URL.into(),
                name_id: "alice@acme.test".into(),
                name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
                session_index: None,
            });
            (SLO, "SAMLRequest", xml, id, "</saml2:Issuer>")
        }
        SpMessage::LogoutResponses => {
            let sent = format!("id_sent_{n}");
            sp.state.remember_logout_request(&sent, "qovery");
            let xml = sp_logout_response(&sent, SP, SUCCESS);
            (
                SLO,
                "SAMLResponse",
                xml,
                "_sp_resp1".to_owned(),
                "</saml2:Issuer>",
            )
        }
    };
    if !post {
        let q = match (kind, key) {
            (SpMessage::AuthnRequests, Some(k)) => signed_query(&xml, k),
            (SpMessage::AuthnRequests, None) => redirect_uri(&xml, Some("rs"))
                .split_once('?')
                .unwrap()
                .1
                .to_owned(),
            (SpMessage::LogoutRequests, k) => {
                fakta::saml::logout::redirect_query(&xml, Some("rs"), k).unwrap()
            }
            (SpMessage::LogoutResponses, k) => response_query(&xml, k),
        };
        return get(&sp.state, &format!("{path}?{q}"), None).await;
    }
    let body = match key {
        None => xml,
        Some(k) => {
            let at = xml.find(issuer_close).unwrap() + issuer_close.len();
            let with_template = format!(
                "{}{}{}",
                &xml[..at],
                fakta::saml::response::signature_template(&id, &sp.cert_b64),
                &xml[at..]
            );
            let der = k.private_key_to_pkcs8().unwrap();
            fakta::saml::signature::sign_first_template(&with_template, &der).unwrap()
        }
    };
    post_form(
        &sp.state,
        path,
        &[(field, &binding::encode_post(&body))],
        None,
    )
    .await
}

/// What the IdP answers a message it takes: a redirect onwards for requests, the sign-out page
/// for a LogoutResponse.
fn taken(kind: SpMessage) -> StatusCode {
    match kind {
        SpMessage::LogoutResponses => StatusCode::OK,
        _ => StatusCode::FOUND,
    }
}

#[tokio::test]
async fn each_kind_of_sp_message_is_required_signed_only_when_sp_signs_lists_it() {
    let foreign = fakta::keys::SigningKey::generate().unwrap();
    let foreign = foreign.pkey();
    let mut n = 0;
    for &kind in SpMessage::ALL {
        let others: Vec<SpMessage> = SpMessage::ALL
            .iter()
            .copied()
            .filter(|k| *k != kind)
            .collect();
        let required = sp_that_signs(&[kind]);
        let optional = sp_that_signs(&others);
        for post in [false, true] {
            let how = format!(
                "{} by {}",
                kind.name(),
                if post { "POST" } else { "Redirect" }
            );
            // Listed: unsigned refused, another key refused, the SP's signature taken.
            for (by, want) in [
                (By::Unsigned, StatusCode::BAD_REQUEST),
                (By::Foreign, StatusCode::BAD_REQUEST),
                (By::Sp, taken(kind)),
            ] {
                n += 1;
                let a = send_sp_message(&required, foreign, kind, post, by, n).await;
                assert_eq!(a.status, want, "{how}, required, {by:?}: {}", a.body);
            }
            // Left out: unsigned taken, but a signature that is there must still verify.
            for (by, want) in [
                (By::Unsigned, taken(kind)),
                (By::Foreign, StatusCode::BAD_REQUEST),
                (By::Sp, taken(kind)),
            ] {
                n += 1;
                let a = send_sp_message(&optional, foreign, kind, post, by, n).await;
                assert_eq!(a.status, want, "{how}, optional, {by:?}: {}", a.body);
                if matches!(by, By::Foreign) {
                    assert!(a.body.contains("does not verify"), "{how}: {}", a.body);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_signed_authn_request_is_still_answered_once_when_signing_is_optional() {
    let sp = sp_that_signs(&[]);
    let md = get(&sp.state, "/app/qovery/sso/saml/metadata", None).await;
    assert!(
        md.body.contains("WantAuthnRequestsSigned=\"false\""),
        "{}",
        md.body
    );
    let uri = format!("{SSO}?{}", signed_query(&honest(), &sp.key));
    let first = get(&sp.state, &uri, None).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    let again = get(&sp.state, &uri, None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("_r1"), "{}", again.body);
    // Unsigned ones are not held to the replay store (as without a certificate).
    let unsigned = redirect_uri(&honest(), Some("rs"));
    for _ in 0..2 {
        let a = get(&sp.state, &unsigned, None).await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.body);
    }
}

/// A large directory: the login page and the index list the first users as buttons and count
/// the rest; a user past the list logs in by typing, like one in the list.
#[tokio::test]
async fn large_directories_list_the_first_users_and_count_the_rest() {
    let mut conn = example();
    let template = conn.directory.users[0].clone();
    for i in 0..1000 {
        let mut u = template.clone();
        u.id = format!("00ugen{i:04}");
        u.login = format!("gen{i:04}@acme.test");
        u.email = u.login.clone();
        conn.directory.users.push(u);
    }
    let total = conn.directory.users.len();
    let st = state(conn);
    let start = get(&st, SSO, None).await;
    let loc = start.location().to_owned();
    let token = loc.split("state=").nth(1).unwrap().to_owned();
    let page = get(&st, &loc, None).await;
    assert_eq!(page.body.matches("name=\"username\" value=").count(), 200);
    assert!(
        page.body
            .contains(&format!("{} more users are not listed", total - 200)),
        "{}",
        page.body
    );
    assert!(!page.body.contains("gen0999@acme.test"));
    let typed = post_form(
        &st,
        "/login/login.htm",
        &[("state", &token), ("username", "GEN0999@acme.test")],
        None,
    )
    .await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    let index = get(&st, "/", None).await;
    assert!(
        index
            .body
            .contains(&format!("{} more users are not listed", total - 500))
    );
}
