"""Peak resident and heap memory of a worker training a 15-layer CNN
child (the controller's memory is measured by the dispatch section)."""
import os

from lib.context import BENCH
from lib.rows import Rows

NAME = "memory"


def measure(ctx):
    spec = os.path.join(BENCH, "specs", "cnn15.json")
    report, usage = ctx.run_json_usage([ctx.tool("nas-worker"), "train", "--task", "cifar10",
                                        "--device", ctx.args.device, "--spec", spec, "--data", ctx.cifar_dir(),
                                        "--train-subset", "256", "--valid-subset", "128",
                                        "--threads", str(ctx.threads), "--output", "json"])
    return {"worker_15_layers": {"peak_rss_kib": usage.ru_maxrss, "peak_heap_kib": usage.anon_kib,
                                 "params": report["params"], "train_images": 256,
                                 "note": "the whole CIFAR-10 training set is loaded as uint8"}}


def rows(data):
    out = Rows(NAME, data)
    worker = data["worker_15_layers"]
    out.add("memory.worker_peak_rss_15_layer_cnn", worker["peak_rss_kib"] / 1024, "MiB",
            note=f"{worker['params']} parameters, batch 128")
    out.add("memory.worker_peak_heap_15_layer_cnn", worker["peak_heap_kib"] / 1024, "MiB")
    return out.list


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))
