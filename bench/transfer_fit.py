#!/usr/bin/env python3
"""What a warm start's sources say about a NAS-Bench-Graph table's top,
as the predictor would read them: for each target table, `--rows` random
rows of each of the other two (their validation accuracy ranked within
their table, as a warm start ranks rewards within each source) fitted with
the predictor's model (an intercept, one weight per decision value and per
pair of values of two decisions, prior precisions 1e-6, 1 and 0.3), every
row of the target ordered by that fit, and the position of the first row
of the target's top 1% and top 0.1% in that order: median and quartiles
over `--draws` draws of the source rows.

    python3 bench/transfer_fit.py [--tables ../shared/data/nas-bench-graph] [--rows 2000] [--draws 50]

Needs numpy (not part of `make bench`); the figures are quoted in
`bench/sections/warm_start.md`.
"""
import argparse
import gzip
import itertools
import json
import os

import numpy as np

TABLES = ["cora", "citeseer", "pubmed"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRECISION = {"intercept": 1e-6, "main": 1.0, "pair": 0.3}


def read(path):
    """Each row's decisions and validation accuracy, in file order."""
    with gzip.open(path, "rt") as rows:
        rows = [json.loads(line) for line in rows]
    return [(row["link"], *row["ops"]) for row in rows], np.array([row["valid_perf"] for row in rows])


def features(keys):
    """Each row's active features (one per group) and how many there are."""
    options = [sorted({key[d] for key in keys}) for d in range(len(keys[0]))]
    tokens = np.array([[options[d].index(value) for d, value in enumerate(key)] for key in keys])
    groups, first = [np.zeros(len(keys), dtype=int)], 1
    for d, opts in enumerate(options):
        groups.append(first + tokens[:, d])
        first += len(opts)
    mains = first
    for a, b in itertools.combinations(range(len(options)), 2):
        groups.append(first + tokens[:, a] * len(options[b]) + tokens[:, b])
        first += len(options[a]) * len(options[b])
    precision = np.full(first, PRECISION["pair"])
    precision[0], precision[1:mains] = PRECISION["intercept"], PRECISION["main"]
    return np.stack(groups, axis=1), precision


def ranks(values):
    """Ranks from 0 (lowest) to 1, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    out = np.empty(len(values))
    out[order] = np.repeat(first + (counts - 1) / 2, counts)
    return out / (len(values) - 1)


def fit(active, precision, rows, targets):
    x = np.zeros((len(rows), len(precision)))
    np.put_along_axis(x, active[rows], 1.0, axis=1)
    return np.linalg.solve(x.T @ x + np.diag(precision), x.T @ targets)


def top(values, fraction):
    return values >= np.sort(values)[::-1][int(len(values) * fraction) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=os.path.join(ROOT, "..", "shared", "data", "nas-bench-graph"))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    tables = {name: read(os.path.join(args.tables, f"{name}.jsonl.gz")) for name in TABLES}
    keys = tables[TABLES[0]][0]
    assert all(tables[name][0] == keys for name in TABLES), "the tables list their rows in one order"
    active, precision = features(keys)
    rng = np.random.default_rng(args.seed)
    for name in TABLES:
        target = tables[name][1]
        firsts = {0.01: [], 0.001: []}
        for _ in range(args.draws):
            rows, targets = [], []
            for source in TABLES:
                if source != name:
                    drawn = rng.choice(len(keys), args.rows, replace=False)
                    rows.append(drawn)
                    targets.append(ranks(tables[source][1][drawn]))
            theta = fit(active, precision, np.concatenate(rows), np.concatenate(targets))
            order = np.argsort(-theta[active].sum(axis=1), kind="stable")
            for fraction, found in firsts.items():
                found.append(int(np.argmax(top(target, fraction)[order])) + 1)
        print(name, *(f"top {fraction:.1%}: first at median {np.median(found):g} "
                      f"(quartiles {np.percentile(found, 25):g}, {np.percentile(found, 75):g})"
                      for fraction, found in firsts.items()))


if __name__ == "__main__":
    main()
