//! A track as the codec's own packets, for the radio: a [`PacketReader`] takes them out of a
//! file without decoding, a [`PacketDecoder`] turns them into samples on the listener's side.
//!
//! MP3 frames, FLAC frames and Vorbis packets travel as they are in the file (a tenth of the
//! bytes of the PCM for a 128 kbit/s MP3). What a decoder needs besides the packets is the
//! [`PacketSetup`]: the codec, and its setup bytes (FLAC's 34-byte STREAMINFO, Vorbis's
//! identification and setup headers, kilobytes). Other codecs have no packet path
//! ([`RadioSource::open`] gives a decoder) and the radio sends their decoded samples.

use symphonia::core::audio::Channels;
use symphonia::core::codecs::{
    CODEC_TYPE_FLAC, CODEC_TYPE_MP3, CODEC_TYPE_NULL, CODEC_TYPE_VORBIS, CodecParameters, Decoder,
    DecoderOptions,
};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, Packet};
use symphonia::core::io::MediaSource;

use super::MediaError;
use super::decode::{Pcm, PcmSpec, map_error, spec_of, to_pcm};

/// Most bytes of codec setup a [`PacketSetup`] carries (Vorbis setup headers are a few
/// kilobytes).
pub const MAX_SETUP: usize = 64 * 1024;

/// The codecs whose packets travel as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketCodec {
    /// MPEG-1/2 Layer III frames.
    Mp3,
    /// FLAC frames.
    Flac,
    /// Vorbis packets (from Ogg); its setup is the identification and setup headers.
    Vorbis,
}

impl PacketCodec {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Mp3 => 1,
            Self::Flac => 2,
            Self::Vorbis => 3,
        }
    }

    /// The codec of a wire code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Mp3),
            2 => Some(Self::Flac),
            3 => Some(Self::Vorbis),
            _ => None,
        }
    }
}

/// What a decoder needs besides the packets: the codec, the output format, and the codec's own
/// setup bytes (FLAC's STREAMINFO; nothing for MP3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketSetup {
    /// The codec.
    pub codec: PacketCodec,
    /// What the decoder gives: rate, channels, sample format.
    pub spec: PcmSpec,
    /// The codec's setup bytes, at most [`MAX_SETUP`].
    pub extra: Vec<u8>,
}

impl PacketSetup {
    fn params(&self) -> CodecParameters {
        let mut params = CodecParameters::new();
        let codec = match self.codec {
            PacketCodec::Mp3 => CODEC_TYPE_MP3,
            PacketCodec::Flac => CODEC_TYPE_FLAC,
            PacketCodec::Vorbis => CODEC_TYPE_VORBIS,
        };
        let channels = Channels::from_bits_truncate((1u32 << self.spec.channels.min(32)) - 1);
        params
            .for_codec(codec)
            .with_sample_rate(self.spec.sample_rate)
            .with_channels(channels);
        if let super::SampleFormat::Int(bits) = self.spec.format {
            params.with_bits_per_sample(u32::from(bits));
        }
        if !self.extra.is_empty() {
            params.with_extra_data(self.extra.clone().into_boxed_slice());
        }
        params
    }
}

/// One packet of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPacket {
    /// The codec's bytes.
    pub data: Vec<u8>,
    /// Frames it decodes to, after trimming.
    pub frames: u32,
    /// Decoded frames to drop from its start (encoder delay).
    pub trim_start: u32,
    /// Decoded frames to drop from its end (encoder padding).
    pub trim_end: u32,
}

/// Reads a track's packets without decoding them.
pub struct PacketReader {
    format: Box<dyn FormatReader>,
    track_id: u32,
    setup: PacketSetup,
}

impl std::fmt::Debug for PacketReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketReader")
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

/// A track opened for the radio: its packets when its codec has a packet path, else a decoder
/// of its samples.
#[derive(Debug)]
pub enum RadioSource {
    /// MP3 or FLAC: the packets as they are.
    Packets(PacketReader),
    /// Any other codec: decoded samples.
    Decoded(super::TrackDecoder),
}

impl RadioSource {
    /// Opens `source` (a file, or a live stream that cannot seek); `extension` helps guess the
    /// container.
    pub fn open(source: Box<dyn MediaSource>, extension: Option<&str>) -> Result<Self, MediaError> {
        super::guard(|| {
            let (format, _) = super::open_format(source, extension)?;
            let track = format
                .tracks()
                .iter()
                .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
                .ok_or(MediaError::NoAudioTrack)?;
            let params = &track.codec_params;
            let codec = match params.codec {
                CODEC_TYPE_MP3 => Some(PacketCodec::Mp3),
                CODEC_TYPE_FLAC => Some(PacketCodec::Flac),
                CODEC_TYPE_VORBIS => Some(PacketCodec::Vorbis),
                _ => None,
            };
            let extra = params.extra_data.as_deref().unwrap_or_default().to_vec();
            match codec {
                Some(codec) if extra.len() <= MAX_SETUP => {
                    let setup = PacketSetup {
                        codec,
                        spec: spec_of(params)?,
                        extra,
                    };
                    let track_id = track.id;
                    Ok(Self::Packets(PacketReader {
                        format,
                        track_id,
                        setup,
                    }))
                }
                _ => Ok(Self::Decoded(super::TrackDecoder::from_format(format)?)),
            }
        })
    }
}

impl PacketReader {
    /// What a decoder of these packets needs.
    pub fn setup(&self) -> &PacketSetup {
        &self.setup
    }

    /// The next packet, or `None` at the end of the track.
    pub fn next_packet(&mut self) -> Result<Option<EncodedPacket>, MediaError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(None);
                }
                Err(SymphoniaError::ResetRequired) => return Ok(None),
                Err(e) => return Err(map_error(e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            return Ok(Some(EncodedPacket {
                frames: u32::try_from(packet.dur).unwrap_or(u32::MAX),
                trim_start: packet.trim_start,
                trim_end: packet.trim_end,
                data: packet.data.into_vec(),
            }));
        }
    }
}

/// Decodes the packets of one [`PacketSetup`], keeping the codec's state from one call to the
/// next (a listener feeds it segment after segment).
pub struct PacketDecoder {
    decoder: Box<dyn Decoder>,
    setup: PacketSetup,
    bad: u64,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

impl PacketDecoder {
    /// A decoder for `setup`.
    pub fn new(setup: &PacketSetup) -> Result<Self, MediaError> {
        let decoder = super::guard(|| {
            symphonia::default::get_codecs()
                .make(&setup.params(), &DecoderOptions::default())
                .map_err(map_error)
        })?;
        Ok(Self {
            decoder,
            setup: setup.clone(),
            bad: 0,
        })
    }

    /// The setup it decodes.
    pub fn setup(&self) -> &PacketSetup {
        &self.setup
    }

    /// Packets so far that did not decode (given as silence).
    pub fn bad_packets(&self) -> u64 {
        self.bad
    }

    /// Decodes `packets` into interleaved samples of the setup's format: each packet gives its
    /// `frames` (a packet that does not decode gives that much silence, so timing holds).
    pub fn decode(&mut self, packets: &[EncodedPacket]) -> Result<Pcm, MediaError> {
        let spec = self.setup.spec;
        let channels = usize::from(spec.channels.max(1));
        let mut out = Pcm::silence(&spec, 0);
        for p in packets {
            let packet = Packet::new_trimmed_from_slice(
                0,
                0,
                u64::from(p.frames),
                p.trim_start,
                p.trim_end,
                &p.data,
            );
            let decoded = super::guard(|| match self.decoder.decode(&packet) {
                Ok(buf) if buf.spec().channels.count() == channels => {
                    Ok(Some(to_pcm(buf, spec.format)))
                }
                Ok(_) => Ok(None),
                Err(e) => {
                    tracing::debug!(error = %e, "a radio packet did not decode: silence instead");
                    Ok(None)
                }
            })?;
            if decoded.is_none() {
                self.bad += 1;
            }
            let mut pcm = decoded.unwrap_or_else(|| Pcm::silence(&spec, p.frames as usize));
            // Exactly the frames the packet claims: the schedule counts on them.
            let want = p.frames as usize * channels;
            if pcm.len() > want {
                pcm.truncate(want);
            } else if pcm.len() < want {
                let missing = (want - pcm.len()) / channels;
                pcm.append(Pcm::silence(&spec, missing));
            }
            out.append(pcm);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TrackDecoder;

    /// The packet reader of a file's bytes, `None` when its codec has no packet path.
    fn packets_of(bytes: Vec<u8>, ext: &str) -> Option<PacketReader> {
        match RadioSource::open(Box::new(std::io::Cursor::new(bytes)), Some(ext)).unwrap() {
            RadioSource::Packets(reader) => Some(reader),
            RadioSource::Decoded(_) => None,
        }
    }

    fn decode_all(bytes: &[u8], ext: &str) -> Pcm {
        let mut d = TrackDecoder::from_bytes(bytes.to_vec(), Some(ext)).unwrap();
        let mut all = Pcm::silence(&d.spec(), 0);
        while let Some(b) = d.next_block().unwrap() {
            all.append(b.pcm);
        }
        all
    }

    fn through_packets(bytes: &[u8], ext: &str, per_call: usize) -> (PacketSetup, Pcm, usize) {
        let mut reader = packets_of(bytes.to_vec(), ext).unwrap();
        let setup = reader.setup().clone();
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet().unwrap() {
            packets.push(p);
        }
        let size: usize = packets.iter().map(|p| p.data.len()).sum();
        let mut decoder = PacketDecoder::new(&setup).unwrap();
        let mut all = Pcm::silence(&setup.spec, 0);
        for group in packets.chunks(per_call) {
            all.append(decoder.decode(group).unwrap());
        }
        (setup, all, size)
    }

    #[test]
    fn flac_and_mp3_packets_decode_to_what_the_file_decodes_to() {
        for (file, ext) in [
            ("opsound_manolo_camp-morning_coffee.tagged.flac", "flac"),
            ("pg10284_spring_of_love_1903.id3v2_3.mp3", "mp3"),
            ("opsound_manolo_camp-morning_coffee.tagged.ogg", "ogg"),
        ] {
            let bytes = std::fs::read(crate::test_utils::audio_fixture(file)).unwrap();
            let reference = decode_all(&bytes, ext);
            let (setup, pcm, size) = through_packets(&bytes, ext, 37);
            assert_eq!(pcm, reference, "{file}");
            assert!(
                size <= bytes.len(),
                "{file}: packets are the file's own bytes"
            );
            assert_eq!(setup.extra.is_empty(), ext == "mp3", "{file}");
            assert!(
                setup.extra.len() < 16 * 1024,
                "{file}: {} bytes of setup",
                setup.extra.len()
            );
        }
        let wav = crate::test_utils::wav_pcm16(8000, 1, 1000, 1);
        assert!(packets_of(wav, "wav").is_none());
    }

    #[test]
    fn a_packet_that_does_not_decode_gives_its_length_in_silence() {
        let bytes = std::fs::read(crate::test_utils::audio_fixture(
            "pg10284_spring_of_love_1903.id3v2_3.mp3",
        ))
        .unwrap();
        let mut reader = packets_of(bytes, "mp3").unwrap();
        let mut packets: Vec<_> = (0..5)
            .filter_map(|_| reader.next_packet().unwrap())
            .collect();
        packets[2].data = vec![0xAB; 40];
        let mut decoder = PacketDecoder::new(reader.setup()).unwrap();
        let pcm = decoder.decode(&packets).unwrap();
        let frames: usize = packets.iter().map(|p| p.frames as usize).sum();
        assert_eq!(
            pcm.len(),
            frames * usize::from(reader.setup().spec.channels)
        );
    }
}
