//! Issue 18's data-path targets, measured black-box through the `busker` binary, each against
//! its baseline in the same run.
//!
//! - Publish: `busker --data-dir D --no-demo publish FILE...` into a fresh data dir, on the MP3
//!   set (twenty 1.6 MB variants of the bundled MP3), a 128 MiB and a 1 GiB WAV of noise (and a
//!   4 GiB one with `BUSKER_BENCH_4G=1`): wall time and peak RSS of the child (`wait4`), against
//!   the floor of a durable import (read in 1 MiB blocks + BLAKE3 + write a copy + fsync, one
//!   pass, one thread) and against read + BLAKE3 alone, on the same file.
//! - Fetch: two `busker node` processes on 127.0.0.1; the first WAV is published on A through
//!   its node, then `busker fetch ID --out FILE` on B is timed against a raw TCP copy of the
//!   same bytes over 127.0.0.1 into a file; both nodes' VmHWM (peak during the fetch) and VmRSS.
//!
//! Run: `cargo build --release -p busker && cargo bench -p busker-benches --bench datapath`.
//! Environment: `BUSKER_BIN` (default `target/release/busker`), `BUSKER_BENCH_SIZES_MIB`
//! (WAV sizes, default `128,1024`; the fetch uses the first), `BUSKER_BENCH_4G=1`,
//! `BUSKER_BENCH_RUNS` (default 1), `BUSKER_BENCH_TIMEOUT_SECS` (per step, default 600).
//! Inputs are generated in a temporary dir (`TMPDIR` chooses the disk), never committed. The
//! last lines are a Markdown table for BENCHMARKS.md.

// A bench stops at the first failed step, as a test does; panics unwind, which kills the nodes
// (their `Drop`) and removes the temporary dir.
#![allow(clippy::expect_used, clippy::unwrap_used)]
// Peak RSS of one child needs `wait4`, stopping a node cleanly needs SIGTERM, and a fair start
// needs `sync`: std has none of them. Every `unsafe` block is one such libc call.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use serde_json::Value;

const BLOCK: usize = 1 << 20;
const MIB: f64 = (1u64 << 20) as f64;

struct Config {
    bin: PathBuf,
    sizes_mib: Vec<u64>,
    runs: usize,
    timeout: Duration,
    /// Inputs, data dirs, copies and the commands' output; removed at the end, failed or not.
    scratch: tempfile::TempDir,
    /// Commands run so far: names their output files.
    commands: Cell<usize>,
}

/// A `busker` command, its stdout and stderr going to these files (a pipe left unread could
/// block it).
struct Busker {
    command: Command,
    out: PathBuf,
    err: PathBuf,
}

impl Config {
    fn from_env() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bin = std::env::var_os("BUSKER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/busker"));
        assert!(
            bin.is_file(),
            "no busker binary at {}: run `cargo build --release -p busker` or set BUSKER_BIN",
            bin.display()
        );
        let mut sizes_mib: Vec<u64> = std::env::var("BUSKER_BENCH_SIZES_MIB")
            .unwrap_or_else(|_| "128,1024".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("BUSKER_BENCH_SIZES_MIB: sizes in MiB, e.g. 8,32")
            })
            .collect();
        if std::env::var("BUSKER_BENCH_4G").is_ok_and(|v| v == "1") {
            sizes_mib.push(4096);
        }
        // A WAV's RIFF size field is 32 bits: 4 GiB (header included) is the largest that fits.
        assert!(
            sizes_mib.iter().all(|&s| (1..=4096).contains(&s)),
            "WAV sizes must be 1 to 4096 MiB"
        );
        let number = |name: &str, default: u64| {
            std::env::var(name).map_or(default, |v| v.parse().expect(name))
        };
        Self {
            bin,
            sizes_mib,
            runs: number("BUSKER_BENCH_RUNS", 1).max(1) as usize,
            timeout: Duration::from_secs(number("BUSKER_BENCH_TIMEOUT_SECS", 600)),
            scratch: tempfile::tempdir().expect("temporary dir"),
            commands: Cell::new(0),
        }
    }

    fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// `busker --data-dir DIR ARGS...`.
    fn busker(&self, dir: &Path, args: &[&str]) -> Busker {
        let n = self.commands.replace(self.commands.get() + 1);
        let out = self.scratch().join(format!("command-{n}.out"));
        let err = self.scratch().join(format!("command-{n}.err"));
        let mut command = Command::new(&self.bin);
        command
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env_remove("BUSKER_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"));
        Busker { command, out, err }
    }

    /// Runs a command to its end (killed after the timeout); returns its wall time, peak RSS in
    /// KiB and stdout. Panics with its stderr unless it succeeds.
    fn run(&self, what: &str, mut busker: Busker) -> (Duration, u64, String) {
        let start = Instant::now();
        let child = busker.command.spawn().expect("spawn busker");
        let (status, rss_kib) = wait_with_peak_rss(child, self.timeout, what);
        let elapsed = start.elapsed();
        let stdout = std::fs::read_to_string(&busker.out).unwrap_or_default();
        let stderr = std::fs::read_to_string(&busker.err).unwrap_or_default();
        assert!(status.success(), "{what} failed ({status}): {stderr}");
        (elapsed, rss_kib, stdout)
    }
}

/// Reaps `child` with `wait4`, the only way to get the peak RSS of that one process (getrusage's
/// RUSAGE_CHILDREN is the peak over all children so far). A watchdog kills it at `timeout`.
fn wait_with_peak_rss(child: Child, timeout: Duration, what: &str) -> (ExitStatus, u64) {
    let pid = child.id() as libc::pid_t;
    let (done, finished) = sync_channel::<()>(1);
    let watchdog = std::thread::spawn(move || {
        let late = matches!(
            finished.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        );
        if late {
            // SAFETY: a plain syscall. The child is not reaped yet (the reaper signals `done`
            // right after), so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        late
    });
    let mut status = 0;
    // SAFETY: rusage is plain data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        assert!(
            error.kind() == std::io::ErrorKind::Interrupted,
            "wait4: {error}"
        );
    }
    let _ = done.send(());
    let late = watchdog.join().expect("watchdog thread");
    assert!(
        !late,
        "{what} did not finish within {timeout:?}: killed (BUSKER_BENCH_TIMEOUT_SECS raises it)"
    );
    // Linux reports ru_maxrss in KiB.
    (ExitStatus::from_raw(status), usage.ru_maxrss as u64)
}

/// Flushes every dirty page, so that write-back left by an earlier step does not land in the
/// next measurement.
fn sync_all() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Reads `files` once so that every measurement reads them from the page cache.
fn warm(files: &[impl AsRef<Path>]) {
    for f in files {
        let mut file = File::open(f).expect("open input");
        std::io::copy(&mut file, &mut std::io::sink()).expect("read input");
    }
}

/// The baselines: each file read in 1 MiB blocks and hashed with BLAKE3 on one thread; with
/// `copy_to`, each block also written to a copy, fsynced at the end of each file (the floor of
/// an import that keeps its own durable copy).
fn read_hash(files: &[PathBuf], copy_to: Option<&Path>) -> Duration {
    let mut block = vec![0u8; BLOCK];
    let start = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let mut input = File::open(f).expect("open input");
        let mut copy = copy_to.map(|dir| File::create(dir.join(i.to_string())).expect("copy"));
        let mut hasher = blake3::Hasher::new();
        loop {
            let n = input.read(&mut block).expect("read input");
            if n == 0 {
                break;
            }
            hasher.update(&block[..n]);
            if let Some(copy) = &mut copy {
                copy.write_all(&block[..n]).expect("write copy");
            }
        }
        if let Some(copy) = copy {
            copy.sync_all().expect("fsync copy");
        }
        std::hint::black_box(hasher.finalize());
    }
    start.elapsed()
}

fn mp3_set(dir: &Path) -> Vec<PathBuf> {
    let original = std::fs::read(busker_core::test_utils::audio_fixture(
        "pg10284_spring_of_love_1903.id3v2_3.mp3",
    ))
    .expect("bundled mp3");
    (0..20)
        .map(|i: u8| {
            let mut bytes = original.clone();
            // The ID3v1 comment field, as the publish bench does: each variant a distinct file.
            let at = bytes.len() - 128 + 97;
            bytes[at] = b'a' + i % 26;
            bytes[at + 1] = b'a' + i / 26;
            let path = dir.join(format!("spring-{i}.mp3"));
            std::fs::write(&path, bytes).expect("write mp3 variant");
            path
        })
        .collect()
}

/// A 16-bit stereo 44.1 kHz WAV of `mib` MiB (header included) of seeded random samples,
/// written block by block so that a 4 GiB file never sits in memory; no chunk repeats.
fn noise_wav(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join(format!("noise-{mib}MiB.wav"));
    let data_len = u32::try_from((mib << 20) - 44).expect("at most 4 GiB");
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&2u16.to_le_bytes()); // channels
    header.extend_from_slice(&44_100u32.to_le_bytes());
    header.extend_from_slice(&(44_100u32 * 4).to_le_bytes()); // bytes per second
    header.extend_from_slice(&4u16.to_le_bytes()); // block align
    header.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    let mut file = File::create(&path).expect("create wav");
    file.write_all(&header).expect("write wav");
    let mut rng = rand::rngs::StdRng::seed_from_u64(mib);
    let mut block = vec![0u8; BLOCK];
    let mut left = data_len as usize;
    while left > 0 {
        let n = left.min(BLOCK);
        rng.fill_bytes(&mut block[..n]);
        file.write_all(&block[..n]).expect("write wav");
        left -= n;
    }
    file.sync_all().expect("fsync wav");
    path
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// One input's publish figures, medians over the runs (peak RSS: the highest).
struct PublishRow {
    name: String,
    bytes: u64,
    publish: f64,
    rss_kib: u64,
    floor: f64,
    hash: f64,
}

fn measure_publish(config: &Config, name: &str, files: &[PathBuf]) -> PublishRow {
    let scratch = config.scratch();
    let bytes: u64 = files
        .iter()
        .map(|f| f.metadata().expect("input").len())
        .sum();
    let (mut publish, mut floor, mut hash, mut rss_kib) = (vec![], vec![], vec![], 0);
    for run in 1..=config.runs {
        let tag = format!("publish {name} run {run}/{}", config.runs);
        let mb = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();

        warm(files);
        sync_all();
        let h = read_hash(files, None);
        println!(
            "[{tag}] read + BLAKE3 {:.3} s ({:.0} MB/s)",
            h.as_secs_f64(),
            mb(h)
        );

        let copies = scratch.join("copies");
        std::fs::create_dir_all(&copies).expect("copies dir");
        warm(files);
        sync_all();
        let f = read_hash(files, Some(&copies));
        std::fs::remove_dir_all(&copies).expect("remove copies");
        println!(
            "[{tag}] floor: read + BLAKE3 + write a copy + fsync {:.3} s ({:.0} MB/s)",
            f.as_secs_f64(),
            mb(f)
        );

        let data = scratch.join("publish-data");
        warm(files);
        sync_all();
        let mut publish_files = config.busker(&data, &["--json", "--no-demo", "publish"]);
        publish_files.command.args(files);
        let (p, rss, stdout) = config.run(&format!("busker publish ({tag})"), publish_files);
        assert_eq!(
            stdout.lines().count(),
            files.len(),
            "one track per file: {stdout}"
        );
        std::fs::remove_dir_all(&data).expect("remove data dir");
        println!(
            "[{tag}] busker publish {:.3} s ({:.0} MB/s), peak RSS {:.1} MiB; \
             publish/floor {:.2}x, publish/(read + BLAKE3) {:.2}x",
            p.as_secs_f64(),
            mb(p),
            rss as f64 / 1024.0,
            f.as_secs_f64() / p.as_secs_f64(),
            h.as_secs_f64() / p.as_secs_f64()
        );
        publish.push(p.as_secs_f64());
        floor.push(f.as_secs_f64());
        hash.push(h.as_secs_f64());
        rss_kib = rss_kib.max(rss);
    }
    PublishRow {
        name: name.into(),
        bytes,
        publish: median(publish),
        rss_kib,
        floor: median(floor),
        hash: median(hash),
    }
}

/// A `busker node` child, killed if the bench fails before it is stopped.
struct Node {
    child: Child,
    first_line: Value,
}

impl Node {
    fn start(config: &Config, dir: &Path, peer: Option<&str>) -> Self {
        let mut command = config.busker(dir, &["--json", "--no-demo", "node"]).command;
        command.args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        if let Some(peer) = peer {
            command.args(["--peer", peer]);
        }
        // Its first line is read below; its stderr stays in the scratch dir.
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn busker node");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = sync_channel(1);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: a full pipe would stall the node.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(60));
        let mut node = Self {
            child,
            first_line: Value::Null,
        };
        let line = line.unwrap_or_else(|_| {
            panic!(
                "busker node on {} printed no first line within 60 s",
                dir.display()
            )
        });
        node.first_line = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("busker node's first line is not JSON ({e}): {line:?}"));
        node
    }

    fn listen(&self) -> String {
        self.first_line["listen"][0]
            .as_str()
            .expect("a listen address")
            .to_owned()
    }

    /// `(VmRSS, VmHWM)` in KiB, from /proc.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the node is running");
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(name)).expect(name);
            line.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect(name)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Resets VmHWM to the current RSS (Linux `clear_refs` 5), so that the next reading is the
    /// peak of what happens from now on.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .expect("reset the node's VmHWM through /proc/PID/clear_refs");
    }

    /// SIGTERM, then waits for a clean exit.
    fn terminate(mut self, timeout: Duration) {
        // SAFETY: a plain syscall on our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the node") {
                assert!(
                    status.success(),
                    "busker node exited with {status} after SIGTERM"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "busker node ignored SIGTERM for {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The baseline of a fetch: the file's bytes sent over a 127.0.0.1 TCP connection by one
/// thread and written to a file by another, 1 MiB at a time (with `fsync`: made durable too).
fn raw_tcp_copy(file: &Path, out: &Path, fsync: bool) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("listener address");
    let out = out.to_owned();
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut copy = File::create(&out).expect("create copy");
        let mut block = vec![0u8; BLOCK];
        loop {
            let n = socket.read(&mut block).expect("receive");
            if n == 0 {
                break;
            }
            copy.write_all(&block[..n]).expect("write copy");
        }
        if fsync {
            copy.sync_all().expect("fsync copy");
        }
    });
    let mut socket = TcpStream::connect(addr).expect("connect");
    let mut input = File::open(file).expect("open input");
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = input.read(&mut block).expect("read input");
        if n == 0 {
            break;
        }
        socket.write_all(&block[..n]).expect("send");
    }
    drop(socket);
    receiver.join().expect("receiver thread");
    start.elapsed()
}

fn file_hash(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(File::open(path).expect("open"))
        .expect("read");
    hasher.finalize()
}

/// Polls `check` every 100 ms until it returns `Some`; fails after `timeout`.
fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn measure_fetch(config: &Config, wav: &Path, rows: &mut Vec<String>) {
    let scratch = config.scratch();
    let (a_dir, b_dir) = (scratch.join("node-a"), scratch.join("node-b"));
    let a = Node::start(config, &a_dir, None);
    let b = Node::start(config, &b_dir, Some(&a.listen()));
    let bytes = wav.metadata().expect("wav").len();
    let size = format!("{:.0} MiB", bytes as f64 / MIB);

    let wav_arg = wav.to_str().expect("utf-8 temp path");
    let publish = config.busker(&a_dir, &["--json", "publish", wav_arg]);
    let (took, _, stdout) = config.run("busker publish through node A", publish);
    let published: Value = serde_json::from_str(stdout.trim()).expect("publish JSON");
    let id = published["id"].as_str().expect("a track id").to_owned();
    println!(
        "[fetch] published {size} on node A through its API in {:.3} s",
        took.as_secs_f64()
    );

    // B learns the manifest through catalog sync; the fetch is timed from there on.
    poll("node B to know the track", Duration::from_secs(120), || {
        let list = config.busker(&b_dir, &["--json", "list"]);
        let (_, _, stdout) = config.run("busker list on node B", list);
        stdout.contains(&id).then_some(())
    });
    let (a_rss, a_hwm) = a.memory_kib();
    println!(
        "[fetch] before the fetch: node A VmRSS {:.1} MiB, VmHWM {:.1} MiB (the publish included)",
        a_rss as f64 / 1024.0,
        a_hwm as f64 / 1024.0
    );
    a.reset_peak();
    b.reset_peak();

    let out = scratch.join("fetched.wav");
    warm(&[wav]);
    sync_all();
    let out_arg = out.to_str().expect("utf-8 temp path");
    let fetch = config.busker(&b_dir, &["--json", "fetch", &id, "--out", out_arg]);
    let (fetch, _, stdout) = config.run("busker fetch on node B", fetch);
    let report: Value = serde_json::from_str(stdout.trim()).expect("fetch JSON");
    let ((a_rss, a_hwm), (b_rss, b_hwm)) = (a.memory_kib(), b.memory_kib());
    assert_eq!(report["bytes"].as_u64(), Some(bytes), "{report}");
    assert_eq!(
        file_hash(&out),
        file_hash(wav),
        "the fetched file is the published one"
    );
    std::fs::remove_file(&out).expect("remove fetched file");
    println!(
        "[fetch] busker fetch {size} {:.3} s ({:.0} MB/s; the node reports {} ms, {} peer(s))",
        fetch.as_secs_f64(),
        bytes as f64 / 1e6 / fetch.as_secs_f64(),
        report["millis"],
        report["peers_used"]
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "[fetch] after: node A VmRSS {:.1} MiB, VmHWM during the fetch {:.1} MiB; \
         node B VmRSS {:.1} MiB, VmHWM during the fetch {:.1} MiB",
        mib(a_rss),
        mib(a_hwm),
        mib(b_rss),
        mib(b_hwm)
    );
    a.terminate(Duration::from_secs(30));
    b.terminate(Duration::from_secs(30));

    let copy = scratch.join("tcp-copy.wav");
    let mut raw = [Duration::ZERO; 2];
    for (fsync, took) in [false, true].into_iter().zip(&mut raw) {
        warm(&[wav]);
        sync_all();
        *took = raw_tcp_copy(wav, &copy, fsync);
        std::fs::remove_file(&copy).expect("remove copy");
    }
    let ratio = raw[0].as_secs_f64() / fetch.as_secs_f64();
    println!(
        "[fetch] raw TCP copy over 127.0.0.1 into a file {:.3} s ({:.0} MB/s); with fsync \
         {:.3} s; fetch/raw copy {ratio:.2}x (busker fetch does not fsync its --out file)",
        raw[0].as_secs_f64(),
        bytes as f64 / 1e6 / raw[0].as_secs_f64(),
        raw[1].as_secs_f64()
    );
    rows.push(format!(
        "| `busker fetch` of a WAV of {size} between two `busker node` processes on 127.0.0.1 \
         | {:.3} s | raw TCP copy of the same bytes into a file: {:.3} s (+ fsync: {:.3} s) \
         | {ratio:.2}x | >= 0.5x |",
        fetch.as_secs_f64(),
        raw[0].as_secs_f64(),
        raw[1].as_secs_f64()
    ));
    rows.push(format!(
        "| node RSS: peak during the fetch (VmHWM) / after it (VmRSS) \
         | A {:.0} / {:.0} MiB, B {:.0} / {:.0} MiB | | | <= 150 MB (143 MiB) |",
        mib(a_hwm),
        mib(a_rss),
        mib(b_hwm),
        mib(b_rss)
    ));
}

fn publish_row(row: &PublishRow) -> String {
    let rss_goal = if row.bytes >= 1 << 30 {
        ", RSS <= 100 MB (95.4 MiB)"
    } else {
        ""
    };
    format!(
        "| `busker publish` of {} ({:.1} MB), fresh data dir | {:.3} s, peak RSS {:.0} MiB \
         | read + BLAKE3 + write a copy + fsync: {:.3} s; read + BLAKE3: {:.3} s \
         | {:.2}x the floor, {:.2}x read + BLAKE3 | >= 0.8x the floor{rss_goal} |",
        row.name,
        row.bytes as f64 / 1e6,
        row.publish,
        row.rss_kib as f64 / 1024.0,
        row.floor,
        row.hash,
        row.floor / row.publish,
        row.hash / row.publish
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: only run when benched.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let config = Config::from_env();
    let scratch = config.scratch();
    println!("datapath: busker = {}", config.bin.display());
    if config.bin.components().any(|c| c.as_os_str() == "debug") {
        println!("datapath: a debug build: these figures are not for BENCHMARKS.md");
    }
    println!(
        "datapath: temporary dir {}; every input is read once before each measurement, so all \
         read from the page cache, and dirty pages are synced before each; {} run(s), medians \
         in the table (peak RSS: the highest)",
        scratch.display(),
        config.runs
    );

    let inputs = scratch.join("inputs");
    std::fs::create_dir(&inputs).expect("inputs dir");
    // Publish rows first, then the fetch's, whatever order they were measured in.
    let mut fetch_rows = vec![];
    let mut rows = vec![publish_row(&measure_publish(
        &config,
        "the MP3 set of 20 files",
        &mp3_set(&inputs),
    ))];
    for (i, &mib) in config.sizes_mib.iter().enumerate() {
        let wav = noise_wav(&inputs, mib);
        let name = format!("a WAV of {mib} MiB");
        rows.push(publish_row(&measure_publish(
            &config,
            &name,
            std::slice::from_ref(&wav),
        )));
        if i == 0 {
            measure_fetch(&config, &wav, &mut fetch_rows);
        }
        // The big inputs go as soon as they are measured: a 4 GiB run needs disk enough.
        std::fs::remove_file(&wav).expect("remove wav");
    }

    println!();
    println!("| what | Busker | baseline, same run | ratio | goal |");
    println!("|---|---|---|---|---|");
    for row in rows.iter().chain(&fetch_rows) {
        println!("{row}");
    }
}
