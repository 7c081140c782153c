#!/usr/bin/env python3
"""How much any early-stopping rule that waits for finished children could
save with the predictor, on each recorded learning-curve table.

For each table, `nas-controller simulate search --record-runs` records the
predictor's children one at a time (`--batch-size 1`, seeds 0 to
`--seeds` - 1), as it searches with `none`. An oracle rule then replays
each run: it knows every child's final score (the best of its last five
epochs, as the early-stopping section ranks them), lets the first `m`
children finish, trains every later child one epoch unless it is in the
table's top 1% (which it trains to the end). Its training seconds until
the first top-1% child finishes, over `none`'s, is a bound no real rule
of that kind can beat (a real one must also learn what the oracle knows,
and its stops change what the search proposes next). Printed as the
median over seeds for each `m`, and written with every seed's figure to
`--out`. A run that never reaches the top 1% within its 300 recorded
children is left out and listed as censored (none so far).

    python3 bench/stopping_bound.py --bin target/release/nas-controller [--seeds 200] [--out FILE]

Not part of `make bench`; the figures are quoted in
`bench/sections/early_stopping.md`.
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = [("cifar10-small-curves-10k", "small-cnn"), ("cifar10-tiny-curves-10k", "tiny-cnn"),
          ("cifar10-tiny-curves", "tiny-cnn"), ("cifar10-tiny-curves-lr002", "tiny-cnn")]
WAITS = [8, 5, 3, 2, 1]


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def record(binary, name, space, seeds, folder):
    """Each seed's distinct children, in the order the predictor proposed them."""
    path = os.path.join(folder, f"{name}.jsonl")
    subprocess.run([binary, "simulate", "search", "--oracle",
                    f"curves:{os.path.join(ROOT, 'bench', 'tables', name)}.jsonl#valid_accuracy",
                    "--space-file", os.path.join(ROOT, "bench", "spaces", f"{space}.toml"),
                    "--strategies", "predictor", "--children", "300", "--seeds", str(seeds),
                    "--batch-size", "1", "--record-runs", path], check=True, stdout=subprocess.DEVNULL)
    runs = {}
    with open(path) as lines:
        for child in map(json.loads, lines):
            run = runs.setdefault(child["seed"], [])
            if child["arch_id"] not in run:  # a repeat reuses its reward and costs nothing
                run.append(child["arch_id"])
    return runs


def bound(name, runs):
    with open(os.path.join(ROOT, "bench", "tables", f"{name}.jsonl")) as lines:
        rows = {row["arch_id"]: row for row in map(json.loads, lines)}
    final = {arch: max(row["valid_accuracy"][-5:]) for arch, row in rows.items()}
    # The top 1%: every row at or above the score of the ⌈1%⌉-th best (ties count).
    cut = sorted(final.values(), reverse=True)[math.ceil(0.01 * len(rows)) - 1]
    top = {arch for arch, score in final.items() if score >= cut}
    full = {arch: sum(row["epoch_seconds"]) for arch, row in rows.items()}
    first = {arch: row["epoch_seconds"][0] for arch, row in rows.items()}
    seeds, censored = {}, []
    for seed, run in sorted(runs.items()):
        hit = next((at for at, arch in enumerate(run) if arch in top), None)
        if hit is None:  # never reached within the recorded children: left out, and counted
            censored.append(seed)
            continue
        none = sum(full[arch] for arch in run[:hit + 1])
        ratios = {}
        for wait in WAITS:
            oracle = (sum(full[arch] for arch in run[:min(wait, hit)])
                      + sum(first[arch] for arch in run[wait:hit]) + full[run[hit]])
            ratios[str(wait)] = oracle / none
        seeds[str(seed)] = {"children_to_top": hit + 1, "none_seconds": none, "oracle_vs_none": ratios}
    return {"rows": len(rows), "top": len(top), "censored_seeds": censored,
            "median_children_to_top": median([s["children_to_top"] for s in seeds.values()]),
            "median_oracle_vs_none": {str(w): median([s["oracle_vs_none"][str(w)] for s in seeds.values()])
                                      for w in WAITS},
            "seeds": seeds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the nas-controller binary")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--out", help="where to write every seed's figures (JSON)")
    parser.add_argument("--machine", default="", help="the machine, for the results file")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short=8", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, space in TABLES:
            report[name] = bound(name, record(args.bin, name, space, args.seeds, folder))
            print(f"{name}: top {report[name]['top']} of {report[name]['rows']}, the predictor reaches it after "
                  f"{report[name]['median_children_to_top']} children (median); oracle rule over none, by "
                  f"children it waits for: "
                  + ", ".join(f"{w}: {v:.3f}" for w, v in report[name]["median_oracle_vs_none"].items()))
    if args.out:
        meta = {"date": datetime.date.today().isoformat(), "machine": args.machine, "commit": commit,
                "command": f"python3 bench/stopping_bound.py --seeds {args.seeds}", "what": __doc__.split("\n\n")[1]}
        with open(args.out, "w") as out:
            json.dump({**meta, "tables": report}, out, indent=1)


if __name__ == "__main__":
    main()
