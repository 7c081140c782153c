#!/usr/bin/env python3
"""PyTorch (eager, Python) reference trainer for recurrent-cell specs.

Builds the language model of a cell ArchSpec JSON with exactly the
conventions of `worker/src/model/recurrent_cell.rs` and
`worker/src/model/language_model.rs` (the module `nas-controller export`
embeds, `controller/src/present/templates/pytorch_cell.py`) (leaf l = act(comb(W_l x_t + b_l, U_l h_{t-1}))
with all input maps as one linear layer applied to the whole window and all
hidden maps as one bias-free linear layer per step; inner nodes combine
their two children; the inject node merges c_{t-1}; c_t is the memory
node's pre-activation; 2 layers, embedding size = hidden size, dropout 0.2,
tied decoder with its own bias) and trains it the way `nas-worker train
--task ptb` does (plain SGD lr 5, gradient norm clipped to 0.25, batch 20,
truncated BPTT over 35 steps), on Penn Treebank read from the official text
files.

Prints one JSON object: params, throughput (training tokens per second),
train_seconds, val_perplexity, device. Used by `make bench` and
`bench/gpu.sh` to compare against the Rust worker on the same spec, data,
threads and batch size. `--device cuda` keeps the tokens on the GPU; the
first `--warmup-steps` windows are not timed and the clock is read after
`torch.cuda.synchronize()`.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

# The network comes from the module `nas-controller export` embeds, so the
# parity benchmark measures exactly what users get.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "controller", "src", "present", "templates")
sys.path.insert(0, TEMPLATES)
from pytorch_cell import LanguageModel  # noqa: E402
from torch_reference import add_run_options, start  # noqa: E402

STEPS = 35
EVAL_BATCH = 10


def read_words(path):
    with open(path) as f:
        for line in f:
            yield from line.split()
            yield "<eos>"


def load_ptb(folder, char_level=False):
    prefix = "ptb.char." if char_level else "ptb."
    vocabulary = {}
    train = []
    for word in read_words(os.path.join(folder, prefix + "train.txt")):
        train.append(vocabulary.setdefault(word, len(vocabulary)))
    unk = vocabulary.setdefault("<unk>", len(vocabulary))
    valid = [vocabulary.get(w, unk) for w in read_words(os.path.join(folder, prefix + "valid.txt"))]
    return torch.tensor(train), torch.tensor(valid), len(vocabulary)


def batchify(tokens, batch):
    per_stream = len(tokens) // batch
    return tokens[: per_stream * batch].view(batch, per_stream)


def windows(streams):
    total = streams.shape[1]
    for start in range(0, total - 1, STEPS):
        length = min(STEPS, total - 1 - start)
        yield streams[:, start:start + length], streams[:, start + 1:start + 1 + length]


def evaluate(model, streams):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        state = model.zero_state(streams.shape[0])
        for inputs, targets in windows(streams):
            logits, state = model(inputs, state)
            total += F.cross_entropy(logits, targets.reshape(-1)).item() * targets.numel()
            count += targets.numel()
    return math.exp(total / max(count, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--data", required=True, help="the folder with ptb.train.txt etc.")
    parser.add_argument("--train-subset", type=int, default=None, help="training tokens")
    parser.add_argument("--valid-subset", type=int, default=None, help="validation tokens")
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=5.0)
    add_run_options(parser, "windows")
    args = parser.parse_args()
    device, sync = start(args)
    with open(args.spec) as f:
        spec = json.load(f)
    train, valid, vocabulary = load_ptb(args.data)
    if args.train_subset:
        train = train[: args.train_subset]
    if args.valid_subset:
        valid = valid[: args.valid_subset]
    train, valid = train.to(device), valid.to(device)
    model = LanguageModel(spec, vocabulary, args.hidden).to(device)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
    streams = batchify(train, args.batch_size)
    model.train()

    def step(inputs, targets, state):
        state = [(h.detach(), c.detach()) for h, c in state]
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits, targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        return state

    state = model.zero_state(args.batch_size)
    for _, (inputs, targets) in zip(range(args.warmup_steps), windows(streams)):
        state = step(inputs, targets, state)
    sync()
    trained = 0
    start = time.perf_counter()
    state = model.zero_state(args.batch_size)
    for inputs, targets in windows(streams):
        state = step(inputs, targets, state)
        trained += targets.numel()
    sync()
    train_time = time.perf_counter() - start
    print(json.dumps({
        "params": params,
        "throughput": trained / train_time,
        "train_seconds": train_time,
        "val_perplexity": evaluate(model, batchify(valid, EVAL_BATCH)),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
    }))


if __name__ == "__main__":
    main()
