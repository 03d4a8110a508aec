//! `busker-eval`: offline evaluation of Busker's recommenders on Last.fm-style data.
//!
//! See `CLI.md` ("Evaluation binary") for the contract and `recommender/RESULTS.md` for figures.

use std::time::Instant;

use anyhow::{Context, bail};
use busker_recommender::{
    Blend, Dataset, Ease, Friends, ItemKnn, Popularity, Scorer, SparseRows, UserKnn, Weighting,
    evaluate, parse_friends, parse_interactions, split_random,
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
    /// pop, itemknn, userknn, ease, best, gossip.
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
    let w = |name: &str, default: f32| -> &SparseRows {
        if knobs.get(name, default) > 0.5 {
            &log
        } else {
            &bin
        }
    };
    let mut extra = serde_json::Map::new();
    let scorer: Box<dyn Scorer> = match args.method.as_str() {
        "pop" => Box::new(Popularity::fit(&split.train)),
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
            Box::new(UserKnn::fit(
                m,
                knobs.get("k", 50.0) as usize,
                knobs.get("shrink", 10.0),
                knobs.get("alpha", 1.0),
            ))
        }
        "ease" => {
            let m = w("log", 1.0);
            Box::new(Ease::fit(
                m,
                knobs.get("lambda", 200.0),
                knobs.get("minl", 3.0) as u32,
            )?)
        }
        "best" => {
            let m = w("log", 1.0);
            let ease = Ease::fit(m, knobs.get("lambda", 200.0), knobs.get("minl", 3.0) as u32)?;
            let iknn = ItemKnn::fit(m, 100, 10.0);
            let uknn = UserKnn::fit(m, 50, 10.0, 1.0);
            let friends = Friends::new(m, &data.friends);
            Box::new(
                Blend::new()
                    .with(knobs.get("w_ease", 1.0), ease)
                    .with(knobs.get("w_iknn", 0.2), iknn)
                    .with(knobs.get("w_uknn", 0.2), uknn)
                    .with(knobs.get("w_friends", 0.1), friends),
            )
        }
        other => bail!("unknown method {other:?} (pop, itemknn, userknn, ease, best, gossip)"),
    };
    let input = w("log", 1.0).clone();
    let mean = evaluate(scorer.as_ref(), &input, &known, target, 10);
    let m = mean.mean();
    let seconds = start.elapsed().as_secs_f64();
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
        o.extend(extra.clone());
        println!("{}", serde_json::Value::Object(o));
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
    extra.clear();
    Ok(())
}
