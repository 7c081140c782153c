"""What the PyTorch reference trainers (`train_pytorch.py`,
`train_pytorch_lm.py`) share: the run options (threads, seed, device,
warm-up steps) and applying them."""
import torch


def add_run_options(parser, warmup_unit):
    """Adds --threads, --seed, --device and --warmup-steps (counted in
    `warmup_unit`, e.g. "steps" or "windows")."""
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--warmup-steps", type=int, default=0,
                        help=f"training {warmup_unit} run before the clock starts (not counted)")


def start(args):
    """Applies the run options: returns the device and a `sync()` that
    waits for the device's queued work (a no-op on the CPU)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return device, sync
