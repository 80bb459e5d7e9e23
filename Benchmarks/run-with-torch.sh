#!/usr/bin/env bash
# Side-by-side convolution benchmark: PETGAN and PyTorch CPU on the same shapes and threads, in one
# sitting (run on an otherwise idle machine). PyTorch lives in a virtual environment outside the
# project: TORCH_VENV (default ../torchenv), created from a CPU wheel, e.g.
#   python3 -m venv ../torchenv && ../torchenv/bin/pip install torch numpy
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TORCH_VENV:-../torchenv}
PEER=${TORCH_PEER:-../shared/bench/torch_peer.py}
THREADS=${THREADS:-2}
OUT=bench-results
mkdir -p $OUT
make -s build
"$VENV/bin/python" "$PEER" --suite layers --threads "$THREADS" --batches 4 --out $OUT/torch_layers.json --rows $OUT/torch_layers_rows.json
"$VENV/bin/python" "$PEER" --suite bigk --threads "$THREADS" --batches 1 --out $OUT/torch_bigk.json --rows $OUT/torch_bigk_rows.json
.build/release/petgan bench conv --threads "$THREADS" --json $OUT/conv.json --peer $OUT/torch_layers_rows.json --peer $OUT/torch_bigk_rows.json | tee $OUT/conv_vs_torch.txt
# Training steps (issue 6): PyTorch's model suite (one case per process, so each peak RSS is its own;
# torch_models.py tolerates torch 2.13's FLOP counter failing on the gradient penalty), then ours.
for c in dcgan3d_64_b4 wgangp3d_64_b4 dcgan2d_b64; do
  "$VENV/bin/python" Benchmarks/torch_models.py "$PEER" --suite models --threads "$THREADS" --cases $c --out $OUT/torch_models_$c.json
done
.build/release/petgan bench train --threads "$THREADS" --json $OUT/train.json | tee $OUT/train_vs_torch.txt
