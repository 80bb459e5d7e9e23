// The peak probe's kernels: independent FMA (or bf16 dot-product) chains held in vector registers,
// one function per instruction set, chosen at run time (cpeak_supported) so the file builds with
// any x86-64 compiler and runs on any x86-64 CPU.
#ifndef CPEAK_H
#define CPEAK_H

/// The kernels: fp32 FMA on 512-bit and on 256-bit vectors, bf16 pair dot products (vdpbf16ps).
typedef enum {
    CPEAK_FP32_AVX512 = 0,
    CPEAK_FP32_AVX2 = 1,
    CPEAK_BF16_AVX512 = 2,
} cpeak_kernel;

/// 1 when this CPU (and OS) runs `kernel`, else 0.
int cpeak_supported(cpeak_kernel kernel);

/// Floating-point operations one iteration of `kernel` does (an FMA lane counts 2; a bf16 pair
/// product added into fp32 counts 2 per pair).
double cpeak_flops_per_iteration(cpeak_kernel kernel);

/// Runs `iterations` iterations of `kernel` (which must be supported) and returns a value of the
/// accumulators so the work cannot be optimized away.
float cpeak_run(cpeak_kernel kernel, long iterations);

#endif
