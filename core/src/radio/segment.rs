//! What travels on a channel's topic: signed audio [`Segment`]s and listener heartbeats.
//!
//! A segment carries the track's own codec packets (MP3 and FLAC frames, as they are in the
//! file, see [`SegmentAudio`]) or, for codecs without a packet path, decoded PCM at the track's
//! own rate, channel count and bit depth; then the sequence number, the broadcast time, and the
//! now-playing metadata (track id, frame offset, title, artist). It is signed by the channel
//! owner's key; [`RadioMessage::decode`] checks the channel, every limit and the signature.

use crate::media::{
    EncodedPacket, MAX_SETUP, PacketCodec, PacketSetup, Pcm, PcmSpec, SampleFormat,
};
use crate::model::{ArtistKeypair, MAX_TEXT, TrackId};
use crate::wire::{DecodeError, Reader, Writer};

use super::channel::{ChannelDescriptor, ChannelId};

/// Version byte of every message on a channel topic (2: segments carry codec packets).
pub const RADIO_VERSION: u8 = 2;
/// Most audio bytes one segment carries (the broadcaster shortens segments of wide formats).
pub const MAX_AUDIO_BYTES: usize = 256 * 1024;
/// Largest message on a channel topic.
pub const MAX_SEGMENT_BYTES: usize = MAX_AUDIO_BYTES + 2 * MAX_TEXT + 256;

const TAG_SEGMENT: u8 = 1;
const TAG_HEARTBEAT: u8 = 2;
const SEGMENT_CONTEXT: &[u8] = b"busker radio segment v1\0";
const MAX_RATE: u32 = 768_000;
const MAX_CHANNELS: u16 = 8;
/// Most packets one segment carries.
const MAX_PACKETS: usize = 1024;
const AUDIO_PCM: u8 = 0;
const AUDIO_PACKETS: u8 = 1;

/// A segment's audio.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentAudio {
    /// Decoded samples in the segment's `spec` (codecs without a packet path).
    Pcm(Pcm),
    /// The codec's own packets, cut at packet boundaries; the segment's `spec` is what they
    /// decode to.
    Packets {
        /// The codec.
        codec: PacketCodec,
        /// Names the codec's setup bytes (see [`setup_id`]): a listener that holds them from an
        /// earlier segment decodes a segment that leaves them out.
        setup_id: u32,
        /// The codec's setup bytes (FLAC's STREAMINFO; Vorbis's headers, kilobytes, so only in
        /// every few segments; empty for MP3), at most [`MAX_SETUP`].
        extra: Vec<u8>,
        /// The packets, in order.
        packets: Vec<EncodedPacket>,
    },
}

/// A segment before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDraft {
    /// The channel.
    pub channel: ChannelId,
    /// Sequence number: one more than the previous segment of this broadcast.
    pub seq: u64,
    /// When the segment's first sample went on air at the broadcaster, Unix milliseconds.
    pub broadcast_ms: u64,
    /// Now playing: the track.
    pub track: TrackId,
    /// Now playing: the track's title.
    pub title: String,
    /// Now playing: the track's artist.
    pub artist: String,
    /// Frame of the track the segment starts at.
    pub frame: u64,
    /// The format the audio plays in (decoded, for packets).
    pub spec: PcmSpec,
    /// The audio: packets, or interleaved samples (a whole number of frames).
    pub audio: SegmentAudio,
}

/// A signed segment. Always valid: made by [`SegmentDraft::sign`] or decoded and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    draft: SegmentDraft,
    encoded: Vec<u8>,
}

fn format_code(format: SampleFormat) -> u8 {
    match format {
        SampleFormat::Float => 0,
        SampleFormat::Int(bits) => bits,
    }
}

fn frames_of(spec: &PcmSpec, audio: &SegmentAudio) -> u64 {
    match audio {
        SegmentAudio::Pcm(pcm) => (pcm.len() / spec.channels.max(1) as usize) as u64,
        SegmentAudio::Packets { packets, .. } => packets.iter().map(|p| u64::from(p.frames)).sum(),
    }
}

impl SegmentDraft {
    /// Encodes and signs the segment with the channel owner's key.
    pub fn sign(self, owner: &ArtistKeypair) -> Segment {
        let mut w = Writer::with_capacity(4096);
        w.u8(RADIO_VERSION);
        w.u8(TAG_SEGMENT);
        w.raw(self.channel.as_bytes());
        w.u64(self.seq);
        w.u64(self.broadcast_ms);
        w.raw(self.track.as_bytes());
        w.str(crate::wire::truncate_utf8(&self.title, MAX_TEXT));
        w.str(crate::wire::truncate_utf8(&self.artist, MAX_TEXT));
        w.u64(self.frame);
        w.u32(self.spec.sample_rate);
        w.u16(self.spec.channels);
        w.u8(format_code(self.spec.format));
        match &self.audio {
            SegmentAudio::Pcm(pcm) => {
                w.u8(AUDIO_PCM);
                w.u32(frames_of(&self.spec, &self.audio) as u32);
                let mut audio = Vec::with_capacity(pcm.len() * self.spec.bytes_per_sample());
                pcm.write_le(&self.spec, &mut audio);
                w.bytes(&audio);
            }
            SegmentAudio::Packets {
                codec,
                setup_id,
                extra,
                packets,
            } => {
                w.u8(AUDIO_PACKETS);
                w.u8(codec.code());
                w.u32(*setup_id);
                w.bytes(extra);
                w.u16(packets.len() as u16);
                for p in packets {
                    w.u16(p.frames as u16);
                    w.u16(p.trim_start as u16);
                    w.u16(p.trim_end as u16);
                    w.bytes(&p.data);
                }
            }
        }
        let sig = owner.sign(SEGMENT_CONTEXT, w.as_slice());
        w.raw(&sig);
        Segment {
            draft: self,
            encoded: w.into_bytes(),
        }
    }
}

impl Segment {
    /// The segment's fields.
    pub fn fields(&self) -> &SegmentDraft {
        &self.draft
    }

    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.draft.channel
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.draft.seq
    }

    /// When it went on air at the broadcaster, Unix milliseconds.
    pub fn broadcast_ms(&self) -> u64 {
        self.draft.broadcast_ms
    }

    /// Frames (samples per channel) in the segment.
    pub fn frames(&self) -> u64 {
        frames_of(&self.draft.spec, &self.draft.audio)
    }

    /// What a decoder of its packets needs, when it carries packets and their setup (or
    /// needs none); `known` gives the setup bytes of a [`setup_id`] seen in an earlier segment.
    pub fn packet_setup(&self, known: impl Fn(u32) -> Option<Vec<u8>>) -> Option<PacketSetup> {
        let SegmentAudio::Packets {
            codec,
            setup_id,
            extra,
            ..
        } = &self.draft.audio
        else {
            return None;
        };
        let extra = if !extra.is_empty() || *codec == PacketCodec::Mp3 {
            extra.clone()
        } else {
            known(*setup_id)?
        };
        Some(PacketSetup {
            codec: *codec,
            spec: self.draft.spec,
            extra,
        })
    }

    /// The setup bytes it carries, with their id (to keep for later segments).
    pub fn carried_setup(&self) -> Option<(u32, &[u8])> {
        match &self.draft.audio {
            SegmentAudio::Packets {
                setup_id, extra, ..
            } if !extra.is_empty() => Some((*setup_id, extra)),
            _ => None,
        }
    }

    /// How long it plays, in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.frames() as f64 * 1000.0 / self.draft.spec.sample_rate.max(1) as f64
    }

    /// The signed bytes, as published.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

/// A message on a channel topic.
// Transient: decoded, handled and dropped; a box per segment would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RadioMessage {
    /// Audio, signed by the channel owner.
    Segment(Segment),
    /// A listener says it is tuned in (the gossipsub envelope names and signs the peer).
    Heartbeat {
        /// When it was sent, Unix milliseconds.
        sent_ms: u64,
    },
}

/// Encodes a listener heartbeat for `channel`.
pub fn encode_heartbeat(channel: &ChannelId, sent_ms: u64) -> Vec<u8> {
    let mut w = Writer::with_capacity(48);
    w.u8(RADIO_VERSION);
    w.u8(TAG_HEARTBEAT);
    w.raw(channel.as_bytes());
    w.u64(sent_ms);
    w.into_bytes()
}

fn read_pcm(audio: &[u8], spec: &PcmSpec) -> Pcm {
    match (spec.format, spec.bytes_per_sample()) {
        (SampleFormat::Float, _) => Pcm::F32(
            audio
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        (SampleFormat::Int(_), 1) => Pcm::I16(audio.iter().map(|&b| b as i8 as i16).collect()),
        (SampleFormat::Int(_), 2) => Pcm::I16(
            audio
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
        ),
        (SampleFormat::Int(_), 3) => Pcm::I32(
            audio
                .chunks_exact(3)
                .map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
                .collect(),
        ),
        (SampleFormat::Int(_), _) => Pcm::I32(
            audio
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
    }
}

fn read_spec(r: &mut Reader<'_>) -> Result<PcmSpec, DecodeError> {
    let sample_rate = r.u32("sample rate")?;
    let channels = r.u16("channels")?;
    let format = match r.u8("sample format")? {
        0 => SampleFormat::Float,
        bits @ 1..=32 => SampleFormat::Int(bits),
        _ => return Err(DecodeError::Invalid("sample format")),
    };
    if sample_rate == 0 || sample_rate > MAX_RATE {
        return Err(DecodeError::Invalid("sample rate"));
    }
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(DecodeError::Invalid("channel count"));
    }
    Ok(PcmSpec {
        sample_rate,
        channels,
        format,
    })
}

/// The id of a codec setup: the first four bytes of its BLAKE3 hash.
pub fn setup_id(extra: &[u8]) -> u32 {
    let hash = blake3::hash(extra);
    let b = hash.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a segment's audio: PCM (its bytes returned, converted only by a full decode) or
/// packets (within [`MAX_PACKETS`], [`MAX_SETUP`] and [`MAX_AUDIO_BYTES`] in all, at least one
/// frame).
fn read_audio<'a>(
    r: &mut Reader<'a>,
    spec: &PcmSpec,
) -> Result<(SegmentAudio, &'a [u8]), DecodeError> {
    match r.u8("audio kind")? {
        AUDIO_PCM => {
            let frames = r.u32("frames")? as usize;
            let samples = r.bytes("audio", MAX_AUDIO_BYTES)?;
            if frames == 0
                || frames
                    .checked_mul(spec.channels as usize * spec.bytes_per_sample())
                    .is_none_or(|n| n != samples.len())
            {
                return Err(DecodeError::Invalid("audio length"));
            }
            Ok((SegmentAudio::Pcm(Pcm::I16(Vec::new())), samples))
        }
        AUDIO_PACKETS => {
            let codec =
                PacketCodec::from_code(r.u8("codec")?).ok_or(DecodeError::Invalid("codec"))?;
            let setup_id = r.u32("setup id")?;
            let extra = r.bytes("codec setup", MAX_SETUP)?.to_vec();
            if !extra.is_empty() && setup_id != self::setup_id(&extra) {
                return Err(DecodeError::Invalid("setup id"));
            }
            let n = r.count("packets", MAX_PACKETS)?;
            let mut packets = Vec::with_capacity(n);
            let (mut bytes, mut frames) = (0usize, 0u64);
            for _ in 0..n {
                let p_frames = u32::from(r.u16("packet frames")?);
                let trim_start = u32::from(r.u16("packet trim")?);
                let trim_end = u32::from(r.u16("packet trim")?);
                let data = r.bytes("packet", MAX_AUDIO_BYTES - bytes)?.to_vec();
                bytes += data.len();
                frames += u64::from(p_frames);
                packets.push(EncodedPacket {
                    data,
                    frames: p_frames,
                    trim_start,
                    trim_end,
                });
            }
            if frames == 0 {
                return Err(DecodeError::Invalid("audio length"));
            }
            let audio = SegmentAudio::Packets {
                codec,
                setup_id,
                extra,
                packets,
            };
            Ok((audio, &[]))
        }
        _ => Err(DecodeError::Invalid("audio kind")),
    }
}

/// A message on a channel topic checked like [`RadioMessage::decode`] does (size, version,
/// channel, limits, the owner's signature), without converting the audio: what a gossip
/// validator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedMessage {
    /// A valid segment.
    Segment {
        /// Its sequence number.
        seq: u64,
        /// Its broadcast time, Unix milliseconds.
        broadcast_ms: u64,
    },
    /// A listener heartbeat.
    Heartbeat {
        /// When it was sent, Unix milliseconds.
        sent_ms: u64,
    },
}

/// A message read and verified, its audio still the bytes of the message.
#[allow(clippy::large_enum_variant)]
enum Parsed<'a> {
    Heartbeat {
        sent_ms: u64,
    },
    Segment {
        /// Every field; PCM samples left empty (they are in `samples`).
        draft: SegmentDraft,
        samples: &'a [u8],
    },
}

impl RadioMessage {
    /// Decodes a message on `channel`'s topic: size, version, channel, limits, and for a
    /// segment the owner's signature. Anything else is an error, never a panic.
    pub fn decode(bytes: &[u8], channel: &ChannelDescriptor) -> Result<Self, DecodeError> {
        Ok(match Self::parse(bytes, channel)? {
            Parsed::Heartbeat { sent_ms } => Self::Heartbeat { sent_ms },
            Parsed::Segment { mut draft, samples } => {
                if let SegmentAudio::Pcm(pcm) = &mut draft.audio {
                    *pcm = read_pcm(samples, &draft.spec);
                }
                Self::Segment(Segment {
                    draft,
                    encoded: bytes.to_vec(),
                })
            }
        })
    }

    /// Checks a message on `channel`'s topic exactly as [`RadioMessage::decode`] does, but
    /// neither converts nor copies the audio (cheaper: every peer checks every segment it
    /// relays).
    pub fn check(bytes: &[u8], channel: &ChannelDescriptor) -> Result<CheckedMessage, DecodeError> {
        Ok(match Self::parse(bytes, channel)? {
            Parsed::Heartbeat { sent_ms } => CheckedMessage::Heartbeat { sent_ms },
            Parsed::Segment { draft, .. } => CheckedMessage::Segment {
                seq: draft.seq,
                broadcast_ms: draft.broadcast_ms,
            },
        })
    }

    /// Reads and verifies a message, leaving its audio as bytes.
    fn parse<'a>(bytes: &'a [u8], channel: &ChannelDescriptor) -> Result<Parsed<'a>, DecodeError> {
        if bytes.len() > MAX_SEGMENT_BYTES {
            return Err(DecodeError::TooLarge {
                what: "radio message",
                len: bytes.len(),
                max: MAX_SEGMENT_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != RADIO_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "radio message",
                found: version,
                supported: RADIO_VERSION,
            });
        }
        let tag = r.u8("tag")?;
        let id = ChannelId(r.array("channel id")?);
        if id != channel.id() {
            return Err(DecodeError::Invalid("channel id"));
        }
        match tag {
            TAG_HEARTBEAT => {
                let sent_ms = r.u64("sent at")?;
                r.finish()?;
                Ok(Parsed::Heartbeat { sent_ms })
            }
            TAG_SEGMENT => {
                let seq = r.u64("seq")?;
                let broadcast_ms = r.u64("broadcast time")?;
                let track = TrackId::read(&mut r)?;
                let title = r.str("title", MAX_TEXT)?;
                let artist = r.str("artist", MAX_TEXT)?;
                let frame = r.u64("frame")?;
                let spec = read_spec(&mut r)?;
                let (audio, samples) = read_audio(&mut r, &spec)?;
                let signed = r.position();
                let sig: [u8; 64] = r.array("signature")?;
                r.finish()?;
                channel
                    .owner()
                    .verify(SEGMENT_CONTEXT, &bytes[..signed], &sig)?;
                Ok(Parsed::Segment {
                    draft: SegmentDraft {
                        channel: id,
                        seq,
                        broadcast_ms,
                        track,
                        title,
                        artist,
                        frame,
                        spec,
                        audio,
                    },
                    samples,
                })
            }
            _ => Err(DecodeError::Invalid("radio message tag")),
        }
    }
}

#[cfg(test)]
impl SegmentDraft {
    /// A test draft: `frames` frames of 8 kHz mono 16-bit silence from the start of a made-up
    /// track.
    pub(crate) fn silence(channel: ChannelId, seq: u64, broadcast_ms: u64, frames: usize) -> Self {
        Self {
            channel,
            seq,
            broadcast_ms,
            track: TrackId([1; 32]),
            title: "Song".into(),
            artist: "Band".into(),
            frame: 0,
            spec: PcmSpec {
                sample_rate: 8000,
                channels: 1,
                format: SampleFormat::Int(16),
            },
            audio: SegmentAudio::Pcm(Pcm::I16(vec![0; frames])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn channel() -> (ArtistKeypair, ChannelDescriptor) {
        let owner = ArtistKeypair::from_seed([9; 32]);
        let d = ChannelDescriptor::sign(&owner, "Test FM", "", 1);
        (owner, d)
    }

    fn draft(d: &ChannelDescriptor, spec: PcmSpec, pcm: Pcm) -> SegmentDraft {
        SegmentDraft {
            channel: d.id(),
            seq: 42,
            broadcast_ms: 1_700_000_000_000,
            track: TrackId([5; 32]),
            title: "Song".into(),
            artist: "Band".into(),
            frame: 4410,
            spec,
            audio: SegmentAudio::Pcm(pcm),
        }
    }

    #[test]
    fn segments_round_trip_at_every_bit_depth() {
        let (owner, d) = channel();
        let cases = [
            (SampleFormat::Int(16), Pcm::I16(vec![1, -2, 300, i16::MIN])),
            (SampleFormat::Int(8), Pcm::I16(vec![1, -2, 127, -128])),
            (
                SampleFormat::Int(24),
                Pcm::I32(vec![1, -2, 8_388_607, -8_388_608]),
            ),
            (
                SampleFormat::Int(32),
                Pcm::I32(vec![1, -2, i32::MAX, i32::MIN]),
            ),
            (SampleFormat::Float, Pcm::F32(vec![0.5, -0.25, 1.0, -1.0])),
        ];
        for (format, pcm) in cases {
            let spec = PcmSpec {
                sample_rate: 44_100,
                channels: 2,
                format,
            };
            let seg = draft(&d, spec, pcm).sign(&owner);
            assert_eq!(seg.frames(), 2);
            let back = RadioMessage::decode(seg.encoded(), &d).unwrap();
            assert_eq!(back, RadioMessage::Segment(seg));
        }
        let hb = encode_heartbeat(&d.id(), 5);
        assert_eq!(
            RadioMessage::decode(&hb, &d).unwrap(),
            RadioMessage::Heartbeat { sent_ms: 5 }
        );
    }

    #[test]
    fn forged_and_foreign_segments_are_rejected() {
        let (owner, d) = channel();
        let spec = PcmSpec {
            sample_rate: 8000,
            channels: 1,
            format: SampleFormat::Int(16),
        };
        let seg = draft(&d, spec, Pcm::I16(vec![7; 100])).sign(&owner);
        // Tampered audio.
        let mut bad = seg.encoded().to_vec();
        let n = bad.len();
        bad[n - 80] ^= 1;
        assert_eq!(
            RadioMessage::decode(&bad, &d),
            Err(DecodeError::BadSignature)
        );
        assert_eq!(
            RadioMessage::check(&bad, &d),
            Err(DecodeError::BadSignature)
        );
        assert_eq!(
            RadioMessage::check(seg.encoded(), &d),
            Ok(CheckedMessage::Segment {
                seq: 42,
                broadcast_ms: 1_700_000_000_000,
            })
        );
        // Signed by another key for this channel.
        let thief = ArtistKeypair::from_seed([1; 32]);
        let forged = draft(&d, spec, Pcm::I16(vec![7; 100])).sign(&thief);
        assert_eq!(
            RadioMessage::decode(forged.encoded(), &d),
            Err(DecodeError::BadSignature)
        );
        // A segment of another channel.
        let other = ChannelDescriptor::sign(&owner, "Other FM", "", 1);
        assert!(RadioMessage::decode(seg.encoded(), &other).is_err());
        // Wrong audio length for the declared frames.
        let mut short = draft(&d, spec, Pcm::I16(vec![7; 100])).sign(&owner).encoded;
        short.truncate(short.len() - 66);
        assert!(RadioMessage::decode(&short, &d).is_err());
        assert!(RadioMessage::decode(&vec![1; MAX_SEGMENT_BYTES + 1], &d).is_err());
    }

    fn packets(n: usize) -> SegmentAudio {
        SegmentAudio::Packets {
            codec: PacketCodec::Flac,
            setup_id: setup_id(&[7; 34]),
            extra: vec![7; 34],
            packets: (0..n)
                .map(|i| EncodedPacket {
                    data: vec![i as u8; 100 + i],
                    frames: 4096,
                    trim_start: (i == 0) as u32 * 10,
                    trim_end: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn packet_segments_round_trip_and_keep_their_limits() {
        let (owner, d) = channel();
        let spec = PcmSpec {
            sample_rate: 44_100,
            channels: 2,
            format: SampleFormat::Int(16),
        };
        let mut draft = draft(&d, spec, Pcm::I16(Vec::new()));
        draft.audio = packets(11);
        let seg = draft.clone().sign(&owner);
        assert_eq!(seg.frames(), 11 * 4096);
        let setup = seg.packet_setup(|_| None).unwrap();
        assert_eq!((setup.codec, setup.extra.len()), (PacketCodec::Flac, 34));
        // The packets' own bytes plus a small framing: the point of carrying packets.
        let payload: usize = (0..11).map(|i| 100 + i).sum();
        assert!(
            seg.encoded().len() < payload + 34 + 11 * 10 + 400,
            "{}",
            seg.encoded().len()
        );
        assert_eq!(
            RadioMessage::decode(seg.encoded(), &d).unwrap(),
            RadioMessage::Segment(seg.clone())
        );
        let mut bad = seg.encoded().to_vec();
        bad[200] ^= 1;
        assert_eq!(
            RadioMessage::decode(&bad, &d),
            Err(DecodeError::BadSignature)
        );
        // No frames at all, an unknown codec, a setup over its limit: refused.
        draft.audio = packets(0);
        assert!(RadioMessage::decode(draft.clone().sign(&owner).encoded(), &d).is_err());
        draft.audio = SegmentAudio::Packets {
            codec: PacketCodec::Mp3,
            setup_id: setup_id(&vec![0; MAX_SETUP + 1]),
            extra: vec![0; MAX_SETUP + 1],
            packets: vec![EncodedPacket {
                data: vec![1],
                frames: 1152,
                trim_start: 0,
                trim_end: 0,
            }],
        };
        assert!(RadioMessage::decode(draft.clone().sign(&owner).encoded(), &d).is_err());
        let cut = &seg.encoded()[..seg.encoded().len() - 64];
        assert!(RadioMessage::decode(cut, &d).is_err());
    }

    proptest! {
        #[test]
        fn mutated_segments_never_panic(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let (owner, d) = channel();
            let spec = PcmSpec { sample_rate: 8000, channels: 1, format: SampleFormat::Int(16) };
            let mut bytes = draft(&d, spec, Pcm::I16(vec![3; 64])).sign(&owner).encoded;
            let i = pos % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
            // The validator's check accepts exactly what decode accepts.
            prop_assert_eq!(
                RadioMessage::check(&bytes, &d).is_ok(),
                RadioMessage::decode(&bytes, &d).is_ok()
            );
        }
    }
}
