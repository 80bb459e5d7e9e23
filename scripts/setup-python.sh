#!/usr/bin/env bash
# Python packages used only by interoperability tests (files we write must open in the tools users
# have). Installed with pip when missing; quiet when present.
set -euo pipefail
need=()
for m in nibabel h5py numpy; do python3 -c "import $m" 2>/dev/null || need+=("$m"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: pip installing ${need[*]} (interop tests)"
  python3 -m pip install -q "${need[@]}" >/dev/null
fi
