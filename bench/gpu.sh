#!/usr/bin/env bash
# The GPU run of issue 17, as one script for a lent machine (bench/gpu.py
# says what it measures). On the device: carry the release binaries
# (target/release/nas-worker, nas-controller) and the data, then
#
#   bench/gpu.sh [--bin-dir DIR] [--cifar FILE] [--ptb DIR]   # about 6 minutes on an H200
#   bench/gpu.sh --device cpu --quick                         # the same script checked on a CPU
#
# torch 2.11 comes from, in order: $VENV (a venv with torch already), the
# machine's own python3 when it imports torch 2.11, or a fresh venv from
# PyPI (`pip install torch==2.11.0`). The binaries load libtorch from that
# torch (LD_LIBRARY_PATH), as `LIBTORCH_USE_PYTORCH=1` builds expect.
set -euo pipefail
cd "$(dirname "$0")/.."

want=2.11.0
python=""
if [ -n "${VENV:-}" ] && [ -x "$VENV/bin/python" ]; then
    python="$VENV/bin/python"
elif python3 -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$want') else 1)" 2>/dev/null; then
    python=$(command -v python3)
else
    venv=${GPU_VENV:-/tmp/nas-gpu-venv}
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "torch==$want"
    fi
    python="$venv/bin/python"
fi
torch_lib=$("$python" -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
exec "$python" bench/gpu.py "$@"
