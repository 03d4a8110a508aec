#!/usr/bin/env bash
# Summarises the output of recommender-seeds.sh: mean and sample standard deviation per method.
#   bash benches/recommender-summary.sh < /tmp/seeds.jsonl
set -euo pipefail
python3 -c '
import json, sys, statistics as st
rows = [json.loads(l) for l in sys.stdin if l.strip()]
groups = {}
for r in rows:
    key = r["method"]
    if "shill_rise_points" in r:
        key += " --shill 0.05" + (" --no-defences" if r.get("defences") is False else "")
    groups.setdefault(key, []).append(r)
fields = ["ndcg@10", "recall@10", "precision@10", "hit@10", "seconds", "bytes_per_peer_round",
          "peers_seen_max", "shill_rise_points", "shill_hit@10_before", "shill_hit@10_after",
          "ndcg@10_under_attack"]
for k, rs in groups.items():
    out = [k, "n=%d" % len(rs)]
    for f in fields:
        xs = [r[f] for r in rs if f in r]
        if xs:
            sd = st.stdev(xs) if len(xs) > 1 else 0.0
            out.append("%s %.4f ± %.4f" % (f, st.mean(xs), sd))
    print(" | ".join(out))
    for r in rs:
        if "curve" in r:
            # Points are [round, ndcg] pairs (older runs: one ndcg per round).
            pts = [p if isinstance(p, list) else [i + 1, p] for i, p in enumerate(r["curve"])]
            print("  curve seed %d (round:ndcg@10):" % r["seed"], " ".join("%d:%.4f" % (a, b) for a, b in pts))
'
