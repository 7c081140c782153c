#!/usr/bin/env python3
"""`make bench`: the benchmark suite.

Measures the system against its peers and its limits, one section at a
time, and writes `bench/results/<section>.json` plus
`bench/results/summary.json` (one row per figure: name, value, unit, goal
or null, met, and the date, machine and commit it was measured on; goals
and reported figures apart, see bench/lib/rows.py) and prints the summary
table. Comparisons are ratios measured side by side in the same run;
absolute figures carry the machine and the date.

Sections (all by default; `--only a,b` picks some):

  train       nas-worker train against PyTorch eager on the same spec, data,
              threads and batch size: 3 CNN depths and 3 cell sizes
  pipeline    a warm real worker over RabbitMQ and S3: publication to result
              minus training time, and receipt to first training step
  dispatch    jobs per second through the controller with surrogate workers
              answering at once (also the controller's memory at N children)
  scaling     children per minute with 1, 2, 4, 8 surrogate workers
  controller  sampling and one REINFORCE step per child, 6/15/39 layers
  search      REINFORCE, random search and evolution on the synthetic oracle
              and on a recorded reward table, 10 seeds: table and SVG plot
  memory      peak resident memory of a worker training a 15-layer CNN
  tabular     the default strategy, evolution, random search and REINFORCE
              on the three NAS-Bench-Graph tables (../shared/data/nas-bench-graph),
              2,000 samples, seeds 0-199: samples to the top 1% and 0.1% with
              bootstrap intervals and random's exact median, the test
              accuracy of the pick after 50..500 samples, one SVG per table
  cnn_tables  the same strategies on the recorded CIFAR-10 tables as tabular
              oracles (512 and 128 CNN architectures, validation accuracy
              after 10 epochs), 300 samples, seeds 0-199: samples to the top 1%
  early_stopping
              the stopping rules (none, median, asha, predict) with the
              predictor, REINFORCE and
              random search on the recorded CIFAR-10 learning curves
              (bench/tables/cifar10-small-curves-10k.jsonl, 512
              architectures, and cifar10-tiny-curves-10k.jsonl, 128; the
              older cifar10-tiny-curves.jsonl for contrast), seeds 0-199 at
              equal training seconds
              (1.3 times the table's cost): seconds to the top-1%
              architecture, the best validation found, and how well early
              epochs predict the last; ASHA with promotions (simulated only)
              reported beside them
  pareto      multi-objective search on the NAS-Bench-Graph tables: the
              default strategy, evolution and random search for accuracy
              against latency (MnasNet's shaped reward), 4,000 samples,
              seeds 0-199: samples to 0.99 of the true front's hypervolume
  staleness   REINFORCE with 8, 64 and 256 children in flight (asynchronous
              simulation, log-normal training times), rewards kept, dropped
              past 8 versions or importance-weighted: samples to the top 0.1%
              and test value at 500 on NAS-Bench-Graph cora (2,000 samples,
              20 seeds) and the best reward on the synthetic CNN oracle

It expects the binaries in target/release (or --bin-dir), RabbitMQ at
NAS_BROKER_URI (default local guest) and an S3 server in NAS_S3_* (make
bench starts both, as make test does); without NAS_S3_BUCKET the
distributed sections use a local store directory. Each section is a
module of bench/sections/; `python3 bench/docs.py` turns the results into
docs/src/benchmarks/.
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.context import BENCH, ROOT, TABLES, Bench  # noqa: E402
from lib.rows import current_runs, goals_line, load_summary, print_table, row_line, summary  # noqa: E402
from sections import SECTIONS, load  # noqa: E402


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR",
                                                                         os.path.join(ROOT, "target")), "release"))
    parser.add_argument("--results", default=os.path.join(BENCH, "results"))
    parser.add_argument("--cifar", default=os.path.join(ROOT, "..", "shared", "data", "cifar-10-binary.tar.gz"))
    parser.add_argument("--ptb", default=os.path.join(ROOT, "..", "shared", "data", "ptb"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu",
                        help="where the train and memory sections train: cpu or cuda (bench/gpu.sh does more)")
    parser.add_argument("--cnn-images", type=int, default=512,
                        help="training images of the 12-layer child (x2 for 6 layers, x4 for 3)")
    parser.add_argument("--ptb-tokens", type=int, default=28000)
    parser.add_argument("--pipeline-children", type=int, default=22)
    parser.add_argument("--dispatch-children", type=int, default=10000)
    parser.add_argument("--dispatch-workers", type=int, default=4)
    parser.add_argument("--scaling-delay-ms", type=int, default=500)
    parser.add_argument("--scaling-jobs-per-worker", type=int, default=24)
    parser.add_argument("--search-budget", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tables", default=os.path.join(ROOT, "..", "shared", "data", "nas-bench-graph"))
    parser.add_argument("--tabular-budget", type=int, default=2000)
    parser.add_argument("--tabular-seeds", type=int, default=200)
    parser.add_argument("--tabular-first-seed", type=int, default=0,
                        help="tabular: 0 reports (seeds 0-199); settings are tuned on seeds from 1000")
    parser.add_argument("--cnn-tables-budget", type=int, default=300)
    parser.add_argument("--stopping-seeds", type=int, default=200)
    parser.add_argument("--stopping-budget", type=float, default=1.3,
                        help="early_stopping: training seconds per run, in multiples of training the whole table once")
    parser.add_argument("--pareto-objective", default="mnas:latency:0.005")
    parser.add_argument("--pareto-budget", type=int, default=4000)
    parser.add_argument("--pareto-default-budget", type=int, default=1000,
                        help="pareto: samples of the default strategy (evolution and random: --pareto-budget)")
    parser.add_argument("--pareto-seeds", type=int, default=200)
    parser.add_argument("--pareto-first-seed", type=int, default=0)
    parser.add_argument("--staleness-table", default="cora", choices=TABLES)
    parser.add_argument("--staleness-budget", type=int, default=2000)
    parser.add_argument("--staleness-seeds", type=int, default=20)
    parser.add_argument("--warm-budget", type=int, default=1000)
    parser.add_argument("--warm-seeds", type=int, default=200)
    parser.add_argument("--warm-first-seed", type=int, default=0,
                        help="warm_start: 0 reports (seeds 0-199); settings are tuned on seeds from 1000")
    parser.add_argument("--warm-children", type=int, default=2000,
                        help="warm_start: rows of each source table a run learns from")
    parser.add_argument("--warm-unrelated-seeds", type=int, default=50,
                        help="warm_start: runs with a source of no decision in common (checked against cold)")
    return parser


def run_sections(bench, selected):
    """Runs the selected sections in order; returns their rows and seconds."""
    rows, seconds = [], {}
    for section in SECTIONS:
        if section in selected:
            print(f"== {section}", flush=True)
            t0 = time.time()
            section_rows = load(section).run(bench)
            for row in section_rows:
                print(row_line(row), flush=True)
            rows += section_rows
            seconds[section] = round(time.time() - t0, 1)
            print(f"   ({seconds[section]:.0f} s)", flush=True)
    return rows, seconds


def main():
    parser = arguments()
    args = parser.parse_args()
    selected = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(selected) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    bench = Bench(args)
    started = time.time()
    try:
        rows, seconds = run_sections(bench, selected)
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    total = time.time() - started
    today = time.strftime("%Y-%m-%d")
    run = {"date": today, "machine": bench.machine, "commit": bench.commit, "seconds": round(total, 1),
           "sections": seconds}
    path = os.path.join(args.results, "summary.json")
    kept, runs = [], [run]
    if set(selected) != set(SECTIONS):
        # A partial run updates its own rows and keeps the others.
        previous_rows, previous_runs = load_summary(path)
        kept = [r for r in previous_rows if r["section"] not in selected]
        runs = current_runs(previous_runs + [run])
    everything = kept + rows
    with open(path, "w") as f:
        json.dump(summary(everything, runs, today), f, indent=2)
    print_table(rows)
    print(f"\n{len(rows)} figures: {goals_line(rows)}; {total:.0f} s; "
          f"wrote {os.path.relpath(args.results, ROOT)}/summary.json ({goals_line(everything)} in all)")


if __name__ == "__main__":
    main()
