#!/usr/bin/env python3
"""Checks that workspace dependencies point one way: busker -> busker-core -> busker-recommender.

The recommender knows no network, storage or GUI; the core knows no GUI. Read from
`cargo metadata` so that the check follows Cargo.toml, not a copy of it.
"""
import json
import subprocess
import sys

FORBIDDEN = {
    # package: dependency names it must not have (normal or build dependencies)
    "busker-recommender": {"busker-core", "busker", "libp2p", "sled", "tantivy", "tokio",
                           "egui", "eframe", "symphonia"},
    "busker-core": {"busker", "egui", "eframe", "egui_kittest"},
}

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"]))
errors = []
for pkg in meta["packages"]:
    banned = FORBIDDEN.get(pkg["name"], set())
    for dep in pkg["dependencies"]:
        if dep.get("kind") in (None, "build") and dep["name"] in banned:
            errors.append(f'{pkg["name"]} must not depend on {dep["name"]}')
for e in errors:
    print("error:", e, file=sys.stderr)
if errors:
    sys.exit(1)
print("ok: dependencies point app -> core -> recommender")
