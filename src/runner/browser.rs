//! The runner's browser: a fresh cookie jar per trial, redirects followed one hop at a time and
//! recorded, auto-submitting forms (SAML POST binding, OIDC form_post) read with scraper and
//! submitted, and fakta's login page filled in as a person would: by pressing the button of the
//! user to sign in as, or typing the login when the user is not listed.

use std::sync::Arc;

use reqwest::cookie::Jar;
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, HeaderMap, HeaderValue, USER_AGENT};
use scraper::{Html, Selector};

use super::fetch::{self, FetchError};

/// Most hops one navigation may take.
pub const MAX_HOPS: usize = 25;
/// Largest page read: a longer answer is an error (the SP is sending more than any login page
/// needs), found while it streams in.
pub const MAX_PAGE_BYTES: usize = fetch::MAX_BODY_BYTES;

/// One request the browser made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub method: &'static str,
    pub url: String,
    pub status: u16,
    /// The names of the form fields a POST carried (the values are in `Browser::seen` when
    /// they are SAML messages).
    pub posted: Vec<String>,
    /// The cookies the answer set, as `name=value` (attributes left out).
    pub set_cookies: Vec<String>,
}

/// A form's fields, in order.
pub type Form = Vec<(String, String)>;

/// Where a navigation stopped: at its last page, or before a request to one of the endpoints
/// it was told to stop at (the request not made).
#[derive(Debug, Clone)]
pub enum Navigation {
    Arrived(Page),
    Stopped {
        url: String,
        form: Option<Vec<(String, String)>>,
        /// The page that led there (a redirect or an auto-submitting form), if any.
        last: Option<Page>,
    },
}

/// A change the runner makes to the next request to one of `endpoints` (same scheme, host,
/// port and path), once: each parameter of `set` (query or form field) replaced by its value,
/// or removed when that is `None`, added when absent.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub endpoints: Vec<url::Url>,
    pub set: Vec<(String, Option<String>)>,
}

/// Whether `url` is the endpoint `e`: same scheme, host, port and path (the query aside).
pub fn same_endpoint(url: &str, e: &url::Url) -> bool {
    url::Url::parse(url).is_ok_and(|a| {
        a.scheme() == e.scheme()
            && a.host_str() == e.host_str()
            && a.port_or_known_default() == e.port_or_known_default()
            && a.path() == e.path()
    })
}

impl Rewrite {
    /// The request rewritten, when it goes to one of the endpoints.
    pub fn apply(
        &self,
        url: &str,
        form: Option<&[(String, String)]>,
    ) -> Option<(String, Option<Form>)> {
        if !self.endpoints.iter().any(|e| same_endpoint(url, e)) {
            return None;
        }
        let edit = |pairs: Vec<(String, String)>| {
            let mut out: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| !self.set.iter().any(|(n, _)| n == k))
                .collect();
            for (k, v) in &self.set {
                if let Some(v) = v {
                    out.push((k.clone(), v.clone()));
                }
            }
            out
        };
        match form {
            Some(f) => Some((url.to_owned(), Some(edit(f.to_vec())))),
            None => {
                let mut u = url::Url::parse(url).ok()?;
                let pairs = edit(u.query_pairs().into_owned().collect());
                u.query_pairs_mut().clear().extend_pairs(pairs);
                Some((u.to_string(), None))
            }
        }
    }
}

/// A SAML message or token seen on the way (decoded), for transcripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub what: &'static str,
    pub text: String,
}

/// Where a navigation ended.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("more than {MAX_HOPS} hops starting at {0}")]
    TooManyHops(String),
    #[error("bad redirect from {from}: {reason}")]
    BadRedirect { from: String, reason: String },
}

#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    /// The last form carrying a SAMLResponse that this browser posted: (action, fields).
    pub last_saml_post: Option<(String, Vec<(String, String)>)>,
    pub hops: Vec<Hop>,
    pub seen: Vec<Seen>,
    /// A change to make to the next matching request (taken when made).
    pub rewrite: Option<Rewrite>,
    /// The request the rewrite changed (method and endpoint, no values), once made.
    pub rewritten: Option<String>,
    /// Endpoints [`Browser::navigate`] never requests (another site the runner pointed the SP
    /// at): it stops before them, at the page that led there.
    pub stop_at: Vec<url::Url>,
    /// The URL a navigation stopped before, if one did.
    pub stopped: Option<String>,
}

impl Browser {
    /// A browser with an empty jar; `trial` is carried to the IdP in the `fakta_trial` cookie.
    pub fn new(idp_base: &str, trial: &str) -> Result<Browser, BrowseError> {
        let jar = Arc::new(Jar::default());
        if let Ok(url) = reqwest::Url::parse(idp_base) {
            jar.add_cookie_str(
                &format!("{}={trial}; Path=/", crate::idp::TRIAL_COOKIE),
                &url,
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
        );
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("en-US,en;q=0.5"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) fakta-runner/0.1"),
        );
        let client = fetch::client_builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .map_err(|e| FetchError::Failed {
                method: "GET",
                url: idp_base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Browser {
            client,
            jar,
            last_saml_post: None,
            hops: Vec::new(),
            seen: Vec::new(),
            rewrite: None,
            rewritten: None,
            stop_at: Vec::new(),
            stopped: None,
        })
    }

    async fn send(
        &mut self,
        method: &'static str,
        url: &str,
        form: Option<&[(String, String)]>,
    ) -> Result<Page, BrowseError> {
        let req = match form {
            Some(f) => self.client.post(url).form(f),
            None => self.client.get(url),
        };
        let (status, headers, bytes) = fetch::send(method, url, req, MAX_PAGE_BYTES).await?;
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let set_cookies = headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .map(|c| c.trim().to_owned())
            .collect();
        self.hops.push(Hop {
            method,
            url: url.to_owned(),
            status,
            posted: form
                .map(|f| f.iter().map(|(k, _)| k.clone()).collect())
                .unwrap_or_default(),
            set_cookies,
        });
        Ok(Page {
            url: url.to_owned(),
            status,
            headers,
            body,
        })
    }

    /// The value of a cookie the jar would send to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let u = reqwest::Url::parse(url).ok()?;
        let header = self.jar.cookies(&u)?;
        header.to_str().ok()?.split(';').find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    /// Adds a cookie (`name=value`) to the jar for `url`, as if that site had set it.
    pub fn add_cookie(&self, url: &str, cookie: &str) {
        if let Ok(u) = reqwest::Url::parse(url) {
            self.jar.add_cookie_str(&format!("{cookie}; Path=/"), &u);
        }
    }

    /// POSTs a form once (no redirect followed).
    pub async fn post_form(
        &mut self,
        url: &str,
        fields: &[(String, String)],
    ) -> Result<Page, BrowseError> {
        self.send("POST", url, Some(fields)).await
    }

    /// A plain GET, no redirects followed.
    pub async fn get(&mut self, url: &str) -> Result<Page, BrowseError> {
        self.send("GET", url, None).await
    }

    /// Goes to `url` and on as a browser would, signing in as `login` when fakta's login page
    /// appears. Ends at the first page that neither redirects nor submits itself.
    /// Stops before an endpoint of `stop_at`, at the page that led there (noted in `stopped`).
    pub async fn navigate(&mut self, url: &str, login: &str) -> Result<Page, BrowseError> {
        let stop = self.stop_at.clone();
        match self
            .navigate_from((url.to_owned(), None), login, &stop)
            .await?
        {
            Navigation::Arrived(p) => Ok(p),
            Navigation::Stopped { url, last, .. } => {
                self.stopped = Some(url.clone());
                last.ok_or(BrowseError::BadRedirect {
                    from: url,
                    reason: "a navigation may not start at an endpoint it must stop before".into(),
                })
            }
        }
    }

    /// As [`Browser::navigate`], but stops before requesting one of `stop` (same endpoint).
    pub async fn navigate_until(
        &mut self,
        url: &str,
        login: &str,
        stop: &[url::Url],
    ) -> Result<Navigation, BrowseError> {
        self.navigate_from((url.to_owned(), None), login, stop)
            .await
    }

    /// Submits a form as a page's script would (`fields` POSTed to `action`), then goes on as
    /// [`Browser::navigate`] does.
    pub async fn navigate_form(
        &mut self,
        action: &str,
        fields: Vec<(String, String)>,
        login: &str,
    ) -> Result<Page, BrowseError> {
        for (k, v) in &fields {
            self.note_field(k, v);
        }
        match self
            .navigate_from((action.to_owned(), Some(fields)), login, &[])
            .await?
        {
            Navigation::Arrived(p) => Ok(p),
            Navigation::Stopped { url, .. } => Err(BrowseError::TooManyHops(url)),
        }
    }

    async fn navigate_from(
        &mut self,
        start: (String, Option<Vec<(String, String)>>),
        login: &str,
        stop: &[url::Url],
    ) -> Result<Navigation, BrowseError> {
        let url = start.0.clone();
        let mut next = start;
        let mut last: Option<Page> = None;
        for _ in 0..MAX_HOPS {
            let (mut url, mut form) = next;
            if stop.iter().any(|e| same_endpoint(&url, e)) {
                return Ok(Navigation::Stopped { url, form, last });
            }
            if let Some(rw) = &self.rewrite {
                if let Some((u, f)) = rw.apply(&url, form.as_deref()) {
                    let endpoint = url.split(['?', '#']).next().unwrap_or_default();
                    let method = if f.is_some() { "POST" } else { "GET" };
                    self.rewritten = Some(format!("{method} {endpoint}"));
                    self.rewrite = None;
                    (url, form) = (u, f);
                }
            }
            self.note_url(&url);
            let method = if form.is_some() { "POST" } else { "GET" };
            let page = self.send(method, &url, form.as_deref()).await?;
            if (300..400).contains(&page.status) {
                let loc = page
                    .headers
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| BrowseError::BadRedirect {
                        from: url.clone(),
                        reason: "no Location header".into(),
                    })?;
                let to = reqwest::Url::parse(&url)
                    .and_then(|u| u.join(loc))
                    .map_err(|e| BrowseError::BadRedirect {
                        from: url.clone(),
                        reason: e.to_string(),
                    })?;
                next = (to.to_string(), None);
                last = Some(page);
                continue;
            }
            match self.next_form(&page, login) {
                Some((action, fields)) => {
                    for (k, v) in &fields {
                        self.note_field(k, v);
                    }
                    if fields.iter().any(|(k, _)| k == "SAMLResponse") {
                        self.last_saml_post = Some((action.clone(), fields.clone()));
                    }
                    next = (action, Some(fields));
                    last = Some(page);
                }
                None => return Ok(Navigation::Arrived(page)),
            }
        }
        Err(BrowseError::TooManyHops(url.to_owned()))
    }

    /// The form a person (or the page's own script) would submit next, if any.
    fn next_form(&self, page: &Page, login: &str) -> Option<(String, Vec<(String, String)>)> {
        if !page.body.contains("<form") {
            return None;
        }
        let doc = Html::parse_document(&page.body);
        let sel = |s: &str| Selector::parse(s).ok();
        let base = reqwest::Url::parse(&page.url).ok()?;
        let action_of = |form: &scraper::ElementRef<'_>| {
            let a = form.value().attr("action").unwrap_or("");
            base.join(a).ok().map(|u| u.to_string())
        };
        let hidden = |form: &scraper::ElementRef<'_>| -> Vec<(String, String)> {
            let input = sel("input[type=hidden]");
            input
                .map(|s| {
                    form.select(&s)
                        .filter_map(|i| {
                            Some((
                                i.value().attr("name")?.to_owned(),
                                i.value().attr("value").unwrap_or("").to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        // fakta's login page: press the user's button, or type the login.
        if let Some(pick) = sel("form#pick-user").and_then(|s| doc.select(&s).next()) {
            let button = sel("button[name=username]")?;
            let listed = pick
                .select(&button)
                .any(|b| b.value().attr("value") == Some(login));
            let form = if listed {
                pick
            } else {
                sel("form#type-user").and_then(|s| doc.select(&s).next())?
            };
            let mut fields = hidden(&form);
            fields.push(("username".into(), login.to_owned()));
            if !listed {
                fields.push(("password".into(), "fakta".into()));
            }
            return Some((action_of(&form)?, fields));
        }
        // An auto-submitting page (SAML HTTP-POST binding, OAuth form_post).
        let body = sel("body")?;
        let autosubmit = doc
            .select(&body)
            .next()
            .and_then(|b| b.value().attr("onload"))
            .is_some_and(|o| o.contains("submit()"));
        if autosubmit {
            let form = sel("form").and_then(|s| doc.select(&s).next())?;
            if form
                .value()
                .attr("method")
                .is_some_and(|m| m.eq_ignore_ascii_case("post"))
            {
                return Some((action_of(&form)?, hidden(&form)));
            }
        }
        None
    }

    /// Keeps a decoded copy of SAML messages carried in URLs.
    pub(crate) fn note_url(&mut self, url: &str) {
        if let Ok(u) = reqwest::Url::parse(url) {
            for (k, v) in u.query_pairs() {
                if k == "SAMLRequest" || k == "SAMLResponse" {
                    if let Ok(xml) = crate::saml::binding::decode_redirect(&v) {
                        self.seen.push(Seen {
                            what: if k == "SAMLRequest" {
                                "SAMLRequest (HTTP-Redirect)"
                            } else {
                                "SAMLResponse (HTTP-Redirect)"
                            },
                            text: xml,
                        });
                    }
                }
            }
        }
    }

    pub(crate) fn note_field(&mut self, k: &str, v: &str) {
        if k == "SAMLResponse" || k == "SAMLRequest" {
            if let Ok(xml) = crate::saml::binding::decode_post(v) {
                self.seen.push(Seen {
                    what: if k == "SAMLResponse" {
                        "SAMLResponse (HTTP-POST)"
                    } else {
                        "SAMLRequest (HTTP-POST)"
                    },
                    text: xml,
                });
            }
        }
    }
}
