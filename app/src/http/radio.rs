//! The radio's doors to programs outside Busker: an Icecast-compatible source endpoint, so
//! that ffmpeg, BUTT, Mixxx or liquidsoap broadcast live into a channel of this node, and an
//! HTTP stream of every channel for any player.
//!
//! **Streams** ([`stream_routes`]): `GET /radio/<channel id>` on the node's HTTP server (no
//! token: a player cannot send one; it only listens) tunes in like `radio tune` and sends what it
//! plays in the format of the first segment: MP3 segments as their own frames (`audio/mpeg`,
//! no transcoding), FLAC as a FLAC stream (`audio/flac`: `fLaC`, STREAMINFO, frames), decoded
//! segments as a WAV stream of unknown length (`audio/wav`). Segments in another format (a
//! channel that changes codec from one track to the next) are left out of that stream: a player
//! that connects again gets the new format. Each player has its own tune-in; a player that reads
//! slowly misses segments, it never holds up the node.
//!
//! [`SourceServer`] listens on its own port of 127.0.0.1 and speaks just enough of the Icecast
//! source protocol, at the level of the socket (a source sends `PUT` with `Expect:
//! 100-continue`, or the older `SOURCE`, and then its stream with no length and no chunking,
//! which an HTTP server library would not read as a body):
//! 1. the request head (at most 16 KiB, within 10 s): `PUT` or `SOURCE` to `/live/<channel id>`
//!    with `Authorization: Basic` (any user, the password of `radio-source.password` in the
//!    data dir, made owner-only on first use); a wrong password gets `401`, an unknown mount
//!    `404`, a second source on a channel `409`;
//! 2. `100 Continue` (for `PUT`) or `200 OK` (for `SOURCE`);
//! 3. the stream's bytes go into the channel's [`LiveFeed`]. A stream that is not audio Busker
//!    can read gets `415` with the reason and is disconnected; a source silent for
//!    [`SOURCE_TIMEOUT`] is disconnected (the channel waits for it to come back).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use busker_core::Node;
use busker_core::media::{NullSink, PacketCodec, PcmSpec};
use busker_core::radio::{ChannelId, LiveFeed, Segment, SegmentAudio, TuneOptions, Tuning};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::ogg::{OggWriter, vorbis_headers};
use super::{ApiError, constant_time_eq};

/// The data dir's file with the password sources give.
pub const PASSWORD_FILE: &str = "radio-source.password";
/// How long a source may send nothing before it is disconnected (Icecast's default).
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head of a source.
const MAX_HEAD: usize = 16 * 1024;
/// How long a source may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Sources connected at once, over every channel.
const MAX_SOURCES: usize = 8;

/// The password sources give: read from the data dir, or made (random, owner-only) the first
/// time.
pub fn source_password(data_dir: &Path) -> anyhow::Result<String> {
    super::secret(data_dir, PASSWORD_FILE)
}

/// Where sources connect and where players listen: what `radio start --live` and `radio list`
/// give.
#[derive(Debug, Clone)]
pub struct RadioDoors {
    /// The source endpoint.
    pub source_addr: SocketAddr,
    /// The sources' password.
    pub password: Arc<str>,
    /// The HTTP server the streams are on (`http://127.0.0.1:PORT`).
    pub stream_base: String,
}

impl RadioDoors {
    /// The URL a source client is given: `icecast://source:PASSWORD@127.0.0.1:PORT/live/ID`.
    pub fn source_url(&self, channel: &ChannelId) -> String {
        format!(
            "icecast://source:{}@{}/live/{}",
            self.password,
            self.source_addr,
            channel.to_hex()
        )
    }

    /// The URL a player opens: `http://127.0.0.1:PORT/radio/ID`.
    pub fn stream_url(&self, channel: &ChannelId) -> String {
        format!("{}/radio/{}", self.stream_base, channel.to_hex())
    }
}

/// The running source endpoint; stops accepting when dropped.
pub struct SourceServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SourceServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SourceServer {
    /// Binds a free port of 127.0.0.1 and takes sources for `node`'s live channels.
    pub async fn start(node: Node, password: Arc<str>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the radio source endpoint")?;
        let addr = listener.local_addr()?;
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_SOURCES));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let (node, password) = (node.clone(), password.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve_source(stream, &node, &password).await {
                        tracing::info!(error = %e, "a radio source connection ended");
                    }
                    drop(permit);
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A source's request head, as far as it matters here.
#[derive(Debug, PartialEq, Eq)]
struct SourceRequest {
    legacy: bool,
    mount: String,
    password: Option<String>,
    content_type: Option<String>,
    expects_continue: bool,
}

/// Reads a request head (up to the blank line); anything else is an error line for a `400`.
fn parse_head(head: &str) -> Result<SourceRequest, (u16, String)> {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let legacy = match method {
        "PUT" => false,
        "SOURCE" => true,
        _ => {
            return Err((
                405,
                format!("{method:?} is not a source request (PUT or SOURCE)"),
            ));
        }
    };
    let mut request = SourceRequest {
        legacy,
        mount: path.to_owned(),
        password: None,
        content_type: None,
        expects_continue: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => request.password = basic_password(value),
            "content-type" => request.content_type = Some(value.to_owned()),
            "expect" => request.expects_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    Ok(request)
}

/// The password of a `Basic` authorization (the user is not checked: Icecast's is `source`).
fn basic_password(value: &str) -> Option<String> {
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = data_encoding::BASE64.decode(encoded.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_owned())
}

async fn reply(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    body: &str,
) -> anyhow::Result<()> {
    let mut text = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    if status == 401 {
        text.push_str("WWW-Authenticate: Basic realm=\"Busker radio\"\r\n");
    }
    text.push_str(&format!(
        "Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

async fn read_head(stream: &mut TcpStream) -> anyhow::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            anyhow::bail!("the request head is over {MAX_HEAD} bytes");
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            anyhow::bail!("the source closed before its request head ended");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_source(mut stream: TcpStream, node: &Node, password: &str) -> anyhow::Result<()> {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => return reply(&mut stream, 400, "Bad Request", &format!("{e}\n")).await,
        Err(_) => return Ok(()),
    };
    let request = match parse_head(&head) {
        Ok(r) => r,
        Err((status, why)) => {
            return reply(
                &mut stream,
                status,
                "Method Not Allowed",
                &format!("{why}\n"),
            )
            .await;
        }
    };
    let shown = request.password.as_deref().unwrap_or_default();
    if !constant_time_eq(shown.as_bytes(), password.as_bytes()) {
        return reply(&mut stream, 401, "Unauthorized", "wrong source password\n").await;
    }
    let channel = request
        .mount
        .strip_prefix("/live/")
        .and_then(|id| id.parse::<ChannelId>().ok());
    let Some(input) = channel.and_then(|c| node.radio_live_input(&c)) else {
        let why = format!("no live channel here at {}\n", request.mount);
        return reply(&mut stream, 404, "Not Found", &why).await;
    };
    let mut feed = match input.connect(request.content_type.as_deref()).await {
        Ok(feed) => feed,
        Err(e) => return reply(&mut stream, 409, "Conflict", &format!("{e}\n")).await,
    };
    let go_ahead: &[u8] = if request.legacy {
        b"HTTP/1.0 200 OK\r\n\r\n"
    } else if request.expects_continue {
        b"HTTP/1.1 100 Continue\r\n\r\n"
    } else {
        b""
    };
    stream.write_all(go_ahead).await?;
    tracing::info!(mount = %request.mount, "a radio source connected");
    match pump(&mut stream, &mut feed, rest).await {
        Ok(()) => Ok(()),
        Err(Refused(why)) => {
            let why = format!("{why}\n");
            reply(&mut stream, 415, "Unsupported Media Type", &why).await?;
            // Read what the source still sends for a moment before closing: a socket closed
            // with unread bytes resets, and the source would never see the reason.
            let mut sink = [0u8; 16 * 1024];
            let drain = async {
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
            Ok(())
        }
    }
}

/// Why a stream was refused.
struct Refused(String);

/// Feeds the source's bytes into the channel until the source disconnects or goes silent for
/// [`SOURCE_TIMEOUT`]; a refusal from the channel (not audio it can read) ends it with the
/// reason.
async fn pump(stream: &mut TcpStream, feed: &mut LiveFeed, first: Vec<u8>) -> Result<(), Refused> {
    let refused = |e: busker_core::Error| match e {
        busker_core::Error::Network(why) => Refused(why),
        other => Refused(other.to_string()),
    };
    if !first.is_empty() {
        feed.push(first).await.map_err(refused)?;
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut judged = false;
    loop {
        // The verdict may come while the source waits (all it sent is already queued).
        let read = tokio::select! {
            read = tokio::time::timeout(SOURCE_TIMEOUT, stream.read(&mut buf)) => read,
            verdict = feed.accepted(), if !judged => {
                verdict.map_err(refused)?;
                judged = true;
                continue;
            }
        };
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::info!("a radio source sent nothing for {SOURCE_TIMEOUT:?}: disconnected");
                return Ok(());
            }
        };
        feed.push(buf[..n].to_vec()).await.map_err(refused)?;
    }
}

/// Segments waiting for a player; past this, a slow player misses segments.
const STREAM_QUEUE: usize = 16;
/// How long a player waits for the first segment of a channel.
const FIRST_SEGMENT: Duration = Duration::from_secs(30);

/// The streams of the channels this node can tune to, for players (see the module's
/// documentation).
pub fn stream_routes(node: Node) -> Router {
    Router::new()
        .route("/radio/{channel}", get(stream))
        .with_state(node)
}

/// The format a player's stream keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamFormat {
    Mp3,
    Flac(Vec<u8>),
    /// Vorbis in Ogg, for this setup.
    Vorbis(u32),
    Wav(PcmSpec),
}

impl StreamFormat {
    fn of(segment: &Segment) -> Self {
        match &segment.fields().audio {
            SegmentAudio::Packets {
                codec: PacketCodec::Mp3,
                ..
            } => Self::Mp3,
            SegmentAudio::Packets {
                codec: PacketCodec::Flac,
                extra,
                ..
            } => Self::Flac(extra.clone()),
            SegmentAudio::Packets {
                codec: PacketCodec::Vorbis,
                setup_id,
                ..
            } => Self::Vorbis(*setup_id),
            SegmentAudio::Pcm(_) => Self::Wav(segment.fields().spec),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Flac(_) => "audio/flac",
            Self::Vorbis(_) => "audio/ogg",
            Self::Wav(_) => "audio/wav",
        }
    }

    /// What comes before the first segment's bytes (for Vorbis, its three headers in their
    /// own pages, from `setup`).
    fn header(&self, ogg: &mut OggWriter, setup: Option<&[u8]>) -> Vec<u8> {
        match self {
            Self::Mp3 => Vec::new(),
            Self::Vorbis(_) => match setup.and_then(vorbis_headers) {
                Some([ident, comment, rest]) => {
                    let mut out = ogg.page(&[&ident], 0);
                    out.extend(ogg.pages(&[(&comment[..], 0), (&rest[..], 0)], 0));
                    out
                }
                None => Vec::new(),
            },
            Self::Flac(streaminfo) => {
                let mut out = b"fLaC".to_vec();
                // The last metadata block, of type 0 (STREAMINFO), and its length.
                let len = streaminfo.len() as u32;
                out.push(0x80);
                out.extend_from_slice(&len.to_be_bytes()[1..]);
                out.extend_from_slice(streaminfo);
                out
            }
            Self::Wav(spec) => busker_core::media::wav_header(spec, u64::MAX),
        }
    }

    /// The segment's bytes in this format, or `None` when it is in another one.
    fn body(&self, segment: &Segment, ogg: &mut OggWriter, granule: &mut u64) -> Option<Vec<u8>> {
        if Self::of(segment) != *self {
            return None;
        }
        match &segment.fields().audio {
            SegmentAudio::Packets { packets, .. } if matches!(self, Self::Vorbis(_)) => {
                let list: Vec<(&[u8], u64)> = packets
                    .iter()
                    .map(|p| (&p.data[..], u64::from(p.frames)))
                    .collect();
                let pages = ogg.pages(&list, *granule);
                *granule += list.iter().map(|(_, f)| f).sum::<u64>();
                Some(pages)
            }
            SegmentAudio::Packets { packets, .. } => Some(
                packets
                    .iter()
                    .flat_map(|p| p.data.iter().copied())
                    .collect(),
            ),
            SegmentAudio::Pcm(pcm) => {
                let mut out = Vec::new();
                pcm.write_le(&segment.fields().spec, &mut out);
                Some(out)
            }
        }
    }
}

/// What a player's stream holds on to: the tune-in (stopped when the player goes) and the
/// segments it plays.
struct Player {
    segments: tokio::sync::mpsc::Receiver<Segment>,
    format: StreamFormat,
    ogg: OggWriter,
    granule: u64,
    _tuning: Tuning,
}

async fn stream(State(node): State<Node>, UrlPath(channel): UrlPath<String>) -> Response {
    match start_stream(node, &channel).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn start_stream(node: Node, channel: &str) -> Result<Response, ApiError> {
    let channel: ChannelId = channel
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not a channel id"))?;
    let (tap, mut segments) = tokio::sync::mpsc::channel(STREAM_QUEUE);
    let options = TuneOptions {
        tap: Some(tap),
        start_timeout: FIRST_SEGMENT,
        ..TuneOptions::default()
    };
    let tuning = node
        .radio_tune(channel, Box::new(NullSink::unpaced()), options)
        .await
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    let first = tokio::time::timeout(FIRST_SEGMENT, segments.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "nothing is on air on this channel",
            )
        })?;
    let format = StreamFormat::of(&first);
    let setup = match format {
        StreamFormat::Vorbis(id) => first
            .carried_setup()
            .map(|(_, extra)| extra.to_vec())
            .or_else(|| node.radio_setup(&channel, id)),
        _ => None,
    };
    let serial = u32::from_be_bytes([channel.0[0], channel.0[1], channel.0[2], channel.0[3]]);
    let mut ogg = OggWriter::new(serial);
    let mut granule = 0;
    let mut opening = format.header(&mut ogg, setup.as_deref());
    opening.extend(
        format
            .body(&first, &mut ogg, &mut granule)
            .unwrap_or_default(),
    );
    let content_type = format.content_type();
    let player = Player {
        segments,
        format,
        ogg,
        granule,
        _tuning: tuning,
    };
    let rest = futures::stream::unfold(player, |mut p| async move {
        loop {
            let segment = p.segments.recv().await?;
            let Player {
                format,
                ogg,
                granule,
                ..
            } = &mut p;
            if let Some(bytes) = format.body(&segment, ogg, granule) {
                return Some((Ok::<_, std::convert::Infallible>(bytes), p));
            }
        }
    });
    let body = futures::stream::once(async move { Ok(opening) }).chain(rest);
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_heads_read_as_icecast_clients_send_them() {
        let ffmpeg = "PUT /live/ab HTTP/1.1\r\nUser-Agent: Lavf/59.27.100\r\nExpect: 100-continue\r\n\
                      Content-Type: audio/mpeg\r\nAuthorization: Basic c291cmNlOnB3";
        assert_eq!(
            parse_head(ffmpeg),
            Ok(SourceRequest {
                legacy: false,
                mount: "/live/ab".into(),
                password: Some("pw".into()),
                content_type: Some("audio/mpeg".into()),
                expects_continue: true,
            })
        );
        let old =
            parse_head("SOURCE /live/ab ICE/1.0\r\nauthorization: Basic c291cmNlOnB3").unwrap();
        assert!(old.legacy && !old.expects_continue);
        assert_eq!(old.password.as_deref(), Some("pw"));
        assert_eq!(parse_head("GET / HTTP/1.1").unwrap_err().0, 405);
        assert_eq!(basic_password("Basic !!!"), None);
        assert_eq!(basic_password("Bearer x"), None);
    }
}
