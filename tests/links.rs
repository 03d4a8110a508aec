//! Links between real `busker node` processes: an invite link is all a newcomer needs to join,
//! a track link opens and plays where the track was never announced, an artist link leads to
//! the artist's releases, the desktop's link handler runs what `install-desktop` wrote, and
//! links that are broken, forged or lead nowhere are refused with one line and change nothing.

use std::process::Command;

use busker_core::link::{Link, TrackLink};
use busker_core::model::TrackId;
use serde_json::Value;

use crate::node_cli::{NodeProcess, poll};
use crate::util::{Peer, busker_bin};

fn peer_ids(peer: &Peer) -> Vec<String> {
    let (ok, peers, err) = peer.json(&["peers"]);
    assert!(ok, "peers: {err}");
    peers
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_owned())
        .collect()
}

fn one(peer: &Peer, args: &[&str]) -> Value {
    let (ok, mut out, err) = peer.json(args);
    assert!(ok, "{args:?}: {err}");
    assert_eq!(out.len(), 1, "{args:?}: {out:?}");
    out.remove(0)
}

/// Runs `args`, which must fail with exactly one line on stderr containing `expected`.
fn refused(peer: &Peer, args: &[&str], expected: &str) {
    let out = peer.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was accepted");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

#[test]
fn an_invite_link_alone_joins_a_peer_and_a_track_link_plays_where_it_was_never_announced() {
    let (a, b, c, d) = (Peer::new(), Peer::new(), Peer::new(), Peer::new());
    let node_a = NodeProcess::start(&a, &[]);
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "song.wav", 600_000, 7);
    let original = std::fs::read(&wav).unwrap();
    let id = a.publish(
        wav.to_str().unwrap(),
        &["--title", "Linked Song", "--artist", "Linker"],
    );

    // A newcomer with nothing but the link.
    let invite = one(&a, &["invite"])["link"].as_str().unwrap().to_owned();
    assert!(invite.starts_with("busker://join/"), "{invite}");
    let node_b = NodeProcess::start(&b, &[]);
    assert!(peer_ids(&b).is_empty(), "premise: B knows no peer");
    let joined = one(&b, &["join", &invite]);
    assert_eq!(joined["peer_id"], node_a.peer_id().as_str());
    poll("B to hear of A's track", || {
        let (_, list, _) = b.json(&["list"]);
        list.iter().any(|t| t["id"] == id.as_str()).then_some(())
    });
    let copy = b.dir.path().join("copy.wav");
    let fetched = one(&b, &["fetch", &id, "--out", copy.to_str().unwrap()]);
    assert_eq!(fetched["bytes"], original.len() as u64);
    assert_eq!(std::fs::read(&copy).unwrap(), original);

    // B keeps A: started again with no --peer, it dials A by itself.
    assert!(node_b.terminate().success());
    let node_b = NodeProcess::start(&b, &[]);
    poll("B to dial A again after a restart", || {
        peer_ids(&b).contains(&node_a.peer_id()).then_some(())
    });

    // A track link made on A opens on C, which knows only B, and plays.
    let link = one(&a, &["share", &id])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with("busker://track/"), "{link}");
    let _node_c = NodeProcess::start(&c, &["--peer", &node_b.listen()]);
    let opened = one(&c, &["open", &link]);
    assert_eq!(opened["id"], id.as_str());
    assert_eq!(opened["title"], "Linked Song");
    assert_eq!(opened["local"], false);
    let wav_out = c.dir.path().join("played.wav");
    let played = one(
        &c,
        &[
            "play",
            &id,
            "--out",
            wav_out.to_str().unwrap(),
            "--seconds",
            "1",
        ],
    );
    assert!(played["frames"].as_u64().unwrap() > 0, "{played}");

    // D knows nobody at all: the link's hints are its only way to the track.
    let _node_d = NodeProcess::start(&d, &[]);
    assert!(peer_ids(&d).is_empty(), "premise: D knows no peer");
    let (_, before, _) = d.json(&["list"]);
    assert!(before.iter().all(|t| t["id"] != id.as_str()), "premise");
    let opened = one(&d, &["open", &link]);
    assert_eq!(opened["id"], id.as_str());
    let copy = d.dir.path().join("copy.wav");
    one(&d, &["fetch", &id, "--out", copy.to_str().unwrap()]);
    assert_eq!(std::fs::read(&copy).unwrap(), original);
}

#[test]
fn an_artist_link_leads_to_the_artists_releases_and_follow_is_kept() {
    let (a, b) = (Peer::new(), Peer::new());
    let node_a = NodeProcess::start(&a, &[]);
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "one.wav", 300_000, 3);
    let id = a.publish(
        wav.to_str().unwrap(),
        &["--title", "Only One", "--artist", "Keyed"],
    );
    let key = one(&a, &["artist"])["key"].as_str().unwrap().to_owned();
    let link = one(&a, &["share", &key])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(link, format!("busker://artist/{key}"));

    let _node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    let artist = poll("B to find the artist's profile", || {
        let (ok, out, _) = b.json(&["open", &link]);
        ok.then(|| out.into_iter().next())?
    });
    assert_eq!(artist["artist_key"], key.as_str());
    assert_eq!(artist["name"], "Keyed");
    assert_eq!(artist["releases"][0]["id"], id.as_str());
    assert_eq!(artist["following"], false);

    let followed = one(&b, &["follow", &key]);
    assert_eq!(followed["artist_key"], key.as_str());
    assert_eq!(followed["following"], true);
    assert_eq!(one(&b, &["open", &link])["following"], true);
    assert_eq!(one(&b, &["unfollow", &key])["following"], false);
    assert_eq!(one(&b, &["open", &link])["following"], false);
}

#[test]
fn malformed_truncated_forged_and_dead_end_links_are_refused_and_change_nothing() {
    let (a, b) = (Peer::new(), Peer::new());
    let node_a = NodeProcess::start(&a, &[]);
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "x.wav", 200_000, 9);
    a.publish(wav.to_str().unwrap(), &[]);
    let invite = one(&a, &["invite"])["link"].as_str().unwrap().to_owned();
    let _node_b = NodeProcess::start(&b, &[]);
    let (_, list_before, _) = b.json(&["list"]);

    refused(&b, &["join", "https://example.org/x"], "not a Busker link");
    refused(
        &b,
        &["join", &invite[..invite.len() - 9]],
        "damaged or cut short",
    );
    refused(&b, &["open", "busker://track/AAAA"], "damaged or cut short");
    refused(
        &b,
        &["open", "busker://radio/abc"],
        "cannot open busker://radio links",
    );
    // The same invite with a later expiry: the signature no longer matches.
    let Ok(Link::Join(mut forged)) = Link::parse(&invite) else {
        panic!("the invite reads");
    };
    forged.expires += 3600;
    refused(
        &b,
        &["join", &Link::Join(forged).to_string()],
        "signature does not match",
    );
    assert!(
        !peer_ids(&b).contains(&node_a.peer_id()),
        "refused, not dialled"
    );
    // Well-formed, with A's addresses as hints, for a release nobody has.
    let Ok(Link::Join(real)) = Link::parse(&invite) else {
        panic!("the invite reads");
    };
    let nowhere_id = TrackId([0x5a; 32]);
    let nowhere = Link::Track(TrackLink {
        id: nowhere_id,
        hints: vec![real.peer.clone()],
    });
    // Nothing the refused links carried was kept.
    let (_, list_after, _) = b.json(&["list"]);
    let ids = |l: &[Value]| l.iter().map(|t| t["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&list_after), ids(&list_before));
    // (Asking the hinted peer connects to it: that is what the link is for.)
    refused(
        &b,
        &["open", &nowhere.to_string()],
        "no peer could describe release",
    );
    let (_, list_after, _) = b.json(&["list"]);
    assert!(
        list_after
            .iter()
            .all(|t| t["id"] != nowhere_id.to_hex().as_str())
    );
    // An invite whose addresses all fail says so (A's link with its port closed: A stopped).
    assert!(node_a.terminate().success());
    refused(&b, &["join", &invite], "could not reach");
}

#[test]
fn the_desktop_handler_that_install_desktop_writes_opens_a_link_in_the_running_node() {
    let (a, home) = (Peer::new(), tempfile::tempdir().unwrap());
    let node_a = NodeProcess::start(&a, &[]);
    let wav = busker_core::test_utils::write_wav(a.dir.path(), "h.wav", 200_000, 5);
    let id = a.publish(wav.to_str().unwrap(), &["--title", "Handled"]);
    let link = one(&a, &["share", &id])["link"]
        .as_str()
        .unwrap()
        .to_owned();

    let data = home.path().join("data");
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("mimeapps.list"),
        "[Default Applications]\ntext/html=web.desktop\n",
    )
    .unwrap();
    let out = Command::new(busker_bin())
        .arg("--data-dir")
        .arg(a.dir.path())
        .args(["--json", "install-desktop"])
        .env("XDG_DATA_HOME", &data)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = std::fs::read_to_string(data.join("applications/busker.desktop")).unwrap();
    assert!(
        entry.contains("MimeType=x-scheme-handler/busker;"),
        "{entry}"
    );
    let mimeapps = std::fs::read_to_string(config.join("mimeapps.list")).unwrap();
    assert!(mimeapps.contains("text/html=web.desktop"), "{mimeapps}");
    assert!(
        mimeapps.contains("x-scheme-handler/busker=busker.desktop"),
        "{mimeapps}"
    );

    // What a browser runs for the link: the Exec line, %u replaced by the link.
    let exec = entry
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let args: Vec<String> = exec
        .split(' ')
        .map(|w| match w {
            "%u" => link.clone(),
            w => w.trim_matches('"').to_owned(),
        })
        .collect();
    assert_eq!(args[0], busker_bin().to_str().unwrap());
    let out = Command::new(&args[0])
        .args(&args[1..])
        .env_remove("BUSKER_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A headless node has no window: it opens the link itself and prints the track.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Handled"), "{stdout}");
    drop(node_a);
}
