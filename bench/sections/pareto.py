"""Multi-objective search on the NAS-Bench-Graph tables: the default
strategy, regularized evolution and random search for accuracy against
latency (MnasNet's shaped reward): the samples each needs to reach 0.99 of
the hypervolume of the table's true front (medians with 95% bootstrap
intervals), and the hypervolume ratio at the end of the budget."""
import os

from lib.context import BENCH, TABLES
from lib.markdown import median_interval_cell, quartiles, table
from lib.rows import Rows, goal

NAME = "pareto"
# The goal: the default strategy reaches 0.99 of the true hypervolume in at
# most this share of random search's median samples.
SHARE_OF_RANDOM = 1 / 3


def simulate(ctx, path, space, budget, *strategies):
    flags = ["pareto", "--oracle", f"table:{path}#valid_perf", "--space-file", space, "--missing-reward", "0",
             "--objective", ctx.args.pareto_objective, "--cost-column", "latency=latency_s",
             "--children", str(budget), "--seeds", str(ctx.args.pareto_seeds),
             "--first-seed", str(ctx.args.pareto_first_seed)]
    if strategies:
        flags += ["--strategies", ",".join(strategies)]
    return ctx.simulate(*flags)["pareto"]


def measure(ctx):
    """The default strategy (the predictor: about 8 ms a child) runs a
    shorter budget than evolution and random search (microseconds); a
    run it leaves censored counts as past its own budget."""
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    for name in TABLES:
        path = os.path.join(ctx.args.tables, f"{name}.jsonl.gz")
        # The default comparison (default first) at the default's budget,
        # then the others again at the full budget in its place.
        data = simulate(ctx, path, space, ctx.args.pareto_default_budget)
        default, *others = [row["strategy"] for row in data["strategies"]]
        data["strategies"] = data["strategies"][:1] + simulate(ctx, path, space, ctx.args.pareto_budget,
                                                               *others)["strategies"]
        report[name] = data
    budgets = {row["strategy"]: ctx.args.pareto_budget for row in data["strategies"]}
    budgets[default] = ctx.args.pareto_default_budget
    return {"objective": ctx.args.pareto_objective, "budget": ctx.args.pareto_budget, "budgets": budgets,
            "seeds": ctx.args.pareto_seeds, "first_seed": ctx.args.pareto_first_seed, "default": default,
            "tables": report}


def budget_of(data, strategy):
    """The samples `strategy` ran (one budget for all in older results)."""
    return data.get("budgets", {}).get(strategy, data["budget"])


def median_samples(row, budget):
    """The median samples to the target; a censored median counts as past the budget."""
    hit = row["samples_to_target"]
    return hit["median"] if hit["median"] is not None else float(budget + 1)


def rows(data):
    out = Rows(NAME, data)
    default = data["default"]
    for name, pareto in data["tables"].items():
        by = {row["strategy"]: row for row in pareto["strategies"]}
        for strategy, row in by.items():
            budget = budget_of(data, strategy)
            hit = row["samples_to_target"]
            out.add(f"pareto.{name}.{strategy}.samples_to_099", median_samples(row, budget), "samples",
                    note=f"95% CI {hit['median_interval']}, {hit['censored']} of {row['runs']} censored (>{budget})")
            out.add(f"pareto.{name}.{strategy}.hypervolume_ratio", row["median_ratio"], "ratio",
                    note=f"after {budget} samples; quartiles {row['quartiles'][0]:.3f}..{row['quartiles'][1]:.3f}, "
                         f"front of {row['median_front_size']:.0f} points (true front {len(pareto['true_front'])})")
        ours = median_samples(by[default], budget_of(data, default))
        theirs = median_samples(by["random"], budget_of(data, "random"))
        # A censored median of the default's is only a lower bound: the
        # ratio is unknown, and the goal counts as missed.
        censored = by[default]["samples_to_target"]["median"] is None
        out.add(f"pareto.{name}.default_vs_random_samples_to_099", float("inf") if censored else ours / theirs,
                "ratio", goal("<=", SHARE_OF_RANDOM),
                note=f"{default} {'>' + str(ours - 1) if censored else ours} against random search "
                     f"{'>' + str(theirs - 1) if by['random']['samples_to_target']['median'] is None else theirs}"
                     f" (a censored random median is a lower bound, so the ratio is at most this)")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    strategies = [row["strategy"] for row in next(iter(data["tables"].values()))["strategies"]]
    samples, ratios = [], []
    for name, pareto in data["tables"].items():
        by = {row["strategy"]: row for row in pareto["strategies"]}
        samples.append([name, f"{len(pareto['true_front'])} points", *[median_interval_cell(by[s]["samples_to_target"], budget_of(data, s)) for s in strategies]])
        ratios.append([name, *[f"{by[s]['median_ratio']:.3f} {quartiles(by[s]['quartiles'], 3)}" for s in strategies]])
    return {
        "samples": table(["table", "true front", *[f"{s}, median [95% CI]" for s in strategies]], samples),
        "hypervolume": table(["table", *[f"{s}, median [IQR]" for s in strategies]], ratios),
    }
