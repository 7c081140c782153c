"""REINFORCE, random search and regularized evolution on the three
NAS-Bench-Graph tables: samples to the top 1% and 0.1%, the test accuracy
of the pick after 50..500 samples, one SVG per table."""
import os

from lib.context import BENCH, ROOT, TABLES
from lib.markdown import num, table
from lib.plots import curves_by_strategy, write_curves_svg
from lib.rows import Rows, goal

NAME = "tabular"
STRATEGIES = ["reinforce", "random", "evolution"]


def measure(ctx):
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    for name in TABLES:
        path = os.path.join(ctx.args.tables, f"{name}.jsonl.gz")
        data = ctx.simulate("--oracle", f"table:{path}#valid_perf", "--test-column", "test_perf", "--space-file",
                            space, "--missing-reward", "0", "--strategies", ",".join(STRATEGIES), "--budget",
                            str(ctx.args.tabular_budget), "--seeds", str(ctx.args.tabular_seeds))
        tabular = data["tabular"]
        by = {row["strategy"]: row for row in tabular.pop("strategies")}
        svg = os.path.join(ctx.results, f"tabular-{name}.svg")
        write_curves_svg(svg, f"NAS-Bench-Graph {name}: best validation accuracy so far "
                         f"(median and range over {ctx.args.tabular_seeds} seeds)", curves_by_strategy(data["runs"]))
        report[name] = {"table": tabular, "strategies": {s: {k: v for k, v in row.items() if k != "median_best_curve"}
                                                          for s, row in by.items()},
                        "plot": os.path.relpath(svg, ROOT)}
    return {"seeds": ctx.args.tabular_seeds, "budget": ctx.args.tabular_budget, "tables": report}


def pick_at(row, after):
    """The mean and std of the test value picked after `after` samples."""
    return next(p for p in row["picked"] if p["after"] == after)


def test_at(row, after):
    return pick_at(row, after)["mean"]


def rows(data):
    out = Rows(NAME, data)
    budget = data["budget"]
    for name, report in data["tables"].items():
        by = report["strategies"]
        for strategy, row in by.items():
            for hit in row["hitting"]:
                label = "top1" if hit["fraction"] == 0.01 else "top01"
                value = hit["median"] if hit["median"] is not None else float(budget + 1)
                out.add(f"tabular.{name}.{strategy}.samples_to_{label}", value, "samples",
                        note=f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}, "
                             f"{hit['censored']} of {row['runs']} censored (>{budget})")
            for pick in row["picked"]:
                out.add(f"tabular.{name}.{strategy}.test_at_{pick['after']}", pick["mean"], "accuracy",
                        note=f"± {pick['std']:.4f} over {row['runs']} seeds")
        rl, rand = by["reinforce"]["hitting"][1]["median"], by["random"]["hitting"][1]["median"]
        ratio = (rl / rand) if rl is not None and rand is not None else float("inf")
        out.add(f"tabular.{name}.reinforce_vs_random_top01", ratio, "ratio", goal("<=", 0.5),
                note=f"median samples to the top 0.1%: {rl} vs {rand}")
        rl_test, rand_test = test_at(by["reinforce"], 500), test_at(by["random"], 500)
        out.add(f"tabular.{name}.reinforce_vs_random_test_at_500", rl_test - rand_test, "accuracy", goal(">=", 0),
                note=f"{rl_test:.4f} vs {rand_test:.4f}")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def hitting_cell(hit, budget):
    """Median [quartiles] samples to a fraction; censored runs as >budget."""
    low, median, high = [f">{num(budget)}" if v is None else num(v)
                         for v in (hit["lower_quartile"], hit["median"], hit["upper_quartile"])]
    censored = f", {hit['censored']} cens." if hit["censored"] else ""
    return f"{median} [{low}, {high}]{censored}"


def doc_tables(data):
    budget = data["budget"]
    top01, test = [], []
    for name, report in data["tables"].items():
        by = report["strategies"]
        threshold = next(t for t in report["table"]["thresholds"] if t["fraction"] == 0.001)
        rl, rand = by["reinforce"]["hitting"][1]["median"], by["random"]["hitting"][1]["median"]
        ratio = f"{rl / rand:.2f}" if rl is not None and rand is not None else "–"
        top01.append([f"{name} (≥ {threshold['metric']:.4f}, {threshold['rows']} rows)",
                      *[hitting_cell(by[s]["hitting"][1], budget) for s in STRATEGIES], ratio])
        test.append([name, *[f"{pick_at(by[s], 500)['mean']:.4f} ± {pick_at(by[s], 500)['std']:.4f}"
                             for s in STRATEGIES]])
    return {
        "top01": table(["table (top 0.1% by validation)", "REINFORCE", "random", "evolution", "REINFORCE / random"],
                       top01),
        "test": table(["table", "REINFORCE", "random", "evolution"], test),
        "top1": table(["table", *STRATEGIES],
                      [[name, *[hitting_cell(r["strategies"][s]["hitting"][0], budget) for s in STRATEGIES]]
                       for name, r in data["tables"].items()]),
    }
