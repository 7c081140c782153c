#!/usr/bin/env python3
"""PyTorch (eager, Python) reference trainer for CNN specs.

Builds the network of an ArchSpec JSON with exactly the conventions of
`worker/src/model/cnn.rs` (the module `nas-controller export` embeds,
`controller/src/present/templates/pytorch_cnn.py`: conv without bias -> batch norm -> ReLU, TensorFlow
"same" padding, inputs zero-padded at the bottom/right and concatenated,
optional 2x2 max-pools, unconsumed outputs concatenated, global average
pooling, linear classifier) and trains it the way `nas-worker train` does
(SGD, Nesterov momentum 0.9, lr 0.1, weight decay 1e-4, batch 128, batched
pad-and-crop plus flip augmentation, validation after the epoch), on CIFAR-10
read from the official binary archive or folder.

Prints one JSON object: params, throughput (training images per second),
train_seconds, val_accuracy, device, precision and, on CUDA, the peak GPU
memory. Used by `make bench` (bench/run.py) and `bench/gpu.sh` to compare
against the Rust worker on the same spec, data, threads and batch size.

`--device cuda` keeps the data on the GPU (uploaded once, augmented there);
`--precision bf16` runs the forward pass under bf16 autocast; `--compile`
wraps the model in `torch.compile`. The first `--warmup-steps` steps (cuDNN
autotuning, compilation) are not timed, and the clock is read only after
`torch.cuda.synchronize()`, so the figure is the steady state.
"""
import argparse
import json
import os
import sys
import tarfile
import time

import torch
import torch.nn.functional as F

# The network comes from the module `nas-controller export` embeds, so the
# parity benchmark measures exactly what users get.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "controller", "src", "present", "templates")
sys.path.insert(0, TEMPLATES)
from pytorch_cnn import Child  # noqa: E402
from torch_reference import add_run_options, start  # noqa: E402

RECORD = 3073
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]


def read_cifar(path):
    """Training records (labels, uint8 images) from an archive or folder."""
    blobs = {}
    if os.path.isfile(path):
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if name in TRAIN_FILES:
                    blobs[name] = tar.extractfile(member).read()
    else:
        folder = path
        if os.path.isdir(os.path.join(path, "cifar-10-batches-bin")):
            folder = os.path.join(path, "cifar-10-batches-bin")
        for name in TRAIN_FILES:
            with open(os.path.join(folder, name), "rb") as f:
                blobs[name] = f.read()
    raw = torch.frombuffer(bytearray(b"".join(blobs[n] for n in TRAIN_FILES)), dtype=torch.uint8).view(-1, RECORD)
    labels = raw[:, 0].long()
    images = raw[:, 1:].clone().view(-1, 3, 32, 32)
    return images, labels


def augment(images, offsets):
    """Pad by 4, random 32x32 crop and horizontal flip, as one gather."""
    b, c, s, _ = images.shape
    device = images.device
    padded = F.pad(images, (4, 4, 4, 4))
    rows = torch.randint(0, 9, (b, 1), device=device) + offsets
    flip = torch.rand(b, 1, device=device) < 0.5
    cols = torch.randint(0, 9, (b, 1), device=device) + torch.where(flip, offsets.flip(0), offsets)
    out = padded.gather(2, rows.view(b, 1, s, 1).expand(b, c, s, s + 8))
    return out.gather(3, cols.view(b, 1, 1, s).expand(b, c, s, s))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--train-subset", type=int, default=10000)
    parser.add_argument("--valid-size", type=int, default=5000)
    parser.add_argument("--valid-subset", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--channels-last", action="store_true",
                        help="train on channels-last activations and weights, as nas-worker does")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                        help="bf16: the forward pass under bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    add_run_options(parser, "steps")
    args = parser.parse_args()
    device, sync = start(args)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    with open(args.spec) as f:
        spec = json.load(f)

    images, labels = read_cifar(args.data)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(args.seed))
    valid_idx = order[: args.valid_size].sort().values
    train_idx = order[args.valid_size:][: args.train_subset].sort().values
    if args.valid_subset:
        valid_idx = valid_idx[: args.valid_subset]
    train_x, train_y = images[train_idx].to(device), labels[train_idx].to(device)
    valid_x, valid_y = images[valid_idx].to(device), labels[valid_idx].to(device)
    stats = train_x.double() / 255
    mean = stats.mean((0, 2, 3)).float().view(1, 3, 1, 1)
    std = stats.std((0, 2, 3), unbiased=False).float().view(1, 3, 1, 1)
    del stats

    model = Child(spec).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    forward = torch.compile(model) if args.compile else model
    offsets = torch.arange(32, device=device)

    def step(idx):
        x = (train_x[idx].float() / 255 - mean) / std
        x = augment(x, offsets)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(forward(x), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(args.warmup_steps):
        step(torch.randperm(len(train_y), device=device)[: args.batch_size])
    sync()
    trained, train_time, epoch_seconds = 0, 0.0, []
    for _ in range(args.epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(train_y), device=device)
        for i in range(0, len(train_y), args.batch_size):
            idx = perm[i:i + args.batch_size]
            if len(idx) < 2:
                break
            step(idx)
            trained += len(idx)
        sync()
        epoch_seconds.append(time.perf_counter() - start)
        train_time += epoch_seconds[-1]
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        for i in range(0, len(valid_y), 500):
            x = (valid_x[i:i + 500].float() / 255 - mean) / std
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            correct += (forward(x).argmax(1) == valid_y[i:i + 500]).sum().item()
    print(json.dumps({
        "params": params,
        "throughput": trained / train_time,
        "train_seconds": train_time,
        "epoch_seconds": epoch_seconds,
        "val_accuracy": correct / max(len(valid_y), 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compiled": args.compile,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
    }))


if __name__ == "__main__":
    main()
