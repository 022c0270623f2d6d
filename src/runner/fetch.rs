//! HTTP with an SP that may be broken or hostile (a customer's staging system): every request
//! has a time limit, every answer is read in chunks and given up past a byte limit (before it
//! is held in memory, not after), and every error says which URL did what after how long.
//! Used by the browser, the back-channel logout and the revocation sender.

use std::time::Duration;

/// How long one request may take, from sending it to the last byte of its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take (an SP that accepts no connection fails sooner than one that
/// accepts and never answers).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes the runner reads of one answer (a page, a probe, a back-channel answer).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{method} {url}: no complete answer within {after:?}")]
    TimedOut {
        method: &'static str,
        url: String,
        after: Duration,
    },
    #[error(
        "{method} {url}: the server sent more than {limit} bytes (the runner reads no more of an answer)"
    )]
    TooLarge {
        method: &'static str,
        url: String,
        limit: usize,
    },
    #[error("{method} {url} failed: {reason}")]
    Failed {
        method: &'static str,
        url: String,
        reason: String,
    },
}

/// A client builder with the runner's limits (reqwest's redirect policy: the browser sets its
/// own, to follow redirects hop by hop).
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT);
    match tls_connector() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        // reqwest builds its own, and `build` says what failed.
        Err(_) => builder,
    }
}

/// The TLS set-up every client shares: the system's roots plus fakta's local CA for an https
/// IdP (`crate::tls::trust`). Made once per set of trusted CAs: reading the system's roots
/// costs milliseconds of CPU, and a run makes a client per trial (it was three quarters of a
/// demo's CPU).
fn tls_connector() -> Result<native_tls::TlsConnector, native_tls::Error> {
    static CACHE: std::sync::Mutex<Option<(u64, native_tls::TlsConnector)>> =
        std::sync::Mutex::new(None);
    let generation = crate::tls::trusted_generation();
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((made_for, tls)) = cache.as_ref() {
        if *made_for == generation {
            return Ok(tls.clone());
        }
    }
    let mut builder = native_tls::TlsConnector::builder();
    for der in crate::tls::trusted()
        .iter()
        .filter_map(|ca| ca.to_der().ok())
    {
        builder.add_root_certificate(native_tls::Certificate::from_der(&der)?);
    }
    let tls = builder.build()?;
    *cache = Some((generation, tls.clone()));
    Ok(tls)
}

/// A client with the runner's limits.
pub fn client() -> Result<reqwest::Client, FetchError> {
    client_builder().build().map_err(|e| FetchError::Failed {
        method: "-",
        url: String::new(),
        reason: chain(&e),
    })
}

/// The error and its causes in one line ("error sending request for url" alone says nothing).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The error of a request (`send` or reading its body) in words.
fn error(method: &'static str, url: &str, e: &reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        FetchError::TimedOut {
            method,
            url: url.to_owned(),
            after: timeout,
        }
    } else if e.is_connect() {
        FetchError::Failed {
            method,
            url: url.to_owned(),
            reason: format!("cannot connect: {}", chain(e)),
        }
    } else {
        FetchError::Failed {
            method,
            url: url.to_owned(),
            reason: chain(e),
        }
    }
}

/// The request being waited on, with when it was sent.
type Waiting = std::sync::Arc<std::sync::Mutex<Option<(&'static str, String, std::time::Instant)>>>;

tokio::task_local! {
    static WAITING_ON: Waiting;
}

/// What a trial's requests are doing, so that a trial stopped by its time limit can say which
/// request it was waiting on, and for how long.
#[derive(Debug, Clone, Default)]
pub struct Activity(Waiting);

impl Activity {
    /// Runs `f`, recording in this activity each request it sends until it is answered.
    pub async fn track<F: Future>(&self, f: F) -> F::Output {
        WAITING_ON.scope(self.0.clone(), f).await
    }

    /// The request waited on, if one is: `GET URL (sent 7 s ago)`.
    pub fn waiting_on(&self) -> Option<String> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(|(method, url, since)| {
            format!("{method} {url} (sent {} s ago)", since.elapsed().as_secs())
        })
    }
}

fn note_waiting(what: Option<(&'static str, &str)>) {
    let _ = WAITING_ON.try_with(|w| {
        *w.lock().unwrap_or_else(|e| e.into_inner()) =
            what.map(|(m, u)| (m, u.to_owned(), std::time::Instant::now()));
    });
}

/// Sends `req` and reads its answer within [`REQUEST_TIMEOUT`]: status, headers and at most
/// `limit` bytes of body (more is an error, noticed as soon as it arrives).
pub async fn send(
    method: &'static str,
    url: &str,
    req: reqwest::RequestBuilder,
    limit: usize,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
    send_within(method, url, req, limit, REQUEST_TIMEOUT).await
}

/// [`send`] with another time limit for the whole exchange.
pub async fn send_within(
    method: &'static str,
    url: &str,
    req: reqwest::RequestBuilder,
    limit: usize,
    timeout: Duration,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
    note_waiting(Some((method, url)));
    let answer = read(method, url, req, limit, timeout).await;
    note_waiting(None);
    answer
}

async fn read(
    method: &'static str,
    url: &str,
    req: reqwest::RequestBuilder,
    limit: usize,
    timeout: Duration,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), FetchError> {
    let error = |e: reqwest::Error| error(method, url, &e, timeout);
    let mut resp = req.timeout(timeout).send().await.map_err(error)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let too_large = || FetchError::TooLarge {
        method,
        url: url.to_owned(),
        limit,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(error)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// At most `max` characters of `text`, with a mark when cut.
pub fn at_most(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}… [cut at {max} characters]", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-connection loopback server (a plain thread) that reads the request head and then
    /// runs `answer`.
    fn server(answer: impl FnOnce(std::net::TcpStream) + Send + 'static) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/page", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            answer(s);
        });
        url
    }

    #[tokio::test]
    async fn an_endless_body_is_refused_at_the_limit_while_streaming() {
        let url = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
            // Endless, until the client goes away.
            while s.write_all(chunk.as_bytes()).is_ok() {}
        });
        let client = client().unwrap();
        let err = send("GET", &url, client.get(&url), 64 * 1024)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            FetchError::TooLarge {
                method: "GET",
                url: url.clone(),
                limit: 64 * 1024
            }
        );
        assert!(
            err.to_string().contains("sent more than 65536 bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let url = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 999999999\r\n\r\nxx");
            std::thread::sleep(Duration::from_secs(10));
        });
        let client = client().unwrap();
        let err = send("GET", &url, client.get(&url), 1024).await.unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1024, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let url = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        });
        let client = client().unwrap();
        let (status, _, body) = send("GET", &url, client.get(&url), 5).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_with_the_url_and_the_limit() {
        let url = server(|s| {
            std::thread::sleep(Duration::from_secs(10));
            drop(s);
        });
        let client = client().unwrap();
        let started = std::time::Instant::now();
        let limit = Duration::from_millis(300);
        let err = send_within("GET", &url, client.get(&url), 1024, limit)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(err, FetchError::TimedOut { after, .. } if after == limit),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("GET {url}: no complete answer within"))
        );
    }

    #[tokio::test]
    async fn an_activity_names_the_request_waited_on_and_forgets_it_when_answered() {
        let silent = server(|s| {
            std::thread::sleep(Duration::from_secs(10));
            drop(s);
        });
        let client = client().unwrap();
        let activity = Activity::default();
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            activity.track(send("GET", &silent, client.get(&silent), 1024)),
        )
        .await;
        assert!(waited.is_err(), "cut by the outer limit");
        assert_eq!(
            activity.waiting_on(),
            Some(format!("GET {silent} (sent 0 s ago)"))
        );
        let quick = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        });
        let answered = activity
            .track(send("GET", &quick, client.get(&quick), 1024))
            .await;
        assert!(answered.is_ok());
        assert_eq!(activity.waiting_on(), None);
    }

    #[test]
    fn text_is_cut_on_a_character_boundary_with_a_mark() {
        assert_eq!(at_most("héllo", 10), "héllo");
        assert_eq!(at_most("héllo", 2), "hé… [cut at 2 characters]");
    }
}
