#!/usr/bin/env python3
"""PyTorch (eager, Python) reference trainer for recurrent-cell specs.

Builds the language model of a cell ArchSpec JSON with exactly the
conventions of `worker/src/recurrent_cell.rs` and
`worker/src/language_model.rs` (leaf l = act(comb(W_l x_t + b_l, U_l h_{t-1}))
with all input maps as one linear layer applied to the whole window and all
hidden maps as one bias-free linear layer per step; inner nodes combine
their two children; the inject node merges c_{t-1}; c_t is the memory
node's pre-activation; 2 layers, embedding size = hidden size, dropout 0.2,
tied decoder with its own bias) and trains it the way `nas-worker train
--task ptb` does (plain SGD lr 5, gradient norm clipped to 0.25, batch 20,
truncated BPTT over 35 steps), on Penn Treebank read from the official text
files.

Prints one JSON object: params, throughput (training tokens per second),
train_seconds, val_perplexity. Used by `make bench` to compare against the
Rust worker on the same spec, data, threads and batch size.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

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


def tree_children(leaves, node):
    level_start, level_len = 0, leaves
    while level_len > 1:
        next_start, next_len = level_start + level_len, level_len // 2
        if next_start <= node < next_start + next_len:
            position = node - next_start
            return level_start + 2 * position, level_start + 2 * position + 1
        level_start, level_len = next_start, next_len
    return None


ACTIVATIONS = {"identity": lambda x: x, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": F.relu}
COMBINATIONS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}


class CellLayer(nn.Module):
    def __init__(self, cell, inputs, hidden):
        super().__init__()
        self.cell, self.hidden = cell, hidden
        leaves = cell["leaves"]
        self.input_map = nn.Linear(inputs, leaves * hidden)
        self.hidden_map = nn.Linear(hidden, leaves * hidden, bias=False)
        bound = 1.0 / (leaves * math.sqrt(hidden))
        nn.init.uniform_(self.hidden_map.weight, -bound, bound)
        self.nodes = [(COMBINATIONS[n["combination"]], ACTIVATIONS[n["activation"]]) for n in cell["nodes"]]
        inject = cell["inject"]
        self.inject = (COMBINATIONS[inject["combination"]], ACTIVATIONS[inject["activation"]])
        self.tree = [tree_children(leaves, i) for i in range(len(self.nodes))]

    def step(self, projected, h, c):
        from_input = projected.split(self.hidden, -1)
        from_hidden = self.hidden_map(h).split(self.hidden, -1)
        outputs, memory = [], c
        for index, (combine, activate) in enumerate(self.nodes):
            children = self.tree[index]
            if children is None:
                pre = combine(from_input[index], from_hidden[index])
            else:
                pre = combine(outputs[children[0]], outputs[children[1]])
            out = activate(pre)
            if index == self.cell["memory_node"]:
                memory = pre
            if index == self.cell["inject_node"]:
                out = self.inject[1](self.inject[0](out, c))
            outputs.append(out)
        return outputs[-1], memory


class LanguageModel(nn.Module):
    def __init__(self, cell, vocabulary, hidden, layers=2, dropout=0.2):
        super().__init__()
        self.hidden, self.dropout = hidden, dropout
        self.embedding = nn.Embedding(vocabulary, hidden)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.layers = nn.ModuleList(CellLayer(cell, hidden, hidden) for _ in range(layers))
        self.decoder_bias = nn.Parameter(torch.zeros(vocabulary))

    def zero_state(self, batch):
        return [(torch.zeros(batch, self.hidden), torch.zeros(batch, self.hidden)) for _ in self.layers]

    def forward(self, tokens, state):
        sequence = F.dropout(self.embedding(tokens), self.dropout, self.training)
        next_state = []
        for layer, (h, c) in zip(self.layers, state):
            projected = layer.input_map(sequence)
            outputs = []
            for t in range(projected.shape[1]):
                h, c = layer.step(projected[:, t], h, c)
                outputs.append(h)
            sequence = F.dropout(torch.stack(outputs, 1), self.dropout, self.training)
            next_state.append((h, c))
        logits = F.linear(sequence.reshape(-1, self.hidden), self.embedding.weight, self.decoder_bias)
        return logits, next_state


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
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.spec) as f:
        spec = json.load(f)
    train, valid, vocabulary = load_ptb(args.data)
    if args.train_subset:
        train = train[: args.train_subset]
    if args.valid_subset:
        valid = valid[: args.valid_subset]
    model = LanguageModel(spec, vocabulary, args.hidden)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
    streams = batchify(train, args.batch_size)
    model.train()
    trained = 0
    start = time.perf_counter()
    state = model.zero_state(args.batch_size)
    for inputs, targets in windows(streams):
        state = [(h.detach(), c.detach()) for h, c in state]
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits, targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        trained += targets.numel()
    train_time = time.perf_counter() - start
    print(json.dumps({
        "params": params,
        "throughput": trained / train_time,
        "train_seconds": train_time,
        "val_perplexity": evaluate(model, batchify(valid, EVAL_BATCH)),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
