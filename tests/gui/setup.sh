#!/usr/bin/env bash
# Installs what the standalone app needs to build (ALSA and JACK development files) and what the
# screenshot test needs to run (Xvfb, xwininfo, ImageMagick, Mesa's software OpenGL/EGL), when missing.
set -euo pipefail
packages=(
  pkg-config libasound2-dev libjack-jackd2-dev
  xvfb x11-utils imagemagick
  libegl1 libegl-mesa0 libgl1-mesa-dri libx11-xcb1 libxkbcommon-x11-0
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
