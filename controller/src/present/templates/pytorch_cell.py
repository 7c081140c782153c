# The language model around a searched recurrent cell in PyTorch, with
# exactly the conventions of nas-worker's `worker/src/model/recurrent_cell.rs`
# and `language_model.rs`: leaf l = act(comb(W_l x_t + b_l, U_l h_{t-1})),
# all input maps one linear layer applied to the whole window and all hidden
# maps one bias-free linear layer per step; inner nodes combine their two
# children; the inject node merges c_{t-1}; c_t is the memory node's
# pre-activation and h_t the root's output. Embedding -> dropout -> cell
# layers -> dropout -> decoder tied to the embedding (own bias only).
#
# `nas-controller export --format pytorch` embeds this file; the parity
# benchmark (bench/train_pytorch_lm.py) imports it, so both use one copy.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {"identity": lambda x: x, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": F.relu}
COMBINATIONS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}


def tree_children(leaves, node):
    """The two children of an inner node of the cell's tree, or None for a leaf."""
    level_start, level_len = 0, leaves
    while level_len > 1:
        next_start, next_len = level_start + level_len, level_len // 2
        if next_start <= node < next_start + next_len:
            position = node - next_start
            return level_start + 2 * position, level_start + 2 * position + 1
        level_start, level_len = next_start, next_len
    return None


class CellLayer(nn.Module):
    """One layer of the searched cell."""

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
    """The language model around `cell` (an ArchSpec as a dict)."""

    def __init__(self, cell, vocabulary=10000, hidden=200, layers=2, dropout=0.2):
        super().__init__()
        self.hidden, self.dropout = hidden, dropout
        self.embedding = nn.Embedding(vocabulary, hidden)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.layers = nn.ModuleList(CellLayer(cell, hidden, hidden) for _ in range(layers))
        self.decoder_bias = nn.Parameter(torch.zeros(vocabulary))

    def zero_state(self, batch):
        device = self.decoder_bias.device
        return [(torch.zeros(batch, self.hidden, device=device), torch.zeros(batch, self.hidden, device=device))
                for _ in self.layers]

    def forward(self, tokens, state=None):
        if state is None:
            state = self.zero_state(tokens.shape[0])
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
