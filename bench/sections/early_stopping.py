"""The stopping rules (none, median, asha, predict) with the predictor
(the default strategy), REINFORCE and random search on the recorded
CIFAR-10 learning curves, seeds 0-199 at equal training seconds: seconds to
the top-1% architecture (with paired bootstrap intervals of the ratio to
`none`), the best validation found, and how well early epochs predict the
last; ASHA with promotions (simulated only) reported beside them."""
import json
import os
import random
import statistics

from lib.context import BENCH, ROOT
from lib.markdown import num, quartiles, table
from lib.rows import Rows, goal

NAME = "early_stopping"
# asha:1:20 (one rung, after epoch 1; one child in 20 goes on) was picked
# on seeds 0-49 and 1000-1099 of the 512-architecture table and checked on
# seeds 2000-2099 (docs/src/benchmarks/early_stopping.md).
# predict's defaults (predict:8:2:0.99) were picked on seeds 1000-1199 with
# the predictor and 1000-1039 with REINFORCE, before the reported run.
PREDICT = "predict:8:2:0.99"
STOPPING_RULES = ["none", "median:1:5", "asha:1:3", "asha:1:2", "asha:1:20", PREDICT]
STRATEGIES = "predictor,reinforce,random"
# ASHA with promotions (`simulate stopping --asha promote`): simulated only, the
# controller does not run it yet; reported beside the rules it runs.
PROMOTING_RULES = ["none", "asha:1:3", "asha:1:2"]
# The recorded learning-curve tables (bench/record_curves.py): name, the
# search space its rows cover (bench/spaces/), how it was recorded, and
# whether the goal is measured on it (the others are kept for
# contrast).
STOPPING_TABLES = [
    ("cifar10-small-curves-10k", "small-cnn", "512 architectures, 10,000 training images per epoch at batch 64, "
     "5,000 validation images", True),
    ("cifar10-tiny-curves-10k", "tiny-cnn", "128 architectures, 10,000 training images per epoch at batch 64, "
     "5,000 validation images", False),
    ("cifar10-tiny-curves", "tiny-cnn", "128 architectures, 4,000 training images per epoch at batch 128, "
     "1,000 validation images", False),
    # Recorded on 2026-12-07, after every rule's settings were fixed: a
    # slower schedule (initial learning rate 0.02), curves still rising.
    ("cifar10-tiny-curves-lr002", "tiny-cnn", "128 architectures, 4,000 training images per epoch at batch 128, "
     "1,000 validation images, initial learning rate 0.02", False),
]
SWEEP = os.path.join(BENCH, "results", "early_stopping_sweep.json")


def measure(ctx):
    """The rules on each table at a budget of `--stopping-budget` times the
    seconds of training every architecture of the table once."""
    report = {}
    for name, space, recorded, has_goal in STOPPING_TABLES:
        table_path = os.path.join(BENCH, "tables", f"{name}.jsonl")
        space = os.path.join(BENCH, "spaces", f"{space}.toml")
        seconds = round(ctx.args.stopping_budget * table_seconds(table_path), -2)
        data = simulate_stopping(ctx, table_path, space, seconds)
        data["by_seed"] = by_seed(data.pop("runs"))
        data["intervals"] = intervals(data["by_seed"])
        report[name] = {"table": os.path.relpath(table_path, ROOT), "recorded": recorded, "goal": has_goal,
                        "training_seconds": seconds, "simulation": data,
                        "predictiveness": curve_predictiveness(table_path)}
        if has_goal:
            # ASHA with promotions, with REINFORCE: reported, not a goal.
            report[name]["promotions_simulated_only"] = simulate_stopping(
                ctx, table_path, space, seconds, rules=PROMOTING_RULES, strategies="reinforce",
                asha="promote")["summaries"]
    return {"seeds": ctx.args.stopping_seeds, "budget": ctx.args.stopping_budget, "tables": report}


def by_seed(runs):
    """Every run's seconds to the top 1% (None: never) and best validation,
    by strategy and rule, in seed order."""
    out = {}
    for run in sorted(runs, key=lambda run: run["seed"]):
        cell = out.setdefault(run["strategy"], {}).setdefault(run["rule"], {"seconds_to_top": [], "best_metric": []})
        cell["seconds_to_top"].append(run["seconds_to_top"])
        cell["best_metric"].append(run["best_metric"])
    return out


def intervals(by_seed_runs, resamples=2000):
    """Per strategy and rule, the ratio of its median seconds to the top 1%
    to `none`'s and a 95% paired bootstrap interval (seeds resampled; a run
    that never reached the top counts as infinitely long)."""
    rng = random.Random(0)
    out = {}
    for strategy, rules in by_seed_runs.items():
        none = [math_inf(v) for v in rules["none"]["seconds_to_top"]]
        for rule, cell in rules.items():
            mine = [math_inf(v) for v in cell["seconds_to_top"]]
            seeds = range(len(mine))
            samples = []
            for _ in range(resamples):
                pick = [rng.choice(seeds) for _ in seeds]
                sample = ratio(statistics.median([mine[i] for i in pick]),
                               statistics.median([none[i] for i in pick]))
                samples.append(float("inf") if sample is None else sample)
            samples.sort()
            bounds = [samples[int(0.025 * resamples)], samples[int(0.975 * resamples) - 1]]
            out.setdefault(strategy, {})[rule] = {
                "ratio": ratio(statistics.median(mine), statistics.median(none)),
                "ci95": [None if bound == float("inf") else bound for bound in bounds]}
    return out


def math_inf(value):
    return float("inf") if value is None else value


def ratio(a, b):
    """a / b, None when either is infinite (a censored median)."""
    return None if a == float("inf") or b == float("inf") else a / b


def simulate_stopping(ctx, table_path, space, seconds, rules=STOPPING_RULES, strategies=STRATEGIES,
                      asha="stop"):
    """`nas-controller simulate` of the rules and strategies on one table
    of the space `space` (a space file)."""
    return ctx.simulate("stopping", "--oracle", f"curves:{table_path}#valid_accuracy", "--space-file", space,
                        "--strategies", strategies, "--rules", ",".join(rules), "--asha", asha,
                        "--gpu-seconds", str(seconds), "--children", "1000", "--seeds", str(ctx.args.stopping_seeds))


def table_seconds(path):
    """Seconds of training every architecture of a curve table once."""
    with open(path) as f:
        return sum(sum(json.loads(line)["epoch_seconds"]) for line in f if line.strip())


def curve_predictiveness(path):
    """Correlation of each epoch's accuracy with the final one, and the rank
    at each epoch of the table's best architectures."""
    with open(path) as f:
        curves = [json.loads(line)["valid_accuracy"] for line in f if line.strip()]
    final = [max(c[-5:]) for c in curves]
    epochs = min(len(c) for c in curves)
    correlation = [statistics.correlation([c[e] for c in curves], final) for e in range(epochs)]
    best = sorted(range(len(curves)), key=lambda i: final[i], reverse=True)[:2]
    ranks = []
    for e in range(epochs):
        so_far = [max(c[:e + 1]) for c in curves]
        order = sorted(range(len(curves)), key=lambda i: so_far[i], reverse=True)
        ranks.append([order.index(i) + 1 for i in best])
    return {"rows": len(curves), "correlation": correlation, "top_ranks_by_epoch": ranks}


def rows(data):
    out = Rows(NAME, data)
    for name, report in data["tables"].items():
        seconds = report["training_seconds"]
        by = {(row["strategy"], row["rule"]): row for row in report["simulation"]["summaries"]}
        for (strategy, rule), row in by.items():
            to_top = row["median_seconds_to_top"]
            out.add(f"early_stopping.{name}.{strategy}.{rule}.seconds_to_top1",
                    to_top if to_top is not None else float(seconds + 1), "train-s",
                    note=f"quartiles {row['quartiles_seconds_to_top']}, {row['censored']} of {row['runs']} censored; "
                         f"best {row['median_best_metric']:.4f}, {row['median_stopped_fraction']:.0%} stopped")
        for strategy in ["reinforce", "random"]:
            goal_rows(out, name, by, strategy, seconds, report["goal"] and strategy == "reinforce")
        predict_rows(out, name, by, report["simulation"].get("intervals", {}), seconds)
        for rule, row in promotions(report).items():
            to_top, none = row["median_seconds_to_top"], row["none"]
            out.add(f"early_stopping.{name}.reinforce.{rule}.promote_vs_none", row["ratio"], "ratio",
                    note=f"simulated only: {to_top} s vs none {none:.0f} s to the top 1%, {row['censored']} censored, "
                         f"best {row['median_best_metric']:.4f}; "
                         f"stopping {by[('reinforce', rule)]['median_seconds_to_top']} s")
        correlation = report["predictiveness"]["correlation"]
        out.add(f"early_stopping.{name}.corr_epoch1_final", correlation[0], "pearson",
                note="how well epoch 1 predicts the final (best of the last 5 epochs) accuracy")
        out.add(f"early_stopping.{name}.corr_epoch3_final", correlation[2], "pearson")
    return out.list


def promotions(report):
    """ASHA with promotions against `none`, by rule (empty on the tables
    without them): the summary plus `none` and `ratio`."""
    summaries = {row["rule"]: row for row in report.get("promotions_simulated_only", [])}
    if not summaries:
        return {}
    none = summaries["none"]["median_seconds_to_top"]
    result = {}
    for rule, row in summaries.items():
        if rule != "none":
            to_top = row["median_seconds_to_top"]
            result[rule] = {**row, "none": none, "ratio": to_top / none if to_top is not None and none else None}
    return result


def predict_rows(out, name, by, cis, seconds):
    """`predict` with the default strategy against `none`, on every table:
    at most 1/3 of the training seconds to the top 1%, no worse a best
    validation (issue 34's goal)."""
    if ("predictor", PREDICT) not in by:
        return
    row, none = by[("predictor", PREDICT)], by[("predictor", "none")]
    ci = cis.get("predictor", {}).get(PREDICT, {})
    value = ci.get("ratio")
    low, high = ci.get("ci95", [None, None])
    interval = f"[{low:.3f}, {high:.3f}]" if low is not None and high is not None else "[–]"
    out.add(f"early_stopping.{name}.predictor.predict_vs_none", value, "ratio", goal("<=", 0.333),
            note=f"predict {row['median_seconds_to_top']} s vs none {none['median_seconds_to_top']} s to the top 1%, "
                 f"95% interval {interval}, {row['censored']} of {row['runs']} never reached it")
    gap = row["median_best_metric"] - none["median_best_metric"]
    out.add(f"early_stopping.{name}.predictor.predict_metric_vs_none", gap, "accuracy", goal(">=", 0),
            met=gap >= -1e-9,
            note=f"predict {row['median_best_metric']:.4f} vs none {none['median_best_metric']:.4f} "
                 f"after {seconds:.0f} training seconds")


def goal_rows(out, name, by, strategy, seconds, has_goal):
    """The best rule against `none`: seconds to the top 1% and the best
    validation at the budget (a goal on the first table with REINFORCE)."""
    none = by[(strategy, "none")]
    stopping = [r for (s, rule), r in by.items() if s == strategy and rule != "none"
                and r["median_seconds_to_top"] is not None]
    ratio_goal = goal("<=", 0.333) if has_goal else None
    if none["median_seconds_to_top"] is None or not stopping:
        out.add(f"early_stopping.{name}.{strategy}.best_rule_vs_none", None, "ratio", ratio_goal,
                note="a median run never reached the top 1%")
        return
    best = min(stopping, key=lambda r: r["median_seconds_to_top"])
    out.add(f"early_stopping.{name}.{strategy}.best_rule_vs_none",
            best["median_seconds_to_top"] / none["median_seconds_to_top"], "ratio", ratio_goal,
            note=f"{best['rule']}: {best['median_seconds_to_top']:.0f} s vs none "
                 f"{none['median_seconds_to_top']:.0f} s to the top 1% (median over seeds)")
    gap = best["median_best_metric"] - none["median_best_metric"]
    out.add(f"early_stopping.{name}.{strategy}.best_rule_metric_vs_none", gap, "accuracy",
            goal(">=", 0) if has_goal else None, met=gap >= -1e-9 if has_goal else None,
            note=f"{best['rule']} {best['median_best_metric']:.4f} vs none {none['median_best_metric']:.4f} "
                 f"after {seconds:.0f} training seconds")


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


STRATEGY_NAMES = {"predictor": "predictor", "reinforce": "REINFORCE", "random": "random"}


def rules_table(summaries, seconds):
    """Seconds to the top 1%, ratio to `none`, best validation, children and
    stopped share, per strategy and rule, at a budget of `seconds`."""
    none = {r["strategy"]: r["median_seconds_to_top"] for r in summaries if r["rule"] == "none"}
    lines = []
    for r in summaries:
        to_top = r["median_seconds_to_top"]
        ratio = "1" if r["rule"] == "none" else \
            (f"{to_top / none[r['strategy']]:.3f}" if to_top is not None and none[r["strategy"]] else "–")
        censored = f", {r['censored']} of {r['runs']} cens." if r["censored"] else ""
        found = f">{num(seconds, 0)}" if to_top is None else \
            f"{num(to_top, 0)} {quartiles(r['quartiles_seconds_to_top'])}"
        lines.append([STRATEGY_NAMES.get(r["strategy"], r["strategy"]), f"`{r['rule']}`", found + censored, ratio,
                      f"{r['median_best_metric']:.4f}", num(r["median_trained"], 0),
                      f"{r['median_stopped_fraction']:.0%}"])
    return table(["strategy", "rule", "seconds to the top 1%, median [IQR]", "ratio to `none`", "best validation",
                  "children trained", "stopped"], lines)


def curves_table(data):
    lines = []
    for name, space, _, _ in STOPPING_TABLES:
        report = data["tables"].get(name)
        if report is None:  # a table added after the run
            continue
        rows_count = report["predictiveness"]["rows"]
        correlation = report["predictiveness"]["correlation"]
        lines.append([f"`{name}.jsonl`", f"`{space}.toml`", report["recorded"],
                      f"{table_seconds(os.path.join(ROOT, report['table'])) / rows_count:.1f}",
                      f"{correlation[0]:.2f} / {correlation[2]:.2f}", num(report["training_seconds"], 0)])
    return table(["table", "space", "recorded", "seconds per child", "corr. epoch 1 / 3 with the final",
                  "bench budget, training seconds"], lines)


def rule_order(rule):
    """asha before median, then by the rule's numbers."""
    kind, *numbers = rule.split(":")
    return kind, tuple(int(n) for n in numbers)


def sweep_table():
    """REINFORCE's ratio to `none` per rule and seed block (random search
    and ASHA with promotions after it), from the sweep file: runs made
    apart from the bench, kept with their commands."""
    with open(SWEEP) as f:
        sweep = json.load(f)
    blocks, cells = [], {}
    for run in sweep["runs"]:
        blocks += [] if run["seeds"] in blocks else [run["seeds"]]
        group = 2 if "--asha promote" in run["args"] else None
        none = {r["strategy"]: r["median_seconds_to_top"] for r in run["summaries"] if r["rule"] == "none"}
        for r in run["summaries"]:
            if r["rule"] == "none":
                key, value = (0, "", ()), num(none["reinforce"], 0)
            else:
                key = (group or (1 if r["strategy"] == "reinforce" else 3), *rule_order(r["rule"]))
                value = f"{r['median_seconds_to_top'] / none[r['strategy']]:.3f}"
            cells.setdefault(key, {"rule": r["rule"]})[run["seeds"]] = value
    labels = {0: "`none`, seconds", 1: "`{}`", 2: "ASHA with promotions, `{}`", 3: "random search: `{}`"}
    caption = (f"From `{os.path.relpath(SWEEP, ROOT)}` (runs made apart from the bench, each with its command; "
               f"`make bench` does not rewrite it), {sweep['date']}, {sweep['machine']}; each run is "
               f"`{sweep['common']}` plus its own flags:")
    return caption, table(["rule (REINFORCE unless named)", *blocks],
                 [[labels[key[0]].format(by_block["rule"]), *[by_block.get(b, "") for b in blocks]]
                  for key, by_block in sorted(cells.items())])


def doc_tables(data):
    """Tables by key; a (caption, table) pair where the table does not
    come from this section's results file."""
    tables = {"curves": curves_table(data), "sweep": sweep_table()}
    for name, report in data["tables"].items():
        seconds = report["training_seconds"]
        tables[name] = rules_table(report["simulation"]["summaries"], seconds)
        if "promotions_simulated_only" in report:
            tables[f"{name}.promotions"] = rules_table(report["promotions_simulated_only"], seconds)
    return tables
