//! Live radio between `busker node` processes, with real clients of what the node serves:
//! ffmpeg as the Icecast source client and as the HTTP player. ffmpeg comes from the system's
//! packages (`.ci/install-system-packages` installs it for CI).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::node_cli::{NodeProcess, poll};
use crate::util::{Peer, audio, cannot_run, decode_f32};

const SONG: &str = "pg10284_spring_of_love_1903.id3v2_3.mp3";

fn have_ffmpeg() -> bool {
    let found = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        cannot_run("ffmpeg is not installed");
    }
    found
}

fn one(peer: &Peer, args: &[&str]) -> Value {
    let (ok, mut out, err) = peer.json(args);
    assert!(ok, "{args:?}: {err}");
    out.remove(0)
}

/// ffmpeg sending `seconds` of `file` to `url` in real time (`-re`), as a DJ's tool would, in
/// `format` (`mp3` as `audio/mpeg`, `ogg` as `audio/ogg`).
fn ffmpeg_source(file: &str, format: &str, url: &str, seconds: u32) -> std::process::Child {
    let content_type = if format == "ogg" {
        "audio/ogg"
    } else {
        "audio/mpeg"
    };
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i", file])
        .args(["-t", &seconds.to_string(), "-c", "copy"])
        .args(["-content_type", content_type, "-f", format, url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ffmpeg")
}

/// ffmpeg as a player: `seconds` of the stream at `url` into the WAV file `out`.
fn ffmpeg_player(url: &str, seconds: u32, out: &std::path::Path) -> std::process::Output {
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-t",
            &seconds.to_string(),
        ])
        .args(["-i", url, "-y"])
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg as a player")
}

/// The stream URL of `channel` in `peer`'s `radio list`, once it lists the channel as live.
fn live_stream_url(peer: &Peer, channel: &str) -> String {
    poll("the peer to hear the live channel", || {
        let (_, list, _) = peer.json(&["radio", "list"]);
        let c = list.into_iter().find(|c| c["channel_id"] == channel)?;
        (c["live"] == true).then(|| c["stream_url"].as_str().unwrap().to_owned())
    })
}

/// A live channel on A (B and C dialled to it); returns the nodes and `radio start`'s answer.
fn live_channel(a: &Peer, others: &[&Peer]) -> (NodeProcess, Vec<NodeProcess>, Value) {
    let node_a = NodeProcess::start(a, &[]);
    let nodes = others
        .iter()
        .map(|p| NodeProcess::start(p, &["--peer", &node_a.listen()]))
        .collect();
    let started = one(a, &["radio", "start", "Open Mic", "--live"]);
    assert_eq!(started["live"], true, "{started}");
    (node_a, nodes, started)
}

/// The position in `reference` where `recorded` (after `skip` samples) runs on, sample for
/// sample, to its end.
fn find_in(reference: &[f32], recorded: &[f32], skip: usize) -> Option<usize> {
    let probe = &recorded[skip..skip + 2048];
    (0..reference.len().saturating_sub(recorded.len() - skip))
        .find(|&k| &reference[k..k + 2048] == probe)
        .filter(|&k| reference[k..k + recorded.len() - skip] == recorded[skip..])
}

#[test]
fn a_live_source_from_ffmpeg_reaches_two_listener_nodes_and_two_http_players() {
    if !have_ffmpeg() {
        return;
    }
    let (a, b, c) = (Peer::new(), Peer::new(), Peer::new());
    let (_node_a, _nodes, started) = live_channel(&a, &[&b, &c]);
    let channel = started["channel_id"].as_str().unwrap().to_owned();
    let source_url = started["source_url"].as_str().unwrap().to_owned();
    assert!(source_url.starts_with("icecast://source:"), "{source_url}");
    let password = std::fs::read_to_string(a.dir.path().join("radio-source.password")).unwrap();
    assert!(source_url.contains(password.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.dir.path().join("radio-source.password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut source = ffmpeg_source(&audio(SONG), "mp3", &source_url, 20);

    // Both listeners hear it, and mark it live.
    let stream_url = live_stream_url(&b, &channel);
    let tune = |peer: &Peer| {
        let dir = peer.dir.path().to_owned();
        let out = dir.join("live.wav");
        let channel = channel.clone();
        std::thread::spawn(move || {
            let run = Command::new(crate::util::busker_bin())
                .arg("--data-dir")
                .arg(&dir)
                .args([
                    "--json",
                    "radio",
                    "tune",
                    &channel,
                    "--seconds",
                    "6",
                    "--out",
                ])
                .arg(&out)
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "{}",
                String::from_utf8_lossy(&run.stderr)
            );
            let report: Value = serde_json::from_slice(&run.stdout).unwrap();
            (report, decode_f32(std::fs::read(&out).unwrap(), "wav"))
        })
    };
    let (tb, tc) = (tune(&b), tune(&c));
    // A player that stops reading after the first bytes: it must not hold up the node, the
    // listeners or the other players.
    let mut stalled = stalled_player(&stream_url);

    // Two players at once read B's HTTP stream (ffmpeg as the player).
    let players: Vec<_> = (0..2)
        .map(|n| {
            let out = b.dir.path().join(format!("player-{n}.wav"));
            let url = stream_url.clone();
            std::thread::spawn(move || {
                let run = ffmpeg_player(&url, 4, &out);
                (run, out)
            })
        })
        .collect();

    let reference = decode_f32(std::fs::read(audio(SONG)).unwrap(), "mp3");
    for (who, run) in [("B", tb), ("C", tc)] {
        let (report, recorded) = run.join().unwrap();
        assert!(report["segments"].as_u64().unwrap() >= 4, "{who}: {report}");
        assert!(report["late"].as_u64().unwrap() <= 1, "{who}: {report}");
        // Compressed: near the source's 96 kbit/s, not 1,411 as PCM floats.
        assert!(report["kbps"].as_f64().unwrap() < 250.0, "{who}: {report}");
        // The same audio the source sent, after the decoder's first three frames.
        assert!(
            find_in(&reference, &recorded, 3 * 1152).is_some(),
            "{who}: the recording is not a run of the song's samples"
        );
    }
    for player in players {
        let (out, file) = player.join().unwrap();
        assert!(
            out.status.success(),
            "player: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let played = decode_f32(std::fs::read(&file).unwrap(), "wav");
        assert!(
            played.len() > 44_100 * 2,
            "a player got {} samples",
            played.len()
        );
        assert!(
            played.iter().any(|s| s.abs() > 0.01),
            "a player got silence"
        );
    }
    // The stalled player was connected the whole time (its connection is still open: reading
    // now gets the stream's bytes, not the end). That a reader that falls behind loses
    // segments instead of holding up its tune-in is shown in `radio.rs`, whose listeners all
    // feed a tap nobody reads.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(
        stalled.read(&mut buf).unwrap() > 0,
        "the stalled player was disconnected"
    );
    let _ = source.kill();
    let _ = source.wait();
}

/// An HTTP player of `url` that reads the answer's first bytes and then nothing more, with a
/// 4 KiB receive buffer so that the node's writes to it back up soon.
fn stalled_player(url: &str) -> TcpStream {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    });
    let mut stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    stream
}

/// Connects to the source endpoint of `url` as a source client does (`PUT` with `Expect:
/// 100-continue`) with `password`; returns the connection and the endpoint's first answer.
fn source_connection(url: &str, password: &str) -> (TcpStream, Vec<u8>) {
    let rest = url.strip_prefix("icecast://").unwrap();
    let (_, rest) = rest.split_once('@').unwrap();
    let (addr, mount) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = data_encoding::BASE64.encode(format!("source:{password}").as_bytes());
    write!(
        s,
        "PUT /{mount} HTTP/1.1\r\nHost: x\r\nContent-Type: audio/mpeg\r\nAuthorization: Basic {auth}\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    (s, buf[..n].to_vec())
}

/// A source that sends `body` after the go-ahead; returns all the endpoint answered.
fn raw_source(url: &str, password: &str, body: &[u8]) -> String {
    let (mut s, mut answer) = source_connection(url, password);
    if answer.starts_with(b"HTTP/1.1 100") {
        for chunk in body.chunks(8192) {
            if s.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = s.read_to_end(&mut answer);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_wrong_password_and_a_garbage_source_are_refused_and_a_stalled_source_resumes() {
    if !have_ffmpeg() {
        return;
    }
    let (a, b) = (Peer::new(), Peer::new());
    let (_node_a, _nodes, started) = live_channel(&a, &[&b]);
    let channel = started["channel_id"].as_str().unwrap().to_owned();
    let url = started["source_url"].as_str().unwrap().to_owned();
    let password = std::fs::read_to_string(a.dir.path().join("radio-source.password")).unwrap();
    let password = password.trim();

    // A wrong password: ffmpeg itself is refused.
    let wrong = url.replace(password, "not-the-password");
    let out = ffmpeg_source(&audio(SONG), "mp3", &wrong, 2)
        .wait_with_output()
        .unwrap();
    assert!(
        !out.status.success(),
        "ffmpeg with a wrong password was let in"
    );
    assert!(raw_source(&wrong, "not-the-password", b"").starts_with("HTTP/1.1 401"));

    // Noise: refused with the reason, quickly.
    let noise: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let started_at = Instant::now();
    let answer = raw_source(&url, password, &noise);
    assert!(answer.contains("415"), "{answer}");
    assert!(
        answer.contains("not audio Busker can broadcast"),
        "{answer}"
    );
    assert!(started_at.elapsed() < Duration::from_secs(10));

    // A source that stalls for 4 s in the middle, on the same connection: the listener misses
    // those seconds and plays on when it sends again.
    let song = std::fs::read(audio(SONG)).unwrap();
    let (mut s, go) = source_connection(&url, password);
    assert!(go.starts_with(b"HTTP/1.1 100"));
    let sender = std::thread::spawn(move || {
        // 96 kbit/s: 1,200 bytes every 100 ms, with a 4 s pause after 5 s.
        let start = Instant::now();
        for (i, chunk) in song.chunks(1200).take(150).enumerate() {
            if i == 50 {
                std::thread::sleep(Duration::from_secs(4));
            }
            let due = Duration::from_millis(100 * i as u64)
                + if i >= 50 {
                    Duration::from_secs(4)
                } else {
                    Duration::ZERO
                };
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            if s.write_all(chunk).is_err() {
                return false;
            }
        }
        true
    });
    let tuned = Command::new(crate::util::busker_bin())
        .arg("--data-dir")
        .arg(b.dir.path())
        .args(["--json", "radio", "tune", &channel, "--seconds", "13"])
        .output()
        .unwrap();
    assert!(
        sender.join().unwrap(),
        "the endpoint hung up on a source that paused"
    );
    assert!(
        tuned.status.success(),
        "{}",
        String::from_utf8_lossy(&tuned.stderr)
    );
    let report: Value = serde_json::from_slice(&tuned.stdout).unwrap();
    let late = report["late"].as_u64().unwrap();
    let played = report["segments"].as_u64().unwrap();
    assert!(late >= 2, "the stall shows as missed segments: {report}");
    assert!(
        played >= 6,
        "it played before and after the stall: {report}"
    );
    // The node is fine: it still lists the channel as live.
    let (ok, list, _) = a.json(&["radio", "list"]);
    assert!(
        ok && list
            .iter()
            .any(|c| c["channel_id"] == channel.as_str() && c["live"] == true)
    );
}

#[test]
fn an_ogg_vorbis_source_goes_as_its_own_packets_and_streams_to_players_as_ogg() {
    if !have_ffmpeg() {
        return;
    }
    let (a, b) = (Peer::new(), Peer::new());
    let (_node_a, _nodes, started) = live_channel(&a, &[&b]);
    let channel = started["channel_id"].as_str().unwrap().to_owned();
    let url = started["source_url"].as_str().unwrap().to_owned();
    let ogg = audio("opsound_manolo_camp-morning_coffee.tagged.ogg");
    let mut source = ffmpeg_source(&ogg, "ogg", &url, 20);
    let stream_url = live_stream_url(&b, &channel);
    let report = one(&b, &["radio", "tune", &channel, "--seconds", "5"]);
    assert_eq!(report["late"], 0, "{report}");
    // The file is about 28 kbit/s; as PCM (8 kHz mono floats) it went at 256.
    assert!(report["kbps"].as_f64().unwrap() < 80.0, "{report}");
    let out = b.dir.path().join("player.wav");
    let played = Command::new("ffprobe")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
        ])
        .args(["-of", "csv=p=0", &stream_url])
        .output()
        .expect("ffprobe");
    assert_eq!(
        String::from_utf8_lossy(&played.stdout).trim(),
        "vorbis",
        "{played:?}"
    );
    let run = ffmpeg_player(&stream_url, 3, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let samples = decode_f32(std::fs::read(&out).unwrap(), "wav");
    assert!(samples.len() > 8_000 * 2, "{} samples", samples.len());
    assert!(
        samples.iter().any(|s| s.abs() > 0.01),
        "the player got silence"
    );
    let _ = source.kill();
    let _ = source.wait();
}
