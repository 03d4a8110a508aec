//! Helpers shared by the end-to-end tests: the real `busker` binary on temporary data dirs.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use busker_core::model::TrackId;
use busker_core::net::{NetworkConfig, PeerId};
use busker_core::test_utils;
use busker_core::{Library, LibraryOptions, Node, NodeOptions, PublishOptions};

/// The `busker` binary cargo built for this test run.
pub fn busker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_busker"))
}

/// A temporary data dir and a way to run `busker` on it.
pub struct Peer {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Peer {
    /// A fresh data dir.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary data dir"),
        }
    }

    /// `busker --data-dir DIR ARGS...`, waiting for it to finish.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(busker_bin())
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("BUSKER_DATA_DIR")
            .output()
            .expect("run busker")
    }

    /// `busker --json publish FILE EXTRA...`, which must succeed; returns the track's id.
    pub fn publish(&self, file: &str, extra: &[&str]) -> String {
        let args = [&["publish", file][..], extra].concat();
        let (ok, published, err) = self.json(&args);
        assert!(ok, "publish {file}: {err}");
        published[0]["id"]
            .as_str()
            .expect("a published id")
            .to_owned()
    }

    /// Runs with `--json` and parses every stdout line; also returns the exit success.
    pub fn json(&self, args: &[&str]) -> (bool, Vec<serde_json::Value>, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
        let values = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect();
        (
            out.status.success(),
            values,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A folder of `n` distinct 3 MB WAV files: a publish long enough to be stopped midway.
pub fn wav_folder(n: usize) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temporary folder");
    for k in 0..n as u32 {
        test_utils::write_wav(folder.path(), &format!("{k:02}.wav"), 3_000_000, k);
    }
    folder
}

/// After a publish of `folder`'s `files` was stopped midway: what `peer` lists is whole (every
/// track local) and fewer than `files` (the stop landed before the end), and publishing the
/// folder again adds exactly the rest. Returns how many were kept.
pub fn assert_kept_whole_then_the_rest(
    peer: &Peer,
    folder: &std::path::Path,
    files: usize,
) -> usize {
    let (ok, listed, err) = peer.json(&["list"]);
    assert!(ok, "{err}");
    let kept = listed.len();
    assert!(kept < files, "the stop landed after the last file");
    assert!(listed.iter().all(|t| t["local"] == true), "{listed:?}");
    let (_, again, _) = peer.json(&["publish", folder.to_str().expect("utf-8 path")]);
    assert_eq!(
        again.len(),
        files - kept,
        "the rest, and only the rest, publishes later"
    );
    kept
}

/// A scenario this machine cannot run (`reason`). Under CI (`CI` set, as `.ci/run` does, which
/// also installs what the scenarios need) that is a failure; elsewhere a `SKIPPED:` line, and
/// the test passes without having run.
pub fn cannot_run(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}: under CI this scenario must run (see .ci/run)"
    );
    println!("SKIPPED: {reason}");
}

/// Every sample of a file's decode, as floats (integer samples map exactly).
pub fn decode_f32(bytes: Vec<u8>, ext: &str) -> Vec<f32> {
    let mut d = busker_core::media::TrackDecoder::from_bytes(bytes, Some(ext)).unwrap();
    let format = d.spec().format;
    let mut out = Vec::new();
    while let Some(b) = d.next_block().unwrap() {
        out.extend(b.pcm.to_f32(format));
    }
    out
}

/// A file of `assets/audio/`, as a string argument.
pub fn audio(name: &str) -> String {
    test_utils::audio_fixture(name)
        .to_string_lossy()
        .into_owned()
}

/// How long any single network step may take before a test fails.
pub const STEP: Duration = Duration::from_secs(20);

// In-process peers with real libp2p swarms on 127.0.0.1.

/// A running in-process peer and its data dir.
pub struct NetPeer {
    pub dir: tempfile::TempDir,
    pub node: Node,
}

impl NetPeer {
    /// A new peer on loopback.
    pub async fn start() -> Self {
        Self::start_with(NodeOptions::loopback()).await
    }

    pub async fn start_with(options: NodeOptions) -> Self {
        init_logs();
        let (dir, node) = test_utils::start_node(options).await;
        Self { dir, node }
    }

    /// Restarts a node on an existing data dir (the previous node must be shut down).
    pub async fn restart(dir: tempfile::TempDir, options: NodeOptions) -> Self {
        let library = test_utils::wait_for(STEP, "the data dir to be released", || {
            let path = dir.path().to_owned();
            async move { Library::open(LibraryOptions::new(path).seed_demo(false)).ok() }
        })
        .await;
        let node = Node::start(Arc::new(library), options)
            .await
            .expect("restart the node");
        Self { dir, node }
    }

    pub async fn addr(&self) -> busker_core::net::Multiaddr {
        self.node.listen_addrs().await.unwrap().remove(0)
    }

    pub async fn connect_to(&self, other: &NetPeer) {
        self.node.connect(other.addr().await).await.unwrap();
    }

    /// Publishes a generated WAV of `bytes` bytes titled `title`; returns its id and bytes.
    pub async fn publish_wav(&self, title: &str, bytes: usize, seed: u32) -> (TrackId, Vec<u8>) {
        let path = test_utils::write_wav(self.dir.path(), &format!("{seed}.wav"), bytes, seed);
        let content = std::fs::read(&path).unwrap();
        let options = PublishOptions {
            title: Some(title.into()),
            artist: Some("Test Artist".into()),
            album: None,
        };
        let mut results = self.node.publish(vec![path], options).await.unwrap();
        let manifest = results.remove(0).unwrap();
        (manifest.id(), content)
    }

    /// Waits until a search for `query` on this peer finds `id`.
    pub async fn wait_to_find(&self, query: &str, id: TrackId) {
        let node = self.node.clone();
        test_utils::wait_for(STEP, &format!("'{query}' to find {id}"), || {
            let node = node.clone();
            async move {
                let hits = node.search(query, 10).await.ok()?;
                hits.iter().any(|h| h.id == id).then_some(())
            }
        })
        .await;
    }

    /// Waits until this peer's DHT store holds `provider`'s provider record of `id`.
    pub async fn wait_to_store_provider(&self, id: TrackId, provider: PeerId) {
        let client = self.node.client().clone();
        test_utils::wait_for(
            STEP,
            &format!("{provider}'s record of {id} stored here"),
            || {
                let client = client.clone();
                async move {
                    let held = client.stored_providers(id.as_bytes()).await.ok()?;
                    held.contains(&provider).then_some(())
                }
            },
        )
        .await;
    }

    /// Waits until this peer knows `id` (through gossip or catalog sync).
    pub async fn wait_to_know(&self, id: TrackId) {
        let node = self.node.clone();
        test_utils::wait_for(STEP, &format!("to learn about {id}"), || {
            let node = node.clone();
            async move { node.library().store().has_manifest(&id).ok()?.then_some(()) }
        })
        .await;
    }
}

/// Loopback network settings with a serving cap.
pub fn rate_limited(rate: u64) -> NodeOptions {
    let mut options = NodeOptions::loopback();
    options.network = NetworkConfig {
        serve_rate: Some(rate),
        ..NetworkConfig::loopback()
    };
    options
}

/// Sends the nodes' logs to the test's output when `RUST_LOG` is set (for example
/// `RUST_LOG=busker_core::transfer=debug`); without it the tests stay quiet.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}
