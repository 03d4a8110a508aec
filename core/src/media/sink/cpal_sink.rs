//! Output through cpal (feature `cpal`): ALSA, CoreAudio, WASAPI for systems without a
//! PulseAudio or PipeWire server.
//!
//! cpal pulls audio from a callback on its own thread, and its stream handle may not move between
//! threads, so the sink keeps the stream on a thread of its own and hands it samples through a
//! bounded buffer: [`CpalSink::write`] blocks while the buffer is full, which paces the player;
//! the callback never blocks and plays silence when the buffer runs dry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::{AudioSink, SinkInput, output_error};
use crate::media::MediaError;
use crate::media::decode::{Pcm, PcmSpec};

/// About a fifth of a second of buffer at 48 kHz stereo.
const BUFFER_SAMPLES: usize = 48_000 * 2 / 5;

struct Shared {
    buf: Mutex<VecDeque<f32>>,
    space: Condvar,
    paused: AtomicBool,
    failed: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A stream on the system's default output device.
pub struct CpalSink {
    shared: Arc<Shared>,
    sample_rate: u32,
    channels: u16,
    stop: Option<SyncSender<()>>,
}

impl std::fmt::Debug for CpalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalSink")
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl CpalSink {
    /// Opens the default output device at its default rate.
    pub fn open() -> Result<Self, MediaError> {
        let shared = Arc::new(Shared {
            buf: Mutex::new(VecDeque::with_capacity(BUFFER_SAMPLES)),
            space: Condvar::new(),
            paused: AtomicBool::new(false),
            failed: Mutex::new(None),
        });
        let (ready_tx, ready_rx) = sync_channel(1);
        let (stop_tx, stop_rx) = sync_channel::<()>(1);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("busker-cpal".to_owned())
            .spawn(move || run_stream(thread_shared, ready_tx, stop_rx))
            .map_err(output_error)?;
        let (sample_rate, channels) = ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| MediaError::Output("the audio device did not open".to_owned()))??;
        Ok(Self {
            shared,
            sample_rate,
            channels,
            stop: Some(stop_tx),
        })
    }
}

fn run_stream(
    shared: Arc<Shared>,
    ready: SyncSender<Result<(u32, u16), MediaError>>,
    stop: Receiver<()>,
) {
    let opened = (|| {
        let device = cpal::default_host()
            .default_output_device()
            .ok_or_else(|| MediaError::Output("no output device".to_owned()))?;
        let supported = device.default_output_config().map_err(output_error)?;
        let config = supported.config();
        let channels = config.channels;
        let errors = shared.clone();
        let on_error = move |e: cpal::StreamError| {
            *lock(&errors.failed) = Some(e.to_string());
            errors.space.notify_all();
        };
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => {
                let s = shared.clone();
                device.build_output_stream(
                    &config,
                    move |data: &mut [f32], _: &cpal::OutputCallbackInfo| fill(&s, data, |x| x),
                    on_error,
                    None,
                )
            }
            cpal::SampleFormat::I16 => {
                let s = shared.clone();
                device.build_output_stream(
                    &config,
                    move |data: &mut [i16], _: &cpal::OutputCallbackInfo| {
                        fill(&s, data, |x| (x * i16::MAX as f32) as i16)
                    },
                    on_error,
                    None,
                )
            }
            other => {
                return Err(MediaError::Output(format!(
                    "device sample format {other:?} is not supported"
                )));
            }
        }
        .map_err(output_error)?;
        stream.play().map_err(output_error)?;
        Ok((stream, config.sample_rate.0, channels))
    })();
    match opened {
        Ok((stream, rate, channels)) => {
            let _ = ready.send(Ok((rate, channels)));
            // The stream lives until the sink is dropped.
            let _ = stop.recv();
            drop(stream);
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}

fn fill<T: Copy + Default>(shared: &Shared, data: &mut [T], convert: impl Fn(f32) -> T) {
    let mut buf = lock(&shared.buf);
    let paused = shared.paused.load(Ordering::Relaxed);
    for slot in data.iter_mut() {
        *slot = match (paused, buf.pop_front()) {
            (false, Some(x)) => convert(x),
            _ => T::default(),
        };
    }
    drop(buf);
    shared.space.notify_all();
}

impl AudioSink for CpalSink {
    fn input(&self) -> SinkInput {
        SinkInput::Device {
            sample_rate: self.sample_rate,
            channels: self.channels,
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
        let mut rest = &samples[..];
        while !rest.is_empty() {
            let mut buf = lock(&self.shared.buf);
            while buf.len() >= BUFFER_SAMPLES {
                if let Some(e) = lock(&self.shared.failed).clone() {
                    return Err(MediaError::Output(e));
                }
                // The timeout guards against a device that stopped calling back.
                let (guard, timeout) = self
                    .shared
                    .space
                    .wait_timeout(buf, Duration::from_secs(2))
                    .unwrap_or_else(|p| p.into_inner());
                buf = guard;
                if timeout.timed_out() && !self.shared.paused.load(Ordering::Relaxed) {
                    return Err(MediaError::Output("the audio device stalled".to_owned()));
                }
            }
            let n = rest.len().min(BUFFER_SAMPLES - buf.len());
            buf.extend(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(())
    }

    fn set_paused(&mut self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    fn discard(&mut self) {
        lock(&self.shared.buf).clear();
        self.shared.space.notify_all();
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        // Let the buffer play out.
        let mut buf = lock(&self.shared.buf);
        while !buf.is_empty() && lock(&self.shared.failed).is_none() {
            let (guard, timeout) = self
                .shared
                .space
                .wait_timeout(buf, Duration::from_secs(2))
                .unwrap_or_else(|p| p.into_inner());
            buf = guard;
            if timeout.timed_out() {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for CpalSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.try_send(());
        }
    }
}
