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
