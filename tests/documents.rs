//! Snapshots of the documents fakta emits, with what varies (IDs, digests, signature values,
//! certificates) redacted. Instants are fixed by the test clock (2026-11-28T09:00:00Z).

mod common;

use common::*;

/// One element per line, so a change shows up as a readable diff.
fn pretty(xml: &str) -> String {
    xml.replace("><", ">\n<")
}

fn redacted(xml: &str) -> String {
    let mut s = pretty(xml);
    for (re, with) in [
        (r"\bid\d{5,}\b", "[ID]"),
        (
            r"(?s)<ds:DigestValue>[^<]*</ds:DigestValue>",
            "<ds:DigestValue>[DIGEST]</ds:DigestValue>",
        ),
        (
            r"(?s)<ds:SignatureValue>[^<]*</ds:SignatureValue>",
            "<ds:SignatureValue>[SIGNATURE]</ds:SignatureValue>",
        ),
        (
            r"(?s)<ds:X509Certificate>[^<]*</ds:X509Certificate>",
            "<ds:X509Certificate>[CERTIFICATE]</ds:X509Certificate>",
        ),
    ] {
        s = regex::Regex::new(re)
            .unwrap()
            .replace_all(&s, with)
            .into_owned();
    }
    s
}

#[tokio::test]
async fn metadata() {
    let st = state(example());
    let a = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    insta::assert_snapshot!(redacted(&a.body));
}

#[tokio::test]
async fn signed_response_for_an_sp_initiated_login() {
    let st = state(example());
    let xml = sp_initiated_response(&st, "_3f1b2c", "00u1alice").await;
    insta::assert_snapshot!(redacted(&xml));
}

#[tokio::test]
async fn login_page() {
    let st = state(example());
    let start = get(&st, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let page = get(&st, start.location(), None).await;
    let token = start.location().split("state=").nth(1).unwrap().to_owned();
    insta::assert_snapshot!(page.body.replace(&token, "[STATE]").replace("><", ">\n<"));
}

/// `fakta export`'s document for a SAML app: the metadata, byte for byte what the IdP serves.
#[tokio::test]
async fn export_of_a_saml_app() {
    let st = state(example());
    let doc = fakta::idp::export::export(&st, None).expect("one app: no --app needed");
    let served = get(&st, "/app/qovery/sso/saml/metadata", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(doc.body, served.body);
    assert_eq!(
        served.headers["content-type"].to_str().unwrap(),
        doc.content_type
    );
    assert_eq!(
        doc.url,
        "http://127.0.0.1:7000/app/qovery/sso/saml/metadata"
    );
    insta::assert_snapshot!(redacted(&doc.body));
}

/// `fakta export`'s document for an OIDC app on a custom authorization server: that server's
/// discovery, byte for byte what the IdP serves.
#[tokio::test]
async fn export_of_an_oidc_app_on_a_custom_server() {
    let st = state(oidc_example());
    let doc = fakta::idp::export::export(&st, Some("qovery-spa")).unwrap();
    let path = "/oauth2/default/.well-known/openid-configuration";
    let served = get(&st, path, None).await;
    assert_eq!(served.status, 200);
    assert_eq!(doc.body, served.body);
    assert_eq!(
        served.headers["content-type"].to_str().unwrap(),
        doc.content_type
    );
    assert_eq!(doc.url, format!("http://127.0.0.1:7000{path}"));
    let pretty: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
    insta::assert_snapshot!(serde_json::to_string_pretty(&pretty).unwrap());
    // The org server's app gets the org server's discovery.
    let org = fakta::idp::export::export(&st, Some("qovery-oidc")).unwrap();
    let served = get(&st, "/.well-known/openid-configuration", None).await;
    assert_eq!(org.body, served.body);
}

#[test]
fn export_names_the_apps_when_it_cannot_tell_which() {
    use fakta::idp::export::{ExportError, export};
    let st = state(oidc_example());
    let known = vec!["qovery-oidc".to_owned(), "qovery-spa".to_owned()];
    assert_eq!(
        export(&st, None),
        Err(ExportError::WhichApp {
            known: known.clone()
        })
    );
    assert_eq!(
        export(&st, Some("qovery")),
        Err(ExportError::UnknownApp {
            asked: "qovery".into(),
            known
        })
    );
}

/// A Response with Okta's SAML app settings turned (issue 19): Recipient and Destination URLs
/// apart from the SSO URL, attribute name formats, the X.509 authentication context class and
/// a custom application username; answered to another requestable SSO URL the request names.
#[tokio::test]
async fn signed_response_with_the_saml_app_settings() {
    let yaml = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replacen(
            "    name_id: { format: unspecified, value: user.email }",
            "    name_id: { format: persistent, value: custom, expression: \"${user.id}.${user.department}\" }",
            1,
        )
        .replacen(
            "      email: user.email\n      name: user.name\n",
            "      email: { value: user.email, name_format: basic }\n      \"urn:oid:2.5.4.3\": { value: user.name, name_format: uri }\n",
            1,
        )
        .replacen(
            "    allow_idp_initiated: true\n",
            "    allow_idp_initiated: true\n    recipient_url: http://127.0.0.1:7100/recipient\n    destination_url: http://127.0.0.1:7100/destination\n    authn_context_class: x509\n    other_sso_urls: [{ url: http://127.0.0.1:7200/acs, index: 2 }]\n",
            1,
        );
    let st = state(connection(&yaml, std::path::Path::new(".")));
    let request = fakta::saml::authn_request::build(
        "_settings",
        "2026-11-28T09:00:00.000Z",
        "urn:auth0:qovery:acme",
        "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml",
        "http://127.0.0.1:7200/acs",
        false,
    );
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLRequest",
            &fakta::saml::binding::encode_redirect(&request),
        )
        .finish();
    let start = get(
        &st,
        &format!("/app/acme_qovery_1/qovery/sso/saml?{q}"),
        None,
    )
    .await;
    let done = pick_user(&st, &start, "00u5obrien").await;
    assert_eq!(done.form_action(), "http://127.0.0.1:7200/acs");
    let xml = done.saml_response();
    let cert = keys().current.certificate.der().to_vec();
    assert!(fakta::saml::signature::verify_first(&xml, &cert));
    insta::assert_snapshot!(redacted(&xml));
}
