//! The local control API of `busker node`: HTTP/1.1 + JSON on 127.0.0.1, the way Syncthing and
//! IPFS daemons are driven.
//!
//! When a node starts it binds a free port of 127.0.0.1 and writes `api.json` (address and a random
//! bearer token, owner-only permissions) into its data dir; it removes the file when it stops.
//! Other `busker` commands on the same data dir find the file, and send their request to the node
//! instead of opening the (locked) data dir themselves.
//!
//! The protocol is deliberately tiny: one request per connection (`Connection: close`), a JSON
//! body of at most [`MAX_BODY`] bytes, `Authorization: Bearer <token>` on every request. Answers
//! are `200` with the JSON result, or an error status with `{"error": "..."}`.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | `{"peer_id", "listen"}` |
//! | `POST /v1/publish` | `{"paths": [..], "artist", "title", "album"}` | `[track, ..]` (errors as `{"error", "path"}`) |
//! | `GET /v1/list` | | `[track, ..]` |
//! | `POST /v1/search` | `{"query", "limit"}` | `[track, ..]` |
//! | `POST /v1/connect` | `{"addr"}` | `{"peer_id"}` |
//! | `GET /v1/peers` | | `[{"peer_id", "addr"}, ..]` |
//! | `POST /v1/fetch` | `{"id", "out"}` | `{"id", "bytes", "peers_used", "millis"}` |
//! | `POST /v1/rate` | `{"id", "stars"}` | `{"id", "stars"}` |
//! | `POST /v1/artist` | `{"key"}` (`null`: this peer) | `{"key", "name", "releases": [track or {"id"}, ..]}` |
//! | `POST /v1/radio/start` | `{"name", "ids": [..], "personal"}` | `{"channel_id", "name"}` |
//! | `POST /v1/radio/stop` | `{"channel_id"}` | `{"channel_id", "stopped"}` |
//! | `GET /v1/radio/list` | | `[{"channel_id", "name", "listeners", "broadcasting", "tuned", "now_playing"}, ..]` |
//! | `POST /v1/radio/tune` | `{"channel_id", "out", "seconds"}` | `{"channel_id", "startup_ms", "continuity", "lag_ms", "segments", "late", "repaired", "frames", "tracks"}` |
//!
//! `radio/tune` answers when the listener stops (after `seconds` of the broadcast); when the client
//! closes the connection first, the listener stops.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use busker_core::radio::{ChannelId, RadioQueue, TuneOptions};
use busker_core::{Node, PublishOptions};

use crate::output::{summary_json, track_json};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request or response head.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest response body a client accepts.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 32;
/// The file in the data dir that says where the API listens.
pub const API_FILE: &str = "api.json";

/// A running API server; stops when dropped or with [`ApiServer::stop`].
pub struct ApiServer {
    addr: SocketAddr,
    file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Binds 127.0.0.1 on a free port, writes `api.json` and serves `node`.
    pub async fn start(node: Node, data_dir: &Path) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the control API")?;
        let addr = listener.local_addr()?;
        let token = random_token();
        let file = data_dir.join(API_FILE);
        write_private(
            &file,
            &json!({"addr": addr.to_string(), "token": token}).to_string(),
        )?;
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    return;
                };
                let node = node.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, &node, &token).await {
                        tracing::debug!(error = %e, "control API connection failed");
                    }
                    drop(permit);
                });
            }
        });
        Ok(Self { addr, file, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and removes `api.json`.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.file);
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
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
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

struct HttpRequest {
    method: String,
    path: String,
    token: Option<String>,
    body: Vec<u8>,
}

/// Reads one request: head up to `\r\n\r\n` (at most [`MAX_HEAD`]), then `Content-Length` bytes.
async fn read_request(stream: &mut TcpStream) -> anyhow::Result<HttpRequest> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            bail!("request head too large");
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed in the request head");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("request head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut token = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().context("bad Content-Length")?;
        } else if name.eq_ignore_ascii_case("authorization") {
            token = value.strip_prefix("Bearer ").map(str::to_owned);
        }
    }
    if length > MAX_BODY {
        bail!("request body too large");
    }
    let mut body = buf[head_end + 4..].to_vec();
    if body.len() > length {
        bail!("more body than Content-Length");
    }
    let have = body.len();
    body.resize(length, 0);
    stream.read_exact(&mut body[have..]).await?;
    Ok(HttpRequest {
        method,
        path,
        token,
        body,
    })
}

async fn serve_connection(mut stream: TcpStream, node: &Node, token: &str) -> anyhow::Result<()> {
    let request = tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await;
    let (status, body) = match request {
        Err(_) => (408, json!({"error": "request timed out"})),
        Ok(Err(e)) => (400, json!({"error": e.to_string()})),
        Ok(Ok(req)) if req.token.as_deref() != Some(token) => {
            (401, json!({"error": "missing or wrong API token"}))
        }
        Ok(Ok(req)) if req.path == "/v1/radio/tune" => {
            // A tune runs until its client goes away (Ctrl-C on `busker radio tune`).
            let outcome = tokio::select! {
                r = handle(node, &req) => Some(r),
                () = client_gone(&mut stream) => None,
            };
            match outcome {
                Some(Ok(v)) => (200, v),
                Some(Err(e)) => (500, json!({"error": format!("{e:#}")})),
                None => return Ok(()),
            }
        }
        Ok(Ok(req)) => match handle(node, &req).await {
            Ok(v) => (200, v),
            Err(e) => (500, json!({"error": format!("{e:#}")})),
        },
    };
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        _ => "Internal Server Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// Returns when the client closes its side of the connection.
async fn client_gone(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn field<'a>(body: &'a Value, name: &str) -> anyhow::Result<&'a Value> {
    body.get(name)
        .ok_or_else(|| anyhow!("missing field {name:?}"))
}

fn str_field<'a>(body: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    field(body, name)?
        .as_str()
        .ok_or_else(|| anyhow!("field {name:?} is not a string"))
}

async fn handle(node: &Node, req: &HttpRequest) -> anyhow::Result<Value> {
    let body: Value = if req.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&req.body).context("request body is not JSON")?
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/status") => {
            let listen: Vec<String> = node
                .listen_addrs()
                .await?
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok(json!({"peer_id": node.peer_id().to_string(), "listen": listen}))
        }
        ("POST", "/v1/publish") => {
            let paths: Vec<PathBuf> = field(&body, "paths")?
                .as_array()
                .ok_or_else(|| anyhow!("paths is not a list"))?
                .iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect();
            let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            let options = PublishOptions {
                artist: text("artist"),
                title: text("title"),
                album: text("album"),
            };
            let results = node.publish(paths, options).await?;
            let mut out = Vec::new();
            for r in results {
                out.push(match r {
                    Ok(m) => track_json(&m),
                    Err(e) => json!({"error": e.source.to_string(), "path": e.path}),
                });
            }
            Ok(Value::Array(out))
        }
        ("GET", "/v1/list") => Ok(Value::Array(
            node.list().await?.iter().map(summary_json).collect(),
        )),
        ("POST", "/v1/search") => {
            let query = str_field(&body, "query")?;
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
            Ok(Value::Array(
                node.search(query, limit.min(1000))
                    .await?
                    .iter()
                    .map(summary_json)
                    .collect(),
            ))
        }
        ("POST", "/v1/connect") => {
            let addr = str_field(&body, "addr")?
                .parse()
                .context("not a multiaddr")?;
            let peer = node.connect(addr).await?;
            Ok(json!({"peer_id": peer.to_string()}))
        }
        ("GET", "/v1/peers") => Ok(Value::Array(
            node.peers()
                .await?
                .iter()
                .map(|(p, a)| json!({"peer_id": p.to_string(), "addr": a.to_string()}))
                .collect(),
        )),
        ("POST", "/v1/fetch") => {
            let id = node.library().resolve(str_field(&body, "id")?)?;
            let out = body.get("out").and_then(Value::as_str).map(PathBuf::from);
            let report = node.fetch_to(id, out.as_deref()).await?;
            Ok(json!({
                "id": report.id.to_hex(),
                "bytes": report.bytes,
                "peers_used": report.peers_used,
                "millis": report.millis,
            }))
        }
        ("POST", "/v1/artist") => match body.get("key").and_then(Value::as_str) {
            Some(key) => {
                let key = key.parse().context("an artist key is 64 hex digits")?;
                let catalog = node.artist_catalog(key).await?;
                Ok(crate::output::artist_json(&key, Some(&catalog)))
            }
            None => {
                let library = node.library().clone();
                let catalog =
                    tokio::task::spawn_blocking(move || library.artist_catalog()).await??;
                Ok(crate::output::artist_json(
                    &node.library().artist_key(),
                    catalog.as_ref(),
                ))
            }
        },
        ("POST", "/v1/rate") => {
            let id = node.library().resolve(str_field(&body, "id")?)?;
            let stars = field(&body, "stars")?
                .as_u64()
                .filter(|s| *s <= 5)
                .ok_or_else(|| anyhow!("stars must be 0 to 5"))? as u8;
            node.library().manifest(&id)?;
            node.library().store().set_rating(&id, stars)?;
            Ok(json!({"id": id.to_hex(), "stars": stars}))
        }
        ("POST", "/v1/radio/start") => radio_start(node, &body).await,
        ("POST", "/v1/radio/stop") => {
            let channel: ChannelId = str_field(&body, "channel_id")?
                .parse()
                .context("not a channel id")?;
            let stopped = node.radio_stop(&channel);
            Ok(json!({"channel_id": channel.to_hex(), "stopped": stopped}))
        }
        ("GET", "/v1/radio/list") => Ok(Value::Array(
            node.radio_channels()
                .iter()
                .map(|c| {
                    json!({
                        "channel_id": c.id.to_hex(),
                        "name": c.name,
                        "listeners": c.listeners,
                        "broadcasting": c.broadcasting,
                        "tuned": c.tuned,
                        "now_playing": c.now_playing.as_ref().map(now_playing_json),
                    })
                })
                .collect(),
        )),
        ("POST", "/v1/radio/tune") => radio_tune(node, &body).await,
        ("POST", "/v1/play") => {
            let id = node.library().resolve(str_field(&body, "id")?)?;
            let out = body.get("out").and_then(Value::as_str).map(PathBuf::from);
            let seconds = body
                .get("seconds")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s > 0.0);
            // A track only announced here streams from peers: the player's missing chunks
            // start its download with the playhead first.
            let manifest = node.find_manifest(id).await?;
            let store = node.library().store().clone();
            let provider = node.chunk_provider();
            let report = tokio::task::spawn_blocking(move || {
                crate::play::play_track(
                    store,
                    &manifest,
                    provider,
                    out.as_deref(),
                    seconds,
                    crate::play::NETWORK_CHUNK_TIMEOUT,
                )
            })
            .await
            .context("the player task failed")??;
            Ok(report.json())
        }
        ("POST", "/v1/recommend") => {
            let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
            Ok(Value::Array(
                node.recommend(limit.clamp(1, 1000))
                    .await?
                    .iter()
                    .map(crate::output::recommendation_json)
                    .collect(),
            ))
        }
        _ => bail!("no such endpoint: {} {}", req.method, req.path),
    }
}

async fn radio_start(node: &Node, body: &Value) -> anyhow::Result<Value> {
    let name = str_field(body, "name")?;
    let personal = body
        .get("personal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ids: Vec<&str> = body
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let queue = if personal {
        RadioQueue::Personal
    } else {
        let mut tracks = Vec::new();
        for id in ids {
            tracks.push(node.library().resolve(id)?);
        }
        RadioQueue::Tracks(tracks)
    };
    let descriptor = node.radio_start(name, queue).await?;
    Ok(json!({"channel_id": descriptor.id().to_hex(), "name": descriptor.name()}))
}

async fn radio_tune(node: &Node, body: &Value) -> anyhow::Result<Value> {
    use busker_core::media::{AudioSink, WavSink, open_device};
    let channel: ChannelId = str_field(body, "channel_id")?
        .parse()
        .context("not a channel id (64 hex digits)")?;
    let out = body.get("out").and_then(Value::as_str).map(PathBuf::from);
    let seconds = body.get("seconds").and_then(Value::as_f64);
    if seconds.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        bail!("seconds must be a positive number");
    }
    let sink: Box<dyn AudioSink> = match &out {
        Some(path) => Box::new(WavSink::create(path)?),
        None => open_device("Busker"),
    };
    let options = TuneOptions {
        seconds,
        ..TuneOptions::default()
    };
    let result = match node.radio_tune(channel, sink, options).await {
        Ok(tuning) => tuning.finish().await,
        Err(e) => Err(e),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(path) = &out {
                // Nothing half-written: a failed tune leaves no file behind.
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    Ok(json!({
        "channel_id": channel.to_hex(),
        "startup_ms": report.startup_ms,
        "continuity": report.continuity(),
        "lag_ms": report.lag_ms,
        "segments": report.segments,
        "late": report.late,
        "repaired": report.repaired,
        "frames": report.frames,
        "tracks": report.tracks.iter().map(now_playing_json).collect::<Vec<_>>(),
    }))
}

/// A track on a channel: `{"id", "title", "artist"}` (an ordinary track id, to fetch or rate).
fn now_playing_json(t: &busker_core::radio::NowPlaying) -> Value {
    json!({"id": t.track.to_hex(), "title": t.title, "artist": t.artist})
}

/// A client of a running node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    token: String,
}

impl ApiClient {
    /// The API of the node running on `data_dir`, if one is running there and answers.
    pub fn discover(data_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(data_dir.join(API_FILE)).ok()?;
        let info: Value = serde_json::from_str(&text).ok()?;
        let addr: SocketAddr = info.get("addr")?.as_str()?.parse().ok()?;
        let token = info.get("token")?.as_str()?.to_owned();
        // A stale file from a node that died: nobody listens there any more.
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        Some(Self { addr, token })
    }

    /// Sends one request and returns the JSON answer, or the node's error.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .context("connecting to the running node")?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        stream
            .take(MAX_RESPONSE as u64)
            .read_to_end(&mut response)
            .context("reading the node's answer")?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| anyhow!("malformed answer from the node"))?;
        let head = String::from_utf8_lossy(&response[..split]);
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("malformed status line from the node"))?;
        let value: Value = serde_json::from_slice(&response[split + 4..])
            .context("the node's answer is not JSON")?;
        if status != 200 {
            let msg = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            bail!("{msg}");
        }
        Ok(value)
    }
}
