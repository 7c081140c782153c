#!/usr/bin/env python3
"""Checks, without running anything, that every section's `rows(data)`
rebuilds from `bench/results/<section>.json` the rows that
`bench/results/summary.json` holds for it (value, unit, goal, met, note,
date, machine, and commit where the results file records one), and that
the summary counts its goals right. Exits non-zero on a difference.

`python3 bench/test_sections.py`
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.context import BENCH  # noqa: E402
from lib.rows import count_goals, load_summary  # noqa: E402
from sections import SECTIONS, load  # noqa: E402

# Results saved before 2026-12-06 lack what these rows need (the summary
# kept them from the run itself); a rerun of their section saves it.
LEGACY = {
    "memory.controller_peak_heap_at_10000_children": "dispatch.json has no controller_peak_heap_kib",
    "staleness.cora.random.samples_to_top01": "staleness.json has no quartiles for random search (note only)",
}
KEYS = ["value", "unit", "goal", "met", "note", "section", "date", "machine"]


def check(results):
    summary_path = os.path.join(results, "summary.json")
    stored, _ = load_summary(summary_path)
    by_name = {row["name"]: row for row in stored}
    problems, rebuilt = [], set()
    for section in SECTIONS:
        with open(os.path.join(results, f"{section}.json")) as f:
            data = json.load(f)
        for row in load(section).rows(data):
            rebuilt.add(row["name"])
            old = by_name.get(row["name"])
            if old is None:
                problems.append(f"{row['name']}: rebuilt from {section}.json, not in the summary")
                continue
            keys = KEYS + (["commit"] if "commit" in data else [])
            for key in keys:
                if row.get(key) != old.get(key) and not (key == "note" and row["name"] in LEGACY):
                    problems.append(f"{row['name']}: {key} {row.get(key)!r} rebuilt, {old.get(key)!r} stored")
    for name in by_name.keys() - rebuilt:
        if name not in LEGACY:
            problems.append(f"{name}: in the summary, not rebuilt from its section's results")
    with open(summary_path) as f:
        counts = json.load(f)
    met, total, reported = count_goals(stored)
    if (counts["goals_met"], counts["goals_total"], counts["reported_count"]) != (met, total, reported):
        problems.append(f"summary counts {counts['goals_met']}/{counts['goals_total']}/{counts['reported_count']}, "
                        f"rows say {met}/{total}/{reported}")
    if any(row["goal"] is None and row["met"] is not None for row in stored):
        problems.append("a reported row has met set")
    return problems, len(rebuilt), (met, total, reported)


def main():
    problems, rebuilt, (met, total, reported) = check(os.path.join(BENCH, "results"))
    for problem in problems:
        print(problem)
    print(f"{rebuilt} rows rebuilt from the results files; summary: {met} of {total} goals met, {reported} reported"
          f"{'' if not problems else f'; {len(problems)} differences'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
