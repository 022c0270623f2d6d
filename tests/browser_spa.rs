//! The single-page app example (tests/spa/) in Chromium: oidc-client-ts logs in with PKCE in
//! the page (a click on the user's button on fakta's login page), the SPA's API checks the
//! access token against the IdP's JWKS and applies the role rules, and the page shows `email`
//! and `role` (in `#email`, `#role` and `window.session`).

mod common;
#[path = "common/browser.rs"]
mod kit;
#[path = "common/spa.rs"]
mod spa;

use fakta::browser::Page;
use kit::*;
use serde_json::json;

/// Logs `login` in through the SPA; returns `window.session`.
async fn log_in(page: &mut Page, spa: &str, idp: &str, login: &str) -> serde_json::Value {
    page.goto(&format!("{spa}/")).await.unwrap();
    page.wait_for("window.session === null").await.unwrap();
    assert!(page.text().await.unwrap().contains("Not signed in."));
    page.click("#login").await.unwrap();
    // The library reads discovery before it leaves for the IdP: wait for the login page.
    let login_page = serde_json::to_string(&format!("{idp}/login/login.htm")).unwrap();
    page.wait_for(&format!("location.href.startsWith({login_page})"))
        .await
        .unwrap();
    page.settle().await.unwrap();
    page.click(&format!("button[name=username][value='{login}']"))
        .await
        .unwrap();
    page.wait_for("window.session !== undefined").await.unwrap();
    let session = page.eval("window.session").await.unwrap();
    let error = page.eval("window.sessionError || null").await.unwrap();
    assert!(error.is_null(), "the SPA failed: {error}");
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spa_logs_in_with_pkce_and_shows_email_and_role() {
    let (l, spa_base) = listener().await;
    let idp = idp(&spa::spa_file("{IDP}", &spa_base)).await;
    let _spa = serve_router(l, spa_base.clone(), spa::router(&idp.base));
    let browser = chromium().await;

    for (login, role, shot) in [
        ("alice@acme.test", "admin", "spa-alice"),
        ("dora@acme.test", "devops", "spa-dora"),
    ] {
        let mut page = browser.page().await.unwrap();
        let session = log_in(&mut page, &spa_base, &idp.base, login).await;
        assert_eq!(session["email"], login);
        assert_eq!(session["role"], role);
        let shown = page
            .eval("[document.querySelector('#email').textContent, document.querySelector('#role').textContent]")
            .await
            .unwrap();
        assert_eq!(shown, json!([login, role]));
        assert_eq!(page.url().await.unwrap(), format!("{spa_base}/"));
        shoot(&page, shot).await;
        // The page really ran PKCE as a public client: the authorize request carried an S256
        // challenge, and the token request came from the page (the SPA's origin).
        let authorize = page
            .hops()
            .iter()
            .find(|h| h.url.contains("/oauth2/default/v1/authorize"))
            .map(|h| h.url.clone())
            .expect("an authorize hop");
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        assert!(authorize.contains("client_id=0oa2qoveryspa"), "{authorize}");
    }
    assert_eq!(
        idp.origins_of("POST", "/oauth2/default/v1/token"),
        [spa_base.clone(), spa_base.clone()]
    );
    // The API takes only what the IdP signed: a token whose signature fails is refused.
    let mut page = browser.page().await.unwrap();
    let session = log_in(&mut page, &spa_base, &idp.base, "bob@acme.test").await;
    assert_eq!(session["role"], "viewer");
    let forged = page
        .eval(
            "(async () => { const k = Object.keys(sessionStorage).find(k => k.startsWith('oidc.user:')); \
             const t = JSON.parse(sessionStorage.getItem(k)).access_token.split('.'); \
             const claims = JSON.parse(atob(t[1].replace(/-/g, '+').replace(/_/g, '/'))); \
             claims.uid = '00u1alice'; \
             t[1] = btoa(JSON.stringify(claims)).replace(/=+$/, '').replace(/\\+/g, '-').replace(/\\//g, '_'); \
             const r = await fetch('/api/me', { headers: { Authorization: 'Bearer ' + t.join('.') } }); \
             return [r.status, await r.text()]; })()",
        )
        .await
        .unwrap();
    assert_eq!(forged[0], 401, "{forged}");
    assert!(
        forged[1].as_str().unwrap().contains("signature"),
        "{forged}"
    );
}
