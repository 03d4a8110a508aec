//! Tests of the store: chunks and blobs, local marks, manifests and their versions, history,
//! ratings.

use super::*;
use crate::model::{ArtistKeypair, ManifestDraft, TrackInfo, split_chunks};

fn manifest(bytes: &[u8]) -> Manifest {
    release(bytes, "t")
}

/// A release of `bytes` titled `title`, signed by a test key.
pub(super) fn release(bytes: &[u8], title: &str) -> Manifest {
    let (chunk_size, chunks) = split_chunks(bytes).unwrap();
    ManifestDraft {
        info: TrackInfo {
            title: title.into(),
            ..TrackInfo::default()
        },
        file_size: bytes.len() as u64,
        chunk_size,
        chunks,
        published_at: 0,
    }
    .sign(&ArtistKeypair::from_seed([1; 32]))
}

fn put_all_chunks(store: &Store, bytes: &[u8], m: &Manifest) {
    for (index, chunk) in bytes.chunks(m.chunk_size() as usize).enumerate() {
        store.put_chunk(m, index, chunk).unwrap();
    }
}

#[test]
fn ratings_are_set_cleared_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let a = TrackId([1; 32]);
    let b = TrackId([2; 32]);
    assert_eq!(store.rating(&a).unwrap(), None);
    store.set_rating(&a, 4).unwrap();
    store.set_rating(&b, 1).unwrap();
    store.set_rating(&a, 5).unwrap();
    assert_eq!(store.rating(&a).unwrap(), Some(5));
    assert_eq!(store.ratings().unwrap(), vec![(a, 5), (b, 1)]);
    store.set_rating(&a, 0).unwrap();
    assert_eq!(store.rating(&a).unwrap(), None);
    assert!(matches!(store.set_rating(&a, 6), Err(Error::BadRating(6))));
    assert_eq!(store.ratings().unwrap(), vec![(b, 1)]);
}

#[test]
fn listening_history_keeps_order_and_positions_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let id = TrackId([7; 32]);
    let events = [
        ListenKind::Play,
        ListenKind::Skip {
            position_ms: 12_345,
        },
        ListenKind::Play,
        ListenKind::Complete,
    ];
    {
        let store = Store::open(&path).unwrap();
        for (i, kind) in events.iter().enumerate() {
            // Two events in the same millisecond must both be kept.
            let at_ms = 1_000 + (i as u64 / 2);
            store
                .record_listen(&Listen {
                    id,
                    at_ms,
                    kind: *kind,
                })
                .unwrap();
        }
        store.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let got: Vec<_> = store.listens().unwrap().iter().map(|l| l.kind).collect();
    assert_eq!(got, events);
    assert!(store.listens().unwrap().iter().all(|l| l.id == id));
}

#[test]
fn a_chunk_that_does_not_match_its_hash_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let m = manifest(b"good");
    assert!(store.put_chunk(&m, 0, b"evil").is_err());
    assert!(!store.has_chunk(&m, 0).unwrap());
    store.put_chunk(&m, 0, b"good").unwrap();
    assert_eq!(store.chunk(&m, 0).unwrap().unwrap(), b"good");
}

/// Distinct bytes, so that every chunk differs.
pub(super) fn noise(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
        .collect()
}

#[test]
fn a_download_out_of_order_survives_a_reopen_and_completes_into_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let bytes = noise(300_000, 3);
    let m = manifest(&bytes);
    let chunks: Vec<&[u8]> = bytes.chunks(m.chunk_size() as usize).collect();
    assert_eq!(chunks.len(), 5);
    {
        let store = Store::open(&path).unwrap();
        store.put_manifest(&m).unwrap();
        for index in [4, 1, 2] {
            store.put_chunk(&m, index, chunks[index]).unwrap();
        }
        store.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let here: Vec<bool> = (0..5).map(|i| store.has_chunk(&m, i).unwrap()).collect();
    assert_eq!(here, [false, true, true, false, true]);
    assert_eq!(store.chunk(&m, 4).unwrap().unwrap(), chunks[4]);
    assert_eq!(store.chunk(&m, 0).unwrap(), None);
    assert!(
        store.commit_local_track(&m).is_err(),
        "two chunks are missing"
    );
    for index in [0, 3] {
        store.put_chunk(&m, index, chunks[index]).unwrap();
    }
    store.commit_local_track(&m).unwrap();
    assert!(store.is_local(&m.id()).unwrap());
    assert_eq!(store.blob_count().unwrap(), 1);
    let blob = std::fs::read(store.blobs.complete_path(&m.audio_id())).unwrap();
    assert_eq!(blob, bytes, "the blob is the original file");
    assert!(
        store.verified.is_empty(),
        "the marks went with the partial file"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("blobs/partial"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_blob_damaged_on_disk_is_never_read_and_the_track_stops_being_local() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let bytes = noise(200_000, 9);
    let m = manifest(&bytes);
    put_all_chunks(&store, &bytes, &m);
    store.commit_local_track(&m).unwrap();
    let blob = store.blobs.complete_path(&m.audio_id());
    let mut damaged = std::fs::read(&blob).unwrap();
    damaged[70_000] ^= 0xff;
    std::fs::write(&blob, &damaged).unwrap();

    assert_eq!(store.chunk(&m, 0).unwrap().unwrap(), &bytes[..65_536]);
    assert!(matches!(store.chunk(&m, 1), Err(Error::Damaged(_))));
    assert!(!store.is_local(&m.id()).unwrap());
    assert!(!blob.exists());
    assert_eq!(
        store.chunk(&m, 1).unwrap(),
        None,
        "fetched again like any missing chunk"
    );
}

#[test]
fn a_track_becomes_local_only_with_all_chunks_and_only_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let bytes = vec![4u8; 150_000];
    let m = manifest(&bytes);
    assert!(store.commit_local_track(&m).is_err());
    assert!(!store.is_local(&m.id()).unwrap());
    put_all_chunks(&store, &bytes, &m);
    store.commit_local_track(&m).unwrap();
    assert!(store.is_local(&m.id()).unwrap());
    assert!(matches!(
        store.commit_local_track(&m),
        Err(Error::Duplicate(id)) if id == m.id()
    ));
    assert_eq!(store.manifest(&m.id()).unwrap().unwrap(), m);
}

#[test]
fn an_interrupted_write_is_swept_on_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let kept = vec![1u8; 70_000];
    let lost = vec![2u8; 70_000];
    {
        let store = Store::open(&path).unwrap();
        let m = manifest(&kept);
        put_all_chunks(&store, &kept, &m);
        store.commit_local_track(&m).unwrap();
        store.begin_write().unwrap();
        put_all_chunks(&store, &lost, &manifest(&lost));
        store.flush().unwrap();
        // The process "dies" here: no commit, no end_write.
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.blob_count().unwrap(), 1);
    assert!(!store.has_chunk(&manifest(&lost), 0).unwrap());
    assert_eq!(store.manifest_count(), 1);
    assert!(
        !store
            .flag(std::str::from_utf8(KEY_WRITE_IN_PROGRESS).unwrap())
            .unwrap()
    );
}

#[test]
fn only_a_newer_version_of_a_release_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let key = ArtistKeypair::from_seed([1; 32]);
    let first = manifest(&[3u8; 70_000]);
    let mut info = first.info().clone();
    info.title = "Second".into();
    let second = first.updated(&key, info, 10).unwrap();
    assert_eq!(store.put_manifest(&first).unwrap(), Stored::New);
    assert_eq!(store.put_manifest(&second).unwrap(), Stored::Updated);
    // A replayed older version does not undo the update.
    assert_eq!(store.put_manifest(&first).unwrap(), Stored::Kept);
    assert_eq!(
        store.manifest(&first.id()).unwrap().unwrap().info().title,
        "Second"
    );
}

#[test]
fn a_copy_under_another_key_names_the_release_seen_first() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db")).unwrap();
    let original = manifest(&[5u8; 70_000]);
    let (chunk_size, chunks) = split_chunks(&[5u8; 70_000]).unwrap();
    let copy = ManifestDraft {
        info: TrackInfo {
            title: "Stolen".into(),
            ..TrackInfo::default()
        },
        file_size: 70_000,
        chunk_size,
        chunks,
        published_at: 99,
    }
    .sign(&ArtistKeypair::from_seed([2; 32]));
    store.put_manifest(&original).unwrap();
    store.put_manifest(&copy).unwrap();
    assert_eq!(store.manifest_count(), 2, "two releases");
    assert_eq!(store.same_audio_as(&copy).unwrap(), Some(original.clone()));
    assert_eq!(store.same_audio_as(&original).unwrap(), None);
}

#[test]
fn a_database_that_will_not_open_is_set_aside_and_rebuilt_from_the_files_beside_it() {
    for damage in ["conf", "db"] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let bytes = noise(150_000, 5);
        let (local, heard) = (manifest(&bytes), manifest(&noise(70_000, 6)));
        let artist = ArtistKey([9; 32]);
        let owner = ArtistKeypair::generate();
        let kept = crate::playlist::Playlist::create(&owner, "Kept", vec![local.id()], 1).unwrap();
        let mut renamed = kept.clone();
        renamed
            .edit(&owner, 2, |name, _| {
                *name = "Renamed".into();
                Ok(())
            })
            .unwrap();
        let gone = crate::playlist::Playlist::create(&owner, "Gone", Vec::new(), 1).unwrap();
        let listen = Listen {
            id: local.id(),
            at_ms: 1_000,
            kind: ListenKind::Skip { position_ms: 1_234 },
        };
        {
            let store = Store::open(&path).unwrap();
            put_all_chunks(&store, &bytes, &local);
            store.commit_local_track(&local).unwrap();
            store.put_manifest(&heard).unwrap();
            store.set_rating(&local.id(), 4).unwrap();
            store.set_rating(&heard.id(), 2).unwrap();
            store.set_rating(&heard.id(), 0).unwrap();
            store.set_blocked(&artist, true).unwrap();
            store.set_followed(&ArtistKey([3; 32]), true).unwrap();
            store.set_followed(&ArtistKey([4; 32]), true).unwrap();
            store.set_followed(&ArtistKey([4; 32]), false).unwrap();
            store.record_listen(&listen).unwrap();
            store.put_playlist(&kept).unwrap();
            store.put_playlist(&renamed).unwrap();
            store.put_playlist(&gone).unwrap();
            store.remove_playlist(&gone.id).unwrap();
            store.flush().unwrap();
        }
        // As tried on a real data dir: 16 bytes over sled's small config file, or its main file
        // cut short.
        let file = path.join(damage);
        if damage == "conf" {
            let mut conf = std::fs::read(&file).unwrap();
            conf[..16].copy_from_slice(&[0xAA; 16]);
            std::fs::write(&file, conf).unwrap();
        } else {
            let len = std::fs::metadata(&file).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(len / 3)
                .unwrap();
        }

        let store = Store::open(&path).unwrap();
        let rebuilt = store.rebuilt().expect("rebuilt").clone();
        assert!(
            rebuilt.set_aside.join(damage).exists(),
            "{damage}: kept aside"
        );
        assert_eq!(rebuilt.tracks, 1, "{damage}: the local track's manifest");
        assert!(store.is_local(&local.id()).unwrap(), "{damage}");
        assert_eq!(store.chunk(&local, 2).unwrap().unwrap(), &bytes[131_072..]);
        assert_eq!(store.ratings().unwrap(), vec![(local.id(), 4)], "{damage}");
        assert!(store.is_blocked(&artist).unwrap(), "{damage}");
        let followed = store.followed_keys().unwrap();
        assert_eq!(
            followed.into_iter().collect::<Vec<_>>(),
            vec![ArtistKey([3; 32])],
            "{damage}"
        );
        assert_eq!(store.listens().unwrap(), vec![listen], "{damage}");
        assert_eq!(
            store.playlists().unwrap(),
            vec![renamed.clone()],
            "{damage}"
        );
        assert!(!store.created(), "{damage}: not a first start");
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.rebuilt().is_none(), "{damage}: once");
        assert_eq!(store.ratings().unwrap(), vec![(local.id(), 4)], "{damage}");
    }
}

#[test]
fn a_chunk_stored_as_its_download_completed_leaves_nothing_behind_after_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let bytes = noise(100_000, 8);
    let m = manifest(&bytes);
    {
        let store = Store::open(&path).unwrap();
        put_all_chunks(&store, &bytes, &m);
        store.commit_local_track(&m).unwrap();
        // A late writer that checked before the blob was in place.
        store
            .write_partial(&m.audio_id(), m.file_size(), 1, 65_536, &bytes[65_536..])
            .unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert!(store.verified.is_empty());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("blobs/partial"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(store.chunk(&m, 1).unwrap().unwrap(), &bytes[65_536..]);
}
