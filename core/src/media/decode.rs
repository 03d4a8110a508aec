//! Decoding a track into interleaved PCM at its own bit depth.
//!
//! [`TrackDecoder`] opens any symphonia `MediaSource` (a file, bytes in memory, or a
//! [`StreamingSource`] such as the chunk store's) and yields [`PcmBlock`]s. Integer sources (FLAC, WAV)
//! come out as integers at the file's bit depth, exactly as stored; lossy sources (MP3, Vorbis)
//! come out as `f32`, exactly as the codec produced them. Every symphonia call runs under
//! [`super::guard`], so damaged data gives an error, never a panic.

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{
    CODEC_TYPE_NULL, CodecParameters, Decoder, DecoderOptions, VerificationCheck,
};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, SeekMode, SeekTo};
use symphonia::core::io::MediaSource;

use super::MediaError;
use super::streaming::{SourceError, StreamingSource};

/// How samples are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Signed integers of this many bits (8 to 32).
    Int(u8),
    /// 32-bit floats in -1.0..=1.0.
    Float,
}

/// The stream parameters of decoded audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmSpec {
    /// Frames per second.
    pub sample_rate: u32,
    /// Samples per frame.
    pub channels: u16,
    /// Sample representation.
    pub format: SampleFormat,
}

impl PcmSpec {
    /// Bytes per sample in a WAV file or a PCM MD5 (8-bit and 16-bit integers keep their size,
    /// 24-bit take three bytes, floats four).
    pub fn bytes_per_sample(&self) -> usize {
        match self.format {
            SampleFormat::Int(bits) => (bits as usize).div_ceil(8),
            SampleFormat::Float => 4,
        }
    }
}

/// Interleaved samples.
#[derive(Debug, Clone, PartialEq)]
pub enum Pcm {
    /// Integer samples of at most 16 bits, right-aligned (a 16-bit sample as stored).
    I16(Vec<i16>),
    /// Integer samples of 17 to 32 bits, right-aligned (a 24-bit sample in -2^23..2^23).
    I32(Vec<i32>),
    /// Float samples.
    F32(Vec<f32>),
}

impl Pcm {
    /// `frames` frames of silence in `spec`'s format.
    pub fn silence(spec: &PcmSpec, frames: usize) -> Self {
        let n = frames * usize::from(spec.channels.max(1));
        match spec.format {
            SampleFormat::Float => Pcm::F32(vec![0.0; n]),
            SampleFormat::Int(bits) if bits <= 16 => Pcm::I16(vec![0; n]),
            SampleFormat::Int(_) => Pcm::I32(vec![0; n]),
        }
    }

    /// Appends `more` (of the same sample type; another type is left out).
    pub fn append(&mut self, more: Pcm) {
        match (self, more) {
            (Pcm::I16(a), Pcm::I16(b)) => a.extend(b),
            (Pcm::I32(a), Pcm::I32(b)) => a.extend(b),
            (Pcm::F32(a), Pcm::F32(b)) => a.extend(b),
            _ => {}
        }
    }

    /// Number of samples (frames times channels).
    pub fn len(&self) -> usize {
        match self {
            Pcm::I16(v) => v.len(),
            Pcm::I32(v) => v.len(),
            Pcm::F32(v) => v.len(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `samples` samples.
    pub fn truncate(&mut self, samples: usize) {
        match self {
            Pcm::I16(v) => v.truncate(samples),
            Pcm::I32(v) => v.truncate(samples),
            Pcm::F32(v) => v.truncate(samples),
        }
    }

    /// Drops the first `samples` samples.
    pub fn skip(&mut self, samples: usize) {
        fn cut<T>(v: &mut Vec<T>, n: usize) {
            v.drain(..n.min(v.len()));
        }
        match self {
            Pcm::I16(v) => cut(v, samples),
            Pcm::I32(v) => cut(v, samples),
            Pcm::F32(v) => cut(v, samples),
        }
    }

    /// The samples as floats in -1.0..=1.0, for output devices. `bits` is the integer depth.
    pub fn to_f32(&self, format: SampleFormat) -> Vec<f32> {
        match self {
            Pcm::I16(v) => {
                let bits = match format {
                    SampleFormat::Int(b) => b.clamp(1, 16),
                    SampleFormat::Float => 16,
                };
                let scale = 1.0 / (1i32 << (bits - 1)) as f32;
                v.iter().map(|&s| s as f32 * scale).collect()
            }
            Pcm::I32(v) => {
                let bits = match format {
                    SampleFormat::Int(b) => b.clamp(17, 32),
                    SampleFormat::Float => 32,
                };
                let scale = 1.0 / (1i64 << (bits - 1)) as f64;
                v.iter().map(|&s| (s as f64 * scale) as f32).collect()
            }
            Pcm::F32(v) => v.clone(),
        }
    }

    /// Appends the samples little-endian at `spec`'s byte width (the WAV and FLAC-MD5 layout).
    pub fn write_le(&self, spec: &PcmSpec, out: &mut Vec<u8>) {
        let width = spec.bytes_per_sample();
        match self {
            Pcm::I16(v) if width == 1 => out.extend(v.iter().map(|&s| s as i8 as u8)),
            Pcm::I16(v) => {
                for s in v {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            Pcm::I32(v) => {
                for s in v {
                    out.extend_from_slice(&s.to_le_bytes()[..width.min(4)]);
                }
            }
            Pcm::F32(v) => {
                for s in v {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
    }
}

/// A run of decoded audio.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmBlock {
    /// The frame (sample per channel) this block starts at, from the track's start.
    pub start_frame: u64,
    /// The samples.
    pub pcm: Pcm,
}

/// How many undecodable packets in a row end playback with [`MediaError::Corrupt`].
const MAX_BAD_PACKETS: u32 = 16;

/// A decoder for one track.
pub struct TrackDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    spec: PcmSpec,
    frames: Option<u64>,
    md5: Option<[u8; 16]>,
    /// Frame position of the next block to hand out.
    position: u64,
    /// Frames still to drop after a seek (the seek landed before the requested frame).
    skip_until: Option<u64>,
    broken: bool,
    ended: bool,
}

impl std::fmt::Debug for TrackDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackDecoder")
            .field("spec", &self.spec)
            .field("frames", &self.frames)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

pub(super) fn map_error(e: SymphoniaError) -> MediaError {
    match e {
        SymphoniaError::IoError(io) => match SourceError::from_io(&io) {
            Some(e) => e.clone().into(),
            None if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                MediaError::Corrupt("unexpected end of file".to_owned())
            }
            None => MediaError::Read(io.into()),
        },
        SymphoniaError::Unsupported(what) => MediaError::Unsupported(what.to_owned()),
        other => MediaError::Corrupt(other.to_string()),
    }
}

/// Whether an I/O error from the source is the plain end of the data.
fn is_end_of_data(e: &SymphoniaError) -> bool {
    matches!(e, SymphoniaError::IoError(io)
        if io.kind() == std::io::ErrorKind::UnexpectedEof && SourceError::from_io(io).is_none())
}

/// The format of the blocks a decoder of `params` gives: the source's rate, channel count and
/// bit depth (floating point for lossy codecs).
pub(super) fn spec_of(params: &CodecParameters) -> Result<PcmSpec, MediaError> {
    let sample_rate = params
        .sample_rate
        .filter(|&r| r > 0)
        .ok_or_else(|| MediaError::Corrupt("no sample rate".to_owned()))?;
    let channels = params
        .channels
        .map(|c| c.count() as u16)
        .filter(|&c| c > 0)
        .ok_or_else(|| MediaError::Corrupt("no channel layout".to_owned()))?;
    let float_source = matches!(
        params.sample_format,
        Some(
            symphonia::core::sample::SampleFormat::F32 | symphonia::core::sample::SampleFormat::F64
        )
    );
    let format = match params.bits_per_sample {
        Some(bits @ 1..=32) if !float_source => SampleFormat::Int(bits as u8),
        _ => SampleFormat::Float,
    };
    Ok(PcmSpec {
        sample_rate,
        channels,
        format,
    })
}

/// Decoded audio as interleaved samples of `format`.
pub(super) fn to_pcm(decoded: AudioBufferRef<'_>, format: SampleFormat) -> Pcm {
    let frames = decoded.frames() as u64;
    if frames == 0 {
        // symphonia's interleaving panics on an empty buffer of two or more channels (it
        // slices from the channel's index); a Vorbis stream's first packet decodes to none.
        return match format {
            SampleFormat::Int(bits) if bits <= 16 => Pcm::I16(Vec::new()),
            SampleFormat::Int(_) => Pcm::I32(Vec::new()),
            SampleFormat::Float => Pcm::F32(Vec::new()),
        };
    }
    match format {
        SampleFormat::Int(bits) if bits <= 16 => {
            let mut buf = SampleBuffer::<i16>::new(frames, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            let shift = 16 - bits as u32;
            Pcm::I16(buf.samples().iter().map(|&s| s >> shift).collect())
        }
        SampleFormat::Int(bits) => {
            let mut buf = SampleBuffer::<i32>::new(frames, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            let shift = 32 - bits as u32;
            Pcm::I32(buf.samples().iter().map(|&s| s >> shift).collect())
        }
        SampleFormat::Float => {
            let mut buf = SampleBuffer::<f32>::new(frames, *decoded.spec());
            buf.copy_interleaved_ref(decoded);
            Pcm::F32(buf.samples().to_vec())
        }
    }
}

impl TrackDecoder {
    /// Opens a source. `extension` (without the dot) helps guess the container.
    pub fn open(source: Box<dyn MediaSource>, extension: Option<&str>) -> Result<Self, MediaError> {
        super::guard(|| Self::open_unguarded(source, extension))
    }

    /// Opens a track whose bytes are still arriving (read from the chunk store). A read that
    /// failed while the container was being recognised (a chunk that did not come, a cancel) is
    /// reported as itself, not as an unrecognised file.
    pub fn open_chunks(
        source: impl StreamingSource,
        extension: Option<&str>,
    ) -> Result<Self, MediaError> {
        let failures = source.failures();
        Self::open(Box::new(source), extension).map_err(|e| match (e, failures.take()) {
            (MediaError::Unsupported(_), Some(cause)) => cause.into(),
            (e, _) => e,
        })
    }

    /// Opens a file's bytes held in memory.
    pub fn from_bytes(bytes: Vec<u8>, extension: Option<&str>) -> Result<Self, MediaError> {
        Self::open(Box::new(std::io::Cursor::new(bytes)), extension)
    }

    fn open_unguarded(
        source: Box<dyn MediaSource>,
        extension: Option<&str>,
    ) -> Result<Self, MediaError> {
        let (format, _tags) = super::open_format(source, extension)?;
        Self::from_format(format)
    }

    /// A decoder of the first audio track of an opened container.
    pub(super) fn from_format(format: Box<dyn FormatReader>) -> Result<Self, MediaError> {
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or(MediaError::NoAudioTrack)?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(map_error)?;
        let spec = spec_of(&params)?;
        let md5 = match params.verification_check {
            Some(VerificationCheck::Md5(sum)) if sum != [0; 16] => Some(sum),
            _ => None,
        };
        Ok(Self {
            format,
            decoder,
            track_id,
            spec,
            frames: params.n_frames,
            md5,
            position: 0,
            skip_until: None,
            broken: false,
            ended: false,
        })
    }

    /// The stream parameters of every block.
    pub fn spec(&self) -> PcmSpec {
        self.spec
    }

    /// Total frames, when the container declares them.
    pub fn frames(&self) -> Option<u64> {
        self.frames
    }

    /// The MD5 of the decoded PCM that the file declares (FLAC STREAMINFO), if any.
    pub fn declared_md5(&self) -> Option<[u8; 16]> {
        self.md5
    }

    /// The frame the next block starts at.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next block, or `None` at the end of the track. After an error other than
    /// [`MediaError::Cancelled`] and [`MediaError::ChunkTimeout`] the decoder stays ended.
    pub fn next_block(&mut self) -> Result<Option<PcmBlock>, MediaError> {
        if self.broken || self.ended {
            return Ok(None);
        }
        let result = super::guard(|| self.next_block_unguarded());
        if let Err(e) = &result
            && !matches!(e, MediaError::Cancelled | MediaError::ChunkTimeout(_))
        {
            self.broken = true;
        }
        result
    }

    fn next_block_unguarded(&mut self) -> Result<Option<PcmBlock>, MediaError> {
        let mut bad = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(e) if is_end_of_data(&e) => {
                    self.ended = true;
                    return Ok(None);
                }
                Err(SymphoniaError::ResetRequired) => {
                    self.ended = true;
                    return Ok(None);
                }
                Err(e) => return Err(map_error(e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let packet_ts = packet.ts();
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymphoniaError::DecodeError(why)) => {
                    bad += 1;
                    tracing::debug!(why, "skipping an undecodable packet");
                    if bad >= MAX_BAD_PACKETS {
                        return Err(MediaError::Corrupt(why.to_owned()));
                    }
                    continue;
                }
                Err(e) if is_end_of_data(&e) => {
                    self.ended = true;
                    return Ok(None);
                }
                Err(e) => return Err(map_error(e)),
            };
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            if decoded.spec().channels.count() != self.spec.channels as usize {
                return Err(MediaError::Corrupt("the channel count changed".to_owned()));
            }
            let channels = self.spec.channels as usize;
            let mut pcm = to_pcm(decoded, self.spec.format);
            let mut start = packet_ts;
            if let Some(target) = self.skip_until {
                let end = start + frames as u64;
                if end <= target {
                    continue;
                }
                if start < target {
                    pcm.skip((target - start) as usize * channels);
                    start = target;
                }
                self.skip_until = None;
            }
            // Timestamps can jump on damaged streams; the position follows what was decoded.
            self.position = start + (pcm.len() / channels) as u64;
            return Ok(Some(PcmBlock {
                start_frame: start,
                pcm,
            }));
        }
    }

    /// Moves to `frame`. The next block starts there exactly when the container allows it (it
    /// may start up to one packet earlier otherwise). Returns the frame the next block starts at.
    pub fn seek(&mut self, frame: u64) -> Result<u64, MediaError> {
        if self.broken {
            return Err(MediaError::Corrupt(
                "the decoder stopped on damaged data".to_owned(),
            ));
        }
        let track_id = self.track_id;
        let result = super::guard(|| {
            let seeked = self
                .format
                .seek(
                    SeekMode::Accurate,
                    SeekTo::TimeStamp {
                        ts: frame,
                        track_id,
                    },
                )
                .map_err(map_error)?;
            self.decoder.reset();
            Ok(seeked)
        });
        match result {
            Ok(seeked) => {
                self.ended = false;
                let target = seeked.required_ts.max(seeked.actual_ts);
                self.skip_until = (seeked.actual_ts < target).then_some(target);
                self.position = target;
                Ok(target)
            }
            Err(e @ (MediaError::Cancelled | MediaError::ChunkTimeout(_))) => Err(e),
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
