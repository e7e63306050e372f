//! The HTTP side: [`Listener::bind`] accepts TCP connections on one address and serves HTTP/1.1
//! with `hyper`: `GET` (or `HEAD`) `/metrics` renders a fresh snapshot in the Prometheus format,
//! `/api/v1/status` the same snapshot as the status JSON, `/` is the status page reading that
//! JSON; those paths with another method are 405, every other path 404. At most [`MAX_CONNECTIONS`] connections are served at
//! once (more are closed on accept), a client has [`HEADER_TIMEOUT`] to send its request head,
//! and no connection lasts longer than [`CONNECTION_LIFETIME`], so a slow or idle client cannot
//! pin the listener. [`Listener::stop`] closes the socket and every connection.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::snapshot::Snapshot;

/// Connections served at once; a scraper needs one, a few people with curl a few more.
pub const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection, kept alive or not, outlives this.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// What the daemon hands in: called once per scrape, on a blocking thread.
pub type SnapshotSource = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// A listener serving `/metrics`; it runs until [`Listener::stop`] or until dropped.
pub struct Listener {
    local: SocketAddr,
    accept: JoinHandle<()>,
}

impl Listener {
    /// Binds `addr` and starts serving (inside a tokio runtime).
    pub async fn bind(addr: SocketAddr, source: SnapshotSource) -> io::Result<Listener> {
        let socket = TcpListener::bind(addr).await?;
        let local = socket.local_addr()?;
        let accept = tokio::spawn(accept_loop(socket, source));
        Ok(Listener { local, accept })
    }

    /// The address it listens on (the port the kernel chose, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Closes the socket and every connection; returns when they are gone.
    pub async fn stop(mut self) {
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(socket: TcpListener, source: SnapshotSource) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Owned here, so aborting this task aborts every connection with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = socket.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: wait rather than spin.
                        tracing::warn!("metrics: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue; // Dropping the stream closes it: the connection cap is reached.
                };
                let source = source.clone();
                connections.spawn(async move {
                    serve_connection(stream, source).await;
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, source: SnapshotSource) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let source = source.clone();
        async move { Ok::<_, Infallible>(respond(&request, source).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        Ok(Ok(())) | Err(_) => {}
        Ok(Err(e)) => tracing::debug!("metrics: connection ended: {e}"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The paths served: the exposition, the status JSON and the status page.
#[derive(Clone, Copy)]
enum Path {
    Metrics,
    Status,
    Html,
}

async fn respond(request: &Request<Incoming>, source: SnapshotSource) -> Response<Full<Bytes>> {
    let path = match request.uri().path() {
        "/metrics" => Path::Metrics,
        "/api/v1/status" => Path::Status,
        "/" => Path::Html,
        _ => {
            return plain(
                StatusCode::NOT_FOUND,
                "not found: the metrics are at /metrics, the status at / and /api/v1/status\n",
            )
        }
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let (body, content_type) = match path {
        // The page is static: it asks for the status itself.
        Path::Html => (
            Bytes::from_static(crate::status::PAGE.as_bytes()),
            "text/html; charset=utf-8",
        ),
        Path::Metrics | Path::Status => {
            // Collecting takes locks and sums per-thread slots: off the async workers.
            let rendered = tokio::task::spawn_blocking(move || match path {
                Path::Status => crate::status::status(&source()),
                _ => crate::render(&source()),
            })
            .await;
            match rendered {
                Ok(body) => (
                    Bytes::from(body),
                    match path {
                        Path::Status => crate::status::JSON_CONTENT_TYPE,
                        _ => crate::CONTENT_TYPE,
                    },
                ),
                Err(e) => {
                    tracing::warn!("metrics: collecting the snapshot failed: {e}");
                    return plain(StatusCode::INTERNAL_SERVER_ERROR, "collecting failed\n");
                }
            }
        }
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if matches!(path, Path::Status) {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
