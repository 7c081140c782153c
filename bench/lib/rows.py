"""Summary rows: one figure each, with its goal and where it was measured.

A row is `{"name", "value", "unit", "goal", "met", "note"?, "section",
"date", "machine", "commit"}`. `goal` is `{"op": "<=", "target": 0.333}`
or `None` for a reported figure; `met` is true or false only when there is
a goal, `None` otherwise: a reported figure is never "met". `date`,
`machine` and `commit` are those of the run that measured the figure
(`commit` is `git rev-parse HEAD` at the start of the run, with `-dirty`
when the tree had changes).

`bench/results/summary.json` (format 2) keeps the goal rows and the
reported rows apart, counts the goals only, and lists the runs its rows
come from (`runs`: date, machine, commit, seconds, and the seconds of each
section where known).
"""
import json
import math
import operator
import os

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
SUMMARY_FORMAT = 2


def goal(op, target):
    """A goal: the figure must satisfy `value OP target`."""
    if op not in OPS:
        raise ValueError(f"unknown goal operator {op!r}")
    return {"op": op, "target": target}


def meets(value, target):
    """Whether `value` meets the goal `target` (a missing or NaN value does not)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(OPS[target["op"]](value, target["target"]))


def goal_text(target):
    return "reported" if target is None else f"{target['op']} {target['target']}"


def met_text(row):
    return "-" if row["met"] is None else ("yes" if row["met"] else "NO")


def fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Rows:
    """Builds one section's rows from the data it saved, stamped with that
    data's date, machine and commit."""

    def __init__(self, section, data):
        self.section = section
        self.stamp = {key: data.get(key, "unknown") for key in ("date", "machine", "commit")}
        self.list = []

    def add(self, name, value, unit, target=None, note=None, met=None):
        """A figure; with a goal `target`, `met` defaults to `meets(value, target)`
        (pass it to add a condition of the section's own)."""
        row = {"name": name, "value": value, "unit": unit, "goal": target,
               "met": None if target is None else (meets(value, target) if met is None else bool(met))}
        if note:
            row["note"] = note
        row["section"] = self.section
        row.update(self.stamp)
        self.list.append(row)
        return row


def row_line(row):
    """The line printed as a section's figures come in."""
    verdict = "reported" if row["goal"] is None else \
        f"goal {goal_text(row['goal'])}: {'met' if row['met'] else 'MISSED'}"
    return f"  {row['name']}: {fmt(row['value'])} {row['unit']} ({verdict})"


def print_table(rows):
    print()
    print(f"{'figure':<58}{'value':>12}  {'unit':<13}{'goal':<11}met")
    for row in rows:
        print(f"{row['name']:<58}{fmt(row['value']):>12}  {row['unit']:<13}{goal_text(row['goal']):<11}"
              f"{met_text(row)}")


def count_goals(rows):
    goals = [r for r in rows if r["goal"] is not None]
    met = sum(1 for r in goals if r["met"])
    return met, len(goals), len(rows) - len(goals)


def goals_line(rows):
    met, total, reported = count_goals(rows)
    return f"{met} of {total} goals met, {reported} figures reported"


def summary(rows, runs, updated):
    """The summary file's object: goals counted, reported rows apart."""
    met, total, reported = count_goals(rows)
    return {"format": SUMMARY_FORMAT, "updated": updated,
            "goals_met": met, "goals_total": total, "reported_count": reported,
            "goals_summary": f"{met} of {total} goals met",
            "missed": [r["name"] for r in rows if r["met"] is False],
            "runs": runs,
            "goals": [r for r in rows if r["goal"] is not None],
            "reported": [r for r in rows if r["goal"] is None]}


def load_summary(path):
    """The rows (goals, then reported) and runs of a summary file; none
    when it does not exist."""
    if not os.path.exists(path):
        return [], []
    with open(path) as f:
        data = json.load(f)
    if data.get("format") != SUMMARY_FORMAT:
        raise SystemExit(f"{path}: not a format-{SUMMARY_FORMAT} summary (bench/migrate_summary.py converts "
                         "the old one)")
    return data["goals"] + data["reported"], data["runs"]


def current_runs(runs):
    """The runs that still measured some section's figures: each section
    counts for its last run only."""
    kept, covered = [], set()
    for run in reversed(runs):
        if set(run["sections"]) - covered:
            kept.append(run)
        covered |= set(run["sections"])
    return kept[::-1]
