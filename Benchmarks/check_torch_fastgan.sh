#!/usr/bin/env bash
# The PyTorch FastGAN peer (Benchmarks/torch_fastgan.py) has exactly PETGAN's layer shapes: every
# layer output of `petgan bench train`'s FastGAN cases (batch 2, the layer table's names) and the
# shape of every parameter tensor of G and D (decoders included), compared case by case.
# Needs PyTorch, which CI does not have: that is why this check lives here and not in `make test`.
# Exit status: 0 the shapes match, 1 they differ (the differences are printed), 77 PyTorch is not
# installed (SKIPPED, not a pass: nothing was compared).
#
#   Benchmarks/check_torch_fastgan.sh [--quick]       # PETGAN=.build/release/petgan TORCH_PYTHON=../torchenv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
PETGAN=${PETGAN:-.build/release/petgan}
PY=${TORCH_PYTHON:-../torchenv/bin/python}
QUICK=()
CASES=(fastgan3d_64_b8 fastgan2d_256_b8)
if [ "${1:-}" = "--quick" ]; then QUICK=(--quick); CASES=(fastgan3d_32_b8 fastgan2d_64_b8); fi
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "check_torch_fastgan: SKIPPED (not a pass): no PyTorch at $PY (set TORCH_PYTHON)" >&2
  exit 77
fi
[ -x "$PETGAN" ] || { echo "check_torch_fastgan: $PETGAN not built (make build, or set PETGAN)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PETGAN" bench train "${QUICK[@]}" --only fastgan3d,fastgan2d --layer-shapes "$tmp/petgan.json" > /dev/null
env -u OPENBLAS_CORETYPE "$PY" Benchmarks/torch_fastgan.py --cases "${CASES[@]}" --shapes "$tmp/torch.json" > /dev/null
"$PY" - "$tmp/petgan.json" "$tmp/torch.json" "${CASES[@]}" <<'PYEOF'
import json, sys
ours, theirs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = 0
for case in sys.argv[3:]:
    a, b = ours.get(case), theirs.get(case)
    if a is None or b is None:
        print(f"{case}: missing on the {'PETGAN' if a is None else 'PyTorch'} side"); bad += 1; continue
    la, lb = [tuple(x) for x in map(lambda l: (l[0], tuple(l[1])), a["layers"])], [(l[0], tuple(l[1])) for l in b["layers"]]
    if la != lb:
        bad += 1
        print(f"{case}: layer outputs differ")
        for x, y in zip(la + [None] * (len(lb) - len(la)), lb + [None] * (len(la) - len(lb))):
            print(f"  {'  ' if x == y else '≠ '}PETGAN {x}   PyTorch {y}")
    for net in ("G", "D"):
        if a["parameters"][net] != b["parameters"][net]:
            bad += 1
            print(f"{case}: {net} parameter shapes differ: PETGAN {a['parameters'][net]} PyTorch {b['parameters'][net]}")
    if a["parameter_count"] != b["parameter_count"]:
        bad += 1
        print(f"{case}: parameter counts differ: PETGAN {a['parameter_count']} PyTorch {b['parameter_count']}")
    if not bad:
        print(f"{case}: {len(la)} layer outputs and {len(a['parameters']['G'])} + {len(a['parameters']['D'])} parameter tensors "
              f"({a['parameter_count']['G']} + {a['parameter_count']['D']} parameters) match")
sys.exit(1 if bad else 0)
PYEOF
