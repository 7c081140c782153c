"""Children per minute with 1, 2, 4 and 8 surrogate workers that take a
fixed time per job."""
from lib.context import Workers, queue_env, unique
from lib.markdown import num, table
from lib.rows import Rows, goal

NAME = "scaling"
WORKERS = [1, 2, 4, 8]


def measure(ctx):
    delay = ctx.args.scaling_delay_ms
    points = []
    for workers in WORKERS:
        name = unique(f"bench-scaling-{workers}")
        env = queue_env(ctx, name)
        children = ctx.args.scaling_jobs_per_worker * workers
        with Workers(ctx, workers, env, ["--surrogate", "synthetic", "--surrogate-delay-ms", str(delay)]):
            summary, _ = ctx.run_json(
                [ctx.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
                 "--strategy", "random", "--children", str(children), "--in-flight", str(2 * workers),
                 "--dataset", "none", "--metrics-addr", "127.0.0.1:0", "--output", "json"], env=env)
        points.append({"workers": workers, "children": children, "wall_seconds": summary["wall_seconds"],
                       "children_per_minute": 60 * children / summary["wall_seconds"]})
    base = points[0]["children_per_minute"]
    for point in points:
        point["efficiency"] = point["children_per_minute"] / (point["workers"] * base)
        point["efficiency_vs_ideal"] = point["children_per_minute"] / (point["workers"] * 60000 / delay)
    return {"delay_ms": delay, "points": points}


def rows(data):
    out = Rows(NAME, data)
    for point in data["points"]:
        out.add(f"scaling.workers_{point['workers']}.children_per_minute", point["children_per_minute"],
                "children/min")
    for point in data["points"][1:]:
        out.add(f"scaling.workers_{point['workers']}.efficiency", 100 * point["efficiency"], "%", goal(">=", 90),
                met=point["efficiency"] >= 0.9)
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    return {"points": table(
        ["workers", "children", "wall seconds", "children/min", "efficiency against linear",
         f"against the ideal ({60000 / data['delay_ms']:.0f}/min per worker)"],
        [[p["workers"], p["children"], num(p["wall_seconds"], 1), num(p["children_per_minute"], 1),
          f"{100 * p['efficiency']:.1f}%", f"{100 * p['efficiency_vs_ideal']:.1f}%"] for p in data["points"]])}
