//! Playing into the sink: each segment due goes to a thread that owns the sink.
//!
//! A sink's writes block as long as its device needs, so they run on their own thread
//! ([`spawn_writer`]), fed by a bounded channel. [`Listener::play`] takes the next segment (or
//! counts it late when it is missing), reports the start and each new track, and sends the
//! samples (a segment's packets decoded by [`Listener::samples`]); a recording sink gets them as broadcast, a device sink through a [`DeviceOut`].

use std::time::{Duration, Instant};

use super::{FirstSegment, Listener, RadioEvent};
use crate::error::{Error, Result};
use crate::media::{
    AudioSink, DeviceOut, MediaError, PacketDecoder, Pcm, PcmSpec, SampleFormat, SinkInput,
};
use crate::radio::hub::NowPlaying;
use crate::radio::segment::{Segment, SegmentAudio};
use crate::radio::unix_ms;

/// What the listener sends the writer thread.
pub(super) enum WriterMsg {
    Play(PcmSpec, Pcm),
}

/// What the writer thread ends with: frames written and the first stream's format.
pub(super) type WriterResult = std::result::Result<(u64, Option<PcmSpec>), MediaError>;

/// The thread that owns the sink (its writes block as long as a device needs).
pub(super) fn spawn_writer(
    mut sink: Box<dyn AudioSink>,
) -> (
    std::sync::mpsc::SyncSender<WriterMsg>,
    std::thread::JoinHandle<WriterResult>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<WriterMsg>(64);
    let handle = std::thread::spawn(move || {
        let mut current: Option<PcmSpec> = None;
        let mut first: Option<PcmSpec> = None;
        let mut frames = 0u64;
        let mut device: Option<DeviceOut> = None;
        while let Ok(WriterMsg::Play(spec, pcm)) = rx.recv() {
            frames += (pcm.len() / spec.channels.max(1) as usize) as u64;
            first.get_or_insert(spec);
            match sink.input() {
                SinkInput::Native => {
                    if current != Some(spec) {
                        sink.begin(&spec)?;
                        current = Some(spec);
                    }
                    sink.write(&pcm)?;
                }
                SinkInput::Device {
                    sample_rate,
                    channels,
                } => {
                    let out = device
                        .get_or_insert_with(|| DeviceOut::new(sample_rate, channels))
                        .convert(&spec, &pcm, 1.0);
                    if current.is_none() {
                        let device_spec = PcmSpec {
                            sample_rate,
                            channels,
                            format: SampleFormat::Float,
                        };
                        sink.begin(&device_spec)?;
                        current = Some(device_spec);
                    }
                    sink.write(&out)?;
                }
            }
        }
        sink.finish()?;
        Ok((frames, first))
    });
    (tx, handle)
}

impl Listener {
    /// A segment's samples: its PCM, or its packets decoded (by the decoder kept from the
    /// segment before when the setup is the same, so a codec's state carries over). A decoder
    /// that cannot be made gives silence of the segment's length.
    fn samples(&mut self, segment: &Segment) -> Pcm {
        let fields = segment.fields();
        // A setup left out rides in an earlier segment, which the hub keeps (a track's first
        // segment carries it, and a tune-in answer brings the newest that does).
        let channel = self.descriptor.id();
        let known = |id: u32| self.hub.setup(&channel, id);
        let (SegmentAudio::Packets { packets, .. }, Some(setup)) =
            (&fields.audio, segment.packet_setup(known))
        else {
            return match &fields.audio {
                SegmentAudio::Pcm(pcm) => pcm.clone(),
                SegmentAudio::Packets { .. } => {
                    tracing::debug!("a segment whose codec setup is not here yet: silence");
                    self.lacks_setup = true;
                    Pcm::silence(&fields.spec, segment.frames() as usize)
                }
            };
        };
        if self.packets.as_ref().map(PacketDecoder::setup) != Some(&setup) {
            self.packets = PacketDecoder::new(&setup)
                .inspect_err(|e| tracing::warn!(error = %e, "cannot decode the channel's audio"))
                .ok();
        }
        let decoded = self.packets.as_mut().map(|d| d.decode(packets));
        match decoded {
            Some(Ok(pcm)) => pcm,
            _ => Pcm::silence(&fields.spec, segment.frames() as usize),
        }
    }

    /// Plays the next segment (or skips it as late when it is not here) and moves on.
    pub(super) fn play(
        &mut self,
        writer: &std::sync::mpsc::SyncSender<WriterMsg>,
        started: Instant,
    ) -> Result<()> {
        let Some(seq) = self.next else {
            return Ok(());
        };
        let due = self.play_time(seq);
        match self.buffer.remove(&seq) {
            Some(segment) => {
                if let Some(tap) = &self.options.tap
                    && tap.try_send(segment.clone()).is_err()
                {
                    // The reader (a player's HTTP connection) is behind: it misses this
                    // segment; the listener plays on without waiting for it.
                    self.report.tap_left_out += 1;
                    tracing::debug!(seq, "the tap's reader is behind: a segment left out");
                }
                let mut pcm = self.samples(&segment);
                let fields = segment.fields();
                let trim = std::mem::take(&mut self.trim);
                pcm.skip(trim as usize * fields.spec.channels.max(1) as usize);
                let rate = f64::from(fields.spec.sample_rate.max(1));
                let trim_ms = trim as f64 * 1000.0 / rate;
                if self.report.first.is_none() {
                    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
                    self.report.startup_ms = Some(startup_ms);
                    self.report.first = Some(FirstSegment {
                        seq,
                        track: fields.track,
                        frame: fields.frame + trim,
                    });
                    self.emit(RadioEvent::Started { startup_ms });
                }
                if self.track != Some(fields.track) {
                    self.track = Some(fields.track);
                    self.report.tracks.push(NowPlaying::of(&segment));
                    self.emit(RadioEvent::NowPlaying {
                        track: fields.track,
                        title: fields.title.clone(),
                        artist: fields.artist.clone(),
                    });
                }
                self.lags
                    .push(unix_ms() as f64 - segment.broadcast_ms() as f64 - trim_ms);
                let duration =
                    Duration::from_secs_f64((segment.duration_ms() - trim_ms).max(0.0) / 1000.0);
                writer
                    .send(WriterMsg::Play(fields.spec, pcm))
                    .map_err(|_| {
                        Error::Media(MediaError::Output("the audio output stopped".into()))
                    })?;
                self.report.segments += 1;
                self.played += duration;
                // A trimmed first segment must not shorten the missing ones after it: they
                // would be skipped faster than the broadcast runs, and playback would run ahead.
                self.last_duration = Duration::from_secs_f64(segment.duration_ms() / 1000.0);
                self.expected = due + duration;
            }
            None => {
                self.report.late += 1;
                tracing::debug!(seq, "segment missing at its play time: skipped");
                self.emit(RadioEvent::Gap { seq });
                self.played += self.last_duration;
                self.expected = due + self.last_duration;
            }
        }
        self.requested.remove(&seq);
        self.next = Some(seq + 1);
        Ok(())
    }
}
