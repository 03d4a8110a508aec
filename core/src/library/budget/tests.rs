//! Tests of the catalog budget on the library's side: what is protected, what goes, that
//! evicted releases do not come straight back, that a catalog of protected releases does not
//! make every accept walk the queue, and that a stop between the store and the index heals.

use std::collections::HashSet;

use busker_recommender::{Key, TasteProfile};

use super::*;
use crate::model::ArtistKeypair;
use crate::store::{Listen, ListenKind};
use crate::taste::SignedProfile;
use crate::test_utils::{signed_release, temp_library, write_wav};

/// A release of `key`, numbered `n`, published `at`.
fn release(key: &ArtistKeypair, n: u32, at: u64) -> Manifest {
    signed_release(key, &n.to_be_bytes().repeat(300), &format!("song {n}"), at)
}

/// Sets the budget to what the catalog costs now times `share`, in whole KiB.
fn budget_to(library: &Library, share: f64) {
    let kib = (library.store().catalog_bytes() as f64 * share / 1024.0).floor() as u64;
    library
        .update_config(|c| c.catalog_budget_kib = kib.max(1))
        .unwrap();
}

fn present(library: &Library, id: &TrackId) -> bool {
    library.store().has_manifest(id).unwrap()
}

#[test]
fn over_the_budget_the_oldest_unprotected_go_and_every_protected_release_stays() {
    let (dir, library) = temp_library();
    let keys: Vec<_> = (1..=4u8)
        .map(|s| ArtistKeypair::from_seed([s; 32]))
        .collect();
    // Forty old releases, received in order, from three keys; the fourth key is followed.
    let old: Vec<Manifest> = (0..40u32)
        .map(|n| release(&keys[n as usize % 3], n, 1_000 + u64::from(n)))
        .collect();
    let followed = release(&keys[3], 100, 500);
    let recent = release(&keys[0], 101, unix_now() - 3600);
    let mut all = old.clone();
    all.extend([followed.clone(), recent.clone()]);
    assert_eq!(library.accept(all).unwrap().len(), 42);
    let own_key = library.artist_key();
    // Held here: a published file, signed by this peer's own key.
    let file = write_wav(dir.path(), "held.wav", 40_000, 3);
    let held = library
        .publish_file(&file, &crate::PublishOptions::default())
        .unwrap();
    assert_eq!(held.artist_key(), own_key);
    // Played, rated, starred, in a playlist, named by a neighbour, being downloaded.
    let store = library.store();
    let [played, rated, starred, listed, named, downloading] =
        [&old[0], &old[1], &old[2], &old[3], &old[4], &old[5]].map(Manifest::id);
    store
        .record_listen(&Listen {
            id: played,
            at_ms: 1,
            kind: ListenKind::Play,
        })
        .unwrap();
    library.rate(&rated, 2).unwrap();
    store.set_starred(&starred, true).unwrap();
    library.create_playlist("keep", &[listed]).unwrap();
    library.follow(&followed.artist_key(), true).unwrap();
    let neighbour = ArtistKeypair::from_seed([0x77; 32]);
    let profile = TasteProfile::new(Key(neighbour.public().0), 1, [(Key(named.0), 1.0)], []);
    let signed = SignedProfile::sign(profile, &neighbour);
    store
        .put_profile(&neighbour.public().0, &signed.to_stored())
        .unwrap();
    store.put_chunk(&old[5], 0, &old_chunk(5)).unwrap();

    budget_to(&library, 0.5);
    assert!(library.over_budget());
    let report = library.evict_over_budget().unwrap();
    let budget = library.catalog_budget().unwrap();
    assert!(report.evicted > 0);
    assert!(report.catalog_bytes <= budget / 10 * 9, "{report:?}");
    assert_eq!(library.store().catalog_bytes(), report.catalog_bytes);
    for id in [played, rated, starred, listed, named, downloading] {
        assert!(present(&library, &id), "a protected release was evicted");
    }
    for m in [&followed, &recent, &held] {
        assert!(present(&library, &m.id()));
    }
    // The oldest received that nothing protects went first: a prefix of the rest.
    let rest: Vec<TrackId> = old[6..].iter().map(Manifest::id).collect();
    let gone: Vec<bool> = rest.iter().map(|id| !present(&library, id)).collect();
    assert_eq!(gone.iter().filter(|g| **g).count(), report.evicted);
    assert!(
        gone.windows(2).all(|w| w[0] >= w[1]),
        "oldest first: {gone:?}"
    );
    // Evicted ones are gone from search; the index agrees with the store.
    assert!(
        library
            .search("song 39", 50)
            .unwrap()
            .iter()
            .all(|t| t.id != rest[0])
    );
    assert_eq!(library.index().len(), library.store().manifest_count());
    library.store().assert_order_matches_scan();
}

/// The first chunk of the content of `release(_, n, _)`.
fn old_chunk(n: u32) -> Vec<u8> {
    let content = n.to_be_bytes().repeat(300);
    let m = release(&ArtistKeypair::from_seed([1; 32]), n, 0);
    content[..(m.chunk_size() as usize).min(content.len())].to_vec()
}

#[test]
fn evicted_releases_are_not_taken_back_from_peers_unless_wanted_or_recent() {
    let (_dir, library) = temp_library();
    let key = ArtistKeypair::from_seed([5; 32]);
    let old: Vec<Manifest> = (0..20u32).map(|n| release(&key, n, 1_000)).collect();
    library.accept(old.clone()).unwrap();
    budget_to(&library, 0.5);
    library.evict_over_budget().unwrap();
    let evicted: Vec<&Manifest> = old.iter().filter(|m| !present(&library, &m.id())).collect();
    assert!(!evicted.is_empty());
    // Gossip or a sync bringing them again: left out.
    let again: Vec<Manifest> = evicted.iter().map(|m| (*m).clone()).collect();
    assert!(library.accept(again.clone()).unwrap().is_empty());
    // A newer version published now is recent, so protected: taken.
    let update = evicted[0]
        .updated(&key, evicted[0].info().clone(), unix_now())
        .unwrap();
    assert_eq!(library.accept(vec![update]).unwrap(), vec![evicted[0].id()]);
    // Asked for by the user: taken back.
    assert_eq!(
        library.accept_wanted(vec![again[1].clone()]).unwrap(),
        vec![again[1].id()]
    );
    assert!(!library.store().was_evicted(&again[1].id()).unwrap());
}

#[test]
fn a_catalog_of_protected_releases_over_its_budget_is_not_walked_at_every_accept() {
    let (_dir, library) = temp_library();
    let key = ArtistKeypair::from_seed([6; 32]);
    library.follow(&key.public(), true).unwrap();
    let kept: Vec<Manifest> = (0..20u32).map(|n| release(&key, n, 1_000)).collect();
    library.accept(kept.clone()).unwrap();
    budget_to(&library, 0.5);
    assert!(library.over_budget());
    let report = library.evict_over_budget().unwrap();
    assert_eq!(report.evicted, 0);
    // Nothing to evict: not worth another run until the catalog grew by a hundredth.
    assert!(!library.over_budget());
    let other = ArtistKeypair::from_seed([7; 32]);
    let budget = library.catalog_budget().unwrap();
    let mut n = 100;
    while library.store().catalog_bytes() <= report.catalog_bytes + budget / 100 {
        assert!(!library.over_budget());
        library.accept(vec![release(&other, n, 1_000)]).unwrap();
        n += 1;
    }
    assert!(library.over_budget());
    // The run evicts the unprotected newcomers, never the followed key's releases.
    let report = library.evict_over_budget().unwrap();
    assert!(report.evicted > 0);
    assert!(kept.iter().all(|m| present(&library, &m.id())));
}

#[test]
fn a_stop_between_the_store_and_the_index_heals_at_the_next_open() {
    let (dir, library) = temp_library();
    let key = ArtistKeypair::from_seed([8; 32]);
    let old: Vec<Manifest> = (0..10u32).map(|n| release(&key, n, 1_000)).collect();
    library.accept(old.clone()).unwrap();
    // The store's batch, and then a stop before the index heard of it.
    let done = library.store().evict(0, 4, |_| Verdict::Evict).unwrap();
    assert_eq!(done.ids.len(), 4);
    assert_eq!(library.index().len(), 10, "the index still lists them");
    assert!(
        library.search("song", 20).unwrap().len() == 6,
        "search skips them"
    );
    drop(library);
    let library = Library::open(crate::LibraryOptions::new(dir.path()).seed_demo(false)).unwrap();
    assert_eq!(
        library.index().len(),
        6,
        "rebuilt: it disagreed with the store"
    );
    let found: HashSet<TrackId> = library
        .search("song", 20)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert!(done.ids.iter().all(|id| !found.contains(id)));
    library.store().assert_order_matches_scan();
}
