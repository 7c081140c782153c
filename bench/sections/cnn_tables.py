"""The search strategies on the recorded CIFAR-10 tables used as tabular
oracles: the CNN space of bench/spaces/small-cnn.toml (512 architectures)
and tiny-cnn.toml (128), each architecture's validation accuracy after its
tenth epoch on real CIFAR-10 (bench/tables/*-curves-10k.jsonl, rows found
by the spec's `arch_id`). Samples to the top 1% (medians with 95%
bootstrap intervals, random search's exact median beside them); the
tables have no test column, so no picks are reported.

The default strategy of a new experiment is whatever `nas-controller
simulate search` compares first when given no `--strategies`; local search
and REINFORCE are added beside it."""
import os

from lib.context import BENCH, ROOT
from lib.markdown import median_interval_cell, num, table
from lib.rows import Rows, goal

NAME = "cnn_tables"
# (name, table, space): the recorded tables and the spaces they cover.
TABLES = [("small", "cifar10-small-curves-10k.jsonl", "small-cnn.toml"),
          ("tiny", "cifar10-tiny-curves-10k.jsonl", "tiny-cnn.toml")]
COLUMN = "valid_accuracy[9]"
EXTRA_STRATEGIES = ("local_search", "reinforce")


def simulate(ctx, path, space, *strategies):
    flags = ["search", "--oracle", f"table:{path}#{COLUMN}", "--space-file", space,
             "--children", str(ctx.args.cnn_tables_budget), "--seeds", str(ctx.args.tabular_seeds),
             "--first-seed", str(ctx.args.tabular_first_seed)]
    if strategies:
        flags += ["--strategies", ",".join(strategies)]
    return ctx.simulate(*flags)


def measure(ctx):
    report, default = {}, None
    for name, file, space in TABLES:
        path, space = os.path.join(BENCH, "tables", file), os.path.join(BENCH, "spaces", space)
        data = simulate(ctx, path, space)
        default = data["summary"][0]["strategy"]
        extras = [s for s in EXTRA_STRATEGIES if s not in [row["strategy"] for row in data["summary"]]]
        if extras:
            data["tabular"]["strategies"] += simulate(ctx, path, space, *extras)["tabular"]["strategies"]
        tabular = data["tabular"]
        by = {row["strategy"]: {k: v for k, v in row.items() if k != "median_best_curve"}
              for row in tabular.pop("strategies")}
        report[name] = {"file": os.path.relpath(path, ROOT), "table": tabular, "strategies": by}
    return {"seeds": ctx.args.tabular_seeds, "first_seed": ctx.args.tabular_first_seed,
            "budget": ctx.args.cnn_tables_budget, "column": COLUMN, "default": default, "tables": report}


def top1(row):
    return row["hitting"][0]


def exact_top1(report):
    exact = report["table"]["thresholds"][0].get("random_exact")
    return exact["median"] if exact else None


def rows(data):
    out = Rows(NAME, data)
    budget, default = data["budget"], data["default"]
    seeds = f"seeds {data['first_seed']}–{data['first_seed'] + data['seeds'] - 1}"
    for name, report in data["tables"].items():
        by = report["strategies"]
        for strategy, row in by.items():
            hit = top1(row)
            value = hit["median"] if hit["median"] is not None else float(budget + 1)
            out.add(f"cnn_tables.{name}.{strategy}.samples_to_top1", value, "samples",
                    note=f"95% CI {hit['median_interval']}, {hit['censored']} of {row['runs']} censored "
                         f"(>{budget}), {seeds}")
        exact = exact_top1(report)
        out.add(f"cnn_tables.{name}.random_exact.samples_to_top1", exact, "samples",
                note="uniform sampling's exact median, ⌈ln 0.5 / ln(1 − k/N)⌉")
        ours = top1(by[default])["median"]
        theirs = top1(by["evolution"])["median"]
        if name == "small":
            mine = ours if ours is not None else float(budget + 1)
            out.add(f"cnn_tables.{name}.default_vs_random_exact_top1", mine / exact, "ratio", goal("<", 1.0),
                    note=f"{default} {ours} against random's exact {exact}")
            ratio = mine / theirs if theirs is not None else 0.0
            out.add(f"cnn_tables.{name}.default_vs_evolution_top1", ratio, "ratio", goal("<", 1.0),
                    note=f"{default} {ours} against regularized evolution {theirs} ({seeds})")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    budget, default = data["budget"], data["default"]
    first = next(iter(data["tables"].values()))["strategies"]
    strategies = [default, *[s for s in first if s != default]]
    body = []
    for name, report in data["tables"].items():
        threshold = report["table"]["thresholds"][0]
        by = report["strategies"]
        body.append([f"{name}: {report['table']['rows']} architectures (≥ {threshold['metric']:.4f}, "
                     f"{threshold['rows']} rows)", *[median_interval_cell(top1(by[s]), budget) for s in strategies],
                     num(exact_top1(report))])
    return {"top1": table(["table (top 1% by validation)", *strategies, "random, exact"], body)}
