//! `busker node` as separate processes, driven through the CLI and its control API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Peer, audio, busker_bin};

/// A `busker node` child process; killed if the test fails before it is stopped.
pub(crate) struct NodeProcess {
    pub(crate) child: Child,
    first_line: Value,
}

impl NodeProcess {
    pub(crate) fn start(peer: &Peer, extra: &[&str]) -> Self {
        let args = [&["--listen", "/ip4/127.0.0.1/tcp/0"][..], extra].concat();
        Self::spawn(Command::new(busker_bin()), peer, &args)
    }

    /// `busker --json --no-demo node ARGS` on `peer`'s data dir, run through `command`: the
    /// binary itself, or a wrapper that runs it (in a network namespace, say).
    pub(crate) fn spawn(mut command: Command, peer: &Peer, args: &[&str]) -> Self {
        let mut child = command
            .arg("--data-dir")
            .arg(peer.dir.path())
            .args(["--json", "--no-demo", "node"])
            .args(args)
            .env_remove("BUSKER_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn busker node");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the node prints its first line within 30 s");
        let first_line: Value = serde_json::from_str(&line).expect("first line is JSON");
        // LAN discovery (mDNS) is off unless asked for, and never runs on loopback.
        assert_eq!(first_line["lan_discovery"], false, "{first_line}");
        Self { child, first_line }
    }

    pub(crate) fn listen(&self) -> String {
        self.first_line["listen"][0].as_str().unwrap().to_owned()
    }

    pub(crate) fn peer_id(&self) -> String {
        self.first_line["peer_id"].as_str().unwrap().to_owned()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not stop within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_node_processes_publish_find_and_fetch_through_the_cli() {
    let a = Peer::new();
    let b = Peer::new();
    let c = Peer::new();

    // Without a node, network commands fail clearly.
    let out = c.run(&["peers"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no busker node is running"));

    let node_a = NodeProcess::start(&a, &[]);
    assert!(node_a.listen().starts_with("/ip4/127.0.0.1/tcp/"));
    assert!(
        node_a
            .listen()
            .ends_with(&format!("/p2p/{}", node_a.peer_id()))
    );
    assert!(
        node_a.first_line["api"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    let wav = busker_core::test_utils::write_wav(a.dir.path(), "song.wav", 700_000, 42);
    let original = std::fs::read(&wav).unwrap();
    let (ok, published, err) = a.json(&[
        "publish",
        wav.to_str().unwrap(),
        "--title",
        "Process Song",
        "--artist",
        "Proc",
    ]);
    assert!(ok, "publish through the node: {err}");
    let id = published[0]["id"].as_str().unwrap().to_owned();

    let node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    let hit = poll("B to find the track", || {
        let (ok, hits, _) = b.json(&["search", "process song"]);
        ok.then(|| hits.into_iter().find(|h| h["id"] == id.as_str()))?
    });
    assert_eq!(hit["local"], false);
    assert_eq!(hit["providers"], 1);

    let (ok, peers, err) = b.json(&["peers"]);
    assert!(ok, "{err}");
    assert!(
        peers
            .iter()
            .any(|p| p["peer_id"] == node_a.peer_id().as_str())
    );

    // The artist by key alone: A prints its own key; B finds the signed profile in the DHT,
    // with the release described.
    let (ok, own, err) = a.json(&["artist"]);
    assert!(ok, "own artist profile: {err}");
    assert_eq!(own[0]["name"], "Proc");
    assert_eq!(own[0]["releases"][0]["id"], id.as_str());
    let key = own[0]["key"].as_str().unwrap().to_owned();
    let (ok, found, err) = b.json(&["artist", &key]);
    assert!(ok, "artist lookup through B: {err}");
    assert_eq!(found[0]["key"], key.as_str());
    assert_eq!(found[0]["name"], "Proc");
    assert_eq!(found[0]["releases"][0]["id"], id.as_str());
    assert_eq!(found[0]["releases"][0]["title"], "Process Song");
    let out = c.run(&["artist", &key]);
    assert!(!out.status.success(), "a lookup needs a running node");

    let out_file = b.dir.path().join("copy.wav");
    let (ok, fetched, err) = b.json(&["fetch", &id, "--out", out_file.to_str().unwrap()]);
    assert!(ok, "fetch: {err}");
    assert_eq!(fetched[0]["id"], id.as_str());
    assert_eq!(fetched[0]["bytes"], original.len() as u64);
    assert_eq!(fetched[0]["peers_used"], 1);
    assert!(fetched[0]["millis"].is_u64());
    assert_eq!(std::fs::read(&out_file).unwrap(), original);
    let (_, listed, _) = b.json(&["list"]);
    assert_eq!(listed[0]["local"], true);
    // Both ends counted the transfer's bytes on their connections.
    let (ok, status_a, err) = a.json(&["status"]);
    assert!(ok, "{err}");
    let (_, status_b, _) = b.json(&["status"]);
    let len = original.len() as u64;
    assert!(
        status_a[0]["bytes_sent"].as_u64().unwrap() > len,
        "{status_a:?}"
    );
    assert!(
        status_b[0]["bytes_received"].as_u64().unwrap() > len,
        "{status_b:?}"
    );
    assert!(
        status_b[0]["bytes_sent"].as_u64().unwrap() < len,
        "{status_b:?}"
    );

    // Clean shutdown on SIGTERM: exit 0, the API file is gone, the data dir opens again.
    let status = node_b.terminate();
    assert!(status.success(), "node exited with {status:?}");
    assert!(!b.dir.path().join("api.json").exists());
    let (ok, listed, err) = b.json(&["list"]);
    assert!(ok, "{err}");
    assert_eq!(listed[0]["local"], true);
    assert!(node_a.terminate().success());
}

#[test]
fn a_track_held_only_by_a_peer_plays_through_the_node_and_is_then_not_recommended() {
    let a = Peer::new();
    let b = Peer::new();
    let node_a = NodeProcess::start(&a, &[]);
    let (ok, published, err) = a.json(&[
        "publish",
        &audio("sonicpi_guit_em9.flac"),
        &audio("sonicpi_loop_tabla.flac"),
    ]);
    assert!(ok, "publish: {err}");
    let played_id = published[0]["id"].as_str().unwrap().to_owned();
    let other_id = published[1]["id"].as_str().unwrap().to_owned();
    // The reference: A decodes its own copy (through its node, from local chunks).
    let local_wav = a.dir.path().join("local.wav");
    let (ok, local, err) = a.json(&["play", &played_id, "--out", local_wav.to_str().unwrap()]);
    assert!(ok, "local play: {err}");

    let node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    poll("B to hear of both tracks", || {
        let (ok, list, _) = b.json(&["list"]);
        (ok && list.len() == 2).then_some(())
    });
    let remote_wav = b.dir.path().join("remote.wav");
    let (ok, remote, err) = b.json(&["play", &played_id, "--out", remote_wav.to_str().unwrap()]);
    assert!(ok, "remote play: {err}");
    assert_eq!(remote[0]["id"], played_id.as_str());
    assert!(remote[0]["first_audio_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(remote[0]["frames"], local[0]["frames"]);
    assert!(local[0]["frames"].as_u64().unwrap() > 0);
    assert_eq!(
        std::fs::read(&remote_wav).unwrap(),
        std::fs::read(&local_wav).unwrap(),
        "the samples played from the peer equal a local decode"
    );

    // B played one track; the other is what it is offered, with a reason.
    let (ok, recs, err) = b.json(&["recommend", "--limit", "5"]);
    assert!(ok, "recommend: {err}");
    assert!(
        recs.iter().all(|r| r["id"] != played_id.as_str()),
        "{recs:?}"
    );
    let offered = recs
        .iter()
        .find(|r| r["id"] == other_id.as_str())
        .expect("the unplayed track is recommended");
    assert_eq!(offered["reason"], "new release");
    assert!(offered["title"].is_string() && offered["artist"].is_string());
    assert!(offered["score"].is_number());

    assert!(node_b.terminate().success());
    assert!(node_a.terminate().success());
}

#[test]
fn a_radio_channel_started_on_one_node_is_listed_and_tuned_in_on_another() {
    let a = Peer::new();
    let b = Peer::new();
    let node_a = NodeProcess::start(&a, &[]);
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "on-air.wav", 3_000_000, 7);
    let (ok, published, err) = a.json(&["publish", wav.to_str().unwrap()]);
    assert!(ok, "publish: {err}");
    let id = published[0]["id"].as_str().unwrap().to_owned();
    let node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);

    let (ok, started, err) = a.json(&["radio", "start", "CLI FM", &id]);
    assert!(ok, "radio start: {err}");
    assert_eq!(started[0]["name"], "CLI FM");
    let channel = started[0]["channel_id"].as_str().unwrap().to_owned();

    let listed = poll("B to hear of the channel", || {
        let (ok, list, _) = b.json(&["radio", "list"]);
        ok.then(|| {
            list.into_iter()
                .find(|c| c["channel_id"] == channel.as_str())
        })?
    });
    assert_eq!(listed["name"], "CLI FM");
    assert!(listed["listeners"].is_u64());

    let out = b.dir.path().join("tuned.wav");
    let (ok, report, err) = b.json(&[
        "radio",
        "tune",
        &channel,
        "--seconds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "radio tune: {err}");
    let r = &report[0];
    assert_eq!(r["channel_id"], channel.as_str());
    assert!(r["segments"].as_u64().unwrap() >= 1, "{r}");
    for key in ["startup_ms", "continuity", "lag_ms", "late"] {
        assert!(r[key].is_number(), "{key} in {r}");
    }
    // The tracks heard are ordinary track ids, to fetch or rate.
    assert_eq!(r["tracks"][0]["id"], id.as_str(), "{r}");
    let (ok, rated, err) = b.json(&["rate", &id, "4"]);
    assert!(ok, "rate a track heard on the radio: {err} {rated:?}");
    let (ok, list, _) = a.json(&["radio", "list"]);
    assert!(ok);
    let on_air = list
        .iter()
        .find(|c| c["channel_id"] == channel.as_str())
        .expect("the broadcaster lists its channel");
    assert_eq!(on_air["now_playing"]["id"], id.as_str(), "{on_air}");
    assert!(
        std::fs::metadata(&out).unwrap().len() > 44,
        "samples were recorded"
    );

    assert!(node_b.terminate().success());
    assert!(node_a.terminate().success());
}

/// The radio figures with every peer its own process: one `busker node` broadcasting,
/// `BUSKER_RADIO_PROCESSES` (default 50) `busker node` listeners on 127.0.0.1 (each newcomer
/// dials 3 earlier nodes), and as many `busker --json radio tune CHANNEL --seconds S --out
/// FILE.wav` runs at once (`BUSKER_RADIO_SECONDS`, default 10), started once the network has
/// settled and every node has heard the channel announced. Prints each report and the summary
/// line of `benches/benches/radio.rs`. Ignored: slow, and it measures rather than checks.
/// `cargo test --release -p busker --test e2e radio_figures_processes -- --ignored --nocapture`
#[test]
#[ignore]
fn radio_figures_processes() {
    let n: usize = std::env::var("BUSKER_RADIO_PROCESSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seconds: u32 = std::env::var("BUSKER_RADIO_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let b = Peer::new();
    let node_b = NodeProcess::start(&b, &[]);
    let wav = b.dir.path().join("radio.wav");
    let rate = 22_050;
    std::fs::write(
        &wav,
        busker_core::test_utils::wav_pcm16(rate, 1, rate * (seconds + 60), 11),
    )
    .unwrap();
    let (ok, published, err) = b.json(&["publish", wav.to_str().unwrap()]);
    assert!(ok, "publish: {err}");
    let track = published[0]["id"].as_str().unwrap().to_owned();

    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut addrs = vec![node_b.listen()];
    let mut listeners: Vec<(Peer, NodeProcess)> = Vec::new();
    for _ in 0..n {
        let peer = Peer::new();
        let mut args = Vec::new();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            args.push("--peer".to_owned());
            args.push(addrs[(x % addrs.len() as u64) as usize].clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = NodeProcess::start(&peer, &args);
        addrs.push(node.listen());
        listeners.push((peer, node));
    }
    let settled = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(busker_core::test_utils::settle(|| async {
            listeners
                .iter()
                .map(|(p, _)| p.json(&["peers"]).1.len())
                .sum::<usize>()
        }));
    println!(
        "network settled: {:.1} connections per listener",
        settled as f64 / n as f64
    );

    let (ok, started, err) = b.json(&["radio", "start", "Process FM", &track]);
    assert!(ok, "radio start: {err}");
    let on_air = Instant::now();
    let channel = started[0]["channel_id"].as_str().unwrap().to_owned();
    for (peer, _) in &listeners {
        poll("every node to hear of the channel", || {
            let (ok, list, _) = peer.json(&["radio", "list"]);
            (ok && list.iter().any(|c| c["channel_id"] == channel.as_str())).then_some(())
        });
    }
    let tuned_after_ms = on_air.elapsed().as_millis();
    let seconds = seconds.to_string();
    let tunes: Vec<_> = listeners
        .iter()
        .map(|(peer, _)| {
            Command::new(busker_bin())
                .arg("--data-dir")
                .arg(peer.dir.path())
                .args(["--json", "radio", "tune", &channel, "--seconds", &seconds])
                .arg("--out")
                .arg(peer.dir.path().join("tuned.wav"))
                .env_remove("BUSKER_DATA_DIR")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn busker radio tune")
        })
        .collect();
    let mut figures = crate::bench_radio::Figures::default();
    for tune in tunes {
        let out = tune.wait_with_output().unwrap();
        let report: Option<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| serde_json::from_str(l).ok());
        match report {
            Some(r) if out.status.success() => {
                println!("{r}");
                figures.add(
                    r["startup_ms"].as_f64(),
                    r["continuity"].as_f64().unwrap_or(0.0),
                    r["lag_ms"].as_f64(),
                );
                figures.add_kbps(r["kbps"].as_f64().unwrap_or(0.0));
            }
            _ => {
                println!("{{\"error\":{:?}}}", String::from_utf8_lossy(&out.stderr));
                figures.fail();
            }
        }
    }
    println!(
        "radio, {n} listener processes, {seconds} s each, tuned in {tuned_after_ms} ms into the broadcast, {figures}"
    );
    for (_, node) in listeners {
        node.terminate();
    }
    node_b.terminate();
}

#[test]
fn sigterm_stops_a_nodes_long_publish_keeping_what_was_done_and_nothing_partial() {
    let peer = Peer::new();
    const FILES: usize = 40;
    let folder = crate::util::wav_folder(FILES);
    let node = NodeProcess::start(&peer, &[]);
    // The publish goes through the node's API; stop the node once the first file is in.
    let mut publish = Command::new(busker_bin())
        .arg("--data-dir")
        .arg(peer.dir.path())
        .args(["publish", folder.path().to_str().unwrap()])
        .env_remove("BUSKER_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll("the first file to be published", || {
        let (ok, listed, _) = peer.json(&["list"]);
        (ok && !listed.is_empty()).then_some(())
    });
    assert!(
        node.terminate().success(),
        "the node stops cleanly mid-publish"
    );
    let _ = publish.wait();

    crate::util::assert_kept_whole_then_the_rest(&peer, folder.path(), FILES);
}
