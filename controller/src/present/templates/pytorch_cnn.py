# The CNN child of a spec in PyTorch, with exactly the conventions of
# nas-worker's `worker/src/model/cnn.rs`: conv (no bias) -> batch norm ->
# ReLU per layer, TensorFlow "same" padding, skip inputs zero-padded at the
# bottom/right and concatenated, optional 2x2 max-pools, unconsumed outputs
# concatenated, global average pooling, linear classifier.
#
# `nas-controller export --format pytorch` embeds this file; the parity
# benchmark (bench/train_pytorch.py) imports it, so both use one copy.
import torch
import torch.nn as nn
import torch.nn.functional as F


def same_padding(size, stride, kernel):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def concat_padded(maps):
    if len(maps) == 1:
        return maps[0]
    h = max(m.shape[2] for m in maps)
    w = max(m.shape[3] for m in maps)
    return torch.cat([F.pad(m, (0, w - m.shape[3], 0, h - m.shape[2])) for m in maps], 1)


class Child(nn.Module):
    """The CNN of `spec` (an ArchSpec as a dict) for `side`x`side` images."""

    def __init__(self, spec, classes=10, channels=3, side=32, bn_eps=1e-5):
        super().__init__()
        layers = spec["layers"]
        pools = set(spec.get("max_pool_after", []))
        shapes, consumed = [], set()
        self.sources, self.pads, self.pools = [], [], []
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        for i, layer in enumerate(layers):
            inputs = layer["inputs"]
            consumed.update(inputs)
            if inputs:
                cin = sum(shapes[j][0] for j in inputs)
                h = max(shapes[j][1] for j in inputs)
                w = max(shapes[j][2] for j in inputs)
            else:
                cin, h, w = channels, side, side
            kh, kw = layer["kernel_height"], layer["kernel_width"]
            sh, sw = layer["stride_height"], layer["stride_width"]
            top, bottom = same_padding(h, sh, kh)
            left, right = same_padding(w, sw, kw)
            symmetric = top == bottom and left == right
            self.convs.append(nn.Conv2d(cin, layer["filters"], (kh, kw), (sh, sw),
                                        padding=(top, left) if symmetric else 0, bias=False))
            self.norms.append(nn.BatchNorm2d(layer["filters"], eps=bn_eps))
            self.pads.append(None if symmetric else (left, right, top, bottom))
            self.sources.append(inputs)
            self.pools.append(i in pools)
            oh, ow = (h + sh - 1) // sh, (w + sw - 1) // sw
            if i in pools:
                oh, ow = (oh + 1) // 2, (ow + 1) // 2
            shapes.append((layer["filters"], oh, ow))
        self.final = [i for i in range(len(layers)) if i not in consumed]
        self.classifier = nn.Linear(sum(shapes[i][0] for i in self.final), classes)

    def forward(self, x):
        outputs = []
        for conv, norm, pad, sources, pool in zip(self.convs, self.norms, self.pads, self.sources, self.pools):
            inp = concat_padded([outputs[j] for j in sources]) if sources else x
            if pad is not None:
                inp = F.pad(inp, pad)
            out = F.relu(norm(conv(inp)))
            if pool:
                out = F.max_pool2d(out, 2, 2, ceil_mode=True)
            outputs.append(out)
        return self.classifier(concat_padded([outputs[i] for i in self.final]).mean((2, 3)))
