"""The sections of `make bench`, in the order they run.

Each module `sections/<name>.py` has
- `measure(ctx)`: runs the binaries and returns the data that is saved as
  `bench/results/<name>.json`;
- `rows(data)`: the section's summary rows, computed from that saved data
  alone (so they can be rebuilt from the results file);
- `run(ctx)`: both, returning the rows;
- optionally `doc_tables(data)`: Markdown tables for its page
  (`bench/docs.py`), by key.

`sections/<name>.md` is the page's hand-written prose.
"""
import importlib

SECTIONS = ["train", "pipeline", "dispatch", "scaling", "controller", "search", "memory", "tabular",
            "cnn_tables", "early_stopping", "pareto", "staleness",
            "warm_start"]


def load(name):
    return importlib.import_module(f"sections.{name}")
