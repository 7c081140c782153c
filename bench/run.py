#!/usr/bin/env python3
"""`make bench`: the benchmark suite.

Measures the system against its peers and its limits, one section at a
time, and writes `bench/results/<section>.json` plus
`bench/results/summary.json` (one row per figure: name, value, unit, goal,
met) and prints the summary table. Comparisons are ratios measured side by
side in the same run; absolute figures carry the machine and the date.

Sections (all by default; `--only a,b` picks some):

  train       nas-worker train against PyTorch eager on the same spec, data,
              threads and batch size: 3 CNN depths and 3 cell sizes
  pipeline    a warm real worker over RabbitMQ and S3: publication to result
              minus training time, and receipt to first training step
  dispatch    jobs per second through the controller with surrogate workers
              answering at once (also the controller's memory at N children)
  scaling     children per minute with 1, 2, 4, 8 surrogate workers
  controller  sampling and one REINFORCE step per child, 6/15/39 layers
  search      REINFORCE, random search and evolution on the synthetic oracle
              and on a recorded reward table, 10 seeds: table and SVG plot
  memory      peak resident memory of a worker training a 15-layer CNN
  tabular     REINFORCE, random search and evolution on the three
              NAS-Bench-Graph tables (../shared/data/nas-bench-graph), 2,000
              samples, 40 seeds: samples to the top 1% and 0.1%, the test
              accuracy of the pick after 50..500 samples, one SVG per table
  early_stopping
              the stopping rules (none, median, asha) with REINFORCE and
              random search on the recorded CIFAR-10 learning curves
              (bench/tables/cifar10-small-curves-10k.jsonl, 512
              architectures, and cifar10-tiny-curves-10k.jsonl, 128; the
              older cifar10-tiny-curves.jsonl for contrast), 50 seeds at
              equal training seconds
              (1.3 times the table's cost): seconds to the top-1%
              architecture, the best validation found, and how well early
              epochs predict the last; ASHA with promotions (simulated only)
              reported beside them
  pareto      multi-objective search on the NAS-Bench-Graph tables: REINFORCE
              and random search for accuracy against latency (MnasNet's
              shaped reward), 500 samples, 10 seeds: hypervolume of the front
              found against the table's true front
  staleness   REINFORCE with 8, 64 and 256 children in flight (asynchronous
              simulation, log-normal training times), rewards kept, dropped
              past 8 versions or importance-weighted: samples to the top 0.1%
              and test value at 500 on NAS-Bench-Graph cora (2,000 samples,
              20 seeds) and the best reward on the synthetic CNN oracle

It expects the binaries in target/release (or --bin-dir), RabbitMQ at
NAS_BROKER_URI (default local guest) and an S3 server in NAS_S3_* (make
bench starts both, as make test does); without NAS_S3_BUCKET the
distributed sections use a local store directory.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SECTIONS = ["train", "pipeline", "dispatch", "scaling", "controller", "search", "memory", "tabular",
            "early_stopping", "pareto", "staleness"]
TABLES = ["cora", "citeseer", "pubmed"]


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = args.bin_dir
        self.results = args.results
        self.rows = []
        self.work = tempfile.mkdtemp(prefix="nas-bench-")
        self.threads = args.threads
        os.makedirs(self.results, exist_ok=True)

    # ---- helpers -------------------------------------------------------

    def tool(self, name):
        return os.path.join(self.bin, name)

    def row(self, name, value, unit, goal, met, note=None):
        row = {"name": name, "value": value, "unit": unit, "goal": goal, "met": bool(met)}
        if note:
            row["note"] = note
        self.rows.append(row)
        print(f"  {name}: {fmt(value)} {unit} (goal {goal}: {'met' if met else 'MISSED'})", flush=True)

    def save(self, section, data):
        data = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **data}
        with open(os.path.join(self.results, f"{section}.json"), "w") as f:
            json.dump(data, f, indent=2)

    def run_json(self, cmd, **kw):
        """Runs cmd, returns its last stdout line parsed as JSON and its peak RSS (KiB)."""
        out, usage = run_measured(cmd, **kw)
        return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss

    def run_json_usage(self, cmd, **kw):
        """Runs cmd, returns its last stdout line parsed as JSON and its resource usage."""
        out, usage = run_measured(cmd, **kw)
        return json.loads(out.strip().splitlines()[-1]), usage

    def store_env(self, env=None):
        env = dict(os.environ if env is None else env)
        if not env.get("NAS_S3_BUCKET"):
            env["NAS_STORE_DIR"] = os.path.join(self.work, "store")
        return env

    def reference_device(self):
        """The PyTorch scripts' device flags: on a GPU, a few untimed warm-up steps."""
        if self.args.device == "cpu":
            return []
        return ["--device", self.args.device, "--warmup-steps", "5"]

    def cifar_dir(self):
        """The real CIFAR-10, extracted once into the work folder."""
        target = os.path.join(self.work, "cifar10")
        if not os.path.isdir(target):
            with tarfile.open(self.args.cifar) as tar:
                tar.extractall(target, filter="data")
        return target

    # ---- sections ------------------------------------------------------

    def train(self):
        """Section 1: nas-worker train against PyTorch eager, side by side."""
        threads = ["--threads", str(self.threads)]
        cifar = self.cifar_dir()
        cnn = []
        # Deeper children are slower: fewer images keep each run near 15 s.
        for spec, images in [("cnn3", 4 * self.args.cnn_images), ("cnn6", 2 * self.args.cnn_images),
                             ("cnn12", self.args.cnn_images)]:
            path = os.path.join(BENCH, "specs", f"{spec}.json")
            common = ["--spec", path, "--data", cifar, "--train-subset", str(images),
                      "--valid-subset", "256", "--batch-size", "128", *threads]
            worker, _ = self.run_json([self.tool("nas-worker"), "train", "--task", "cifar10", "--device",
                                       self.args.device, "--json", *common])
            script = [sys.executable, os.path.join(BENCH, "train_pytorch.py"), *common, *self.reference_device()]
            eager, _ = self.run_json(script)
            channels_last, _ = self.run_json([*script, "--channels-last"])
            entry = {"spec": spec, "images": images, "worker": worker["throughput"], "pytorch": eager["throughput"],
                     "pytorch_channels_last": channels_last["throughput"], "params": worker["params"],
                     "same_params": worker["params"] == eager["params"] == channels_last["params"]}
            cnn.append(entry)
            ratio = entry["worker"] / entry["pytorch"]
            self.row(f"train.cnn.{spec}.images_per_second", entry["worker"], "images/s", "reported", True,
                     f"PyTorch eager {entry['pytorch']:.1f}, channels-last {entry['pytorch_channels_last']:.1f}")
            self.row(f"train.cnn.{spec}.ratio_vs_pytorch", ratio, "x", ">= 1.0",
                     ratio >= 1.0 and entry["same_params"])
            self.row(f"train.cnn.{spec}.ratio_vs_pytorch_channels_last",
                     entry["worker"] / entry["pytorch_channels_last"], "x", ">= 1.0",
                     entry["worker"] >= entry["pytorch_channels_last"] and entry["same_params"])
        rnn = []
        ptb = self.args.ptb
        for spec in ["cell2", "cell4", "cell8"]:
            path = os.path.join(BENCH, "specs", f"{spec}.json")
            common = ["--spec", path, "--data", ptb, "--train-subset", str(self.args.ptb_tokens),
                      "--valid-subset", "2000", "--batch-size", "20", *threads]
            worker, _ = self.run_json([self.tool("nas-worker"), "train", "--task", "ptb", "--device",
                                       self.args.device, "--json", *common])
            eager, _ = self.run_json([sys.executable, os.path.join(BENCH, "train_pytorch_lm.py"), *common,
                                      *self.reference_device()])
            entry = {"spec": spec, "worker": worker["throughput"], "pytorch": eager["throughput"],
                     "params": worker["params"], "same_params": worker["params"] == eager["params"]}
            rnn.append(entry)
            ratio = entry["worker"] / entry["pytorch"]
            self.row(f"train.rnn.{spec}.tokens_per_second", entry["worker"], "tokens/s", "reported", True,
                     f"PyTorch eager {entry['pytorch']:.0f}")
            self.row(f"train.rnn.{spec}.ratio_vs_pytorch", ratio, "x", ">= 1.0",
                     ratio >= 1.0 and entry["same_params"])
        self.save("train", {"threads": self.threads, "cnn_images": self.args.cnn_images,
                            "ptb_tokens": self.args.ptb_tokens, "cnn": cnn, "rnn": rnn})

    def pipeline(self):
        """Section 2: a warm real worker; overhead around training."""
        data = os.path.join(self.work, "synth-cifar")
        run_quiet([self.tool("nas-controller"), "data", "synth", "cifar10", "--out", data,
                   "--records-per-file", "400", "--test-records", "100"])
        name = unique("bench-pipeline")
        env = self.store_env()
        env["NAS_QUEUE_PREFIX"] = name
        run_quiet([self.tool("nas-controller"), "data", "upload", "cifar10", data, "--name", name], env=env)
        children = self.args.pipeline_children
        with Workers(self, 1, env, []):
            summary, _ = self.run_json(
                [self.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
                 "--dataset", name, "--space-file", os.path.join(BENCH, "spaces", "tiny-cnn.toml"),
                 "--children", str(children), "--in-flight", "1", "--epochs", "1",
                 "--train-subset", "256", "--valid-subset", "128", "--train-duplicates",
                 "--metrics-addr", "127.0.0.1:0", "--json"], env=env)
        records = read_log(self, name, env)
        warm = [r for r in records if r.get("result") and r["status"] == "ok"][2:]  # skip the cold start
        overhead = [(r["recorded_at"] - r["published_at"]) - r["result"]["train_seconds"] for r in warm]
        startup = [r["result"]["startup_seconds"] for r in warm if r["result"].get("startup_seconds") is not None]
        train = [r["result"]["train_seconds"] for r in warm]
        o50, o95 = percentile(overhead, 50), percentile(overhead, 95)
        s50, s95 = percentile(startup, 50), percentile(startup, 95)
        share = statistics.mean(overhead) / 60.0
        self.save("pipeline", {"children": children, "warm_children": len(warm), "overhead_seconds": overhead,
                               "startup_seconds": startup, "train_seconds": train,
                               "store": "s3" if env.get("NAS_S3_BUCKET") else "local",
                               "search_wall_seconds": summary["wall_seconds"]})
        self.row("pipeline.overhead_p50", o50 * 1e3, "ms", "reported", True)
        self.row("pipeline.overhead_p95", o95 * 1e3, "ms", "reported", True)
        self.row("pipeline.overhead_share_of_60s_child", 100 * share, "%", "< 2", share < 0.02)
        self.row("pipeline.message_to_first_step_p50", s50 * 1e3, "ms", "reported", True)
        self.row("pipeline.message_to_first_step_p95", s95 * 1e3, "ms", "< 200", s95 < 0.2)

    def dispatch(self):
        """Section 3 (and 7's controller memory): jobs/s with instant surrogates."""
        name = unique("bench-dispatch")
        env = self.store_env()
        env["NAS_QUEUE_PREFIX"] = name
        children = self.args.dispatch_children
        with Workers(self, self.args.dispatch_workers, env, ["--surrogate", "synthetic", "--prefetch", "256"]):
            summary, usage = self.run_json_usage(
                [self.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
                 "--strategy", "random", "--children", str(children), "--in-flight", "1024",
                 "--dataset", "none", "--metrics-addr", "127.0.0.1:0", "--json"], env=env)
        rate = children / summary["wall_seconds"]
        cpu = usage.ru_utime + usage.ru_stime
        capacity = children / cpu
        rss = usage.ru_maxrss
        self.save("dispatch", {"children": children, "workers": self.args.dispatch_workers,
                               "summary": {k: v for k, v in summary.items() if k != "leaderboard"},
                               "jobs_per_second": rate, "controller_cpu_seconds": cpu,
                               "controller_jobs_per_cpu_second": capacity, "controller_peak_rss_kib": rss,
                               "store": "s3" if env.get("NAS_S3_BUCKET") else "local"})
        self.row("dispatch.jobs_per_second", rate, "jobs/s", ">= 1000", rate >= 1000,
                 "end to end: controller, broker, S3 server and surrogate workers share this machine's cores")
        self.row("dispatch.controller_cpu_ms_per_child", 1e3 * cpu / children, "ms", "reported", True)
        self.row("dispatch.controller_jobs_per_cpu_second", capacity, "jobs/s", ">= 1000", capacity >= 1000,
                 "the controller's own capacity: children per second of its CPU time")
        self.row(f"memory.controller_peak_rss_at_{children}_children", rss / 1024, "MiB", "reported", True,
                 "RSS includes the pages of libtorch it touched (about 470 MiB just loading it)")
        self.row(f"memory.controller_peak_heap_at_{children}_children", usage.anon_kib / 1024, "MiB",
                 "reported", True, "anonymous memory: what the controller itself allocates")

    def scaling(self):
        """Section 4: children per minute with 1, 2, 4, 8 surrogate workers."""
        delay = self.args.scaling_delay_ms
        per_worker = self.args.scaling_jobs_per_worker
        points = []
        for workers in [1, 2, 4, 8]:
            name = unique(f"bench-scaling-{workers}")
            env = self.store_env()
            env["NAS_QUEUE_PREFIX"] = name
            children = per_worker * workers
            with Workers(self, workers, env, ["--surrogate", "synthetic", "--surrogate-delay-ms", str(delay)]):
                summary, _ = self.run_json(
                    [self.tool("nas-controller"), "search", "--experiment", name, "--task", "cifar10",
                     "--strategy", "random", "--children", str(children), "--in-flight", str(2 * workers),
                     "--dataset", "none", "--metrics-addr", "127.0.0.1:0", "--json"], env=env)
            points.append({"workers": workers, "children": children, "wall_seconds": summary["wall_seconds"],
                           "children_per_minute": 60 * children / summary["wall_seconds"]})
        base = points[0]["children_per_minute"]
        for point in points:
            point["efficiency"] = point["children_per_minute"] / (point["workers"] * base)
            point["efficiency_vs_ideal"] = point["children_per_minute"] / (point["workers"] * 60000 / delay)
            self.row(f"scaling.workers_{point['workers']}.children_per_minute", point["children_per_minute"],
                     "children/min", "reported", True)
        for point in points[1:]:
            self.row(f"scaling.workers_{point['workers']}.efficiency", 100 * point["efficiency"], "%", ">= 90",
                     point["efficiency"] >= 0.9)
        self.save("scaling", {"delay_ms": delay, "points": points})

    def controller(self):
        """Section 5: sampling and one REINFORCE step per child."""
        out = run_quiet(["cargo", "bench", "--quiet", "--locked", "--profile", "release", "-p", "nas-controller", "--bench",
                         "controller_cost", "--", "--threads", str(self.threads)])
        depths = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for depth in depths:
            self.row(f"controller.layers_{depth['layers']}.ms_per_child", depth["total_ms_per_child"], "ms",
                     "reported", True,
                     f"sampling {depth['sample_ms_per_child']:.2f} ms, step {depth['step_ms_per_child']:.2f} ms")
        self.save("controller", {"threads": self.threads, "depths": depths})

    def search(self):
        """Section 6: search efficiency, 3 strategies, >= 10 seeds."""
        oracles = [("synthetic", ["--oracle", "synthetic", "--space", "cnn", "--budget",
                                  str(self.args.search_budget)]),
                   ("recorded", ["--oracle", f"table:{os.path.join(BENCH, 'tables', 'cifar10-tiny.jsonl')}",
                                 "--space-file", os.path.join(BENCH, "spaces", "tiny-cnn.toml"),
                                 "--missing-reward", "0", "--budget", "60", "--population", "20",
                                 "--tournament", "5"])]
        report = {}
        for oracle, flags in oracles:
            out = subprocess.run([self.tool("nas-controller"), "simulate", *flags, "--strategies",
                                  "reinforce,random,evolution", "--seeds", str(self.args.seeds), "--json"],
                                 check=True, capture_output=True, text=True)
            runs = json.loads(out.stdout)["runs"]
            curves = {}
            for run in runs:
                best, curve = float("-inf"), []
                for reward in run["rewards"]:
                    best = max(best, reward)
                    curve.append(best)
                curves.setdefault(run["strategy"], []).append(curve)
            table = {}
            for strategy, strategy_curves in curves.items():
                finals = [c[-1] for c in strategy_curves]
                table[strategy] = {"seeds": len(finals), "median_best": statistics.median(finals),
                                   "min_best": min(finals), "max_best": max(finals),
                                   "median_curve": [statistics.median(c[i] for c in strategy_curves)
                                                    for i in range(len(strategy_curves[0]))]}
                self.row(f"search.{oracle}.{strategy}.median_best_reward", table[strategy]["median_best"],
                         "reward", "reported", True,
                         f"{len(finals)} seeds, range {min(finals):.4f}..{max(finals):.4f}")
            beats = table["reinforce"]["median_best"] >= table["random"]["median_best"]
            self.row(f"search.{oracle}.reinforce_vs_random", table["reinforce"]["median_best"]
                     - table["random"]["median_best"], "reward", ">= 0", beats)
            svg = os.path.join(self.results, f"search-{oracle}.svg")
            write_curves_svg(svg, f"Best reward so far ({oracle} oracle, median and range over seeds)", curves)
            report[oracle] = {"table": table, "plot": os.path.relpath(svg, ROOT)}
        self.save("search", {"seeds": self.args.seeds, "oracles": report})

    def tabular(self):
        tabular_section(self)

    def early_stopping(self):
        early_stopping_section(self)

    def pareto(self):
        pareto_section(self)

    def staleness(self):
        staleness_section(self)

    def memory(self):
        """Section 7: a worker's peak memory during a 15-layer CNN child."""
        spec = os.path.join(BENCH, "specs", "cnn15.json")
        report, usage = self.run_json_usage([self.tool("nas-worker"), "train", "--task", "cifar10",
                                             "--device", self.args.device, "--spec", spec, "--data", self.cifar_dir(),
                                             "--train-subset", "256", "--valid-subset", "128",
                                             "--threads", str(self.threads), "--json"])
        self.save("memory", {"worker_15_layers": {"peak_rss_kib": usage.ru_maxrss, "peak_heap_kib": usage.anon_kib,
                                                  "params": report["params"], "train_images": 256,
                                                  "note": "the whole CIFAR-10 training set is loaded as uint8"}})
        self.row("memory.worker_peak_rss_15_layer_cnn", usage.ru_maxrss / 1024, "MiB", "reported", True,
                 f"{report['params']} parameters, batch 128")
        self.row("memory.worker_peak_heap_15_layer_cnn", usage.anon_kib / 1024, "MiB", "reported", True)


class Workers:
    """N `nas-worker serve` processes for the duration of a `with`."""

    def __init__(self, bench, count, env, flags):
        self.bench, self.count, self.env, self.flags = bench, count, env, flags
        self.processes = []

    def __enter__(self):
        for index in range(self.count):
            env = dict(self.env)
            env["NAS_CACHE_DIR"] = os.path.join(self.bench.work, "cache")
            env["NAS_THREADS"] = str(self.bench.threads)
            env["NAS_LOG"] = "warn"
            self.processes.append(subprocess.Popen(
                [self.bench.tool("nas-worker"), "serve", "--metrics-addr", "127.0.0.1:0",
                 "--worker-id", f"bench-{index}", *self.flags],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def read_log(bench, name, env):
    out = subprocess.run([bench.tool("nas-controller"), "log", name], check=True, capture_output=True, text=True,
                         env=env)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def run_measured(cmd, env=None):
    """Runs cmd to completion; returns stdout and the child's resource usage,
    with `anon_kib` added: its peak anonymous (heap) memory, sampled every
    50 ms, which unlike the RSS leaves out the shared libraries' pages."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        peak = {"anon": 0}
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                try:
                    with open(f"/proc/{process.pid}/smaps_rollup") as f:
                        for line in f:
                            if line.startswith("Anonymous:"):
                                peak["anon"] = max(peak["anon"], int(line.split()[1]))
                except (OSError, ValueError):
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:3])} failed ({process.returncode}):\n{err.read()[-3000:]}")
        return out.read(), Usage(usage, peak["anon"])


class Usage:
    """`resource.struct_rusage` plus the sampled peak anonymous memory."""

    def __init__(self, usage, anon_kib):
        self.ru_utime, self.ru_stime, self.ru_maxrss = usage.ru_utime, usage.ru_stime, usage.ru_maxrss
        self.anon_kib = anon_kib


def run_quiet(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def best_so_far(rewards):
    best, curve = float("-inf"), []
    for reward in rewards:
        best = max(best, reward)
        curve.append(best)
    return curve


def tabular_section(bench):
    """Section 8: the strategies on the NAS-Bench-Graph tables."""
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    for name in TABLES:
        path = os.path.join(bench.args.tables, f"{name}.jsonl.gz")
        out = subprocess.run([bench.tool("nas-controller"), "simulate", "--oracle", f"table:{path}#valid_perf",
                              "--test-column", "test_perf", "--space-file", space, "--missing-reward", "0",
                              "--strategies", "reinforce,random,evolution", "--budget",
                              str(bench.args.tabular_budget), "--seeds", str(bench.args.tabular_seeds),
                              "--json"], check=True, capture_output=True, text=True)
        data = json.loads(out.stdout)
        tabular = data["tabular"]
        by = {row["strategy"]: row for row in tabular["strategies"]}
        budget = data["budget"]
        for strategy, row in by.items():
            for hit in row["hitting"]:
                label = "top1" if hit["fraction"] == 0.01 else "top01"
                value = hit["median"] if hit["median"] is not None else float(budget + 1)
                bench.row(f"tabular.{name}.{strategy}.samples_to_{label}", value, "samples", "reported", True,
                          f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}, "
                          f"{hit['censored']} of {row['runs']} censored (>{budget})")
            for pick in row["picked"]:
                bench.row(f"tabular.{name}.{strategy}.test_at_{pick['after']}", pick["mean"], "accuracy",
                          "reported", True, f"± {pick['std']:.4f} over {row['runs']} seeds")
        median = lambda s: by[s]["hitting"][1]["median"]  # noqa: E731
        rl, rand = median("reinforce"), median("random")
        ratio = (rl / rand) if rl is not None and rand is not None else float("inf")
        bench.row(f"tabular.{name}.reinforce_vs_random_top01", ratio, "ratio", "<= 0.5", ratio <= 0.5,
                  f"median samples to the top 0.1%: {rl} vs {rand}")
        test = lambda s: next(p["mean"] for p in by[s]["picked"] if p["after"] == 500)  # noqa: E731
        gap = test("reinforce") - test("random")
        bench.row(f"tabular.{name}.reinforce_vs_random_test_at_500", gap, "accuracy", ">= 0", gap >= 0,
                  f"{test('reinforce'):.4f} vs {test('random'):.4f}")
        curves = {}
        for run in data["runs"]:
            curves.setdefault(run["strategy"], []).append(best_so_far(run["rewards"]))
        svg = os.path.join(bench.results, f"tabular-{name}.svg")
        write_curves_svg(svg, f"NAS-Bench-Graph {name}: best validation accuracy so far "
                         f"(median and range over {bench.args.tabular_seeds} seeds)", curves)
        del tabular["strategies"]
        report[name] = {"table": tabular, "strategies": {s: {k: v for k, v in row.items()
                                                              if k != "median_best_curve"}
                                                          for s, row in by.items()},
                        "plot": os.path.relpath(svg, ROOT)}
    bench.save("tabular", {"seeds": bench.args.tabular_seeds, "budget": bench.args.tabular_budget,
                           "tables": report})


# asha:1:20 (one rung, after epoch 1; one child in 20 goes on) was picked
# on seeds 0-49 and 1000-1099 of the 512-architecture table and checked on
# seeds 2000-2099 (README, "Early stopping on recorded curves").
STOPPING_RULES = ["none", "median:1:5", "asha:1:3", "asha:1:2", "asha:1:20"]
# ASHA with promotions (`simulate --asha promote`): simulated only, the
# controller does not run it yet; reported beside the rules it runs.
PROMOTING_RULES = ["none", "asha:1:3", "asha:1:2"]
# The recorded learning-curve tables (bench/record_curves.py): name, the
# search space its rows cover (bench/spaces/), how it was recorded, and
# whether the goal is measured on it (the others are kept for
# contrast).
STOPPING_TABLES = [
    ("cifar10-small-curves-10k", "small-cnn", "512 architectures, 10,000 training images per epoch at batch 64, "
     "5,000 validation images", True),
    ("cifar10-tiny-curves-10k", "tiny-cnn", "128 architectures, 10,000 training images per epoch at batch 64, "
     "5,000 validation images", False),
    ("cifar10-tiny-curves", "tiny-cnn", "128 architectures, 4,000 training images per epoch at batch 128, "
     "1,000 validation images", False),
]


def early_stopping_section(bench):
    """Section 9: the stopping rules on the recorded learning curves, at a
    budget of `--stopping-budget` times the seconds of training every
    architecture of the table once."""
    report = {}
    for name, space, recorded, goal in STOPPING_TABLES:
        table = os.path.join(BENCH, "tables", f"{name}.jsonl")
        space = os.path.join(BENCH, "spaces", f"{space}.toml")
        seconds = round(bench.args.stopping_budget * table_seconds(table), -2)
        data = simulate_stopping(bench, table, space, seconds)
        rows = {(row["strategy"], row["rule"]): row for row in data["summaries"]}
        for (strategy, rule), row in rows.items():
            to_top = row["median_seconds_to_top"]
            bench.row(f"early_stopping.{name}.{strategy}.{rule}.seconds_to_top1",
                      to_top if to_top is not None else float(seconds + 1), "train-s", "reported", True,
                      f"quartiles {row['quartiles_seconds_to_top']}, {row['censored']} of {row['runs']} censored; "
                      f"best {row['median_best_metric']:.4f}, {row['median_stopped_fraction']:.0%} stopped")
        for strategy in ["reinforce", "random"]:
            stopping_goal_rows(bench, name, rows, strategy, seconds, goal and strategy == "reinforce")
        promotions = report_promotions(bench, name, table, space, seconds, rows) if goal else None
        predictive = curve_predictiveness(table)
        bench.row(f"early_stopping.{name}.corr_epoch1_final", predictive["correlation"][0], "pearson",
                  "reported", True, "how well epoch 1 predicts the final (best of the last 5 epochs) accuracy")
        bench.row(f"early_stopping.{name}.corr_epoch3_final", predictive["correlation"][2], "pearson",
                  "reported", True)
        del data["runs"]
        report[name] = {"table": os.path.relpath(table, ROOT), "recorded": recorded, "goal": goal,
                        "training_seconds": seconds, "simulation": data, "predictiveness": predictive}
        if promotions is not None:
            report[name]["promotions_simulated_only"] = promotions
    bench.save("early_stopping", {"seeds": bench.args.stopping_seeds, "budget": bench.args.stopping_budget,
                                  "tables": report})


def table_seconds(path):
    """Seconds of training every architecture of a curve table once."""
    with open(path) as f:
        return sum(sum(json.loads(line)["epoch_seconds"]) for line in f if line.strip())


def report_promotions(bench, name, table, space, seconds, stopping_rows):
    """ASHA with promotions, simulated on the goal table with REINFORCE:
    reported, not a goal (the controller does not run it yet)."""
    data = simulate_stopping(bench, table, space, seconds, rules=PROMOTING_RULES, strategies="reinforce",
                             asha="promote")
    rows = {row["rule"]: row for row in data["summaries"]}
    none = rows["none"]["median_seconds_to_top"]
    for rule in PROMOTING_RULES[1:]:
        row, stopping = rows[rule], stopping_rows[("reinforce", rule)]
        to_top = row["median_seconds_to_top"]
        ratio = to_top / none if to_top is not None and none else None
        bench.row(f"early_stopping.{name}.reinforce.{rule}.promote_vs_none", ratio, "ratio", "reported", True,
                  f"simulated only: {to_top} s vs none {none:.0f} s to the top 1%, {row['censored']} censored, "
                  f"best {row['median_best_metric']:.4f}; stopping {stopping['median_seconds_to_top']} s")
    return data["summaries"]


def simulate_stopping(bench, table, space, seconds, rules=STOPPING_RULES, strategies="reinforce,random",
                      asha="stop"):
    """`nas-controller simulate` of the rules and strategies on one table
    of the space `space` (a space file)."""
    out = subprocess.run([bench.tool("nas-controller"), "simulate", "--oracle", f"curves:{table}#valid_accuracy",
                          "--space-file", space,
                          "--strategies", strategies, "--stopping", ",".join(rules), "--asha", asha,
                          "--gpu-seconds", str(seconds), "--budget", "1000",
                          "--seeds", str(bench.args.stopping_seeds), "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def stopping_goal_rows(bench, name, rows, strategy, seconds, goal):
    """The best rule against `none`: seconds to the top 1% and the best
    validation at the budget (a goal on the first table with REINFORCE)."""
    none = rows[(strategy, "none")]
    stopping = [r for (s, rule), r in rows.items() if s == strategy and rule != "none"
                and r["median_seconds_to_top"] is not None]
    if none["median_seconds_to_top"] is None or not stopping:
        bench.row(f"early_stopping.{name}.{strategy}.best_rule_vs_none", None, "ratio",
                  "<= 0.333" if goal else "reported", not goal, "a median run never reached the top 1%")
        return
    best = min(stopping, key=lambda r: r["median_seconds_to_top"])
    ratio = best["median_seconds_to_top"] / none["median_seconds_to_top"]
    bench.row(f"early_stopping.{name}.{strategy}.best_rule_vs_none", ratio, "ratio",
              "<= 0.333" if goal else "reported", ratio <= 1 / 3 if goal else True,
              f"{best['rule']}: {best['median_seconds_to_top']:.0f} s vs none "
              f"{none['median_seconds_to_top']:.0f} s to the top 1% (median over seeds)")
    gap = best["median_best_metric"] - none["median_best_metric"]
    bench.row(f"early_stopping.{name}.{strategy}.best_rule_metric_vs_none", gap, "accuracy",
              ">= 0" if goal else "reported", gap >= -1e-9 if goal else True,
              f"{best['rule']} {best['median_best_metric']:.4f} vs none {none['median_best_metric']:.4f} "
              f"after {seconds:.0f} training seconds")


def pareto_section(bench):
    """Section 10: accuracy against latency on the NAS-Bench-Graph tables."""
    report = {}
    space = os.path.join(BENCH, "spaces", "nas-bench-graph.toml")
    objective = bench.args.pareto_objective
    for name in TABLES:
        path = os.path.join(bench.args.tables, f"{name}.jsonl.gz")
        out = subprocess.run([bench.tool("nas-controller"), "simulate", "--oracle", f"table:{path}#valid_perf",
                              "--space-file", space, "--missing-reward", "0", "--objective", objective,
                              "--cost-column", "latency=latency_s", "--strategies", "reinforce,random",
                              "--budget", str(bench.args.pareto_budget), "--seeds", str(bench.args.pareto_seeds),
                              "--json"], check=True, capture_output=True, text=True)
        pareto = json.loads(out.stdout)["pareto"]
        by = {row["strategy"]: row for row in pareto["strategies"]}
        for strategy, row in by.items():
            goal = strategy == "reinforce"
            bench.row(f"pareto.{name}.{strategy}.hypervolume_ratio", row["median_ratio"], "ratio",
                      ">= 0.9" if goal else "reported", row["median_ratio"] >= 0.9 if goal else True,
                      f"quartiles {row['quartiles'][0]:.3f}..{row['quartiles'][1]:.3f} over {row['runs']} seeds, "
                      f"front of {row['median_front_size']:.0f} points (true front {len(pareto['true_front'])})")
        report[name] = pareto
    bench.save("pareto", {"objective": objective, "budget": bench.args.pareto_budget,
                          "seeds": bench.args.pareto_seeds, "tables": report})


STALENESS_IN_FLIGHT = [8, 64, 256]
STALENESS_SETTINGS = ["keep", "drop:8", "importance:1"]


def staleness_section(bench):
    """Section 11: what stale rewards cost REINFORCE with 8, 64 and 256
    children in flight (asynchronous simulation: log-normal training times),
    and what dropping them or weighting them by importance changes, on a
    NAS-Bench-Graph table and the synthetic CNN oracle."""
    name = bench.args.staleness_table
    path = os.path.join(bench.args.tables, f"{name}.jsonl.gz")
    seeds = str(bench.args.staleness_seeds)
    tabular_flags = ["--oracle", f"table:{path}#valid_perf", "--test-column", "test_perf", "--space-file",
                     os.path.join(BENCH, "spaces", "nas-bench-graph.toml"), "--missing-reward", "0",
                     "--budget", str(bench.args.staleness_budget), "--seeds", seeds]
    synthetic_flags = ["--oracle", "synthetic", "--space", "cnn", "--budget", str(bench.args.search_budget),
                       "--seeds", seeds]

    def simulate(flags, strategies, extra):
        out = subprocess.run([bench.tool("nas-controller"), "simulate", *flags, "--strategies", strategies,
                              *extra, "--json"], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def top01(data, strategy):
        row = next(r for r in data["tabular"]["strategies"] if r["strategy"] == strategy)
        hit = next(h for h in row["hitting"] if h["fraction"] == 0.001)
        test = next(p["mean"] for p in row["picked"] if p["after"] == 500)
        return hit, test, row["runs"]

    report = {"table": name, "random": {}, "runs": []}
    random_table = simulate(tabular_flags, "random", [])
    hit, test, _ = top01(random_table, "random")
    report["random"][name] = {"samples_to_top01": hit["median"], "test_at_500": test}
    bench.row(f"staleness.{name}.random.samples_to_top01", hit["median"], "samples", "reported", True,
              f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}; test at 500 {test:.4f}")
    random_synthetic = simulate(synthetic_flags, "random", [])["summary"][0]
    report["random"]["synthetic"] = {"median_best": random_synthetic["median_best_reward"]}
    for in_flight in STALENESS_IN_FLIGHT:
        for setting in STALENESS_SETTINGS:
            extra = ["--in-flight", str(in_flight), "--staleness", setting]
            table = simulate(tabular_flags, "reinforce", extra)
            synthetic = simulate(synthetic_flags, "reinforce", extra)["summary"][0]
            hit, test, runs = top01(table, "reinforce")
            summary = table["summary"][0]
            label = f"staleness.in_flight_{in_flight}.{setting.replace(':', '_')}"
            censored = f"{hit['censored']} of {runs} censored (>{table['budget']})"
            bench.row(f"{label}.{name}.samples_to_top01", hit["median"] if hit["median"] is not None
                      else float(table["budget"] + 1), "samples", "reported", True,
                      f"quartiles {hit['lower_quartile']}..{hit['upper_quartile']}, {censored}; "
                      f"mean staleness {summary['mean_staleness']:.1f} versions, "
                      f"{summary['stale_dropped_share']:.0%} dropped")
            bench.row(f"{label}.{name}.test_at_500", test, "accuracy", "reported", True)
            bench.row(f"{label}.synthetic.median_best", synthetic["median_best_reward"], "reward", "reported",
                      True, f"last 100 {synthetic['median_mean_last_100']:.4f}, mean staleness "
                      f"{synthetic['mean_staleness']:.1f}, {synthetic['stale_dropped_share']:.0%} dropped")
            report["runs"].append({
                "in_flight": in_flight, "staleness": setting,
                name: {"samples_to_top01": hit, "test_at_500": test, "mean_staleness": summary["mean_staleness"],
                       "stale_dropped_share": summary["stale_dropped_share"]},
                "synthetic": {key: synthetic[key] for key in ["median_best_reward", "median_mean_last_100",
                                                               "mean_staleness", "stale_dropped_share"]},
            })
    bench.save("staleness", {"seeds": bench.args.staleness_seeds, "budget": bench.args.staleness_budget,
                             "synthetic_budget": bench.args.search_budget, **report})


def curve_predictiveness(path):
    """Correlation of each epoch's accuracy with the final one, and the rank
    at each epoch of the table's best architectures."""
    with open(path) as f:
        curves = [json.loads(line)["valid_accuracy"] for line in f if line.strip()]
    final = [max(c[-5:]) for c in curves]
    epochs = min(len(c) for c in curves)
    correlation = [statistics.correlation([c[e] for c in curves], final) for e in range(epochs)]
    best = sorted(range(len(curves)), key=lambda i: final[i], reverse=True)[:2]
    ranks = []
    for e in range(epochs):
        so_far = [max(c[:e + 1]) for c in curves]
        order = sorted(range(len(curves)), key=lambda i: so_far[i], reverse=True)
        ranks.append([order.index(i) + 1 for i in best])
    return {"rows": len(curves), "correlation": correlation, "top_ranks_by_epoch": ranks}


def write_curves_svg(path, title, curves):
    """Median best-so-far curve per strategy with its min..max band, as SVG."""
    colours = {"reinforce": "#1f77b4", "random": "#ff7f0e", "evolution": "#2ca02c"}
    width, height, left, right, top, bottom = 720, 420, 70, 150, 40, 50
    length = max(len(c) for runs in curves.values() for c in runs)
    values = [v for runs in curves.values() for c in runs for v in c if v > float("-inf")]
    low, high = min(values), max(values)
    high = high if high > low else low + 1
    x = lambda i: left + (width - left - right) * i / max(length - 1, 1)  # noqa: E731
    y = lambda v: top + (height - top - bottom) * (1 - (v - low) / (high - low))  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">children</text>']
    for k in range(5):
        v = low + (high - low) * k / 4
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:.3f}</text>')
        i = round((length - 1) * k / 4)
        parts.append(f'<text x="{x(i)}" y="{height - bottom + 16}" text-anchor="middle">{i + 1}</text>')
    for n, (strategy, runs) in enumerate(sorted(curves.items())):
        colour = colours.get(strategy, "#555")
        column = lambda i: [c[i] for c in runs if i < len(c) and c[i] > float("-inf")]  # noqa: E731
        steps = [i for i in range(length) if column(i)]
        upper = " ".join(f"{x(i):.1f},{y(max(column(i))):.1f}" for i in steps)
        lower = " ".join(f"{x(i):.1f},{y(min(column(i))):.1f}" for i in reversed(steps))
        median = " ".join(f"{x(i):.1f},{y(statistics.median(column(i))):.1f}" for i in steps)
        parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15"/>')
        parts.append(f'<polyline points="{median}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 10}" y="{top + 20 * n + 10}" fill="{colour}">{strategy}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def print_summary(rows):
    print()
    print(f"{'figure':<58}{'value':>12}  {'unit':<13}{'goal':<11}met")
    for row in rows:
        print(f"{row['name']:<58}{fmt(row['value']):>12}  {row['unit']:<13}{row['goal']:<11}"
              f"{'yes' if row['met'] else 'NO'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR",
                                                                         os.path.join(ROOT, "target")), "release"))
    parser.add_argument("--results", default=os.path.join(BENCH, "results"))
    parser.add_argument("--cifar", default=os.path.join(ROOT, "..", "shared", "data", "cifar-10-binary.tar.gz"))
    parser.add_argument("--ptb", default=os.path.join(ROOT, "..", "shared", "data", "ptb"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu",
                        help="where the train and memory sections train: cpu or cuda (bench/gpu.sh does more)")
    parser.add_argument("--cnn-images", type=int, default=512,
                        help="training images of the 12-layer child (x2 for 6 layers, x4 for 3)")
    parser.add_argument("--ptb-tokens", type=int, default=28000)
    parser.add_argument("--pipeline-children", type=int, default=22)
    parser.add_argument("--dispatch-children", type=int, default=10000)
    parser.add_argument("--dispatch-workers", type=int, default=4)
    parser.add_argument("--scaling-delay-ms", type=int, default=500)
    parser.add_argument("--scaling-jobs-per-worker", type=int, default=24)
    parser.add_argument("--search-budget", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tables", default=os.path.join(ROOT, "..", "shared", "data", "nas-bench-graph"))
    parser.add_argument("--tabular-budget", type=int, default=2000)
    parser.add_argument("--tabular-seeds", type=int, default=40)
    parser.add_argument("--stopping-seeds", type=int, default=50)
    parser.add_argument("--stopping-budget", type=float, default=1.3,
                        help="early_stopping: training seconds per run, in multiples of training the whole table once")
    parser.add_argument("--pareto-objective", default="mnas:latency:0.005")
    parser.add_argument("--pareto-budget", type=int, default=500)
    parser.add_argument("--pareto-seeds", type=int, default=10)
    parser.add_argument("--staleness-table", default="cora", choices=TABLES)
    parser.add_argument("--staleness-budget", type=int, default=2000)
    parser.add_argument("--staleness-seeds", type=int, default=20)
    args = parser.parse_args()
    selected = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(selected) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    bench = Bench(args)
    started = time.time()
    try:
        for section in SECTIONS:
            if section in selected:
                print(f"== {section}", flush=True)
                t0 = time.time()
                getattr(bench, section)()
                print(f"   ({time.time() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "seconds": time.time() - started,
               "rows": bench.rows}
    previous = os.path.join(args.results, "summary.json")
    if set(selected) != set(SECTIONS) and os.path.exists(previous):
        # A partial run updates its own rows and keeps the others.
        with open(previous) as f:
            kept = [r for r in json.load(f).get("rows", []) if r["name"].split(".")[0] not in selected
                    and not (r["name"].startswith("memory.controller") and "dispatch" in selected)]
        summary["rows"] = kept + bench.rows
    with open(previous, "w") as f:
        json.dump(summary, f, indent=2)
    print_summary(bench.rows)
    print(f"\n{len(bench.rows)} figures, {sum(r['met'] for r in bench.rows)} goals met, "
          f"{time.time() - started:.0f} s; wrote {os.path.relpath(args.results, ROOT)}/summary.json")


if __name__ == "__main__":
    main()
