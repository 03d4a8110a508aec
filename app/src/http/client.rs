//! [`ApiClient`]: how `busker` commands talk to a running node's control API, over hyper's
//! HTTP/1.1 client, one request per connection.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::control::ApiFile;

/// How long connecting to the node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer a client accepts.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// A client of a running node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    token: String,
}

impl ApiClient {
    /// The API of the node running on `data_dir`, if one is running there and answers.
    pub fn discover(data_dir: &Path) -> Option<Self> {
        let (addr, token) = ApiFile::read(data_dir)?;
        // A stale file from a node that died: nobody listens there any more.
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        Some(Self { addr, token })
    }

    /// Sends one request and returns the JSON answer, or the node's error. Blocks until the
    /// node answers (a `radio/tune` answers when the listener stops).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let method = Method::from_bytes(method.as_bytes()).context("not an HTTP method")?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .context("building the request")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let (status, value) = runtime.block_on(send(self.addr, request))?;
        if status != StatusCode::OK {
            let msg = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            bail!("{msg}");
        }
        Ok(value)
    }
}

/// Sends `request` to `addr` on a connection of its own and returns the status and the JSON
/// answer. Sets `Host`; everything else is the caller's.
pub(crate) async fn send<B>(
    addr: SocketAddr,
    mut request: Request<B>,
) -> anyhow::Result<(StatusCode, Value)>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connect = tokio::net::TcpStream::connect(addr);
    let Ok(stream) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
        bail!("connecting to the running node: no answer within {CONNECT_TIMEOUT:?}");
    };
    let stream = stream.context("connecting to the running node")?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("connecting to the running node")?;
    // The connection is driven by its own task; it ends when the sender is dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "control API connection failed");
        }
    });
    request.headers_mut().insert(
        header::HOST,
        header::HeaderValue::from_str(&addr.to_string()).context("the node's address")?,
    );
    let response = sender
        .send_request(request)
        .await
        .context("sending the request to the node")?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| anyhow!(e))
        .context("reading the node's answer")?
        .to_bytes();
    let value = serde_json::from_slice(&body).context("the node's answer is not JSON")?;
    Ok((status, value))
}
