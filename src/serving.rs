//! Serving HTTP/1.1 on a listener with limits against slow and numerous clients, and a
//! graceful shutdown that ends in bounded time. The IdP (`idp::serve`), the reference SP
//! (`refsp::serve`, `Restartable::serve`) and so `fakta serve`, `fakta sp` and `fakta test`'s
//! in-process servers all go through [`serve`].
//!
//! axum's own `serve` has no header-read timeout, no connection cap, and its graceful shutdown
//! waits for every open connection, so one half-sent request head kept `fakta serve` from
//! exiting on Ctrl-C. This loop is generic over any tower service (no axum here: axum stays in
//! `idp/` and `refsp/`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{Either, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

/// What a server tolerates from its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head (request line and headers) must arrive within this, counted from when
    /// the server starts waiting for it: also how long an idle keep-alive connection stays
    /// open.
    pub header_read_timeout: Duration,
    /// A request (reading its body, the handler's work) must be answered within this; past it
    /// the client gets a 503.
    pub request_timeout: Duration,
    /// Connections served at once. Past it, a new connection gets a short 503 and is closed
    /// (so a flood of slow clients neither exhausts descriptors nor leaves other clients
    /// waiting unanswered); slow ones free their slots after `header_read_timeout`.
    pub max_connections: usize,
    /// A connection is asked to close (after its current request) once it is this old.
    pub connection_lifetime: Duration,
    /// On shutdown, open connections get this long to finish their requests; then they are
    /// dropped and [`serve`] returns.
    pub shutdown_grace: Duration,
    /// The most bytes of a request head hyper buffers (its minimum is 8 KiB).
    pub max_head_bytes: usize,
    /// Request body bytes being read at once, over all connections: a request whose body
    /// would pass it fails (400) instead of the server buffering many stalled bodies.
    pub body_bytes_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            connection_lifetime: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(5),
            max_head_bytes: 64 * 1024,
            body_bytes_in_flight: 8 << 20,
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting, lets open
/// connections finish for at most `limits.shutdown_grace` and returns.
pub async fn serve<S, B>(
    listener: tokio::net::TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request<BudgetBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_maybe_tls(listener, None, service, limits, shutdown).await
}

/// [`serve`] over TLS when `tls` is given: each connection's handshake must finish within
/// `limits.header_read_timeout` (a client that stalls it frees its slot then), and only then is
/// HTTP read from it.
pub async fn serve_maybe_tls<S, B>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<openssl::ssl::SslAcceptor>>,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request<BudgetBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let budget = Arc::new(Semaphore::new(limits.body_bytes_in_flight));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Connections being turned away (each for at most BUSY_LINGER): bounded too.
    let refusals = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Answers go out as soon as they are written: over TLS a response is several records,
        // and Nagle's algorithm held the last one for the client's delayed ACK (40 ms a request).
        let _ = stream.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _refusal = refusal;
                    turn_away(stream).await;
                });
            }
            continue;
        };
        // The request timeout covers reading the body too: the handler's extractor reads it.
        let service = {
            let service = service.clone();
            let limit = limits.request_timeout;
            let budget = budget.clone();
            hyper::service::service_fn(move |req: Request<Incoming>| {
                use tower::ServiceExt;
                let service = service.clone();
                let req = req.map(|inner| BudgetBody {
                    inner,
                    budget: budget.clone(),
                    limit: limits.body_bytes_in_flight,
                    held: None,
                });
                async move {
                    Ok::<_, Infallible>(
                        match tokio::time::timeout(limit, service.oneshot(req)).await {
                            Ok(Ok(resp)) => resp.map(Either::Left),
                            Ok(Err(never)) => match never {},
                            Err(_) => too_slow(limit),
                        },
                    )
                }
            })
        };
        let builder = builder.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = TokioIo::new(stream);
            let Some(acceptor) = tls else {
                return connection(&builder, io, service, limits, stop).await;
            };
            let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                return;
            };
            let Ok(mut tls_io) = hyper_openssl::SslStream::new(ssl, io) else {
                return;
            };
            let handshake = std::pin::Pin::new(&mut tls_io).accept();
            match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                Ok(Ok(())) => connection(&builder, tls_io, service, limits, stop).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake not finished in time; connection closed"),
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it ends: having all slots means none is open.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        limits.shutdown_grace + Duration::from_millis(100),
        slots.acquire_many(all),
    )
    .await;
    Ok(())
}

/// Serves one connection until it ends, it reaches `limits.connection_lifetime`, or the
/// server stops (then it gets `limits.shutdown_grace` to finish its request).
async fn connection<I, S, B>(
    builder: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = lifetime => {}
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
}

/// A request body whose bytes count against the server's [`Limits::body_bytes_in_flight`]
/// while it is being read (until it is dropped: once read, the handler's copy is its own).
#[derive(Debug)]
pub struct BudgetBody {
    inner: Incoming,
    budget: Arc<Semaphore>,
    /// The budget's size, for the error.
    limit: usize,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error(
        "the server is already reading {0} bytes of request bodies, its limit; retry in a moment"
    )]
    Busy(usize),
}

impl hyper::body::Body for BudgetBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        use std::task::Poll;
        let this = self.get_mut();
        let frame = match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
            match this.budget.clone().try_acquire_many_owned(n) {
                Ok(p) => match &mut this.held {
                    Some(held) => held.merge(p),
                    None => this.held = Some(p),
                },
                Err(_) => return Poll::Ready(Some(Err(BodyError::Busy(this.limit)))),
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// How long a connection turned away at the cap may take to read its 503.
const BUSY_LINGER: Duration = Duration::from_millis(250);

/// Answers a connection past the cap with a 503 and closes it. What the client sent is read
/// (and dropped) for up to [`BUSY_LINGER`] first: closing a socket with unread data resets it,
/// and the client would lose the answer.
async fn turn_away(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str = "fakta: too many connections; retry in a moment\n";
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Content-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(BUSY_LINGER, async {
        stream.write_all(busy.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// The answer to a request that took longer than `limit`.
fn too_slow<B>(limit: Duration) -> Response<Either<B, Full<Bytes>>> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "fakta: the request took longer than {} s and was abandoned\n",
        limit.as_secs_f32()
    )))));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM: what `fakta serve` and `fakta sp` stop on.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Reads the body, answers `hello` (or 400 with the error).
    fn hello() -> impl tower::Service<
        Request<BudgetBody>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(|req: Request<BudgetBody>| async {
            use http_body_util::BodyExt;
            Ok::<_, Infallible>(match req.into_body().collect().await {
                Ok(_) => Response::new(Full::new(Bytes::from_static(b"hello"))),
                Err(e) => {
                    let mut r = Response::new(Full::new(Bytes::from(e.to_string())));
                    *r.status_mut() = StatusCode::BAD_REQUEST;
                    r
                }
            })
        })
    }

    fn quick() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_millis(300),
            max_connections: 2,
            connection_lifetime: Duration::from_secs(60),
            shutdown_grace: Duration::from_millis(300),
            max_head_bytes: 8192,
            body_bytes_in_flight: 16 * 1024,
        }
    }

    async fn start(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, hello(), limits, async {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    async fn get(addr: std::net::SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Guards against slow clients holding connections forever: a half-sent head is cut.
    #[tokio::test]
    async fn a_half_sent_request_head_is_closed_after_the_header_timeout() {
        let (addr, _stop, _task) = start(quick()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let t = Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection is still open after 5 s");
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
    }

    /// Guards the connection cap: past it, a client gets a 503 at once (the server neither
    /// runs out of descriptors nor leaves it hanging), and is served once slow ones are cut.
    #[tokio::test]
    async fn past_the_connection_cap_a_client_is_turned_away_until_a_slot_frees() {
        let (addr, _stop, _task) = start(quick()).await;
        let mut slow = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            slow.push(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let busy = tokio::time::timeout(Duration::from_secs(2), get(addr))
            .await
            .expect("answered at once");
        assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
        assert!(busy.contains("too many connections"), "{busy}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let answer = tokio::time::timeout(Duration::from_secs(2), get(addr))
            .await
            .expect("answered once the slow clients were cut");
        assert!(answer.ends_with("hello"), "{answer}");
    }

    /// Guards the request timeout: a body that stops coming gets a 503, not an open wait.
    #[tokio::test]
    async fn a_stalled_body_gets_a_503_after_the_request_timeout() {
        let (addr, _stop, _task) = start(quick()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
            .await
            .unwrap();
        let t = Instant::now();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
            .await
            .expect("answered and closed")
            .unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        assert!(out.contains("took longer than 0.3 s"), "{out}");
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
    }

    /// Guards the body budget: stalled bodies cannot make the server buffer without bound.
    #[tokio::test]
    async fn bodies_being_read_are_bounded_in_bytes() {
        let (addr, _stop, _task) = start(quick()).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n")
            .await
            .unwrap();
        stalled.write_all(&[b'a'; 12_000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 8000\r\n\r\n",
        )
        .await
        .unwrap();
        s.write_all(&[b'a'; 8000]).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("16384 bytes of request bodies"), "{out}");
        drop(stalled);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 8000\r\n\r\n",
        )
        .await
        .unwrap();
        s.write_all(&[b'a'; 8000]).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.ends_with("hello"), "the budget came back: {out}");
    }

    /// Guards the bounded shutdown: an open, silent connection does not keep the server up.
    #[tokio::test]
    async fn shutdown_ends_within_the_grace_period_despite_an_open_connection() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(60),
            ..quick()
        };
        let (addr, stop, task) = start(limits).await;
        assert!(get(addr).await.ends_with("hello"));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), task)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
