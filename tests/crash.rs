//! Crash safety (issue 8): the real `busker` binary is killed with SIGKILL at random moments
//! while it publishes and while its node downloads; after every kill the data dir must open, no
//! partial track may be listed as here, every track listed as here must verify chunk by chunk,
//! and downloads must resume and end byte-identical.
//!
//! CI runs a short loop (10 kills, at most about 60 s). The full loop is on demand:
//! `BUSKER_CRASH_LOOP=100 cargo test -p busker --test e2e crash:: -- --nocapture`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use busker_core::model::TrackId;
use busker_core::{Library, LibraryOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::node_cli::NodeProcess;
use crate::resilience::chaos_seed;
use crate::util::{Peer, busker_bin};

/// Each remote track's size, and its chunks at the default chunk size.
const REMOTE_BYTES: usize = 40_000_000;
const REMOTE_CHUNKS: usize = REMOTE_BYTES.div_ceil(64 * 1024);

/// Iterations and time budget: `BUSKER_CRASH_LOOP=N` for the full loop, 10 in about a minute
/// otherwise.
fn budget() -> (usize, Duration) {
    match std::env::var("BUSKER_CRASH_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => (n, Duration::from_secs(30 * 60)),
        None => (10, Duration::from_secs(60)),
    }
}

/// What one look at a data dir found.
struct Check {
    /// Tracks listed as here, every chunk present and matching its hash.
    local: Vec<(TrackId, String)>,
    /// Verified chunks of tracks not (yet) here: a download's progress.
    partial_chunks: usize,
    /// Verified chunks of every known track: never fewer after a kill than before.
    chunks: usize,
}

/// Opens the data dir the way every restart does, and checks the invariants.
fn check_data_dir(dir: &Path) -> Check {
    // A command-line restart first: it must open the store and list.
    let out = Command::new(busker_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["--json", "--no-demo", "list"])
        .env_remove("BUSKER_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`busker list` after a kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let library = Library::open(LibraryOptions::new(dir).seed_demo(false))
        .expect("the data dir opens after a kill");
    let store = library.store();
    let mut local = Vec::new();
    let mut partial_chunks = 0;
    let mut chunks = 0;
    for t in library.list().unwrap() {
        let m = library.manifest(&t.id).unwrap();
        // `chunk` checks each chunk against its hash: a corrupt one is an error here.
        let present = (0..m.chunks().len())
            .filter(|&i| {
                store
                    .chunk(&m, i)
                    .expect("a stored chunk is corrupt")
                    .is_some()
            })
            .count();
        chunks += present;
        if t.local {
            assert_eq!(
                present,
                m.chunks().len(),
                "a track listed as here is partial"
            );
            local.push((t.id, t.info.title.clone()));
        } else {
            partial_chunks += present;
        }
    }
    // The command line agrees with the store.
    for t in &listed {
        let id: TrackId = t["id"].as_str().unwrap().parse().unwrap();
        let here = local.iter().any(|(l, _)| *l == id);
        assert_eq!(
            t["local"].as_bool().unwrap(),
            here,
            "list disagrees on {id}"
        );
    }
    Check {
        local,
        partial_chunks,
        chunks,
    }
}

fn wait_exit(child: &mut std::process::Child) {
    let _ = child.wait();
}

#[test]
fn sigkill_during_publish_and_download_never_leaves_a_partial_track() {
    let (iterations, time_budget) = budget();
    let seed = chaos_seed("crash loop");
    let mut rng = StdRng::seed_from_u64(seed);

    // A seed node holding three big tracks.
    let seed_peer = Peer::new();
    let mut remote = Vec::new();
    for k in 0..3u32 {
        let path = busker_core::test_utils::write_wav(
            seed_peer.dir.path(),
            &format!("remote{k}.wav"),
            REMOTE_BYTES,
            500 + k,
        );
        let (ok, out, err) = seed_peer.json(&[
            "--no-demo",
            "publish",
            path.to_str().unwrap(),
            "--title",
            &format!("Remote {k}"),
        ]);
        assert!(ok, "{err}");
        let id: TrackId = out[0]["id"].as_str().unwrap().parse().unwrap();
        remote.push((id, std::fs::read(&path).unwrap()));
    }
    let seed_node = NodeProcess::start(&seed_peer, &[]);

    // Files the victim publishes, one by one.
    let files = tempfile::tempdir().unwrap();
    let to_publish: Vec<PathBuf> = (0..12u32)
        .map(|k| {
            busker_core::test_utils::write_wav(
                files.path(),
                &format!("local{k}.wav"),
                6_000_000,
                700 + k,
            )
        })
        .collect();

    // How long each operation takes when nothing kills it, so that the kills can be timed to
    // land while it runs: publishes of a file like the others, downloads of a track like the
    // others, on throw-away data dirs, process start-up included. The fastest of three: the
    // first start of a freshly built binary is slow.
    let publish_takes = fastest_of_three(|k| {
        let scratch = Peer::new();
        let name = format!("calibrate{k}.wav");
        let file = busker_core::test_utils::write_wav(files.path(), &name, 6_000_000, 9 + k);
        let t = Instant::now();
        let (ok, _, err) = scratch.json(&["--no-demo", "publish", file.to_str().unwrap()]);
        assert!(ok, "{err}");
        let took = t.elapsed();
        std::fs::remove_file(file).unwrap();
        took
    });
    let download_takes = fastest_of_three(|k| {
        let scratch = Peer::new();
        let _node = NodeProcess::start(&scratch, &["--peer", &seed_node.listen()]);
        let id = remote[k as usize].0.to_hex();
        knows(&scratch, &id);
        let t = Instant::now();
        let (ok, _, err) = scratch.json(&["fetch", &id]);
        assert!(ok, "{err}");
        t.elapsed()
    });

    let victim = Peer::new();
    let started = Instant::now();
    let (mut publish_kills, mut download_kills, mut done) = (0, 0, 0);
    // Kills that landed while the operation ran: the command had not exited and its track was
    // not there afterwards.
    let (mut publish_landed, mut download_landed) = (0, 0);
    let mut last_partial = 0;
    let mut kept_partial = 0;
    let mut chunks_before = 0;
    while done < iterations && started.elapsed() < time_budget {
        let check = check_data_dir_or_new(victim.dir.path());
        let titles: Vec<&str> = check
            .iter()
            .flat_map(|c| &c.local)
            .map(|(_, t)| t.as_str())
            .collect();
        if done % 2 == 0 {
            // Publish the next file not published yet, and kill the process at a random moment.
            let Some(file) = to_publish.iter().find(|f| {
                let stem = f.file_stem().unwrap().to_str().unwrap();
                !titles.contains(&stem)
            }) else {
                done += 1;
                continue;
            };
            let mut child = Command::new(busker_bin())
                .arg("--data-dir")
                .arg(victim.dir.path())
                .args(["--no-demo", "publish"])
                .arg(file)
                .env_remove("BUSKER_DATA_DIR")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(random_moment(&mut rng, publish_takes));
            let running = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            wait_exit(&mut child);
            publish_kills += 1;
            let stem = file.file_stem().unwrap().to_str().unwrap();
            let published = check_data_dir(victim.dir.path())
                .local
                .iter()
                .any(|(_, t)| t == stem);
            publish_landed += usize::from(running && !published);
        } else {
            // Download the next remote track not here yet through a node, and kill the node.
            let Some((id, _)) = remote.iter().find(|(id, _)| {
                check
                    .as_ref()
                    .is_none_or(|c| c.local.iter().all(|(l, _)| l != id))
            }) else {
                done += 1;
                continue;
            };
            let mut node = NodeProcess::start(&victim, &["--peer", &seed_node.listen()]);
            // Time the kill from the download itself, not from the catalog sync before it.
            knows(&victim, &id.to_hex());
            let mut fetch = Command::new(busker_bin())
                .arg("--data-dir")
                .arg(victim.dir.path())
                .arg("fetch")
                .arg(id.to_hex())
                .env_remove("BUSKER_DATA_DIR")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // A resumed download has less left to do: aim within what remains.
            let have = check.as_ref().map_or(0, |c| c.partial_chunks) as f64;
            let left = (1.0 - have / REMOTE_CHUNKS as f64).max(0.1);
            std::thread::sleep(random_moment(&mut rng, download_takes.mul_f64(left)));
            let running = fetch.try_wait().unwrap().is_none();
            let _ = node.child.kill();
            wait_exit(&mut node.child);
            let _ = fetch.kill();
            wait_exit(&mut fetch);
            download_kills += 1;
            let fetched = check_data_dir(victim.dir.path())
                .local
                .iter()
                .any(|(l, _)| l == id);
            download_landed += usize::from(running && !fetched);
        }
        done += 1;
        let after = check_data_dir(victim.dir.path());
        assert!(
            after.chunks >= chunks_before,
            "verified chunks were lost: {} -> {}",
            chunks_before,
            after.chunks
        );
        chunks_before = after.chunks;
        if done % 2 == 0 && after.partial_chunks > 0 {
            kept_partial += 1;
        }
        last_partial = after.partial_chunks;
    }
    assert!(
        publish_kills > 0 && download_kills > 0,
        "both kinds of kill ran"
    );
    // The premise: most kills hit a running operation, not one that had already ended.
    assert!(
        publish_landed * 2 > publish_kills && download_landed * 2 > download_kills,
        "too few kills landed mid-operation: publish {publish_landed}/{publish_kills}, \
         download {download_landed}/{download_kills}"
    );

    // After the storm: every download resumes and finishes byte-identical, every file publishes.
    let node = NodeProcess::start(&victim, &["--peer", &seed_node.listen()]);
    let mut bytes_verified = 0;
    for (id, original) in &remote {
        let out = victim.dir.path().join(format!("{id}.out"));
        let (ok, report, err) =
            victim.json(&["fetch", &id.to_hex(), "--out", out.to_str().unwrap()]);
        assert!(ok, "the download resumes: {err}");
        assert_eq!(report[0]["bytes"], original.len() as u64);
        assert_eq!(&std::fs::read(&out).unwrap(), original, "byte-identical");
        bytes_verified += original.len();
    }
    let (ok, _, err) = victim.json(&["publish", files.path().to_str().unwrap()]);
    // Files already published are reported as such; that is an error line, not a failure of
    // the others.
    assert!(ok || err.contains("already published"), "{err}");
    drop(node);
    let after = check_data_dir(victim.dir.path());
    assert_eq!(
        after.local.len(),
        remote.len() + to_publish.len(),
        "every track is local after the storm (final publish said: {err})"
    );
    println!(
        "figures: crash_loop iterations={done} sigkill_publish={publish_kills} \
         landed_mid_publish={publish_landed} sigkill_download={download_kills} \
         landed_mid_download={download_landed} publish_takes_ms={} download_takes_ms={} \
         partial_chunks_before_final_fetch={last_partial} \
         download_kills_that_left_partial_chunks={kept_partial} bytes_verified={bytes_verified} \
         seconds={:.1}",
        publish_takes.as_millis(),
        download_takes.as_millis(),
        started.elapsed().as_secs_f64()
    );
}

/// Waits until the node running on `peer` knows the track `id` (its catalog sync with the seed
/// brought the manifest), so that a fetch starts downloading at once.
fn knows(peer: &Peer, id: &str) {
    crate::node_cli::poll("the node to know the track", || {
        let (ok, listed, _) = peer.json(&["list"]);
        (ok && listed.iter().any(|t| t["id"] == id)).then_some(())
    });
}

/// The shortest of three runs of `run` (given 0, 1, 2).
fn fastest_of_three(run: impl Fn(u32) -> Duration) -> Duration {
    (0..3).map(run).min().unwrap()
}

/// A random moment within the first nine tenths of an operation that takes `takes`.
fn random_moment(rng: &mut StdRng, takes: Duration) -> Duration {
    takes.mul_f64(rng.gen_range(0.0..0.9))
}

/// [`check_data_dir`], or `None` before the data dir exists.
fn check_data_dir_or_new(dir: &Path) -> Option<Check> {
    dir.join("db").exists().then(|| check_data_dir(dir))
}
