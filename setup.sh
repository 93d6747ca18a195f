#!/usr/bin/env bash
# Install Shiftmate into ./.venv and run the demo on the embedded defaults.
#
#   ./setup.sh                install (or update) and start `shiftmate demo`
#   ./setup.sh --no-demo      install only (CI, Docker)
#   ./setup.sh --system-only  only check the system packages (and install the missing ones)
#
# System packages first: a C/C++ compiler (llama-cpp-python compiles from source), and the
# `mosquitto`, PostgreSQL (`initdb`, the cloud store's tests) and `tmux` the tests use (real
# brokers and databases, the demo in a real terminal). Missing
# ones are installed with apt-get when this runs as root or passwordless sudo works; otherwise
# the command to run is printed and the install goes on.
# torch's CPU build goes in first: a plain `pip install torch` would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

# command -> the Debian package that provides it
SYSTEM_COMMANDS=(cc c++ mosquitto initdb tmux)
declare -A SYSTEM_PACKAGE=([cc]=build-essential [c++]=build-essential [mosquitto]=mosquitto [initdb]=postgresql [tmux]=tmux)

# Print the packages whose command is missing, once each (mosquitto lives in sbin, Debian's
# initdb in /usr/lib/postgresql/<version>/bin).
missing_system_packages() {
    local command package missing=()
    for command in "${SYSTEM_COMMANDS[@]}"; do
        if ! PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin$(printf ':%s' /usr/lib/postgresql/*/bin)" \
            command -v "$command" >/dev/null 2>&1; then
            package="${SYSTEM_PACKAGE[$command]}"
            [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
        fi
    done
    echo "${missing[*]-}"
}

# Install the missing system packages if this user can; else say how, and go on.
install_system_packages() {
    local missing sudo
    missing="$(missing_system_packages)"
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        sudo="none"
    fi
    if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: missing system packages: $missing" >&2
        if command -v apt-get >/dev/null 2>&1; then
            echo "setup.sh: install them with: sudo apt-get install -y $missing" >&2
        else
            echo "setup.sh: install them with your distribution's package manager" >&2
        fi
        return 0
    fi
    echo "==> installing system packages: $missing (apt-get)"
    # shellcheck disable=SC2086 # $sudo and $missing are word lists
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 \
        || { $sudo apt-get update -qq \
            && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; }; then
        return 0
    fi
    echo "setup.sh: apt-get could not install: $missing" >&2
    echo "setup.sh: install them with: ${sudo:+sudo }apt-get install -y $missing" >&2
}

install_system_packages
if [ "${1:-}" = "--system-only" ]; then
    exit 0
fi

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
# llama.cpp is built for x86-64-v3 (AVX2, FMA, F16C), not -march=native: a native build on a
# CPU that reports AMX faults in libggml-cpu on VMs that do not run AMX code (measured
# 2026-12-02: every grammar-constrained completion crashed), and a portable build also runs on
# the machine the venv or image is copied to. Set CMAKE_ARGS to build otherwise.
export CMAKE_ARGS="${CMAKE_ARGS:-$LLAMA_CMAKE_ARGS}"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "==> checking the embedded models"
.venv/bin/shiftmate models verify

if [ "${1:-}" != "--no-demo" ]; then
    exec .venv/bin/shiftmate demo
fi
