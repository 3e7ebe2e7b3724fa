#!/usr/bin/env bash
# Installs what moqa needs on Debian 12 (all from Debian's own packages). Safe to run again.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git ccache xz-utils
  libopenmpi-dev openmpi-bin libhdf5-dev libboost-program-options-dev libtomlplusplus-dev
  nlohmann-json3-dev libopenblas-dev liblapacke-dev libpcre2-dev libicu-dev liblzma-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-h5py python3-matplotlib
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "[moqa] installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
