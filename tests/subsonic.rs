//! The Subsonic API of a real `busker node`, driven by a real Subsonic client library (py-sonic,
//! from PyPI; `tests/fixtures/subsonic_client.py`), as a phone app would: it logs in with a
//! salted token, lists artists and albums, searches, streams a song and receives exactly the
//! published bytes, gets the album's cover (a `cover.jpg` beside the published files) byte for
//! byte by the `coverArt` id songs and albums carry (an unknown one is error 70), makes a playlist the node then lists, rates
//! and stars a song, browses the folder view older clients use; a wrong password is refused with
//! Subsonic's error 40. A second node streams the song it only heard of from the first.

use std::process::Command;

use serde_json::Value;

use crate::node_cli::NodeProcess;
use crate::util::{Peer, cannot_run};

fn one(peer: &Peer, args: &[&str]) -> Value {
    let (ok, mut out, err) = peer.json(args);
    assert!(ok, "{args:?}: {err}");
    out.remove(0)
}

#[test]
fn a_subsonic_client_library_browses_streams_and_rates_through_a_node() {
    let client = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/subsonic_client.py"
    );
    let have_client = Command::new("python3")
        .args(["-c", "import libsonic"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_client {
        return cannot_run("py-sonic is not installed (python3 -m pip install py-sonic)");
    }
    let a = Peer::new();
    // A port of its own, not the default one other tests' nodes may hold.
    std::fs::write(
        a.dir.path().join("config.toml"),
        "subsonic_listen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let node_a = NodeProcess::start(&a, &[]);
    let cover = busker_core::test_utils::cover_jpeg(300, 300, 11);
    std::fs::write(a.dir.path().join("cover.jpg"), &cover).unwrap();
    let first = busker_core::test_utils::write_wav(a.dir.path(), "first.wav", 400_000, 21);
    let album = ["--artist", "Ada", "--album", "Road Songs"];
    let id = a.publish(
        first.to_str().unwrap(),
        &[&["--title", "First Light"][..], &album].concat(),
    );
    let second = busker_core::test_utils::write_wav(a.dir.path(), "second.wav", 300_000, 22);
    a.publish(
        second.to_str().unwrap(),
        &[&["--title", "Second Wind"][..], &album].concat(),
    );

    let door = one(&a, &["subsonic"]);
    let url = door["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{door}");
    assert_eq!(door["user"], "busker");
    let streamed = a.dir.path().join("streamed.wav");
    let out = Command::new("python3")
        .arg(client)
        .args([url, "busker", door["password"].as_str().unwrap()])
        .arg(&streamed)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(seen["ping"], true);
    assert!(
        seen["artists"].as_array().unwrap().contains(&"Ada".into()),
        "{seen}"
    );
    assert_eq!(seen["albums"], serde_json::json!(["Road Songs"]));
    assert_eq!(
        seen["album_songs"],
        serde_json::json!(["First Light", "Second Wind"])
    );
    assert_eq!(seen["search"][0], "First Light");
    assert_eq!(seen["song_id"], id.as_str());
    assert_eq!(
        std::fs::read(&streamed).unwrap(),
        std::fs::read(&first).unwrap()
    );
    assert_eq!(seen["cover"], "served", "{seen}");
    assert_eq!(seen["cover_type"], "image/jpeg");
    assert_eq!(
        std::fs::read(streamed.with_extension("wav.cover")).unwrap(),
        cover,
        "the cover, byte for byte"
    );
    let cover_id = format!("co-{}", blake3::hash(&cover).to_hex());
    assert_eq!(seen["song_cover"], cover_id.as_str());
    assert_eq!(seen["album_cover"], cover_id.as_str());
    assert_eq!(seen["unknown_cover"], "not found");
    assert_eq!(seen["playlist"], "From the phone");
    assert_eq!(seen["rating"], 4);
    assert_eq!(seen["starred"], true);
    assert_eq!(seen["wrong_password"], "refused");
    assert_eq!(seen["user_streams"], true);
    assert_eq!(seen["folder_albums"], serde_json::json!(["Road Songs"]));
    assert_eq!(seen["starred_songs"], serde_json::json!([id]));

    // The playlist the client made is the node's own, as `busker playlist` lists it.
    let (ok, lists, _) = a.json(&["playlist", "list"]);
    assert!(ok);
    assert!(
        lists
            .iter()
            .any(|l| l["name"] == "From the phone" && l["tracks"][0] == id.as_str())
    );

    // A second node that only heard of the song streams it from the first through its own
    // Subsonic API: a range from the middle first (where a player seeks to), then all of it.
    let b = Peer::new();
    std::fs::write(
        b.dir.path().join("config.toml"),
        "subsonic_listen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let _node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    crate::node_cli::poll("B to hear of the song", || {
        let (_, list, _) = b.json(&["list"]);
        list.iter()
            .any(|t| t["id"] == id.as_str() && t["local"] == false)
            .then_some(())
    });
    let door = one(&b, &["subsonic"]);
    let base = door["url"].as_str().unwrap().trim_start_matches("http://");
    let query = format!(
        "/rest/stream?u=busker&p={}&id={id}",
        door["password"].as_str().unwrap()
    );
    let original = std::fs::read(&first).unwrap();
    let (head, body) = http_get(base, &query, Some("bytes=200000-299999"));
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, original[200_000..300_000]);
    let (head, body) = http_get(base, &query, None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, original, "the whole song, from a peer, verified");
}

/// A plain HTTP/1.1 GET (with a `Range` header when given): the head and the body.
fn http_get(addr: &str, path: &str, range: Option<&str>) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let range = range.map_or_else(String::new, |r| format!("Range: {r}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    (head, all[split + 4..].to_vec())
}
