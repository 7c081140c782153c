"""Jobs per second through the controller with surrogate workers answering
at once, and the controller's own CPU time and memory at N children."""
from lib.context import Workers, queue_env, store_kind, unique
from lib.rows import Rows, goal

NAME = "dispatch"


def measure(ctx):
    name = unique("bench-dispatch")
    env = queue_env(ctx, name)
    children = ctx.args.dispatch_children
    with Workers(ctx, ctx.args.dispatch_workers, env, ["--surrogate", "synthetic", "--prefetch", "256"]):
        summary, usage = ctx.run_json_usage(
            [ctx.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
             "--strategy", "random", "--children", str(children), "--in-flight", "1024",
             "--dataset", "none", "--metrics-addr", "127.0.0.1:0", "--output", "json"], env=env)
    cpu = usage.ru_utime + usage.ru_stime
    return {"children": children, "workers": ctx.args.dispatch_workers,
            "summary": {k: v for k, v in summary.items() if k != "leaderboard"},
            "jobs_per_second": children / summary["wall_seconds"], "controller_cpu_seconds": cpu,
            "controller_jobs_per_cpu_second": children / cpu, "controller_peak_rss_kib": usage.ru_maxrss,
            "controller_peak_heap_kib": usage.anon_kib, "store": store_kind(env)}


def rows(data):
    out = Rows(NAME, data)
    children = data["children"]
    rate, capacity = data["jobs_per_second"], data["controller_jobs_per_cpu_second"]
    out.add("dispatch.jobs_per_second", rate, "jobs/s", goal(">=", 1000),
            note="end to end: controller, broker, S3 server and surrogate workers share this machine's cores")
    out.add("dispatch.controller_cpu_ms_per_child", 1e3 * data["controller_cpu_seconds"] / children, "ms")
    out.add("dispatch.controller_jobs_per_cpu_second", capacity, "jobs/s", goal(">=", 1000),
            note="the controller's own capacity: children per second of its CPU time")
    out.add(f"memory.controller_peak_rss_at_{children}_children", data["controller_peak_rss_kib"] / 1024, "MiB",
            note="RSS includes the pages of libtorch it touched (about 470 MiB just loading it)")
    if "controller_peak_heap_kib" in data:  # results saved before 2026-12-06 lack it
        out.add(f"memory.controller_peak_heap_at_{children}_children", data["controller_peak_heap_kib"] / 1024,
                "MiB", note="anonymous memory: what the controller itself allocates")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))
