// Independent accumulator chains, enough to cover the FMA latency times the FMA pipes (4 cycles x 2
// pipes = 8 chains on Zen 4/5 and Skylake-X class cores; 12–16 leave margin), all in registers:
// each iteration issues one instruction per accumulator and nothing else but the loop counter.
#include "cpeak.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// fp32 AVX-512: 16 chains of 16 lanes (16 of the 32 zmm registers, plus the two operands).
#define AVX512_CHAINS 16
__attribute__((target("avx512f")))
static float fp32_avx512(long iterations) {
    __m512 acc[AVX512_CHAINS];
    for (int i = 0; i < AVX512_CHAINS; i++) acc[i] = _mm512_set1_ps((float)i * 0.01f);
    // acc = acc * a + b converges to b / (1 - a) = 1: values stay normal (no denormal slow path).
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < AVX512_CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < AVX512_CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

// fp32 AVX2 + FMA: 12 chains of 8 lanes (12 of the 16 ymm registers, plus the two operands), the
// figure a Haswell-class kernel can reach on this machine.
#define AVX2_CHAINS 12
__attribute__((target("avx2,fma")))
static float fp32_avx2(long iterations) {
    __m256 acc[AVX2_CHAINS];
    for (int i = 0; i < AVX2_CHAINS; i++) acc[i] = _mm256_set1_ps((float)i * 0.01f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < AVX2_CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    __m256 s = acc[0];
    for (int i = 1; i < AVX2_CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

// bf16 AVX512_BF16: vdpbf16ps, 16 fp32 lanes each adding a product of 2 bf16 pairs (32 pairs, 64
// flops per instruction); 16 chains (its latency is longer than the FMA's on some cores).
#define BF16_CHAINS 16
__attribute__((target("avx512bf16,avx512f")))
static float bf16_avx512(long iterations) {
    __m512 acc[BF16_CHAINS];
    for (int i = 0; i < BF16_CHAINS; i++) acc[i] = _mm512_setzero_ps();
    // Small products (2^-20 per pair) keep the sums far from overflow for any run length.
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0x1p-10f), _mm512_set1_ps(0x1p-10f));
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0x1p-10f), _mm512_set1_ps(0x1p-10f));
    for (long n = 0; n < iterations; n++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < BF16_CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < BF16_CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

int cpeak_supported(cpeak_kernel kernel) {
    __builtin_cpu_init();
    switch (kernel) {
    case CPEAK_FP32_AVX512: return __builtin_cpu_supports("avx512f") ? 1 : 0;
    case CPEAK_FP32_AVX2: return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    case CPEAK_BF16_AVX512: return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
    }
    return 0;
}

double cpeak_flops_per_iteration(cpeak_kernel kernel) {
    switch (kernel) {
    case CPEAK_FP32_AVX512: return AVX512_CHAINS * 16 * 2.0;
    case CPEAK_FP32_AVX2: return AVX2_CHAINS * 8 * 2.0;
    case CPEAK_BF16_AVX512: return BF16_CHAINS * 32 * 2.0;
    }
    return 0;
}

float cpeak_run(cpeak_kernel kernel, long iterations) {
    if (!cpeak_supported(kernel)) return 0;
    switch (kernel) {
    case CPEAK_FP32_AVX512: return fp32_avx512(iterations);
    case CPEAK_FP32_AVX2: return fp32_avx2(iterations);
    case CPEAK_BF16_AVX512: return bf16_avx512(iterations);
    }
    return 0;
}

#else  // not x86: no kernel runs (the probe reports none available).

int cpeak_supported(cpeak_kernel kernel) { (void)kernel; return 0; }
double cpeak_flops_per_iteration(cpeak_kernel kernel) { (void)kernel; return 0; }
float cpeak_run(cpeak_kernel kernel, long iterations) { (void)kernel; (void)iterations; return 0; }

#endif
