#!/usr/bin/env python3
"""A trial command that trains a CNN spec's PyTorch module on CIFAR-10.

Run by nas-worker for an experiment with, for example,

    task = "cifar10"
    [trial]
    command = ["python3", "worker/trials/pytorch_cnn.py"]
    timeout_seconds = 3600

so a search can train its children in eager PyTorch instead of the worker's
libtorch trainer, and the two CIFAR-10 trainers can be compared on the same
specs. The worker passes the path of its job file in NAS_TRIAL_JOB:
{"job": <TrainJob>, "data_dir": <the data set's local folder>, "work_dir":
<scratch>}. The network is the module `nas-controller export` embeds
(controller/src/present/templates/pytorch_cnn.py); training follows
nas-worker's defaults (worker/src/train/cnn.rs): SGD with Nesterov momentum
0.9, learning rate 0.1 dropping tenfold after three quarters of the epochs
(or after hyperparameters.lr_decay_epoch), weight decay 1e-4, batch 128,
pad-and-crop plus flip augmentation, the job's hyperparameters and budget
(epochs, batch_size, train_examples, valid_examples, max_seconds) honoured.
The validation split has the worker's size (5,000 images, or a tenth of
smaller training files) drawn with a fixed seed, though not the very same
images: the worker draws them with its own generator.

It prints one JSON line per epoch, {"epoch", "train_loss", "valid_loss",
"valid_accuracy", "metric"} (metric = validation accuracy), then
{"final": true}; progress goes to stderr. It can also be run by hand:
NAS_TRIAL_JOB=job.json python3 worker/trials/pytorch_cnn.py.
"""
import json
import math
import os
import sys
import tarfile
import time

import torch
import torch.nn.functional as F

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                         "controller", "src", "present", "templates")
sys.path.insert(0, TEMPLATES)
from pytorch_cnn import Child  # noqa: E402

RECORD = 3073
FOLDER = "cifar-10-batches-bin"
ARCHIVE = "cifar-10-binary.tar.gz"
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
SPLIT_SEED = 0


def log(message):
    print(message, file=sys.stderr, flush=True)


def report(**fields):
    print(json.dumps(fields), flush=True)


def read_blobs(path):
    """The five training files' bytes from the archive, the extracted
    folder, or a folder holding either (what the worker's cache holds)."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, ARCHIVE)):
        path = os.path.join(path, ARCHIVE)
    if os.path.isfile(path):
        blobs = {}
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if name in TRAIN_FILES:
                    blobs[name] = tar.extractfile(member).read()
        return [blobs[name] for name in TRAIN_FILES]
    folder = os.path.join(path, FOLDER) if os.path.isdir(os.path.join(path, FOLDER)) else path
    blobs = []
    for name in TRAIN_FILES:
        with open(os.path.join(folder, name), "rb") as f:
            blobs.append(f.read())
    return blobs


def load_splits(data_dir, budget):
    """(train images, train labels, valid images, valid labels), uint8 images."""
    blob = b"".join(read_blobs(data_dir))
    if len(blob) % RECORD:
        raise SystemExit(f"{data_dir}: the training files are not whole {RECORD}-byte records")
    raw = torch.frombuffer(bytearray(blob), dtype=torch.uint8).view(-1, RECORD)
    labels = raw[:, 0].long()
    images = raw[:, 1:].clone().view(-1, 3, 32, 32)
    total = len(labels)
    valid_size = min(5000, total // 10)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(SPLIT_SEED))
    valid_idx, train_idx = order[:valid_size], order[valid_size:]
    if budget.get("train_examples"):
        train_idx = train_idx[: budget["train_examples"]]
    if budget.get("valid_examples"):
        valid_idx = valid_idx[: budget["valid_examples"]]
    train_idx, valid_idx = train_idx.sort().values, valid_idx.sort().values
    return images[train_idx], labels[train_idx], images[valid_idx], labels[valid_idx]


def augment(images, offsets):
    """Pad by 4, random 32x32 crop and horizontal flip, as one gather."""
    b, c, s, _ = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    rows = torch.randint(0, 9, (b, 1), device=images.device) + offsets
    flip = torch.rand(b, 1, device=images.device) < 0.5
    cols = torch.randint(0, 9, (b, 1), device=images.device) + torch.where(flip, offsets.flip(0), offsets)
    out = padded.gather(2, rows.view(b, 1, s, 1).expand(b, c, s, s + 8))
    return out.gather(3, cols.view(b, 1, 1, s).expand(b, c, s, s))


def evaluate(model, images, labels, mean, std, device):
    """(mean loss, accuracy) on a split."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(labels), 500):
            x = (images[i:i + 500].to(device).float() / 255 - mean) / std
            y = labels[i:i + 500].to(device)
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    count = max(len(labels), 1)
    return loss / count, correct / count


def train_epoch(model, opt, train_x, train_y, mean, std, batch, device):
    """One epoch; the mean training loss."""
    model.train()
    offsets = torch.arange(32, device=device)
    perm = torch.randperm(len(train_y))
    total, seen = 0.0, 0
    for i in range(0, len(train_y), batch):
        idx = perm[i:i + batch]
        if len(idx) < 2:  # batch norm needs two images
            break
        x = augment((train_x[idx].to(device).float() / 255 - mean) / std, offsets)
        y = train_y[idx].to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


def main():
    with open(os.environ["NAS_TRIAL_JOB"]) as f:
        trial = json.load(f)
    job, data_dir = trial["job"], trial["data_dir"]
    if job["spec"].get("kind") != "cnn" or not data_dir:
        raise SystemExit("this trial trains CNN specs on CIFAR-10 (task = \"cifar10\")")
    budget, hyper = job["budget"], job.get("hyperparameters", {})
    epochs = budget["epochs"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(job["seed"])
    train_x, train_y, valid_x, valid_y = load_splits(data_dir, budget)
    stats = train_x.double() / 255
    mean = stats.mean((0, 2, 3)).float().view(1, 3, 1, 1).to(device)
    std = stats.std((0, 2, 3), unbiased=False).float().view(1, 3, 1, 1).to(device)
    del stats
    model = Child(job["spec"], bn_eps=hyper.get("bn_epsilon") or 1e-5).to(device)
    lr = hyper.get("learning_rate") or 0.1
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=hyper.get("weight_decay") or 1e-4)
    decay_epoch = hyper.get("lr_decay_epoch") or math.ceil(3 * epochs / 4)
    batch = budget.get("batch_size") or 128
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"{params} parameters, {len(train_y)} training and {len(valid_y)} validation images on {device}")
    started = time.monotonic()
    for epoch in range(1, epochs + 1):
        for group in opt.param_groups:
            group["lr"] = lr * (0.1 if epoch > decay_epoch else 1.0)
        train_loss = train_epoch(model, opt, train_x, train_y, mean, std, batch, device)
        valid_loss, accuracy = evaluate(model, valid_x, valid_y, mean, std, device)
        report(epoch=epoch, train_loss=train_loss, valid_loss=valid_loss,
               valid_accuracy=accuracy, metric=accuracy)
        max_seconds = budget.get("max_seconds")
        if max_seconds and time.monotonic() - started >= max_seconds:
            log(f"stopping after epoch {epoch}: budget.max_seconds {max_seconds} passed")
            break
    report(final=True)


if __name__ == "__main__":
    main()
