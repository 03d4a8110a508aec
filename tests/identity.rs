//! Identity: a release is one artist key's release of one audio file. A peer that re-signs an
//! artist's file makes a second release beside the first, marked as a copy, never a takeover;
//! and a data dir from before this rule upgrades without losing a track.

use serde_json::Value;

use crate::node_cli::{NodeProcess, poll};
use crate::util::{Peer, audio};

/// The `search --json` hits on `peer` for `query`, empty while the node cannot answer.
fn search(peer: &Peer, query: &str) -> Vec<Value> {
    let (ok, hits, _) = peer.json(&["search", query]);
    if ok { hits } else { Vec::new() }
}

#[test]
fn a_peer_that_re_signs_an_artists_audio_cannot_take_the_release_over() {
    let (ada, mallory, bob) = (Peer::new(), Peer::new(), Peer::new());
    let song = audio("sonicpi_ambi_piano.flac");
    let node_ada = NodeProcess::start(&ada, &[]);
    let as_ada = ["--artist", "Ada", "--title", "Machine Wars"];
    let ada_id = ada.publish(&song, &as_ada);
    let node_mallory = NodeProcess::start(&mallory, &["--peer", &node_ada.listen()]);
    let node_bob = NodeProcess::start(&bob, &["--peer", &node_ada.listen()]);
    for peer in [&mallory, &bob] {
        poll("Ada's release to reach every peer", || {
            search(peer, "machine wars")
                .into_iter()
                .find(|h| h["id"] == ada_id.as_str())
        });
    }

    // Mallory signs the very same file as "Machine Wars" by "Ada": same bytes, same names.
    let copy_id = mallory.publish(&song, &as_ada);
    assert_ne!(copy_id, ada_id, "another key's release has another id");

    let ada_key = ada.json(&["artist"]).1[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, peer) in [("Ada", &ada), ("Mallory", &mallory), ("Bob", &bob)] {
        // Wait until this peer knows both releases: the copy has arrived, and had its chance.
        let hits = poll("both releases to reach every peer", || {
            let hits = search(peer, "machine wars");
            (hits.len() == 2).then_some(hits)
        });
        let (original, copy) = (&hits[0], &hits[1]);
        assert_eq!(
            original["id"],
            ada_id.as_str(),
            "{name}: Ada's release first"
        );
        assert_eq!(original["artist_key"], ada_key.as_str(), "{name}");
        assert_eq!(original["title"], "Machine Wars", "{name}");
        assert!(
            original.get("same_audio_as").is_none(),
            "{name}: {original}"
        );
        assert_eq!(copy["id"], copy_id.as_str(), "{name}");
        assert_ne!(copy["artist_key"], ada_key.as_str(), "{name}");
        assert_eq!(copy["same_audio_as"], ada_id.as_str(), "{name}: {copy}");
        assert_eq!(copy["original_artist"], "Ada", "{name}");
        assert_eq!(copy["original_artist_key"], ada_key.as_str(), "{name}");
        // The same in the readable output.
        let out = peer.run(&["search", "machine wars"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with(&ada_id[..12]), "{name}: {text}");
        let note = format!(
            "same audio as 'Machine Wars' by Ada (key {})",
            &ada_key[..8]
        );
        assert!(lines[1].contains(&note), "{name}: {text}");
    }
    // Ada's own node still holds its release as published.
    let (_, listed, _) = ada.json(&["list"]);
    let mine = listed.iter().find(|t| t["id"] == ada_id.as_str()).unwrap();
    assert_eq!(mine["local"], true);
    assert_eq!(mine["title"], "Machine Wars");

    // Bob downloads Ada's release: it plays as hers.
    let (ok, fetched, err) = bob.json(&["fetch", &ada_id]);
    assert!(ok, "{err}");
    assert_eq!(fetched[0]["id"], ada_id.as_str());
    for node in [node_bob, node_mallory, node_ada] {
        assert!(node.terminate().success());
    }
}

#[test]
fn a_data_dir_from_before_the_identity_change_upgrades_without_losing_a_track() {
    // Bo's data dir holds Bo's own "Morning" and Ada's "Machine Wars", fetched, rated and played
    // with the build before the change (tests/fixtures/datadir-v1/README.md).
    let (ada, bo) = (Peer::new(), Peer::new());
    busker_core::test_utils::copy_fixture_dir("datadir-v1/ada", ada.dir.path());
    busker_core::test_utils::copy_fixture_dir("datadir-v1/bo", bo.dir.path());
    const OLD_MORNING: &str = "e31da4f206c25b63bbb43d76c7016a3bab546549a0ae827bce9595083590d810";
    const OLD_MACHINE_WARS: &str =
        "ae1b516a1e5a48f44e41a1c5d2da77816a424c26665945000de7de587f54e2fc";

    // The first open upgrades: Bo's own track under its new id, still here.
    let (ok, listed, err) = bo.json(&["list"]);
    assert!(ok, "{err}");
    assert_eq!(listed.len(), 1, "Ada's release waits for Ada: {listed:?}");
    assert_eq!(listed[0]["title"], "Morning");
    assert_eq!(listed[0]["local"], true);
    assert_ne!(listed[0]["id"], OLD_MORNING);
    // The old id still names it.
    let wav = bo.dir.path().join("morning.wav");
    let out = bo.run(&["play", &OLD_MORNING[..8], "--out", wav.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&wav).unwrap().len() > 44);

    // When Ada's upgraded node is reachable, her release comes back on Bo's peer: held here
    // from before (no fetch), under its new id.
    let node_ada = NodeProcess::start(&ada, &[]);
    let (_, ada_list, _) = ada.json(&["list"]);
    let machine_wars = ada_list[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(machine_wars, OLD_MACHINE_WARS);
    let node_bo = NodeProcess::start(&bo, &["--peer", &node_ada.listen()]);
    let held = poll("Ada's release to come back on Bo's peer", || {
        let (_, listed, _) = bo.json(&["list"]);
        listed
            .into_iter()
            .find(|t| t["id"] == machine_wars.as_str())
    });
    assert_eq!(held["title"], "Machine Wars");
    assert_eq!(held["local"], true, "kept from before the upgrade: {held}");
    drop(node_ada);
    let (ok, _, err) = bo.json(&["play", &machine_wars, "--out", wav.to_str().unwrap()]);
    assert!(ok, "plays with Ada's node gone: {err}");
    assert!(node_bo.terminate().success());
}

#[test]
fn a_retired_artist_key_names_its_successor_to_every_peer() {
    let (studio, fresh, listener) = (Peer::new(), Peer::new(), Peer::new());
    studio.publish(
        &audio("sonicpi_ambi_piano.flac"),
        &["--no-demo", "--artist", "Ada"],
    );
    let old_key = studio.json(&["artist"]).1[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ada moves to a new key (say the old one leaked): a key made elsewhere, imported here.
    let backup = fresh.dir.path().join("new-key.txt");
    let (ok, out, err) = fresh.json(&["--no-demo", "key", "export", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    let new_key = out[0]["artist_key"].as_str().unwrap().to_owned();
    let (ok, out, err) = studio.json(&["key", "import", backup.to_str().unwrap(), "--replace"]);
    assert!(ok, "{err}");
    assert_eq!(out[0]["replaced"], old_key.as_str());

    // Her node puts the old key's last profile into the DHT; any peer that looks the old key
    // up learns where she went.
    let node_studio = NodeProcess::start(&studio, &[]);
    let node_listener = NodeProcess::start(&listener, &["--peer", &node_studio.listen()]);
    let found = poll("the old key's last profile", || {
        let (ok, found, _) = listener.json(&["artist", &old_key]);
        ok.then(|| found.into_iter().next())?
            .filter(|f| f["successor"] == new_key.as_str())
    });
    assert_eq!(found["name"], "Ada");
    assert_eq!(found["releases"].as_array().unwrap().len(), 1);
    let text = listener.run(&["artist", &old_key]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("the artist moved to {new_key}")),
        "{text}"
    );
    for node in [node_listener, node_studio] {
        assert!(node.terminate().success());
    }
}
