//! Reaching a peer through a third one: circuit relay, the direct upgrade (DCUtR), and a
//! topology built from network namespaces where two peers really cannot reach each other.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use busker_core::NodeOptions;
use busker_core::net::{Multiaddr, PeerId, is_relayed, peer_id_of};
use busker_core::test_utils::wait_for;
use libp2p::multiaddr::Protocol;
use serde_json::Value;

use crate::node_cli::NodeProcess;
use crate::util::{NetPeer, Peer, STEP, busker_bin};

/// Options of a peer that listens on no address of its own: the only way to reach it is a
/// relay circuit it reserves.
fn unreachable_options(hole_punching: bool) -> NodeOptions {
    let mut options = NodeOptions::loopback();
    options.network.listen = Vec::new();
    options.network.relay.hole_punching = hole_punching;
    options
}

/// Waits until `peer` listens through `relay`; returns that circuit address.
async fn circuit_through(peer: &NetPeer, relay: PeerId) -> Multiaddr {
    let node = peer.node.clone();
    wait_for(STEP, "a listen address through the relay", || {
        let node = node.clone();
        async move {
            node.listen_addrs()
                .await
                .ok()?
                .into_iter()
                .find(|a| is_relayed(a) && a.iter().any(|p| p == Protocol::P2p(relay)))
        }
    })
    .await
}

/// The address `peer`'s connection to `other` is listed with (a direct one when there is one).
async fn link_to(peer: &NetPeer, other: PeerId) -> Option<Multiaddr> {
    let peers = peer.node.peers().await.ok()?;
    peers.into_iter().find(|(p, _)| *p == other).map(|(_, a)| a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_with_no_address_of_its_own_serves_a_track_through_a_relay() {
    let relay = NetPeer::start().await;
    let a = NetPeer::start().await;
    // No hole punching for C: the bytes can only come through the relay.
    let c = NetPeer::start_with(unreachable_options(false)).await;
    assert!(
        c.node.listen_addrs().await.unwrap().is_empty(),
        "C listens on nothing of its own"
    );
    let relay_id = relay.node.peer_id();
    let c_id = c.node.peer_id();

    let (id, content) = c.publish_wav("Behind The Relay", 700_000, 71).await;
    c.node.connect(relay.addr().await).await.unwrap();
    let circuit = circuit_through(&c, relay_id).await;
    assert_eq!(peer_id_of(&circuit), Some(c_id));
    let own = c.node.listen_addrs().await.unwrap();
    assert!(
        own.iter().all(is_relayed),
        "every address C has goes through the relay: {own:?}"
    );
    // The relay learns the track from C's catalog; A learns it from the relay's.
    relay.wait_to_know(id).await;
    a.connect_to(&relay).await;
    a.wait_to_find("behind the relay", id).await;

    let out = a.dir.path().join("fetched.wav");
    let report = tokio::time::timeout(Duration::from_secs(60), a.node.fetch_to(id, Some(&out)))
        .await
        .expect("the fetch finishes within 60 s")
        .unwrap();
    assert_eq!(report.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), content, "byte-identical");

    // The connection A has to C is a circuit through the relay, and no direct one exists.
    let link = link_to(&a, c_id).await.expect("A is connected to C");
    assert!(is_relayed(&link), "A reaches C through a relay: {link}");
    assert!(
        link.iter().any(|p| p == Protocol::P2p(relay_id)),
        "the circuit goes through the relay: {link}"
    );
    let back = link_to(&c, a.node.peer_id()).await.expect("C sees A");
    assert!(is_relayed(&back), "C sees A through the relay: {back}");

    for p in [a, c, relay] {
        p.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relayed_connection_is_upgraded_to_a_direct_one_by_hole_punching() {
    let relay = NetPeer::start().await;
    let a = NetPeer::start().await;
    let c = NetPeer::start_with(unreachable_options(true)).await;
    let c_id = c.node.peer_id();
    a.connect_to(&relay).await;
    c.node.connect(relay.addr().await).await.unwrap();
    let circuit = circuit_through(&c, relay.node.peer_id()).await;

    // A can only reach C through the relay ...
    assert_eq!(a.node.connect(circuit).await.unwrap(), c_id);
    // ... and then C, which can reach A, dials it directly (DCUtR); the circuit is closed.
    let node = a.node.clone();
    let direct = wait_for(STEP, "a direct connection from C to A", || {
        let node = node.clone();
        async move {
            let peers = node.peers().await.ok()?;
            let (_, addr) = peers.into_iter().find(|(p, _)| *p == c_id)?;
            (!is_relayed(&addr)).then_some(addr)
        }
    })
    .await;
    assert!(busker_core::net::is_loopback(&direct), "{direct}");

    // The upgraded connection carries a transfer.
    let (id, content) = a.publish_wav("Punched Through", 300_000, 72).await;
    let out = c.dir.path().join("fetched.wav");
    let report = tokio::time::timeout(Duration::from_secs(60), c.node.fetch_to(id, Some(&out)))
        .await
        .expect("the fetch finishes within 60 s")
        .unwrap();
    assert_eq!(report.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), content);

    for p in [a, c, relay] {
        p.node.shutdown().await;
    }
}

// Network namespaces: A and C each joined to B by a veth pair, no route between them.

/// Waits (polling, with a deadline) for `f` to return `Some`.
fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `ip` program, where it is installed.
fn ip_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("ip"))
        .find(|p| p.is_file())
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why namespaces cannot be built here, if they cannot.
fn namespaces_unavailable() -> Option<String> {
    let Some(ip) = ip_program() else {
        return Some("the `ip` program (iproute2) is not installed".into());
    };
    if !runs("nsenter", &["--version"]) {
        return Some("`nsenter` (util-linux) is not installed".into());
    }
    if !runs("unshare", &["--user", "--map-root-user", "--net", "true"]) {
        return Some(
            "`unshare --user --map-root-user --net` is not permitted (user namespaces off?)".into(),
        );
    }
    // A veth pair inside a throw-away namespace (the veth module may be missing, and a user
    // namespace cannot load it).
    let ip = ip.to_string_lossy();
    let probe = [
        "--user",
        "--map-root-user",
        "--net",
        &ip,
        "link",
        "add",
        "probe0",
        "type",
        "veth",
        "peer",
        "name",
        "probe1",
    ];
    if !runs("unshare", &probe) {
        return Some("cannot create a veth pair inside a user namespace".into());
    }
    None
}

fn net_ns_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
}

/// A network namespace, kept alive by a `cat` that waits on its stdin (it ends with the test
/// process even if the test is killed).
struct Netns {
    holder: Child,
}

impl Netns {
    /// A user namespace (where this process's user is root) with a network namespace.
    fn root() -> Self {
        let holder = Command::new("unshare")
            .args(["--user", "--map-root-user", "--net", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        Self::entered(holder, &[])
    }

    /// Another network namespace owned by `parent`'s user namespace, so that `parent`'s root
    /// may move links into it.
    fn child(parent: &Netns) -> Self {
        let holder = Command::new("nsenter")
            .args([
                "-t",
                &parent.pid().to_string(),
                "-U",
                "--preserve-credentials",
            ])
            .args(["--", "unshare", "--net", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn nsenter");
        Self::entered(holder, &[parent])
    }

    /// Waits until the holder is in a network namespace of its own, and its user namespace
    /// maps this user to root. `unshare` creates the namespaces before it writes the map: a
    /// process that joined in between would be nobody there, without capabilities.
    fn entered(mut holder: Child, others: &[&Netns]) -> Self {
        let ours = net_ns_of(std::process::id());
        let theirs: Vec<_> = others.iter().map(|o| net_ns_of(o.pid())).collect();
        let pid = holder.id();
        poll("a new network namespace", Duration::from_secs(10), || {
            if let Ok(Some(status)) = holder.try_wait() {
                panic!("the namespace holder exited: {status}");
            }
            let now = net_ns_of(pid)?;
            let mapped = ["uid_map", "gid_map"].iter().all(|map| {
                std::fs::read_to_string(format!("/proc/{pid}/{map}"))
                    .is_ok_and(|m| m.split_whitespace().next() == Some("0"))
            });
            (mapped && Some(&now) != ours.as_ref() && !theirs.contains(&Some(now.clone())))
                .then_some(())
        });
        Self { holder }
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` run inside this namespace (and its user namespace).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.pid().to_string(),
            "-U",
            "-n",
            "--preserve-credentials",
        ])
        .arg("--")
        .arg(program);
        cmd
    }

    fn run(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .expect("run a command in a namespace")
    }

    /// Runs `ip ARGS` here; panics with its error output when it fails.
    fn ip(&self, args: &[&str]) {
        let ip = ip_program().expect("ip is installed");
        let out = self.run(&ip, args);
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until link `dev` is up with its carrier (both ends of a veth are up).
    fn wait_link_up(&self, dev: &str) {
        let ip = ip_program().expect("ip is installed");
        poll(&format!("link {dev} up"), Duration::from_secs(10), || {
            let out = self.run(&ip, &["-o", "link", "show", "dev", dev]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (text.contains("LOWER_UP") && !text.contains("NO-CARRIER")).then_some(())
        });
    }

    /// `busker --json --data-dir DIR ARGS` inside this namespace.
    fn busker(&self, peer: &Peer, args: &[&str]) -> (bool, Vec<Value>, String) {
        let out = self
            .command(busker_bin())
            .arg("--data-dir")
            .arg(peer.dir.path())
            .arg("--json")
            .args(args)
            .env_remove("BUSKER_DATA_DIR")
            .output()
            .expect("run busker in a namespace");
        let values = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (
            out.status.success(),
            values,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A `busker node` running inside a namespace; killed on drop.
fn ns_node(ns: &Netns, peer: &Peer, args: &[&str]) -> NodeProcess {
    NodeProcess::spawn(ns.command(busker_bin()), peer, args)
}

/// `busker connect ADDR` inside `ns`, retried until it succeeds.
fn connect(ns: &Netns, peer: &Peer, addr: &str) {
    poll(
        &format!("a connection to {addr}"),
        Duration::from_secs(30),
        || ns.busker(peer, &["connect", addr]).0.then_some(()),
    );
}

/// The peer's listen addresses as `busker status` reports them.
fn listen_addrs(ns: &Netns, peer: &Peer) -> Vec<String> {
    let (ok, values, err) = ns.busker(peer, &["status"]);
    assert!(ok, "status: {err}");
    values[0]["listen"]
        .as_array()
        .expect("listen list")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn peers_that_cannot_reach_each_other_exchange_a_track_through_a_relay() {
    if let Some(reason) = namespaces_unavailable() {
        crate::util::cannot_run(&format!(
            "{reason}; the network-namespace relay scenario did not run"
        ));
        return;
    }
    // B's namespace in the middle, A's and C's each joined to it by a veth pair. A and C have
    // no route to each other (and B does not forward), so only B reaches both.
    let b_ns = Netns::root();
    let a_ns = Netns::child(&b_ns);
    let c_ns = Netns::child(&b_ns);
    for ns in [&a_ns, &b_ns, &c_ns] {
        ns.ip(&["link", "set", "lo", "up"]);
    }
    for (ns, dev, subnet) in [(&a_ns, "to-a", "10.0.1"), (&c_ns, "to-c", "10.0.2")] {
        let pid = ns.pid().to_string();
        b_ns.ip(&[
            "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ]);
        b_ns.ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", dev]);
        b_ns.ip(&["link", "set", dev, "up"]);
        ns.ip(&["addr", "add", &format!("{subnet}.2/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        b_ns.wait_link_up(dev);
        ns.wait_link_up("eth0");
    }
    // Forwarding off in B (a new namespace may inherit it on): B is a relay, not a router.
    let _ = b_ns.run("sh", &["-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"]);

    let (a, b, c) = (Peer::new(), Peer::new(), Peer::new());
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "song.wav", 900_000, 73);
    let original = std::fs::read(&wav).unwrap();
    let (ok, published, err) = a.json(&[
        "--no-demo",
        "publish",
        wav.to_str().unwrap(),
        "--title",
        "Over The Wall",
    ]);
    assert!(ok, "publish: {err}");
    let id = published[0]["id"].as_str().unwrap().to_owned();

    let b_node = ns_node(
        &b_ns,
        &b,
        &[
            "--listen",
            "/ip4/10.0.1.1/tcp/4001",
            "--listen",
            "/ip4/10.0.2.1/tcp/4001",
            "--external",
            "/ip4/10.0.1.1/tcp/4001",
            "--external",
            "/ip4/10.0.2.1/tcp/4001",
        ],
    );
    let a_node = ns_node(&a_ns, &a, &["--listen", "/ip4/10.0.1.2/tcp/0"]);
    connect(
        &a_ns,
        &a,
        &format!("/ip4/10.0.1.1/tcp/4001/p2p/{}", b_node.peer_id()),
    );
    // A cannot be reached from C's side: it reserves a slot on B and listens through it.
    let a_circuit = poll("A to listen through B", STEP * 2, || {
        listen_addrs(&a_ns, &a)
            .into_iter()
            .find(|l| l.contains("/p2p-circuit") && l.contains(&b_node.peer_id()))
    });
    let a_direct = listen_addrs(&a_ns, &a)
        .into_iter()
        .find(|l| l.starts_with("/ip4/10.0.1.2/tcp/"))
        .expect("A's direct address");
    // B learns A's track from A's catalog.
    poll("B to learn A's track", STEP * 2, || {
        let (_, tracks, _) = b_ns.busker(&b, &["list"]);
        tracks.iter().any(|t| t["id"] == id.as_str()).then_some(())
    });

    let _c_node = ns_node(&c_ns, &c, &["--listen", "/ip4/10.0.2.2/tcp/0"]);
    connect(
        &c_ns,
        &c,
        &format!("/ip4/10.0.2.1/tcp/4001/p2p/{}", b_node.peer_id()),
    );
    // C finds the track (from B's catalog) ...
    poll("C to find A's track", STEP * 2, || {
        let (_, hits, _) = c_ns.busker(&c, &["search", "over the wall"]);
        hits.iter().any(|t| t["id"] == id.as_str()).then_some(())
    });
    // ... but cannot dial A directly: there is no route.
    let (ok, _, err) = c_ns.busker(&c, &["connect", &a_direct]);
    assert!(!ok, "C must not reach A at {a_direct} directly");
    println!(
        "direct dial from C to A failed as it should: {}",
        err.trim()
    );

    // The fetch goes through B, byte for byte.
    let out = c.dir.path().join("fetched.wav");
    let (ok, report, err) = c_ns.busker(&c, &["fetch", &id, "--out", out.to_str().unwrap()]);
    assert!(ok, "fetch: {err}");
    assert_eq!(report[0]["bytes"], original.len());
    assert_eq!(std::fs::read(&out).unwrap(), original, "byte-identical");

    let (ok, peers, err) = c_ns.busker(&c, &["peers"]);
    assert!(ok, "peers: {err}");
    let to_a = peers
        .iter()
        .find(|p| p["peer_id"] == a_node.peer_id().as_str())
        .unwrap_or_else(|| panic!("C is connected to A: {peers:?}"));
    let addr = to_a["addr"].as_str().unwrap();
    assert!(
        addr.contains("/p2p-circuit") && addr.contains(&b_node.peer_id()),
        "C's connection to A goes through B: {addr} (A listens at {a_circuit})"
    );
    // Still no direct way, even now that they are connected through B.
    let (ok, _, _) = c_ns.busker(&c, &["connect", &a_direct]);
    assert!(!ok, "C must not reach A at {a_direct} directly");
}
