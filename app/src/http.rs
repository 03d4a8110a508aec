//! The node's HTTP server: one hyper HTTP/1.1 server on 127.0.0.1 that serves an axum
//! [`Router`] per API, merged into one.
//!
//! It serves the control API ([`control`]), the one `busker` commands use to drive a running
//! `busker node`, with the radio streams merged in [`NodeHttp::start`]; the Icecast source
//! endpoint ([`radio`]) and the Subsonic API ([`subsonic`]) listen on addresses of their own. Each router brings its own state and its own
//! authentication layer; what they share lives here:
//! - [`HttpServer`]: the accept loop, with at most [`MAX_CONNECTIONS`] connections served at
//!   once and [`HEAD_TIMEOUT`] to send a request head;
//! - [`limit_body`]: a body size limit, checked against `Content-Length` before the handler
//!   runs and enforced while the body is read (a chunked body has no length up front);
//! - [`JsonBody`]: the JSON request body (empty: `null`), read within [`BODY_TIMEOUT`];
//! - [`ApiError`]: an error status with `{"error": "..."}`;
//! - [`constant_time_eq`], to compare secrets.
//!
//! The client side ([`ApiClient`]) speaks to the control API with hyper's client.

mod client;
pub mod control;
pub mod links;
mod ogg;
pub mod radio;
pub mod subsonic;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use busker_core::Node;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use client::ApiClient;
pub use links::LinkSink;

/// Connections served at once; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `busker node` serves over HTTP: the server, and the control API's `api.json`
/// that tells other `busker` commands where it is. Stops serving and removes the file when
/// dropped.
pub struct NodeHttp {
    // Fields drop in order: the servers stop before the file that points at them goes.
    server: HttpServer,
    _subsonic: Option<HttpServer>,
    _sources: radio::SourceServer,
    _api_file: control::ApiFile,
    doors: radio::RadioDoors,
}

impl NodeHttp {
    /// Serves `node`'s APIs on a free port of 127.0.0.1 and writes `api.json` into `data_dir`.
    /// Links opened with `show` go to `sink` (the desktop app's window).
    pub async fn start(node: Node, data_dir: &Path, sink: LinkSink) -> anyhow::Result<Self> {
        let token = control::ApiToken::random();
        let listener = HttpServer::bind().await?;
        let addr = listener.local_addr()?;
        let password: Arc<str> = radio::source_password(data_dir)?.into();
        let sources = radio::SourceServer::start(node.clone(), password.clone()).await?;
        let doors = radio::RadioDoors {
            source_addr: sources.addr(),
            password,
            stream_base: format!("http://{addr}"),
        };
        let listen = node.library().config().subsonic_listen;
        let subsonic = subsonic::start(node.clone(), data_dir, &listen)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "the Subsonic API did not start"))
            .ok();
        let (subsonic, door) = subsonic.unzip();
        let router = control::router(node.clone(), token.clone(), sink, doors.clone())
            .merge(radio::stream_routes(node))
            .layer(axum::Extension(door));
        let server = HttpServer::serve(listener, router);
        let api_file = control::ApiFile::write(data_dir, server.addr(), &token)?;
        Ok(Self {
            server,
            _subsonic: subsonic,
            _sources: sources,
            _api_file: api_file,
            doors,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Where radio sources and players reach it.
    pub fn doors(&self) -> radio::RadioDoors {
        self.doors.clone()
    }

    /// Stops serving and removes `api.json`.
    pub fn stop(self) {
        drop(self);
    }
}

/// A running server; stops accepting when dropped (connections in progress run to their end).
pub struct HttpServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Binds a free port of 127.0.0.1 and serves `router` there. Call within a tokio runtime.
    pub async fn start(router: Router) -> anyhow::Result<Self> {
        Ok(Self::serve(Self::bind().await?, router))
    }

    /// Binds a free port of 127.0.0.1 (to know the address before the router is made).
    pub async fn bind() -> anyhow::Result<TcpListener> {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the HTTP server")
    }

    /// Serves `router` on `listener`. Call within a tokio runtime.
    pub fn serve(listener: TcpListener, router: Router) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let task = tokio::spawn(accept_loop(listener, router));
        Self { addr, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, router: Router) {
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        // A permit first, so that a client past the cap waits in the backlog, not in memory.
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: try again shortly rather than spin.
                tracing::debug!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            // While a handler runs, hyper watches the connection: when the client closes it,
            // the handler's future is dropped (a `radio/tune` stops with its client).
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection failed");
            }
            drop(permit);
        });
    }
}

/// The secret kept in `data_dir`'s file `name` (owner-only): read, or made (24 random hex
/// digits) on first use.
pub(crate) fn secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut bytes = [0u8; 12];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &format!("{secret}\n"))?;
    Ok(secret)
}

/// Writes `text` to `path` through a temporary file, owner-only (0600).
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let tmp = path.with_extension("tmp");
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    // `mode` applies only to a file it creates: a stale one left by a crash keeps its own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// An error answer: the status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Any other failure is the handler's: `500` with the whole error chain.
impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        let e = e.into();
        let chain = busker_core::Report(e.as_ref()).to_string();
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, chain)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

/// The answer to a request no route takes. `500`, as the CLI has always been told.
pub async fn no_such_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::from(anyhow::anyhow!("no such endpoint: {method} {uri}"))
}

fn body_too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
}

/// Middleware (`from_fn_with_state(max, limit_body)`): a request that says its body is over
/// `max` bytes is answered `413` before any of it is read; any other body is cut off at `max`
/// bytes, which [`JsonBody`] reports as `413`.
pub async fn limit_body(State(max): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return body_too_large().into_response();
    }
    let request = request.map(|body| Body::new(Limited::new(body, max)));
    next.run(request).await
}

/// A request body as JSON: `null` when empty. Errors: `408` when the body does not arrive
/// within [`BODY_TIMEOUT`], `413` past the [`limit_body`] limit, `500` when it is not JSON.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let collected = tokio::time::timeout(BODY_TIMEOUT, request.into_body().collect()).await;
        let bytes = match collected {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request timed out",
                ));
            }
            Ok(Err(e)) if is_length_limit(&e) => return Err(body_too_large()),
            Ok(Err(e)) => {
                let message = format!("reading the request body: {e}");
                return Err(ApiError::new(StatusCode::BAD_REQUEST, message));
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        if bytes.is_empty() {
            return Ok(Self(Value::Null));
        }
        let value = serde_json::from_slice(&bytes).context("request body is not JSON")?;
        Ok(Self(value))
    }
}

/// Whether reading a body failed because it went past [`limit_body`]'s limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether two byte strings are equal, in a time that depends on their lengths only: a
/// client cannot find a secret byte by byte from how fast wrong guesses are refused.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Bytes;
    use axum::routing::post;
    use http_body_util::Full;
    use tokio::sync::oneshot;

    use super::*;

    /// Says when it is dropped.
    struct DropSignal(Option<oneshot::Sender<()>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_is_dropped_when_its_client_goes_away() {
        let (started_tx, started) = oneshot::channel::<()>();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        let signals = Arc::new(Mutex::new(Some((started_tx, dropped_tx))));
        let handler = move || {
            let signals = signals.lock().unwrap().take();
            async move {
                let (started_tx, dropped_tx) = signals.unwrap();
                let _signal = DropSignal(Some(dropped_tx));
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            }
        };
        let server = HttpServer::start(Router::new().route("/wait", post(handler)))
            .await
            .unwrap();
        let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let request = axum::http::Request::post("/wait")
            .header(header::HOST, server.addr().to_string())
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let asking = tokio::spawn(async move { sender.send_request(request).await });
        started.await.unwrap();
        // The client goes away (Ctrl-C on `busker radio tune`): its connection closes.
        asking.abort();
        connection.abort();
        tokio::time::timeout(Duration::from_secs(10), dropped)
            .await
            .expect("the handler is dropped")
            .unwrap();
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokeN"));
        assert!(!constant_time_eq(b"Token", b"token"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"token", b""));
    }
}
