#!/usr/bin/env python3
"""Where a NAS-Bench-Graph table's top is, and where a search's samples go.

For each table, three views of why the top 0.1% is hard to reach:

- the ceiling of a model of the decisions: a ridge fit (`lsqr` damping
  0.3, a penalty of 0.09 on each squared weight) of every row's
  normal-scored validation rank (ties share their average rank) on
  one-hot decision values
  (order 1), also pairs of decisions (order 2, the predictor's model) and
  also triples (order 3), fitted to all 59,049 rows at once: the share of
  its top-1% rows that are in the table's top 1%, the share of its top-10%
  rows in the top 10%, and the position of the first top-0.1% row in its
  order (what a search would meet with a perfect fit of that order);
- the neighbourhood: over the top-1% rows outside the top 0.1%, the share
  of their one-decision neighbours in the top 10%, 1% and 0.1% (what a
  search choosing among those neighbours at random gets), and the share of
  those rows with a top-0.1% row within one and within two decisions;
- with `--runs FILE` (files of `nas-controller simulate search
  --record-runs`, gzipped or not, one strategy's runs on that table each):
  the share of each run's samples in the top 10%, 1% and 0.1%, by window of
  samples, averaged over runs, beside the median samples to the first
  top-1% and top-0.1% row; the share of the children from the 30th up to
  a run's first top-0.1% child that are in the top 0.1% (pooled over
  runs: the chance per sample while a run still looks); and the share of
  children after the 100th that repeat an architecture the run trained
  before.

    python3 bench/landscape.py [--tables ../shared/data/nas-bench-graph]
        [--table cora] [--runs cora=FILE ...]

Needs numpy and scipy (not part of `make bench`); the figures are quoted in
`bench/sections/tabular.md`. Missing rows count as reward 0, as the bench's
`--missing-reward 0` does; the top k% is, as in `simulate`, every row at
least as good as the ⌈k·rows⌉-th best of the table's rows (ties included).
"""
import argparse
import gzip
import itertools
import json
import math
import os

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.linalg import lsqr
from scipy.stats import norm, rankdata

TABLES = ["cora", "citeseer", "pubmed"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINKS = ["0000", "0001", "0011", "0012", "0013", "0111", "0112", "0122", "0123"]
OPS = ["gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip"]
DECISIONS, OPTIONS = 5, 9
WINDOWS = [(0, 10), (10, 50), (50, 100), (100, 200), (200, 400), (400, 1000)]
LOOKING_FROM = 30


def index(link, ops):
    """A tuple's position in the full space (link first, then ops[0..3])."""
    position = LINKS.index(link)
    for op in ops:
        position = position * OPTIONS + OPS.index(op)
    return position


def read_table(path):
    """Every tuple's validation accuracy (0 where the table lacks it) and
    the table's own values."""
    values, rows = np.zeros(OPTIONS**DECISIONS), []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            row = json.loads(line)
            values[index(row["link"], row["ops"])] = row["valid_perf"]
            rows.append(row["valid_perf"])
    return values, np.array(rows)


def thresholds(rows):
    """The accuracy a row needs to be in the top 0.1%, 1% and 10%, as
    `simulate` counts them: the ⌈k·rows⌉-th best of the table's rows."""
    ordered = np.sort(rows)[::-1]
    return {share: ordered[math.ceil(len(rows) * share) - 1] for share in (0.001, 0.01, 0.1)}


def tokens():
    """Every tuple's decisions, in the order of `index`."""
    return np.array(list(itertools.product(range(OPTIONS), repeat=DECISIONS)))


def features(grid, order):
    """One-hot features of every group of up to `order` decisions."""
    rows, columns, offset = [], [], 0
    for size in range(1, order + 1):
        for group in itertools.combinations(range(DECISIONS), size):
            value = np.zeros(len(grid), dtype=np.int64)
            for decision in group:
                value = value * OPTIONS + grid[:, decision]
            rows.append(np.arange(len(grid)))
            columns.append(offset + value)
            offset += OPTIONS**size
    rows, columns = np.concatenate(rows), np.concatenate(columns)
    return csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(grid), offset))


def ceiling(values, grid, top):
    """For orders 1 to 3: precision at the top 1% and 10%, first top-0.1% position."""
    scores = norm.ppf((rankdata(values, method="average") - 0.5) / len(values))
    out = {}
    for order in (1, 2, 3):
        fit = features(grid, order) @ lsqr(features(grid, order), scores, damp=0.3)[0]
        by_fit = values[np.argsort(-fit, kind="stable")]
        n1, n10 = (values >= top[0.01]).sum(), (values >= top[0.1]).sum()
        out[order] = {
            "precision_top1": float((by_fit[:n1] >= top[0.01]).mean()),
            "precision_top10": float((by_fit[:n10] >= top[0.1]).mean()),
            "first_top01_position": int(np.argmax(by_fit >= top[0.001]) + 1),
        }
    return out


def neighbourhood(values, grid, top):
    """Over the top-1% rows outside the top 0.1%: the shares of their
    one-decision neighbours in each top, and how near the top 0.1% is."""
    weights = OPTIONS ** np.arange(DECISIONS - 1, -1, -1)
    best = grid[values >= top[0.001]]
    shares, nearest = [], []
    for row in np.where((values >= top[0.01]) & (values < top[0.001]))[0]:
        nearest.append((best != grid[row]).sum(axis=1).min())
        around = []
        for decision in range(DECISIONS):
            for option in range(OPTIONS):
                if option != grid[row, decision]:
                    moved = grid[row].copy()
                    moved[decision] = option
                    around.append(moved @ weights)
        near = values[around]
        shares.append([(near >= top[share]).mean() for share in (0.1, 0.01, 0.001)])
    nearest = np.array(nearest)
    out = dict(zip(("top10", "top1", "top01"), np.mean(shares, axis=0).tolist()))
    out["with_top01_within_1"] = float((nearest <= 1).mean())
    out["with_top01_within_2"] = float((nearest <= 2).mean())
    return out


def read_runs(path, values):
    """Each recorded run's samples as table accuracies and arch ids, by
    seed; a file of several strategies' runs is refused."""
    with open(path, "rb") as file:
        opener = gzip.open if file.read(2) == b"\x1f\x8b" else open
    runs, strategies = {}, set()
    with opener(path, "rt") as lines:
        for line in lines:
            child = json.loads(line)
            strategies.add(child["strategy"])
            if len(strategies) > 1:
                raise SystemExit(f"{path}: runs of several strategies ({', '.join(sorted(strategies))}); "
                                 "record one strategy per file")
            decisions = child["spec"]["decisions"]
            ops = [decisions[f"ops[{i}]"] for i in range(4)]
            run = runs.setdefault(child["seed"], ([], []))
            run[0].append(values[index(decisions["link"], ops)])
            run[1].append(child["arch_id"])
    return {seed: (np.array(samples), ids) for seed, (samples, ids) in runs.items()}


def repeats_after(runs, start=100):
    """The share of children after the `start`-th that repeat an
    architecture trained earlier in the same run."""
    repeated = total = 0
    for _, ids in runs.values():
        seen = set(ids[:start])
        for arch in ids[start:]:
            repeated += arch in seen
            total += 1
            seen.add(arch)
    return repeated / max(1, total)


def where_samples_go(runs, top):
    """Median samples to the top 1% and 0.1%, and each window's shares."""
    def first(samples, share):
        hits = np.where(samples >= top[share])[0]
        return hits[0] + 1 if len(hits) else np.inf

    samples = [s for s, _ in runs.values()]
    out = {"runs": len(runs)}
    for share, name in ((0.01, "top1"), (0.001, "top01")):
        out[f"median_samples_to_{name}"] = float(np.median([first(s, share) for s in samples]))
    looking = [s[LOOKING_FROM:int(min(first(s, 0.001), len(s)))] for s in samples]
    out[f"top01_share_from_{LOOKING_FROM}_to_first_hit"] = float(
        sum((s >= top[0.001]).sum() for s in looking) / max(1, sum(len(s) for s in looking)))
    out["repeat_share_after_100"] = float(repeats_after(runs))
    for start, end in WINDOWS:
        windows = [s[start:end] for s in samples if len(s) > start]
        if windows:
            out[f"{start}-{end}"] = {
                name: float(np.mean([(w >= top[share]).mean() for w in windows]))
                for share, name in ((0.1, "top10"), (0.01, "top1"), (0.001, "top01"))
            }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default=os.path.join(ROOT, "..", "shared", "data", "nas-bench-graph"))
    parser.add_argument("--table", action="append", choices=TABLES, help="default: all three")
    parser.add_argument("--runs", action="append", default=[], metavar="TABLE=FILE",
                        help="a --record-runs file of one strategy's runs on TABLE (repeatable)")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        table, _, path = item.partition("=")
        if table not in TABLES or not path:
            parser.error(f"--runs takes TABLE=FILE with TABLE one of {', '.join(TABLES)}, not {item!r}")
        runs.setdefault(table, []).append(path)
    grid = tokens()
    report = {}
    for table in args.table or TABLES:
        values, rows = read_table(os.path.join(args.tables, f"{table}.jsonl.gz"))
        top = thresholds(rows)
        report[table] = {
            "thresholds": {str(k): float(v) for k, v in top.items()},
            "ceiling": ceiling(values, grid, top),
            "neighbours_of_top1": neighbourhood(values, grid, top),
            "runs": {path: where_samples_go(read_runs(path, values), top) for path in runs.get(table, [])},
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
