"""The context every section runs in (`Bench`), and the process helpers
the sections share: workers, measured commands, the controller's log."""
import json
import os
import platform
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
TABLES = ["cora", "citeseer", "pubmed"]


class Bench:
    """The shared bench context: arguments, binaries, a work folder, and
    the date, machine and commit every saved result and row carries."""

    def __init__(self, args):
        self.args = args
        self.bin = args.bin_dir
        self.results = args.results
        self.work = tempfile.mkdtemp(prefix="nas-bench-")
        self.threads = args.threads
        self.machine = machine()
        self.commit = commit()  # before the run writes its results into the tree
        os.makedirs(self.results, exist_ok=True)

    def tool(self, name):
        return os.path.join(self.bin, name)

    def save(self, section, data):
        """Writes `bench/results/<section>.json` and returns what it wrote."""
        data = {"date": time.strftime("%Y-%m-%d"), "machine": self.machine, "commit": self.commit, **data}
        with open(os.path.join(self.results, f"{section}.json"), "w") as f:
            json.dump(data, f, indent=2)
        return data

    def run_json(self, cmd, **kw):
        """Runs cmd, returns its last stdout line parsed as JSON and its peak RSS (KiB)."""
        out, usage = run_measured(cmd, **kw)
        return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss

    def run_json_usage(self, cmd, **kw):
        """Runs cmd, returns its last stdout line parsed as JSON and its resource usage."""
        out, usage = run_measured(cmd, **kw)
        return json.loads(out.strip().splitlines()[-1]), usage

    def simulate(self, *flags):
        """`nas-controller simulate FLAGS --output json`, parsed."""
        out = subprocess.run([self.tool("nas-controller"), "simulate", *flags, "--output", "json"],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

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


def queue_env(bench, name):
    """The store settings plus a queue prefix of the experiment's own."""
    env = bench.store_env()
    env["NAS_QUEUE_PREFIX"] = name
    return env


def store_kind(env):
    return "s3" if env.get("NAS_S3_BUCKET") else "local"


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


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit():
    """`git rev-parse HEAD`, with `-dirty` when tracked files have changes;
    "unknown" outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")
