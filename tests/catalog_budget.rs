//! The bounded catalog between `busker node` processes: a peer with a tiny catalog budget hears
//! of more releases than fit, keeps the ones it rated and played, evicts others, still plays an
//! evicted track by id through its peer, and finds an evicted title by asking its peer.

use serde_json::Value;

use crate::node_cli::{NodeProcess, poll};
use crate::util::Peer;

/// Distinct one-word titles: no two within a typo of each other.
const FLOOD: [&str; 20] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
];
/// The budget of the small peer, in KiB: room for about seven small manifests.
const BUDGET_KIB: u64 = 4;

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_small_catalog_keeps_what_it_uses_evicts_the_rest_and_finds_it_again_through_peers() {
    let a = Peer::new();
    let b = Peer::new();
    // Every release here is published today: with no recent window, only use protects them.
    std::fs::write(
        b.dir.path().join("config.toml"),
        format!("catalog_budget_kib = {BUDGET_KIB}\ncatalog_recent_days = 0\n"),
    )
    .unwrap();
    let node_a = NodeProcess::start(&a, &[]);
    let first = a.dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    for (n, name) in ["rated", "played", "plain"].iter().enumerate() {
        let file = format!("{name}.wav");
        busker_core::test_utils::write_wav(&first, &file, 40_000, n as u32);
    }
    let (ok, published, err) = a.json(&["publish", first.to_str().unwrap()]);
    assert!(ok, "publish: {err}");
    let by_title = |list: &[Value], title: &str| -> String {
        let t = list.iter().find(|t| t["title"] == title).expect(title);
        t["id"].as_str().unwrap().to_owned()
    };
    let (rated, played) = (
        by_title(&published, "rated"),
        by_title(&published, "played"),
    );

    let node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    poll("B to hear of the first three", || {
        let (ok, list, _) = b.json(&["list"]);
        (ok && list.len() == 3).then_some(())
    });
    let (ok, _, err) = b.json(&["rate", &rated, "4"]);
    assert!(ok, "rate: {err}");
    let wav = b.dir.path().join("played.wav");
    let (ok, _, err) = b.json(&["play", &played, "--out", wav.to_str().unwrap()]);
    assert!(ok, "play: {err}");

    // More releases than B's budget holds.
    let flood = a.dir.path().join("flood");
    std::fs::create_dir(&flood).unwrap();
    for (n, name) in FLOOD.iter().enumerate() {
        let file = format!("{name}.wav");
        busker_core::test_utils::write_wav(&flood, &file, 40_000, 100 + n as u32);
    }
    let (ok, flooded, err) = a.json(&["publish", flood.to_str().unwrap()]);
    assert!(ok, "publish the flood: {err}");
    assert_eq!(flooded.len(), FLOOD.len());

    // B heard of every release (each is listed or was evicted) and keeps within its budget.
    let all = 3 + FLOOD.len() as u64;
    let status = poll("B to hear of everything within its budget", || {
        let (ok, status, _) = b.json(&["status"]);
        let s = status.into_iter().next().filter(|_| ok)?;
        let heard = s["catalog_tracks"].as_u64()? + s["evicted"].as_u64()?;
        let within = s["catalog_bytes"].as_u64()? <= BUDGET_KIB * 1024;
        (heard == all && within).then_some(s)
    });
    assert_eq!(status["catalog_budget_bytes"], BUDGET_KIB * 1024);
    assert!(status["evicted"].as_u64().unwrap() > 0, "{status}");
    let (_, kept, _) = b.json(&["list"]);
    let kept = ids(&kept);
    assert!(kept.contains(&rated), "the rated release stays");
    assert!(kept.contains(&played), "the played release stays");
    let evicted: Vec<&Value> = flooded
        .iter()
        .filter(|t| !kept.contains(&t["id"].as_str().unwrap().to_owned()))
        .collect();
    assert!(evicted.len() >= 2, "{} kept of {all}", kept.len());

    // An evicted release plays by id: its manifest comes from the peer, verified.
    let gone = evicted[0]["id"].as_str().unwrap();
    let out = b.dir.path().join("gone.wav");
    let (ok, report, err) = b.json(&["play", gone, "--out", out.to_str().unwrap()]);
    assert!(ok, "play an evicted release: {err}");
    assert!(report[0]["frames"].as_u64().unwrap() > 0);

    // An evicted title is found by asking the peer, and said to come from there.
    let title = evicted[1]["title"].as_str().unwrap();
    let wanted = evicted[1]["id"].as_str().unwrap();
    let (ok, hits, err) = b.json(&["search", title]);
    assert!(ok, "search: {err}");
    let hit = hits
        .iter()
        .find(|h| h["id"] == wanted)
        .unwrap_or_else(|| panic!("{title} found through the peer: {hits:?}"));
    assert_eq!(hit["remote"], true, "{hit}");
    assert_eq!(hit["title"], title);
    // A title B holds is found here, not marked remote.
    let (_, hits, _) = b.json(&["search", "rated"]);
    assert!(
        hits.iter()
            .any(|h| h["id"] == rated.as_str() && h["remote"] == false)
    );

    assert!(node_b.terminate().success());
    assert!(node_a.terminate().success());
}
