"""Warm starts on the three NAS-Bench-Graph tables: each table searched
cold and with a warm start from earlier searches, stood in for by 2,000
rows of each source table drawn per seed (`simulate search --warm-start`).

For the default strategy of a new experiment, per table: cold; from the
other two tables (the claim); from the same table (a related source, for
reference); from the same table with its metric negated (a misleading
source, reported with its cost); from the recorded CIFAR-10 table (no
decision in common: must change nothing, run for run). REINFORCE and
regularized evolution, cold and from the other two tables, beside it.
Samples to the top 1% and 0.1% (medians with 95% bootstrap intervals,
every run's figure kept).

Beside the searches, what the sources could say at best, computed from
the full tables: the rows of the target ordered by their mean rank in the
other two (a source known completely), the position of the first row of
the target's top 0.1% in that order, and how well that order tells the
target's top 0.1% from the rest of its top 1% (the area under the ROC
curve: 0.5 is chance)."""
import gzip
import json
import os

from lib.context import BENCH, ROOT, TABLES
from lib.markdown import median_interval_cell, num, table
from lib.rows import Rows, goal

NAME = "warm_start"
# The goal: from the other tables, at most this share of the cold start's
# median samples to the top 0.1%.
SHARE_OF_COLD = 0.5
UNRELATED = ("cifar10-small-curves-10k.jsonl", "valid_accuracy[9]")
# The default strategy's conditions, in the order the pages show them.
CONDITIONS = ("cold", "other", "same", "misleading", "unrelated")
# The other strategies, cold and from the other tables.
BESIDE = ("reinforce", "evolution")


def simulate(ctx, path, space, strategy, sources=(), seeds=None):
    seeds = ctx.args.warm_seeds if seeds is None else seeds
    flags = ["search", "--oracle", f"table:{path}#valid_perf", "--test-column", "test_perf", "--space-file", space,
             "--missing-reward", "0", "--children", str(ctx.args.warm_budget), "--seeds", str(seeds),
             "--first-seed", str(ctx.args.warm_first_seed), "--strategies", strategy]
    if sources:
        flags += ["--warm-start", ",".join(sources), "--warm-start-children", str(ctx.args.warm_children)]
    data = ctx.simulate(*flags)
    [row] = data["tabular"]["strategies"]
    return {key: row[key] for key in ("hitting", "picked", "runs")}, data["tabular"]["thresholds"]


def negated(ctx, path, name):
    """A copy of the table at `path` with `valid_perf` negated (the worst
    rows ranked best), in the work folder."""
    out = os.path.join(ctx.work, f"{name}-negated.jsonl.gz")
    with gzip.open(path, "rt") as rows, gzip.open(out, "wt") as copy:
        for line in rows:
            row = json.loads(line)
            row["valid_perf"] = -row["valid_perf"]
            copy.write(json.dumps(row) + "\n")
    return out


def default_strategy(ctx, path, space):
    """What `simulate` compares first without `--strategies`."""
    data = ctx.simulate("search", "--oracle", f"table:{path}#valid_perf", "--space-file", space,
                        "--missing-reward", "0", "--children", "2", "--seeds", "1")
    return data["summary"][0]["strategy"]


def measure(ctx):
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    paths = {name: os.path.join(ctx.args.tables, f"{name}.jsonl.gz") for name in TABLES}
    default = default_strategy(ctx, paths[TABLES[0]], space)
    unrelated = f"table:{os.path.join(BENCH, 'tables', UNRELATED[0])}#{UNRELATED[1]}"
    values = aligned({name: read_values(path) for name, path in paths.items()})
    ranked = {name: ranks(column) for name, column in values.items()}
    report = {}
    for name, path in paths.items():
        others = [f"table:{paths[other]}#valid_perf" for other in TABLES if other != name]
        sources = {"cold": (), "other": others, "same": [f"table:{path}#valid_perf"],
                   "misleading": [f"table:{negated(ctx, path, name)}#valid_perf"], "unrelated": [unrelated]}
        runs, thresholds = {}, None
        for condition in CONDITIONS:
            seeds = ctx.args.warm_unrelated_seeds if condition == "unrelated" else None
            runs[condition], thresholds = simulate(ctx, path, space, default, sources[condition], seeds)
        beside = {strategy: {"cold": simulate(ctx, path, space, strategy)[0],
                             "other": simulate(ctx, path, space, strategy, others)[0]} for strategy in BESIDE}
        report[name] = {"thresholds": thresholds, "default": runs, "beside": beside,
                        "transfer": transfer(values, ranked, name)}
    return {"seeds": ctx.args.warm_seeds, "first_seed": ctx.args.warm_first_seed, "budget": ctx.args.warm_budget,
            "source_children": ctx.args.warm_children, "unrelated_seeds": ctx.args.warm_unrelated_seeds,
            "unrelated": os.path.relpath(os.path.join(BENCH, "tables", UNRELATED[0]), ROOT) + "#" + UNRELATED[1],
            "default": default, "tables": report}


def read_values(path):
    """Each row's key (its decisions) and validation value, in file order."""
    with gzip.open(path, "rt") as rows:
        return {(row["link"], *row["ops"]): row["valid_perf"] for row in map(json.loads, rows)}


def ranks(values):
    """Each value's rank from 0 (lowest) to 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out, at = [0.0] * len(values), 0
    while at < len(order):
        end = at
        while end + 1 < len(order) and values[order[end + 1]] == values[order[at]]:
            end += 1
        for k in range(at, end + 1):
            out[order[k]] = (at + end) / 2 / (len(values) - 1)
        at = end + 1
    return out


def top_set(values, fraction):
    """The rows at or above the value of the `fraction` best row."""
    cut = sorted(values, reverse=True)[int(len(values) * fraction) - 1]
    return {at for at, value in enumerate(values) if value >= cut}


def auc(score, positive, negative):
    """The chance that a row of `positive` scores above one of `negative`
    (ties count half)."""
    pairs = sorted([(score[at], 1) for at in positive] + [(score[at], 0) for at in negative])
    below, wins, at = 0, 0.0, 0
    while at < len(pairs):
        end = at
        while end < len(pairs) and pairs[end][0] == pairs[at][0]:
            end += 1
        group = pairs[at:end]
        hits = sum(label for _, label in group)
        wins += hits * (below + (len(group) - hits) / 2)
        below += len(group) - hits
        at = end
    return wins / (len(positive) * len(negative))


def aligned(tables):
    """Each table's values as a list, every list in the first table's row
    order."""
    keys = list(next(iter(tables.values())))
    return {name: [table[key] for key in keys] for name, table in tables.items()}


def transfer(values, ranked, name):
    """What a complete knowledge of the other tables (`values`, aligned
    rows; `ranked`, their ranks) says about `name`'s top."""
    target = values[name]
    score = [sum(column) for column in zip(*(ranked[other] for other in TABLES if other != name))]
    top01, top1, top10 = (top_set(target, f) for f in (0.001, 0.01, 0.1))
    order = sorted(range(len(target)), key=lambda at: -score[at])
    first01, first1 = (next(position for position, at in enumerate(order, 1) if at in top) for top in (top01, top1))
    return {"first_top01_in_source_order": first01,
            "first_top1_in_source_order": first1,
            "auc_top01_within_top1": auc(score, top01, top1 - top01),
            "auc_top1_within_top10": auc(score, top1, top10 - top1),
            "auc_top10": auc(score, top10, set(range(len(target))) - top10)}


def hit(runs, fraction):
    return next(h for h in runs["hitting"] if h["fraction"] == fraction)


def median_or_past(hitting, budget):
    return hitting["median"] if hitting["median"] is not None else float(budget + 1)


def changed_runs(cold, warm):
    """Hitting figures (top 1% and 0.1%, of the runs both have) that
    differ between `cold` and `warm`."""
    return sum(sum(a != b for a, b in zip(hit(cold, f)["samples"], hit(warm, f)["samples"])) for f in (0.01, 0.001))


def rows(data):
    out = Rows(NAME, data)
    budget, default = data["budget"], data["default"]
    seeds = f"seeds {data['first_seed']}–{data['first_seed'] + data['seeds'] - 1}"
    for name, report in data["tables"].items():
        runs = report["default"]
        for condition, result in runs.items():
            for fraction, label in ((0.01, "top1"), (0.001, "top01")):
                h = hit(result, fraction)
                out.add(f"warm_start.{name}.{default}.{condition}.samples_to_{label}", median_or_past(h, budget),
                        "samples", note=f"95% CI {h['median_interval']}, {h['censored']} of {result['runs']} "
                                        f"censored (>{budget}), {seeds}")
        cold = median_or_past(hit(runs["cold"], 0.001), budget)
        for condition, target in (("other", goal("<=", SHARE_OF_COLD)), ("same", None), ("misleading", None)):
            warm = median_or_past(hit(runs[condition], 0.001), budget)
            out.add(f"warm_start.{name}.{default}.{condition}_vs_cold_top01", warm / cold, "ratio", target,
                    note=f"median samples to the top 0.1%: {warm} warm ({condition}) against {cold} cold")
        out.add(f"warm_start.{name}.{default}.unrelated_changed_runs", changed_runs(runs["cold"], runs["unrelated"]),
                "figures", goal("<=", 0), note=f"hitting figures (top 1% and 0.1% of {data['unrelated_seeds']} runs) "
                                               f"that differ from cold, the source having no decision in common")
        for strategy, pair in report["beside"].items():
            was, now = (median_or_past(hit(pair[c], 0.001), budget) for c in ("cold", "other"))
            out.add(f"warm_start.{name}.{strategy}.other_vs_cold_top01", now / was, "ratio",
                    note=f"median samples to the top 0.1%: {now} warm against {was} cold ({seeds})")
        bound = report["transfer"]
        out.add(f"warm_start.{name}.transfer.first_top01", bound["first_top01_in_source_order"], "rows",
                note="the target's rows in the order of their mean rank in the other two tables: the first in "
                     "its top 0.1%")
        out.add(f"warm_start.{name}.transfer.auc_top01_within_top1", bound["auc_top01_within_top1"], "AUC",
                note="that order telling the top 0.1% from the rest of the top 1% (0.5: chance)")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    budget, default = data["budget"], data["default"]
    default_rows, beside_rows, bound_rows = [], [], []
    for name, report in data["tables"].items():
        runs = report["default"]
        for fraction, label in ((0.001, "top 0.1%"), (0.01, "top 1%")):
            default_rows.append([f"{name}, {label}", *[median_interval_cell(hit(runs[c], fraction), budget)
                                                       for c in CONDITIONS if c != "unrelated"]])
        for strategy, pair in report["beside"].items():
            beside_rows.append([name, strategy, *[median_interval_cell(hit(pair[c], f), budget)
                                                  for f in (0.01, 0.001) for c in ("cold", "other")]])
        bound = report["transfer"]
        bound_rows.append([name, num(bound["first_top1_in_source_order"]), num(bound["first_top01_in_source_order"]),
                           f"{bound['auc_top10']:.3f}", f"{bound['auc_top1_within_top10']:.3f}",
                           f"{bound['auc_top01_within_top1']:.3f}"])
    return {
        "default": table(["table, target", "cold", "other two tables", "same table", "same table, negated"],
                         default_rows),
        "beside": table(["table", "strategy", "top 1%, cold", "top 1%, warm", "top 0.1%, cold", "top 0.1%, warm"],
                        beside_rows),
        "transfer": table(["table", "first top-1% row", "first top-0.1% row", "AUC top 10% vs rest",
                           "AUC top 1% within top 10%", "AUC top 0.1% within top 1%"], bound_rows),
    }
