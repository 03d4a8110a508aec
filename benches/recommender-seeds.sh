#!/usr/bin/env bash
# Runs busker-eval for every method over seeds 1..5 on the Last.fm data and prints one JSON
# object per run (the figures behind recommender/RESULTS.md). Usage, from the repository root:
#   cargo build -p busker-recommender --release
#   bash benches/recommender-seeds.sh > /tmp/seeds.jsonl
set -euo pipefail
BIN=${BIN:-target/release/busker-eval}
D=data/lastfm-hetrec2011
COMMON=(--interactions "$D/user_artists.dat" --friends "$D/user_friends.dat" --json)
for seed in 1 2 3 4 5; do
  for method in pop itemknn userknn rp3 ease best gossip; do
    "$BIN" "${COMMON[@]}" --method "$method" --seed "$seed"
  done
  "$BIN" "${COMMON[@]}" --method gossip --seed "$seed" --curve --shill 0.05
  "$BIN" "${COMMON[@]}" --method gossip --seed "$seed" --shill 0.05 --no-defences
done
