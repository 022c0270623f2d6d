//! The Chrome DevTools Protocol over Chromium's `--remote-debugging-pipe`: JSON messages, each
//! ended by a NUL byte, commands on one pipe, answers and events on the other. One reader task
//! routes answers to their callers (by `id`) and events to the page that subscribed to their
//! `sessionId`. Values stay `serde_json::Value`: fakta uses a few dozen fields of a protocol of
//! thousands, and Chromium adds fields every release.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use super::BrowserError;

/// The most one message from the browser may hold (a full-page screenshot is a few MiB of
/// base64); past it the connection is closed with an error, never buffered on.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Events a page may have waiting unread; past it new ones are dropped (a page that floods
/// the protocol cannot grow fakta's memory), which the page's next wait reports.
pub const EVENT_BACKLOG: usize = 10_000;

/// An event of one page: its method and parameters.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

type Waiters = HashMap<u64, oneshot::Sender<Result<Value, String>>>;

#[derive(Debug, Default)]
struct Routes {
    waiters: Waiters,
    sessions: HashMap<String, mpsc::Sender<Event>>,
    /// Per session, where its `Fetch.*` events go when the page intercepts requests: a paused
    /// request must be answered even while the page's owner waits on a command (a navigation
    /// does not answer until its request is let go), so they bypass the page's queue.
    fetch: HashMap<String, mpsc::Sender<Event>>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

/// A DevTools connection; cheap to share.
#[derive(Debug)]
pub struct Connection {
    next_id: AtomicU64,
    writer: tokio::sync::Mutex<pipe::Sender>,
    routes: Arc<Mutex<Routes>>,
}

impl Connection {
    /// Starts the reader task over `from_browser`.
    pub fn new(to_browser: pipe::Sender, from_browser: pipe::Receiver) -> Arc<Connection> {
        let routes = Arc::new(Mutex::new(Routes::default()));
        tokio::spawn(read_loop(from_browser, Arc::clone(&routes)));
        Arc::new(Connection {
            next_id: AtomicU64::new(1),
            writer: tokio::sync::Mutex::new(to_browser),
            routes,
        })
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events of `session` from now on.
    pub fn subscribe(&self, session: &str) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(EVENT_BACKLOG);
        self.routes().sessions.insert(session.to_owned(), tx);
        rx
    }

    pub fn unsubscribe(&self, session: &str) {
        let mut r = self.routes();
        r.sessions.remove(session);
        r.fetch.remove(session);
    }

    /// Ends [`Connection::subscribe_fetch`]'s stream of `session` (its reader sees the end).
    pub fn unsubscribe_fetch(&self, session: &str) {
        self.routes().fetch.remove(session);
    }

    /// The `Fetch.*` events of `session` from now on (no longer in [`Connection::subscribe`]'s).
    pub fn subscribe_fetch(&self, session: &str) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(EVENT_BACKLOG);
        self.routes().fetch.insert(session.to_owned(), tx);
        rx
    }

    /// Sends `method` (to `session`, or to the browser) and waits at most `limit` for its answer.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut routes = self.routes();
            if let Some(why) = &routes.closed {
                return Err(BrowserError::Gone(why.clone()));
            }
            routes.waiters.insert(id, tx);
        }
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::String(s.to_owned());
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| BrowserError::Protocol {
            method: method.to_owned(),
            message: e.to_string(),
        })?;
        bytes.push(0);
        let sent = tokio::time::timeout(limit, async {
            self.writer.lock().await.write_all(&bytes).await
        })
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.routes().waiters.remove(&id);
                return Err(BrowserError::Gone(format!("writing {method}: {e}")));
            }
            Err(_) => {
                self.routes().waiters.remove(&id);
                return Err(BrowserError::Timeout {
                    what: format!("sending {method}"),
                    limit,
                });
            }
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(message))) => Err(BrowserError::Protocol {
                method: method.to_owned(),
                message,
            }),
            Ok(Err(_)) => Err(BrowserError::Gone(
                self.routes()
                    .closed
                    .clone()
                    .unwrap_or_else(|| "the DevTools connection closed".to_owned()),
            )),
            Err(_) => {
                self.routes().waiters.remove(&id);
                Err(BrowserError::Timeout {
                    what: format!("the answer to {method}"),
                    limit,
                })
            }
        }
    }

    /// Sends `method` without waiting for its answer (cleanup from `Drop`).
    pub fn send_and_forget(self: &Arc<Self>, method: &str, params: Value) {
        let me = Arc::clone(self);
        let method = method.to_owned();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = me.call(None, &method, params, Duration::from_secs(5)).await;
            });
        }
    }
}

async fn read_loop(mut from: pipe::Receiver, routes: Arc<Mutex<Routes>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let why = loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) => break "Chromium closed its DevTools pipe (it exited)".to_owned(),
            Ok(n) => n,
            Err(e) => break format!("reading Chromium's DevTools pipe: {e}"),
        };
        let start = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        // Only the new bytes can hold a terminator not seen before.
        let mut from_here = 0;
        let mut scan = start;
        while let Some(pos) = buf[scan..].iter().position(|b| *b == 0) {
            let end = scan + pos;
            dispatch(&buf[from_here..end], &routes);
            from_here = end + 1;
            scan = from_here;
        }
        buf.drain(..from_here);
        if buf.len() > MAX_MESSAGE_BYTES {
            break format!(
                "a DevTools message from Chromium passed {MAX_MESSAGE_BYTES} bytes; connection closed"
            );
        }
    };
    let mut r = routes.lock().unwrap_or_else(|p| p.into_inner());
    r.closed = Some(why.clone());
    for (_, w) in r.waiters.drain() {
        let _ = w.send(Err(why.clone()));
    }
    r.sessions.clear();
    r.fetch.clear();
}

fn dispatch(bytes: &[u8], routes: &Mutex<Routes>) {
    let Ok(msg) = serde_json::from_slice::<Value>(bytes) else {
        tracing::warn!("Chromium sent a DevTools message that is not JSON");
        return;
    };
    let mut r = routes.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(id) = msg.get("id").and_then(Value::as_u64) {
        if let Some(w) = r.waiters.remove(&id) {
            let answer = match msg.get("error") {
                Some(e) => Err(e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_owned()),
                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = w.send(answer);
        }
        return;
    }
    let (Some(method), Some(session)) = (
        msg.get("method").and_then(Value::as_str),
        msg.get("sessionId").and_then(Value::as_str),
    ) else {
        return;
    };
    let route = match r.fetch.get(session) {
        Some(tx) if method.starts_with("Fetch.") => Some(tx),
        _ => r.sessions.get(session),
    };
    if let Some(tx) = route {
        let _ = tx.try_send(Event {
            method: method.to_owned(),
            params: msg.get("params").cloned().unwrap_or(Value::Null),
        });
    }
}
