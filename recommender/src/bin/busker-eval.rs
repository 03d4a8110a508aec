//! `busker-eval`: offline evaluation of Busker's recommenders on Last.fm-style data.
//!
//! See `CLI.md` ("Evaluation binary") for the contract and `BENCHMARKS.md ("Recommender")` for figures.

use std::time::Instant;

use anyhow::{Context, bail};
use busker_recommender::{
    Attack, Blend, Dataset, Ease, EaseConfig, FriendInput, Friends, GossipConfig, GossipSim,
    ItemKnn, Key, MetricsMean, NeighbourhoodConfig, Popularity, PopularityPenalty, Scorer,
    SparseRows, UserKnn, Weighting, evaluate, parse_friends, parse_interactions, rank_metrics,
    split_random,
};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "busker-eval",
    about = "Evaluate Busker's recommenders (RecBole protocol)"
)]
struct Args {
    /// Tab-separated user, item, weight with a header line (Last.fm user_artists.dat).
    #[arg(long)]
    interactions: std::path::PathBuf,
    /// Tab-separated user, friend with a header line (Last.fm user_friends.dat).
    #[arg(long)]
    friends: Option<std::path::PathBuf>,
    /// pop, itemknn, userknn, rp3, ease, easepop, best, gossip.
    #[arg(long)]
    method: String,
    /// Seed of the 8:1:1 split (and of the simulation).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Evaluate on the validation split instead of test (for tuning).
    #[arg(long)]
    valid: bool,
    /// Gossip rounds to simulate.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// Gossip: print NDCG@10 after every round (JSON: a "curve" array).
    #[arg(long)]
    curve: bool,
    /// Gossip: with `--curve`, evaluate only every N-th round (and the last).
    #[arg(long, default_value_t = 1)]
    curve_every: usize,
    /// Gossip: add this share of fake peers pushing one unpopular artist (e.g. 0.05) and report
    /// that artist's Hit@10 among real users with and without the attack.
    #[arg(long)]
    shill: Option<f32>,
    /// Gossip: turn the Sybil and shilling defences off.
    #[arg(long)]
    no_defences: bool,
    /// Comma-separated tuning knobs `name=value` overriding the chosen hyper-parameters.
    #[arg(long, default_value = "")]
    set: String,
}

struct Knobs(Vec<(String, f32)>);

impl Knobs {
    fn parse(s: &str) -> anyhow::Result<Self> {
        let mut v = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, x) = part.split_once('=').context("--set wants name=value")?;
            v.push((
                k.to_string(),
                x.parse().context("--set value is not a number")?,
            ));
        }
        Ok(Knobs(v))
    }
    fn get(&self, name: &str, default: f32) -> f32 {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or(default, |x| x.1)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let bytes = std::fs::read(&args.interactions)
        .with_context(|| format!("reading {}", args.interactions.display()))?;
    let rows = parse_interactions(&bytes).context("parsing interactions")?;
    let friend_rows = match &args.friends {
        Some(p) => {
            let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            parse_friends(&b).context("parsing friends")?
        }
        None => Vec::new(),
    };
    let data = Dataset::new(&rows, &friend_rows)?;
    let split = split_random(&data.counts, args.seed);
    let knobs = Knobs::parse(&args.set)?;
    // Validation mode: fit on train, rank against validation. Test mode: fit on train, exclude
    // train and validation items (as RecBole's full-sort evaluation does), rank against test.
    let (target, known): (&SparseRows, Vec<&SparseRows>) = if args.valid {
        (&split.valid, vec![&split.train])
    } else {
        (&split.test, vec![&split.train, &split.valid])
    };
    let log = split.train.map_values(|c| Weighting::Log1p.apply(c));
    let bin = split.train.map_values(|c| Weighting::Binary.apply(c));
    let mut extra = serde_json::Map::new();
    let mean = if args.method == "gossip" {
        run_gossip(
            &args,
            &knobs,
            &data,
            &log,
            &split.train,
            &known,
            target,
            &mut extra,
        )?
    } else {
        let (scorer, input) = centralised(&args, &knobs, &data, &split.train, &log, &bin)?;
        evaluate(scorer.as_ref(), input, &known, target, 10)
    };
    let seconds = start.elapsed().as_secs_f64();
    report(&args, &data, &mean, seconds, extra);
    Ok(())
}

/// Fits a centralised method; returns it with the matrix its users' histories come from.
///
/// Defaults were chosen on the validation split of seed 1 (`--valid --set name=value`), never
/// on test: see `BENCHMARKS.md ("Recommender")`.
fn centralised<'a>(
    args: &Args,
    knobs: &Knobs,
    data: &Dataset,
    train: &SparseRows,
    log: &'a SparseRows,
    bin: &'a SparseRows,
) -> anyhow::Result<(Box<dyn Scorer>, &'a SparseRows)> {
    let w = |name: &str, default: f32| -> &'a SparseRows {
        if knobs.get(name, default) > 0.5 {
            log
        } else {
            bin
        }
    };
    // The input of every method but the blend is the weighting it was fitted with.
    let input = w("log", if args.method == "rp3" { 0.0 } else { 1.0 });
    let scorer: Box<dyn Scorer> = match args.method.as_str() {
        "pop" => Box::new(Popularity::fit(train)),
        "itemknn" => {
            let m = w("log", 1.0);
            Box::new(ItemKnn::fit(
                m,
                knobs.get("k", 100.0) as usize,
                knobs.get("shrink", 10.0),
            ))
        }
        "userknn" => {
            let m = w("log", 1.0);
            Box::new(PopularityPenalty::new(
                UserKnn::fit(
                    m,
                    knobs.get("k", 50.0) as usize,
                    knobs.get("shrink", 10.0),
                    knobs.get("alpha", 2.0),
                ),
                train,
                knobs.get("pbeta", 0.0),
            ))
        }
        "rp3" => {
            let m = w("log", 0.0);
            Box::new(ItemKnn::fit_rp3(
                m,
                knobs.get("k", 200.0) as usize,
                knobs.get("alpha", 1.0),
                knobs.get("beta", 0.3),
            ))
        }
        "ease" | "easepop" => {
            // `ease`: plain EASE (λ = 2500); `easepop`: EASE with λ = 3500 and scores divided
            // by popularity^0.2, the member of `best`.
            let pop = args.method == "easepop";
            let m = w("log", 1.0);
            let ease = Ease::fit_with(m, &ease_config(knobs, if pop { 3500.0 } else { 2500.0 }))?;
            Box::new(PopularityPenalty::new(
                FriendInput::new(ease, m, &data.friends, knobs.get("fin", 0.0)),
                train,
                knobs.get("pbeta", if pop { 0.2 } else { 0.0 }),
            ))
        }
        "best" => {
            let ease = PopularityPenalty::new(
                FriendInput::new(
                    Ease::fit_with(log, &ease_config(knobs, 3500.0))?,
                    log,
                    &data.friends,
                    knobs.get("fin", 0.0),
                ),
                train,
                knobs.get("pbeta", 0.2),
            );
            let mut blend = Blend::new().with(knobs.get("w_ease", 1.0), ease);
            // Members with weight 0 (chosen on validation) are not fitted at all.
            let w_rp3 = knobs.get("w_rp3", 0.0);
            if w_rp3 > 0.0 {
                blend = blend.with(
                    w_rp3,
                    ItemKnn::fit_rp3(bin, 200, 1.0, knobs.get("beta", 0.3)),
                );
            }
            let w_uknn = knobs.get("w_uknn", 0.0);
            if w_uknn > 0.0 {
                blend = blend.with(w_uknn, UserKnn::fit(log, 50, 10.0, 2.0));
            }
            let w_friends = knobs.get("w_friends", 0.15);
            if w_friends > 0.0 {
                blend = blend.with(w_friends, Friends::new(log, &data.friends));
            }
            Box::new(blend)
        }
        other => bail!(
            "unknown method {other:?} (pop, itemknn, userknn, ease, easepop, rp3, best, gossip)"
        ),
    };
    Ok((scorer, if args.method == "best" { log } else { input }))
}

/// EASE's options from the knobs (defaults chosen on validation).
fn ease_config(knobs: &Knobs, lambda: f32) -> EaseConfig {
    let d = EaseConfig::default();
    EaseConfig {
        lambda: knobs.get("lambda", lambda),
        min_listeners: knobs.get("minl", d.min_listeners as f32) as u32,
        dropout: knobs.get("dropout", d.dropout),
        zero_diagonal: knobs.get("zd", 1.0) > 0.5,
    }
}

fn report(
    args: &Args,
    data: &Dataset,
    mean: &MetricsMean,
    seconds: f64,
    extra: serde_json::Map<String, serde_json::Value>,
) {
    let m = mean.mean();
    if args.json {
        let mut o = serde_json::Map::new();
        o.insert("method".into(), args.method.clone().into());
        o.insert("seed".into(), args.seed.into());
        o.insert("users".into(), data.users.len().into());
        o.insert("items".into(), data.items.len().into());
        o.insert("ndcg@10".into(), m.ndcg.into());
        o.insert("recall@10".into(), m.recall.into());
        o.insert("precision@10".into(), m.precision.into());
        o.insert("hit@10".into(), m.hit.into());
        o.insert("seconds".into(), seconds.into());
        o.extend(extra);
        println!("{}", serde_json::Value::Object(o));
        return;
    } else {
        println!(
            "{} seed {}: {} users, {} items, {} evaluated on {}; ndcg@10 {:.4} recall@10 {:.4} precision@10 {:.4} hit@10 {:.4} ({:.1} s)",
            args.method,
            args.seed,
            data.users.len(),
            data.items.len(),
            mean.users(),
            if args.valid { "validation" } else { "test" },
            m.ndcg,
            m.recall,
            m.precision,
            m.hit,
            seconds
        );
    }
    for (k, v) in &extra {
        println!("  {k}: {v}");
    }
}

/// Mean metrics of the gossip peers' own recommendations against `target`.
fn gossip_metrics(sim: &GossipSim, known: &[&SparseRows], target: &SparseRows) -> MetricsMean {
    let mut mean = MetricsMean::default();
    for (u, h) in sim.neighbourhoods().iter().enumerate() {
        let relevant = target.row_indices(u);
        if relevant.is_empty() {
            continue;
        }
        let is_known = |k: &Key| {
            let i = k.low_u64() as u32;
            known
                .iter()
                .any(|m| m.row_indices(u).binary_search(&i).is_ok())
        };
        let ranked: Vec<u32> = h
            .recommend(10, is_known, &[], 0.0)
            .iter()
            .map(|r| r.item.low_u64() as u32)
            .collect();
        if let Some(m) = rank_metrics(&ranked, relevant, 10) {
            mean.add(m);
        }
    }
    mean
}

/// Share of real users (who do not know `item`) that get `item` in their top 10.
fn target_hit(sim: &GossipSim, known: &[&SparseRows], item: u32) -> f64 {
    let (mut hits, mut users) = (0usize, 0usize);
    for (u, h) in sim.neighbourhoods().iter().enumerate() {
        if known
            .iter()
            .any(|m| m.row_indices(u).binary_search(&item).is_ok())
        {
            continue;
        }
        users += 1;
        let is_known = |k: &Key| {
            let i = k.low_u64() as u32;
            known
                .iter()
                .any(|m| m.row_indices(u).binary_search(&i).is_ok())
        };
        if h.recommend(10, is_known, &[], 0.0)
            .iter()
            .any(|r| r.item.low_u64() == u64::from(item))
        {
            hits += 1;
        }
    }
    hits as f64 / users.max(1) as f64
}

#[allow(clippy::too_many_arguments)]
fn run_gossip(
    args: &Args,
    knobs: &Knobs,
    data: &Dataset,
    log: &SparseRows,
    train: &SparseRows,
    known: &[&SparseRows],
    target: &SparseRows,
    extra: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<MetricsMean> {
    let defaults = NeighbourhoodConfig::default();
    let neighbourhood = NeighbourhoodConfig {
        exploration: knobs.get("exploration", defaults.exploration),
        alpha: knobs.get("alpha", defaults.alpha),
        item_cap: knobs.get("item_cap", defaults.item_cap),
        clique_threshold: knobs.get("clique", defaults.clique_threshold),
        min_support: knobs.get("min_support", defaults.min_support as f32) as usize,
        untrusted_factor: knobs.get("untrusted", defaults.untrusted_factor),
        trust_exponent: knobs.get("trust_exp", defaults.trust_exponent),
        stream_weight: knobs.get("stream", defaults.stream_weight),
        stream_beta: knobs.get("stream_beta", defaults.stream_beta),
        knn_beta: knobs.get("knn_beta", defaults.knn_beta),
        stream_stranger: knobs.get("stream_stranger", defaults.stream_stranger),
        ease_weight: knobs.get("ease", defaults.ease_weight),
        ease_candidates: knobs.get("ease_m", defaults.ease_candidates as f32) as usize,
        ease_lambda: knobs.get("ease_lambda", defaults.ease_lambda),
        ease_beta: knobs.get("ease_beta", defaults.ease_beta),
        forward_top: knobs.get("ftop", defaults.forward_top as f32) as usize,
        digests: knobs.get("digests", f32::from(u8::from(defaults.digests))) > 0.5,
        ease_new_items: knobs.get("ease_new", f32::from(u8::from(defaults.ease_new_items))) > 0.5,
        rarity: knobs.get("rarity", defaults.rarity),
        admit_forwarded: match knobs.get("admit_fwd", -1.0) {
            x if x < 0.0 => defaults.admit_forwarded,
            x => x as usize,
        },
        defences: !args.no_defences,
        ..defaults
    };
    let mut config = GossipConfig {
        neighbourhood,
        bootstrap: knobs.get("bootstrap", 10.0) as usize,
        seed: args.seed,
        attack: None,
    };
    let run = |config: &GossipConfig,
               curve: bool|
     -> anyhow::Result<(GossipSim, Vec<serde_json::Value>, usize)> {
        let mut sim = GossipSim::new(log, &data.friends, config)?;
        let mut points = Vec::new();
        let mut max_bytes = 0;
        for r in 0..args.rounds {
            let stats = sim.round();
            max_bytes = max_bytes.max(stats.max_bytes);
            if curve && ((r + 1) % args.curve_every.max(1) == 0 || r + 1 == args.rounds) {
                let m = gossip_metrics(&sim, known, target).mean().ndcg;
                if !args.json {
                    println!(
                        "round {:>3}: ndcg@10 {m:.4}, bytes max {} mean {:.0}",
                        r + 1,
                        stats.max_bytes,
                        stats.mean_bytes
                    );
                }
                points.push(serde_json::json!([r + 1, m]));
            }
        }
        Ok((sim, points, max_bytes))
    };
    let (sim, points, max_bytes) = run(&config, args.curve)?;
    let mean = gossip_metrics(&sim, known, target);
    extra.insert("rounds".into(), args.rounds.into());
    extra.insert("defences".into(), (!args.no_defences).into());
    extra.insert("peers_seen_max".into(), sim.peers_seen_max().into());
    let streamed: usize = sim
        .neighbourhoods()
        .iter()
        .map(|h| h.stream().peers())
        .sum();
    extra.insert(
        "stream_peers_mean".into(),
        (streamed as f64 / sim.neighbourhoods().len().max(1) as f64).into(),
    );
    let hoods = sim.neighbourhoods().len().max(1) as f64;
    let co = |f: &dyn Fn(&busker_recommender::CoStream) -> f64| -> f64 {
        sim.neighbourhoods()
            .iter()
            .map(|h| f(h.co_stream()))
            .sum::<f64>()
            / hoods
    };
    extra.insert("co_tracked_mean".into(), co(&|c| c.tracked() as f64).into());
    extra.insert("co_total_mean".into(), co(&|c| f64::from(c.total())).into());
    extra.insert("bytes_per_peer_round".into(), max_bytes.into());
    if args.curve {
        extra.insert("curve".into(), points.into());
    }
    if let Some(share) = args.shill {
        // The pushed artist: an unpopular one (2 to 5 training listeners), chosen by the seed.
        let counts = train.column_counts();
        let mut unpopular: Vec<u32> = (0..counts.len() as u32)
            .filter(|&i| (2..=5).contains(&counts[i as usize]))
            .collect();
        unpopular.sort_unstable();
        let pick = unpopular
            .get((args.seed as usize * 7919) % unpopular.len().max(1))
            .copied();
        let item = pick.context("no unpopular artist to push")?;
        let mut popular: Vec<u32> = (0..counts.len() as u32).collect();
        popular.sort_by_key(|&i| std::cmp::Reverse(counts[i as usize]));
        popular.truncate(100);
        let before = target_hit(&sim, known, item);
        drop(sim);
        config.attack = Some(Attack {
            fakes: (share * data.users.len() as f32).round() as usize,
            target: item,
            filler: popular,
            filler_per_profile: 30,
        });
        let (attacked, _, _) = run(&config, false)?;
        let after = target_hit(&attacked, known, item);
        let m = gossip_metrics(&attacked, known, target).mean();
        extra.insert("shill_item".into(), data.items[item as usize].into());
        extra.insert(
            "shill_fakes".into(),
            config.attack.as_ref().map_or(0, |a| a.fakes).into(),
        );
        extra.insert("shill_hit@10_before".into(), before.into());
        extra.insert("shill_hit@10_after".into(), after.into());
        extra.insert(
            "shill_rise_points".into(),
            (100.0 * (after - before)).into(),
        );
        extra.insert("ndcg@10_under_attack".into(), m.ndcg.into());
    }
    Ok(mean)
}
