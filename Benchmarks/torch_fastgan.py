#!/usr/bin/env python3
"""PyTorch CPU peer of `petgan bench train`'s conditional FastGAN rows, written for the benchmark.

The same layer shapes as PETGAN's FastGAN (Sources/PETModels/FastGAN.swift) at the widths of
Benchmarks/PETBenchmarks/TrainBenchmark.swift, and the same training step (GANModel.trainStep):
  D step: z → G without a graph; D on [real, class maps] with both self-supervised decoders
          (whole image at half resolution from the last block, a random half-size corner of block
          L−2's features to that corner of the image), D on the generated batch; hinge loss
          mean(relu(1 − D(real))) + mean(relu(1 + D(fake))) + MSE reconstruction; Adam step.
  G step: D's weights frozen (no D weight gradients, as petgan); new z; −mean D(G(z)); Adam step;
          then the 0.999 moving average of G's parameters (FastGAN's train.py, petgan's g_ema).
No augmentation (bench train runs none). Cases (petgan's names):
  fastgan3d_64_b8   3D, 64³, batch 8, 3 classes: G 128→64→32→16(→16), D 16→32→64→128 (k4 s2 p1)
  fastgan2d_256_b8  2D, 256², batch 8, 3 classes: G 1024→512→256→128→128→64(→64),
                    D 32→…→1024 (k5 s2 p2), FC head
  fastgan3d_32_b8, fastgan2d_64_b8: the `bench train --quick` widths.

Output: `--out FILE` in torch_peer.py's `--suite models` format (what `petgan bench train --peer FILE`
reads: suite, args.threads, versions, results[name, step.median_ms, step_gflop, ru_maxrss_mib_so_far],
ru_maxrss_mib). FLOPs by torch.utils.flop_counter.FlopCounterMode over one executed step
(convolutions and matmuls; 2 FLOPs per multiply-add).
`--shapes FILE` writes, per case, every layer output shape at batch 2 under petgan's layer-table
names (`petgan bench train --layer-shapes` writes the same) and the shapes of every parameter
tensor of G and D; Benchmarks/check_torch_fastgan.sh compares the two files.

  env -u OPENBLAS_CORETYPE python Benchmarks/torch_fastgan.py --threads 2 --cases fastgan3d_64_b8 --out torch_fastgan3d.json
  python Benchmarks/torch_fastgan.py --shapes shapes.json --cases fastgan3d_64_b8 fastgan2d_256_b8
"""
import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRECISION = "fp32"


def amp():
    if PRECISION == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- cases
CASES = {
    #  name: dims, image side, layers' widths G, D, batch
    "fastgan3d_64_b8": dict(dims=3, side=64, g=[128, 64, 32, 16], d=[16, 32, 64, 128], batch=8),
    "fastgan3d_32_b8": dict(dims=3, side=32, g=[64, 32, 16], d=[16, 32, 64], batch=8),
    "fastgan2d_256_b8": dict(dims=2, side=256, g=[1024, 512, 256, 128, 128, 64], d=[32, 64, 128, 256, 512, 1024], batch=8),
    "fastgan2d_64_b8": dict(dims=2, side=64, g=[256, 128, 64, 32], d=[32, 64, 128, 256], batch=8),
}
Z_DIM, CLASSES, IMAGE_CHANNELS, EXCITATIONS = 256, 3, 1, 1


def conv(dims):
    return nn.Conv3d if dims == 3 else nn.Conv2d


def bn(dims, c):
    return nn.BatchNorm3d(c) if dims == 3 else nn.BatchNorm2d(c)


def up_block(dims, a, b):
    """FastGAN's up-sampling block: nearest ×2 → conv k3 p1 (no bias) to 2b → batch norm → GLU."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(dims)(a, 2 * b, 3, 1, 1, bias=False),
                         bn(dims, 2 * b), nn.GLU(dim=1))


class SLE(nn.Module):
    """Skip-layer excitation (FastGAN's SEBlock): pool low to the base grid → conv (kernel = grid)
    → SiLU → conv 1×1 → sigmoid, gating high channel-wise. No biases."""

    def __init__(self, dims, cl, ch, grid):
        super().__init__()
        self.grid = grid
        self.squeeze = conv(dims)(cl, ch, grid, bias=False)
        self.excite = conv(dims)(ch, ch, 1, bias=False)

    def forward(self, low, high):
        pool = F.adaptive_avg_pool3d if low.dim() == 5 else F.adaptive_avg_pool2d
        g = torch.sigmoid(self.excite(F.silu(self.squeeze(pool(low, self.grid)))))
        return high * g


def excitation_pairs(layers, count):
    return [(max(0, layers - j - 4), layers - j) for j in range(count)]


class Generator(nn.Module):
    def __init__(self, dims, side, ch):
        super().__init__()
        L = len(ch)
        self.dims, self.L = dims, L
        self.base = side >> L
        w = ch + [ch[-1]]
        inf = Z_DIM + CLASSES
        self.c0 = w[0]
        if dims == 3:  # a dense layer written as a transposed conv from 1³ (petgan's GridProjection3d)
            self.project = nn.ConvTranspose3d(inf, 2 * w[0], self.base, 1, 0, bias=False)
        else:
            self.project = nn.Linear(inf, 2 * w[0] * self.base ** 2, bias=False)
        self.bn0 = bn(dims, 2 * w[0])
        self.ups = nn.ModuleList([up_block(dims, w[i], w[i + 1]) for i in range(L)])
        self.pairs = excitation_pairs(L, EXCITATIONS)
        self.sle = nn.ModuleList([SLE(dims, w[lo], w[hi], self.base) for lo, hi in self.pairs])
        self.out = conv(dims)(w[L], IMAGE_CHANNELS, 3, 1, 1, bias=False)

    def forward(self, z, trace=None):
        n = z.shape[0]
        if self.dims == 3:
            x = self.project(z.view(n, -1, 1, 1, 1))
        else:
            x = self.project(z).view(n, 2 * self.c0, self.base, self.base)
        f = [F.glu(self.bn0(x), dim=1)]
        if trace is not None:
            trace.append(("G.project", list(f[0].shape)))
        for i, u in enumerate(self.ups):
            x = u(f[i])
            if trace is not None:
                trace.append((f"G.ups.{i}", list(x.shape)))
            for j, (e, (lo, hi)) in enumerate(zip(self.sle, self.pairs)):
                if hi == i + 1:
                    x = e(f[lo], x)
                    if trace is not None:
                        trace.append((f"G.sle.{j} (f{lo} gates f{hi})", list(x.shape)))
            f.append(x)
        y = torch.tanh(self.out(f[-1]))
        if trace is not None:
            trace.append(("G.out", list(y.shape)))
        return y


class Decoder(nn.Module):
    """L−1 × up-sampling block (c → max(8, c/2)) → conv k3 → tanh."""

    def __init__(self, dims, c, n):
        super().__init__()
        blocks = []
        for _ in range(n):
            b = max(8, c // 2)
            blocks.append(up_block(dims, c, b))
            c = b
        self.ups = nn.Sequential(*blocks)
        self.out = conv(dims)(c, IMAGE_CHANNELS, 3, 1, 1, bias=False)

    def forward(self, x):
        return torch.tanh(self.out(self.ups(x)))


def corner(x, part):
    """The half-size corner `part` (bit a: the upper half of spatial axis a)."""
    for a in range(2, x.dim()):
        half = x.shape[a] // 2
        start = x.shape[a] - half if (part >> (a - 2)) & 1 else 0
        x = x.narrow(a, start, half)
    return x


class Discriminator(nn.Module):
    def __init__(self, dims, side, ch):
        super().__init__()
        L = len(ch)
        self.dims, self.L = dims, L
        self.base = side >> L
        k, p = (4, 1) if dims == 3 else (5, 2)
        inc = IMAGE_CHANNELS + CLASSES
        self.downs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i, c in enumerate(ch):
            self.downs.append(conv(dims)(inc, c, k, 2, p, bias=False))
            if i > 0:
                self.norms.append(bn(dims, c))
            inc = c
        if dims == 3:
            self.head = nn.Conv3d(inc, 1, self.base, bias=False)
        else:
            self.head = nn.Linear(inc * self.base ** 2, 1)
        self.dec_whole = Decoder(dims, ch[L - 1], L - 1)
        self.dec_part = Decoder(dims, ch[L - 2], L - 1)

    def trunk(self, x, trace=None):
        feats = []
        for i, d in enumerate(self.downs):
            x = d(x)
            if i > 0:
                x = self.norms[i - 1](x)
            x = F.leaky_relu(x, 0.2)
            if trace is not None:
                trace.append((f"D.downs.{i}", list(x.shape)))
            feats.append(x)
        n = x.shape[0]
        logits = self.head(x).view(n, 1) if self.dims == 3 else self.head(x.flatten(1))
        if trace is not None:
            trace.append(("D.head", list(logits.shape)))
        return logits, feats

    def forward(self, x):
        return self.trunk(x)[0]

    def forward_real(self, x, part):
        logits, feats = self.trunk(x)
        L = self.L
        image = x[:, :IMAGE_CHANNELS]
        whole = self.dec_whole(feats[L - 1])
        pool = F.avg_pool3d if self.dims == 3 else F.avg_pool2d
        whole_target = pool(image, image.shape[2] // whole.shape[2])
        cropped = self.dec_part(corner(feats[L - 2], part))
        part_target = corner(image, part)
        rec = F.mse_loss(whole.float(), whole_target.detach().float()) + F.mse_loss(cropped.float(), part_target.detach().float())
        return logits, rec


def class_input(z, labels):
    return torch.cat([z, F.one_hot(labels, CLASSES).float()], 1)


def class_maps(x, labels):
    n = x.shape[0]
    maps = F.one_hot(labels, CLASSES).float().view(n, CLASSES, *([1] * (x.dim() - 2))).expand(n, CLASSES, *x.shape[2:])
    return torch.cat([x, maps], 1)


def build(case):
    c = CASES[case]
    G = Generator(c["dims"], c["side"], c["g"])
    D = Discriminator(c["dims"], c["side"], c["d"])
    return G, D, c


def make_step(case):
    G, D, c = build(case)
    n, dims, side = c["batch"], c["dims"], c["side"]
    real = torch.rand(n, IMAGE_CHANNELS, *([side] * dims)) * 2 - 1
    labels = torch.arange(n) % CLASSES
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ema = [p.detach().clone() for p in G.parameters()]
    gen = torch.Generator().manual_seed(1)

    def step():
        # D step: G without a graph, D on real (with the decoders) and on the generated batch.
        optD.zero_grad(set_to_none=True)
        z = torch.randn(n, Z_DIM)
        with torch.no_grad(), amp():
            fake = G(class_input(z, labels)).float()
        part = int(torch.randint(0, 1 << dims, (1,), generator=gen))
        with amp():
            dr, rec = D.forward_real(class_maps(real, labels), part)
            df = D(class_maps(fake, labels))
            loss_d = F.relu(1 - dr.float()).mean() + F.relu(1 + df.float()).mean() + rec
        loss_d.backward()
        optD.step()
        # G step with D's weights frozen, then the moving average of G.
        optG.zero_grad(set_to_none=True)
        for p in D.parameters():
            p.requires_grad_(False)
        with amp():
            loss_g = -D(class_maps(G(class_input(torch.randn(n, Z_DIM), labels)), labels)).float().mean()
        loss_g.backward()
        for p in D.parameters():
            p.requires_grad_(True)
        optG.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in G.parameters()], 1 - 0.999)
    return step, dict(size=side, batch=n, dims=dims)


def shapes(case):
    G, D, c = build(case)
    G.eval(); D.eval()
    n = 2
    labels = torch.zeros(n, dtype=torch.long)
    trace = []
    with torch.no_grad():
        x = G(class_input(torch.randn(n, Z_DIM), labels), trace)
        inp = class_maps(x, labels)
        _, feats = D.trunk(inp, trace)
        L = D.L
        trace.append((f"D.dec_whole (from downs.{L - 1})", list(D.dec_whole(feats[L - 1]).shape)))
        trace.append((f"D.dec_part (a corner of downs.{L - 2})", list(D.dec_part(corner(feats[L - 2], 0)).shape)))
    return {"layers": [[k, v] for k, v in trace],
            "parameters": {"G": sorted(list(p.shape) for p in G.parameters()),
                           "D": sorted(list(p.shape) for p in D.parameters())},
            "parameter_count": {"G": sum(p.numel() for p in G.parameters()), "D": sum(p.numel() for p in D.parameters())}}


# --------------------------------------------------------------------------- timing (as torch_peer.py)
def timeit(fn, warmup, reps, min_secs):
    for _ in range(warmup):
        fn()
    samples = []
    t_start = time.perf_counter()
    while len(samples) < reps or (time.perf_counter() - t_start) < min_secs:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= 1000:
            break
    return {"median_ms": statistics.median(samples) * 1e3, "min_ms": min(samples) * 1e3, "reps": len(samples),
            "samples_ms": [round(s * 1e3, 4) for s in samples]}


def count_flops(step):
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    with fc:
        step()
    return fc.get_total_flops()


def versions():
    return {"torch": torch.__version__, "python": platform.python_version(),
            "mkldnn_enabled": torch.backends.mkldnn.enabled, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "num_threads": torch.get_num_threads(), "num_interop_threads": torch.get_num_interop_threads(),
            "env": {k: os.environ.get(k, "") for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA")}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", nargs="+", default=["fastgan3d_64_b8", "fastgan2d_256_b8"], choices=sorted(CASES))
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-secs", type=float, default=0.0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast('cpu', dtype=torch.bfloat16) around the forward passes")
    ap.add_argument("--out", help="timings, in torch_peer.py's --suite models format")
    ap.add_argument("--shapes", help="layer output shapes (batch 2) and parameter shapes per case, as JSON; no timing")
    args = ap.parse_args()
    global PRECISION
    PRECISION = args.precision
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    if args.shapes:
        with open(args.shapes, "w") as f:
            json.dump({c: shapes(c) for c in args.cases}, f, indent=1)
        print("wrote", args.shapes)
        if not args.out:
            return
    if not args.out:
        ap.error("give --out FILE (timings) or --shapes FILE")
    t0 = time.time()
    out = []
    for case in args.cases:
        torch.manual_seed(0)
        step, info = make_step(case)
        flops = count_flops(step)
        r = timeit(step, args.warmup, args.reps, args.min_secs)
        rec = {"name": case, **info, "step_gflop": flops / 1e9, "step": r, "gflops": flops / (r["median_ms"] / 1e3) / 1e9,
               "precision": PRECISION, "ru_maxrss_mib_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        out.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "step"} | {"step_ms": round(r["median_ms"], 1)}), flush=True)
    res = {"suite": "models", "args": vars(args), "versions": versions(),
           "flop_convention": "FLOPs = 2*MACs; models: FlopCounterMode over one executed step", "results": out,
           "wall_s": time.time() - t0, "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print("wrote", args.out, f"({res['wall_s']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
