//! The blob store: audio in plain files beside the database. A data dir from the build that kept
//! audio inside sled moves it out on first open, keeps every track, serves it to peers, and
//! finishes the move after a kill -9 in the middle of it; a database damaged on disk is set
//! aside and rebuilt from the files beside it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use busker_core::{Library, LibraryOptions};

use crate::node_cli::{NodeProcess, poll};
use crate::util::{Peer, audio, busker_bin, wav_folder};

const MOVING: &str = "moving audio out of the database into files";

/// How many complete blob files a data dir holds.
fn blob_files(dir: &Path) -> usize {
    let Ok(folders) = std::fs::read_dir(dir.join("blobs")) else {
        return 0;
    };
    folders
        .map(|f| f.unwrap().path())
        .filter(|f| f.is_dir() && !f.ends_with("partial") && !f.ends_with("tmp"))
        .map(|f| std::fs::read_dir(f).unwrap().count())
        .sum()
}

#[test]
fn a_data_dir_from_before_the_blob_store_keeps_every_track_and_serves_it() {
    // Cy's data dir holds Cy's own "Complete" and Dee's "Piano Rain", fetched, rated and played
    // with the build before the blob store (tests/fixtures/datadir-v2/README.md).
    let (cy, eve) = (Peer::new(), Peer::new());
    busker_core::test_utils::copy_fixture_dir("datadir-v2/cy", cy.dir.path());
    assert_eq!(blob_files(cy.dir.path()), 0);

    let (ok, listed, err) = cy.json(&["list"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("{MOVING}: 2/2 tracks")), "{err}");
    let mut ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 2);
    assert!(ids[0].starts_with("d1b29813dc37") && ids[1].starts_with("dc279399f922"));
    assert!(listed.iter().all(|t| t["local"] == true), "{listed:?}");
    assert_eq!(blob_files(cy.dir.path()), 2);
    // Moved once: the next open has nothing to move.
    let (ok, _, err) = cy.json(&["list"]);
    assert!(ok && !err.contains(MOVING), "{err}");

    // The fetched track plays from its file, and another peer fetches it from Cy's node whole.
    let wav = cy.dir.path().join("piano.wav");
    let (ok, _, err) = cy.json(&["play", "dc279399f922", "--out", wav.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(std::fs::metadata(&wav).unwrap().len() > 44);
    let node_cy = NodeProcess::start(&cy, &[]);
    let node_eve = NodeProcess::start(&eve, &["--peer", &node_cy.listen()]);
    poll("Cy's tracks to reach Eve", || {
        let (_, listed, _) = eve.json(&["list"]);
        (listed.len() == 2).then_some(())
    });
    let out = eve.dir.path().join("piano.flac");
    let (ok, _, err) = eve.json(&["fetch", ids[1], "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(out).unwrap(),
        std::fs::read(audio("sonicpi_ambi_piano.flac")).unwrap()
    );
    assert!(node_eve.terminate().success());
    assert!(node_cy.terminate().success());
}

#[test]
fn a_move_killed_mid_way_finishes_on_the_next_open_without_losing_a_track() {
    const TRACKS: usize = 30;
    let peer = Peer::new();
    let folder = wav_folder(TRACKS);
    let (ok, published, err) =
        peer.json(&["--no-demo", "publish", folder.path().to_str().unwrap()]);
    assert!(ok && published.len() == TRACKS, "{err}");
    {
        let library = Library::open(LibraryOptions::new(peer.dir.path()).seed_demo(false))
            .expect("the data dir opens");
        let mut store = library.store().clone();
        store.write_as_schema_2().unwrap();
    }
    assert_eq!(
        blob_files(peer.dir.path()),
        0,
        "the audio is inside the database"
    );

    let mut child = Command::new(busker_bin())
        .arg("--data-dir")
        .arg(peer.dir.path())
        .args(["--json", "list"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(MOVING) {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no progress line");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let moved = blob_files(peer.dir.path());
    assert!(
        (1..TRACKS).contains(&moved),
        "the kill landed mid-move: {moved} of {TRACKS} moved"
    );

    let (ok, listed, err) = peer.json(&["list"]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("{MOVING}: {TRACKS}/{TRACKS} tracks")),
        "{err}"
    );
    assert_eq!(listed.len(), TRACKS);
    assert!(listed.iter().all(|t| t["local"] == true), "{listed:?}");
    assert_eq!(blob_files(peer.dir.path()), TRACKS);

    // Every track is byte for byte the file that was published.
    let originals: HashSet<Vec<u8>> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    let library = Library::open(LibraryOptions::new(peer.dir.path()).seed_demo(false)).unwrap();
    let out = peer.dir.path().join("out.wav");
    for t in library.list().unwrap() {
        let m = library.manifest(&t.id).unwrap();
        library.store().export_audio(&m, &out).unwrap();
        assert!(
            originals.contains(&std::fs::read(&out).unwrap()),
            "{}",
            t.info.title
        );
    }
}

#[test]
fn a_database_damaged_on_disk_is_set_aside_and_rebuilt_with_every_track_and_rating() {
    let peer = Peer::new();
    let first = peer.publish(&audio("sonicpi_ambi_piano.flac"), &["--title", "Rain"]);
    let second = peer.publish(&audio("freedesktop_complete.oga"), &["--title", "Done"]);
    let (ok, _, err) = peer.json(&["rate", &first, "4"]);
    assert!(ok, "{err}");
    // As tried on a real data dir: 16 bytes over sled's small config file.
    let conf = peer.dir.path().join("db/conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes[..16].copy_from_slice(&[0x55; 16]);
    std::fs::write(&conf, bytes).unwrap();

    let (ok, listed, err) = peer.json(&["list"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("the database would not open") && err.contains("set aside as"),
        "the user is told what happened: {err}"
    );
    let set_aside = std::fs::read_dir(peer.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("db.damaged-"))
        .expect("the damaged database is kept");
    assert!(peer.dir.path().join(set_aside).join("conf").exists());
    // Demo tracks (seeded at the first start) and both published tracks, all here.
    for id in [&first, &second] {
        let track = listed.iter().find(|t| t["id"] == id.as_str());
        assert_eq!(track.map(|t| &t["local"]), Some(&true.into()), "{listed:?}");
    }
    assert!(listed.iter().all(|t| t["local"] == true), "{listed:?}");
    let wav = peer.dir.path().join("rain.wav");
    let (ok, _, err) = peer.json(&["play", &first, "--out", wav.to_str().unwrap()]);
    assert!(ok, "{err}");
    // The rating came back from the journal.
    let library = Library::open(LibraryOptions::new(peer.dir.path())).unwrap();
    let rated: Vec<(String, u8)> = library
        .store()
        .ratings()
        .unwrap()
        .into_iter()
        .map(|(id, stars)| (id.to_hex(), stars))
        .collect();
    assert_eq!(rated, vec![(first.clone(), 4)]);
}
