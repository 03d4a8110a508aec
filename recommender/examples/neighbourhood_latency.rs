//! Top-10 latency of one peer's recommendations from its neighbourhood on Last.fm data, with
//! the stream filled as after a gossip run (criterion lives in `busker-benches`; this example
//! needs only this crate):
//!
//! ```text
//! cargo run -p busker-recommender --release --example neighbourhood_latency
//! ```
//!
//! User 0 of the seed-1 split considers the profiles of its 400 most similar users (it keeps
//! the best 50) and the digests of the next 500: its streams count 900 peers, about what a peer
//! counts after a 50-round gossip run. Warm: neighbourhood unchanged since the last call; cold:
//! the first call after a round (influence, clique check and the local EASE fit recomputed);
//! the EASE fit alone is timed too. Also
//! times one user's top 10 from the centralised `best` (EASE with the popularity penalty plus
//! friends, scoring all 17,632 artists).
#![allow(
    clippy::unwrap_used,
    reason = "fixed inputs: an example that cannot load them stops"
)]

use std::time::Instant;

use busker_recommender::{
    Blend, Dataset, Ease, EaseConfig, Friends, Key, Neighbourhood, NeighbourhoodConfig,
    PopularityPenalty, ProfileDigest, Scorer, TasteProfile, UserKnn, Weighting, parse_friends,
    parse_interactions, split_random, top_k,
};

fn quantiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/lastfm-hetrec2011/");
    let rows =
        parse_interactions(&std::fs::read(format!("{dir}user_artists.dat")).unwrap()).unwrap();
    let friends = parse_friends(&std::fs::read(format!("{dir}user_friends.dat")).unwrap()).unwrap();
    let data = Dataset::new(&rows, &friends).unwrap();
    let split = split_random(&data.counts, 1);
    let log = split.train.map_values(|x| Weighting::Log1p.apply(x));
    let user = 0usize;
    let knn = UserKnn::fit(&log, 900, 10.0, 2.0);
    let mut hood = Neighbourhood::new(
        TasteProfile::of_user(&log, &data.friends[user], user),
        NeighbourhoodConfig::default(),
    )
    .unwrap();
    for (rank, &(v, _)) in knn.neighbours(user).iter().enumerate() {
        let p = TasteProfile::of_user(&log, &data.friends[v as usize], v as usize);
        if rank < 400 {
            hood.consider(p);
        } else {
            hood.consider_digest(&ProfileDigest::of(&p));
        }
    }
    let known = split.valid.row_indices(user).to_vec();
    let is_known = |k: &Key| known.binary_search(&(k.low_u64() as u32)).is_ok();
    let runs = 300;
    let mut warm = Vec::with_capacity(runs);
    let mut cold = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut h = hood.clone();
        h.tick();
        let t = Instant::now();
        let recs = h.recommend(10, is_known, &[], 0.0);
        cold.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(recs.len(), 10);
        let t = Instant::now();
        let recs = h.recommend(10, is_known, &[], 0.0);
        warm.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(recs.len(), 10);
    }
    // The parts of the cold path: the influence (with the clique check) and the EASE fit, each
    // on its own just after a round.
    let mut influence = Vec::with_capacity(runs);
    let mut ease_after_round = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut h = hood.clone();
        h.tick();
        let t = Instant::now();
        assert_eq!(h.influence().len(), 50);
        influence.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        assert!(!h.ease_scores().is_empty());
        ease_after_round.push(t.elapsed().as_secs_f64() * 1e6);
    }
    // What busker-core's taste task does: the round's influence and fit right after the tick,
    // then the request.
    let mut warmed = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut h = hood.clone();
        h.tick();
        h.influence();
        h.ease_scores();
        let t = Instant::now();
        let recs = h.recommend(10, is_known, &[], 0.0);
        warmed.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(recs.len(), 10);
    }
    let (wdm, wd95) = quantiles(warmed);
    println!(
        "first top 10 after a round warmed by the taste task: median {wdm:.0} µs, p95 {wd95:.0} µs"
    );
    let (im, i95) = quantiles(influence);
    let (em, e95) = quantiles(ease_after_round);
    println!(
        "cold parts: influence (clique check) median {im:.0} µs, p95 {i95:.0} µs; EASE fit median {em:.0} µs, p95 {e95:.0} µs"
    );
    let mut fit = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let scores = hood.co_stream().fit(hood.config().ease_lambda);
        fit.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(!scores.is_empty());
    }
    let (wm, w95) = quantiles(warm);
    let (cm, c95) = quantiles(cold);
    let (fm, f95) = quantiles(fit);
    println!(
        "kept {} profiles, stream {} peers, {} items tracked; top 10 warm: median {wm:.0} µs, p95 {w95:.0} µs; cold: median {cm:.0} µs, p95 {c95:.0} µs; EASE fit alone: median {fm:.0} µs, p95 {f95:.0} µs ({runs} runs)",
        hood.neighbours().len(),
        hood.stream().peers(),
        hood.co_stream().tracked()
    );

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
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        scores.iter_mut().for_each(|s| *s = 0.0);
        best.score(user, items, weights, &mut scores);
        let top = top_k(&scores, 10, |i| items.binary_search(&i).is_ok());
        times.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(top.len(), 10);
    }
    let (m, p95) = quantiles(times);
    println!("best top 10: median {m:.0} µs, p95 {p95:.0} µs ({runs} runs)");
}
