//! The local control API of `busker node`: JSON over HTTP on 127.0.0.1, the way Syncthing and
//! IPFS daemons are driven.
//!
//! When a node starts it serves this API ([`super::NodeHttp`]) and writes `api.json` ([`ApiFile`]:
//! address and a random bearer token, owner-only permissions) into its data dir; it removes the
//! file when it stops. Other `busker` commands on the same data dir find the file
//! ([`super::ApiClient::discover`]) and send their request to the node instead of opening the
//! (locked) data dir themselves.
//!
//! Every request carries `Authorization: Bearer <token>`; the token is checked ([`require_token`],
//! in constant time) before anything else, so a request without it gets `401` and its body is
//! never read. A body is JSON of at most [`MAX_BODY`] bytes (`413` past that, before any of it
//! is read when the request says its length). Answers are `200` with the JSON result, or an
//! error status with `{"error": "..."}`: `500` for a request the node could not carry out and
//! for an unknown endpoint.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | `{"peer_id", "listen", "bytes_sent", "bytes_received"}` |
//! | `POST /v1/publish` | `{"paths": [..], "artist", "title", "album"}` | `[track, ..]` (errors as `{"error", "path"}`) |
//! | `GET /v1/list` | | `[track, ..]` |
//! | `POST /v1/search` | `{"query", "limit"}` | `[track, ..]` |
//! | `POST /v1/connect` | `{"addr"}` | `{"peer_id"}` |
//! | `GET /v1/peers` | | `[{"peer_id", "addr"}, ..]` |
//! | `POST /v1/fetch` | `{"id", "out"}` | `{"id", "bytes", "peers_used", "millis"}` |
//! | `POST /v1/rate` | `{"id", "stars"}` | `{"id", "stars"}` |
//! | `POST /v1/artist` | `{"key"}` (`null`: this peer) | `{"key", "name", "releases": [track or {"id"}, ..]}` |
//! | `POST /v1/play` | `{"id", "out", "seconds"}` | the play report |
//! | `POST /v1/recommend` | `{"limit"}` | `[recommendation, ..]` |
//! | `GET /v1/subsonic` | | `{"url", "user", "password"}` |
//! | `POST /v1/playlist` | a [`PlaylistOp`](crate::playlists::PlaylistOp): `{"op": "create", "name", "ids"}` and so on | what [`apply`](crate::playlists::apply) answers |
//! | `POST /v1/radio/start` | `{"name", "ids": [..], "personal"}` | `{"channel_id", "name"}` |
//! | `POST /v1/radio/stop` | `{"channel_id"}` | `{"channel_id", "stopped"}` |
//! | `GET /v1/radio/list` | | `[{"channel_id", "name", "listeners", "broadcasting", "tuned", "now_playing"}, ..]` |
//! | `POST /v1/radio/tune` | `{"channel_id", "out", "seconds"}` | `{"channel_id", "startup_ms", "continuity", "lag_ms", "segments", "late", "repaired", "frames", "kbps", "bytes", "tracks"}` |
//!
//! Links, invites and follows: see [`super::links`].
//!
//! `radio/tune` answers when the listener stops (after `seconds` of the broadcast); when the client
//! closes the connection first, the server drops the handler and with it the listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use axum::extract::{Extension, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use busker_core::radio::{ChannelId, RadioQueue, TuneOptions};
use busker_core::{Node, PublishOptions};
use serde_json::{Value, json};

use super::radio::RadioDoors;
use super::{ApiError, JsonBody, constant_time_eq, limit_body, no_such_endpoint};
use crate::output::{summary_json, track_json};

/// Largest request body.
pub const MAX_BODY: usize = 1024 * 1024;
/// The file in the data dir that says where the API listens.
pub const API_FILE: &str = "api.json";

/// What a handler answers.
type ApiResult = Result<Json<Value>, ApiError>;

/// The bearer token of one run of a node: 32 random bytes, hex.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl ApiToken {
    /// A new random token.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(hex.into())
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

/// `api.json` in a data dir: where a running node's control API listens and its token.
/// Removed when dropped.
#[derive(Debug)]
pub struct ApiFile {
    path: PathBuf,
}

impl ApiFile {
    /// Writes the file (owner-only permissions, through a rename so no reader sees half of it).
    pub fn write(data_dir: &Path, addr: SocketAddr, token: &ApiToken) -> anyhow::Result<Self> {
        let path = data_dir.join(API_FILE);
        let text = json!({"addr": addr.to_string(), "token": token.as_str()}).to_string();
        super::write_private(&path, &text)?;
        Ok(Self { path })
    }

    /// The address and token in `data_dir`'s file, if there is one that reads well.
    pub fn read(data_dir: &Path) -> Option<(SocketAddr, String)> {
        let text = std::fs::read_to_string(data_dir.join(API_FILE)).ok()?;
        let info: Value = serde_json::from_str(&text).ok()?;
        let addr = info.get("addr")?.as_str()?.parse().ok()?;
        let token = info.get("token")?.as_str()?.to_owned();
        Some((addr, token))
    }
}

impl Drop for ApiFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The control API over `node`, for clients that show `token`; links opened with `show` go to
/// `sink`.
pub fn router(node: Node, token: ApiToken, sink: super::LinkSink, doors: RadioDoors) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/publish", post(publish))
        .route("/v1/list", get(list))
        .route("/v1/search", post(search))
        .route("/v1/connect", post(connect))
        .route("/v1/peers", get(peers))
        .route("/v1/fetch", post(fetch))
        .route("/v1/rate", post(rate))
        .route("/v1/block", post(block))
        .route("/v1/artist", post(artist))
        .route("/v1/play", post(play))
        .route("/v1/recommend", post(recommend))
        .route("/v1/playlist", post(playlist))
        .route("/v1/subsonic", get(subsonic))
        .route("/v1/radio/start", post(radio_start))
        .route("/v1/radio/stop", post(radio_stop))
        .route("/v1/radio/list", get(radio_list))
        .route("/v1/radio/tune", post(radio_tune))
        .merge(super::links::routes())
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(no_such_endpoint)
        .with_state(node)
        .layer(Extension(sink))
        .layer(Extension(doors))
        // The last layer added runs first: the token, then the body limit, then the route.
        .layer(from_fn_with_state(MAX_BODY, limit_body))
        .layer(from_fn_with_state(token, require_token))
}

/// Middleware: `401` unless the request carries `Authorization: Bearer <token>`.
pub async fn require_token(
    State(token): State<ApiToken>,
    request: Request,
    next: Next,
) -> Response {
    let shown = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match shown {
        Some(shown) if constant_time_eq(shown, token.as_str().as_bytes()) => {
            next.run(request).await
        }
        _ => ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong API token").into_response(),
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

fn out_path(body: &Value) -> Option<PathBuf> {
    body.get("out").and_then(Value::as_str).map(PathBuf::from)
}

async fn status(State(node): State<Node>) -> ApiResult {
    let listen: Vec<String> = node
        .listen_addrs()
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    let traffic = node.client().traffic();
    let library = node.library();
    let store = library.store();
    Ok(Json(json!({
        "peer_id": node.peer_id().to_string(), "listen": listen,
        "bytes_sent": traffic.sent, "bytes_received": traffic.received,
        "catalog_tracks": store.manifest_count(), "catalog_bytes": store.catalog_bytes(),
        "catalog_budget_bytes": library.catalog_budget(), "evicted": store.evicted_count(),
    })))
}

async fn publish(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
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
    let (results, refused) = node.publish_noting(paths, options).await?;
    let out = results
        .iter()
        .map(|r| match r {
            Ok(m) => {
                let mut v = track_json(m);
                let note = refused.iter().find(|(id, ..)| *id == m.id());
                if let (Some((_, path, note)), Value::Object(map)) = (note, &mut v) {
                    let note = format!("{}: {note}", path.display());
                    map.insert("cover_refused".into(), json!(note));
                }
                v
            }
            Err(e) => json!({"error": e.source.to_string(), "path": e.path}),
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn list(State(node): State<Node>) -> ApiResult {
    let tracks = node.list().await?;
    Ok(Json(tracks.iter().map(summary_json).collect()))
}

async fn search(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let query = str_field(&body, "query")?;
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
    let hits = node.search_everywhere(query, limit.min(1000)).await?;
    Ok(Json(hits.iter().map(summary_json).collect()))
}

async fn connect(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let addr = str_field(&body, "addr")?
        .parse()
        .context("not a multiaddr")?;
    let peer = node.connect(addr).await?;
    Ok(Json(json!({"peer_id": peer.to_string()})))
}

async fn peers(State(node): State<Node>) -> ApiResult {
    let peers = node.peers().await?;
    Ok(Json(
        peers
            .iter()
            .map(|(p, a)| json!({"peer_id": p.to_string(), "addr": a.to_string()}))
            .collect(),
    ))
}

async fn fetch(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let id = node.library().resolve(str_field(&body, "id")?)?;
    let report = node.fetch_to(id, out_path(&body).as_deref()).await?;
    Ok(Json(json!({
        "id": report.id.to_hex(),
        "bytes": report.bytes,
        "peers_used": report.peers_used,
        "millis": report.millis,
    })))
}

/// `busker subsonic`: where the Subsonic API listens and how to log in.
async fn subsonic(Extension(door): Extension<Option<super::subsonic::SubsonicDoor>>) -> ApiResult {
    let door = door.ok_or_else(|| {
        anyhow!("the Subsonic API is not running on this node (see its log for why)")
    })?;
    Ok(Json(door.json()))
}

/// `busker playlist ...`: the op carried out on the library (off the async threads); a shared
/// playlist's new record then goes into the DHT.
async fn playlist(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let op: crate::playlists::PlaylistOp =
        serde_json::from_value(body).context("not a playlist command")?;
    let (answer, op) = {
        let node = node.clone();
        tokio::task::spawn_blocking(move || {
            crate::playlists::apply(node.library(), &op).map(|answer| (answer, op))
        })
        .await
        .context("the playlist command stopped")??
    };
    if let Some(id) = crate::playlists::changed(&op, &answer) {
        node.playlist_changed(id).await?;
    }
    Ok(Json(answer))
}

async fn rate(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let id = node.library().resolve(str_field(&body, "id")?)?;
    let stars = field(&body, "stars")?
        .as_u64()
        .filter(|s| *s <= 5)
        .ok_or_else(|| anyhow!("stars must be 0 to 5"))? as u8;
    node.library().rate(&id, stars)?;
    Ok(Json(json!({"id": id.to_hex(), "stars": stars})))
}

async fn block(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let key = str_field(&body, "key")?
        .parse()
        .context("an artist key is 64 hex digits")?;
    let blocked = field(&body, "blocked")?
        .as_bool()
        .ok_or_else(|| anyhow!("blocked must be true or false"))?;
    node.library().block(&key, blocked)?;
    Ok(Json(crate::output::block_json(&key, blocked)))
}

async fn artist(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    match body.get("key").and_then(Value::as_str) {
        Some(key) => {
            let key = key.parse().context("an artist key is 64 hex digits")?;
            let catalog = node.artist_catalog(key).await?;
            Ok(Json(crate::output::artist_json(&key, Some(&catalog))))
        }
        None => {
            let library = node.library().clone();
            let catalog = tokio::task::spawn_blocking(move || library.artist_catalog())
                .await
                .context("the library task failed")??;
            let key = node.library().artist_key();
            Ok(Json(crate::output::artist_json(&key, catalog.as_ref())))
        }
    }
}

async fn play(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let id = node.library().resolve(str_field(&body, "id")?)?;
    let out = out_path(&body);
    let seconds = body
        .get("seconds")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0);
    // A track only announced here streams from peers: the player's missing chunks start its
    // download with the playhead first.
    let manifest = node.find_manifest_anywhere(id).await?;
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
    Ok(Json(report.json()))
}

async fn recommend(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
    let picks = node.recommend(limit.clamp(1, 1000)).await?;
    Ok(Json(
        picks
            .iter()
            .map(crate::output::recommendation_json)
            .collect(),
    ))
}

async fn radio_start(
    State(node): State<Node>,
    Extension(doors): Extension<RadioDoors>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let name = str_field(&body, "name")?;
    if body.get("live").and_then(Value::as_bool) == Some(true) {
        let (descriptor, _) = node.radio_start_live(name, "").await?;
        let id = descriptor.id();
        return Ok(Json(json!({
            "channel_id": id.to_hex(),
            "name": descriptor.name(),
            "live": true,
            "source_url": doors.source_url(&id),
            "stream_url": doors.stream_url(&id),
        })));
    }
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
        let tracks = ids
            .into_iter()
            .map(|id| node.library().resolve(id))
            .collect::<Result<_, _>>()?;
        RadioQueue::Tracks(tracks)
    };
    let descriptor = node.radio_start(name, queue).await?;
    let id = descriptor.id();
    Ok(Json(json!({
        "channel_id": id.to_hex(),
        "name": descriptor.name(),
        "live": false,
        "stream_url": doors.stream_url(&id),
    })))
}

async fn radio_stop(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let channel: ChannelId = str_field(&body, "channel_id")?
        .parse()
        .context("not a channel id")?;
    let stopped = node.radio_stop(&channel);
    Ok(Json(
        json!({"channel_id": channel.to_hex(), "stopped": stopped}),
    ))
}

async fn radio_list(
    State(node): State<Node>,
    Extension(doors): Extension<RadioDoors>,
) -> ApiResult {
    let channels = node.radio_channels();
    Ok(Json(
        channels
            .iter()
            .map(|c| {
                json!({
                    "channel_id": c.id.to_hex(),
                    "name": c.name,
                    "listeners": c.listeners,
                    "broadcasting": c.broadcasting,
                    "tuned": c.tuned,
                    "live": c.live,
                    "stream_url": doors.stream_url(&c.id),
                    "now_playing": c.now_playing.as_ref().map(now_playing_json),
                })
            })
            .collect(),
    ))
}

async fn radio_tune(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    use busker_core::media::{AudioSink, WavSink, open_device};
    let channel: ChannelId = str_field(&body, "channel_id")?
        .parse()
        .context("not a channel id (64 hex digits)")?;
    let out = out_path(&body);
    let seconds = body.get("seconds").and_then(Value::as_f64);
    if seconds.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return Err(anyhow!("seconds must be a positive number").into());
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
    Ok(Json(json!({
        "channel_id": channel.to_hex(),
        "startup_ms": report.startup_ms,
        "continuity": report.continuity(),
        "lag_ms": report.lag_ms,
        "segments": report.segments,
        "late": report.late,
        "repaired": report.repaired,
        "frames": report.frames,
        "kbps": report.kbps(),
        "bytes": report.bytes,
        "tracks": report.tracks.iter().map(now_playing_json).collect::<Vec<_>>(),
    })))
}

/// A track on a channel: `{"id", "title", "artist"}` (an ordinary track id, to fetch or rate).
fn now_playing_json(t: &busker_core::radio::NowPlaying) -> Value {
    json!({"id": t.track.to_hex(), "title": t.title, "artist": t.artist})
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::http::{Method, Request};
    use busker_core::NodeOptions;
    use http_body_util::Empty;
    use hyper::body::{Body, Frame, SizeHint};

    use super::*;
    use crate::http::client::send;
    use crate::http::{ApiClient, HttpServer};

    /// Long enough for any answer on loopback; an answer that waits for a body never sent
    /// would take forever.
    const ANSWER: Duration = Duration::from_secs(10);

    /// A node serving the control API on 127.0.0.1.
    struct Served {
        server: HttpServer,
        token: ApiToken,
        node: Node,
        dir: tempfile::TempDir,
    }

    /// Radio doors nobody dials in these tests.
    fn test_doors() -> RadioDoors {
        RadioDoors {
            source_addr: "127.0.0.1:9".parse().unwrap(),
            password: "pw".into(),
            stream_base: "http://127.0.0.1:9".into(),
        }
    }

    async fn serve() -> Served {
        let (dir, node) = busker_core::test_utils::start_node(NodeOptions::loopback()).await;
        let token = ApiToken::random();
        let server = HttpServer::start(router(
            node.clone(),
            token.clone(),
            Default::default(),
            test_doors(),
        ))
        .await
        .unwrap();
        Served {
            server,
            token,
            node,
            dir,
        }
    }

    impl Served {
        /// Sends `request` and waits at most [`ANSWER`] for the status and the JSON answer.
        async fn ask<B>(&self, request: Request<B>) -> (StatusCode, Value)
        where
            B: Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        {
            tokio::time::timeout(ANSWER, send(self.server.addr(), request))
                .await
                .expect("an answer in time")
                .unwrap()
        }

        async fn stop(self) {
            drop(self.server);
            self.node.shutdown().await;
            drop(self.dir);
        }
    }

    /// A request with `Authorization` set to `authorization`, if any.
    fn request<B>(method: Method, path: &str, authorization: Option<&str>, body: B) -> Request<B> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(body).unwrap()
    }

    /// A request body that sends `chunks` frames of 64 KiB and then never ends. With
    /// `declared`, the request says it is that long (`Content-Length`); without, it is sent
    /// chunked.
    struct Endless {
        chunks: usize,
        declared: Option<u64>,
    }

    impl Body for Endless {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.chunks == 0 {
                return Poll::Pending;
            }
            self.chunks -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; 64 * 1024])))))
        }

        fn size_hint(&self) -> SizeHint {
            self.declared
                .map_or_else(SizeHint::default, SizeHint::with_exact)
        }
    }

    fn refused(answer: &(StatusCode, Value)) -> bool {
        answer.0 == StatusCode::UNAUTHORIZED && answer.1["error"] == "missing or wrong API token"
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_without_the_token_is_refused_401() {
        let api = serve().await;
        for (method, path) in [
            (Method::GET, "/v1/status"),
            (Method::GET, "/v1/peers"),
            (Method::POST, "/v1/no-such-endpoint"),
        ] {
            let answer = api
                .ask(request(method, path, None, Empty::<Bytes>::new()))
                .await;
            assert!(refused(&answer), "{path}: {answer:?}");
        }
        // A body that never comes: the token is looked at before any of it is read.
        let body = Endless {
            chunks: 0,
            declared: Some(100),
        };
        let answer = api.ask(request(Method::POST, "/v1/rate", None, body)).await;
        assert!(refused(&answer), "{answer:?}");
        api.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_token_is_refused_401() {
        let api = serve().await;
        let token = api.token.as_str().to_owned();
        let mut other = token.clone().into_bytes();
        other[63] = if other[63] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap();
        for authorization in [
            format!("Bearer {other}"),
            format!("Bearer {token}0"),
            format!("Bearer {}", &token[..63]),
            format!("bearer {token}"),
            format!("Basic {token}"),
            token.clone(),
            "Bearer ".to_owned(),
        ] {
            let answer = api
                .ask(request(
                    Method::GET,
                    "/v1/status",
                    Some(&authorization),
                    Empty::<Bytes>::new(),
                ))
                .await;
            assert!(refused(&answer), "{authorization}: {answer:?}");
        }
        let body = Endless {
            chunks: 1,
            declared: Some(MAX_BODY as u64 * 4),
        };
        let wrong = format!("Bearer {other}");
        let answer = api
            .ask(request(Method::POST, "/v1/publish", Some(&wrong), body))
            .await;
        assert!(refused(&answer), "{answer:?}");
        api.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_body_is_refused_413_before_it_is_read() {
        let api = serve().await;
        let bearer = format!("Bearer {}", api.token.as_str());
        // Said to be over the limit: refused on the head alone, though no byte of it came.
        let body = Endless {
            chunks: 0,
            declared: Some(MAX_BODY as u64 + 1),
        };
        let (status, answer) = api
            .ask(request(Method::POST, "/v1/rate", Some(&bearer), body))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
        assert_eq!(answer["error"], "request body too large");
        // Chunked, with no length up front: cut off once past the limit, never parsed.
        let body = Endless {
            chunks: MAX_BODY / (64 * 1024) + 1,
            declared: None,
        };
        let (status, answer) = api
            .ask(request(Method::POST, "/v1/search", Some(&bearer), body))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
        assert_eq!(answer["error"], "request body too large");
        api.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cli_client_finds_the_node_and_gets_its_answers_and_errors() {
        let api = serve().await;
        let _file = ApiFile::write(api.dir.path(), api.server.addr(), &api.token).unwrap();
        let dir = api.dir.path().to_owned();
        let peer_id = api.node.peer_id().to_string();
        tokio::task::spawn_blocking(move || {
            let client = ApiClient::discover(&dir).expect("the node is found");
            let status = client.call("GET", "/v1/status", None).unwrap();
            assert_eq!(status["peer_id"], peer_id.as_str());
            let e = client.call("GET", "/v1/nothing", None).unwrap_err();
            assert_eq!(e.to_string(), "no such endpoint: GET /v1/nothing");
            let e = client.call("GET", "/v1/rate", None).unwrap_err();
            assert_eq!(e.to_string(), "no such endpoint: GET /v1/rate");
            let e = client
                .call("POST", "/v1/search", Some(&json!({"limit": 3})))
                .unwrap_err();
            assert_eq!(e.to_string(), "missing field \"query\"");
        })
        .await
        .unwrap();
        api.stop().await;
    }

    #[cfg(unix)]
    #[test]
    fn api_json_is_readable_by_its_owner_only_and_gone_with_the_node() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A stale, world-readable temporary file from a crashed run.
        let stale = dir.path().join(API_FILE).with_extension("tmp");
        std::fs::write(&stale, "old").unwrap();
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
        let token = ApiToken::random();
        let file = ApiFile::write(dir.path(), "127.0.0.1:9".parse().unwrap(), &token).unwrap();
        let path = dir.path().join(API_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "api.json mode {mode:o}");
        let (_, read) = ApiFile::read(dir.path()).expect("it reads back");
        assert_eq!(read, token.as_str());
        drop(file);
        assert!(!path.exists(), "removed when the node stops");
    }

    #[tokio::test]
    async fn a_blocked_artists_releases_leave_the_nodes_list() {
        use busker_core::model::ArtistKeypair;
        let api = serve().await;
        // A release by another artist, as if it had arrived from a peer.
        let artist = ArtistKeypair::generate();
        let release =
            busker_core::test_utils::signed_release(&artist, &[5; 100_000], "Someone else's", 0);
        api.node.library().accept(vec![release.clone()]).unwrap();
        let bearer = format!("Bearer {}", api.token.as_str());
        let list_request = || {
            request(
                Method::GET,
                "/v1/list",
                Some(&bearer),
                Empty::<Bytes>::new(),
            )
        };
        let listed = |list: &Value| {
            list.as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == release.id().to_hex().as_str())
        };
        let list = api.ask(list_request()).await.1;
        assert!(listed(&list), "{list}");

        let key = artist.public().to_hex();
        let body = json!({"key": key, "blocked": true}).to_string();
        let (status, answer) = api
            .ask(request(Method::POST, "/v1/block", Some(&bearer), body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, json!({"artist_key": key, "blocked": true}));
        assert!(api.node.library().is_blocked(&artist.public()));
        let list = api.ask(list_request()).await.1;
        assert!(!listed(&list), "{list}");
        api.stop().await;
    }
}
