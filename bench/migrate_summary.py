#!/usr/bin/env python3
"""One-off: converts the format-1 `bench/results/summary.json` (goal a
string, "reported" rows stored as met) to format 2 (bench/lib/rows.py)
without rerunning anything. Kept to say where the migrated rows' dates,
machines and commits come from:

- a goal string such as ">= 1.0" becomes {"op": ">=", "target": 1.0};
  "reported" becomes goal null and met null;
- each row's section is its name's prefix (memory.controller_* rows come
  from the dispatch section);
- date and machine are those of `bench/results/<section>.json`;
- commit is `git log -1 --format=%H -- bench/results/<section>.json`: the
  commit that recorded the results (the HEAD the run started from was not
  kept), marked by `commit_source`;
- runs: the commits of summary.json's history, each with the sections
  whose rows it changed and its `seconds`, for the runs that still
  measured some section's rows.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.context import BENCH, ROOT  # noqa: E402
from lib.rows import current_runs, summary  # noqa: E402

PATH = os.path.join(BENCH, "results", "summary.json")
RELATIVE = os.path.relpath(PATH, ROOT)


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def section_of(name):
    return "dispatch" if name.startswith("memory.controller") else name.split(".")[0]


def convert_goal(text):
    if text == "reported":
        return None
    op, target = text.split()
    return {"op": op, "target": float(target) if "." in target else int(target)}


def convert_row(row, provenance):
    target = convert_goal(row["goal"])
    section = section_of(row["name"])
    new = {"name": row["name"], "value": row["value"], "unit": row["unit"], "goal": target,
           "met": None if target is None else bool(row["met"])}
    if row.get("note"):
        new["note"] = row["note"]
    return {**new, "section": section, **provenance[section]}


def section_provenance(section):
    path = os.path.join(BENCH, "results", f"{section}.json")
    with open(path) as f:
        data = json.load(f)
    relative = os.path.relpath(path, ROOT)
    commit = git("log", "-1", "--format=%H", "--", relative).strip()
    return {"date": data.get("date", "unknown"), "machine": data.get("machine", "unknown"),
            "commit": commit or "unknown", "commit_source": f"git log -1 -- {relative}"}


def history_runs():
    """One run per commit of summary.json: the sections whose rows it
    changed, its date, machine and seconds."""
    runs, previous = [], {}
    for commit in git("log", "--reverse", "--format=%H", "--", RELATIVE).split():
        data = json.loads(git("show", f"{commit}:{RELATIVE}"))
        if data.get("format"):
            continue
        rows = {r["name"]: (r["value"], r.get("note")) for r in data["rows"]}
        changed = sorted({section_of(n) for n, v in rows.items() if previous.get(n) != v},
                         key=lambda s: [section_of(n) for n in rows].index(s))
        previous = rows
        seconds = round(data["seconds"], 1)
        runs.append({"date": data["date"], "machine": data["machine"], "commit": commit,
                     "commit_source": f"git log -- {RELATIVE}", "seconds": seconds,
                     "sections": {s: (seconds if len(changed) == 1 else None) for s in changed}})
    return runs


def main():
    with open(PATH) as f:
        old = json.load(f)
    if old.get("format"):
        raise SystemExit(f"{RELATIVE} is already format {old['format']}")
    provenance = {section_of(r["name"]): None for r in old["rows"]}
    provenance = {section: section_provenance(section) for section in provenance}
    rows = [convert_row(r, provenance) for r in old["rows"]]
    new = summary(rows, current_runs(history_runs()), old["date"])
    with open(PATH, "w") as f:
        json.dump(new, f, indent=2)
    print(f"{RELATIVE}: {new['goals_summary']}, {new['reported_count']} reported, {len(new['runs'])} runs")


if __name__ == "__main__":
    main()
