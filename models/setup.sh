#!/usr/bin/env bash
# Creates models/.venv: Debian's CPU PyTorch (python3-torch) plus the PyPI packages in requirements.txt.
# Idempotent: a second run with everything present does nothing but check.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"

if ! /usr/bin/python3 -c 'import torch, ensurepip' 2>/dev/null; then
  echo "[setup] installing python3-torch and python3-venv from Debian (CPU build)"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-torch python3-venv >/dev/null
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
