//! `busker play`: one track through the core player into the audio device or a WAV file, used
//! directly on a data dir and by a running node's control API (which can stream from peers).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use busker_core::media::{AudioSink, WavSink, open_device};
use busker_core::model::{Manifest, TrackId};
use busker_core::stream::ChunkProvider;
use busker_core::{Player, PlayerEvent, PlayerOptions, Store};
use serde_json::{Value, json};

use crate::output;

/// How long playback waits for a chunk when every chunk is on disk.
pub const LOCAL_CHUNK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long playback waits for a chunk that peers are still sending.
pub const NETWORK_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

/// What one `play` did.
#[derive(Debug, Clone)]
pub struct PlayReport {
    id: TrackId,
    title: String,
    artist: String,
    first_audio_ms: Option<f64>,
    frames: u64,
    sample_rate: u32,
    channels: u32,
}

impl PlayReport {
    /// The `play` object of `CLI.md`.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id.to_hex(),
            "first_audio_ms": self.first_audio_ms,
            "frames": self.frames,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
        })
    }

    /// Prints the report as `--json` or as a sentence.
    pub fn print(&self, json_out: bool, out: Option<&Path>) {
        if json_out {
            output::print_json(&self.json());
        } else {
            print_sentence(&self.json(), &self.artist, &self.title, out);
        }
    }
}

/// Prints a `play` report object (as [`PlayReport::json`] makes it) as a sentence.
pub fn print_sentence(v: &Value, artist: &str, title: &str, out: Option<&Path>) {
    let frames = v.get("frames").and_then(Value::as_u64).unwrap_or(0);
    let rate = v.get("sample_rate").and_then(Value::as_u64).unwrap_or(0);
    let first = v
        .get("first_audio_ms")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let secs = frames as f64 / rate.max(1) as f64;
    let target = match out {
        Some(path) => format!(" into {}", path.display()),
        None => String::new(),
    };
    let what = if artist.is_empty() && title.is_empty() {
        String::new()
    } else {
        format!(" of {artist} - {title}")
    };
    println!("played {secs:.1} s{what}{target} (first audio after {first:.0} ms)");
}

/// Plays `manifest`'s track from `store` (asking `provider` for chunks not here yet) into the
/// WAV file `out` or the audio device, for at most `seconds`. Blocks until the end. A failed
/// decode leaves no file behind.
pub fn play_track(
    store: Store,
    manifest: &Manifest,
    provider: Arc<dyn ChunkProvider>,
    out: Option<&Path>,
    seconds: Option<f64>,
    chunk_timeout: Duration,
) -> Result<PlayReport> {
    let id = manifest.id();
    let sink: Box<dyn AudioSink> = match out {
        Some(path) => Box::new(WavSink::create(path)?),
        None => open_device("Busker"),
    };
    let options = PlayerOptions {
        chunk_timeout,
        stop_after: seconds.map(Duration::from_secs_f64),
        ..PlayerOptions::default()
    };
    let player = Player::spawn(store, provider, sink, options);
    player
        .load(vec![id], 0)
        .context("the player did not start")?;
    let mut error = None;
    while let Some(event) = player.next_event() {
        match event {
            PlayerEvent::Error { message, .. } => error = Some(message),
            PlayerEvent::DeviceLost(why) => {
                eprintln!("audio device lost ({why}); playing on silently")
            }
            PlayerEvent::Finished { .. } => break,
            _ => {}
        }
    }
    let stats = player.shutdown();
    let info = manifest.info();
    if let Some(message) = error {
        if let Some(path) = out {
            let _ = std::fs::remove_file(path);
        }
        bail!("cannot play {}: {message}", info.title);
    }
    let (sample_rate, channels) = match stats.spec {
        Some(spec) => (spec.sample_rate, spec.channels as u32),
        None => (info.sample_rate, info.channels as u32),
    };
    Ok(PlayReport {
        id,
        title: info.title.clone(),
        artist: info.artist.clone(),
        first_audio_ms: stats.first_audio.map(|d| d.as_secs_f64() * 1000.0),
        frames: stats.frames,
        sample_rate,
        channels,
    })
}
