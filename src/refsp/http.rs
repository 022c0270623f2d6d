//! The reference SP's own small HTTP client (hyper) for its back-channel calls: IdP metadata,
//! OIDC discovery, JWKS, token and userinfo requests. Timeouts and size caps on every call.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openssl::ssl::{SslConnector, SslMethod};

/// Largest answer read from the IdP.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("{method} {url} failed: {reason}")]
    Request {
        method: &'static str,
        url: String,
        reason: String,
    },
    #[error("{method} {url} took longer than {secs} s", secs = TIMEOUT.as_secs())]
    Timeout { method: &'static str, url: String },
    #[error("the answer of {url} is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge { url: String },
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub struct HttpClient {
    /// Or why TLS could not be set up (said on the first request).
    client: Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    /// Plain HTTP, and HTTPS trusting the system's roots and fakta's local CA
    /// (`crate::tls::trust`) for an https IdP.
    fn default() -> Self {
        let client = connector().map(|https| Client::builder(TokioExecutor::new()).build(https));
        HttpClient { client }
    }
}

/// The TLS connector every reference SP shares, made once per set of trusted CAs: reading the
/// system's roots costs milliseconds of CPU, and every reference SP makes a client. (Only the
/// connector is shared: a connection pool must not outlive the runtime that made it.)
fn connector() -> Result<HttpsConnector<HttpConnector>, String> {
    type Cached = Option<(u64, Result<HttpsConnector<HttpConnector>, String>)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    let generation = crate::tls::trusted_generation();
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((made_for, https)) = cache.as_ref() {
        if *made_for == generation {
            return https.clone();
        }
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = SslConnector::builder(SslMethod::tls_client())
        .and_then(|mut ssl| {
            for ca in crate::tls::trusted() {
                // Already there (the same CA twice) is fine.
                let _ = ssl.cert_store_mut().add_cert(ca);
            }
            ssl.set_alpn_protos(b"\x08http/1.1")?;
            HttpsConnector::with_connector(http, ssl)
        })
        .map_err(|e| format!("setting up TLS failed: {e}"));
    *cache = Some((generation, https.clone()));
    https
}

impl HttpClient {
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Answer, HttpError> {
        let mut b = Request::builder().method(Method::GET).uri(url);
        if let Some(t) = bearer {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send("GET", url, b, Bytes::new()).await
    }

    /// POSTs a JSON body with a Bearer token (a Graph call).
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        bearer: &str,
    ) -> Result<Answer, HttpError> {
        let b = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {bearer}"));
        self.send("POST", url, b, Bytes::from(body.to_string()))
            .await
    }

    /// POSTs a form, with `Authorization: Basic` when `basic` is given.
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Answer, HttpError> {
        use base64::Engine;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let cred = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ));
            b = b.header("authorization", format!("Basic {cred}"));
        }
        self.send("POST", url, b, Bytes::from(body)).await
    }

    async fn send(
        &self,
        method: &'static str,
        url: &str,
        builder: hyper::http::request::Builder,
        body: Bytes,
    ) -> Result<Answer, HttpError> {
        let req = builder.body(Full::new(body)).map_err(|e| HttpError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let fut = async {
            let client = self.client.as_ref().map_err(|reason| HttpError::Request {
                method,
                url: url.to_owned(),
                reason: reason.clone(),
            })?;
            let resp = client.request(req).await.map_err(|e| HttpError::Request {
                method,
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| HttpError::TooLarge {
                    url: url.to_owned(),
                })?
                .to_bytes()
                .to_vec();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .map_err(|_| HttpError::Timeout {
                method,
                url: url.to_owned(),
            })?
    }
}
