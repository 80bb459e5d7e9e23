#!/usr/bin/env bash
# The official BIDS tools for the BIDS tests: the validator (PyPI ships it as bids-validator-deno, a
# binary inside the wheel) and pybids (reads PETGAN's datasets back as users' pipelines do). A
# missing tool fails those tests; it is never skipped. Installed with pip when missing; quiet when
# present (same pattern as setup-python.sh / setup-python-eval.sh).
set -euo pipefail
need=()
command -v bids-validator-deno >/dev/null 2>&1 || need+=("bids-validator-deno")
python3 -c "import bids" 2>/dev/null || need+=("pybids")
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: pip installing ${need[*]} (BIDS tests)"
  python3 -m pip install -q "${need[@]}" >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages "${need[@]}" >/dev/null
fi
