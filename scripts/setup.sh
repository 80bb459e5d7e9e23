#!/usr/bin/env bash
# Installs what PETGAN needs from Debian's packages, only when missing. Idempotent and quiet when
# nothing is to be done. Needs root (or sudo) only when something is missing.
set -euo pipefail
# libopenmpi-dev + openmpi-bin: data-parallel training (`mpirun -np N petgan train`, docs/SCALING.md).
pkgs=(libnifti-dev libopenblas-dev libhdf5-dev libfftw3-dev libpng-dev zlib1g-dev pkg-config libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH (Swift 6 toolchain needed, e.g. /opt/swift/usr/bin)" >&2
  exit 1
fi
