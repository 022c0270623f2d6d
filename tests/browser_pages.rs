//! fakta's own pages in a real browser (headless Chromium): what a person sees and can do on
//! the index page, the login page (a click, a typed login, the keyboard alone), the error pages
//! and the inspector. Each test saves screenshots under target/browser-screenshots/ for review.
//! Also what a reused tab keeps of the page before it: nothing.

mod common;
#[path = "common/browser.rs"]
mod kit;

use std::collections::HashMap;

use axum::Form;
use axum::response::Html;
use base64::Engine;
use fakta::browser::{Key, Page};
use kit::*;

const FILE: &str = "
idp:
  base_url: {IDP}
directory:
  users:
    - { id: 00u1alice, email: alice@acme.test, name: Alice Admin, groups: [App-Admins, Eng] }
    - { id: 00u2bob, email: bob@acme.test, name: Bob Builder, groups: [Eng] }
apps:
  - id: my-app
    protocol: saml
    audience: urn:test:sp
    acs_url: {ACS}/acs
    name_id: { format: email_address, value: user.email }
    allow_idp_initiated: true
";

/// A stand-in ACS: shows whose NameID the posted Response carries, as `#got`.
async fn acs(Form(form): Form<HashMap<String, String>>) -> Html<String> {
    let xml = form
        .get("SAMLResponse")
        .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let who = regex::Regex::new(r"<saml2:NameID[^>]*>([^<]*)</saml2:NameID>")
        .unwrap()
        .captures(&xml)
        .map(|c| c[1].to_owned())
        .unwrap_or_else(|| "nobody".to_owned());
    Html(format!(
        "<!doctype html><title>ACS</title><p id=\"got\">SAMLResponse for {who}</p>"
    ))
}

/// The IdP (its SAML app posting to a stand-in ACS) and the ACS.
async fn setup() -> (Idp, Served) {
    let (l, acs_base) = listener().await;
    let sp = serve_router(
        l,
        acs_base.clone(),
        axum::Router::new().route("/acs", axum::routing::post(acs)),
    );
    let idp = idp(&FILE.replace("{ACS}", &acs_base)).await;
    (idp, sp)
}

/// The IdP-initiated login's page: fakta's login page.
async fn login_page(page: &mut Page, idp: &Idp) {
    page.goto(&format!("{}/app/my-app/my-app/sso/saml", idp.base))
        .await
        .unwrap();
    let text = page.text().await.unwrap();
    assert!(text.contains("Sign in to my-app"), "{text}");
}

/// The status of the last document request to a URL starting with `prefix`.
fn status_of(page: &mut Page, prefix: &str) -> Option<u16> {
    page.hops()
        .iter()
        .rev()
        .find(|h| h.url.starts_with(prefix))
        .and_then(|h| h.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_page_shows_apps_and_users_and_its_links_work() {
    let (idp, _sp) = setup().await;
    let browser = chromium().await;
    let mut page = browser.page().await.unwrap();
    page.goto(&format!("{}/", idp.base)).await.unwrap();
    let text = page.text().await.unwrap();
    for seen in [
        "Apps",
        "Users",
        "my-app",
        "alice@acme.test",
        "Bob Builder",
        "Inspector",
    ] {
        assert!(
            text.contains(seen),
            "the index page does not show {seen:?}:\n{text}"
        );
    }
    shoot(&page, "index").await;
    // Every link on the page leads somewhere that answers 200 (followed in the page, with
    // its cookies, as a click would).
    let statuses = page
        .eval(
            "Promise.all([...document.querySelectorAll('a[href]')].map(a => \
             fetch(a.href).then(r => [a.href, r.status], e => [a.href, String(e)])))",
        )
        .await
        .unwrap();
    let statuses = statuses.as_array().unwrap();
    assert!(statuses.len() >= 4, "{statuses:?}");
    for s in statuses {
        assert_eq!(s[1], 200, "a link of the index page does not work: {s}");
    }
    // The IdP-initiated login link, clicked, opens the login page.
    page.click("a[href$='/app/my-app/my-app/sso/saml']")
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("Sign in to my-app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_logs_in_with_a_click_a_typed_login_and_the_keyboard() {
    let (idp, sp) = setup().await;
    let browser = chromium().await;

    // A click on Alice's button: the Response is posted to the ACS by the page's own form.
    let mut page = browser.page().await.unwrap();
    login_page(&mut page, &idp).await;
    shoot(&page, "login").await;
    page.click("button[name=username][value='alice@acme.test']")
        .await
        .unwrap();
    let got = page
        .wait_for("document.querySelector('#got')?.textContent")
        .await
        .unwrap();
    assert_eq!(got, "SAMLResponse for alice@acme.test");
    let hops = page.hops().to_vec();
    let post = hops
        .iter()
        .find(|h| h.url == format!("{}/acs", sp.base))
        .unwrap_or_else(|| panic!("no hop to the ACS: {hops:?}"));
    assert_eq!((post.method.as_str(), post.status), ("POST", Some(200)));
    drop(page);

    // A typed login that is not in the directory: an alert a person can read, and no session.
    let mut page = browser.page().await.unwrap();
    login_page(&mut page, &idp).await;
    page.click("input[name=username]").await.unwrap();
    page.type_text("nobody@acme.test").await.unwrap();
    page.press(Key::Enter).await.unwrap();
    let alert = page
        .wait_for("document.querySelector('[role=alert]')?.innerText")
        .await
        .unwrap();
    assert_eq!(
        alert,
        "There is no user `nobody@acme.test` in the directory."
    );
    assert_eq!(
        status_of(&mut page, &format!("{}/login/login.htm", idp.base)),
        Some(401)
    );
    shoot(&page, "login-unknown-user").await;
    // Then a login that is: Bob.
    page.eval("document.querySelector('#type-user input[name=username]').value = ''")
        .await
        .unwrap();
    page.click("#type-user input[name=username]").await.unwrap();
    page.type_text("bob@acme.test").await.unwrap();
    page.press(Key::Enter).await.unwrap();
    let got = page
        .wait_for("document.querySelector('#got')?.textContent")
        .await
        .unwrap();
    assert_eq!(got, "SAMLResponse for bob@acme.test");
    drop(page);

    // The keyboard alone: Tab to Bob's button, Enter.
    let mut page = browser.page().await.unwrap();
    login_page(&mut page, &idp).await;
    let mut reached = false;
    for _ in 0..20 {
        page.press(Key::Tab).await.unwrap();
        let focused = page
            .eval("document.activeElement && document.activeElement.value")
            .await
            .unwrap();
        if focused == "bob@acme.test" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reaches Bob's button");
    shoot(&page, "login-keyboard-focus").await;
    page.press(Key::Enter).await.unwrap();
    let got = page
        .wait_for("document.querySelector('#got')?.textContent")
        .await
        .unwrap();
    assert_eq!(got, "SAMLResponse for bob@acme.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_name_the_problem_in_words() {
    let (idp, _sp) = setup().await;
    let browser = chromium().await;
    let mut page = browser.page().await.unwrap();
    for (name, path, status, says) in [
        (
            "error-unknown-app",
            "/app/nope/sso/saml/metadata",
            404,
            "no app with id `nope` in this IdP",
        ),
        (
            "error-bad-request",
            "/oauth2/v1/authorize?response_type=code",
            400,
            "client_id",
        ),
    ] {
        let url = format!("{}{path}", idp.base);
        page.goto(&url).await.unwrap();
        assert_eq!(status_of(&mut page, &url), Some(status), "{path}");
        let text = page.text().await.unwrap();
        assert!(text.contains(says), "{path} does not say {says:?}:\n{text}");
        shoot(&page, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_lists_a_login_and_opens_its_entry() {
    let (idp, _sp) = setup().await;
    let browser = chromium().await;
    let mut page = browser.page().await.unwrap();
    login_page(&mut page, &idp).await;
    page.click("button[name=username][value='alice@acme.test']")
        .await
        .unwrap();
    page.wait_for("document.querySelector('#got')")
        .await
        .unwrap();

    page.goto(&format!("{}/fakta/inspect", idp.base))
        .await
        .unwrap();
    let text = page.text().await.unwrap();
    assert!(text.contains("newest first: 1 entries"), "{text}");
    assert!(text.contains("alice@acme.test"), "{text}");
    shoot(&page, "inspector-list").await;
    page.click("section.entry h2 a").await.unwrap();
    let url = page.url().await.unwrap();
    assert!(
        url.starts_with(&format!("{}/fakta/inspect/", idp.base)),
        "{url}"
    );
    let text = page.text().await.unwrap();
    assert!(text.contains("alice@acme.test"), "{text}");
    shoot(&page, "inspector-entry").await;
    // Its way back to the list works.
    page.goto(&format!("{}/fakta/inspect/999999", idp.base))
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("No entry 999999"));
    page.click("a[href$='/fakta/inspect']").await.unwrap();
    assert_eq!(
        page.url().await.unwrap(),
        format!("{}/fakta/inspect", idp.base)
    );
}

/// Dropping the browser kills Chromium and everything it started (its process group), and
/// removes its profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_browser_leaves_no_process() {
    let browser = chromium().await;
    assert!(
        browser.version().starts_with("Chrome/")
            || browser.version().starts_with("HeadlessChrome/"),
        "{}",
        browser.version()
    );
    let pgid = browser.pid() as i32;
    assert!(!common::process_group_gone(pgid));
    drop(browser);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !common::process_group_gone(pgid) {
        assert!(
            std::time::Instant::now() < deadline,
            "Chromium's group {pgid} outlived the drop"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What a page stored, as [local, session, cookie, IndexedDB databases, caches].
const STORED: &str = "(async () => [localStorage.length, sessionStorage.length, document.cookie, \
(await indexedDB.databases()).length, (await caches.keys()).length])()";

/// A dropped page's tab is kept for the next page only wiped: the next page, in the same
/// context, finds no cookie, no local or session storage, no IndexedDB database and no cache
/// of the origin the page before used, and no interceptor of the page before. The wipe is the
/// context's own: a page of another context (another trial) keeps what it stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_tab_keeps_nothing_of_the_page_before() {
    let (l, base) = listener().await;
    let _site = serve_router(
        l,
        base.clone(),
        axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                Html("<!doctype html><title>site</title><p>the site</p>")
            }),
        ),
    );
    let browser = chromium().await;
    let mut other = browser.page().await.unwrap();
    let mut page = browser.page().await.unwrap();
    let context = page.context_id().to_owned();
    for p in [&mut other, &mut page] {
        p.goto(&format!("{base}/")).await.unwrap();
    }
    other
        .eval("localStorage.setItem('mine', '1'); sessionStorage.setItem('mine', '1'); document.cookie = 'mine=1'")
        .await
        .unwrap();
    let stored = page
        .eval(
            "(async () => { localStorage.setItem('l', '1'); sessionStorage.setItem('s', '1'); \
document.cookie = 'c=1'; await new Promise(done => { const open = indexedDB.open('db', 1); \
open.onupgradeneeded = () => open.result.createObjectStore('o'); \
open.onsuccess = () => { open.result.close(); done(); }; }); \
await (await caches.open('c')).put('/x', new Response('y')); })()",
        )
        .await;
    assert!(stored.is_ok(), "{stored:?}");
    assert_eq!(
        page.eval(STORED).await.unwrap(),
        serde_json::json!([1, 1, "c=1", 1, 1])
    );
    page.intercept(Box::new(|_| fakta::browser::Decision::Fulfill {
        status: 200,
        html: "<p>intercepted</p>".into(),
    }))
    .await
    .unwrap();
    drop(page);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while browser.spare_pages() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tab was never kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut page = browser.page().await.unwrap();
    assert_eq!(page.context_id(), context, "the same tab, reused");
    assert!(page.hops().is_empty());
    page.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(page.text().await.unwrap(), "the site");
    assert_eq!(
        page.eval(STORED).await.unwrap(),
        serde_json::json!([0, 0, "", 0, 0])
    );
    assert_eq!(
        other
            .eval("[localStorage.length, sessionStorage.length, document.cookie]")
            .await
            .unwrap(),
        serde_json::json!([1, 1, "mine=1"]),
        "another context keeps what it stored"
    );
}

/// The renderer processes of Chromium's process group now, by process id.
fn renderers(chromium: u32) -> std::collections::BTreeSet<u32> {
    let mut found = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A process that ended meanwhile has no stat or cmdline: not counted.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pgid == Some(chromium) && String::from_utf8_lossy(&cmdline).contains("--type=renderer") {
            found.insert(pid);
        }
    }
    found
}

/// Chromium starts no renderer a trial does not need (`fakta::browser::NO_SPARE_RENDERERS`):
/// three pages in contexts of their own, each going back and forth between two loopback
/// origins (an IdP's and an SP's, one site) and submitting a form across them, use one
/// renderer each, plus at most one Chromium keeps spare. With site isolation and the omnibox
/// popup's WebUI (one renderer per context), Chromium 156 started 19 here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_cost_one_renderer_each() {
    let mut sites = Vec::new();
    for _ in 0..2 {
        let (l, base) = listener().await;
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|| async {
                    Html("<!doctype html><title>site</title><p>a page</p>")
                }),
            )
            .route(
                "/post",
                axum::routing::post(|| async {
                    Html("<!doctype html><title>posted</title><p>posted</p>")
                }),
            );
        sites.push(serve_router(l, base, app));
    }
    let (a, b) = (sites[0].base.clone(), sites[1].base.clone());
    let browser = chromium().await;
    let mut seen = renderers(browser.pid());
    let mut pages = Vec::new();
    for _ in 0..3 {
        pages.push(browser.page().await.unwrap());
    }
    for round in 0..3 {
        for page in &mut pages {
            page.goto(&format!("{a}/")).await.unwrap();
            seen.extend(renderers(browser.pid()));
            page.goto(&format!("{b}/")).await.unwrap();
            seen.extend(renderers(browser.pid()));
            // A form posted to the other origin, as a SAML Response page does.
            page.eval(&format!(
                "(() => {{ const f = document.createElement('form'); f.method = 'post'; \
f.action = '{a}/post?{round}'; document.body.append(f); f.submit(); }})()"
            ))
            .await
            .unwrap();
            page.settle().await.unwrap();
            assert_eq!(page.text().await.unwrap(), "posted");
            seen.extend(renderers(browser.pid()));
        }
    }
    assert!(
        seen.len() <= pages.len() + 1,
        "{} renderer processes for {} pages: {seen:?}",
        seen.len(),
        pages.len()
    );
}
