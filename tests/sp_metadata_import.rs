//! `apps[].sp_metadata` with a document written by an independent SAML library: pysaml2's own
//! metadata generator (tests/interop/pysaml2_sp_metadata.py, pysaml2 pinned in
//! tests/interop/requirements.txt) describes an SP with a signing certificate, an HTTP-POST ACS
//! next to an HTTP-Artifact one, Single Logout on two bindings, a persistent NameID,
//! AuthnRequestsSigned and WantAssertionsSigned. The connection file names only the metadata;
//! every value it fills is checked in the loaded model, `fakta check` is run on a file that
//! disagrees with it, and the IdP is driven through a login that must use what it says.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use fakta::config::{NameIdFormat, SignWhat, SpCertificate, SpMessage};
use fakta::keys::SigningKey;
use fakta::saml::{authn_request, binding};
use openssl::hash::MessageDigest;
use openssl::sign::Signer;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/pysaml2_sp_metadata.py"
);
const ENTITY: &str = "https://sp.pysaml2.test/metadata";
const SP_BASE: &str = "http://127.0.0.1:7100";
const SSO: &str = "/app/pysaml2/pysaml2/sso/saml";
const SSO_URL: &str = "http://127.0.0.1:7000/app/pysaml2/pysaml2/sso/saml";

/// A folder with pysaml2's metadata for a fresh SP key (sp-metadata.xml), the key's certificate
/// (sp.crt) and the key itself.
struct Sp {
    dir: tempfile::TempDir,
    key: SigningKey,
}

fn pysaml2_metadata() -> Sp {
    require_python(SCRIPT, "pysaml2", "7.5.5");
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let pem = key.pkey().private_key_to_pem_pkcs8().unwrap();
    std::fs::write(dir.path().join("sp.crt"), key.certificate.pem()).unwrap();
    std::fs::write(dir.path().join("sp.key"), pem).unwrap();
    let out = Command::new(python())
        .arg(SCRIPT)
        .args(["--entity-id", ENTITY, "--base", SP_BASE])
        .args([
            "--cert",
            "sp.crt",
            "--key",
            "sp.key",
            "--out",
            "sp-metadata.xml",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pysaml2 did not write the metadata: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Sp { dir, key }
}

/// A connection file whose one app is `app_keys` (indented under `- id: pysaml2`).
fn connection_yaml(app_keys: &str) -> String {
    format!(
        "idp:\n  base_url: http://127.0.0.1:7000\ndirectory:\n  users:\n    - {{ id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [Eng] }}\napps:\n  - id: pysaml2\n    protocol: saml\n{app_keys}"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_value_comes_from_pysaml2s_metadata() {
    let sp = pysaml2_metadata();
    let file = write(
        sp.dir.path(),
        "c.yaml",
        &connection_yaml("    sp_metadata: sp-metadata.xml\n"),
    );
    let (conn, warnings) = fakta::config::load_file(&file).unwrap_or_else(|d| panic!("{d}"));
    let app = &conn.apps[0];
    let saml = app.saml().unwrap();
    assert_eq!(saml.audience, ENTITY);
    // The HTTP-POST ACS, not the HTTP-Artifact one pysaml2 lists first.
    assert_eq!(saml.acs_url.as_str(), "http://127.0.0.1:7100/saml/acs");
    assert_eq!(
        app.logout.as_ref().map(|l| l.slo_url.as_str()),
        Some("http://127.0.0.1:7100/saml/slo")
    );
    let Some(SpCertificate::Metadata { source, x509 }) = &saml.sp_certificate else {
        panic!(
            "no certificate from the metadata: {:?}",
            saml.sp_certificate
        );
    };
    assert_eq!(source, "sp-metadata.xml");
    assert_eq!(
        x509.to_der().unwrap(),
        sp.key.certificate.x509().to_der().unwrap()
    );
    assert_eq!(
        saml.sp_signs,
        SpMessage::ALL,
        "AuthnRequestsSigned=true, and logout messages"
    );
    assert_eq!(
        saml.sign,
        SignWhat::Both,
        "WantAssertionsSigned: the assertion is signed"
    );
    assert_eq!(saml.name_id.format, NameIdFormat::Persistent);
    // The one choice the document offered is said, at the key.
    let said: Vec<String> = warnings.0.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        said,
        [format!(
            "{}:9:18: warning: apps[0].sp_metadata: the SP's metadata sp-metadata.xml lists 2 AssertionConsumerServices; the HTTP-POST one at http://127.0.0.1:7100/saml/acs is used (the first not marked isDefault=\"false\")",
            file.display()
        )]
    );
}

#[test]
fn fakta_check_reports_where_the_file_disagrees_with_the_metadata() {
    let sp = pysaml2_metadata();
    write(
        sp.dir.path(),
        "c.yaml",
        &connection_yaml(
            "    sp_metadata: sp-metadata.xml
    audience: urn:old:entity
    acs_url: http://127.0.0.1:7100/saml/acs
    sp_certificate: sp.crt
    sp_signs: [logout_requests, logout_responses]
    sign: response
    name_id: { format: email_address }
    logout: { slo_url: http://127.0.0.1:7100/logout }
target:
  app: pysaml2
  login_url: http://127.0.0.1:7100/login
  session:
    probe: http://127.0.0.1:7100/api/me
    read:
      email: { json: /email }
",
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fakta"))
        .args(["check", "c.yaml"])
        .current_dir(sp.dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Warnings only: the file's values are used.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    insta::assert_snapshot!(stdout);
}

/// A Redirect-binding query signed as SAML Bindings 3.4.4.1 says.
fn signed_query(xml: &str, key: &SigningKey) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let signed = format!(
        "SAMLRequest={}&SigAlg={}",
        enc(&binding::encode_redirect(xml)),
        enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    );
    let mut s = Signer::new(MessageDigest::sha256(), key.pkey()).unwrap();
    s.update(signed.as_bytes()).unwrap();
    format!(
        "{signed}&Signature={}",
        enc(&STANDARD.encode(s.sign_to_vec().unwrap()))
    )
}

#[tokio::test]
async fn the_idp_logs_in_with_what_the_metadata_says() {
    let sp = pysaml2_metadata();
    let yaml = connection_yaml("    sp_metadata: sp-metadata.xml\n");
    let st = state(connection(&yaml, sp.dir.path()));
    let acs = "http://127.0.0.1:7100/saml/acs";
    let request = authn_request::build(
        "_r1",
        "2026-11-28T09:00:00.000Z",
        ENTITY,
        SSO_URL,
        acs,
        false,
    );

    // AuthnRequestsSigned="true": an unsigned request is refused ...
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", &binding::encode_redirect(&request));
    let unsigned = get(&st, &format!("{SSO}?{}", q.finish()), None).await;
    assert_eq!(
        unsigned.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unsigned.body
    );

    // ... and one signed with the key whose certificate the metadata carries is answered, at
    // the metadata's ACS, for its entity id, with its NameID format.
    let start = get(
        &st,
        &format!("{SSO}?{}", signed_query(&request, &sp.key)),
        None,
    )
    .await;
    let done = pick_user(&st, &start, "00u1alice").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.form_action(), acs);
    let xml = done.saml_response();
    assert!(
        xml.contains(&format!("<saml2:Audience>{ENTITY}</saml2:Audience>")),
        "{xml}"
    );
    assert!(xml.contains(&format!("Destination=\"{acs}\"")), "{xml}");
    assert!(
        xml.contains("Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\""),
        "{xml}"
    );

    // A key the metadata does not name is refused.
    let other = SigningKey::generate().unwrap();
    let forged = get(
        &st,
        &format!("{SSO}?{}", signed_query(&request, &other)),
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);
}

/// The metadata by URL: served over plain http on loopback, it gives the same app.
#[test]
fn a_metadata_url_is_fetched() {
    let sp = pysaml2_metadata();
    let body = std::fs::read(sp.dir.path().join("sp-metadata.xml")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = listener.accept() {
            // The whole request, up to the end of its headers, before answering.
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.0 200 OK\r\nContent-Type: application/samlmetadata+xml\r\n\r\n",
            );
            let _ = s.write_all(&body);
        }
    });
    let yaml = connection_yaml(&format!(
        "    sp_metadata: http://127.0.0.1:{port}/saml/metadata\n"
    ));
    let conn = connection(&yaml, Path::new("/nonexistent"));
    let saml = conn.apps[0].saml().unwrap();
    assert_eq!(saml.audience, ENTITY);
    assert_eq!(saml.acs_url.as_str(), "http://127.0.0.1:7100/saml/acs");
}

/// `fakta init --sp-metadata`: the starter names the metadata (relative to the new file's
/// folder) and loads with everything the metadata gives; a bad document writes nothing.
#[test]
fn fakta_init_starts_from_the_sps_metadata() {
    let sp = pysaml2_metadata();
    std::fs::create_dir(sp.dir.path().join("out")).unwrap();
    let init = |meta: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_fakta"))
            .args(["init", "--sp-metadata", meta, out])
            .current_dir(sp.dir.path())
            .output()
            .unwrap()
    };
    let ok = init("sp-metadata.xml", "out/c.yaml");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let file = sp.dir.path().join("out/c.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("sp_metadata: \"../sp-metadata.xml\""),
        "{text}"
    );
    let (conn, _) = fakta::config::load_file(&file).unwrap_or_else(|d| panic!("{d}"));
    let saml = conn.apps[0].saml().unwrap();
    assert_eq!(saml.audience, ENTITY);
    assert_eq!(saml.acs_url.as_str(), "http://127.0.0.1:7100/saml/acs");
    assert_eq!(saml.name_id.format, NameIdFormat::Persistent);
    assert!(matches!(
        saml.sp_certificate,
        Some(SpCertificate::Metadata { .. })
    ));

    let bad = init("out/c.yaml", "out/d.yaml");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("the SP's metadata out/c.yaml: not well-formed XML"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(!sp.dir.path().join("out/d.yaml").exists());
}
