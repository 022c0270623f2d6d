//! CORS as a browser enforces it: a page of a trusted origin (listed in `idp.trusted_origins`)
//! reads discovery, the keys and the token endpoint's answer (after a preflight), a page of
//! another origin reads none of them. The results are read back from the page's JavaScript.

mod common;
#[path = "common/browser.rs"]
mod kit;

use axum::response::Html;
use fakta::browser::Page;
use kit::*;
use serde_json::{Value, json};

const FILE: &str = "
idp:
  base_url: {IDP}
  trusted_origins: [\"{TRUSTED}\"]
directory:
  users:
    - { id: 00u1alice, email: alice@acme.test, groups: [Qovery-Admins] }
apps:
  - id: spa
    protocol: oidc
    client_id: 0oa2qoveryspa
    token_endpoint_auth_method: none
    redirect_uris: [\"{TRUSTED}/callback\"]
    signing_alg: ES256
    authorization_server: default
";

/// A blank page of an origin, to run scripts from.
async fn site() -> Served {
    let (l, base) = listener().await;
    serve_router(
        l,
        base.clone(),
        axum::Router::new().route(
            "/",
            axum::routing::get(|| async { Html("<!doctype html><title>site</title><p>site</p>") }),
        ),
    )
}

/// What the page's `fetch` of discovery, the keys and the token endpoint gave: per call, the
/// status and a field of the JSON read, or the error `fetch` rejected with.
async fn calls_from(page: &Page, idp: &str) -> Value {
    let script = format!(
        r#"(async () => {{
  const read = (p, field) => p.then(async r => ({{ status: r.status, value: (await r.json())[field] }}),
                                    e => ({{ rejected: e.name + ': ' + e.message }}));
  return {{
    discovery: await read(fetch('{idp}/oauth2/default/.well-known/openid-configuration'), 'issuer'),
    keys: await read(fetch('{idp}/oauth2/default/v1/keys'), 'keys').then(r => r.value ? {{ status: r.status, value: r.value.length }} : r),
    token: await read(fetch('{idp}/oauth2/default/v1/token', {{
      method: 'POST',
      headers: {{ 'Content-Type': 'application/x-www-form-urlencoded', 'X-Okta-User-Agent-Extended': 'fakta-test' }},
      body: 'grant_type=authorization_code&code=nope&client_id=0oa2qoveryspa&redirect_uri=x&code_verifier=' + 'v'.repeat(43),
    }}), 'error'),
  }};
}})()"#
    );
    page.eval(&script).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_origin_reads_the_answers_and_another_origin_cannot() {
    let trusted = site().await;
    let untrusted = site().await;
    let idp = idp(&FILE.replace("{TRUSTED}", &trusted.base)).await;
    let browser = chromium().await;

    let mut page = browser.page().await.unwrap();
    page.goto(&format!("{}/", trusted.base)).await.unwrap();
    let got = calls_from(&page, &idp.base).await;
    assert_eq!(
        got,
        json!({
            "discovery": { "status": 200, "value": format!("{}/oauth2/default", idp.base) },
            "keys": { "status": 200, "value": 2 },
            "token": { "status": 400, "value": "invalid_grant" },
        }),
        "from the trusted origin"
    );
    // The token POST carried a header that is not CORS-safelisted (Okta's SDK header): the
    // browser asked first, and was answered.
    assert_eq!(
        idp.origins_of("OPTIONS", "/oauth2/default/v1/token"),
        [trusted.base.as_str()]
    );
    assert_eq!(
        idp.origins_of("POST", "/oauth2/default/v1/token"),
        [trusted.base.as_str()]
    );

    let mut page = browser.page().await.unwrap();
    page.goto(&format!("{}/", untrusted.base)).await.unwrap();
    let got = calls_from(&page, &idp.base).await;
    let rejected = json!({ "rejected": "TypeError: Failed to fetch" });
    assert_eq!(
        got,
        json!({ "discovery": rejected, "keys": rejected, "token": rejected }),
        "from an untrusted origin"
    );
    // The GETs reached the IdP (CORS hides answers, it does not stop simple requests); the
    // POST did not: its preflight was refused.
    assert_eq!(
        idp.origins_of("OPTIONS", "/oauth2/default/v1/token"),
        [trusted.base.clone(), untrusted.base.clone()]
    );
    assert_eq!(
        idp.origins_of("POST", "/oauth2/default/v1/token"),
        [trusted.base.as_str()]
    );
    assert_eq!(
        idp.origins_of("GET", "/oauth2/default/v1/keys"),
        [trusted.base.clone(), untrusted.base.clone()]
    );
}
