//! Cover art between peers: a cover embedded in a FLAC file (a PICTURE block) and a `cover.jpg`
//! beside a WAV file are published by one `busker node` and reach another through `fetch`,
//! verified against the signed manifest (the same bytes, under the same hash); an oversized and
//! a broken cover are refused at publish with a message naming the image, and their audio is
//! published without a cover. A peer that serves another image than the signed one is banned and
//! its image kept nowhere.

use std::sync::Arc;

use busker_core::cover::protocol::Source;
use busker_core::model::{ImageHash, MAX_COVER_SIDE};
use busker_core::test_utils::{self, cover_jpeg, cover_png, flac_with_picture, wait_for};

use crate::node_cli::{NodeProcess, poll};
use crate::util::{NetPeer, Peer, STEP, audio};

fn hex(bytes: &[u8]) -> String {
    ImageHash::of(bytes).to_hex()
}

#[test]
fn embedded_and_beside_covers_reach_another_peer_verified_and_bad_ones_are_refused() {
    let a = Peer::new();
    let b = Peer::new();
    let music = tempfile::tempdir().unwrap();
    let folder = |name: &str| {
        let dir = music.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        dir
    };
    // A FLAC with its cover inside, as a tagger writes it (and a decoy folder.jpg beside it:
    // the embedded picture wins).
    let embedded = cover_png(120, 90, 1);
    let flac = std::fs::read(audio("sonicpi_ambi_piano.flac")).unwrap();
    let inside = folder("inside");
    std::fs::write(
        inside.join("piano.flac"),
        flac_with_picture(&flac, &embedded, "image/png"),
    )
    .unwrap();
    std::fs::write(inside.join("folder.jpg"), cover_jpeg(50, 50, 9)).unwrap();
    // A WAV with a cover.jpg beside it.
    let beside = cover_jpeg(300, 300, 2);
    let next_to = folder("beside");
    test_utils::write_wav(&next_to, "song.wav", 300_000, 31);
    std::fs::write(next_to.join("cover.jpg"), &beside).unwrap();
    // Too many pixels, and a JPEG cut in half.
    let huge = folder("huge");
    test_utils::write_wav(&huge, "huge.wav", 200_000, 32);
    std::fs::write(
        huge.join("cover.png"),
        cover_png(u32::from(MAX_COVER_SIDE) + 1, 16, 3),
    )
    .unwrap();
    let broken = folder("broken");
    test_utils::write_wav(&broken, "broken.wav", 200_000, 33);
    let cut = cover_jpeg(200, 200, 4);
    std::fs::write(broken.join("folder.jpg"), &cut[..cut.len() / 2]).unwrap();

    let node_a = NodeProcess::start(&a, &[]);
    let out = a.run(&[
        "--json",
        "publish",
        music.path().to_str().unwrap(),
        "--artist",
        "Ada",
    ]);
    assert!(out.status.success(), "every file published");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let published: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(published.len(), 4, "{published:?}");
    let by_title = |title: &str| {
        published
            .iter()
            .find(|t| t["title"] == title)
            .unwrap_or_else(|| panic!("{title} published: {published:?}"))
            .clone()
    };
    let piano = by_title("piano");
    assert_eq!(piano["cover"]["hash"], hex(&embedded).as_str());
    assert_eq!(piano["cover"]["format"], "image/png");
    assert_eq!(
        (
            piano["cover"]["width"].as_u64(),
            piano["cover"]["height"].as_u64()
        ),
        (Some(120), Some(90))
    );
    let song = by_title("song");
    assert_eq!(song["cover"]["hash"], hex(&beside).as_str());
    assert_eq!(song["cover"]["bytes"], beside.len() as u64);
    // The bad covers: named, with the reason, and the audio published without them.
    for (title, image, reason) in [
        (
            "huge",
            "cover.png",
            "4097 x 16 px, more than 4096 px on a side",
        ),
        ("broken", "folder.jpg", "does not decode"),
    ] {
        let track = by_title(title);
        assert!(track["cover"].is_null(), "{track}");
        let note = track["cover_refused"].as_str().unwrap();
        assert!(
            note.contains(image) && note.contains(reason) && note.contains("without a cover"),
            "{note}"
        );
        assert!(stderr.contains(&format!("warning: {note}")), "{stderr}");
    }

    // B hears of the tracks, fetches the two with covers, and gets both covers, verified.
    let _node_b = NodeProcess::start(&b, &["--peer", &node_a.listen()]);
    for track in [&piano, &song] {
        let id = track["id"].as_str().unwrap();
        poll("B to hear of the track", || {
            let (_, list, _) = b.json(&["list"]);
            list.iter().any(|t| t["id"] == id).then_some(())
        });
        let (_, list, _) = b.json(&["list"]);
        let heard = list.iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(heard["cover"]["local"], false, "not fetched yet: {heard}");
        let (ok, _, err) = b.json(&["fetch", id]);
        assert!(ok, "fetch: {err}");
    }
    let (_, list, _) = b.json(&["list"]);
    for (track, image) in [(&piano, &embedded), (&song, &beside)] {
        let held = list.iter().find(|t| t["id"] == track["id"]).unwrap();
        assert_eq!(held["cover"]["local"], true, "{held}");
        assert_eq!(held["cover"]["hash"], hex(image).as_str());
        let file = b.dir.path().join("covers").join(hex(image));
        assert_eq!(&std::fs::read(file).unwrap(), image, "the same bytes");
    }
}

/// Serves one image whatever hash it is asked for.
struct Lying(Vec<u8>);

impl Source for Lying {
    fn cover(&self, _: &ImageHash) -> Option<Vec<u8>> {
        Some(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_serving_another_image_is_banned_and_its_image_kept_nowhere() {
    let honest = NetPeer::start().await;
    let cover = cover_jpeg(64, 64, 5);
    std::fs::write(honest.dir.path().join("cover.jpg"), &cover).unwrap();
    let (id, _) = honest.publish_wav("Covered", 300_000, 40).await;
    let store = honest.node.library().store().clone();
    let manifest = store.manifest(&id).unwrap().unwrap();
    let hash = manifest.cover().unwrap().hash;

    // A liar that answers every cover request with a valid JPEG of its own.
    let services = test_utils::empty_services().protocol(busker_core::cover::protocol::offer(
        Arc::new(Lying(cover_jpeg(64, 64, 6))),
    ));
    let (liar, _events) = busker_core::net::spawn(
        busker_core::net::Keypair::generate_ed25519(),
        busker_core::net::NetworkConfig::loopback(),
        services,
    )
    .await
    .unwrap();
    let liar_addr = liar.listen_addrs().await.unwrap().remove(0);

    let d = NetPeer::start().await;
    d.connect_to(&honest).await;
    d.node.connect(liar_addr).await.unwrap();
    d.wait_to_know(id).await;
    // The honest peer lost its copy, so the liar is the one that answers.
    let kept = store.cover_path(&hash).unwrap();
    std::fs::remove_file(&kept).unwrap();
    assert!(!d.node.fetch_cover(&manifest).await.unwrap());
    assert!(d.node.library().store().cover(&hash).unwrap().is_none());
    assert!(
        d.node
            .client()
            .banned()
            .await
            .unwrap()
            .contains(&liar.peer_id()),
        "the liar was banned"
    );

    // Once the honest peer holds it again, the cover arrives, the signed one.
    std::fs::write(&kept, &cover).unwrap();
    let node = d.node.clone();
    wait_for(STEP, "the cover from the honest peer", || {
        let (node, manifest) = (node.clone(), manifest.clone());
        async move { node.fetch_cover(&manifest).await.ok()?.then_some(()) }
    })
    .await;
    assert_eq!(d.node.library().store().cover(&hash).unwrap(), Some(cover));
}
