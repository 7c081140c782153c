"""The controller's cost per child: sampling and its share of one
REINFORCE step, 6, 15 and 39 layers (`cargo bench --bench controller_cost`)."""
import json

from lib.context import run_quiet
from lib.markdown import num, table
from lib.rows import Rows

NAME = "controller"


def measure(ctx):
    out = run_quiet(["cargo", "bench", "--quiet", "--locked", "--profile", "release", "-p", "nas-controller", "--bench",
                     "controller_cost", "--", "--threads", str(ctx.threads)])
    return {"threads": ctx.threads, "depths": [json.loads(line) for line in out.splitlines() if line.startswith("{")]}


def rows(data):
    out = Rows(NAME, data)
    for depth in data["depths"]:
        out.add(f"controller.layers_{depth['layers']}.ms_per_child", depth["total_ms_per_child"], "ms",
                note=f"sampling {depth['sample_ms_per_child']:.2f} ms, step {depth['step_ms_per_child']:.2f} ms")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    return {"depths": table(
        ["layers", "decisions", "sampling, ms per child", "REINFORCE step, ms per child", "total, ms per child"],
        [[d["layers"], d["decisions"], num(d["sample_ms_per_child"], 2), num(d["step_ms_per_child"], 2),
          f"**{d['total_ms_per_child']:.1f}**"] for d in data["depths"]])}
