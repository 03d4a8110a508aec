//! The broadcaster: plays a queue into signed segments on the channel's topic, in real time.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::CHANNELS_TOPIC;
use super::channel::{ChannelDescriptor, ChannelStatus};
use super::hub::RadioHub;
use super::segment::{MAX_AUDIO_BYTES, SegmentAudio, SegmentDraft};
use super::unix_ms;
use crate::error::{Error, Result};
use symphonia::core::io::MediaSource;

use crate::media::{EncodedPacket, PacketReader, Pcm, PcmSpec, RadioSource, TrackDecoder};
use crate::model::{ArtistKeypair, Manifest, TrackId};
use crate::net::Client;

/// What a channel plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioQueue {
    /// These tracks in order (fetched from the network when not here), then the broadcast ends.
    Tracks(Vec<TrackId>),
    /// An endless personal radio: see [`crate::Node::radio_start`].
    Personal,
}

/// Broadcast tuning.
#[derive(Debug, Clone)]
pub struct BroadcastOptions {
    /// Target segment length (segments of wide formats are shorter, to stay under
    /// [`MAX_AUDIO_BYTES`]).
    pub segment: Duration,
    /// How often the channel status is announced on the channels topic.
    pub status_interval: Duration,
    /// How long before its air time a segment is published (see [`super::SEND_AHEAD`]).
    pub ahead: Duration,
}

impl Default for BroadcastOptions {
    fn default() -> Self {
        Self {
            segment: Duration::from_millis(1000),
            status_interval: Duration::from_secs(5),
            ahead: super::SEND_AHEAD,
        }
    }
}

/// The next track to play: its manifest and whole file, or `None` when the queue is over.
pub(crate) type NextTrack =
    Box<dyn FnMut() -> BoxFuture<'static, Result<Option<(Manifest, Vec<u8>)>>> + Send>;

/// Cuts a decoder's output into runs of a fixed number of frames.
pub(super) struct Cutter {
    decoder: TrackDecoder,
    pending: Option<Pcm>,
    pending_start: u64,
    frames: usize,
}

fn split_front(pcm: &mut Pcm, samples: usize) -> Pcm {
    let mut front = pcm.clone();
    front.truncate(samples);
    pcm.skip(samples);
    front
}

impl Cutter {
    /// The next run and the frame it starts at, or `None` at the end of the track.
    fn next(&mut self) -> Result<Option<(u64, Pcm)>> {
        let channels = self.decoder.spec().channels.max(1) as usize;
        let want = self.frames * channels;
        loop {
            let have = self.pending.as_ref().map_or(0, Pcm::len);
            if have >= want {
                break;
            }
            match self.decoder.next_block()? {
                Some(block) => match &mut self.pending {
                    Some(p) if !p.is_empty() => p.append(block.pcm),
                    _ => {
                        self.pending_start = block.start_frame;
                        self.pending = Some(block.pcm);
                    }
                },
                None => break,
            }
        }
        let Some(pending) = &mut self.pending else {
            return Ok(None);
        };
        if pending.is_empty() {
            return Ok(None);
        }
        let take = want.min(pending.len()) / channels * channels;
        if take == 0 {
            return Ok(None);
        }
        let start = self.pending_start;
        let run = split_front(pending, take);
        self.pending_start += (take / channels) as u64;
        Ok(Some((start, run)))
    }
}

/// Cuts a track's packets into runs of about a segment's frames (fewer bytes than
/// [`MAX_AUDIO_BYTES`]), at packet boundaries.
pub(super) struct PacketCutter {
    reader: PacketReader,
    frames: usize,
    position: u64,
    carry: Option<EncodedPacket>,
    /// Segments cut so far.
    cut: u64,
}

/// A setup larger than this (Vorbis headers, kilobytes) rides in a track's first segment and
/// then in every [`SETUP_EVERY`]th only; smaller ones (FLAC's STREAMINFO) in every segment.
const SMALL_SETUP: usize = 256;
/// How often a large setup rides along after a track's first segment. A listener joining
/// mid-track gets it in its tune-in answer (every peer on the channel keeps the newest segment
/// carrying each setup, see `hub.rs`) and asks again when a segment names a setup it lacks; this
/// is the last resort. Every 8th segment cost a Vorbis channel 5 % of its bitrate on the wire.
pub(super) const SETUP_EVERY: u64 = 64;

/// Bytes a segment's packets may take: the limit less room for their framing.
const PACKET_BYTES: usize = MAX_AUDIO_BYTES - 64 * 1024;

impl PacketCutter {
    /// What a decoder of the packets needs.
    pub(super) fn setup(&self) -> &crate::media::PacketSetup {
        self.reader.setup()
    }

    fn next(&mut self) -> Result<Option<(u64, SegmentAudio)>> {
        let (mut packets, mut frames, mut bytes) = (Vec::new(), 0usize, 0usize);
        while frames < self.frames && packets.len() < 512 {
            let Some(p) = self
                .carry
                .take()
                .map_or_else(|| self.reader.next_packet(), |p| Ok(Some(p)))?
            else {
                break;
            };
            if !packets.is_empty() && bytes + p.data.len() > PACKET_BYTES {
                self.carry = Some(p);
                break;
            }
            if p.data.len() > PACKET_BYTES {
                tracing::debug!(
                    len = p.data.len(),
                    "a packet too large for a segment: left out"
                );
                continue;
            }
            frames += p.frames as usize;
            bytes += p.data.len();
            packets.push(p);
        }
        if frames == 0 {
            return Ok(None);
        }
        let start = self.position;
        self.position += frames as u64;
        let setup = self.reader.setup();
        let carry_setup = setup.extra.len() <= SMALL_SETUP || self.cut.is_multiple_of(SETUP_EVERY);
        self.cut += 1;
        Ok(Some((
            start,
            SegmentAudio::Packets {
                codec: setup.codec,
                setup_id: super::segment::setup_id(&setup.extra),
                extra: if carry_setup {
                    setup.extra.clone()
                } else {
                    Vec::new()
                },
                packets,
            },
        )))
    }
}

/// A track cut into segments: its own packets when its codec has a packet path (MP3, FLAC),
/// else decoded samples.
pub(super) enum Source {
    Packets(PacketCutter),
    Pcm(Cutter),
}

impl Source {
    /// Opens a track (a file's bytes, or a live stream) for segments of `segment`'s length.
    pub(super) fn open(
        source: Box<dyn MediaSource>,
        extension: Option<&str>,
        segment: Duration,
    ) -> Result<(PcmSpec, Self)> {
        Ok(match RadioSource::open(source, extension)? {
            RadioSource::Packets(reader) => {
                let spec = reader.setup().spec;
                let frames = (spec.sample_rate as f64 * segment.as_secs_f64()).round() as usize;
                let cutter = PacketCutter {
                    reader,
                    frames: frames.max(1),
                    position: 0,
                    carry: None,
                    cut: 0,
                };
                (spec, Self::Packets(cutter))
            }
            RadioSource::Decoded(decoder) => {
                let spec = decoder.spec();
                let cutter = Cutter {
                    decoder,
                    pending: None,
                    pending_start: 0,
                    frames: frames_per_segment(&spec, segment),
                };
                (spec, Self::Pcm(cutter))
            }
        })
    }

    pub(super) fn next(&mut self) -> Result<Option<(u64, SegmentAudio)>> {
        match self {
            Self::Packets(c) => c.next(),
            Self::Pcm(c) => Ok(c
                .next()?
                .map(|(frame, pcm)| (frame, SegmentAudio::Pcm(pcm)))),
        }
    }
}

fn frames_per_segment(spec: &PcmSpec, segment: Duration) -> usize {
    let by_time = (spec.sample_rate as f64 * segment.as_secs_f64()).round() as usize;
    let frame_bytes = spec.channels.max(1) as usize * spec.bytes_per_sample();
    by_time.clamp(1, MAX_AUDIO_BYTES / frame_bytes.max(1))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Error::task("a radio worker"))
}

/// What a segment says is playing.
pub(super) struct OnAir {
    pub(super) track: TrackId,
    pub(super) title: String,
    pub(super) artist: String,
}

/// The air of one broadcast: the clock that stamps segments, the sequence numbers, the status
/// announcements; signs, keeps and publishes each segment.
pub(super) struct Air {
    client: Client,
    hub: Arc<RadioHub>,
    owner: ArtistKeypair,
    descriptor: ChannelDescriptor,
    options: BroadcastOptions,
    start: tokio::time::Instant,
    start_ms: u64,
    seq: u64,
    air_ms: f64,
    last_status: Option<tokio::time::Instant>,
    /// Announced in the channel status.
    pub(super) live: bool,
}

impl Air {
    pub(super) fn new(
        client: Client,
        hub: Arc<RadioHub>,
        owner: ArtistKeypair,
        descriptor: ChannelDescriptor,
        options: BroadcastOptions,
    ) -> Self {
        let start_ms = unix_ms();
        Self {
            client,
            hub,
            owner,
            descriptor,
            options,
            start: tokio::time::Instant::now(),
            start_ms,
            // Sequence numbers start at the wall clock in ms, so a restarted broadcast never
            // reuses one.
            seq: start_ms,
            air_ms: 0.0,
            last_status: None,
            live: false,
        }
    }

    /// When the next segment goes on air.
    fn on_air(&self) -> tokio::time::Instant {
        self.start + Duration::from_secs_f64(self.air_ms / 1000.0)
    }

    /// For a source that arrives in real time (live): when the next segment would go on air
    /// less than a fifth of [`BroadcastOptions::ahead`] from now (the source just connected, or
    /// stalled), the clock moves to now plus seven tenths of it (after a pause: by whole
    /// segments, so up to a segment more), and the sequence numbers by as many segments, so
    /// that listeners count the silence as missed segments and stay in step.
    ///
    /// The lead is what a live segment has to cross the tree before it airs, and what a
    /// listener tuning in waits for the first segment it holds to go on air: with the whole
    /// second a file's segments get, the start-up at a live channel's first segment was a
    /// second (1,033 ms, 50 listeners); seven tenths keep half a second for a source's jitter,
    /// as before, and leave 200 ms at least to cross the tree.
    pub(super) fn catch_up(&mut self) {
        let now = tokio::time::Instant::now();
        let on_air = self.on_air();
        // A source a little behind its clock (jitter) only eats into the margin.
        if on_air >= now + self.options.ahead / 5 {
            return;
        }
        let lead = self.options.ahead * 7 / 10;
        let behind_ms = (now + lead - on_air).as_secs_f64() * 1000.0;
        let segment_ms = (self.options.segment.as_secs_f64() * 1000.0).max(1.0);
        // Before the first segment there is nothing to count as missed.
        if self.seq > self.start_ms {
            // Whole segments, rounded up: a listener takes each missed segment to last one
            // segment, and when the clock moved by less than the segments counted, it looked
            // for every later segment before it came and skipped it (a fraction of a segment
            // gap made a listener miss everything after a pause).
            let missed = (behind_ms / segment_ms).ceil();
            self.seq += missed as u64;
            self.air_ms += missed * segment_ms;
        } else {
            self.air_ms += behind_ms;
        }
    }

    /// Waits until the segment's publish time, then signs, keeps and publishes it (and the
    /// channel status when it is due).
    pub(super) async fn send(
        &mut self,
        playing: &OnAir,
        frame: u64,
        spec: PcmSpec,
        audio: SegmentAudio,
    ) -> Result<()> {
        let start = self.start;
        tokio::time::sleep_until(
            self.on_air()
                .checked_sub(self.options.ahead)
                .unwrap_or(start)
                .max(start),
        )
        .await;
        let channel = self.descriptor.id();
        if self
            .last_status
            .is_none_or(|t| t.elapsed() >= self.options.status_interval)
        {
            let status = ChannelStatus {
                descriptor: self.descriptor.clone(),
                listeners: self.hub.listeners(&channel),
                at_ms: unix_ms(),
                live: self.live,
            };
            self.hub.heard_status(&status, None);
            self.client
                .publish(CHANNELS_TOPIC.to_owned(), status.encode(&self.owner))
                .await?;
            self.last_status = Some(tokio::time::Instant::now());
        }
        let owner = self.owner.clone();
        let draft = SegmentDraft {
            channel,
            seq: self.seq,
            broadcast_ms: self.start_ms + self.air_ms.round() as u64,
            track: playing.track,
            title: playing.title.clone(),
            artist: playing.artist.clone(),
            frame,
            spec,
            audio,
        };
        let segment = blocking(move || draft.sign(&owner)).await?;
        self.air_ms += segment.duration_ms();
        self.seq += 1;
        // Down the channel's push tree (`tree.rs`), not on its gossip topic.
        self.hub.air(&segment);
        Ok(())
    }

    /// Waits until the last segment sent has aired (answering repairs meanwhile).
    pub(super) async fn until_aired(&self) {
        tokio::time::sleep_until(self.on_air()).await;
    }
}

/// Cuts `cutter` into segments and sends them on `air` until the track (or live source) ends.
/// With `live`, the clock catches up with a source that arrives in real time.
pub(super) async fn play(
    air: &mut Air,
    mut cutter: Source,
    spec: PcmSpec,
    playing: &OnAir,
    live: bool,
) -> Result<()> {
    loop {
        let (back, run) = blocking(move || {
            let r = cutter.next();
            (cutter, r)
        })
        .await?;
        cutter = back;
        let (frame, audio) = match run {
            Ok(Some(run)) => run,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(track = %playing.track, error = %e, "broadcast track cut short");
                return Ok(());
            }
        };
        if live {
            air.catch_up();
        }
        air.send(playing, frame, spec, audio).await?;
    }
}

/// Runs a broadcast until the queue ends (or the task is aborted): each segment is signed,
/// kept in the hub's ring and published [`BroadcastOptions::ahead`] before its first sample goes
/// on air (the first segments at once), and the broadcast ends when the last one has aired.
pub(crate) async fn broadcast(
    client: Client,
    hub: Arc<RadioHub>,
    owner: ArtistKeypair,
    descriptor: ChannelDescriptor,
    mut next_track: NextTrack,
    options: BroadcastOptions,
) -> Result<()> {
    let length = options.segment;
    let mut air = Air::new(client, hub, owner, descriptor, options);
    let mut upcoming = tokio::spawn(next_track());
    loop {
        let Some((manifest, bytes)) = upcoming.await.map_err(Error::task("the radio queue"))??
        else {
            break;
        };
        // Prefetch the next track while this one plays.
        upcoming = tokio::spawn(next_track());
        let ext = manifest.info().format.extension();
        let open = move || Source::open(Box::new(std::io::Cursor::new(bytes)), Some(ext), length);
        let (spec, cutter) = match blocking(open).await? {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(track = %manifest.id(), error = %e, "cannot broadcast a track");
                continue;
            }
        };
        let info = manifest.info();
        let playing = OnAir {
            track: manifest.id(),
            title: info.title.clone(),
            artist: info.artist.clone(),
        };
        play(&mut air, cutter, spec, &playing, false).await?;
    }
    air.until_aired().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::SampleFormat;

    #[test]
    fn segments_are_cut_to_size_and_concatenate_to_the_track() {
        let wav = crate::test_utils::wav_pcm16(8000, 1, 20_000, 3);
        let reference = {
            let mut d = TrackDecoder::from_bytes(wav.clone(), Some("wav")).unwrap();
            let mut all = Vec::new();
            while let Some(b) = d.next_block().unwrap() {
                if let Pcm::I16(v) = b.pcm {
                    all.extend(v);
                }
            }
            all
        };
        let decoder = TrackDecoder::from_bytes(wav, Some("wav")).unwrap();
        let spec = decoder.spec();
        assert_eq!(spec.format, SampleFormat::Int(16));
        let frames = frames_per_segment(&spec, Duration::from_millis(500));
        assert_eq!(frames, 4000);
        let mut cutter = Cutter {
            decoder,
            pending: None,
            pending_start: 0,
            frames,
        };
        let mut joined = Vec::new();
        let mut starts = Vec::new();
        while let Some((start, pcm)) = cutter.next().unwrap() {
            starts.push(start);
            if let Pcm::I16(v) = pcm {
                joined.extend(v);
            }
        }
        assert_eq!(starts, vec![0, 4000, 8000, 12000, 16000]);
        assert_eq!(joined, reference);
        // Wide formats get shorter segments.
        let wide = PcmSpec {
            sample_rate: 192_000,
            channels: 8,
            format: SampleFormat::Int(32),
        };
        assert!(frames_per_segment(&wide, Duration::from_secs(1)) * 32 <= MAX_AUDIO_BYTES);
    }
}
