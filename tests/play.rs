//! `busker play` and `busker rate` through the real binary.

use crate::util::{Peer, audio};

fn publish(peer: &Peer, name: &str) -> String {
    let (ok, out, err) = peer.json(&["--no-demo", "publish", &audio(name)]);
    assert!(ok, "{err}");
    out[0]["id"].as_str().unwrap().to_owned()
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn play_into_a_wav_writes_the_track_at_its_own_format_and_reports_it() {
    let peer = Peer::new();
    let id = publish(&peer, "opsound_manolo_camp-morning_coffee.tagged.flac");
    let wav = peer.dir.path().join("out.wav");
    let (ok, out, err) = peer.json(&["play", &id[..10], "--out", wav.to_str().unwrap()]);
    assert!(ok, "{err}");
    let report = &out[0];
    assert_eq!(report["id"], id.as_str());
    assert_eq!(report["frames"], 584_771);
    assert_eq!(report["sample_rate"], 8000);
    assert_eq!(report["channels"], 1);
    assert!(report["first_audio_ms"].as_f64().unwrap() >= 0.0);

    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(le16(&bytes, 20), 1, "integer PCM");
    assert_eq!(le16(&bytes, 22), 1, "mono");
    assert_eq!(le32(&bytes, 24), 8000);
    assert_eq!(le16(&bytes, 34), 16, "16-bit like the source");
    // The FLAC holds exactly the samples of the original WAV: same data chunk, byte for byte.
    let original = std::fs::read(audio("opsound_manolo_camp-morning_coffee.wav")).unwrap();
    assert_eq!(le32(&bytes, 40) as usize, 584_771 * 2);
    let data = &bytes[44..44 + 584_771 * 2];
    let at = original
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk in the original");
    assert!(data == &original[at + 8..at + 8 + 584_771 * 2]);
}

#[test]
fn play_stops_after_the_seconds_asked_for() {
    let peer = Peer::new();
    let id = publish(&peer, "sonicpi_loop_tabla.flac");
    let wav = peer.dir.path().join("part.wav");
    let (ok, out, err) = peer.json(&[
        "play",
        &id,
        "--out",
        wav.to_str().unwrap(),
        "--seconds",
        "1.5",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out[0]["frames"], 66_150);
    assert_eq!(out[0]["channels"], 2);
    assert_eq!(std::fs::metadata(&wav).unwrap().len(), 44 + 66_150 * 4);
}

#[test]
fn play_of_an_unknown_track_fails_with_one_line_and_no_file() {
    let peer = Peer::new();
    publish(&peer, "sonicpi_drum_heavy_kick.flac");
    let wav = peer.dir.path().join("none.wav");
    let out = peer.run(&["play", &"ab".repeat(32), "--out", wav.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!wav.exists());
}

#[test]
fn rate_sets_and_clears_stars_and_refuses_six() {
    let peer = Peer::new();
    let id = publish(&peer, "sonicpi_drum_heavy_kick.flac");
    let (ok, out, err) = peer.json(&["rate", &id[..8], "4"]);
    assert!(ok, "{err}");
    assert_eq!(out[0], serde_json::json!({"id": id, "stars": 4}));
    let (ok, out, _) = peer.json(&["rate", &id, "0"]);
    assert!(ok);
    assert_eq!(out[0]["stars"], 0);
    assert!(!peer.run(&["rate", &id, "6"]).status.success());
}
