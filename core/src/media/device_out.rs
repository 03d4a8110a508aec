//! The conversion in front of a device sink: channel mapping, resampling, volume.
//!
//! A device sink ([`super::SinkInput::Device`]) takes interleaved `f32` at one rate and channel
//! count whatever the track; [`DeviceOut`] turns each decoded block into that. The player and the
//! radio listener keep one per device stream, so the resampler's state carries across blocks
//! and across tracks of the same rate (gapless).

use super::decode::{Pcm, PcmSpec};
use super::resample::Resampler;

/// Converts decoded audio for a device sink (channel mapping, resampling, volume).
pub(crate) struct DeviceOut {
    rate: u32,
    channels: u16,
    resampler: Option<Resampler>,
    mapped: Vec<f32>,
    out: Vec<f32>,
}

impl DeviceOut {
    /// A converter for a device running at `rate` Hz with `channels` channels.
    pub(crate) fn new(rate: u32, channels: u16) -> Self {
        Self {
            rate,
            channels,
            resampler: None,
            mapped: Vec::new(),
            out: Vec::new(),
        }
    }

    /// `pcm` (in `spec`) as device samples, scaled by `volume` (0.0 to 1.0). A change of input
    /// rate flushes the old resampler into this block first.
    pub(crate) fn convert(&mut self, spec: &PcmSpec, pcm: &Pcm, volume: f32) -> Pcm {
        let input = pcm.to_f32(spec.format);
        let from = spec.channels.max(1) as usize;
        let to = self.channels.max(1) as usize;
        self.mapped.clear();
        for frame in input.chunks_exact(from) {
            match (from, to) {
                (a, b) if a == b => self.mapped.extend_from_slice(frame),
                (1, _) => self.mapped.extend(std::iter::repeat_n(frame[0], to)),
                (_, 1) => self.mapped.push(frame.iter().sum::<f32>() / from as f32),
                _ => {
                    for c in 0..to {
                        self.mapped.push(frame.get(c).copied().unwrap_or(0.0));
                    }
                }
            }
        }
        self.out.clear();
        if self
            .resampler
            .as_ref()
            .is_none_or(|r| r.input_rate() != spec.sample_rate)
        {
            if let Some(old) = &mut self.resampler {
                old.finish(&mut self.out);
            }
            self.resampler = Some(Resampler::new(spec.sample_rate, self.rate, to));
        }
        if let Some(r) = &mut self.resampler {
            r.process(&self.mapped, &mut self.out);
        }
        let gain = volume.clamp(0.0, 1.0);
        Pcm::F32(
            self.out
                .iter()
                .map(|s| (s * gain).clamp(-1.0, 1.0))
                .collect(),
        )
    }

    /// Forgets the resampler's history (after a seek or a skip: the next block does not follow
    /// the last one).
    pub(crate) fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
    }

    /// The samples the resampler still holds, at the end of the stream (empty when nothing was
    /// converted).
    pub(crate) fn flush(&mut self) -> Vec<f32> {
        let mut tail = Vec::new();
        if let Some(r) = &mut self.resampler {
            r.finish(&mut tail);
        }
        tail
    }
}
