#!/usr/bin/env bash
# Installs Debian's Ardour 7 (for tests/ardour/run.sh) when it is not there yet.
set -euo pipefail
if command -v ardour7-lua >/dev/null 2>&1; then
  exit 0
fi
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends ardour >/dev/null
command -v ardour7-lua >/dev/null || { echo "ardour7-lua missing after installing ardour" >&2; exit 1; }
