"""The search strategies on the three NAS-Bench-Graph tables: samples to
the top 1% and 0.1% (medians with 95% bootstrap intervals, random search's
exact median beside them), the test accuracy of the pick after 50..500
samples, one SVG per table.

The default strategy of a new experiment is whatever `nas-controller
simulate search` compares first when given no `--strategies`; local search
(the previous default) and REINFORCE (the paper's method) are added when
they are not among them."""
import os

from lib.context import BENCH, ROOT, TABLES
from lib.markdown import median_interval_cell as hitting_cell, num, table
from lib.plots import curves_by_strategy, write_curves_svg
from lib.rows import Rows, goal

NAME = "tabular"
# The goal: the default strategy needs at most this share of random
# search's exact median samples to the top 0.1%.
SHARE_OF_RANDOM = 0.2
# Measured beside the default comparison when not in it: the previous
# default and the paper's method.
EXTRA_STRATEGIES = ("local_search", "reinforce")


def simulate(ctx, path, space, *strategies):
    flags = ["search", "--oracle", f"table:{path}#valid_perf", "--test-column", "test_perf", "--space-file", space,
             "--missing-reward", "0", "--children", str(ctx.args.tabular_budget), "--seeds",
             str(ctx.args.tabular_seeds), "--first-seed", str(ctx.args.tabular_first_seed)]
    if strategies:
        flags += ["--strategies", ",".join(strategies)]
    return ctx.simulate(*flags)


def measure(ctx):
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    default = None
    for name in TABLES:
        path = os.path.join(ctx.args.tables, f"{name}.jsonl.gz")
        data = simulate(ctx, path, space)
        default = data["summary"][0]["strategy"]
        strategies = [row["strategy"] for row in data["summary"]]
        extras = [s for s in EXTRA_STRATEGIES if s not in strategies]
        if extras:
            extra = simulate(ctx, path, space, *extras)
            data["runs"] += extra["runs"]
            data["tabular"]["strategies"] += extra["tabular"]["strategies"]
        tabular = data["tabular"]
        by = {row["strategy"]: row for row in tabular.pop("strategies")}
        svg = os.path.join(ctx.results, f"tabular-{name}.svg")
        write_curves_svg(svg, f"NAS-Bench-Graph {name}: best validation accuracy so far "
                         f"(median and range over {ctx.args.tabular_seeds} seeds)", curves_by_strategy(data["runs"]))
        report[name] = {"table": tabular, "strategies": {s: {k: v for k, v in row.items() if k != "median_best_curve"}
                                                          for s, row in by.items()},
                        "plot": os.path.relpath(svg, ROOT)}
    return {"seeds": ctx.args.tabular_seeds, "first_seed": ctx.args.tabular_first_seed,
            "budget": ctx.args.tabular_budget, "default": default, "tables": report}


def pick_at(row, after):
    """The mean and std of the test value picked after `after` samples."""
    return next(p for p in row["picked"] if p["after"] == after)


def top01(row):
    return row["hitting"][1]


def exact_median(report, fraction):
    threshold = next(t for t in report["table"]["thresholds"] if t["fraction"] == fraction)
    exact = threshold.get("random_exact")
    return exact["median"] if exact else None


def interval_text(hit, budget):
    low, high = [f">{budget}" if v is None else f"{v:.0f}" for v in hit["median_interval"]]
    return f"95% CI {low}..{high}"


def rows(data):
    out = Rows(NAME, data)
    budget = data["budget"]
    default = data["default"]
    seeds = f"seeds {data['first_seed']}–{data['first_seed'] + data['seeds'] - 1}"
    for name, report in data["tables"].items():
        by = report["strategies"]
        for strategy, row in by.items():
            for hit in row["hitting"]:
                label = "top1" if hit["fraction"] == 0.01 else "top01"
                value = hit["median"] if hit["median"] is not None else float(budget + 1)
                out.add(f"tabular.{name}.{strategy}.samples_to_{label}", value, "samples",
                        note=f"{interval_text(hit, budget)}, {hit['censored']} of {row['runs']} censored "
                             f"(>{budget}), {seeds}")
            for pick in row["picked"]:
                out.add(f"tabular.{name}.{strategy}.test_at_{pick['after']}", pick["mean"], "accuracy",
                        note=f"± {pick['std']:.4f} over {row['runs']} seeds")
        for fraction, label in ((0.01, "top1"), (0.001, "top01")):
            out.add(f"tabular.{name}.random_exact.samples_to_{label}", exact_median(report, fraction), "samples",
                    note="uniform sampling's exact median, ⌈ln 0.5 / ln(1 − k/N)⌉")
        ours, exact = top01(by[default])["median"], exact_median(report, 0.001)
        share = ours / exact if ours is not None and exact else float("inf")
        out.add(f"tabular.{name}.default_vs_random_exact_top01", share, "ratio", goal("<=", SHARE_OF_RANDOM),
                note=f"{default}: median {ours} samples to the top 0.1% against random's exact {exact}")
        theirs = top01(by["evolution"])["median"]
        ratio = ours / theirs if ours is not None and theirs is not None else float("inf")
        out.add(f"tabular.{name}.default_vs_evolution_top01", ratio, "ratio", goal("<", 1.0),
                note=f"{default} {ours} against regularized evolution {theirs} ({seeds})")
        for after in (100, 500):
            mine, evolved = pick_at(by[default], after)["mean"], pick_at(by["evolution"], after)["mean"]
            out.add(f"tabular.{name}.default_vs_evolution_test_at_{after}", mine - evolved, "accuracy",
                    goal(">=", 0), note=f"{mine:.4f} against {evolved:.4f}")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def order(data):
    """The default strategy first, then the others as measured."""
    first = next(iter(data["tables"].values()))["strategies"]
    return [data["default"], *[s for s in first if s != data["default"]]]


def doc_tables(data):
    budget = data["budget"]
    strategies = order(data)
    top01_rows, top1_rows, test = [], [], []
    for name, report in data["tables"].items():
        by = report["strategies"]
        threshold = next(t for t in report["table"]["thresholds"] if t["fraction"] == 0.001)
        exact = exact_median(report, 0.001)
        mine = top01(by[data["default"]])["median"]
        share = f"{mine / exact:.2f}" if mine is not None and exact else "–"
        top01_rows.append([f"{name} (≥ {threshold['metric']:.4f}, {threshold['rows']} rows)",
                           *[hitting_cell(top01(by[s]), budget) for s in strategies], num(exact), share])
        top1_rows.append([name, *[hitting_cell(by[s]["hitting"][0], budget) for s in strategies],
                          num(exact_median(report, 0.01))])
        test.append([name, *[" / ".join(f"{pick_at(by[s], after)['mean']:.4f}" for after in (100, 500))
                             for s in strategies]])
    return {
        "top01": table(["table (top 0.1% by validation)", *strategies, "random, exact",
                        f"{data['default']} / random exact"], top01_rows),
        "test": table(["table", *strategies], test),
        "top1": table(["table", *strategies, "random, exact"], top1_rows),
    }
