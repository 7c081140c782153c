#!/usr/bin/env python3
"""Records a learning-curve table: every architecture of
bench/spaces/tiny-cnn.toml trained by the real worker (`nas-worker train`)
on real CIFAR-10, one row per architecture with its validation accuracy and
seconds after every epoch.

    python3 bench/record_curves.py --worker target/release/nas-worker \
        --data ../shared/data/cifar-10-binary.tar.gz --out bench/tables/cifar10-tiny-curves-10k.jsonl \
        --train-subset 10000 --valid-subset 5000 --batch-size 64 --shard 0/2   # and 1/2 beside it

(bench/tables/cifar10-tiny-curves.jsonl was recorded with the defaults:
4,000 training and 1,000 validation images at batch 128;
cifar10-tiny-curves-lr002.jsonl the same with `--learning-rate 0.02`, a
slower schedule, so the stopping rules meet a curve shape they were not
tuned on.)

`--filters 8,16,24,32` records the larger space of
bench/spaces/small-cnn.toml (512 architectures); `--reuse TABLE` copies the
rows of a table recorded the same way over the default filters (8 and 16)
instead of training those architectures again.

Rows already in --out are kept (the recording resumes where it stopped).
`--shard K/N` records every N-th architecture from the K-th (0-based), so
N processes with one thread each can share the cores and append to the same
file; each row is written in one append.
"""
import argparse, itertools, json, os, subprocess, sys, tempfile

FILTERS, KERNELS = [8, 16], [1, 3]


def specs(filters=FILTERS):
    """The specs of tiny-cnn.toml (128 with the default filters): 2 layers,
    each with one of `filters` and a 1 or 3 kernel in each direction; the
    second layer may skip from the first."""
    layer = lambda f, h, w, inputs: {"filters": f, "kernel_height": h, "kernel_width": w,
                                     "stride_height": 1, "stride_width": 1, "inputs": inputs}
    choices = list(itertools.product(filters, KERNELS, KERNELS))
    for first, second, skip in itertools.product(choices, choices, [False, True]):
        yield {"version": 1, "kind": "cnn",
               "layers": [layer(*first, []), layer(*second, [0] if skip else [])],
               "max_pool_after": []}


def reused_rows(path, filters):
    """The rows of a table over the default filters, by their spec's index
    in the space over `filters`."""
    with open(path) as f:
        old = {row["spec_index"]: row for row in map(json.loads, f) if row}
    index_of = {json.dumps(spec, sort_keys=True): i for i, spec in enumerate(specs())}
    rows = {}
    for index, spec in enumerate(specs(filters)):
        old_index = index_of.get(json.dumps(spec, sort_keys=True))
        if old_index is not None and old_index in old:
            rows[index] = dict(old[old_index], spec_index=index)
    return rows


def shard(text):
    """`K/N` with 0 <= K < N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard {text!r} is not K/N")
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"shard {text!r}: K must be in 0..N-1")
    return k, n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--valid-subset", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, help="the worker's default (128) when unset")
    parser.add_argument("--learning-rate", type=float,
                        help="the initial learning rate of the worker's step schedule (its default, 0.1, when unset)")
    parser.add_argument("--shard", type=shard, default=(0, 1), metavar="K/N")
    parser.add_argument("--filters", default=",".join(map(str, FILTERS)),
                        type=lambda text: [int(part) for part in text.split(",")])
    parser.add_argument("--reuse", help="a table recorded the same way over the default filters")
    args = parser.parse_args()
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as f:
            done = {json.loads(line)["spec_index"] for line in f if line.strip()}
    with tempfile.TemporaryDirectory() as tmp, open(args.out, "a") as out:
        if args.reuse and args.shard[0] == 0:
            for index, row in sorted(reused_rows(args.reuse, args.filters).items()):
                if index not in done:
                    out.write(json.dumps(row) + "\n")
                    done.add(index)
            out.flush()
        elif args.reuse:
            done |= set(reused_rows(args.reuse, args.filters))
        for index, spec in enumerate(specs(args.filters)):
            if index in done or index % args.shard[1] != args.shard[0]:
                continue
            path = os.path.join(tmp, "spec.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            cmd = [args.worker, "train", "--spec", path, "--task", "cifar10", "--data", args.data,
                   "--epochs", str(args.epochs), "--train-subset", str(args.train_subset),
                   "--valid-subset", str(args.valid_subset), "--threads", str(args.threads), "--output", "json"]
            if args.batch_size is not None:
                cmd += ["--batch-size", str(args.batch_size)]
            if args.learning_rate is not None:
                cmd += ["--learning-rate", str(args.learning_rate)]
            run = subprocess.run(cmd, capture_output=True, text=True, check=True)
            report = json.loads(run.stdout.strip().splitlines()[-1])
            row = {"spec_index": index, "arch_id": report["arch_id"], "params": report["params"],
                   "valid_accuracy": [e["val_accuracy"] for e in report["epochs"]],
                   "epoch_seconds": [round(e["seconds"], 4) for e in report["epochs"]]}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(index, row["arch_id"][:12], row["valid_accuracy"][-1], file=sys.stderr)


if __name__ == "__main__":
    main()
