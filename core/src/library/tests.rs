use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/audio")
        .join(name)
}

fn open(dir: &Path) -> Library {
    Library::open(LibraryOptions::new(dir).seed_demo(false)).unwrap()
}

/// What a user could observe of the store: tracks, local marks, audio files.
fn snapshot(lib: &Library) -> (usize, usize, usize) {
    let local = lib.list().unwrap().iter().filter(|t| t.local).count();
    (
        lib.store.manifest_count(),
        local,
        lib.store.blob_count().unwrap(),
    )
}

#[test]
fn publish_then_find_by_search_and_list() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = open(tmp.path());
    let m = lib
        .publish_file(
            &fixture("opsound_manolo_camp-morning_coffee.tagged.flac"),
            &PublishOptions::default(),
        )
        .unwrap();
    assert_eq!(m.info().title, "Morning Coffee");
    assert_eq!(m.artist_key(), lib.artist_key());
    let hits = lib.search("mornin cofee", 5).unwrap();
    assert_eq!(hits[0].id, m.id());
    assert!(hits[0].local);
    assert_eq!(lib.list().unwrap().len(), 1);

    // Chunks reassemble into the original bytes.
    let original =
        std::fs::read(fixture("opsound_manolo_camp-morning_coffee.tagged.flac")).unwrap();
    let mut rebuilt = Vec::new();
    for index in 0..m.chunks().len() {
        rebuilt.extend_from_slice(&lib.store.chunk(&m, index).unwrap().unwrap());
    }
    assert_eq!(rebuilt, original);
}

#[test]
fn a_folder_publishes_every_good_file_and_reports_each_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    std::fs::create_dir_all(music.join("sub")).unwrap();
    std::fs::copy(fixture("sonicpi_ambi_piano.flac"), music.join("a.flac")).unwrap();
    std::fs::copy(fixture("freedesktop_bell.oga"), music.join("sub/b.oga")).unwrap();
    std::fs::write(
        music.join("not-audio.mp3"),
        b"hello, I am a text file".repeat(50),
    )
    .unwrap();
    let wav = std::fs::read(fixture("opsound_manolo_camp-morning_coffee.wav")).unwrap();
    std::fs::write(music.join("cut.wav"), &wav[..wav.len() / 3]).unwrap();
    std::fs::write(music.join("cover.jpg"), b"jpeg").unwrap();

    let lib = open(&tmp.path().join("data"));
    let mut found = 0;
    let mut finished = 0;
    let results = lib.publish_paths(
        &[music.clone(), tmp.path().join("missing.flac")],
        &PublishOptions::default(),
        |e| match e {
            PublishEvent::Found(n) => found = n,
            PublishEvent::Finished(_) => finished += 1,
            PublishEvent::CoverRefused { .. } => {}
        },
    );
    assert_eq!(found, 5);
    assert_eq!(finished, 5);
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(failed.iter().any(|e| e.contains("not-audio.mp3")));
    assert!(
        failed
            .iter()
            .any(|e| e.contains("cut.wav") && e.contains("truncated"))
    );
    assert!(failed.iter().any(|e| e.contains("missing.flac")));
    // Only the two good files are in the store, with exactly their audio files.
    assert_eq!(snapshot(&lib), (2, 2, 2));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert_eq!(lib.index.len(), 2);
}

#[test]
fn a_duplicate_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = open(tmp.path());
    let path = fixture("sonicpi_guit_em9.flac");
    let first = lib.publish_file(&path, &PublishOptions::default()).unwrap();
    let before = snapshot(&lib);
    let err = lib
        .publish_file(&path, &PublishOptions::default())
        .unwrap_err();
    assert!(matches!(*err.source, Error::Duplicate(id) if id == first.id()));
    assert!(err.to_string().contains("sonicpi_guit_em9.flac"));
    assert_eq!(snapshot(&lib), before);
}

#[test]
fn overrides_and_artist_name_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Library::open(
        LibraryOptions::new(tmp.path())
            .seed_demo(false)
            .artist_name("Ada Busker"),
    )
    .unwrap();
    let untagged = lib
        .publish_file(
            &fixture("sonicpi_loop_tabla.flac"),
            &PublishOptions::default(),
        )
        .unwrap();
    assert_eq!(untagged.info().artist, "Ada Busker");
    assert_eq!(untagged.info().title, "sonicpi loop tabla");
    let renamed = lib
        .publish_file(
            &fixture("freedesktop_complete.oga"),
            &PublishOptions {
                title: Some("Complete".into()),
                album: Some("Sounds".into()),
                ..PublishOptions::default()
            },
        )
        .unwrap();
    assert_eq!(renamed.info().title, "Complete");
    assert_eq!(renamed.info().album, "Sounds");
    drop(lib);
    // The name is remembered in the config.
    let lib = open(tmp.path());
    assert_eq!(lib.config().artist_name.as_deref(), Some("Ada Busker"));
}

#[test]
fn a_fresh_data_dir_is_seeded_with_the_demo_library_once() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = Library::open(LibraryOptions::new(tmp.path())).unwrap();
    let tracks = lib.list().unwrap();
    assert_eq!(tracks.len(), demo::TRACKS.len());
    assert!(tracks.iter().all(|t| t.local));
    // Every demo track has its own cover, held here.
    let covers: std::collections::HashSet<_> = tracks
        .iter()
        .filter_map(|t| t.info.cover.map(|c| c.hash))
        .collect();
    assert_eq!(covers.len(), demo::TRACKS.len());
    assert!(tracks.iter().all(|t| t.cover_local));
    assert_eq!(
        lib.search("spring of love", 3).unwrap()[0].info.title,
        "Spring of love"
    );
    let ids: Vec<_> = tracks.iter().map(|t| t.id).collect();
    drop(lib);
    // Demo manifests are identical on every peer and are not seeded twice.
    let other = tempfile::tempdir().unwrap();
    let lib2 = Library::open(LibraryOptions::new(other.path())).unwrap();
    let mut ids2: Vec<_> = lib2.list().unwrap().iter().map(|t| t.id).collect();
    let mut ids1 = ids.clone();
    ids1.sort();
    ids2.sort();
    assert_eq!(ids1, ids2);
    let lib = Library::open(LibraryOptions::new(tmp.path())).unwrap();
    assert_eq!(lib.list().unwrap().len(), demo::TRACKS.len());

    // A data dir first opened without the demo never gets it later.
    let bare = tempfile::tempdir().unwrap();
    drop(open(bare.path()));
    let lib = Library::open(LibraryOptions::new(bare.path())).unwrap();
    assert!(lib.list().unwrap().is_empty());
}

#[test]
fn a_lost_index_is_rebuilt_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let lib = open(tmp.path());
        lib.publish_file(
            &fixture("sonicpi_ambi_piano.flac"),
            &PublishOptions::default(),
        )
        .unwrap();
    }
    std::fs::remove_dir_all(tmp.path().join("index")).unwrap();
    let lib = open(tmp.path());
    assert_eq!(lib.search("ambi piano", 5).unwrap().len(), 1);
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _lib = open(tmp.path());
    let err = Library::open(LibraryOptions::new(tmp.path())).unwrap_err();
    assert!(matches!(err, Error::DataDirLocked(_)), "{err}");
}

#[test]
fn ids_resolve_from_unique_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = open(tmp.path());
    let m = lib
        .publish_file(
            &fixture("sonicpi_ambi_piano.flac"),
            &PublishOptions::default(),
        )
        .unwrap();
    let hex = m.id().to_hex();
    assert_eq!(lib.resolve(&hex).unwrap(), m.id());
    assert_eq!(lib.resolve(&hex[..8].to_uppercase()).unwrap(), m.id());
    assert!(matches!(lib.resolve(&hex[..4]), Err(Error::BadTrackRef(_))));
    assert!(matches!(
        lib.resolve("not-hex!"),
        Err(Error::BadTrackRef(_))
    ));
    let other = if hex.starts_with('0') {
        "ffffff"
    } else {
        "000000"
    };
    assert!(matches!(lib.resolve(other), Err(Error::BadTrackRef(_))));
}

#[test]
fn rating_an_unknown_track_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let library = open(dir.path());
    let unknown = TrackId([3; 32]);
    assert!(matches!(
        library.rate(&unknown, 5),
        Err(Error::UnknownTrack(id)) if id == unknown
    ));
    assert!(library.store().ratings().expect("ratings").is_empty());
}

/// A release of `seed`'s bytes by `key`, published at `published_at`.
fn release(key: &ArtistKeypair, seed: u32, published_at: u64) -> Manifest {
    let content = seed.to_be_bytes().repeat(300);
    crate::test_utils::signed_release(key, &content, &format!("Release {seed}"), published_at)
}

#[test]
fn releases_dated_in_the_future_or_under_the_demo_key_are_not_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let lib = open(dir.path());
    let now = unix_now();
    let key = ArtistKeypair::generate();
    let today = release(&key, 1, now);
    let next_year = release(&key, 2, now + 365 * 24 * 3600);
    let as_demo = release(&demo::artist_key(), 3, now);
    let kept = lib
        .accept(vec![today.clone(), next_year.clone(), as_demo.clone()])
        .unwrap();
    assert_eq!(kept, vec![today.id()]);
    for refused in [&next_year, &as_demo] {
        assert!(!lib.store().has_manifest(&refused.id()).unwrap());
    }
}

#[test]
fn a_thousand_releases_from_one_key_leave_the_others_in_new_releases_and_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let lib = open(dir.path());
    let now = unix_now();
    let spammer = ArtistKeypair::generate();
    let spam: Vec<Manifest> = (0..1000)
        .map(|i| release(&spammer, 10_000 + i, now - 5_000 + u64::from(i)))
        .collect();
    // Three honest releases, all older than every one of the spammer's.
    let honest: Vec<Manifest> = (0..3)
        .map(|i| release(&ArtistKeypair::generate(), i, now - 90_000 + u64::from(i)))
        .collect();
    assert_eq!(lib.accept(spam).unwrap().len(), 1000);
    assert_eq!(lib.accept(honest.clone()).unwrap().len(), 3);

    let listed = lib.new_releases(20).unwrap();
    assert_eq!(
        listed.len(),
        5,
        "the spammer's share of 20 is 2: {listed:?}"
    );
    // With no neighbours yet, recommendations are the promoted new releases.
    let shown: Vec<TrackId> = lib
        .recommend(5)
        .unwrap()
        .iter()
        .map(|r| r.track.id)
        .collect();
    for h in &honest {
        assert!(listed.contains(&h.id()), "{} not in new releases", h.id());
        assert!(
            shown.contains(&h.id()),
            "{} not promoted: {shown:?}",
            h.id()
        );
    }
}

#[test]
fn a_blocked_key_is_hidden_everywhere_and_comes_back_when_unblocked() {
    let dir = tempfile::tempdir().unwrap();
    let lib = open(dir.path());
    let now = unix_now();
    let (blocked, other) = (ArtistKeypair::generate(), ArtistKeypair::generate());
    let theirs = release(&blocked, 1, now - 10);
    let kept = release(&other, 2, now - 20);
    lib.accept(vec![theirs.clone(), kept.clone()]).unwrap();
    lib.index().commit().unwrap();

    lib.block(&blocked.public(), true).unwrap();
    let ids = |list: Vec<TrackSummary>| list.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(lib.list().unwrap()), vec![kept.id()]);
    assert!(!ids(lib.search("Release", 10).unwrap()).contains(&theirs.id()));
    assert_eq!(lib.new_releases(10).unwrap(), vec![kept.id()]);
    let shown: Vec<TrackId> = lib
        .recommend(5)
        .unwrap()
        .iter()
        .map(|r| r.track.id)
        .collect();
    assert_eq!(shown, vec![kept.id()]);
    // Still stored: lifting the block brings it back.
    assert!(lib.store().has_manifest(&theirs.id()).unwrap());
    lib.block(&blocked.public(), false).unwrap();
    assert_eq!(lib.new_releases(10).unwrap(), vec![theirs.id(), kept.id()]);
    assert!(matches!(
        lib.block(&lib.artist_key(), true),
        Err(Error::OwnArtistKey)
    ));
}

#[test]
fn a_followed_key_comes_first_in_new_releases_and_the_choice_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_now();
    let (followed, busy) = (ArtistKeypair::generate(), ArtistKeypair::generate());
    // The followed key's one release is older than every one of the busy key's.
    let theirs = release(&followed, 1, now - 90_000);
    let newer: Vec<Manifest> = (0..5)
        .map(|i| release(&busy, 10 + i, now - u64::from(i)))
        .collect();
    {
        let lib = open(dir.path());
        lib.accept(newer.clone()).unwrap();
        lib.accept(vec![theirs.clone()]).unwrap();
        assert_ne!(
            lib.new_releases(3).unwrap()[0],
            theirs.id(),
            "premise: it is not first by date"
        );
        lib.follow(&followed.public(), true).unwrap();
        assert!(lib.is_followed(&followed.public()));
        assert_eq!(lib.new_releases(3).unwrap()[0], theirs.id());
    }
    let lib = open(dir.path());
    assert!(lib.is_followed(&followed.public()), "kept across a restart");
    assert_eq!(lib.new_releases(3).unwrap()[0], theirs.id());
    lib.follow(&followed.public(), false).unwrap();
    assert_ne!(lib.new_releases(3).unwrap()[0], theirs.id());
}

/// [`Library::new_releases`] as it was before the release indexes: every manifest read.
fn new_releases_by_scan(lib: &Library, limit: usize) -> Vec<TrackId> {
    let mine = lib.artist.public();
    let blocked = lib.blocked().unwrap();
    let mut fresh = Vec::new();
    for m in lib.store.manifests() {
        let m = m.unwrap();
        if m.artist_key() != mine
            && !blocked.hides(&m)
            && lib.store.same_audio_as(&m).unwrap().is_none()
        {
            fresh.push(release::Candidate::of(&m));
        }
    }
    release::followed_first(fresh, &lib.store.followed_keys().unwrap(), limit)
}

/// `Library::own_releases` as it was before the release indexes.
fn own_releases_by_scan(lib: &Library) -> Option<(String, Vec<TrackId>)> {
    let mine = lib.artist.public();
    let mut releases: Vec<(u64, TrackId, String)> = Vec::new();
    for m in lib.store.manifests() {
        let m = m.unwrap();
        if m.artist_key() == mine && lib.store.is_local(&m.id()).unwrap() {
            releases.push((m.published_at(), m.id(), m.info().artist.clone()));
        }
    }
    if releases.is_empty() {
        return None;
    }
    releases.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let name = lib
        .config()
        .artist_name
        .unwrap_or_else(|| releases[0].2.clone());
    Some((name, releases.into_iter().map(|r| r.1).collect()))
}

/// `Library::resolve` of a prefix as it was before: every id compared.
fn resolve_by_scan(lib: &Library, prefix: &str) -> std::result::Result<TrackId, usize> {
    let found: Vec<TrackId> = lib
        .store
        .manifests()
        .map(|m| m.unwrap().id())
        .filter(|id| id.to_hex().starts_with(prefix))
        .collect();
    match found[..] {
        [id] => Ok(id),
        _ => Err(found.len()),
    }
}

#[test]
fn indexed_reads_answer_as_the_full_scans_did() {
    use rand::{Rng, SeedableRng};
    let tmp = tempfile::tempdir().unwrap();
    let lib = open(tmp.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    // No own release yet: no profile.
    assert_eq!(lib.own_releases().unwrap(), own_releases_by_scan(&lib));
    assert_eq!(lib.own_releases().unwrap(), None);
    // Forty keys, one of them a flooder with many releases; times drawn from a small range so
    // that many are equal; some releases of one key re-signed by another.
    let keys: Vec<_> = (0..40u8)
        .map(|s| ArtistKeypair::from_seed([s + 100; 32]))
        .collect();
    let mut heard = Vec::new();
    for n in 0..600u32 {
        let key = if n % 3 == 0 {
            0
        } else {
            rng.gen_range(0..keys.len())
        };
        heard.push(release(&keys[key], n, rng.gen_range(1_000..1_200)));
    }
    for n in (0..600u32).step_by(37) {
        heard.push(release(
            &keys[(n as usize + 1) % keys.len()],
            n,
            rng.gen_range(1_000..1_300),
        ));
    }
    // Copies that arrive before their original are the originals here.
    heard.rotate_left(590);
    lib.accept(heard).unwrap();
    // This peer's own releases: local ones (published here) and one only heard of.
    let me = lib.artist.clone();
    for (seed, at) in [(1u32, 1_100u64), (2, 1_150), (3, 1_100)] {
        let wav = crate::test_utils::wav_bytes(6_000, seed);
        lib.publish_bytes(
            &wav,
            None,
            Path::new("own.wav"),
            &me,
            &PublishOptions::default(),
            None,
            at,
        )
        .unwrap();
    }
    lib.store.put_manifest(&release(&me, 9_999, 1_190)).unwrap();
    lib.store.assert_order_matches_scan();

    let limits = [0, 1, 2, 7, 10, 39, 40, 41, 100, 256, 1_000];
    let check = |what: &str| {
        for limit in limits {
            assert_eq!(
                lib.new_releases(limit).unwrap(),
                new_releases_by_scan(&lib, limit),
                "{what}, limit {limit}"
            );
        }
    };
    check("nothing followed or blocked");
    lib.follow(&keys[0].public(), true).unwrap();
    lib.follow(&keys[5].public(), true).unwrap();
    check("two keys followed");
    lib.block(&keys[5].public(), true).unwrap();
    lib.block(&keys[6].public(), true).unwrap();
    lib.block(&keys[7].public(), true).unwrap();
    check("followed and blocked");
    lib.follow(&keys[0].public(), false).unwrap();
    check("the flooder not followed");
    assert!(!lib.new_releases(256).unwrap().is_empty());

    let own = lib.own_releases().unwrap();
    assert_eq!(own, own_releases_by_scan(&lib));
    assert_eq!(own.unwrap().1.len(), 3, "the local ones");
    lib.update_config(|c| c.artist_name = Some("Me".into()))
        .unwrap();
    assert_eq!(lib.own_releases().unwrap(), own_releases_by_scan(&lib));

    let ids: Vec<TrackId> = lib.store.manifests().map(|m| m.unwrap().id()).collect();
    for id in ids.iter().step_by(7) {
        for len in [6, 7, 9, 64] {
            let prefix = &id.to_hex()[..len];
            assert_eq!(lib.resolve(prefix).ok(), resolve_by_scan(&lib, prefix).ok());
        }
    }
    assert!(lib.resolve("000000").is_err());

    for key in keys.iter().take(8) {
        let mut expected = lib.list().unwrap();
        expected.retain(|t| t.artist_key == key.public());
        assert_eq!(lib.releases_by(&key.public()).unwrap(), expected);
    }
}

#[test]
fn a_data_dir_from_before_the_indexes_reads_as_before() {
    // Cy's data dir, schema 2 (tests/fixtures/datadir-v2/README.md): moved to blob files, then
    // indexed, at open.
    let tmp = tempfile::tempdir().unwrap();
    crate::test_utils::copy_fixture_dir("datadir-v2/cy", tmp.path());
    let lib = open(tmp.path());
    lib.store.assert_order_matches_scan();
    assert_eq!(lib.store.manifest_count(), 2);
    let piano = lib.resolve("dc279399f922").unwrap();
    let complete = lib.resolve("d1b29813dc37").unwrap();
    assert_eq!(lib.new_releases(256).unwrap(), vec![piano]);
    assert_eq!(
        lib.new_releases(256).unwrap(),
        new_releases_by_scan(&lib, 256)
    );
    let (_, own) = lib.own_releases().unwrap().unwrap();
    assert_eq!(own, vec![complete]);
    assert_eq!(lib.own_releases().unwrap(), own_releases_by_scan(&lib));
    drop(lib);
    // A schema 3 data dir (audio in files, no indexes) is indexed at its next open.
    let lib = open(tmp.path());
    lib.store.write_as_schema_3().unwrap();
    drop(lib);
    let lib = open(tmp.path());
    lib.store.assert_order_matches_scan();
    assert_eq!(lib.new_releases(256).unwrap(), vec![piano]);
}

#[test]
fn a_key_without_a_profile_goes_by_its_most_used_artist_name() {
    let named = |artist: &str| {
        let info = TrackInfo {
            artist: artist.into(),
            ..TrackInfo::default()
        };
        crate::test_utils::summary(0, 1, info)
    };
    let list = [named("Zed"), named("Ada"), named("Zed"), named("Bo")];
    assert_eq!(TrackSummary::key_name(&list), Some("Zed"));
    assert_eq!(TrackSummary::key_name(&list[1..2]), Some("Ada"));
    let tie = [named("Bo"), named("Ada")];
    assert_eq!(
        TrackSummary::key_name(&tie),
        Some("Ada"),
        "alphabetical on a tie"
    );
    assert_eq!(TrackSummary::key_name(&[]), None);
}
