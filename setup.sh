#!/usr/bin/env bash
# Install Shiftmate into ./.venv and run the demo on the embedded defaults.
#
#   ./setup.sh            install (or update) and start `shiftmate demo`
#   ./setup.sh --no-demo  install only (CI, Docker)
#
# torch's CPU build goes in first: a plain `pip install torch` would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating ./.venv"
    "$PYTHON" -m venv .venv
fi
echo "==> installing torch $TORCH_VERSION (CPU build)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION"
echo "==> installing Shiftmate and its dependencies (llama-cpp-python compiles: a few minutes)"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "==> checking the embedded models"
.venv/bin/shiftmate models verify

if [ "${1:-}" != "--no-demo" ]; then
    exec .venv/bin/shiftmate demo
fi
