#!/usr/bin/env python3
"""The GPU measurements of `bench/gpu.sh`: the worker against PyTorch on one device.

Run by `bench/gpu.sh` (which sets up torch and the carried binaries); with
`--device cpu --quick` it checks the whole script end to end on a machine
without a GPU. Every figure is measured side by side in one run:

1. start-up: wall time of a one-step `nas-worker train` (process start,
   libtorch and CUDA initialisation, data loading), minus its training time;
2. CNN throughput: for each spec (cnn6, cnn15, cnn20) and batch size (128,
   256), `nas-worker train` (on CUDA: bf16, channels-last) against
   `bench/train_pytorch.py` eager fp32, channels-last + bf16 autocast and,
   where it runs, channels-last + bf16 + `torch.compile`. Each trains two
   epochs on the same images; the figure is the second epoch's images per
   second (warm-up, cuDNN autotuning and compilation excluded; the
   worker's epoch time also holds its validation of 256 images, so the
   comparison leans against it). Peak GPU memory of each run is sampled
   with nvidia-smi (it includes the CUDA context);
3. a `cell8` PTB child: tokens per second against `train_pytorch_lm.py`;
4. an embedded search of 16 real CIFAR-10 children (a few epochs on a
   subset): wall time and the mean GPU utilisation while it ran.

Writes `bench/results/gpu.json` (or `--out`) and prints a table.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


class GpuSampler:
    """Samples nvidia-smi every 100 ms while a command runs: peak memory
    used (MiB) and mean utilisation (%). Inert without nvidia-smi."""

    def __init__(self, enabled):
        self.enabled = enabled and shutil.which("nvidia-smi") is not None
        self.memory, self.utilisation = [], []
        self.done = threading.Event()

    def __enter__(self):
        if self.enabled:
            self.thread = threading.Thread(target=self.sample, daemon=True)
            self.thread.start()
        return self

    def sample(self):
        while not self.done.wait(0.1):
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,utilization.gpu",
                                  "--format=csv,noheader,nounits", "-i", "0"], capture_output=True, text=True)
            try:
                memory, utilisation = (float(v) for v in out.stdout.strip().split(","))
            except ValueError:
                continue
            self.memory.append(memory)
            self.utilisation.append(utilisation)

    def __exit__(self, *exc):
        self.done.set()
        if self.enabled:
            self.thread.join()

    def figures(self):
        if not self.memory:
            return {"peak_gpu_mib": None, "mean_gpu_utilisation": None}
        return {"peak_gpu_mib": max(self.memory), "mean_gpu_utilisation": statistics.mean(self.utilisation)}


def run_json(cmd, gpu, env=None):
    """Runs cmd; its last stdout line as JSON, with wall seconds and the GPU figures."""
    started = time.perf_counter()
    with GpuSampler(gpu) as sampler:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout)[-2000:], "wall_seconds": wall}
    value = json.loads(out.stdout.strip().splitlines()[-1])
    value.update(sampler.figures())
    value["wall_seconds"] = wall
    return value


def steady(report, images):
    """Images (or tokens) per second of the last epoch."""
    if "error" in report:
        return None
    if "epoch_seconds" in report:
        return images / report["epoch_seconds"][-1]
    return images / report["epochs"][-1]["seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the measurement) or cpu (a check of the script)")
    parser.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR",
                                                                         os.path.join(ROOT, "target")), "release"))
    parser.add_argument("--cifar", default=os.path.join(ROOT, "..", "shared", "data", "cifar-10-binary.tar.gz"))
    parser.add_argument("--ptb", default=os.path.join(ROOT, "..", "shared", "data", "ptb"))
    parser.add_argument("--specs", default="cnn6,cnn15,cnn20")
    parser.add_argument("--batch-sizes", default="128,256")
    parser.add_argument("--images", type=int, default=12800, help="training images per CNN run (per epoch)")
    parser.add_argument("--ptb-tokens", type=int, default=200000)
    parser.add_argument("--search-children", type=int, default=16)
    parser.add_argument("--search-epochs", type=int, default=3)
    parser.add_argument("--search-images", type=int, default=5000)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, to check the script end to end (on the CPU)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results", "gpu.json"))
    args = parser.parse_args()
    if args.quick:
        args.specs, args.batch_sizes, args.images = "cnn6", "128", 256
        args.ptb_tokens, args.search_children, args.search_epochs, args.search_images = 3000, 2, 1, 256
    gpu = args.device.startswith("cuda")
    worker = os.path.join(args.bin_dir, "nas-worker")
    controller = os.path.join(args.bin_dir, "nas-controller")
    work = tempfile.mkdtemp(prefix="nas-gpu-")
    started = time.time()
    try:
        cifar = os.path.join(work, "cifar10")
        with tarfile.open(args.cifar) as tar:
            tar.extractall(cifar, filter="data")
        results = {"device": args.device, "date": time.strftime("%Y-%m-%d"), "machine": machine(gpu)}

        # 1. Start-up.
        spec3 = os.path.join(BENCH, "specs", "cnn3.json")
        tiny = run_json([worker, "train", "--task", "cifar10", "--device", args.device, "--spec", spec3,
                         "--data", cifar, "--train-subset", "128", "--valid-subset", "128", "--epochs", "1",
                         "--output", "json"], gpu)
        results["startup"] = {"wall_seconds": tiny["wall_seconds"],
                              "startup_seconds": tiny["wall_seconds"] - tiny.get("train_seconds", 0.0),
                              "error": tiny.get("error")}

        # 2. CNN throughput.
        variants = [("eager", []), ("channels_last_bf16", ["--channels-last", "--precision", "bf16"])]
        if not args.no_compile:
            variants.append(("channels_last_bf16_compile", ["--channels-last", "--precision", "bf16", "--compile"]))
        cnn = []
        for spec in args.specs.split(","):
            path = os.path.join(BENCH, "specs", f"{spec}.json")
            for batch in [int(b) for b in args.batch_sizes.split(",")]:
                common = ["--spec", path, "--data", cifar, "--train-subset", str(args.images),
                          "--valid-subset", "256", "--batch-size", str(batch), "--epochs", "2"]
                entry = {"spec": spec, "batch_size": batch, "images": args.images}
                report = run_json([worker, "train", "--task", "cifar10", "--device", args.device, "--output", "json",
                                   *common], gpu)
                entry["worker"] = {"images_per_second": steady(report, args.images), "params": report.get("params"),
                                   "peak_gpu_mib": report.get("peak_gpu_mib"), "error": report.get("error")}
                for name, flags in variants:
                    reference = run_json([sys.executable, os.path.join(BENCH, "train_pytorch.py"), *common,
                                          "--device", args.device, *flags], gpu)
                    entry[name] = {"images_per_second": steady(reference, args.images),
                                   "params": reference.get("params"),
                                   "peak_gpu_mib": reference.get("peak_gpu_mib"),
                                   "peak_allocated_mib": (reference.get("peak_gpu_bytes") or 0) / 2**20 or None,
                                   "error": reference.get("error")}
                rates = [entry[name]["images_per_second"] for name, _ in variants
                         if entry[name]["images_per_second"]]
                mine = entry["worker"]["images_per_second"]
                entry["ratio_vs_eager"] = mine / entry["eager"]["images_per_second"] \
                    if mine and entry["eager"]["images_per_second"] else None
                entry["ratio_vs_best"] = mine / max(rates) if mine and rates else None
                entry["same_params"] = len({entry[k]["params"] for k in ["worker", *dict(variants)]}) == 1
                cnn.append(entry)
                print(f"{spec} batch {batch}: worker {fmt(mine)} img/s, "
                      + ", ".join(f"{name} {fmt(entry[name]['images_per_second'])}" for name, _ in variants),
                      flush=True)
        results["cnn"] = cnn

        # 3. A PTB child.
        cell = os.path.join(BENCH, "specs", "cell8.json")
        common = ["--spec", cell, "--data", args.ptb, "--train-subset", str(args.ptb_tokens),
                  "--valid-subset", "2000", "--batch-size", "20"]
        lm_worker = run_json([worker, "train", "--task", "ptb", "--device", args.device, "--output", "json", *common], gpu)
        lm_reference = run_json([sys.executable, os.path.join(BENCH, "train_pytorch_lm.py"), *common,
                                 "--device", args.device, "--warmup-steps", "20"], gpu)
        results["ptb_cell8"] = {"worker_tokens_per_second": lm_worker.get("throughput"),
                                "pytorch_tokens_per_second": lm_reference.get("throughput"),
                                "worker_error": lm_worker.get("error"), "pytorch_error": lm_reference.get("error")}

        # 4. An embedded search of real children.
        store = os.path.join(work, "store")
        search = run_json([controller, "search", "--embedded", "--workers", "1", "--task", "cifar10",
                           "--data", cifar, "--store", store, "--experiment", "gpu-bench",
                           "--children", str(args.search_children), "--epochs", str(args.search_epochs),
                           "--train-subset", str(args.search_images), "--valid-subset", "1000",
                           "--in-flight", "2", "--metrics-addr", "127.0.0.1:0", "--live-report-seconds", "0",
                           "--output", "json"], gpu)
        results["search"] = {"children": args.search_children, "epochs": args.search_epochs,
                             "train_images": args.search_images, "wall_seconds": search["wall_seconds"],
                             "mean_gpu_utilisation": search.get("mean_gpu_utilisation"),
                             "peak_gpu_mib": search.get("peak_gpu_mib"),
                             "rewarded": search.get("children_rewarded"), "error": search.get("error")}
        results["seconds"] = time.time() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)
    errors = [e for e in find_errors(results)]
    for error in errors:
        print(f"error: {error[:500]}", file=sys.stderr)
    print(f"\nwrote {args.out} in {results['seconds']:.0f} s")
    return 1 if errors else 0


def find_errors(value, path=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith("error") and inner:
                yield f"{path}{key}: {inner}"
            else:
                yield from find_errors(inner, f"{path}{key}.")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from find_errors(inner, f"{path}{index}.")


def print_table(results):
    print(f"\n{results['machine']}, device {results['device']}")
    print(f"worker start-up: {fmt(results['startup']['startup_seconds'])} s")
    print(f"{'spec':<6} {'batch':>5} {'worker':>9} {'eager':>9} {'cl+bf16':>9} {'compiled':>9} "
          f"{'vs eager':>8} {'vs best':>8} {'worker MiB':>10} {'eager MiB':>10}")
    for e in results["cnn"]:
        rate = lambda name: fmt(e.get(name, {}).get("images_per_second"))  # noqa: E731
        print(f"{e['spec']:<6} {e['batch_size']:>5} {rate('worker'):>9} {rate('eager'):>9} "
              f"{rate('channels_last_bf16'):>9} {rate('channels_last_bf16_compile'):>9} "
              f"{fmt(e['ratio_vs_eager']):>8} {fmt(e['ratio_vs_best']):>8} "
              f"{fmt(e['worker']['peak_gpu_mib']):>10} {fmt(e['eager']['peak_gpu_mib']):>10}")
    lm = results["ptb_cell8"]
    print(f"cell8 PTB: worker {fmt(lm['worker_tokens_per_second'])} tok/s, "
          f"PyTorch {fmt(lm['pytorch_tokens_per_second'])} tok/s")
    s = results["search"]
    print(f"embedded search: {s['children']} children ({s['epochs']} epochs, {s['train_images']} images) in "
          f"{fmt(s['wall_seconds'])} s, {s['rewarded']} rewarded, mean GPU utilisation "
          f"{fmt(s['mean_gpu_utilisation'])} %")


def fmt(value):
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def machine(gpu):
    name = "unknown GPU"
    if gpu and shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True)
        name = out.stdout.strip() or name
    cores = os.cpu_count()
    return f"{name if gpu else 'CPU only'}, {cores} cores"


if __name__ == "__main__":
    sys.exit(main())
