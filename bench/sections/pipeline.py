"""A warm real worker over RabbitMQ and S3: publication to result minus
training time, and receipt to first training step."""
import os
import statistics

from lib.context import BENCH, Workers, queue_env, read_log, run_quiet, percentile, store_kind, unique
from lib.rows import Rows, goal

NAME = "pipeline"


def measure(ctx):
    data = os.path.join(ctx.work, "synth-cifar")
    run_quiet([ctx.tool("nas-controller"), "data", "synth", "cifar10", "--out", data,
               "--records-per-file", "400", "--test-records", "100"])
    name = unique("bench-pipeline")
    env = queue_env(ctx, name)
    run_quiet([ctx.tool("nas-controller"), "data", "upload", "cifar10", data, "--name", name], env=env)
    children = ctx.args.pipeline_children
    with Workers(ctx, 1, env, []):
        summary, _ = ctx.run_json(
            [ctx.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
             "--dataset", name, "--space-file", os.path.join(BENCH, "spaces", "tiny-cnn.toml"),
             "--children", str(children), "--in-flight", "1", "--epochs", "1",
             "--train-subset", "256", "--valid-subset", "128", "--train-duplicates",
             "--metrics-addr", "127.0.0.1:0", "--output", "json"], env=env)
    records = read_log(ctx, name, env)
    warm = [r for r in records if r.get("result") and r["status"] == "ok"][2:]  # skip the cold start
    return {"children": children, "warm_children": len(warm),
            "overhead_seconds": [(r["recorded_at"] - r["published_at"]) - r["result"]["train_seconds"] for r in warm],
            "startup_seconds": [r["result"]["startup_seconds"] for r in warm
                                if r["result"].get("startup_seconds") is not None],
            "train_seconds": [r["result"]["train_seconds"] for r in warm],
            "store": store_kind(env), "search_wall_seconds": summary["wall_seconds"]}


def rows(data):
    out = Rows(NAME, data)
    overhead, startup = data["overhead_seconds"], data["startup_seconds"]
    share = statistics.mean(overhead) / 60.0
    out.add("pipeline.overhead_p50", percentile(overhead, 50) * 1e3, "ms")
    out.add("pipeline.overhead_p95", percentile(overhead, 95) * 1e3, "ms")
    out.add("pipeline.overhead_share_of_60s_child", 100 * share, "%", goal("<", 2), met=share < 0.02)
    out.add("pipeline.message_to_first_step_p50", percentile(startup, 50) * 1e3, "ms")
    s95 = percentile(startup, 95)
    out.add("pipeline.message_to_first_step_p95", s95 * 1e3, "ms", goal("<", 200), met=s95 < 0.2)
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))
