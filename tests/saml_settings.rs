//! Okta's SAML app settings (issue 19, items 3-7), end to end through the IdP's HTTP endpoints:
//! Recipient and Destination URLs apart from the SSO URL, attribute name formats, the
//! authentication context class and a RequestedAuthnContext, Honor Force Authentication, other
//! requestable SSO URLs, and the application username (NameID value). Each setting is issued
//! in a Response and read back from it.

mod common;

use std::path::Path;

use axum::http::StatusCode;
use common::*;
use fakta::saml::{authn_request, binding};

const SSO: &str = "/app/acme_qovery_1/qovery/sso/saml";
const SSO_URL: &str = "http://127.0.0.1:7000/app/acme_qovery_1/qovery/sso/saml";
const ACS: &str = "http://127.0.0.1:7100/login/callback?connection=acme";
const OTHER_ACS: &str = "http://127.0.0.1:7200/tenant-b/acs";
const SP: &str = "urn:auth0:qovery:acme";

/// The example app with `extra` keys added under it.
fn app_with(extra: &str) -> fakta::config::Connection {
    let yaml = std::fs::read_to_string(EXAMPLE).expect("example").replacen(
        "    allow_idp_initiated: true\n",
        &format!("    allow_idp_initiated: true\n{extra}"),
        1,
    );
    connection(&yaml, Path::new(EXAMPLE).parent().expect("folder"))
}

fn redirect_uri(xml: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &binding::encode_redirect(xml))
        .finish();
    format!("{SSO}?{q}")
}

fn request(id: &str, acs: &str, force: bool) -> String {
    authn_request::build(id, "2026-11-28T09:00:00.000Z", SP, SSO_URL, acs, force)
}

/// The value of `attr="..."` on the first element named `element` in `xml`.
fn attribute_of(xml: &str, element: &str, attr: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("XML");
    doc.descendants()
        .find(|n| n.tag_name().name() == element)
        .and_then(|n| n.attribute(attr))
        .unwrap_or_else(|| panic!("no {element}/@{attr} in {xml}"))
        .to_owned()
}

fn text_of(xml: &str, element: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("XML");
    doc.descendants()
        .find(|n| n.tag_name().name() == element)
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {element} in {xml}"))
        .to_owned()
}

#[tokio::test]
async fn recipient_and_destination_apart_from_the_sso_url_are_written_as_set() {
    let st = state(app_with(
        "    recipient_url: http://127.0.0.1:7100/recipient\n    destination_url: http://127.0.0.1:7100/destination\n",
    ));
    let xml = sp_initiated_response(&st, "_rd", "00u1alice").await;
    assert_eq!(
        attribute_of(&xml, "SubjectConfirmationData", "Recipient"),
        "http://127.0.0.1:7100/recipient"
    );
    assert_eq!(
        attribute_of(&xml, "Response", "Destination"),
        "http://127.0.0.1:7100/destination"
    );
    // Without them both are the ACS URL the Response is posted to.
    let plain = sp_initiated_response(&state(example()), "_rd", "00u1alice").await;
    assert_eq!(
        attribute_of(&plain, "SubjectConfirmationData", "Recipient"),
        ACS
    );
    assert_eq!(attribute_of(&plain, "Response", "Destination"), ACS);
}

#[tokio::test]
async fn attributes_carry_the_name_format_they_are_given() {
    let yaml = std::fs::read_to_string(EXAMPLE).expect("example").replacen(
        "      email: user.email\n      name: user.name\n",
        "      email: { value: user.email, name_format: basic }\n      \"urn:oid:2.5.4.3\": { value: user.name, name_format: uri }\n      login: { value: user.login }\n",
        1,
    );
    let st = state(connection(&yaml, Path::new(".")));
    let xml = idp_initiated_response(&st, "00u1alice").await;
    let doc = roxmltree::Document::parse(&xml).expect("XML");
    let formats: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "Attribute")
        .map(|n| {
            (
                n.attribute("Name").unwrap(),
                n.attribute("NameFormat").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        formats,
        [
            ("email", "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"),
            (
                "urn:oid:2.5.4.3",
                "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
            ),
            (
                "login",
                "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
            ),
            (
                "groups",
                "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
            ),
        ]
    );
}

#[tokio::test]
async fn the_authn_statement_names_the_apps_class() {
    let xml = idp_initiated_response(&state(example()), "00u1alice").await;
    assert_eq!(
        text_of(&xml, "AuthnContextClassRef"),
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "Okta's default"
    );
    let st = state(app_with("    authn_context_class: x509\n"));
    let xml = idp_initiated_response(&st, "00u1alice").await;
    assert_eq!(
        text_of(&xml, "AuthnContextClassRef"),
        "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
    );
}

/// An AuthnRequest asking for `classes` with `comparison` (no attribute when None).
fn asking(id: &str, comparison: Option<&str>, class: &str) -> String {
    let c = comparison
        .map(|c| format!(" Comparison=\"{c}\""))
        .unwrap_or_default();
    request(id, ACS, false).replace(
        "</samlp:AuthnRequest>",
        &format!("<samlp:RequestedAuthnContext{c}><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"),
    )
}

#[tokio::test]
async fn an_exact_authn_context_the_app_cannot_give_is_answered_no_authn_context() {
    const KERBEROS: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos";
    const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
    let st = state(example());
    // `exact` is the default comparison (SAML Core 3.3.2.2.1).
    for (id, comparison) in [("_k1", None), ("_k2", Some("exact"))] {
        let a = get(&st, &redirect_uri(&asking(id, comparison, KERBEROS)), None).await;
        assert_eq!(a.status, StatusCode::OK, "no login page: {}", a.body);
        let xml = a.saml_response();
        assert!(
            xml.contains("<saml2p:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><saml2p:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext\"/>"),
            "{xml}"
        );
        assert!(xml.contains(&format!("InResponseTo=\"{id}\"")) && !xml.contains("Assertion"));
        assert_eq!(a.form_action(), ACS);
        let cert = keys().current.certificate.der().to_vec();
        assert!(fakta::saml::signature::verify_first(&xml, &cert));
    }
    // The app's own class, or a comparison fakta cannot order, goes to the login page.
    for (id, comparison, class) in [
        ("_k3", None, PPT),
        ("_k4", Some("minimum"), KERBEROS),
        ("_k5", Some("better"), KERBEROS),
    ] {
        let a = get(&st, &redirect_uri(&asking(id, comparison, class)), None).await;
        assert_eq!(a.status, StatusCode::FOUND, "{id}: {}", a.body);
        let done = pick_user(&st, &a, "00u1alice").await;
        assert_eq!(text_of(&done.saml_response(), "AuthnContextClassRef"), PPT);
    }
    // An app set to Kerberos meets the same exact request.
    let st = state(app_with("    authn_context_class: kerberos\n"));
    let a = get(&st, &redirect_uri(&asking("_k6", None, KERBEROS)), None).await;
    let done = pick_user(&st, &a, "00u1alice").await;
    assert_eq!(
        text_of(&done.saml_response(), "AuthnContextClassRef"),
        KERBEROS
    );
}

/// A login with `honor_force_authn` set as given: after a first login, whether a ForceAuthn
/// request shows the login page again.
async fn forced_login_page(honor: Option<bool>) -> bool {
    let extra = honor
        .map(|h| format!("    honor_force_authn: {h}\n"))
        .unwrap_or_default();
    let st = state(app_with(&extra));
    let start = get(&st, &redirect_uri(&request("_f1", ACS, false)), None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    let cookie = done.session_cookie().expect("IdP session");
    let forced = get(
        &st,
        &redirect_uri(&request("_f2", ACS, true)),
        Some(&cookie),
    )
    .await;
    match forced.status {
        StatusCode::FOUND => {
            assert!(forced.location().starts_with("/login/login.htm?state="));
            true
        }
        StatusCode::OK => {
            assert!(forced.saml_response().contains("InResponseTo=\"_f2\""));
            false
        }
        other => panic!("unexpected {other}: {}", forced.body),
    }
}

#[tokio::test]
async fn force_authn_shows_the_login_page_only_when_honoured() {
    assert!(forced_login_page(None).await, "Okta's default is Yes");
    assert!(forced_login_page(Some(true)).await);
    assert!(
        !forced_login_page(Some(false)).await,
        "No: the IdP session answers at once"
    );
}

const OTHERS: &str =
    "    other_sso_urls:\n      - { url: \"http://127.0.0.1:7200/tenant-b/acs\", index: 4 }\n";

#[tokio::test]
async fn another_requestable_sso_url_is_answered_by_url_and_by_index() {
    let st = state(app_with(OTHERS));
    let by_url = get(&st, &redirect_uri(&request("_o1", OTHER_ACS, false)), None).await;
    let done = pick_user(&st, &by_url, "00u1alice").await;
    assert_eq!(done.form_action(), OTHER_ACS);
    let xml = done.saml_response();
    assert_eq!(attribute_of(&xml, "Response", "Destination"), OTHER_ACS);
    assert_eq!(
        attribute_of(&xml, "SubjectConfirmationData", "Recipient"),
        OTHER_ACS
    );

    let by_index = request("_o2", ACS, false).replace(
        &format!(
            " AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{}\"",
            ACS.replace('&', "&amp;"),
            fakta::saml::ns::BINDING_POST
        ),
        " AssertionConsumerServiceIndex=\"4\"",
    );
    assert!(by_index.contains("AssertionConsumerServiceIndex"));
    let start = get(&st, &redirect_uri(&by_index), None).await;
    let done = pick_user(&st, &start, "00u1alice").await;
    assert_eq!(done.form_action(), OTHER_ACS);
    assert!(done.saml_response().contains("InResponseTo=\"_o2\""));

    // The app's own URL still works, and IdP-initiated logins always go there.
    let own = get(&st, &redirect_uri(&request("_o3", ACS, false)), None).await;
    assert_eq!(pick_user(&st, &own, "00u1alice").await.form_action(), ACS);
    let idp = get(&st, SSO, None).await;
    assert_eq!(pick_user(&st, &idp, "00u1alice").await.form_action(), ACS);
}

#[tokio::test]
async fn an_unregistered_url_or_index_is_refused_on_a_page_that_names_it() {
    let st = state(app_with(OTHERS));
    let evil = get(
        &st,
        &redirect_uri(&request("_e1", "http://evil.test/acs", false)),
        None,
    )
    .await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST, "{}", evil.body);
    assert!(
        evil.body.contains("AssertionConsumerServiceURL `http://evil.test/acs`, which is not registered for this app")
            && evil.body.contains("(index 4)"),
        "{}",
        evil.body
    );
    assert!(!evil.body.contains("SAMLResponse"));
    let nine = request("_e2", ACS, false).replace(
        &format!(
            " AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{}\"",
            ACS.replace('&', "&amp;"),
            fakta::saml::ns::BINDING_POST
        ),
        " AssertionConsumerServiceIndex=\"9\"",
    );
    let a = get(&st, &redirect_uri(&nine), None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body
            .contains("AssertionConsumerServiceIndex `9`, which names no URL of this app"),
        "{}",
        a.body
    );
    // Without `other_sso_urls` the other URL is refused like any unregistered one.
    let plain = state(example());
    let a = get(
        &plain,
        &redirect_uri(&request("_e3", OTHER_ACS, false)),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}

/// The NameID issued to `user` with `name_id` set to `spec`.
async fn name_id(spec: &str, user: &str) -> String {
    let yaml = std::fs::read_to_string(EXAMPLE).expect("example").replacen(
        "    name_id: { format: unspecified, value: user.email }",
        &format!("    name_id: {spec}"),
        1,
    );
    let st = state(connection(&yaml, Path::new(".")));
    text_of(&idp_initiated_response(&st, user).await, "NameID")
}

#[tokio::test]
async fn the_application_username_choices_give_the_name_id() {
    assert_eq!(
        name_id("{ value: okta_username }", "00u1alice").await,
        "alice@acme.test",
        "the login defaults to the email"
    );
    assert_eq!(
        name_id("{ value: email }", "00u1alice").await,
        "alice@acme.test"
    );
    assert_eq!(
        name_id("{ value: email_prefix }", "00u1alice").await,
        "alice"
    );
    assert_eq!(
        name_id("{ value: user.id }", "00u1alice").await,
        "00u1alice"
    );
    assert_eq!(
        name_id(
            "{ value: custom, expression: \"${user.id}:${user.department}/x\" }",
            "00u5obrien"
        )
        .await,
        "00u5obrien:R&D/x"
    );
    // A user without a field the template reads gets the email, as a missing field does.
    assert_eq!(
        name_id(
            "{ value: custom, expression: \"${user.id}:${user.department}/x\" }",
            "00u1alice"
        )
        .await,
        "alice@acme.test"
    );
}
