#!/usr/bin/env python3
"""`make bench-train`: the Rust worker against PyTorch eager on one CNN spec.

Trains the same spec on the same CIFAR-10 subset, with the same thread count
and batch size, once with `nas-worker train` and once with
`bench/train_pytorch.py`, then prints both training throughputs (images per
second) and their ratio, checks the two networks have the same parameter
count, and writes `bench/results/train.json`.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "cifar-10-binary.tar.gz"))
    p.add_argument("--spec", default=os.path.join(ROOT, "bench", "specs", "cnn6.json"))
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--valid-subset", type=int, default=500)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--worker", default=os.path.join(ROOT, "target", "release", "nas-worker"))
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "train.json"))
    args = p.parse_args()
    common = ["--spec", args.spec, "--data", args.data, "--train-subset", str(args.train_subset),
              "--valid-subset", str(args.valid_subset), "--batch-size", str(args.batch_size),
              "--threads", str(args.threads)]
    rust = run([args.worker, "train", "--task", "cifar10", "--device", "cpu", "--json", *common])
    script = [sys.executable, os.path.join(ROOT, "bench", "train_pytorch.py"), *common]
    python = run(script)
    python_cl = run([*script, "--channels-last"])
    ratio = rust["throughput"] / python["throughput"]
    ratio_cl = rust["throughput"] / python_cl["throughput"]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "spec": os.path.relpath(args.spec, ROOT),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "train_images": args.train_subset,
        "worker": {"images_per_second": rust["throughput"], "params": rust["params"],
                   "val_accuracy": rust["epochs"][-1]["val_accuracy"]},
        "pytorch": {"images_per_second": python["throughput"], "params": python["params"],
                    "val_accuracy": python["val_accuracy"], "torch": python["torch"]},
        "pytorch_channels_last": {"images_per_second": python_cl["throughput"], "params": python_cl["params"],
                                  "val_accuracy": python_cl["val_accuracy"]},
        "ratio": ratio,
        "ratio_vs_channels_last": ratio_cl,
        "same_params": rust["params"] == python["params"] == python_cl["params"],
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{'trainer':<30}{'images/s':>10}{'params':>10}{'val acc':>9}")
    print(f"{'nas-worker':<30}{rust['throughput']:>10.1f}{rust['params']:>10}{result['worker']['val_accuracy']:>9.3f}")
    print(f"{'pytorch eager':<30}{python['throughput']:>10.1f}{python['params']:>10}{python['val_accuracy']:>9.3f}")
    print(f"{'pytorch eager, channels-last':<30}{python_cl['throughput']:>10.1f}{python_cl['params']:>10}{python_cl['val_accuracy']:>9.3f}")
    print(f"ratio worker/pytorch: {ratio:.3f} (goal >= 1.0); against channels-last PyTorch: {ratio_cl:.3f}")
    print(f"same parameter count: {result['same_params']}")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")
    if not result["same_params"]:
        sys.exit("the two networks differ in parameter count")


if __name__ == "__main__":
    main()
