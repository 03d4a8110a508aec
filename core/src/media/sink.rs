//! Where decoded audio goes.
//!
//! An [`AudioSink`] either records the track as it is ([`SinkInput::Native`]: [`WavSink`],
//! [`NullSink`]) or plays it on a device that wants one fixed format ([`SinkInput::Device`]:
//! [`PulseSink`], and the cpal sink behind the `cpal` feature). The player converts for device
//! sinks (channel mapping, resampling to the device rate, volume) and hands native sinks the exact
//! decoded samples. A sink's `write` blocks as long as the device needs to take the audio, which
//! is what paces the player.

use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use super::MediaError;
use super::decode::{Pcm, PcmSpec, SampleFormat};

/// What a sink wants to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkInput {
    /// The track's own samples, format and rate, untouched.
    Native,
    /// Interleaved `f32` at this rate and channel count, volume applied.
    Device {
        /// The device's rate in Hz.
        sample_rate: u32,
        /// The device's channel count.
        channels: u16,
    },
}

/// An audio output. Calls come from the player thread only.
pub trait AudioSink: Send {
    /// What [`AudioSink::write`] expects.
    fn input(&self) -> SinkInput;

    /// A stream with `spec` starts (each track for native sinks; the device format once for
    /// device sinks). Consecutive tracks with equal specs continue the same stream (gapless).
    fn begin(&mut self, spec: &PcmSpec) -> Result<(), MediaError>;

    /// Plays or records samples in the format given to [`AudioSink::begin`]. Blocks while the
    /// device is full.
    fn write(&mut self, pcm: &Pcm) -> Result<(), MediaError>;

    /// Pauses or resumes output.
    fn set_paused(&mut self, _paused: bool) {}

    /// Drops audio written but not heard yet (on seek and skip).
    fn discard(&mut self) {}

    /// Plays out or writes what is buffered and closes the stream.
    fn finish(&mut self) -> Result<(), MediaError>;
}

fn output_error(e: impl std::fmt::Display) -> MediaError {
    MediaError::Output(e.to_string())
}

fn write_error(e: std::io::Error) -> MediaError {
    MediaError::Write(e.into())
}

/// Records the track's own samples into a WAV file: integer PCM at the track's bit depth (8-bit
/// as unsigned bytes, 16-bit as little-endian `i16`, 24-bit in three bytes), or 32-bit IEEE
/// float for lossy codecs whose decoder produces floats. Consecutive tracks with the same spec
/// are recorded back to back; a different spec is refused.
pub struct WavSink<W: Write + Seek + Send> {
    out: W,
    spec: Option<PcmSpec>,
    data_bytes: u64,
    header_len: u64,
    buf: Vec<u8>,
    finished: bool,
}

impl<W: Write + Seek + Send> std::fmt::Debug for WavSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("spec", &self.spec)
            .field("data_bytes", &self.data_bytes)
            .finish_non_exhaustive()
    }
}

impl WavSink<std::io::BufWriter<std::fs::File>> {
    /// Creates (or truncates) a WAV file at `path`.
    pub fn create(path: &std::path::Path) -> Result<Self, MediaError> {
        let file = std::fs::File::create(path).map_err(|e| MediaError::CreateFile {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(Self::new(std::io::BufWriter::new(file)))
    }
}

impl<W: Write + Seek + Send> WavSink<W> {
    /// A sink writing to `out` (at its current position, which should be the start).
    pub fn new(out: W) -> Self {
        Self {
            out,
            spec: None,
            data_bytes: 0,
            header_len: 0,
            buf: Vec::new(),
            finished: false,
        }
    }

    /// The spec recorded, once the first track began.
    pub fn spec(&self) -> Option<PcmSpec> {
        self.spec
    }

    /// Audio frames written so far.
    pub fn frames(&self) -> u64 {
        match self.spec {
            Some(s) => self.data_bytes / (s.bytes_per_sample() as u64 * s.channels as u64),
            None => 0,
        }
    }

    /// Gives the writer back (after [`AudioSink::finish`]).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A WAV header for `data_bytes` of samples in `spec` (`u64::MAX`: a stream of unknown
/// length, its sizes at their maximum as streams have them).
pub fn wav_header(spec: &PcmSpec, data_bytes: u64) -> Vec<u8> {
    let float = spec.format == SampleFormat::Float;
    let width = spec.bytes_per_sample() as u32;
    let channels = spec.channels as u32;
    let block_align = width * channels;
    let data = data_bytes.min(u32::MAX as u64 - 64) as u32;
    let fmt_len: u32 = if float { 18 } else { 16 };
    let fact_len: u32 = if float { 12 } else { 0 };
    let riff_len = 4 + (8 + fmt_len) + fact_len + 8 + data;
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&riff_len.to_le_bytes());
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&fmt_len.to_le_bytes());
    h.extend_from_slice(&(if float { 3u16 } else { 1u16 }).to_le_bytes());
    h.extend_from_slice(&(channels as u16).to_le_bytes());
    h.extend_from_slice(&spec.sample_rate.to_le_bytes());
    h.extend_from_slice(&(spec.sample_rate * block_align).to_le_bytes());
    h.extend_from_slice(&(block_align as u16).to_le_bytes());
    h.extend_from_slice(&((width * 8) as u16).to_le_bytes());
    if float {
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(b"fact");
        h.extend_from_slice(&4u32.to_le_bytes());
        h.extend_from_slice(&(data / block_align.max(1)).to_le_bytes());
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

impl<W: Write + Seek + Send> AudioSink for WavSink<W> {
    fn input(&self) -> SinkInput {
        SinkInput::Native
    }

    fn begin(&mut self, spec: &PcmSpec) -> Result<(), MediaError> {
        match self.spec {
            Some(current) if current == *spec => Ok(()),
            Some(current) => Err(MediaError::Output(format!(
                "a WAV file holds one format: recording {current:?}, the next track is {spec:?}"
            ))),
            None => {
                let header = wav_header(spec, 0);
                self.out.write_all(&header).map_err(write_error)?;
                self.header_len = header.len() as u64;
                self.spec = Some(*spec);
                Ok(())
            }
        }
    }

    fn write(&mut self, pcm: &Pcm) -> Result<(), MediaError> {
        let spec = self
            .spec
            .ok_or_else(|| MediaError::Output("write before begin".to_owned()))?;
        self.buf.clear();
        pcm.write_le(&spec, &mut self.buf);
        if spec.bytes_per_sample() == 1 && spec.format != SampleFormat::Float {
            // 8-bit WAV samples are unsigned.
            for b in &mut self.buf {
                *b ^= 0x80;
            }
        }
        if self.data_bytes + self.buf.len() as u64 > u32::MAX as u64 - 64 {
            return Err(MediaError::Output(
                "a WAV file cannot exceed 4 GiB".to_owned(),
            ));
        }
        self.out.write_all(&self.buf).map_err(write_error)?;
        self.data_bytes += self.buf.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        if self.finished {
            return Ok(());
        }
        let spec = match self.spec {
            Some(s) => s,
            None => {
                // Nothing was played: still leave a valid (empty, 16-bit mono) file.
                let empty = PcmSpec {
                    sample_rate: 8000,
                    channels: 1,
                    format: SampleFormat::Int(16),
                };
                self.begin(&empty)?;
                empty
            }
        };
        if self.data_bytes % 2 == 1 {
            // RIFF chunks are padded to an even length.
            self.out.write_all(&[0]).map_err(write_error)?;
        }
        let header = wav_header(&spec, self.data_bytes);
        self.out.seek(SeekFrom::Start(0)).map_err(write_error)?;
        self.out.write_all(&header).map_err(write_error)?;
        self.out.seek(SeekFrom::End(0)).map_err(write_error)?;
        self.out.flush().map_err(write_error)?;
        self.finished = true;
        Ok(())
    }
}

/// Plays nothing. Paced, it keeps time as a device would (used when there is no audio device, so
/// positions and the history stay true); unpaced, it takes audio as fast as it comes (tests).
#[derive(Debug)]
pub struct NullSink {
    paced: bool,
    sample_rate: u32,
    channels: u16,
    started: Option<Instant>,
    written: Duration,
    paused_at: Option<Instant>,
    frames: u64,
}

/// How far ahead of the clock a paced [`NullSink`] lets the player run, like a device buffer.
const NULL_SINK_LEAD: Duration = Duration::from_millis(200);

impl NullSink {
    /// A sink that takes as long as the audio lasts.
    pub fn paced() -> Self {
        Self {
            paced: true,
            ..Self::unpaced()
        }
    }

    /// A sink that returns at once.
    pub fn unpaced() -> Self {
        Self {
            paced: false,
            sample_rate: 1,
            channels: 1,
            started: None,
            written: Duration::ZERO,
            paused_at: None,
            frames: 0,
        }
    }

    /// Frames taken so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl AudioSink for NullSink {
    fn input(&self) -> SinkInput {
        SinkInput::Native
    }

    fn begin(&mut self, spec: &PcmSpec) -> Result<(), MediaError> {
        self.sample_rate = spec.sample_rate.max(1);
        self.channels = spec.channels.max(1);
        Ok(())
    }

    fn write(&mut self, pcm: &Pcm) -> Result<(), MediaError> {
        let frames = (pcm.len() / self.channels as usize) as u64;
        self.frames += frames;
        self.written += Duration::from_secs_f64(frames as f64 / self.sample_rate as f64);
        if !self.paced {
            return Ok(());
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + self.written.saturating_sub(NULL_SINK_LEAD);
        let now = Instant::now();
        if due > now {
            // Keeping time is this sink's job: the wait stands in for a device's clock.
            std::thread::sleep(due - now);
        }
        Ok(())
    }

    fn set_paused(&mut self, paused: bool) {
        match (paused, self.paused_at) {
            (true, None) => self.paused_at = Some(Instant::now()),
            (false, Some(at)) => {
                self.paused_at = None;
                if let Some(started) = &mut self.started {
                    *started += at.elapsed();
                }
            }
            _ => {}
        }
    }

    fn discard(&mut self) {
        // Audio "in the buffer" is forgotten: the clock restarts from now.
        self.started = None;
        self.written = Duration::ZERO;
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        if self.paced
            && let Some(started) = self.started
        {
            let end = started + self.written;
            let now = Instant::now();
            if end > now {
                std::thread::sleep(end - now);
            }
        }
        self.started = None;
        self.written = Duration::ZERO;
        Ok(())
    }
}

#[cfg(feature = "cpal")]
mod cpal_sink;
mod pulse;

#[cfg(feature = "cpal")]
pub use cpal_sink::CpalSink;
pub use pulse::PulseSink;

/// Opens the default audio device: PulseAudio/PipeWire, then (with the `cpal` feature) the
/// system's native API. With no device at all it says so once and returns a paced [`NullSink`],
/// so that playback goes on silently on the clock.
pub fn open_device(app_name: &str) -> Box<dyn AudioSink> {
    match PulseSink::connect(app_name) {
        Ok(sink) => return Box::new(sink),
        Err(e) => tracing::debug!(error = %e, "no PulseAudio server"),
    }
    #[cfg(feature = "cpal")]
    match CpalSink::open() {
        Ok(sink) => return Box::new(sink),
        Err(e) => tracing::debug!(error = %e, "no cpal output device"),
    }
    tracing::warn!("no audio device or sound server: playing silently");
    Box::new(NullSink::paced())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulse_server_when_present_takes_a_second_of_stereo_and_drains() {
        // Runs against a real PulseAudio/PipeWire server when the environment names one;
        // without a server it checks that connecting fails cleanly, without a hang.
        let mut sink = match PulseSink::connect("busker-test") {
            Ok(sink) => sink,
            Err(e) => {
                assert!(matches!(e, MediaError::Output(_)), "{e}");
                return;
            }
        };
        let SinkInput::Device {
            sample_rate,
            channels,
        } = sink.input()
        else {
            panic!("a device sink");
        };
        assert_eq!(channels, 2);
        let spec = PcmSpec {
            sample_rate,
            channels,
            format: SampleFormat::Float,
        };
        sink.begin(&spec).unwrap();
        let second: Vec<f32> = (0..sample_rate as usize)
            .flat_map(|n| {
                let x = (n as f32 * 440.0 * std::f32::consts::TAU / sample_rate as f32).sin();
                [0.1 * x, 0.1 * x]
            })
            .collect();
        let started = Instant::now();
        for part in second.chunks(4096) {
            sink.write(&Pcm::F32(part.to_vec())).unwrap();
        }
        sink.finish().unwrap();
        // The server clocks the stream: a second of audio cannot drain much faster than that.
        assert!(started.elapsed() >= Duration::from_millis(500));
    }

    #[test]
    fn wav_sink_writes_8_bit_unsigned_and_refuses_a_format_change() {
        let mut sink = WavSink::new(std::io::Cursor::new(Vec::new()));
        let spec = PcmSpec {
            sample_rate: 11_025,
            channels: 1,
            format: SampleFormat::Int(8),
        };
        sink.begin(&spec).unwrap();
        sink.write(&Pcm::I16(vec![-128, 0, 127])).unwrap();
        let other = PcmSpec {
            sample_rate: 22_050,
            ..spec
        };
        assert!(sink.begin(&other).is_err());
        sink.finish().unwrap();
        assert_eq!(sink.frames(), 3);
        let bytes = sink.into_inner().into_inner();
        assert_eq!(&bytes[44..47], &[0, 128, 255]);
        assert_eq!(bytes.len(), 48, "odd data is padded to an even chunk");
        assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 8);
    }
}
