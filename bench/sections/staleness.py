"""What stale rewards cost REINFORCE with 8, 64 and 256 children in flight
(asynchronous simulation, log-normal training times), and what dropping
them or weighting them by importance changes, on a NAS-Bench-Graph table
and the synthetic CNN oracle."""
import os

from lib.context import BENCH
from lib.markdown import num, quartiles, table
from lib.rows import Rows

NAME = "staleness"
IN_FLIGHT = [8, 64, 256]
SETTINGS = ["keep", "drop:8", "importance:1"]
SYNTHETIC_KEYS = ["median_best_reward", "median_mean_last_100", "mean_staleness", "stale_dropped_share"]


def top01(data, strategy):
    """Samples to the top 0.1%, the test value after 500 samples, and the runs."""
    row = next(r for r in data["tabular"]["strategies"] if r["strategy"] == strategy)
    hit = next(h for h in row["hitting"] if h["fraction"] == 0.001)
    test = next(p["mean"] for p in row["picked"] if p["after"] == 500)
    return hit, test, row["runs"]


def measure(ctx):
    name = ctx.args.staleness_table
    path = os.path.join(ctx.args.tables, f"{name}.jsonl.gz")
    seeds = str(ctx.args.staleness_seeds)
    tabular_flags = ["search", "--oracle", f"table:{path}#valid_perf", "--test-column", "test_perf", "--space-file",
                     os.path.join(BENCH, "spaces", "nas-bench-graph.toml"), "--missing-reward", "0",
                     "--children", str(ctx.args.staleness_budget), "--seeds", seeds]
    synthetic_flags = ["search", "--oracle", "synthetic", "--space", "cnn", "--children", str(ctx.args.search_budget),
                       "--seeds", seeds]
    report = {"table": name, "random": {}, "runs": []}
    hit, test, _ = top01(ctx.simulate(*tabular_flags, "--strategies", "random"), "random")
    report["random"][name] = {"samples_to_top01": hit["median"], "test_at_500": test, "hitting": hit}
    random_synthetic = ctx.simulate(*synthetic_flags, "--strategies", "random")["summary"][0]
    report["random"]["synthetic"] = {"median_best": random_synthetic["median_best_reward"]}
    for in_flight in IN_FLIGHT:
        for setting in SETTINGS:
            extra = ["--in-flight", str(in_flight), "--staleness", setting]
            table_run = ctx.simulate(*tabular_flags, "--strategies", "reinforce", *extra)
            synthetic = ctx.simulate(*synthetic_flags, "--strategies", "reinforce", *extra)["summary"][0]
            hit, test, _ = top01(table_run, "reinforce")
            summary = table_run["summary"][0]
            report["runs"].append({
                "in_flight": in_flight, "staleness": setting,
                name: {"samples_to_top01": hit, "test_at_500": test, "mean_staleness": summary["mean_staleness"],
                       "stale_dropped_share": summary["stale_dropped_share"]},
                "synthetic": {key: synthetic[key] for key in SYNTHETIC_KEYS},
            })
    return {"seeds": ctx.args.staleness_seeds, "budget": ctx.args.staleness_budget,
            "synthetic_budget": ctx.args.search_budget, **report}


def rows(data):
    out = Rows(NAME, data)
    name, budget, runs = data["table"], data["budget"], data["seeds"]
    random = data["random"][name]
    hit = random.get("hitting")  # results saved before 2026-12-06 lack it
    out.add(f"staleness.{name}.random.samples_to_top01", random["samples_to_top01"], "samples",
            note=(f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}; " if hit else "")
            + f"test at 500 {random['test_at_500']:.4f}")
    for run in data["runs"]:
        label = f"staleness.in_flight_{run['in_flight']}.{run['staleness'].replace(':', '_')}"
        table_run, synthetic = run[name], run["synthetic"]
        hit = table_run["samples_to_top01"]
        out.add(f"{label}.{name}.samples_to_top01", hit["median"] if hit["median"] is not None else float(budget + 1),
                "samples",
                note=f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}, "
                     f"{hit['censored']} of {runs} censored (>{budget}); "
                     f"mean staleness {table_run['mean_staleness']:.1f} versions, "
                     f"{table_run['stale_dropped_share']:.0%} dropped")
        out.add(f"{label}.{name}.test_at_500", table_run["test_at_500"], "accuracy")
        out.add(f"{label}.synthetic.median_best", synthetic["median_best_reward"], "reward",
                note=f"last 100 {synthetic['median_mean_last_100']:.4f}, mean staleness "
                     f"{synthetic['mean_staleness']:.1f}, {synthetic['stale_dropped_share']:.0%} dropped")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    name = data["table"]
    lines = []
    for run in data["runs"]:
        table_run, synthetic = run[name], run["synthetic"]
        hit = table_run["samples_to_top01"]
        dropped = f"{table_run['stale_dropped_share']:.0%}" if run["staleness"].startswith("drop") else "–"
        censored = f", {hit['censored']} cens." if hit["censored"] else ""
        lines.append([run["in_flight"], run["staleness"], f"{table_run['mean_staleness']:.1f}", dropped,
                      f"{num(hit['median'])} {quartiles((hit['lower_quartile'], hit['upper_quartile']))}{censored}",
                      f"{table_run['test_at_500']:.4f}", f"{synthetic['median_best_reward']:.4f}",
                      f"{synthetic['median_mean_last_100']:.4f}"])
    random = data["random"]
    return {"runs": table(["in flight", "staleness", "age", "dropped", f"{name}: to top 0.1%", "test @500",
                           "synthetic best", "last 100"], lines),
            "random": table(["strategy", f"{name}: to top 0.1%", "test @500", "synthetic best"],
                            [["random search", num(random[name]["samples_to_top01"]),
                              f"{random[name]['test_at_500']:.4f}", f"{random['synthetic']['median_best']:.4f}"]])}
