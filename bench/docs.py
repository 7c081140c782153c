#!/usr/bin/env python3
"""Writes the benchmark pages of the manual, `docs/src/benchmarks/`, from
the hand-written prose in `bench/sections/<name>.md` and the figures in
`bench/results/`, so that the pages cannot drift from the results.

    python3 bench/docs.py           # rewrite the pages
    python3 bench/docs.py --check   # exit 1 naming each page that differs

Pages: one per section (`bench/sections/<section>.md`), `gpu.md`
(`bench/sections/gpu.md`) and the index `README.md`
(`bench/sections/index.md`). In a prose file, a line of its own

    <!-- bench:rows -->        the section's summary rows (figure, value,
                               goal, met, note) with their date, machine
                               and commit; appended when the page has none
    <!-- bench:table KEY -->   table KEY of the section module's
                               `doc_tables(data)`, captioned with where and
                               when its results file was measured
    <!-- bench:sections -->    (index) the sections, last run, duration, goals
    <!-- bench:duration -->    (index) how long the last runs took in all
    <!-- bench:goals -->       (index) every goal: value, met or missed, where

is replaced, and `{{NAME}}` or `{{NAME|FORMAT}}` anywhere is the value of
the summary row NAME (FORMAT as in Python's `format`). Standard library only.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.context import BENCH, ROOT  # noqa: E402
from lib.markdown import num, table  # noqa: E402
from lib.rows import goal_text, load_summary  # noqa: E402
from sections import SECTIONS, load  # noqa: E402

PAGES = os.path.join(ROOT, "docs", "src", "benchmarks")
PROSE = os.path.join(BENCH, "sections")
RESULTS = os.path.join(BENCH, "results")
MARKER = re.compile(r"^<!-- bench:(\w+)(?: (\S+))? -->$", re.M)
VALUE = re.compile(r"\{\{([^|}]+)(?:\|([^}]*))?\}\}")
EXTRA_PAGES = ["gpu"]  # prose only, no section of run.py


class Results:
    """The summary's rows and runs, and the sections' results files."""

    def __init__(self):
        self.rows, self.runs = load_summary(os.path.join(RESULTS, "summary.json"))
        self.by_name = {row["name"]: row for row in self.rows}

    def data(self, section):
        with open(os.path.join(RESULTS, f"{section}.json")) as f:
            return json.load(f)

    def section_rows(self, section):
        return [row for row in self.rows if row["section"] == section]

    def last_run(self, section):
        return next((run for run in reversed(self.runs) if section in run["sections"]), None)


def short(commit):
    return commit if commit == "unknown" else commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def provenance(row):
    """Where a row (or a results file, through its rows) was measured."""
    recorded = " (the commit that recorded the results)" if row.get("commit_source") else ""
    return f"{row['date']}, {row['machine']}, commit `{short(row['commit'])}`{recorded}"


def duration(run, section):
    seconds = run["sections"].get(section)
    if seconds is None and len(run["sections"]) == 1:
        seconds = run["seconds"]
    if seconds is not None:
        return f"{num(float(seconds), 0)} s"
    return f"part of a {num(float(run['seconds']), 0)} s run of {len(run['sections'])} sections"


def rows_table(rows):
    groups = {}
    for row in rows:
        groups.setdefault(provenance(row), []).append(row)
    parts = []
    for where, group in groups.items():
        parts.append(f"Measured {where}:\n\n" + table(
            ["figure", "value", "unit", "goal", "met", "note"],
            [[f"`{r['name']}`", num(r["value"]), r["unit"], goal_text(r["goal"]).replace("reported", "–"),
              {None: "reported", True: "met", False: "**missed**"}[r["met"]], r.get("note", "")] for r in group]))
    return "\n\n".join(parts)


def last_run_line(results, section):
    run = results.last_run(section)
    if run is None:
        return "Not run yet."
    recorded = " (the commit that recorded it)" if run.get("commit_source") else ""
    return (f"Last run: {run['date']}, {run['machine']}, commit `{short(run['commit'])}`{recorded}, "
            f"{duration(run, section)} (`python3 bench/run.py --only {section}`, or "
            f"`make bench BENCH_ARGS=\"--only {section}\"`).")


def section_markers(results, section):
    rows = results.section_rows(section)
    data = results.data(section)
    module = load(section)
    tables = module.doc_tables(data) if hasattr(module, "doc_tables") else {}
    caption = f"From `bench/results/{section}.json`, measured {provenance(rows[0]) if rows else data['date']}:"

    def replace(kind, key):
        if kind == "rows":
            return rows_table(rows)
        if kind == "table":
            if key not in tables:
                raise SystemExit(f"bench/sections/{section}.md: no table {key!r} (have {sorted(tables)})")
            found = tables[key]
            return "\n\n".join(found) if isinstance(found, tuple) else f"{caption}\n\n{found}"
        raise SystemExit(f"bench/sections/{section}.md: unknown marker {kind!r}")
    return replace


def index_markers(results):
    def replace(kind, key):
        if kind == "sections":
            return sections_table(results)
        if kind == "duration":
            return duration_text(results)
        if kind == "goals":
            return goals_text(results)
        raise SystemExit(f"bench/sections/index.md: unknown marker {kind!r}")
    return replace


def no_markers(name):
    def replace(kind, key):
        raise SystemExit(f"bench/sections/{name}.md: a page without results has no markers ({kind!r})")
    return replace


def title(text):
    return text.splitlines()[0].lstrip("# ").strip()


def sections_table(results):
    lines = []
    for section in SECTIONS:
        run, rows = results.last_run(section), results.section_rows(section)
        goals = [r for r in rows if r["goal"] is not None]
        with open(os.path.join(PROSE, f"{section}.md")) as f:
            name = title(f.read())
        lines.append([f"[{name}]({section}.md)", f"`{section}`", run["date"] if run else "–",
                      duration(run, section) if run else "–",
                      f"{sum(1 for r in goals if r['met'])} of {len(goals)}" if goals else "–",
                      str(len(rows) - len(goals))])
    return table(["section", "`--only`", "last run", "took", "goals met", "figures reported"], lines)


def duration_text(results):
    """The last runs that together cover every section, fewest first, and
    their seconds added up."""
    missing, chosen = set(SECTIONS), []
    for run in sorted(results.runs, key=lambda r: -len(r["sections"])):
        if missing & set(run["sections"]):
            chosen.append(run)
            missing -= set(run["sections"])
    total = sum(run["seconds"] for run in chosen)
    runs = table(["run", "sections", "seconds", "machine", "commit"],
                 [[run["date"], ", ".join(f"`{s}`" for s in run["sections"]), num(float(run["seconds"]), 0),
                   run["machine"], f"`{short(run['commit'])}`"] for run in sorted(chosen, key=lambda r: r["date"])])
    took = f"**{num(total, 0)} s, about {round(total / 60)} minutes** (the build and the services' start come on top)"
    text = f"The last run of every section took {took}:" if len(chosen) == 1 else \
        (f"No run of every section has been timed. The sections were last run in {len(chosen)} parts; together "
         f"they took {took}:")
    never = f"\n\nNever run: {', '.join(sorted(missing))}." if missing else ""
    return f"{text}\n\n{runs}{never}"


def goals_text(results):
    goals = [r for r in results.rows if r["goal"] is not None]
    met = sum(1 for r in goals if r["met"])
    head = (f"**{met} of {len(goals)} goals met** ({len(goals) - met} missed); "
            f"{len(results.rows) - len(goals)} further figures are reported without a goal.")
    return head + "\n\n" + table(
        ["goal", "value", "unit", "target", "met", "measured", "machine", "commit"],
        [[f"`{r['name']}`", num(r["value"]), r["unit"], goal_text(r["goal"]), "met" if r["met"] else "**missed**",
          f"[{r['date']}]({r['section']}.md)", r["machine"], f"`{short(r['commit'])}`"] for r in goals])


def render(name, prose, results, replace):
    def value(match):
        row = results.by_name.get(match.group(1))
        if row is None:
            raise SystemExit(f"bench/sections/{name}.md: no summary row {match.group(1)!r}")
        return num(row["value"]) if match.group(2) is None else format(row["value"], match.group(2))
    body = MARKER.sub(lambda m: replace(m.group(1), m.group(2)), prose)
    return VALUE.sub(value, body)


def page(name, results):
    with open(os.path.join(PROSE, f"{name}.md")) as f:
        prose = f.read()
    head, _, rest = prose.partition("\n")
    note = (f"<!-- Generated by bench/docs.py from bench/sections/{name}.md and bench/results/: "
            "edit those, then run `python3 bench/docs.py`. -->\n")
    if name == "index":
        return note + render(name, prose, results, index_markers(results))
    if name in EXTRA_PAGES:
        return note + render(name, prose, results, no_markers(name))
    if "<!-- bench:rows -->" not in rest:
        rest = rest.rstrip("\n") + "\n\n## All figures\n\n<!-- bench:rows -->\n"
    body = f"{head}\n\n{last_run_line(results, name)}\n{rest}"
    return note + render(name, body, results, section_markers(results, name))


def generate():
    results = Results()
    pages = {os.path.join(PAGES, f"{name}.md"): page(name, results) for name in SECTIONS + EXTRA_PAGES}
    pages[os.path.join(PAGES, "README.md")] = page("index", results)
    return pages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each page that differs from what would be written")
    args = parser.parse_args()
    pages = generate()
    if args.check:
        stale = []
        for path, text in pages.items():
            try:
                with open(path) as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(os.path.relpath(path, ROOT))
        extra = sorted(os.path.relpath(os.path.join(PAGES, f), ROOT) for f in os.listdir(PAGES)
                       if f.endswith(".md") and os.path.join(PAGES, f) not in pages) if os.path.isdir(PAGES) else []
        for path in stale:
            print(f"{path}: differs from what bench/docs.py generates (run python3 bench/docs.py)")
        for path in extra:
            print(f"{path}: not generated by bench/docs.py (no bench/sections/ prose for it)")
        sys.exit(1 if stale or extra else 0)
    os.makedirs(PAGES, exist_ok=True)
    for path, text in pages.items():
        with open(path, "w") as f:
            f.write(text)
    print(f"wrote {len(pages)} pages under {os.path.relpath(PAGES, ROOT)}/")


if __name__ == "__main__":
    main()
