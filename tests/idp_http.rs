//! The IdP's HTTP endpoints, through `fakta::idp::app` with `oneshot`.

mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn metadata_names_the_sso_url_and_the_certificate() {
    let st = state(example());
    let a = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("entityID=\"http://www.okta.com/qovery\""));
    assert!(a.body.contains(
        "Location=\"http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml\""
    ));
    assert!(a.body.contains(&keys().current.certificate.base64()));
}

#[tokio::test]
async fn idp_initiated_login_posts_a_response_to_the_acs_url() {
    let st = state(example());
    let xml = idp_initiated_response(&st, "00u1alice").await;
    assert!(xml.contains("<saml2:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">alice@acme.test</saml2:NameID>"));
    assert!(!xml.contains("InResponseTo"));
}

#[tokio::test]
async fn sp_initiated_login_answers_the_request() {
    let st = state(example());
    let xml = sp_initiated_response(&st, "_req1", "bob@acme.test").await;
    assert!(xml.contains("InResponseTo=\"_req1\""));
}
