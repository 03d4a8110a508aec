//! Tests of the catalog budget: the byte total, the queue, eviction batches and their
//! consistency, the upgrade of a data dir from before the budget.

use super::*;
use crate::model::ArtistKeypair;
use crate::test_utils::signed_release;

fn release(key: &ArtistKeypair, n: u32, at: u64) -> Manifest {
    signed_release(key, &n.to_be_bytes().repeat(300), &format!("r{n}"), at)
}

fn keys() -> Vec<ArtistKeypair> {
    (1..=3u8)
        .map(|s| ArtistKeypair::from_seed([s; 32]))
        .collect()
}

/// Thirty releases of three keys, received in order, then one held here.
fn fill(store: &Store) -> Vec<Manifest> {
    let keys = keys();
    let mut all = Vec::new();
    for n in 0..30u32 {
        let m = release(&keys[n as usize % 3], n, 1_000 + u64::from(n));
        store.put_manifest(&m).unwrap();
        all.push(m);
    }
    let content = 77u32.to_be_bytes().repeat(300);
    let local = signed_release(&keys[0], &content, "local", 2_000);
    let mut writer = store.blob_writer().unwrap();
    writer.write(&content).unwrap();
    writer.finish(&local.audio_id()).unwrap();
    store.commit_local_track(&local).unwrap();
    all.push(local);
    all
}

fn open(tmp: &tempfile::TempDir) -> Store {
    Store::open(&tmp.path().join("db")).unwrap()
}

#[test]
fn the_byte_total_follows_puts_updates_and_local_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    assert_eq!(store.catalog_bytes(), 0);
    let all = fill(&store);
    store.assert_budget_matches_scan();
    let each = cost(all[0].encoded().len());
    assert!(store.catalog_bytes() >= 31 * ENTRY_OVERHEAD);
    // An update replaces the old version's cost; a replay of the old one changes nothing.
    let key = &keys()[1];
    let newer = all[1].updated(key, all[1].info().clone(), 9_000).unwrap();
    let before = store.catalog_bytes();
    store.put_manifest(&newer).unwrap();
    store.put_manifest(&all[1]).unwrap();
    assert_eq!(
        store.catalog_bytes(),
        before + cost(newer.encoded().len()) - each
    );
    store.assert_budget_matches_scan();
    // The local track is not queued: 30 received, 30 queued.
    assert_eq!(store.queue_len(), 30);
    drop(store);
    let store = open(&tmp);
    store.assert_budget_matches_scan();
}

#[test]
fn eviction_takes_the_oldest_received_first_and_keeps_what_the_judge_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let all = fill(&store);
    let kept = all[0].id();
    let local = all[30].id();
    let total = store.catalog_bytes();
    let each = cost(all[0].encoded().len());
    // Ask for room for five more: the five oldest but the kept one go.
    let target = total - 5 * each;
    let done = store
        .evict(target, 100, |m| {
            if m.id() == kept {
                Verdict::Keep
            } else {
                Verdict::Evict
            }
        })
        .unwrap();
    let expected: Vec<TrackId> = all[1..6].iter().map(Manifest::id).collect();
    assert_eq!(done.ids, expected);
    assert_eq!(done.bytes, 5 * each);
    assert!(store.catalog_bytes() <= target);
    for id in &expected {
        assert!(!store.has_manifest(id).unwrap());
        assert!(store.was_evicted(id).unwrap());
    }
    assert!(store.has_manifest(&kept).unwrap() && store.has_manifest(&local).unwrap());
    store.assert_order_matches_scan();
    store.assert_budget_matches_scan();
    // The kept one went to the back: the next batch starts with the seventh received.
    let next = store.evict(0, 1, |_| Verdict::Evict).unwrap();
    assert_eq!(next.ids, vec![all[6].id()]);
    assert_eq!(store.evicted_count(), 6);
    // A wanted id is forgotten, and comes back like any new release.
    store.forget_evicted(&expected[0]).unwrap();
    assert!(!store.was_evicted(&expected[0]).unwrap());
    assert_eq!(
        store.put_manifest(&all[1]).unwrap(),
        super::super::Stored::New
    );
    store.assert_order_matches_scan();
    store.assert_budget_matches_scan();
}

#[test]
fn evicting_an_artists_every_release_removes_the_artist_and_moves_its_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    let all = fill(&store);
    let gone_key = all[2].artist_key();
    // Every release of the third key goes, and the newest of the second key.
    let newest_of_second = all[28].id();
    store
        .evict(0, 1000, |m| {
            if m.artist_key() == gone_key || m.id() == newest_of_second {
                Verdict::Evict
            } else {
                Verdict::KeepForGood
            }
        })
        .unwrap();
    store.assert_order_matches_scan();
    store.assert_budget_matches_scan();
    let artists: Vec<ArtistKey> = store.artists_newest_first().map(|a| a.unwrap().0).collect();
    assert!(!artists.contains(&gone_key));
    // Kept for good: they left the queue, so the next walk has nothing left to look at.
    assert_eq!(store.queue_len(), 0);
    assert_eq!(store.evict(0, 10, |_| Verdict::Evict).unwrap().examined, 0);
}

#[test]
fn a_batch_looks_at_no_more_than_four_times_its_size() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    fill(&store);
    let mut asked = 0;
    let done = store
        .evict(0, 2, |_| {
            asked += 1;
            Verdict::Keep
        })
        .unwrap();
    assert_eq!((done.examined, asked), (8, 8));
    assert!(done.ids.is_empty());
    // They went to the back: the queue still holds all thirty, once each.
    assert_eq!(store.queue_len(), 30);
    store.assert_budget_matches_scan();
}

/// A crash inside a batch loses the batch or keeps it whole: sled applies the transaction
/// entirely or not at all. Stopped after the transaction (before the caller touches the search
/// index) and reopened, the store is consistent and the evicted ids stay remembered.
#[test]
fn a_store_reopened_after_a_batch_is_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = {
        let store = open(&tmp);
        fill(&store);
        let done = store.evict(0, 7, |_| Verdict::Evict).unwrap();
        store.flush().unwrap();
        done.ids
    };
    let store = open(&tmp);
    store.assert_order_matches_scan();
    store.assert_budget_matches_scan();
    assert_eq!(store.manifest_count(), 31 - 7);
    assert!(gone.iter().all(|id| store.was_evicted(id).unwrap()));
}

#[test]
fn a_data_dir_from_before_the_budget_gets_its_total_and_queue_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = {
        let store = open(&tmp);
        fill(&store);
        let bytes = store.catalog_bytes();
        store.write_without_budget();
        bytes
    };
    let store = open(&tmp);
    assert_eq!(store.catalog_bytes(), bytes);
    assert_eq!(
        store.queue_len(),
        30,
        "every received release, not the held one"
    );
    store.assert_budget_matches_scan();
    // A build killed midway (a queue, no total) is built again from an empty queue.
    store.write_without_budget();
    store
        .budget
        .queue
        .insert(queue_key(1, &TrackId([9; 32])), &[])
        .unwrap();
    drop(store);
    let store = open(&tmp);
    store.assert_budget_matches_scan();
    assert_eq!(store.queue_len(), 30);
}

#[test]
fn remembered_evictions_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp);
    // As if MAX_REMEMBERED were reached: a count over the cap and a few entries.
    for b in 0..50u8 {
        store.budget.evicted.insert([b; 32], &[0; 8]).unwrap();
    }
    store
        .meta
        .insert(KEY_EVICTED_COUNT, &(MAX_REMEMBERED + 1).to_be_bytes())
        .unwrap();
    store.forget_some_evicted().unwrap();
    assert_eq!(
        store.budget.evicted.len(),
        0,
        "a tenth of the cap is more than 50"
    );
    assert_eq!(store.evicted_count(), MAX_REMEMBERED + 1 - 50);
}
