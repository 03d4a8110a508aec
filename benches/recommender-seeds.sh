#!/usr/bin/env bash
# Runs busker-eval for every method over seeds 1..5 and prints one JSON object per run (the
# figures behind BENCHMARKS.md ("Recommender")). DATA=lastfm (default: Last.fm HetRec 2011 with
# its friend graph) or DATA=insteval (lme4's InstEval ratings, no friend graph; adds `ease` with
# the λ chosen on InstEval's validation, as "ease-lambda60"). The NDCG-per-round curve is
# computed for seed 1 only, every 5 rounds, in a run of its own (it evaluates every peer,
# fitting each one's local EASE, at every point), so the timed runs stay clean. Usage, from the
# repository root:
#   cargo build -p busker-recommender --release
#   bash benches/recommender-seeds.sh > /tmp/seeds.jsonl
#   bash benches/recommender-summary.sh < /tmp/seeds.jsonl
set -euo pipefail
BIN=${BIN:-target/release/busker-eval}
SEEDS=${SEEDS:-1 2 3 4 5}
DATA=${DATA:-lastfm}
case "$DATA" in
  lastfm)
    D=data/lastfm-hetrec2011
    COMMON=(--interactions "$D/user_artists.dat" --friends "$D/user_friends.dat" --json)
    ;;
  insteval)
    COMMON=(--interactions data/insteval/ratings.tsv --json)
    ;;
  *)
    echo "DATA must be lastfm or insteval, not $DATA" >&2
    exit 2
    ;;
esac
for seed in $SEEDS; do
  for method in pop itemknn userknn rp3 ease easepop best gossip; do
    "$BIN" "${COMMON[@]}" --method "$method" --seed "$seed"
  done
  if [ "$DATA" = insteval ]; then
    "$BIN" "${COMMON[@]}" --method ease --seed "$seed" --set lambda=60 | sed 's/"method":"ease"/"method":"ease-lambda60"/'
  fi
  "$BIN" "${COMMON[@]}" --method gossip --seed "$seed" --shill 0.05
  if [ "$seed" = 1 ]; then
    "$BIN" "${COMMON[@]}" --method gossip --seed "$seed" --curve --curve-every 5 | sed 's/"method":"gossip"/"method":"gossip-curve"/'
  fi
  "$BIN" "${COMMON[@]}" --method gossip --seed "$seed" --shill 0.05 --no-defences
done
