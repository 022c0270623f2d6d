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
        self.hops.push(Hop {
            method,
            url: url.to_owned(),
            status,
            posted: form
                .map(|f| f.iter().map(|(k, _)| k.clone()).collect())
                .unwrap_or_default(),
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
    pub async fn navigate(&mut self, url: &str, login: &str) -> Result<Page, BrowseError> {
        self.navigate_from((url.to_owned(), None), login).await
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
        self.navigate_from((action.to_owned(), Some(fields)), login)
            .await
    }

    async fn navigate_from(
        &mut self,
        start: (String, Option<Vec<(String, String)>>),
        login: &str,
    ) -> Result<Page, BrowseError> {
        let url = start.0.clone();
        let mut next = start;
        for _ in 0..MAX_HOPS {
            let (url, form) = next;
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
                }
                None => return Ok(page),
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
    fn note_url(&mut self, url: &str) {
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

    fn note_field(&mut self, k: &str, v: &str) {
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
