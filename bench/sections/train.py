"""nas-worker train against PyTorch eager on the same spec, data, threads
and batch size: 3 CNN depths and 3 cell sizes."""
import os
import sys

from lib.context import BENCH
from lib.markdown import num, table
from lib.rows import Rows, goal

NAME = "train"
# Deeper children are slower: fewer images keep each run near 15 s.
CNN_SPECS = [("cnn3", 4), ("cnn6", 2), ("cnn12", 1)]  # spec, multiple of --cnn-images
RNN_SPECS = ["cell2", "cell4", "cell8"]


def measure(ctx):
    threads = ["--threads", str(ctx.threads)]
    cifar = ctx.cifar_dir()
    cnn = []
    for spec, scale in CNN_SPECS:
        images = scale * ctx.args.cnn_images
        path = os.path.join(BENCH, "specs", f"{spec}.json")
        common = ["--spec", path, "--data", cifar, "--train-subset", str(images),
                  "--valid-subset", "256", "--batch-size", "128", *threads]
        worker, _ = ctx.run_json([ctx.tool("nas-worker"), "train", "--task", "cifar10", "--device",
                                  ctx.args.device, "--output", "json", *common])
        script = [sys.executable, os.path.join(BENCH, "train_pytorch.py"), *common, *ctx.reference_device()]
        eager, _ = ctx.run_json(script)
        channels_last, _ = ctx.run_json([*script, "--channels-last"])
        cnn.append({"spec": spec, "images": images, "worker": worker["throughput"], "pytorch": eager["throughput"],
                    "pytorch_channels_last": channels_last["throughput"], "params": worker["params"],
                    "same_params": worker["params"] == eager["params"] == channels_last["params"]})
    rnn = []
    for spec in RNN_SPECS:
        path = os.path.join(BENCH, "specs", f"{spec}.json")
        common = ["--spec", path, "--data", ctx.args.ptb, "--train-subset", str(ctx.args.ptb_tokens),
                  "--valid-subset", "2000", "--batch-size", "20", *threads]
        worker, _ = ctx.run_json([ctx.tool("nas-worker"), "train", "--task", "ptb", "--device",
                                  ctx.args.device, "--output", "json", *common])
        eager, _ = ctx.run_json([sys.executable, os.path.join(BENCH, "train_pytorch_lm.py"), *common,
                                 *ctx.reference_device()])
        rnn.append({"spec": spec, "worker": worker["throughput"], "pytorch": eager["throughput"],
                    "params": worker["params"], "same_params": worker["params"] == eager["params"]})
    return {"threads": ctx.threads, "cnn_images": ctx.args.cnn_images, "ptb_tokens": ctx.args.ptb_tokens,
            "cnn": cnn, "rnn": rnn}


def rows(data):
    out = Rows(NAME, data)
    for entry in data["cnn"]:
        spec = entry["spec"]
        out.add(f"train.cnn.{spec}.images_per_second", entry["worker"], "images/s",
                note=f"PyTorch eager {entry['pytorch']:.1f}, channels-last {entry['pytorch_channels_last']:.1f}")
        ratio_row(out, f"train.cnn.{spec}.ratio_vs_pytorch", entry, "pytorch")
        ratio_row(out, f"train.cnn.{spec}.ratio_vs_pytorch_channels_last", entry, "pytorch_channels_last")
    for entry in data["rnn"]:
        spec = entry["spec"]
        out.add(f"train.rnn.{spec}.tokens_per_second", entry["worker"], "tokens/s",
                note=f"PyTorch eager {entry['pytorch']:.0f}")
        ratio_row(out, f"train.rnn.{spec}.ratio_vs_pytorch", entry, "pytorch")
    return out.list


def ratio_row(out, name, entry, reference):
    """The worker's rate over a reference's: at least as fast, with the
    same parameter count."""
    out.add(name, entry["worker"] / entry[reference], "x", goal(">=", 1.0),
            met=entry["worker"] >= entry[reference] and entry["same_params"])


def run(ctx):
    return rows(ctx.save(NAME, measure(ctx)))


def doc_tables(data):
    cnn = [[f"`{e['spec']}`", num(e["params"]), num(e["images"]), num(e["worker"], 1), num(e["pytorch"], 1),
            f"**{e['worker'] / e['pytorch']:.2f}**", num(e["pytorch_channels_last"], 1),
            f"{e['worker'] / e['pytorch_channels_last']:.2f}", "yes" if e["same_params"] else "**no**"]
           for e in data["cnn"]]
    rnn = [[f"`{e['spec']}`", num(e["params"]), num(data["ptb_tokens"]), num(e["worker"], 0), num(e["pytorch"], 0),
            f"**{e['worker'] / e['pytorch']:.2f}**", "yes" if e["same_params"] else "**no**"] for e in data["rnn"]]
    return {
        "cnn": table(["spec", "parameters", "training images", "worker, images/s", "PyTorch eager", "ratio",
                      "PyTorch channels-last", "ratio", "same parameters"], cnn),
        "rnn": table(["spec", "parameters", "PTB tokens", "worker, tokens/s", "PyTorch eager", "ratio",
                      "same parameters"], rnn),
    }
