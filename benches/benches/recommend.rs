//! Top-10 latency of the recommender on real Last.fm data.
//!
//! - `neighbourhood_top10`: one peer's recommendations from its 50 kept profiles, the live
//!   network's hot path (defences on: trust, clique damping, caps), neighbourhood unchanged
//!   since the last call; `neighbourhood_top10_cold`: the first call after a change.
//! - `best_top10`: one user's top 10 from the centralised `best` (EASE with the popularity
//!   penalty, plus friends), scoring all 17,632 artists.
//!
//! Inputs are fixed: seed-1 split, the user with index 0, its 50 most similar users as the
//! neighbourhood.
#![allow(
    clippy::unwrap_used,
    reason = "fixed inputs: a bench that cannot load them must stop"
)]

use std::hint::black_box;

use busker_recommender::{
    Blend, Dataset, Ease, EaseConfig, Friends, Neighbourhood, NeighbourhoodConfig,
    PopularityPenalty, Scorer, TasteProfile, UserKnn, Weighting, parse_friends, parse_interactions,
    split_random, top_k,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn load() -> Dataset {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/lastfm-hetrec2011/");
    let rows =
        parse_interactions(&std::fs::read(format!("{dir}user_artists.dat")).unwrap()).unwrap();
    let friends = parse_friends(&std::fs::read(format!("{dir}user_friends.dat")).unwrap()).unwrap();
    Dataset::new(&rows, &friends).unwrap()
}

fn bench(c: &mut Criterion) {
    let data = load();
    let split = split_random(&data.counts, 1);
    let log = split.train.map_values(|x| Weighting::Log1p.apply(x));
    let user = 0usize;

    let knn = UserKnn::fit(&log, 50, 10.0, 2.0);
    let mut hood = Neighbourhood::new(
        TasteProfile::of_user(&log, &data.friends[user], user),
        NeighbourhoodConfig::default(),
    )
    .unwrap();
    for &(v, _) in knn.neighbours(user) {
        hood.consider(TasteProfile::of_user(
            &log,
            &data.friends[v as usize],
            v as usize,
        ));
    }
    assert_eq!(hood.neighbours().len(), 50);
    let known = split.valid.row_indices(user).to_vec();
    c.bench_function("neighbourhood_top10", |b| {
        b.iter(|| {
            let recs = hood.recommend(
                10,
                |k| known.binary_search(&(k.low_u64() as u32)).is_ok(),
                &[],
                0.0,
            );
            black_box(recs)
        })
    });

    // Cold: the first recommendation after the neighbourhood changed (the clique check over
    // all pairs of kept profiles runs again); the clone is set-up, not measured.
    c.bench_function("neighbourhood_top10_cold", |b| {
        b.iter_batched(
            || {
                let mut h = hood.clone();
                h.tick();
                h
            },
            |h| {
                let recs = h.recommend(
                    10,
                    |k| known.binary_search(&(k.low_u64() as u32)).is_ok(),
                    &[],
                    0.0,
                );
                black_box(recs)
            },
            BatchSize::SmallInput,
        )
    });

    // `busker-eval --method best`: EASE (lambda 3500) with the popularity penalty, plus friends.
    let ease = Ease::fit_with(
        &log,
        &EaseConfig {
            lambda: 3500.0,
            ..EaseConfig::default()
        },
    )
    .unwrap();
    let best = Blend::new()
        .with(1.0, PopularityPenalty::new(ease, &split.train, 0.2))
        .with(0.15, Friends::new(&log, &data.friends));
    let (items, weights) = log.row(user);
    let mut scores = vec![0.0f32; log.ncols()];
    c.bench_function("best_top10", |b| {
        b.iter(|| {
            scores.iter_mut().for_each(|s| *s = 0.0);
            best.score(user, items, weights, &mut scores);
            black_box(top_k(&scores, 10, |i| items.binary_search(&i).is_ok()))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
