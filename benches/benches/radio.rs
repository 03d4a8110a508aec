//! Radio figures for BENCHMARKS.md: one broadcaster and 50 listeners (`BUSKER_RADIO_LISTENERS`),
//! all in this process on 127.0.0.1, each listener tuned for `BUSKER_RADIO_SECONDS` (default 10) seconds of audio.
//! All 50 tune in at once (a flash crowd) as soon as they have heard the channel announced,
//! about a second into the broadcast; with `BUSKER_RADIO_WARMUP=N` they wait until the
//! broadcast has sent N more segments (a flash crowd onto a channel already on air).
//!
//! The channel plays a generated mono 16-bit WAV at 22.05 kHz (sent as PCM, 352 kbit/s), or
//! with `BUSKER_RADIO_TRACK=FILE` that file (an MP3, FLAC or Ogg Vorbis file is sent as its own packets; it must
//! last `BUSKER_RADIO_SECONDS` plus a minute). With `BUSKER_RADIO_LIVE=1` the channel is a live
//! one and the bench feeds the file into it at its own bitrate, as a source client would.
//!
//! Prints one JSON line per listener with the `busker radio tune --json` fields, then a summary
//! line: startup_ms (median, max), continuity (min, mean), lag_ms (median, max), and kbit/s
//! received per listener (median, max) beside the track file's own bitrate; and a line of bytes
//! on the wire as libp2p counts them: the broadcaster's upload, each listener's download and
//! upload (listeners relay); then, when they have stopped, what each peer receives in
//! `BUSKER_RADIO_IDLE` seconds (10; 0 for none) with nobody tuned in, the background the wire
//! figure includes, and as long again with the channel stopped (what its statuses cost).
//!
//! `cargo bench -p busker-benches --bench radio`; the same scenario runs from the end-to-end
//! test binary as the ignored test `radio_figures`:
//! `cargo test -p busker --test e2e radio_figures -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use busker_core::media::NullSink;
use busker_core::radio::{RadioQueue, TuneOptions};
use busker_core::test_utils::{self, wait_for};
use busker_core::{Node, NodeOptions, PublishOptions};

/// Listeners tuned in at once, unless `BUSKER_RADIO_LISTENERS` says otherwise.
pub const LISTENERS: usize = 50;
/// Sample rate of the broadcast track (mono 16-bit: 352 kbit/s, about a 320 kbit/s MP3).
const RATE: u32 = 22_050;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The listeners' figures, summed up (the same line for in-process and process listeners).
#[derive(Debug, Default)]
pub struct Figures {
    startup: Vec<f64>,
    continuity: Vec<f64>,
    lag: Vec<f64>,
    failed: usize,
    kbps: Vec<f64>,
    /// The track file's own bitrate.
    pub source_kbps: Option<f64>,
}

impl Figures {
    /// One listener's report.
    pub fn add(&mut self, startup_ms: Option<f64>, continuity: f64, lag_ms: Option<f64>) {
        self.startup.push(startup_ms.unwrap_or(f64::INFINITY));
        self.continuity.push(continuity);
        self.lag.push(lag_ms.unwrap_or(f64::INFINITY));
    }

    /// One listener's kilobits per second received.
    pub fn add_kbps(&mut self, kbps: f64) {
        self.kbps.push(kbps);
    }

    /// A listener that failed: counted as the worst figures (no start, nothing played).
    pub fn fail(&mut self) {
        self.failed += 1;
        self.add(None, 0.0, None);
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.continuity.len().max(1) as f64;
        write!(
            f,
            "{} failed: startup_ms median {:.0} max {:.0}; continuity min {:.4} mean {:.4}; lag_ms median {:.0} max {:.0}",
            self.failed,
            median(self.startup.clone()),
            self.startup.iter().copied().fold(0.0, f64::max),
            self.continuity.iter().copied().fold(1.0, f64::min),
            self.continuity.iter().sum::<f64>() / n,
            median(self.lag.clone()),
            self.lag.iter().copied().fold(0.0, f64::max),
        )?;
        if !self.kbps.is_empty() {
            let med = median(self.kbps.clone());
            let max = self.kbps.iter().copied().fold(0.0, f64::max);
            write!(f, "; kbit/s received median {med:.0} max {max:.0}")?;
            if let Some(source) = self.source_kbps {
                write!(
                    f,
                    " (the file: {source:.0} kbit/s; median {:.2}x, max {:.2}x)",
                    med / source,
                    max / source
                )?;
            }
        }
        Ok(())
    }
}

/// Runs the scenario and prints the figures.
pub async fn radio_fifty_listeners() {
    let seconds: f64 = std::env::var("BUSKER_RADIO_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    // A fixed xorshift sequence picks whom each newcomer dials (no rand dependency here).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let (bdir, broadcaster) = test_utils::start_node(NodeOptions::loopback()).await;
    let path = match std::env::var_os("BUSKER_RADIO_TRACK") {
        Some(file) => std::path::PathBuf::from(file),
        None => {
            let wav = test_utils::wav_pcm16(RATE, 1, RATE * (seconds as u32 + 60), 11);
            let path = bdir.path().join("radio.wav");
            std::fs::write(&path, wav).unwrap();
            path
        }
    };
    let source_kbps = {
        let bytes = std::fs::read(&path).unwrap();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        let d =
            busker_core::media::TrackDecoder::from_bytes(bytes.clone(), ext.as_deref()).unwrap();
        let secs = d.frames().unwrap_or(1) as f64 / f64::from(d.spec().sample_rate);
        bytes.len() as f64 * 8.0 / 1000.0 / secs
    };
    let track = broadcaster
        .publish(vec![path.clone()], PublishOptions::default())
        .await
        .unwrap()
        .remove(0)
        .unwrap()
        .id();

    // Each newcomer dials 3 earlier peers (the broadcaster among the candidates).
    let mut peers: Vec<(tempfile::TempDir, Node)> = Vec::new();
    let mut addrs = vec![broadcaster.listen_addrs().await.unwrap().remove(0)];
    let listeners: usize = std::env::var("BUSKER_RADIO_LISTENERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(LISTENERS);
    for _ in 0..listeners {
        let (dir, node) = test_utils::start_node(NodeOptions::loopback()).await;
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let addr = addrs[(x % addrs.len() as u64) as usize].clone();
            let _ = node.connect(addr).await;
        }
        addrs.push(node.listen_addrs().await.unwrap().remove(0));
        peers.push((dir, node));
    }
    // Peers that all joined at once keep dialling each other for a while; a channel goes on
    // air in a network that has settled.
    let connections = test_utils::settle(|| async {
        let mut total = 0;
        for (_, node) in &peers {
            total += node.peers().await.map(|p| p.len()).unwrap_or(0);
        }
        total
    })
    .await;
    println!(
        "network settled: {:.1} connections per listener",
        connections as f64 / listeners as f64
    );
    let on_air = std::time::Instant::now();
    let live = std::env::var_os("BUSKER_RADIO_LIVE").is_some_and(|v| v == "1");
    let channel = if live {
        let (descriptor, input) = broadcaster
            .radio_start_live("Bench FM live", "")
            .await
            .unwrap();
        let ogg = path.extension().is_some_and(|e| e == "ogg");
        let mime = if ogg { "audio/ogg" } else { "audio/mpeg" };
        tokio::spawn(feed_live(
            input,
            mime,
            std::fs::read(&path).unwrap(),
            source_kbps,
        ));
        descriptor.id()
    } else {
        broadcaster
            .radio_start("Bench FM", RadioQueue::Tracks(vec![track]))
            .await
            .unwrap()
            .id()
    };
    for (_, node) in &peers {
        wait_for(
            Duration::from_secs(60),
            "the channel announcement",
            || async {
                node.radio_channels()
                    .iter()
                    .any(|c| c.id == channel)
                    .then_some(())
            },
        )
        .await;
    }
    let warmup: u64 = std::env::var("BUSKER_RADIO_WARMUP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if warmup > 0 {
        let newest = || {
            broadcaster
                .radio_channels()
                .into_iter()
                .find(|c| c.id == channel)
                .and_then(|c| c.last_seq)
        };
        let first = wait_for(Duration::from_secs(60), "the first segment", || async {
            newest()
        })
        .await;
        wait_for(Duration::from_secs(60), "the warm-up segments", || async {
            newest().filter(|s| *s >= first + warmup)
        })
        .await;
    }
    let tuned_after_ms = on_air.elapsed().as_millis();
    let tuned = std::time::Instant::now();
    let broadcaster_before = broadcaster.client().traffic();
    let runs: Vec<_> = peers
        .iter()
        .map(|(_, node)| {
            let node = node.clone();
            tokio::spawn(async move {
                let before = node.client().traffic();
                let tuning = node
                    .radio_tune(
                        channel,
                        Box::new(NullSink::unpaced()),
                        TuneOptions::seconds(seconds),
                    )
                    .await
                    .unwrap();
                let report = tuning.finish().await;
                let after = node.client().traffic();
                (
                    report,
                    after.received - before.received,
                    after.sent - before.sent,
                )
            })
        })
        .collect();
    let mut figures = Figures {
        source_kbps: Some(source_kbps),
        ..Figures::default()
    };
    let (mut wire_in, mut wire_out) = (Vec::new(), Vec::new());
    for run in runs {
        let (report, received, sent) = run.await.unwrap();
        let r = match report {
            Ok(r) => r,
            Err(e) => {
                println!("{{\"error\":\"{e}\"}}");
                figures.fail();
                continue;
            }
        };
        println!(
            "{{\"channel_id\":\"{}\",\"startup_ms\":{:.0},\"continuity\":{:.4},\"lag_ms\":{:.0},\"segments\":{},\"late\":{},\"repaired\":{},\"kbps\":{:.0}}}",
            channel,
            r.startup_ms.unwrap_or(f64::NAN),
            r.continuity(),
            r.lag_ms.unwrap_or(f64::NAN),
            r.segments,
            r.late,
            r.repaired,
            r.kbps()
        );
        figures.add(r.startup_ms, r.continuity(), r.lag_ms);
        figures.add_kbps(r.kbps());
        wire_in.push(received as f64 * 8.0 / 1000.0 / r.seconds.max(f64::EPSILON));
        wire_out.push(sent as f64 * 8.0 / 1000.0 / r.seconds.max(f64::EPSILON));
    }
    // Every byte on the broadcaster's connections while the listeners were tuned in (gossip,
    // tune-in and repair answers, the DHT, pings), against the file's bitrate.
    let elapsed = tuned.elapsed().as_secs_f64();
    let up = broadcaster.client().traffic().sent - broadcaster_before.sent;
    let up_kbps = up as f64 * 8.0 / 1000.0 / elapsed;
    println!(
        "wire (all protocols, above the multiplexer): broadcaster upload {up_kbps:.0} kbit/s = {:.2}x the file over {elapsed:.1} s; per listener received median {:.0} max {:.0}, sent median {:.0} max {:.0} kbit/s",
        up_kbps / source_kbps,
        median(wire_in.clone()),
        wire_in.iter().copied().fold(0.0, f64::max),
        median(wire_out.clone()),
        wire_out.iter().copied().fold(0.0, f64::max),
    );
    // What the same peers receive with nobody tuned in (the broadcast goes on, pushed to
    // nobody): channel statuses, the DHT, pings, catalog syncs and taste exchanges. The part of
    // the wire figure above that is not the channel's.
    let idle: f64 = std::env::var("BUSKER_RADIO_IDLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    // Then the same with the channel stopped: what its statuses cost the others.
    for phase in ["nobody tuned in", "channel stopped"] {
        if idle <= 0.0 {
            break;
        }
        if phase == "channel stopped" {
            broadcaster.radio_stop(&channel);
        }
        let before: Vec<u64> = peers
            .iter()
            .map(|(_, n)| n.client().traffic().received)
            .collect();
        let since = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(idle)).await;
        let secs = since.elapsed().as_secs_f64();
        let rates: Vec<f64> = peers
            .iter()
            .zip(before)
            .map(|((_, n), b)| (n.client().traffic().received - b) as f64 * 8.0 / 1000.0 / secs)
            .collect();
        println!(
            "background, {phase}, {secs:.1} s: per peer received median {:.1} max {:.1} kbit/s",
            median(rates.clone()),
            rates.iter().copied().fold(0.0, f64::max),
        );
    }
    println!(
        "radio{}, {listeners} listeners, {seconds} s each, tuned in {tuned_after_ms} ms into the broadcast (warm-up {warmup} segments), {figures}",
        if live { " (live source)" } else { "" }
    );
    for (_, node) in &peers {
        node.shutdown().await;
    }
    broadcaster.shutdown().await;
}

/// Plays the part of a live source client: sends `file` (of MIME type `mime`) into the channel
/// at its own bitrate,
/// a tenth of a second at a time, as ffmpeg's `-re` does.
async fn feed_live(input: busker_core::radio::LiveInput, mime: &str, file: Vec<u8>, kbps: f64) {
    let mut feed = input.connect(Some(mime)).await.unwrap();
    let per_tick = ((kbps * 1000.0 / 8.0) / 10.0).ceil() as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for piece in file.chunks(per_tick.max(1)) {
        tick.tick().await;
        if feed.push(piece.to_vec()).await.is_err() {
            return;
        }
    }
}

#[allow(dead_code)]
fn main() {
    // `RUST_LOG=busker_core::radio=debug` shows each listener's start.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(radio_fifty_listeners());
}
