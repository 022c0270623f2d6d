//! Other IdPs' shapes (`idp.flavor`) end to end: `fakta test` on each shipped flavor file
//! (scenarios/entra-saml.yaml, entra-oidc.yaml, keycloak-oidc.yaml, keycloak-saml.yaml,
//! google-oidc.yaml, auth0-oidc.yaml, auth0-saml.yaml) against the reference SP configured for that flavor,
//! started by the file's `target.start` as a user runs it (the demo runs the same files in
//! process: tests/runner.rs): the role matrix and the flavor trials pass; each flavor flaw fails
//! exactly its trial; each vendor's SAML URLs are served; and the published documents parse
//! with independent libraries (Authlib's OpenIDProviderMetadata, pysaml2's MetadataStore,
//! through tests/interop/flavor_documents.py).
//!
//! python3, Authlib or pysaml2 missing is a failure, not a skip: run `scripts/setup-deps`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{failed_trials, python, trial_verdicts};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PACKS: [&str; 7] = [
    "entra-saml",
    "entra-oidc",
    "keycloak-oidc",
    "keycloak-saml",
    "google-oidc",
    "auth0-oidc",
    "auth0-saml",
];

fn run(pack: &str, flaw: Option<&str>) -> (i32, String, String) {
    common::shipped_pack_run(pack, |_| {}, |yaml| yaml, flaw, "")
}

#[test]
fn every_flavor_file_passes_against_the_reference_sp_configured_for_it() {
    for pack in PACKS {
        let (code, out, err) = run(pack, None);
        assert_eq!(code, 0, "{pack}:\n{out}\n{err}");
        let verdicts = trial_verdicts(&out);
        let names: BTreeSet<&str> = verdicts.iter().map(|(n, _)| n.as_str()).collect();
        // A Google or Auth0 user's username is their email in these files: F3 has no one to
        // sign in, and says so; everything else is ok.
        let f3 = format!("{pack}::F3_email_from_the_email_claim");
        let username_is_email = pack == "google-oidc" || pack.starts_with("auth0");
        for (name, verdict) in &verdicts {
            if username_is_email && *name == f3 {
                assert!(
                    verdict.starts_with("ignored (no user of the directory has a login"),
                    "{name}: {verdict}\n{out}"
                );
            } else {
                assert_eq!(verdict, "ok", "{name} is not ok:\n{out}");
            }
        }
        // The role matrix ran with the flavor's group shapes, and so did the flavor trials.
        // Google's id_token carries no groups: its file maps none, and the matrix checks that
        // every user gets the default role.
        let matrix: &[&str] = if pack == "google-oidc" {
            &["L0_honest_login", "R2_no_mapping"]
        } else {
            &[
                "L0_honest_login",
                "R1_admin_from_Qovery_Admins",
                "R4_precedence",
            ]
        };
        for t in matrix {
            assert!(
                names.contains(format!("{pack}::{t}").as_str()),
                "{pack}: no {t}:\n{out}"
            );
        }
        assert!(
            names.contains(format!("{pack}::F3_email_from_the_email_claim").as_str()),
            "{pack}: no F3:\n{out}"
        );
        let f2 = format!("{pack}::F2_group_path_maps_like_its_name_admin");
        assert_eq!(
            names.contains(f2.as_str()),
            pack.starts_with("keycloak"),
            "{pack}: F2 is Keycloak's:\n{out}"
        );
        let f1 = format!("{pack}::F1_overage_admin_fetched_or_refused");
        if pack.starts_with("entra") {
            assert!(names.contains(f1.as_str()), "{pack}: no F1:\n{out}");
        } else {
            // Keycloak has no overage: no F1.
            assert!(!names.contains(f1.as_str()), "{pack}:\n{out}");
        }
        // The SAML SP has no Graph credentials and refuses the overage; the OIDC SP fetches
        // the groups with its access token and gives the mapped role.
        let refused = out.contains(&format!("{f1}: the SP refused the login (allowed)"));
        assert_eq!(refused, pack == "entra-saml", "{pack}:\n{out}");
    }
}

#[test]
fn each_flavor_flaw_fails_exactly_its_trial() {
    for (pack, flaw, want) in [
        (
            "entra-saml",
            "overage-as-no-groups",
            vec!["F1_overage_admin_fetched_or_refused"],
        ),
        (
            "entra-oidc",
            "overage-as-no-groups",
            vec!["F1_overage_admin_fetched_or_refused"],
        ),
        (
            "entra-saml",
            "email-from-username",
            vec!["F3_email_from_the_email_claim"],
        ),
        (
            "entra-oidc",
            "email-from-username",
            vec!["F3_email_from_the_email_claim"],
        ),
        (
            "keycloak-oidc",
            "email-from-username",
            vec!["F3_email_from_the_email_claim"],
        ),
        (
            "keycloak-oidc",
            "exact-group-path",
            vec!["F2_group_path_maps_like_its_name_admin"],
        ),
        (
            "keycloak-saml",
            "email-from-username",
            vec!["F3_email_from_the_email_claim"],
        ),
        (
            "keycloak-saml",
            "exact-group-path",
            vec!["F2_group_path_maps_like_its_name_admin"],
        ),
        // The role matrix means something under the flavor: an SP that ignores the groups
        // (sent as object ids) fails the mapped roles, as with Okta. (F1 passes: this SAML SP
        // refuses the overage before it looks at roles.)
        (
            "entra-saml",
            "ignore-groups",
            vec![
                "L0_honest_login",
                "L0_idp_initiated_login",
                "R1_admin_from_Qovery_Admins",
                "R1_devops_from_Qovery_DevOps",
                "R4_precedence",
                "R5_group_removed_then_login_again",
            ],
        ),
        // Auth0: the groups come in the namespaced claim the file names; an SP that ignores
        // them fails the mapped roles.
        (
            "auth0-oidc",
            "ignore-groups",
            vec![
                "L0_honest_login",
                "R1_admin_from_Qovery_Admins",
                "R1_devops_from_Qovery_DevOps",
                "R4_precedence",
                "R5_group_removed_then_login_again",
            ],
        ),
        // Auth0's SAML add-on: the groups in the attribute the file names, the same.
        (
            "auth0-saml",
            "ignore-groups",
            vec![
                "L0_honest_login",
                "L0_idp_initiated_login",
                "R1_admin_from_Qovery_Admins",
                "R1_devops_from_Qovery_DevOps",
                "R4_precedence",
                "R5_group_removed_then_login_again",
            ],
        ),
    ] {
        let (code, out, err) = run(pack, Some(flaw));
        assert_eq!(code, 101, "{pack} {flaw}:\n{out}\n{err}");
        let got: BTreeSet<&str> = failed_trials(&out).into_iter().collect();
        let want: BTreeSet<String> = want.iter().map(|t| format!("{pack}::{t}")).collect();
        let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{pack} {flaw}:\n{out}");
        // Caught for the SP's doing: the role or email it shows, not a transport or setup.
        assert!(out.contains("kind: wrong-outcome"), "{pack} {flaw}:\n{out}");
        for kind in ["kind: transport", "kind: setup", "kind: cannot-judge"] {
            assert!(!out.contains(kind), "{pack} {flaw}:\n{out}");
        }
    }
}

/// What `fakta export` publishes for a shipped file.
fn export(pack: &str, dir: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fakta"))
        .arg("--certs")
        .arg(dir.join("certs"))
        .arg("export")
        .arg(Path::new(ROOT).join(format!("scenarios/{pack}.yaml")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tests/interop/flavor_documents.py KIND FILE`, as JSON.
fn read_with_python(kind: &str, file: &Path) -> Value {
    let script = Path::new(ROOT).join("tests/interop/flavor_documents.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .arg(kind)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python: {e}; {}", common::SETUP_HINT));
    assert!(
        out.status.success(),
        "{kind} {}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        common::SETUP_HINT
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_flavor_discovery_and_metadata_parse_with_independent_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "8f1d5c3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f";
    for (pack, issuer, token) in [
        (
            "entra-oidc",
            format!("http://127.0.0.1:7000/{tenant}/v2.0"),
            format!("http://127.0.0.1:7000/{tenant}/oauth2/v2.0/token"),
        ),
        (
            "keycloak-oidc",
            "http://127.0.0.1:7000/realms/acme".to_owned(),
            "http://127.0.0.1:7000/realms/acme/protocol/openid-connect/token".to_owned(),
        ),
        (
            "google-oidc",
            "http://127.0.0.1:7000".to_owned(),
            "http://127.0.0.1:7000/token".to_owned(),
        ),
        (
            "auth0-oidc",
            "http://127.0.0.1:7000/".to_owned(),
            "http://127.0.0.1:7000/oauth/token".to_owned(),
        ),
    ] {
        let file = dir.path().join(format!("{pack}.json"));
        std::fs::write(&file, export(pack, dir.path())).unwrap();
        let read = read_with_python("discovery", &file);
        assert_eq!(read["issuer"], issuer.as_str(), "{pack}: {read}");
        assert_eq!(read["token_endpoint"], token.as_str(), "{pack}: {read}");
        // Google has no RP-initiated logout; Auth0's is /oidc/logout.
        let end_session = match pack {
            "google-oidc" => Value::Null,
            "auth0-oidc" => Value::from("http://127.0.0.1:7000/oidc/logout"),
            _ => read["end_session_endpoint"].clone(),
        };
        assert_eq!(read["end_session_endpoint"], end_session, "{pack}: {read}");
    }
    // Each vendor's SAML layout, as pysaml2 reads the metadata: Entra's tenant-wide
    // `/{tenant}/saml2` with the HTTP-Redirect binding only, a Keycloak realm's
    // `/protocol/saml` with both, an Auth0 application's `/samlp/{client_id}` with both.
    let entra_endpoint = format!("http://127.0.0.1:7000/{tenant}/saml2");
    let realm_endpoint = "http://127.0.0.1:7000/realms/acme/protocol/saml".to_owned();
    for (pack, entity_id, redirect, post) in [
        (
            "entra-saml",
            format!("https://sts.windows.net/{tenant}/"),
            vec![entra_endpoint.clone()],
            vec![],
        ),
        (
            "keycloak-saml",
            "http://127.0.0.1:7000/realms/acme".to_owned(),
            vec![realm_endpoint.clone()],
            vec![realm_endpoint.clone()],
        ),
        (
            "auth0-saml",
            // The add-on's entity id is not verified: Okta's stays (src/flavor/auth0.rs).
            "http://www.okta.com/qovery".to_owned(),
            vec!["http://127.0.0.1:7000/samlp/qovery".to_owned()],
            vec!["http://127.0.0.1:7000/samlp/qovery".to_owned()],
        ),
    ] {
        let file = dir.path().join(format!("{pack}.xml"));
        std::fs::write(&file, export(pack, dir.path())).unwrap();
        let read = read_with_python("saml-metadata", &file);
        let idps = read["idps"].as_object().unwrap();
        assert_eq!(idps.keys().collect::<Vec<_>>(), [&entity_id], "{read}");
        let services = &idps[&entity_id];
        assert_eq!(
            services["sso_redirect"],
            serde_json::json!(redirect),
            "{read}"
        );
        assert_eq!(services["sso_post"], serde_json::json!(post), "{read}");
    }
}

/// Each vendor's SAML URLs are served on fakta's base URL: the metadata at the vendor's path
/// (Entra's with `?appid=`), a login through the tenant-wide endpoint (the app told by the
/// request's Issuer), and Keycloak's IdP-initiated URL; Okta's per-app URLs stay for Okta.
#[tokio::test]
async fn each_vendor_serves_its_saml_urls() {
    let tenant = "8f1d5c3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f";
    let entra = common::state(shipped("entra-saml"));
    let md = common::get(
        &entra,
        &format!("/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=qovery"),
        None,
    )
    .await;
    assert_eq!(md.status.as_u16(), 200, "{}", md.body);
    assert!(
        md.body.contains(&format!(
            "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"http://127.0.0.1:7000/{tenant}/saml2\"/>"
        )),
        "{}",
        md.body
    );
    assert!(!md.body.contains("HTTP-POST"), "{}", md.body);
    let unknown = common::get(
        &entra,
        &format!("/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=nope"),
        None,
    )
    .await;
    assert_eq!(unknown.status.as_u16(), 404, "{}", unknown.body);

    let keycloak = common::state(shipped("keycloak-saml"));
    let md = common::get(&keycloak, "/realms/acme/protocol/saml/descriptor", None).await;
    assert_eq!(md.status.as_u16(), 200, "{}", md.body);
    assert!(
        md.body
            .contains("entityID=\"http://127.0.0.1:7000/realms/acme\""),
        "{}",
        md.body
    );
    // The IdP-initiated URL answers with a Response from the realm.
    let launched = common::get(&keycloak, "/realms/acme/protocol/saml/clients/qovery", None).await;
    assert!(
        launched.status.is_success() || launched.status.is_redirection(),
        "{}: {}",
        launched.status,
        launched.body
    );
    // An AuthnRequest from an SP entity id no app has is refused, naming it.
    let req = fakta::saml::authn_request::build(
        "id-unknown-sp",
        "2026-01-01T00:00:00Z",
        "urn:someone:else",
        "http://127.0.0.1:7000/realms/acme/protocol/saml",
        "http://127.0.0.1:7100/acs",
        false,
    );
    let query = |xml: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLRequest", &fakta::saml::binding::encode_redirect(xml))
            .finish()
    };
    let refused = common::get(
        &keycloak,
        &format!("/realms/acme/protocol/saml?{}", query(&req)),
        None,
    )
    .await;
    assert_eq!(refused.status.as_u16(), 404, "{}", refused.body);
    assert!(
        refused.body.contains("urn:someone:else"),
        "{}",
        refused.body
    );
    // The client's own request goes through: a Response from the realm to its ACS URL.
    let req = fakta::saml::authn_request::build(
        "id-keycloak-client",
        "2026-01-01T00:00:00Z",
        "urn:auth0:qovery:acme",
        "http://127.0.0.1:7000/realms/acme/protocol/saml",
        "http://127.0.0.1:7100/login/callback?connection=acme",
        false,
    );
    let start = common::get(
        &keycloak,
        &format!("/realms/acme/protocol/saml?{}", query(&req)),
        None,
    )
    .await;
    let done = common::pick_user(&keycloak, &start, "dora").await;
    assert_eq!(done.status.as_u16(), 200, "{}", done.body);
    let xml = done.saml_response();
    assert!(xml.contains("InResponseTo=\"id-keycloak-client\""), "{xml}");
    assert!(
        xml.contains(">http://127.0.0.1:7000/realms/acme</saml2:Issuer>"),
        "{xml}"
    );
    assert!(xml.contains(">Qovery-DevOps<"), "{xml}");
    // Auth0: an application's metadata, SSO and SLO under /samlp, by its client id.
    let auth0 = common::state(shipped("auth0-saml"));
    let md = common::get(&auth0, "/samlp/metadata/qovery", None).await;
    assert_eq!(md.status.as_u16(), 200, "{}", md.body);
    for binding in ["HTTP-POST", "HTTP-Redirect"] {
        assert!(
            md.body.contains(&format!(
                "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{binding}\" Location=\"http://127.0.0.1:7000/samlp/qovery\"/>"
            )),
            "{}",
            md.body
        );
    }
    let unknown = common::get(&auth0, "/samlp/metadata/nope", None).await;
    assert_eq!(unknown.status.as_u16(), 404, "{}", unknown.body);
    let req = fakta::saml::authn_request::build(
        "id-auth0-client",
        "2026-01-01T00:00:00Z",
        "urn:auth0:qovery:acme",
        "http://127.0.0.1:7000/samlp/qovery",
        "http://127.0.0.1:7100/login/callback?connection=acme",
        false,
    );
    let start = common::get(&auth0, &format!("/samlp/qovery?{}", query(&req)), None).await;
    let done = common::pick_user(&auth0, &start, "dora@acme.test").await;
    assert_eq!(done.status.as_u16(), 200, "{}", done.body);
    let xml = done.saml_response();
    assert!(xml.contains("InResponseTo=\"id-auth0-client\""), "{xml}");
    // The user id as the NameID, the add-on's claim URIs as attribute names.
    assert!(
        xml.contains("nameid-format:unspecified\">auth0|6d0e2f1a5b7c4d3e8f9a0b02</saml2:NameID>"),
        "{xml}"
    );
    for name in [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "http://schemas.auth0.com/groups",
    ] {
        assert!(xml.contains(&format!("Name=\"{name}\"")), "{name}:\n{xml}");
    }
    let unknown = common::get(&auth0, &format!("/samlp/nope?{}", query(&req)), None).await;
    assert_eq!(unknown.status.as_u16(), 404, "{}", unknown.body);
    // The SLO URL is routed to the SLO handler: a GET with no message is refused as such.
    let slo = common::get(&auth0, "/samlp/qovery/logout", None).await;
    assert_eq!(slo.status.as_u16(), 400, "{}", slo.body);
    // Okta's per-app metadata URL is not the Keycloak layout's.
    let okta = common::state(common::example());
    assert_eq!(
        common::get(&okta, "/realms/acme/protocol/saml/descriptor", None)
            .await
            .status
            .as_u16(),
        404
    );
}

fn shipped(pack: &str) -> fakta::config::Connection {
    fakta::config::load_file(&Path::new(ROOT).join(format!("scenarios/{pack}.yaml")))
        .map(|(c, _)| c)
        .unwrap_or_else(|d| panic!("{pack} is invalid:\n{d}"))
}

#[tokio::test]
async fn an_entra_assertion_has_entras_issuer_claim_uris_and_group_object_ids() {
    let st = common::state(shipped("entra-saml"));
    let xml = common::idp_initiated_response(&st, "alice@acme.test").await;
    let tenant = "8f1d5c3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f";
    assert!(
        xml.contains(&format!(
            ">https://sts.windows.net/{tenant}/</saml2:Issuer>"
        )),
        "{xml}"
    );
    for name in [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "http://schemas.microsoft.com/identity/claims/objectidentifier",
        "http://schemas.microsoft.com/identity/claims/tenantid",
    ] {
        assert!(xml.contains(&format!("Name=\"{name}\"")), "{name}:\n{xml}");
    }
    // Qovery-Admins by the id the file gives it; the NameID is the UPN (alice's login).
    assert!(
        xml.contains(">5581e43f-6096-41d4-8ffa-04e560bab39d<"),
        "{xml}"
    );
    assert!(!xml.contains(">Qovery-Admins<"), "{xml}");
    // The index page and the inspector say which vendor fakta plays; an Okta file's do not.
    for path in ["/", "/fakta/inspect"] {
        let page = common::get(&st, path, None).await;
        assert!(
            page.body
                .contains("Playing <strong>Microsoft Entra ID</strong>"),
            "{path}: {}",
            page.body
        );
    }
    let okta = common::state(common::example());
    assert!(
        !common::get(&okta, "/", None)
            .await
            .body
            .contains("id=\"flavor\"")
    );
}

/// (The answer to a user's own token is what F1 shows against the OIDC reference SP: it fetches
/// the groups and gets the mapped role.)
#[tokio::test]
async fn the_entra_graph_call_wants_an_access_token_fakta_issued() {
    let st = common::state(shipped("entra-oidc"));
    let alice = "3c1a7f52-0b6e-4a51-9d3a-0f5c2e7d9a01";
    let path = format!("/v1.0/users/{alice}/memberOf");
    let none = common::get(&st, &path, None).await;
    assert_eq!(none.status.as_u16(), 401, "{}", none.body);
    assert!(
        none.body.contains("InvalidAuthenticationToken"),
        "{}",
        none.body
    );
    let unknown = common::get_bearer(&st, &path, "not-a-token").await;
    assert_eq!(unknown.status.as_u16(), 401, "{}", unknown.body);
}

/// Signs `user` in through the vendor's own authorize and token paths (client_secret_post, as
/// the shipped Google and Auth0 files say); returns the id_token's claims.
async fn id_token_through(
    st: &std::sync::Arc<fakta::idp::IdpState>,
    authorize: &str,
    token: &str,
    client_id: &str,
    user: &str,
) -> Value {
    let redirect = "http://127.0.0.1:7100/login/oidc/callback";
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ])
        .finish();
    let start = common::get(st, &format!("{authorize}?{q}"), None).await;
    let done = common::pick_user(st, &start, user).await;
    assert_eq!(done.status.as_u16(), 302, "{}", done.body);
    let back = url::Url::parse(done.location()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {back}"));
    let t = common::post_form(
        st,
        token,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("client_secret", "fakta-demo-secret-change-me"),
        ],
        None,
    )
    .await;
    assert_eq!(t.status.as_u16(), 200, "{}", t.body);
    let body: Value = serde_json::from_str(&t.body).unwrap();
    fakta::oidc::jwt::peek_claims(body["id_token"].as_str().unwrap()).unwrap()
}

/// Google: the id_token has `hd` (the file's Workspace domain) and `email_verified`, no
/// groups; the discovery document at the root is Google's, without an end_session endpoint;
/// the pages say fakta plays Google.
#[tokio::test]
async fn a_google_id_token_has_hd_and_no_groups() {
    let st = common::state(shipped("google-oidc"));
    let id = id_token_through(
        &st,
        "/o/oauth2/v2/auth",
        "/token",
        "1234567890-qovery.apps.googleusercontent.com",
        "108123456789012345601",
    )
    .await;
    assert_eq!(id["iss"], "http://127.0.0.1:7000", "{id}");
    assert_eq!(id["hd"], "acme.test", "{id}");
    assert_eq!(id["email"], "alice@acme.test", "{id}");
    assert_eq!(id["email_verified"], true, "{id}");
    assert!(id.get("groups").is_none(), "{id}");
    let doc = common::get(&st, "/.well-known/openid-configuration", None).await;
    let doc: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(
        doc["authorization_endpoint"],
        "http://127.0.0.1:7000/o/oauth2/v2/auth"
    );
    assert!(doc.get("end_session_endpoint").is_none(), "{doc}");
    for path in ["/", "/fakta/inspect"] {
        let page = common::get(&st, path, None).await;
        assert!(
            page.body
                .contains("Playing <strong>Google</strong> (domain <code>acme.test</code>)"),
            "{path}: {}",
            page.body
        );
    }
}

/// Auth0: the issuer with its trailing slash, the groups in the namespaced claim the file
/// names (and no plain `groups`), the discovery document at the root naming /oidc/logout.
#[tokio::test]
async fn an_auth0_id_token_has_the_groups_in_the_namespaced_claim() {
    let st = common::state(shipped("auth0-oidc"));
    let id = id_token_through(
        &st,
        "/authorize",
        "/oauth/token",
        "kT9xQ2vLm4Np7Rs1Uw3Yz5Ab8Cd0Ef6G",
        "auth0|6650f1a2b3c4d5e6f7a8b901",
    )
    .await;
    assert_eq!(id["iss"], "http://127.0.0.1:7000/", "{id}");
    assert_eq!(id["sub"], "auth0|6650f1a2b3c4d5e6f7a8b901", "{id}");
    assert_eq!(
        id["https://acme.test/groups"],
        serde_json::json!(["Qovery-Admins"]),
        "{id}"
    );
    assert!(id.get("groups").is_none(), "{id}");
    let doc = common::get(&st, "/.well-known/openid-configuration", None).await;
    let doc: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(doc["issuer"], "http://127.0.0.1:7000/");
    assert_eq!(
        doc["end_session_endpoint"],
        "http://127.0.0.1:7000/oidc/logout"
    );
    let page = common::get(&st, "/", None).await;
    assert!(
        page.body.contains("Playing <strong>Auth0</strong>:"),
        "{}",
        page.body
    );
}

/// SLO goes through the same tenant-wide endpoint: an Entra tenant's `/{tenant}/saml2` takes
/// the SP's LogoutRequest (its Issuer says which app) and answers at the
/// app's SLO URL; a message that is neither a request nor a logout answer is refused by name.
#[tokio::test]
async fn the_tenant_endpoint_takes_logout_requests_too() {
    let tenant = "8f1d5c3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f";
    let endpoint = format!("http://127.0.0.1:7000/{tenant}/saml2");
    // entra-saml with SLO configured for its app.
    let text = std::fs::read_to_string(Path::new(ROOT).join("scenarios/entra-saml.yaml"))
        .unwrap()
        .replace(
            "    allow_idp_initiated: true\n",
            "    allow_idp_initiated: true\n    logout: { slo_url: http://127.0.0.1:7100/saml/slo }\n",
        );
    let (conn, _) = fakta::config::load_str(&text, "entra-saml.yaml", Path::new(ROOT))
        .unwrap_or_else(|d| panic!("{d}"));
    let st = common::state(conn);
    let md = common::get(
        &st,
        &format!("/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=qovery"),
        None,
    )
    .await;
    assert!(
        md.body.contains(&format!(
            "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{endpoint}\"/>"
        )),
        "{}",
        md.body
    );
    let start = common::get(&st, "/app/acme_qovery_1/qovery/sso/saml", None).await;
    let done = common::pick_user(&st, &start, "alice@acme.test").await;
    let cookie = done.session_cookie().unwrap();
    let request = fakta::saml::logout::build(&fakta::saml::logout::LogoutRequest {
        id: "_lo-tenant".into(),
        issue_instant: common::NOW,
        issuer: "urn:auth0:qovery:acme".into(),
        destination: endpoint.clone(),
        name_id: "alice@acme.test".into(),
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
        session_index: None,
    });
    let q = fakta::saml::logout::redirect_query(&request, None, None).unwrap();
    let answer = common::get(&st, &format!("/{tenant}/saml2?{q}"), Some(&cookie)).await;
    assert_eq!(answer.status.as_u16(), 302, "{}", answer.body);
    assert!(
        answer
            .location()
            .starts_with("http://127.0.0.1:7100/saml/slo?SAMLResponse="),
        "{}",
        answer.location()
    );
    // Neither an AuthnRequest nor a logout message: refused, naming what it was.
    let odd = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLRequest",
            &fakta::saml::binding::encode_redirect(
                "<samlp:ArtifactResolve xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>",
            ),
        )
        .finish();
    let refused = common::get(&st, &format!("/{tenant}/saml2?{odd}"), None).await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
    assert!(refused.body.contains("ArtifactResolve"), "{}", refused.body);
}
