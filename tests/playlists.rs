//! Playlists as a user keeps them, between real `busker node` processes: made, reordered and
//! renamed from the command line, exported to an M3U file another player can open and imported
//! back, shared as a link that a second peer opens and plays, and refused where they must be
//! (another key's playlist, a broken M3U). Forged records: `busker_core::playlist`'s tests.

use serde_json::Value;

use crate::node_cli::{NodeProcess, poll};
use crate::util::Peer;

fn one(peer: &Peer, args: &[&str]) -> Value {
    let (ok, mut out, err) = peer.json(args);
    assert!(ok, "{args:?}: {err}");
    assert_eq!(out.len(), 1, "{args:?}: {out:?}");
    out.remove(0)
}

fn ids(v: &Value) -> Vec<String> {
    v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_playlist_is_kept_exported_imported_and_shared_to_a_peer_that_plays_it() {
    let (a, b) = (Peer::new(), Peer::new());
    let node_a = NodeProcess::start(&a, &[]);
    let first = busker_core::test_utils::write_wav(a.dir.path(), "first.wav", 300_000, 11);
    let second = busker_core::test_utils::write_wav(a.dir.path(), "second.wav", 300_000, 12);
    let t1 = a.publish(first.to_str().unwrap(), &["--title", "First Light"]);
    let t2 = a.publish(second.to_str().unwrap(), &["--title", "Second Wind"]);

    // Made, added to, reordered, trimmed, renamed: by name, by id prefix, by position.
    let made = one(&a, &["playlist", "create", "Road", &t1, &t2[..8]]);
    let list_id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&made), [t1.clone(), t2.clone()]);
    one(&a, &["playlist", "add", "road", &t1]);
    one(&a, &["playlist", "move", &list_id[..8], "2", "1"]);
    let trimmed = one(&a, &["playlist", "remove", "Road", "3"]);
    assert_eq!(ids(&trimmed), [t2.clone(), t1.clone()]);
    let (ok, shown, err) = a.json(&["playlist", "show", "Road"]);
    assert!(ok, "{err}");
    let titles: Vec<&str> = shown.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Second Wind", "First Light"]);

    // Exported: each entry is the published file itself, which any player opens.
    let m3u = a.dir.path().join("road.m3u");
    one(&a, &["playlist", "export", "Road", m3u.to_str().unwrap()]);
    let text = std::fs::read_to_string(&m3u).unwrap();
    let files: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(files.len(), 2, "{text}");
    assert_eq!(
        std::fs::read(files[0]).unwrap(),
        std::fs::read(&second).unwrap()
    );
    let imported = one(
        &a,
        &[
            "playlist",
            "import",
            m3u.to_str().unwrap(),
            "--name",
            "Copy",
        ],
    );
    assert_eq!(ids(&imported), [t2.clone(), t1.clone()]);
    assert_ne!(imported["id"], list_id.as_str());
    let broken = a.dir.path().join("broken.m3u");
    std::fs::write(&broken, [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let out = a.run(&["playlist", "import", broken.to_str().unwrap()]);
    assert!(!out.status.success(), "a binary file was imported");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8 text"));
    let (_, lists, _) = a.json(&["playlist", "list"]);
    assert_eq!(lists.len(), 2, "nothing made of the broken file: {lists:?}");

    // Shared: B, which knows only A's address, opens the link and plays the first track.
    let link = one(&a, &["share", "Road"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with("busker://playlist/"), "{link}");
    let _node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    let opened = poll("B to open A's playlist", || {
        let (ok, out, _) = b.json(&["open", &link]);
        ok.then(|| out.into_iter().next())?
    });
    assert_eq!(opened["id"], list_id.as_str());
    assert_eq!(opened["own"], false);
    assert_eq!(ids(&opened), [t2.clone(), t1.clone()]);
    assert_eq!(opened["releases"][0]["title"], "Second Wind");
    let played = b.dir.path().join("played.wav");
    let report = one(&b, &["play", &t2, "--out", played.to_str().unwrap()]);
    assert!(report["frames"].as_u64().unwrap() > 0, "{report}");
    let (ok, kept, _) = b.json(&["playlist", "show", &list_id]);
    assert!(ok);
    assert_eq!(kept.len(), 2, "B keeps the opened playlist");

    // Only A can change it; A's edit reaches B through the DHT.
    let out = b.run(&["playlist", "add", &list_id, &t1]);
    assert!(!out.status.success(), "B changed A's playlist");
    assert!(String::from_utf8_lossy(&out.stderr).contains("only its owner can change it"));
    one(&a, &["playlist", "rename", "Road", "Road trip"]);
    poll("B to see A's new name", || {
        let (ok, out, _) = b.json(&["open", &link]);
        (ok && out[0]["name"] == "Road trip").then_some(())
    });
}
