#!/usr/bin/env bash
# scikit-image for the evaluation interop test (PSNR/SSIM must equal what users get from
# skimage.metrics). Installed with pip when missing; quiet when present.
set -euo pipefail
if ! python3 -c "import skimage" 2>/dev/null; then
  echo "setup: pip installing scikit-image (evaluation interop test)"
  python3 -m pip install -q scikit-image >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages scikit-image >/dev/null
fi
