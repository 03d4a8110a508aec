//! The scale harness: N peers in one process, each running Busker's real network actor, and
//! what the network does at that size (see SCALING.md and BENCHMARKS.md, "Scale").
//!
//! `BUSKER_SCALE_PEERS=1000 cargo bench -p busker-benches --bench scale` prints progress lines,
//! then, last, exactly one line (the contract of CLI.md, "Bench lines read from outside"):
//! `scale peers=N reach50_ms=X reach99_ms=Y lookup_success=Z bytes_per_peer_min=B rss_per_peer_mb=M`.
//!
//! What is real: every peer is `busker_core::net::spawn` with the node's behaviour (gossipsub and
//! Kademlia configured as a node configures them, identify, ping, relay, AutoNAT, connection
//! limits), the node's protocols and gossip topics with their validators (a release
//! announcement is decoded and its signature checked by every peer before it is delivered or
//! forwarded, and once more by the receiving side, as the node does), and the node's way to
//! announce and provide a release (`catalog::announce`, then `Client::provide`). Connections
//! are Noise + Yamux over libp2p's in-process memory transport
//! (`NetworkConfig::memory_transport`): TCP on loopback would need two file descriptors per
//! connection, more than this process may open at 1,000 peers.
//!
//! What is not: the storage side. Each peer answers the catalog, transfer and radio protocols
//! from an empty source (`test_utils::EmptySource`), and none runs the node's own loops over the
//! network (catalog sync with every new peer, taste exchange rounds, radio). Dead peers are
//! crashed actors: dialling one fails at once, where on the Internet it would time out.
//!
//! The run, seeded (`BUSKER_SCALE_SEED`): peers join one by one, each dialling 3 random earlier
//! peers; the network settles (at least one idle timeout after the last join, then connections
//! steady); random peers provide `BUSKER_SCALE_RECORDS` records and the harness waits until
//! their replicas stop spreading; traffic is counted over a quiet window
//! (`BUSKER_SCALE_WINDOW_SECS`); `BUSKER_SCALE_RELEASES` releases are announced one after
//! another from random peers and timed to 50 % and 99 % of the others; provider lookups are
//! timed before and after a seeded 30 % of the peers are killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use busker_core::model::{ArtistKeypair, Manifest, TrackId};
use busker_core::net::{self, Client, ConnectionTargets, NetEvent, NetworkConfig, PeerId};
use busker_core::{catalog, radio, release, test_utils};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// What one run does. [`Settings::from_env`] reads the bench's environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Peers in the network.
    pub peers: usize,
    /// Seeds the topology, the keys, who publishes and who dies.
    pub seed: u64,
    /// Earlier peers each newcomer dials.
    pub dials: usize,
    /// Least time between the last join and the measurements (the idle timeout, by default:
    /// connections made while joining that nobody uses close by then).
    pub settle_floor: Duration,
    /// Provider records put before the churn.
    pub records: usize,
    /// Provider lookups before the churn, and again after it.
    pub lookups: usize,
    /// Releases announced for the reach figures (the median is reported).
    pub releases: usize,
    /// The quiet window over which traffic is counted.
    pub window: Duration,
    /// The share of peers killed.
    pub churn: f64,
    /// Each peer's cap on open connections (`NetworkConfig::max_connections`; a node's own by
    /// default).
    pub max_connections: u32,
    /// Each peer's connection manager watermarks (`NetworkConfig::connections`; a node's own
    /// by default). `BUSKER_SCALE_CONN_HIGH=100000` turns it off in effect (the run before it).
    pub connections: ConnectionTargets,
    /// Joining stops when it has taken this long; the run goes on with the peers that joined.
    pub join_budget: Duration,
}

impl Settings {
    /// The defaults, with `BUSKER_SCALE_*` variables read over them.
    pub fn from_env() -> Self {
        let env = |name: &str| std::env::var(name).ok()?.parse::<u64>().ok();
        let peers = env("BUSKER_SCALE_PEERS").unwrap_or(200) as usize;
        Self {
            peers,
            seed: env("BUSKER_SCALE_SEED").unwrap_or(1),
            dials: 3,
            settle_floor: env("BUSKER_SCALE_FLOOR_SECS")
                .map_or(NetworkConfig::loopback().idle_timeout, Duration::from_secs),
            records: env("BUSKER_SCALE_RECORDS").unwrap_or(50) as usize,
            lookups: env("BUSKER_SCALE_LOOKUPS").unwrap_or(200) as usize,
            releases: env("BUSKER_SCALE_RELEASES").unwrap_or(5) as usize,
            window: Duration::from_secs(env("BUSKER_SCALE_WINDOW_SECS").unwrap_or(60)),
            churn: 0.3,
            max_connections: env("BUSKER_SCALE_MAX_CONNECTIONS")
                .map_or(NetworkConfig::loopback().max_connections, |n| n as u32),
            join_budget: Duration::from_secs(env("BUSKER_SCALE_JOIN_SECS").unwrap_or(600)),
            connections: {
                let default = ConnectionTargets::default();
                ConnectionTargets {
                    low: env("BUSKER_SCALE_CONN_LOW").map_or(default.low, |n| n as usize),
                    high: env("BUSKER_SCALE_CONN_HIGH").map_or(default.high, |n| n as usize),
                    ..default
                }
            },
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Peers in the network.
    pub peers: usize,
    /// Median over the releases of the time until half of the other live peers had it.
    pub reach50_ms: f64,
    /// Median over the releases of the time until 99 % of them had it (infinite when most
    /// releases never got there within the timeout).
    pub reach99_ms: f64,
    /// Every release (those timed and one after the churn) reached every live peer.
    pub reached_all: bool,
    /// Share of provider lookups that found the provider, all peers alive.
    pub lookup_success_before: f64,
    /// The same after the churn: the headline figure.
    pub lookup_success: f64,
    /// Bytes each peer sent and received per minute in the quiet window (both ways together).
    pub bytes_per_peer_min: f64,
    /// Process RSS growth per peer, MiB.
    pub rss_per_peer_mb: f64,
    /// Peers each peer was connected to once the network settled, on average.
    pub mean_degree: f64,
}

impl Report {
    /// The bench's last line (CLI.md).
    pub fn line(&self) -> String {
        format!(
            "scale peers={} reach50_ms={:.0} reach99_ms={:.0} lookup_success={:.3} bytes_per_peer_min={:.0} rss_per_peer_mb={:.2}",
            self.peers,
            self.reach50_ms,
            self.reach99_ms,
            self.lookup_success,
            self.bytes_per_peer_min,
            self.rss_per_peer_mb
        )
    }
}

/// Release arrivals: for each release, when each peer (by index) got it and verified it.
type Arrivals = Arc<Mutex<HashMap<TrackId, Vec<(usize, Instant)>>>>;

struct Peer {
    client: Client,
    id: PeerId,
    alive: bool,
}

/// The harness's clock and progress lines.
struct Progress(Instant);

impl Progress {
    fn say(&self, what: impl std::fmt::Display) {
        println!("  [{:6.1} s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// The process's resident memory, bytes (`VmRSS` of /proc/self/status; 0 where there is none).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time the process has used, seconds (utime + stime of /proc/self/stat, in Linux's
/// USER_HZ of 100 ticks a second; 0 where there is none).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which ends with the last ')'): utime and stime are
    // the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The services of a node with nothing stored: its protocols (answering from an empty source)
/// and both of its gossip topics with the node's validators.
fn services() -> net::Services {
    test_utils::empty_services().topic(net::Topic {
        name: radio::CHANNELS_TOPIC.to_owned(),
        validator: radio::status_validator(),
        strict: true,
    })
}

/// Starts one peer and the task that notes the releases it receives.
async fn spawn_peer(
    index: usize,
    seed: [u8; 32],
    settings: &Settings,
    arrivals: &Arrivals,
) -> (Peer, net::Multiaddr) {
    let config = NetworkConfig {
        listen: vec![net::memory_any_port()],
        memory_transport: true,
        max_connections: settings.max_connections,
        connections: settings.connections.clone(),
        ..NetworkConfig::loopback()
    };
    let key = net::keypair_from_seed(seed).unwrap();
    let (client, mut events) = net::spawn(key, config, services()).await.unwrap();
    let addr = client.listen_addrs().await.unwrap()[0].clone();
    let arrivals = arrivals.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            // The node decodes (and so verifies) every announcement it is handed; so does this.
            if let NetEvent::TopicMessage { topic, data, .. } = event
                && topic == catalog::RELEASES_TOPIC
                && let Ok(manifest) = catalog::decode_announcement(&data)
            {
                let at = Instant::now();
                let mut arrivals = arrivals.lock().unwrap();
                arrivals.entry(manifest.id()).or_default().push((index, at));
            }
        }
    });
    let id = client.peer_id();
    let peer = Peer {
        client,
        id,
        alive: true,
    };
    (peer, addr)
}

/// Peers join one by one, each dialling `settings.dials` random earlier peers.
async fn join(
    settings: &Settings,
    rng: &mut StdRng,
    arrivals: &Arrivals,
    p: &Progress,
) -> Vec<Peer> {
    let mut peers: Vec<Peer> = Vec::with_capacity(settings.peers);
    let mut addrs: Vec<net::Multiaddr> = Vec::with_capacity(settings.peers);
    for i in 0..settings.peers {
        if p.0.elapsed() > settings.join_budget {
            p.say(format!("joining stopped at {i} peers: over its budget"));
            break;
        }
        let (peer, addr) = spawn_peer(i, rng.r#gen(), settings, arrivals).await;
        let earlier: Vec<usize> =
            rand::seq::index::sample(rng, i.max(1), settings.dials.min(i)).into_vec();
        let dials = earlier.iter().map(|&j| peer.client.dial(addrs[j].clone()));
        for result in futures::future::join_all(dials).await {
            if let Err(e) = result {
                p.say(format!("peer {i}: a bootstrap dial failed: {e}"));
            }
        }
        peers.push(peer);
        addrs.push(addr);
        if (i + 1) % 100 == 0 || i + 1 == settings.peers {
            p.say(format!("{} peers joined", i + 1));
        }
    }
    peers
}

/// The number of peers each live peer is connected to.
async fn degrees(peers: &[Peer]) -> Vec<usize> {
    futures::future::join_all(
        peers
            .iter()
            .filter(|p| p.alive)
            .map(|p| async { p.client.peers().await.map(|l| l.len()).unwrap_or(0) }),
    )
    .await
}

/// Waits `floor`, then until the connection count moved by less than 1 % over three checks
/// 2 s apart (or 3 minutes passed). Returns the connections open (each counted at both ends).
async fn settle(peers: &[Peer], floor: Duration, p: &Progress) -> usize {
    tokio::time::sleep(floor).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut history: Vec<usize> = Vec::new();
    loop {
        let mut counts = degrees(peers).await;
        counts.sort_unstable();
        let total: usize = counts.iter().sum();
        let lonely = counts.iter().filter(|&&c| c == 0).count();
        history.push(total);
        let degree = total as f64 / counts.len() as f64;
        let recent = &history[history.len().saturating_sub(3)..];
        let (lo, hi) = (recent.iter().min().unwrap(), recent.iter().max().unwrap());
        let steady = recent.len() == 3 && (hi - lo) as f64 <= 0.01 * *hi as f64;
        if steady || Instant::now() > deadline {
            p.say(format!(
                "settled: mean degree {degree:.1} (median {}, max {}), {lonely} peers without a connection{}",
                counts[counts.len() / 2],
                counts[counts.len() - 1],
                if steady { "" } else { " (still moving after 3 min)" }
            ));
            return total;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Random peers provide `count` record keys (as the node provides a release it holds). Waits
/// until the number of peers holding them stops growing; returns the keys with their providers.
async fn provide(
    peers: &[Peer],
    count: usize,
    rng: &mut StdRng,
    p: &Progress,
) -> Vec<(Vec<u8>, PeerId)> {
    let mut records = Vec::new();
    for _ in 0..count {
        let key = rng.r#gen::<[u8; 32]>().to_vec();
        let provider = &peers[rng.gen_range(0..peers.len())];
        provider.client.provide(&key).await.unwrap();
        records.push((key, provider.id));
    }
    // A put is a DHT query (the closest peers) and then a store on each: done when the count
    // of records held has not moved over three checks 3 s apart, or after 3 minutes.
    let mut history = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        history.push(replicas(peers, &records).await);
        let recent = &history[history.len().saturating_sub(3)..];
        let steady = recent.len() == 3 && recent.iter().all(|&h| h == recent[0]);
        if steady || Instant::now() > deadline {
            p.say(format!(
                "{count} provider records put, {:.1} peers hold each{}",
                recent[recent.len() - 1] as f64 / count as f64,
                if steady {
                    ""
                } else {
                    " (still spreading after 3 min)"
                }
            ));
            return records;
        }
    }
}

/// Provider records of `records` held over all live peers.
async fn replicas(peers: &[Peer], records: &[(Vec<u8>, PeerId)]) -> usize {
    let per_peer = peers.iter().filter(|p| p.alive).map(|peer| async move {
        let mut held = 0;
        for (key, provider) in records {
            let stored = peer.client.stored_providers(key).await.unwrap_or_default();
            held += usize::from(stored.contains(provider));
        }
        held
    });
    futures::future::join_all(per_peer).await.into_iter().sum()
}

/// Bytes sent and received over all live peers so far.
fn traffic(peers: &[Peer]) -> (u64, u64) {
    peers.iter().filter(|p| p.alive).fold((0, 0), |(s, r), p| {
        let t = p.client.traffic();
        (s + t.sent, r + t.received)
    })
}

/// The bytes every live peer sent over one phase of the run.
struct Metered {
    bytes: u64,
    at: Instant,
    secs: f64,
}

impl Metered {
    fn start(peers: &[Peer]) -> Self {
        Self {
            bytes: traffic(peers).0,
            at: Instant::now(),
            secs: 0.0,
        }
    }

    fn stop(self, peers: &[Peer]) -> Self {
        Self {
            bytes: traffic(peers).0 - self.bytes,
            secs: self.at.elapsed().as_secs_f64(),
            ..self
        }
    }

    /// Bytes sent (by all peers; each was received by another) per operation of the phase, with
    /// `quiet` bytes per second of background taken off.
    fn cost(&self, quiet: f64, operations: usize) -> f64 {
        (self.bytes as f64 - quiet * self.secs).max(0.0) / operations.max(1) as f64
    }
}

/// A fresh signed release of a 4 MiB track (its manifest as large as a real one of that size),
/// dated now, by a new key.
fn release(rng: &mut StdRng, title: &str) -> Manifest {
    let key = ArtistKeypair::from_seed(rng.r#gen());
    let mut content = vec![0u8; 4 << 20];
    rng.fill(&mut content[..]);
    test_utils::signed_release(&key, &content, title, release::unix_now())
}

/// Announces and provides one release from a random live peer as the node does, and waits
/// until every other live peer has it (or 30 s). Returns the times to 50 % and 99 % of them
/// (infinite when not reached) and whether all got it.
async fn reach(
    peers: &[Peer],
    arrivals: &Arrivals,
    manifest: &Manifest,
    rng: &mut StdRng,
) -> (f64, f64, usize, usize) {
    let live: Vec<usize> = (0..peers.len()).filter(|&i| peers[i].alive).collect();
    let from = *live.choose(rng).unwrap();
    let others = live.len() - 1;
    let start = Instant::now();
    catalog::announce(&peers[from].client, manifest)
        .await
        .unwrap();
    peers[from]
        .client
        .provide(manifest.id().as_bytes())
        .await
        .unwrap();
    let deadline = start + Duration::from_secs(30);
    let got = loop {
        let got = arrivals
            .lock()
            .unwrap()
            .get(&manifest.id())
            .map_or(0, Vec::len);
        if got >= others || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut times: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .get(&manifest.id())
        .map(|v| {
            v.iter()
                .filter(|(i, _)| peers[*i].alive && *i != from)
                .map(|(_, at)| at.saturating_duration_since(start).as_secs_f64() * 1000.0)
                .collect()
        })
        .unwrap_or_default();
    times.sort_by(f64::total_cmp);
    let at = |share: usize| {
        let need = (others * share).div_ceil(100).max(1);
        times.get(need - 1).copied().unwrap_or(f64::INFINITY)
    };
    (at(50), at(99), got.min(others), others)
}

/// Provider lookups from random live peers for random records; returns the share that found
/// the record's provider and the median time of a lookup.
async fn lookups(
    peers: &[Peer],
    records: &[(Vec<u8>, PeerId)],
    count: usize,
    rng: &mut StdRng,
) -> (f64, f64) {
    let live: Vec<usize> = (0..peers.len()).filter(|&i| peers[i].alive).collect();
    let plan: Vec<(usize, usize)> = (0..count)
        .map(|_| (*live.choose(rng).unwrap(), rng.gen_range(0..records.len())))
        .collect();
    let mut found = 0;
    let mut times = Vec::new();
    // At most 32 lookups in flight, as a busy network might run.
    for batch in plan.chunks(32) {
        let runs = batch.iter().map(|&(asker, record)| async move {
            let (key, provider) = &records[record];
            let start = Instant::now();
            let got = peers[asker].client.providers(key).await.unwrap_or_default();
            (
                got.contains(provider),
                start.elapsed().as_secs_f64() * 1000.0,
            )
        });
        for (ok, ms) in futures::future::join_all(runs).await {
            found += usize::from(ok);
            times.push(ms);
        }
    }
    (found as f64 / count.max(1) as f64, median(times))
}

/// Runs the whole scenario and returns its figures; prints progress as it goes.
pub async fn run(settings: &Settings) -> Report {
    let p = Progress(Instant::now());
    let mut rng = StdRng::seed_from_u64(settings.seed);
    p.say(format!("{settings:?}"));
    let rss_before = rss_bytes();
    let arrivals: Arrivals = Arc::default();
    let mut peers = join(settings, &mut rng, &arrivals, &p).await;
    let n = peers.len();
    let ends = settle(&peers, settings.settle_floor, &p).await;
    let providing = Metered::start(&peers);
    let records = provide(&peers, settings.records, &mut rng, &p).await;
    let providing = providing.stop(&peers);
    let grown = rss_bytes().saturating_sub(rss_before) as f64;
    let rss_per_peer = grown / n as f64;
    p.say(format!(
        "RSS {:.0} MiB ({:.0} MiB before the peers), {:.2} MiB per peer, {:.0} KiB per connection end",
        rss_bytes() as f64 / 1048576.0,
        rss_before as f64 / 1048576.0,
        rss_per_peer / 1048576.0,
        grown / ends.max(1) as f64 / 1024.0
    ));

    let (sent0, received0) = traffic(&peers);
    let cpu0 = cpu_secs();
    tokio::time::sleep(settings.window).await;
    let cpu = cpu_secs() - cpu0;
    let (sent1, received1) = traffic(&peers);
    let minutes = settings.window.as_secs_f64() / 60.0;
    let per_peer_min = |b: u64| b as f64 / n as f64 / minutes;
    let bytes_per_peer_min = per_peer_min(sent1 - sent0 + received1 - received0);
    // Bytes per second of the whole network when nothing happens: what to take off the
    // metered phases to get the cost of their operations alone.
    let quiet = (sent1 - sent0) as f64 / settings.window.as_secs_f64();
    p.say(format!(
        "quiet window: the process used {:.2} CPU cores, {:.0} CPU ms per peer per minute",
        cpu / settings.window.as_secs_f64(),
        cpu * 1000.0 / n as f64 / minutes
    ));
    p.say(format!(
        "providing: {:.0} bytes sent over the network per record put (quiet traffic taken off)",
        providing.cost(quiet, settings.records)
    ));
    p.say(format!(
        "quiet window {:.0} s: {:.0} bytes per peer per minute ({:.0} sent, {:.0} received)",
        settings.window.as_secs_f64(),
        bytes_per_peer_min,
        per_peer_min(sent1 - sent0),
        per_peer_min(received1 - received0)
    ));

    let (mut r50, mut r99) = (Vec::new(), Vec::new());
    let mut reached_all = true;
    for k in 0..settings.releases {
        let manifest = release(&mut rng, &format!("Scale {k}"));
        let size = catalog::encode_announcement(&manifest).len();
        let before = traffic(&peers);
        let (half, most, got, of) = reach(&peers, &arrivals, &manifest, &mut rng).await;
        let after = traffic(&peers);
        let per_peer = (after.0 - before.0 + after.1 - before.1) as f64 / n as f64;
        p.say(format!(
            "release {k} ({size} bytes announced): {got}/{of} peers, 50 % in {half:.0} ms, 99 % in {most:.0} ms; {per_peer:.0} bytes per peer meanwhile ({:.1} announcements' worth)",
            per_peer / size as f64
        ));
        reached_all &= got == of;
        r50.push(half);
        r99.push(most);
    }

    let looking = Metered::start(&peers);
    let (before, before_ms) = lookups(&peers, &records, settings.lookups, &mut rng).await;
    let looking = looking.stop(&peers);
    p.say(format!(
        "looking up: {:.0} bytes sent over the network per lookup (quiet traffic taken off)",
        looking.cost(quiet, settings.lookups)
    ));
    p.say(format!(
        "lookups, all peers alive: {:.1} % found the provider, median {before_ms:.0} ms",
        before * 100.0
    ));
    let dead = (n as f64 * settings.churn).round() as usize;
    for i in rand::seq::index::sample(&mut rng, n, dead) {
        peers[i].client.crash().await;
        peers[i].alive = false;
    }
    let (after, after_ms) = lookups(&peers, &records, settings.lookups, &mut rng).await;
    p.say(format!(
        "lookups, {dead} peers killed: {:.1} % found the provider, median {after_ms:.0} ms",
        after * 100.0
    ));
    let manifest = release(&mut rng, "After the churn");
    let (half, most, got, of) = reach(&peers, &arrivals, &manifest, &mut rng).await;
    p.say(format!(
        "a release after the churn: {got}/{of} live peers, 50 % in {half:.0} ms, 99 % in {most:.0} ms"
    ));
    reached_all &= got == of;

    let live = peers.iter().filter(|p| p.alive);
    futures::future::join_all(live.map(|peer| peer.client.shutdown())).await;
    Report {
        peers: n,
        reach50_ms: median(r50),
        reach99_ms: median(r99),
        reached_all,
        lookup_success_before: before,
        lookup_success: after,
        bytes_per_peer_min,
        rss_per_peer_mb: rss_per_peer / 1048576.0,
        mean_degree: ends as f64 / n as f64,
    }
}

#[allow(dead_code)]
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run(&Settings::from_env()));
    println!("{}", report.line());
}
