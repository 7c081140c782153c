"""Multi-objective search on the NAS-Bench-Graph tables: REINFORCE and
random search for accuracy against latency (MnasNet's shaped reward),
500 samples, 10 seeds: hypervolume of the front found against the
table's true front."""
import os

from lib.context import BENCH, TABLES
from lib.markdown import quartiles, table
from lib.rows import Rows, goal

NAME = "pareto"


def measure(ctx):
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    for name in TABLES:
        path = os.path.join(ctx.args.tables, f"{name}.jsonl.gz")
        report[name] = ctx.simulate("--oracle", f"table:{path}#valid_perf", "--space-file", space,
                                    "--missing-reward", "0", "--objective", ctx.args.pareto_objective,
                                    "--cost-column", "latency=latency_s", "--strategies", "reinforce,random",
                                    "--budget", str(ctx.args.pareto_budget), "--seeds", str(ctx.args.pareto_seeds)
                                    )["pareto"]
    return {"objective": ctx.args.pareto_objective, "budget": ctx.args.pareto_budget, "seeds": ctx.args.pareto_seeds,
            "tables": report}


def rows(data):
    out = Rows(NAME, data)
    for name, pareto in data["tables"].items():
        for row in pareto["strategies"]:
            strategy = row["strategy"]
            out.add(f"pareto.{name}.{strategy}.hypervolume_ratio", row["median_ratio"], "ratio",
                    goal(">=", 0.9) if strategy == "reinforce" else None,
                    note=f"quartiles {row['quartiles'][0]:.3f}..{row['quartiles'][1]:.3f} over {row['runs']} seeds, "
                         f"front of {row['median_front_size']:.0f} points (true front {len(pareto['true_front'])})")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    lines = []
    for name, pareto in data["tables"].items():
        by = {row["strategy"]: row for row in pareto["strategies"]}
        lines.append([name, f"{len(pareto['true_front'])} points",
                      *[f"{by[s]['median_ratio']:.3f} {quartiles(by[s]['quartiles'], 3)}" for s in ["reinforce", "random"]]])
    return {"hypervolume": table(["table", "true front", "REINFORCE, median [IQR]", "random, median [IQR]"], lines)}
