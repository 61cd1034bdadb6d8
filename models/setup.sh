#!/usr/bin/env bash
# Creates models/.venv: Debian's CPU PyTorch (python3-torch) plus the PyPI packages in requirements.txt.
# Idempotent: a second run with everything present does nothing but check.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"

# Debian's torch does its matrix products through the system's libblas.so.3; alone, that is the
# reference BLAS (about 220 training tokens/s on one core here). OpenBLAS takes the alternative over:
# about 3400 tokens/s.
if ! /usr/bin/python3 -c 'import torch, ensurepip' 2>/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; then
  echo "[setup] installing python3-torch, python3-venv and OpenBLAS from Debian (CPU build)"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-torch python3-venv libopenblas0-pthread >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp="$venv/.requirements.sha"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python packages"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
"$venv/bin/python" -c 'import torch, onnx, onnxruntime, numpy; assert numpy.__version__ < "2"' 
