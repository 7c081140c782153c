"""REINFORCE, random search and regularized evolution on the synthetic
oracle and on a recorded reward table, 10 seeds: table and SVG plot."""
import os
import statistics

from lib.context import BENCH, ROOT
from lib.markdown import num, table
from lib.plots import curves_by_strategy, write_curves_svg
from lib.rows import Rows, goal

NAME = "search"


def oracles(ctx):
    return [("synthetic", ["search", "--oracle", "synthetic", "--space", "cnn", "--children",
                           str(ctx.args.search_budget)]),
            ("recorded", ["search", "--oracle", f"table:{os.path.join(BENCH, 'tables', 'cifar10-tiny.jsonl')}",
                          "--space-file", os.path.join(BENCH, "spaces", "tiny-cnn.toml"),
                          "--missing-reward", "0", "--children", "60", "--population", "20",
                          "--tournament", "5"])]


def measure(ctx):
    report = {}
    for oracle, flags in oracles(ctx):
        runs = ctx.simulate(*flags, "--strategies", "reinforce,random,evolution", "--seeds", str(ctx.args.seeds))["runs"]
        curves = curves_by_strategy(runs)
        results = {}
        for strategy, strategy_curves in curves.items():
            finals = [c[-1] for c in strategy_curves]
            results[strategy] = {"seeds": len(finals), "median_best": statistics.median(finals),
                                 "min_best": min(finals), "max_best": max(finals),
                                 "median_curve": [statistics.median(c[i] for c in strategy_curves)
                                                  for i in range(len(strategy_curves[0]))]}
        svg = os.path.join(ctx.results, f"search-{oracle}.svg")
        write_curves_svg(svg, f"Best reward so far ({oracle} oracle, median and range over seeds)", curves)
        report[oracle] = {"table": results, "plot": os.path.relpath(svg, ROOT)}
    return {"seeds": ctx.args.seeds, "oracles": report}


def rows(data):
    out = Rows(NAME, data)
    for oracle, report in data["oracles"].items():
        results = report["table"]
        for strategy, result in results.items():
            out.add(f"search.{oracle}.{strategy}.median_best_reward", result["median_best"], "reward",
                    note=f"{result['seeds']} seeds, range {result['min_best']:.4f}..{result['max_best']:.4f}")
        out.add(f"search.{oracle}.reinforce_vs_random",
                results["reinforce"]["median_best"] - results["random"]["median_best"], "reward", goal(">=", 0))
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    return {oracle: table(["strategy", "median best reward", "min..max over seeds", "seeds"],
                          [[strategy, f"{r['median_best']:.4f}", f"{r['min_best']:.4f}..{r['max_best']:.4f}",
                            r["seeds"]] for strategy, r in report["table"].items()])
            for oracle, report in data["oracles"].items()}
