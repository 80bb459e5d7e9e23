#!/usr/bin/env bash
# PETGAN beside PyTorch CPU, in one sitting, on the same shapes and threads. Run it on an otherwise
# idle machine (two cores are easily disturbed by a concurrent build); the ratios of one sitting are
# the figures to quote, not absolute times across days.
#
#   Benchmarks/run-with-torch.sh            # full run (tens of minutes), results in bench-results/
#   SMOKE=1 Benchmarks/run-with-torch.sh    # tiny settings: checks the script end to end in minutes
#
# Knobs: ISA (native, default, or avx2: both sides held to AVX2), THREADS (default 2), TORCH_VENV (default ../torchenv: outside the project), TORCH_WHEEL
# (default /opt/wheels/torch-2.13.0+cpu-…whl; `pip install torch` when it is not there),
# TORCH_PEER (default ../shared/bench/torch_peer.py), OUT (default bench-results), PETGAN (binary;
# default: built here with `make build`), LOCK (a file: every benchmark runs under `flock LOCK`).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
VENV=${TORCH_VENV:-../torchenv}
WHEEL=${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
PEER=${TORCH_PEER:-../shared/bench/torch_peer.py}
OUT=${OUT:-bench-results}
SMOKE=${SMOKE:-0}
ISA=${ISA:-native}
run() { if [ -n "${LOCK:-}" ]; then flock "$LOCK" "$@"; else "$@"; fi; }

# Both sides on the same vector ISA. native: each library picks its own kernels (an OPENBLAS_CORETYPE
# left in the environment would hold OpenBLAS alone to that core: some machines export
# OPENBLAS_CORETYPE=Haswell, which on an AVX-512 CPU halves sgemm). avx2: both held to AVX2.
case "$ISA" in
  native) [ -n "${OPENBLAS_CORETYPE:-}" ] && echo "run-with-torch: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (ISA=native)"
          unset OPENBLAS_CORETYPE ONEDNN_MAX_CPU_ISA ATEN_CPU_CAPABILITY ;;
  avx2)   export OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 ;;
  *) echo "run-with-torch: ISA=$ISA: expected native or avx2" >&2; exit 1 ;;
esac

case "$(realpath -m "$VENV")/" in
  "$(realpath .)"/*) echo "run-with-torch: TORCH_VENV=$VENV is inside the project; put it outside (e.g. ../torchenv)" >&2; exit 1 ;;
esac
[ -f "$PEER" ] || { echo "run-with-torch: $PEER not found (set TORCH_PEER)" >&2; exit 1; }

# 1. PyTorch in its own virtual environment, outside the project.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "run-with-torch: installing PyTorch into $VENV"
  python3 -m venv "$VENV"
  if [ -f "$WHEEL" ]; then
    "$VENV/bin/pip" install -q "$WHEEL" numpy
  else
    echo "run-with-torch: $WHEEL not found; pip install torch (CPU wheels from the PyTorch index)"
    "$VENV/bin/pip" install -q torch numpy --index-url https://download.pytorch.org/whl/cpu \
      || "$VENV/bin/pip" install -q torch numpy
  fi
fi
"$VENV/bin/python" -c "import torch; print('run-with-torch: PyTorch', torch.__version__, '| CPU capability', torch.backends.cpu.get_cpu_capability())"

# 2. The machine: the ratios change with the vector ISA (oneDNN, OpenBLAS pick AVX2 or AVX-512 kernels).
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
cpumodel=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
isa=$(for f in avx2 avx512f avx512_bf16; do grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -qx "$f" && printf '%s ' "$f"; done; true)
isa=${isa% }
mkdir -p "$OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu: $model (family $family, model $cpumodel), $(nproc) CPUs"
  echo "isa: ${isa:-no avx2}"
  echo "threads: $THREADS"
  echo "isa held to: $ISA (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset, OpenBLAS detects})"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

# 3. PETGAN (release).
if [ -z "${PETGAN:-}" ]; then run make -s build; PETGAN=.build/release/petgan; fi

if [ "$SMOKE" = 1 ]; then
  TARGS=(--warmup 0 --reps 1 --min-secs 0)
  LAYER_ONLY=(--only G3,K3); PETGAN_REPS=(--warmup 0 --reps 1)
  KERNELS=(3); CASES=(dcgan3d_32_b4); TRAIN=(--quick --only dcgan3d,fastgan3d)
  FASTGAN_CASES=(fastgan3d_32_b8); FARGS=(--warmup 0 --reps 1)
else
  TARGS=(--warmup 2 --reps 5)
  LAYER_ONLY=(); PETGAN_REPS=()
  KERNELS=(3 5 7); CASES=(dcgan3d_64_b4 wgangp3d_64_b4 dcgan2d_b64); TRAIN=()
  FASTGAN_CASES=(fastgan3d_64_b8 fastgan2d_256_b8); FARGS=(--warmup 1 --reps 3)
fi

# 4. PyTorch: layer rows (named like ours) and training steps, one suite/case per process so each
#    peak RSS is its own. torch_peer.py's G step freezes D's weights, as petgan does (same work).
run "$VENV/bin/python" "$PEER" --suite layers --threads "$THREADS" --batches 4 "${TARGS[@]}" \
  --out "$OUT/torch_layers.json" --rows "$OUT/torch_layers_rows.json"
run "$VENV/bin/python" "$PEER" --suite bigk --threads "$THREADS" --batches 1 --kernels "${KERNELS[@]}" "${TARGS[@]}" \
  --out "$OUT/torch_bigk.json" --rows "$OUT/torch_bigk_rows.json"
peers=()
for c in "${CASES[@]}"; do
  run "$VENV/bin/python" "$PEER" --suite models --threads "$THREADS" --cases "$c" "${TARGS[@]}" --out "$OUT/torch_models_$c.json"
  peers+=(--peer "$OUT/torch_models_$c.json")
done
# The FastGAN rows' peer (Benchmarks/torch_fastgan.py, written for the benchmark with PETGAN's layer
# shapes: Benchmarks/check_torch_fastgan.sh compares them).
for c in "${FASTGAN_CASES[@]}"; do
  run "$VENV/bin/python" Benchmarks/torch_fastgan.py --threads "$THREADS" --cases "$c" "${FARGS[@]}" --out "$OUT/torch_models_$c.json"
  peers+=(--peer "$OUT/torch_models_$c.json")
done
# The same layers and steps under torch.autocast("cpu", dtype=torch.bfloat16) (the peer's --precision bf16).
run "$VENV/bin/python" "$PEER" --suite layers --threads "$THREADS" --batches 4 "${TARGS[@]}" --precision bf16 \
  --out "$OUT/torch_layers_bf16.json" --rows "$OUT/torch_layers_bf16_rows.json"
peers_bf16=()
for c in "${CASES[@]}"; do
  run "$VENV/bin/python" "$PEER" --suite models --threads "$THREADS" --cases "$c" "${TARGS[@]}" --precision bf16 --out "$OUT/torch_models_${c}_bf16.json"
  peers_bf16+=(--peer "$OUT/torch_models_${c}_bf16.json")
done
for c in "${FASTGAN_CASES[@]}"; do
  run "$VENV/bin/python" Benchmarks/torch_fastgan.py --threads "$THREADS" --cases "$c" "${FARGS[@]}" --precision bf16 --out "$OUT/torch_models_${c}_bf16.json"
  peers_bf16+=(--peer "$OUT/torch_models_${c}_bf16.json")
done

# 5. PETGAN with PyTorch's figures and the ratio beside each row.
#    First the machine's peak (fp32 per ISA, bf16); conv and train rows give their % of it.
run "$PETGAN" bench peak --threads "$THREADS" --json "$OUT/peak.json" | tee "$OUT/peak.txt"
run "$PETGAN" bench conv --threads "$THREADS" "${LAYER_ONLY[@]}" "${PETGAN_REPS[@]}" --json "$OUT/conv.json" \
  --peer "$OUT/torch_layers_rows.json" --peer "$OUT/torch_bigk_rows.json" | tee "$OUT/conv_vs_torch.txt"
run "$PETGAN" bench train --threads "$THREADS" "${TRAIN[@]}" "${PETGAN_REPS[@]}" --json "$OUT/train.json" "${peers[@]}" \
  | tee "$OUT/train_vs_torch.txt"
#    bf16 mixed precision beside PyTorch autocast bf16: layer rows (% of the bf16 peak), training steps
#    with the share of each step still in fp32. Compare with the fp32 tables above for the speed-up.
run "$PETGAN" bench conv --threads "$THREADS" --precision bf16 --paths auto "${LAYER_ONLY[@]}" "${PETGAN_REPS[@]}" --json "$OUT/conv_bf16.json" \
  --peer "$OUT/torch_layers_bf16_rows.json" | tee "$OUT/conv_bf16_vs_torch.txt"
run "$PETGAN" bench train --threads "$THREADS" --precision bf16 "${TRAIN[@]}" "${PETGAN_REPS[@]}" --json "$OUT/train_bf16.json" "${peers_bf16[@]}" \
  | tee "$OUT/train_bf16_vs_torch.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
# 6. The one table of the sitting (issue 16's form: both precisions, % of peak, the layer set, the targets).
"$PETGAN" bench summary --dir "$OUT" --out "$OUT/summary.md"
echo "run-with-torch: results in $OUT/ (summary.md, machine.txt, peak.txt, conv_vs_torch.txt, train_vs_torch.txt, conv_bf16_vs_torch.txt, train_bf16_vs_torch.txt, *.json)"
