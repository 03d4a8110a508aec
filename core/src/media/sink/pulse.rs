//! Output to a PulseAudio or PipeWire server through the pure-Rust `pulseaudio` protocol crate.
//!
//! The sink speaks the native protocol over the server's Unix socket: it authenticates, asks for
//! the server's default sample rate, and opens one playback stream of stereo `f32` at that rate.
//! The server clocks the stream: [`PulseSink::write`] sends only as many bytes as the server has
//! requested, and waits for the next request otherwise, which paces the player.

use std::ffi::CString;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pulseaudio::protocol::{self, Command};

use super::{AudioSink, SinkInput, output_error};
use crate::media::MediaError;
use crate::media::decode::{Pcm, PcmSpec};

/// How long the sink waits for the server before it calls the device gone.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// A playback stream on the PulseAudio (or PipeWire-pulse) server.
pub struct PulseSink {
    sock: BufReader<UnixStream>,
    version: u16,
    channel: u32,
    sample_rate: u32,
    requested: usize,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for PulseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseSink")
            .field("channel", &self.channel)
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl PulseSink {
    /// Connects to the server named by the environment (`PULSE_SERVER`, `XDG_RUNTIME_DIR`) and
    /// opens a stream. Fails when there is no server.
    pub fn connect(app_name: &str) -> Result<Self, MediaError> {
        let path = pulseaudio::socket_path_from_env()
            .ok_or_else(|| MediaError::Output("no PulseAudio server found".to_owned()))?;
        let stream = UnixStream::connect(&path)
            .map_err(|e| MediaError::Output(format!("{}: {e}", path.display())))?;
        stream
            .set_read_timeout(Some(SERVER_TIMEOUT))
            .map_err(output_error)?;
        stream
            .set_write_timeout(Some(SERVER_TIMEOUT))
            .map_err(output_error)?;
        let mut sock = BufReader::new(stream);

        let cookie = pulseaudio::cookie_path_from_env()
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        let auth = protocol::AuthParams {
            version: protocol::MAX_VERSION,
            supports_shm: false,
            supports_memfd: false,
            cookie,
        };
        protocol::write_command_message(
            sock.get_mut(),
            0,
            &Command::Auth(auth),
            protocol::MAX_VERSION,
        )
        .map_err(output_error)?;
        let (_, reply) =
            protocol::read_reply_message::<protocol::AuthReply>(&mut sock, protocol::MAX_VERSION)
                .map_err(output_error)?;
        let version = protocol::MAX_VERSION.min(reply.version);

        let mut props = protocol::Props::new();
        let name = CString::new(app_name.replace('\0', "")).map_err(output_error)?;
        props.set(protocol::Prop::ApplicationName, name);
        protocol::write_command_message(sock.get_mut(), 1, &Command::SetClientName(props), version)
            .map_err(output_error)?;
        protocol::read_reply_message::<protocol::SetClientNameReply>(&mut sock, version)
            .map_err(output_error)?;

        protocol::write_command_message(sock.get_mut(), 2, &Command::GetServerInfo, version)
            .map_err(output_error)?;
        let (_, info) = protocol::read_reply_message::<protocol::ServerInfo>(&mut sock, version)
            .map_err(output_error)?;
        let sample_rate = match info.sample_spec.sample_rate {
            0 => 48_000,
            r => r,
        };

        let params = protocol::PlaybackStreamParams {
            sample_spec: protocol::SampleSpec {
                format: protocol::SampleFormat::Float32Le,
                channels: 2,
                sample_rate,
            },
            channel_map: protocol::ChannelMap::stereo(),
            cvolume: Some(protocol::ChannelVolume::norm(2)),
            sink_name: Some(protocol::DEFAULT_SINK.to_owned()),
            ..Default::default()
        };
        protocol::write_command_message(
            sock.get_mut(),
            3,
            &Command::CreatePlaybackStream(params),
            version,
        )
        .map_err(output_error)?;
        let (_, stream) =
            protocol::read_reply_message::<protocol::CreatePlaybackStreamReply>(&mut sock, version)
                .map_err(output_error)?;
        Ok(Self {
            sock,
            version,
            channel: stream.channel,
            sample_rate,
            requested: stream.requested_bytes as usize,
            seq: 10,
            buf: Vec::new(),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(100);
        self.seq
    }

    fn send(&mut self, command: &Command) -> Result<u32, MediaError> {
        let seq = self.next_seq();
        protocol::write_command_message(self.sock.get_mut(), seq, command, self.version)
            .map_err(output_error)?;
        Ok(seq)
    }

    /// Reads one message from the server; returns the sequence number of a reply.
    fn pump(&mut self) -> Result<Option<u32>, MediaError> {
        let (seq, msg) =
            protocol::read_command_message(&mut self.sock, self.version).map_err(output_error)?;
        match msg {
            Command::Request(r) if r.channel == self.channel => {
                self.requested += r.length as usize;
            }
            Command::Error(e) => return Err(MediaError::Output(format!("server: {e:?}"))),
            Command::PlaybackStreamKilled(_) => {
                return Err(MediaError::Output(
                    "the server closed the stream".to_owned(),
                ));
            }
            Command::Reply => return Ok(Some(seq)),
            _ => {}
        }
        Ok(None)
    }
}

impl AudioSink for PulseSink {
    fn input(&self) -> SinkInput {
        SinkInput::Device {
            sample_rate: self.sample_rate,
            channels: 2,
        }
    }

    fn begin(&mut self, _spec: &PcmSpec) -> Result<(), MediaError> {
        Ok(())
    }

    fn write(&mut self, pcm: &Pcm) -> Result<(), MediaError> {
        let Pcm::F32(samples) = pcm else {
            return Err(MediaError::Output(
                "the device takes f32 samples".to_owned(),
            ));
        };
        self.buf.clear();
        for s in samples {
            self.buf.extend_from_slice(&s.to_le_bytes());
        }
        let mut sent = 0;
        while sent < self.buf.len() {
            while self.requested == 0 {
                self.pump()?;
            }
            // Whole frames only (8 bytes for stereo f32).
            let n = self.requested.min(self.buf.len() - sent) / 8 * 8;
            let n = if n == 0 { self.buf.len() - sent } else { n };
            protocol::write_memblock(
                self.sock.get_mut(),
                self.channel,
                &self.buf[sent..sent + n],
                0,
            )
            .map_err(output_error)?;
            self.requested = self.requested.saturating_sub(n);
            sent += n;
        }
        Ok(())
    }

    fn set_paused(&mut self, paused: bool) {
        let cork = Command::CorkPlaybackStream(protocol::CorkStreamParams {
            channel: self.channel,
            cork: paused,
        });
        if let Err(e) = self.send(&cork) {
            tracing::warn!(error = %e, "could not pause the audio stream");
        }
    }

    fn discard(&mut self) {
        if let Err(e) = self.send(&Command::FlushPlaybackStream(self.channel)) {
            tracing::warn!(error = %e, "could not flush the audio stream");
        }
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        let seq = self.send(&Command::DrainPlaybackStream(self.channel))?;
        loop {
            if self.pump()? == Some(seq) {
                return Ok(());
            }
        }
    }
}
