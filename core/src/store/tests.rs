//! Tests of the store: chunks, local marks, manifests and their versions, history, ratings.

use super::*;
use crate::model::{ArtistKeypair, ManifestDraft, TrackInfo, split_chunks};

fn manifest(bytes: &[u8]) -> Manifest {
    let (chunk_size, chunks) = split_chunks(bytes).unwrap();
    ManifestDraft {
        info: TrackInfo {
            title: "t".into(),
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
    for (hash, chunk) in m.chunks().iter().zip(bytes.chunks(m.chunk_size() as usize)) {
        store.put_chunk(hash, chunk).unwrap();
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
    let hash = ChunkHash::of(b"good");
    assert!(store.put_chunk(&hash, b"evil").is_err());
    assert!(!store.has_chunk(&hash).unwrap());
    store.put_chunk(&hash, b"good").unwrap();
    assert_eq!(store.chunk(&hash).unwrap().unwrap().as_ref(), b"good");
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
    assert_eq!(store.chunk_count(), 2);
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
