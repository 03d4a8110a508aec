//! Live channels: a stream that arrives as it is played (a DJ's mixer, a band's desk, ffmpeg),
//! broadcast as it comes.
//!
//! [`crate::Node::radio_start_live`] starts the channel and gives a [`LiveInput`]. Whatever
//! speaks to the source client (the app's Icecast-compatible endpoint) calls
//! [`LiveInput::connect`] for each source connection and pushes the stream's bytes into the
//! [`LiveFeed`] it gets. The broadcast task reads them on a blocking thread through the same
//! demuxers as files (MP3 frames travel as they are; other codecs are decoded), cuts segments as
//! the audio arrives and stamps them on a clock that catches up with the source (see
//! [`super::broadcaster::Air::catch_up`]): a source that stalls leaves a gap that listeners count
//! as missed segments, and the channel goes on when it sends again. One source at a time; when
//! it disconnects, the channel waits for the next.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use symphonia::core::io::ReadOnlySource;
use tokio::sync::{mpsc, oneshot};

use super::BroadcastOptions;
use super::broadcaster::{Air, OnAir, Source, play};
use super::channel::ChannelDescriptor;
use super::hub::RadioHub;
use super::segment::SegmentAudio;
use crate::error::{Error, Result};
use crate::model::{ArtistKeypair, TrackId};
use crate::net::Client;

/// Chunks of a source's stream waiting for the demuxer (the source is slowed down past this).
const FEED_QUEUE: usize = 64;

/// A live channel's way in: hands source connections to its broadcast task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveInput {
    connections: mpsc::Sender<Connection>,
    busy: Arc<AtomicBool>,
}

pub(crate) struct Connection {
    bytes: mpsc::Receiver<Vec<u8>>,
    extension: Option<&'static str>,
    verdict: oneshot::Sender<std::result::Result<String, String>>,
    busy: Arc<AtomicBool>,
}

/// One source connection's stream into the channel. Drop it when the source disconnects.
#[derive(Debug)]
pub struct LiveFeed {
    bytes: mpsc::Sender<Vec<u8>>,
    verdict: Option<oneshot::Receiver<std::result::Result<String, String>>>,
    accepted: Option<String>,
}

impl LiveInput {
    /// A new source connection whose stream has this MIME type (`audio/mpeg`, `audio/ogg`; it
    /// guides the demuxer, the bytes decide). Fails while another source is connected, or when
    /// the channel has stopped.
    pub async fn connect(&self, content_type: Option<&str>) -> Result<LiveFeed> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err(Error::Network(
                "another source is broadcasting on this channel".into(),
            ));
        }
        let extension = match content_type.map(str::to_ascii_lowercase).as_deref() {
            Some("audio/mpeg" | "audio/mp3") => Some("mp3"),
            Some("audio/ogg" | "application/ogg" | "audio/vorbis") => Some("ogg"),
            Some("audio/flac") => Some("flac"),
            _ => None,
        };
        let (bytes_tx, bytes) = mpsc::channel(FEED_QUEUE);
        let (verdict_tx, verdict) = oneshot::channel();
        let connection = Connection {
            bytes,
            extension,
            verdict: verdict_tx,
            busy: self.busy.clone(),
        };
        if self.connections.send(connection).await.is_err() {
            self.busy.store(false, Ordering::SeqCst);
            return Err(Error::Network("the channel is not broadcasting".into()));
        }
        Ok(LiveFeed {
            bytes: bytes_tx,
            verdict: Some(verdict),
            accepted: None,
        })
    }
}

impl LiveFeed {
    /// Pushes the next bytes of the stream (waits while the broadcast is behind). Fails when the
    /// stream was refused (not audio Busker can read) or the channel stopped.
    pub async fn push(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.check()?;
        if self.bytes.send(bytes).await.is_err() {
            // The reader is gone. While the stream was being recognised, the verdict follows at
            // once (the probe lets go of the stream before it sends why): wait for it.
            if self.verdict.is_some() {
                self.accepted().await?;
            }
            return Err(Error::Network(
                "the channel stopped reading the source".into(),
            ));
        }
        Ok(())
    }

    /// What the stream was recognised as (`"mp3"`, ...), once it was; an error when it was
    /// refused.
    pub fn check(&mut self) -> Result<Option<&str>> {
        if let Some(rx) = &mut self.verdict {
            match rx.try_recv() {
                Ok(Ok(codec)) => {
                    self.accepted = Some(codec);
                    self.verdict = None;
                }
                Ok(Err(why)) => {
                    self.verdict = None;
                    return Err(Error::Network(why));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.verdict = None;
                    return Err(Error::Network("the channel stopped".into()));
                }
            }
        }
        Ok(self.accepted.as_deref())
    }

    /// Waits for the verdict on the stream's first bytes: what it was recognised as, or why
    /// it was refused. Cancel-safe (a `select!` branch may drop it and call it again).
    pub async fn accepted(&mut self) -> Result<String> {
        if let Some(rx) = &mut self.verdict {
            let verdict = rx.await;
            self.verdict = None;
            match verdict {
                Ok(Ok(codec)) => self.accepted = Some(codec),
                Ok(Err(why)) => return Err(Error::Network(why)),
                Err(_) => return Err(Error::Network("the channel stopped".into())),
            }
        }
        Ok(self.accepted.clone().unwrap_or_default())
    }
}

/// How much of a stream the demuxers may read looking for audio before it is refused.
const PROBE_BUDGET: usize = 256 * 1024;

/// The stream's bytes as a blocking reader (end of stream when the feed is dropped, or at
/// `limit` bytes: while the stream is being recognised, [`PROBE_BUDGET`]).
struct Pipe {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
    read: usize,
    limit: Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.limit.load(Ordering::SeqCst).saturating_sub(self.read);
        if left == 0 {
            return Ok(0);
        }
        while self.at >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at).min(left);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.read += n;
        Ok(n)
    }
}

/// A live channel's input and the task's end of it.
pub(crate) fn input() -> (LiveInput, mpsc::Receiver<Connection>) {
    let (tx, rx) = mpsc::channel(1);
    let input = LiveInput {
        connections: tx,
        busy: Arc::new(AtomicBool::new(false)),
    };
    (input, rx)
}

/// Runs a live broadcast: every source connection in turn, until the task is aborted.
pub(crate) async fn broadcast_live(
    client: Client,
    hub: Arc<RadioHub>,
    owner: ArtistKeypair,
    descriptor: ChannelDescriptor,
    mut connections: mpsc::Receiver<Connection>,
    options: BroadcastOptions,
) -> Result<()> {
    let length = options.segment;
    // A live segment's "track" is the channel itself: there is no release to fetch.
    let playing = OnAir {
        track: TrackId(*descriptor.id().as_bytes()),
        title: descriptor.name().to_owned(),
        artist: "live".to_owned(),
    };
    let mut air = Air::new(client, hub, owner, descriptor, options);
    air.live = true;
    while let Some(connection) = connections.recv().await {
        let Connection {
            bytes,
            extension,
            verdict,
            busy,
        } = connection;
        let limit = Arc::new(std::sync::atomic::AtomicUsize::new(PROBE_BUDGET));
        let pipe = Pipe {
            rx: bytes,
            chunk: Vec::new(),
            at: 0,
            read: 0,
            limit: limit.clone(),
        };
        let opened = tokio::task::spawn_blocking(move || {
            let (spec, mut cutter) =
                Source::open(Box::new(ReadOnlySource::new(pipe)), extension, length)?;
            let first = recognised(&mut cutter)?;
            limit.store(usize::MAX, Ordering::SeqCst);
            Ok::<_, Error>((spec, cutter, first))
        })
        .await
        .map_err(Error::task("a live source"))?;
        match opened {
            Ok((spec, cutter, (frame, audio))) => {
                let codec = match &cutter {
                    Source::Packets(_) => "passed through",
                    Source::Pcm(_) => "decoded",
                };
                let _ = verdict.send(Ok(codec.to_owned()));
                tracing::info!(?spec, codec, "a live source is on air");
                air.catch_up();
                air.send(&playing, frame, spec, audio).await?;
                play(&mut air, cutter, spec, &playing, true).await?;
                tracing::info!("the live source disconnected");
            }
            Err(e) => {
                let why = format!("the stream is not audio Busker can broadcast ({e})");
                tracing::info!(%why, "a live source refused");
                let _ = verdict.send(Err(why));
            }
        }
        busy.store(false, Ordering::SeqCst);
    }
    Ok(())
}

/// The stream's first segment, once it shows it is audio: decoded samples, or packets of
/// which at most a quarter fail to decode (a stream of noise can pass for MP3 frame headers).
fn recognised(cutter: &mut Source) -> Result<(u64, SegmentAudio)> {
    let refused = |why: &str| Error::Media(crate::media::MediaError::Unsupported(why.to_owned()));
    let Some((frame, audio)) = cutter.next()? else {
        return Err(refused("the stream ended before any audio"));
    };
    if let (Source::Packets(c), SegmentAudio::Packets { packets, .. }) = (&*cutter, &audio) {
        let mut decoder = crate::media::PacketDecoder::new(c.setup())?;
        decoder.decode(packets)?;
        if decoder.bad_packets() * 4 > packets.len() as u64 {
            return Err(refused("its packets do not decode"));
        }
    }
    Ok((frame, audio))
}
