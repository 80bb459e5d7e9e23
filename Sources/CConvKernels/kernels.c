// Micro-kernels of the implicit-GEMM convolution. Each ISA's tile keeps CCK_ROWS x (vectors per
// row) accumulators in registers for the whole reduction: per reduction step it loads the weight
// vectors once and broadcasts one input value per row straight from the padded input, so there is
// no column matrix and no input packing. 24 zmm (or 12 ymm) accumulators cover the FMA latency
// times the two FMA pipes several times over.
#include "cconvkernels.h"

// Plain C: the reference shape of every kernel below, and the fallback on any CPU.
static void tile_scalar(const float *const *v, long nt, const long *voff, const long *woff,
                        long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate) {
    float acc[CCK_ROWS][16];
    for (int j = 0; j < CCK_ROWS; j++)
        for (int i = 0; i < 16; i++) acc[j][i] = (accumulate && j < rows) ? out[j * ldo + i] : 0.0f;
    for (long t = 0; t < nt; t++) {
        const float *wp = w + woff[t];
        const float *p[CCK_ROWS];
        for (int j = 0; j < CCK_ROWS; j++) p[j] = v[j] + voff[t];
        long idx = 0;
        for (long c = 0; c < nc; c++) {
            for (int j = 0; j < CCK_ROWS; j++) {
                const float b = p[j][idx];
                for (int i = 0; i < 16; i++) acc[j][i] += b * wp[i];
            }
            idx += vcs; wp += wcs;
        }
    }
    for (int j = 0; j < rows; j++)
        for (int i = 0; i < 16; i++) out[j * ldo + i] = acc[j][i];
}


// Thin outputs (one output channel per call): a row's reduction is a dot product of contiguous runs
// (channels-last input, the channel's weights in the same order), so the vectors run along the
// reduction, not across output channels; a wide tile would compute 15 of 16 lanes as padding.
static void thin_scalar(const float *v, long vstride, long rows, long nt, const long *voff, const long *woff,
                        long nc, const float *w, float *out, long ostride) {
    for (long j = 0; j < rows; j++) {
        float acc = 0.0f;
        for (long t = 0; t < nt; t++) {
            const float *p = v + j * vstride + voff[t], *wp = w + woff[t];
            for (long c = 0; c < nc; c++) acc += wp[c] * p[c];
        }
        out[j * ostride] = acc;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

__attribute__((target("avx512f")))
static void tile_avx512(const float *const *v, long nt, const long *voff, const long *woff,
                        long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate) {
#define DECL(j) __m512 a##j##0, a##j##1, a##j##2, a##j##3;
    ROWS6(DECL)
#undef DECL
#define INIT(j) \
    if (accumulate && j < rows) { \
        a##j##0 = _mm512_loadu_ps(out + j * ldo); a##j##1 = _mm512_loadu_ps(out + j * ldo + 16); \
        a##j##2 = _mm512_loadu_ps(out + j * ldo + 32); a##j##3 = _mm512_loadu_ps(out + j * ldo + 48); \
    } else { a##j##0 = a##j##1 = a##j##2 = a##j##3 = _mm512_setzero_ps(); }
    ROWS6(INIT)
#undef INIT
    for (long t = 0; t < nt; t++) {
        const float *wp = w + woff[t];
        const long o = voff[t];
        const float *p0 = v[0] + o, *p1 = v[1] + o, *p2 = v[2] + o, *p3 = v[3] + o, *p4 = v[4] + o, *p5 = v[5] + o;
        long idx = 0;
        for (long c = 0; c < nc; c++) {
            const __m512 w0 = _mm512_loadu_ps(wp), w1 = _mm512_loadu_ps(wp + 16);
            const __m512 w2 = _mm512_loadu_ps(wp + 32), w3 = _mm512_loadu_ps(wp + 48);
#define STEP(j) { const __m512 b = _mm512_set1_ps(p##j[idx]); \
            a##j##0 = _mm512_fmadd_ps(b, w0, a##j##0); a##j##1 = _mm512_fmadd_ps(b, w1, a##j##1); \
            a##j##2 = _mm512_fmadd_ps(b, w2, a##j##2); a##j##3 = _mm512_fmadd_ps(b, w3, a##j##3); }
            ROWS6(STEP)
#undef STEP
            idx += vcs; wp += wcs;
        }
    }
#define STORE(j) \
    if (j < rows) { \
        _mm512_storeu_ps(out + j * ldo, a##j##0); _mm512_storeu_ps(out + j * ldo + 16, a##j##1); \
        _mm512_storeu_ps(out + j * ldo + 32, a##j##2); _mm512_storeu_ps(out + j * ldo + 48, a##j##3); \
    }
    ROWS6(STORE)
#undef STORE
}

__attribute__((target("avx2,fma")))
static void tile_avx2(const float *const *v, long nt, const long *voff, const long *woff,
                      long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate) {
#define DECL(j) __m256 a##j##0, a##j##1;
    ROWS6(DECL)
#undef DECL
#define INIT(j) \
    if (accumulate && j < rows) { a##j##0 = _mm256_loadu_ps(out + j * ldo); a##j##1 = _mm256_loadu_ps(out + j * ldo + 8); } \
    else { a##j##0 = a##j##1 = _mm256_setzero_ps(); }
    ROWS6(INIT)
#undef INIT
    for (long t = 0; t < nt; t++) {
        const float *wp = w + woff[t];
        const long o = voff[t];
        const float *p0 = v[0] + o, *p1 = v[1] + o, *p2 = v[2] + o, *p3 = v[3] + o, *p4 = v[4] + o, *p5 = v[5] + o;
        long idx = 0;
        for (long c = 0; c < nc; c++) {
            const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
#define STEP(j) { const __m256 b = _mm256_broadcast_ss(p##j + idx); \
            a##j##0 = _mm256_fmadd_ps(b, w0, a##j##0); a##j##1 = _mm256_fmadd_ps(b, w1, a##j##1); }
            ROWS6(STEP)
#undef STEP
            idx += vcs; wp += wcs;
        }
    }
#define STORE(j) if (j < rows) { _mm256_storeu_ps(out + j * ldo, a##j##0); _mm256_storeu_ps(out + j * ldo + 8, a##j##1); }
    ROWS6(STORE)
#undef STORE
}


// 4 rows share each weight load; 2 ymm accumulators per row (8 in flight cover the FMA latency of
// both pipes). Every row runs the same operations whatever its neighbours (a short last group
// repeats its last row and stores only the real ones), so a voxel's sum depends on nt and nc only,
// never on how many rows a call has: the tiled writer's bits do not depend on the tiling.
#define ROWS4(X) X(0) X(1) X(2) X(3)
__attribute__((target("avx2,fma")))
static void thin_avx2(const float *v, long vstride, long rows, long nt, const long *voff, const long *woff,
                      long nc, const float *w, float *out, long ostride) {
    for (long j0 = 0; j0 < rows; j0 += 4) {
        const float *r[4];
        for (int k = 0; k < 4; k++) r[k] = v + (j0 + k < rows ? j0 + k : rows - 1) * vstride;
#define DECL(j) __m256 a##j##0 = _mm256_setzero_ps(), a##j##1 = _mm256_setzero_ps(); float s##j = 0.0f; const float *p##j;
        ROWS4(DECL)
#undef DECL
        for (long t = 0; t < nt; t++) {
            const float *wp = w + woff[t];
#define BASE(j) p##j = r[j] + voff[t];
            ROWS4(BASE)
#undef BASE
            long c = 0;
            for (; c + 16 <= nc; c += 16) {
                const __m256 w0 = _mm256_loadu_ps(wp + c), w1 = _mm256_loadu_ps(wp + c + 8);
#define STEP(j) a##j##0 = _mm256_fmadd_ps(_mm256_loadu_ps(p##j + c), w0, a##j##0); \
                a##j##1 = _mm256_fmadd_ps(_mm256_loadu_ps(p##j + c + 8), w1, a##j##1);
                ROWS4(STEP)
#undef STEP
            }
            if (c + 8 <= nc) {
                const __m256 w0 = _mm256_loadu_ps(wp + c);
#define STEP(j) a##j##0 = _mm256_fmadd_ps(_mm256_loadu_ps(p##j + c), w0, a##j##0);
                ROWS4(STEP)
#undef STEP
                c += 8;
            }
            for (; c < nc; c++) {
#define STEP(j) s##j = fmaf(wp[c], p##j[c], s##j);
                ROWS4(STEP)
#undef STEP
            }
        }
#define STORE(j) if (j0 + j < rows) { \
            const __m256 a = _mm256_add_ps(a##j##0, a##j##1); \
            __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)); \
            q = _mm_add_ps(q, _mm_movehl_ps(q, q)); \
            q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1)); \
            out[(j0 + j) * ostride] = _mm_cvtss_f32(q) + s##j; }
        ROWS4(STORE)
#undef STORE
    }
}
#undef ROWS4

int cck_supported(cck_isa isa) {
    __builtin_cpu_init();
    switch (isa) {
    case CCK_SCALAR: return 1;
    case CCK_AVX2: return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    case CCK_AVX512: return __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return 0;
}

void cck_tile(cck_isa isa, const float *const *v, long nt, const long *voff, const long *woff,
              long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate) {
    switch (isa) {
    case CCK_AVX512: tile_avx512(v, nt, voff, woff, nc, vcs, wcs, w, out, ldo, rows, accumulate); return;
    case CCK_AVX2: tile_avx2(v, nt, voff, woff, nc, vcs, wcs, w, out, ldo, rows, accumulate); return;
    case CCK_SCALAR: break;
    }
    tile_scalar(v, nt, voff, woff, nc, vcs, wcs, w, out, ldo, rows, accumulate);
}

void cck_thin_rows(cck_isa isa, const float *v, long vstride, long rows, long nt, const long *voff, const long *woff,
                   long nc, const float *w, float *out, long ostride) {
    if (isa != CCK_SCALAR && cck_supported(CCK_AVX2)) { thin_avx2(v, vstride, rows, nt, voff, woff, nc, w, out, ostride); return; }
    thin_scalar(v, vstride, rows, nt, voff, woff, nc, w, out, ostride);
}

#else  // not x86: the plain C tile only.

int cck_supported(cck_isa isa) { return isa == CCK_SCALAR ? 1 : 0; }

void cck_tile(cck_isa isa, const float *const *v, long nt, const long *voff, const long *woff,
              long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate) {
    (void)isa;
    tile_scalar(v, nt, voff, woff, nc, vcs, wcs, w, out, ldo, rows, accumulate);
}

void cck_thin_rows(cck_isa isa, const float *v, long vstride, long rows, long nt, const long *voff, const long *woff,
                   long nc, const float *w, float *out, long ostride) {
    (void)isa;
    thin_scalar(v, vstride, rows, nt, voff, woff, nc, w, out, ostride);
}

#endif

int cck_block_width(cck_isa isa) { return isa == CCK_AVX512 ? 64 : 16; }

// Blocked transposes: 8 channels x a row at a time, so reads and writes both run along lines. Not 16:
// channel rows are a volume apart, a power of two (16 KB for 16³), so 16 of them fall in one L1 set
// (12 ways on the reference machine) and evicted each other on every element.
#define CCK_CHANNEL_BLOCK 8
#if defined(__x86_64__) || defined(__i386__)
// 8 channels x 8 positions through registers: 8 row loads, an 8x8 transpose, 8 stores of 8
// channels each (a whole 32-byte run of a voxel's channels instead of 8 scattered floats). Copies
// only: the result is the plain loop's, bit for bit.
// r[k] (lane j) -> r[j] (lane k): an 8x8 transpose of 32-bit elements in registers.
__attribute__((target("avx2")))
static inline void transpose8_avx2(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]), t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]), t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// 8 channels x 8 positions through registers: 8 row loads, an 8x8 transpose, 8 stores of 8
// channels each (a whole 32-byte run of a voxel's channels instead of 8 scattered floats). Copies
// only: the result is the plain loop's, bit for bit.
__attribute__((target("avx2")))
static long pack_block8_avx2(const float *const *srow, long W, float *drow, long cp) {
    long x0 = 0;
    for (; x0 + 8 <= W; x0 += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(srow[k] + x0);
        transpose8_avx2(r);
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(drow + (x0 + k) * cp, r[k]);
    }
    return x0;
}

// The way back: 8 positions' runs of 8 channels (one load each), transposed, written as 8
// channel rows; a strided destination (the adjoint's phases) through a small buffer.
__attribute__((target("avx2")))
static long unpack_block8_avx2(const float *src, long cp, long nw, float *const *drow, long sw, long room) {
    long x0 = 0;
    // Stride 2 (the k4 s2 layers' phases): each channel's 8 values spread to the even lanes of 16
    // and blended into what the row holds (the odd lanes are another phase's, written back as
    // read; phases run one after another and threads own whole rows, so nothing races), while the
    // 16 lanes lie inside the row (room: elements from drow[j] to the row's end).
    const __m256i lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    for (; sw == 2 && x0 + 8 <= nw && 2 * x0 + 16 <= room; x0 += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(src + (x0 + k) * cp);
        transpose8_avx2(r);
        for (int j = 0; j < 8; j++) {
            float *d = drow[j] + 2 * x0;
            _mm256_storeu_ps(d, _mm256_blend_ps(_mm256_loadu_ps(d), _mm256_permutevar8x32_ps(r[j], lo), 0x55));
            _mm256_storeu_ps(d + 8, _mm256_blend_ps(_mm256_loadu_ps(d + 8), _mm256_permutevar8x32_ps(r[j], hi), 0x55));
        }
    }
    for (; x0 + 8 <= nw; x0 += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(src + (x0 + k) * cp);
        transpose8_avx2(r);
        if (sw == 1) {
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(drow[j] + x0, r[j]);
        } else {
            float tmp[8];
            for (int j = 0; j < 8; j++) {
                _mm256_storeu_ps(tmp, r[j]);
                float *d = drow[j] + x0 * sw;
                for (int i = 0; i < 8; i++) d[i * sw] = tmp[i];
            }
        }
    }
    return x0;
}
#endif

void cck_pack_channels_last(const float *src, long C, long D, long H, long W, long p0, long p1,
                            float *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw) {
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = cck_supported(CCK_AVX2);
#else
    const int avx2 = 0;
#endif
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            float *drow = dst + (((n * Dp + d + fd) * Hp + h + fh) * Wp + fw) * cp;
            for (long c0 = 0; c0 < C; c0 += CCK_CHANNEL_BLOCK) {
                const long c1 = c0 + CCK_CHANNEL_BLOCK < C ? c0 + CCK_CHANNEL_BLOCK : C;
                long done = 0;
#if defined(__x86_64__) || defined(__i386__)
                if (avx2 && c1 - c0 == 8) {
                    const float *rows[8];
                    for (int k = 0; k < 8; k++) rows[k] = src + (((n * C + c0 + k) * D + d) * H + h) * W;
                    done = pack_block8_avx2(rows, W, drow + c0, cp);
                }
#endif
                for (long c = c0; c < c1; c++) {
                    const float *srow = src + (((n * C + c) * D + d) * H + h) * W;
                    float *dc = drow + c;
                    for (long x = done; x < W; x++) dc[x * cp] = srow[x];
                }
            }
        }
    }
    (void)avx2;
}

static void unpack_channels_last(int vector, const float *src, long cp, long nd, long nh, long nw, long p0, long p1,
                                 float *dst, long C, long D, long H, long W, long d0, long h0, long w0,
                                 long sd, long sh, long sw) {
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = vector && cck_supported(CCK_AVX2);
#else
    (void)vector;
#endif
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / nd, d = pl % nd;
        for (long h = 0; h < nh; h++) {
            const float *srow = src + ((n * nd + d) * nh + h) * nw * cp;
            for (long c0 = 0; c0 < C; c0 += CCK_CHANNEL_BLOCK) {
                const long c1 = c0 + CCK_CHANNEL_BLOCK < C ? c0 + CCK_CHANNEL_BLOCK : C;
                long done = 0;
#if defined(__x86_64__) || defined(__i386__)
                if (avx2 && c1 - c0 == 8) {
                    float *rows[8];
                    for (int k = 0; k < 8; k++) rows[k] = dst + (((n * C + c0 + k) * D + d0 + d * sd) * H + h0 + h * sh) * W + w0;
                    done = unpack_block8_avx2(srow + c0, cp, nw, rows, sw, W - w0);
                }
#endif
                for (long c = c0; c < c1; c++) {
                    float *drow = dst + (((n * C + c) * D + d0 + d * sd) * H + h0 + h * sh) * W + w0;
                    const float *sc = srow + c;
                    for (long x = done; x < nw; x++) drow[x * sw] = sc[x * cp];
                }
            }
        }
    }
}

void cck_unpack_channels_last(const float *src, long cp, long nd, long nh, long nw, long p0, long p1,
                              float *dst, long C, long D, long H, long W, long d0, long h0, long w0,
                              long sd, long sh, long sw) {
    unpack_channels_last(1, src, cp, nd, nh, nw, p0, p1, dst, C, D, H, W, d0, h0, w0, sd, sh, sw);
}
void cck_unpack_channels_last_plain(const float *src, long cp, long nd, long nh, long nw, long p0, long p1,
                                    float *dst, long C, long D, long H, long W, long d0, long h0, long w0,
                                    long sd, long sh, long sw) {
    unpack_channels_last(0, src, cp, nd, nh, nw, p0, p1, dst, C, D, H, W, d0, h0, w0, sd, sh, sw);
}

// Weight panels through an L1 block: the source rows of one input channel (64 output channels x up to
// 64 taps: contiguous runs of w, read once) are gathered into `local`, then written out tap by tap as
// whole runs of nb output channels. Writing element by element along the panel's tap axis instead
// (a stride of nin·nb floats, 64 KB for D4: every line in one L1/L2 set) missed cache on every store
// and cost 1.7 ns per weight.
#define CCK_TAP_CHUNK 64
#define CCK_PREFETCH_ROWS 4
void cck_pack_weights(const float *w, long so, long si, long nout, long nin, const long *taps, long nt,
                      long nb, long blocks, long ic0, long ic1, float *dst) {
    float local[64 * CCK_TAP_CHUNK];
    for (long cb = 0; cb < blocks; cb++)
        for (long ic = ic0; ic < ic1; ic++)
            for (long t0 = 0; t0 < nt; t0 += CCK_TAP_CHUNK) {
                const long tn = nt - t0 < CCK_TAP_CHUNK ? nt - t0 : CCK_TAP_CHUNK;
                long lo = taps[t0], hi = taps[t0];
                for (long t = 1; t < tn; t++) { lo = taps[t0 + t] < lo ? taps[t0 + t] : lo; hi = taps[t0 + t] > hi ? taps[t0 + t] : hi; }
                for (long i = 0; i < nb; i++) {
                    const long oc = cb * nb + i;
                    float *l = local + i * CCK_TAP_CHUNK;
                    if (oc >= nout) { for (long t = 0; t < tn; t++) l[t] = 0.0f; continue; }
                    const float *src = w + oc * so + ic * si;
                    // Rows are far apart (so floats): fetch a later row's span now, the prefetcher won't.
                    if (oc + CCK_PREFETCH_ROWS < nout)
                        for (long k = lo; k <= hi; k += 16) __builtin_prefetch(src + CCK_PREFETCH_ROWS * so + k);
                    if (hi - lo + 1 == tn && taps[t0] == lo) {   // consecutive taps (the forward's): a copy
                        int consecutive = 1;
                        for (long t = 1; t < tn; t++) if (taps[t0 + t] != lo + t) { consecutive = 0; break; }
                        if (consecutive) { for (long t = 0; t < tn; t++) l[t] = src[lo + t]; continue; }
                    }
                    for (long t = 0; t < tn; t++) l[t] = src[taps[t0 + t]];
                }
                for (long t = 0; t < tn; t++) {
                    float *d = dst + ((cb * nt + t0 + t) * nin + ic) * nb;
                    for (long i = 0; i < nb; i++) d[i] = local[i * CCK_TAP_CHUNK + t];
                }
            }
}

void cck_transpose(const float *src, long rows, long lds, long c0, long c1, float *dst, long ldd) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        const long r1 = r0 + 16 < rows ? r0 + 16 : rows;
        for (long c = c0; c < c1; c++)
            for (long r = r0; r < r1; r++) dst[c * ldd + r] = src[r * lds + c];
    }
}

// MARK: bf16 tiles and packers

#include <string.h>
#include <stdint.h>

static inline unsigned short bf16_of(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;       // NaN stays NaN (quiet)
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float float_of(unsigned short b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }

void cck_to_bf16_plain(const float *src, unsigned short *dst, long n) { for (long i = 0; i < n; i++) dst[i] = bf16_of(src[i]); }
void cck_round_bf16_plain(float *x, long n) { for (long i = 0; i < n; i++) x[i] = float_of(bf16_of(x[i])); }

// The emulated tile: the vdpbf16ps tile's sums with fp32 multiply-adds (products of bf16 are exact).
static void tile_bf16_c(const unsigned short *const *v, long nt, const long *voff, const long *woff,
                        long npairs, long vps, long wps, const unsigned short *w, float *out, long ldo, int rows, int accumulate,
                        int tail) {
    float acc[CCK_ROWS][CCK_BF16_WIDTH];
    for (int j = 0; j < CCK_ROWS; j++)
        for (int i = 0; i < CCK_BF16_WIDTH; i++) acc[j][i] = (accumulate && j < rows) ? out[j * ldo + i] : 0.0f;
    for (long t = 0; t < nt; t++) {
        const unsigned short *wp = w + woff[t];
        for (long c = 0; c < npairs; c++) {
            for (int j = 0; j < CCK_ROWS; j++) {
                const unsigned short *p = v[j] + voff[t] + c * vps;
                // tail: the last pair's second element is not part of the operand (never read).
                const float b0 = float_of(p[0]), b1 = (tail && c == npairs - 1) ? 0.0f : float_of(p[1]);
                for (int i = 0; i < CCK_BF16_WIDTH; i++) {
                    float a = acc[j][i];
                    // vdpbf16ps's documented order (Intel SDM): the odd element's product first.
                    a += float_of(wp[2 * i + 1]) * b1;
                    a += float_of(wp[2 * i]) * b0;
                    acc[j][i] = a;
                }
            }
            wp += wps;
        }
    }
    for (int j = 0; j < rows; j++)
        for (int i = 0; i < CCK_BF16_WIDTH; i++) out[j * ldo + i] = acc[j][i];
}

#if defined(__x86_64__) || defined(__i386__)
// 6 rows x 64 channels: 24 zmm accumulators; per pair 4 weight loads (64 channels x 2 bf16) and one
// 32-bit broadcast (the row's two bf16) per row; 24 vdpbf16ps = 1536 flops per pair step.
__attribute__((target("avx512bf16,avx512f")))
static void tile_bf16_avx512(const unsigned short *const *v, long nt, const long *voff, const long *woff,
                             long npairs, long vps, long wps, const unsigned short *w, float *out, long ldo, int rows, int accumulate,
                             int tail) {
#define DECL(j) __m512 a##j##0, a##j##1, a##j##2, a##j##3;
    ROWS6(DECL)
#undef DECL
#define INIT(j) \
    if (accumulate && j < rows) { \
        a##j##0 = _mm512_loadu_ps(out + j * ldo); a##j##1 = _mm512_loadu_ps(out + j * ldo + 16); \
        a##j##2 = _mm512_loadu_ps(out + j * ldo + 32); a##j##3 = _mm512_loadu_ps(out + j * ldo + 48); \
    } else { a##j##0 = a##j##1 = a##j##2 = a##j##3 = _mm512_setzero_ps(); }
    ROWS6(INIT)
#undef INIT
    for (long t = 0; t < nt; t++) {
        const unsigned short *wp = w + woff[t];
        const long o = voff[t];
        const unsigned short *p0 = v[0] + o, *p1 = v[1] + o, *p2 = v[2] + o, *p3 = v[3] + o, *p4 = v[4] + o, *p5 = v[5] + o;
        long idx = 0;
        const long full = tail ? npairs - 1 : npairs;
#define STEP(j, MASK) { int32_t s; memcpy(&s, p##j + idx, 4); s &= (MASK); const __m512bh b = (__m512bh)_mm512_set1_epi32(s); \
            a##j##0 = _mm512_dpbf16_ps(a##j##0, b, w0); a##j##1 = _mm512_dpbf16_ps(a##j##1, b, w1); \
            a##j##2 = _mm512_dpbf16_ps(a##j##2, b, w2); a##j##3 = _mm512_dpbf16_ps(a##j##3, b, w3); }
#define FULL(j) STEP(j, -1)
#define HALF(j) STEP(j, 0xffff)
        for (long c = 0; c < full; c++) {
            const __m512bh w0 = (__m512bh)_mm512_loadu_si512(wp), w1 = (__m512bh)_mm512_loadu_si512(wp + 32);
            const __m512bh w2 = (__m512bh)_mm512_loadu_si512(wp + 64), w3 = (__m512bh)_mm512_loadu_si512(wp + 96);
            ROWS6(FULL)
            idx += vps; wp += wps;
        }
        if (full < npairs) {   // tail pair: only its first element (the low half) is read as data
            const __m512bh w0 = (__m512bh)_mm512_loadu_si512(wp), w1 = (__m512bh)_mm512_loadu_si512(wp + 32);
            const __m512bh w2 = (__m512bh)_mm512_loadu_si512(wp + 64), w3 = (__m512bh)_mm512_loadu_si512(wp + 96);
            ROWS6(HALF)
        }
#undef FULL
#undef HALF
#undef STEP
    }
#define STORE(j) \
    if (j < rows) { \
        _mm512_storeu_ps(out + j * ldo, a##j##0); _mm512_storeu_ps(out + j * ldo + 16, a##j##1); \
        _mm512_storeu_ps(out + j * ldo + 32, a##j##2); _mm512_storeu_ps(out + j * ldo + 48, a##j##3); \
    }
    ROWS6(STORE)
#undef STORE
}

int cck_bf16_supported(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
}

void cck_tile_bf16(int fast, const unsigned short *const *v, long nt, const long *voff, const long *woff,
                   long npairs, long vps, long wps, const unsigned short *w, float *out, long ldo, int rows, int accumulate, int tail) {
    if (fast) tile_bf16_avx512(v, nt, voff, woff, npairs, vps, wps, w, out, ldo, rows, accumulate, tail);
    else tile_bf16_c(v, nt, voff, woff, npairs, vps, wps, w, out, ldo, rows, accumulate, tail);
}
#else
int cck_bf16_supported(void) { return 0; }
void cck_tile_bf16(int fast, const unsigned short *const *v, long nt, const long *voff, const long *woff,
                   long npairs, long vps, long wps, const unsigned short *w, float *out, long ldo, int rows, int accumulate, int tail) {
    (void)fast;
    tile_bf16_c(v, nt, voff, woff, npairs, vps, wps, w, out, ldo, rows, accumulate, tail);
}
#endif

void cck_pack_channels_last_bf16_plain(const float *src, long C, long D, long H, long W, long p0, long p1,
                                 unsigned short *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw) {
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            unsigned short *drow = dst + (((n * Dp + d + fd) * Hp + h + fh) * Wp + fw) * cp;
            for (long c0 = 0; c0 < C; c0 += CCK_CHANNEL_BLOCK) {
                const long c1 = c0 + CCK_CHANNEL_BLOCK < C ? c0 + CCK_CHANNEL_BLOCK : C;
                for (long c = c0; c < c1; c++) {
                    const float *srow = src + (((n * C + c) * D + d) * H + h) * W;
                    unsigned short *dc = drow + c;
                    for (long x = 0; x < W; x++) dc[x * cp] = bf16_of(srow[x]);
                }
            }
        }
    }
}

void cck_pack_weights_bf16(const float *w, long so, long si, long nout, long nin, const long *taps, long nt,
                           long nb, long blocks, long q0, long q1, unsigned short *dst) {
    // As cck_pack_weights: one channel pair's rows gathered (and rounded) into an L1 block, then
    // written tap by tap as whole runs of nb interleaved pairs.
    const long npairs = (nin + 1) / 2;
    unsigned short local[2 * 64 * CCK_TAP_CHUNK];
    for (long cb = 0; cb < blocks; cb++)
        for (long q = q0; q < q1; q++)
            for (long t0 = 0; t0 < nt; t0 += CCK_TAP_CHUNK) {
                const long tn = nt - t0 < CCK_TAP_CHUNK ? nt - t0 : CCK_TAP_CHUNK;
                long lo = taps[t0], hi = taps[t0];
                for (long t = 1; t < tn; t++) { lo = taps[t0 + t] < lo ? taps[t0 + t] : lo; hi = taps[t0 + t] > hi ? taps[t0 + t] : hi; }
                for (long i = 0; i < nb; i++) {
                    const long oc = cb * nb + i;
                    for (long e = 0; e < 2; e++) {
                        const long ic = 2 * q + e;
                        unsigned short *l = local + (2 * i + e) * CCK_TAP_CHUNK;
                        if (oc >= nout || ic >= nin) { for (long t = 0; t < tn; t++) l[t] = 0; continue; }
                        const float *src = w + oc * so + ic * si;
                        if (oc + CCK_PREFETCH_ROWS < nout)
                            for (long k = lo; k <= hi; k += 16) __builtin_prefetch(src + CCK_PREFETCH_ROWS * so + k);
                        float g[CCK_TAP_CHUNK];
                        for (long t = 0; t < tn; t++) g[t] = src[taps[t0 + t]];
                        for (long t = 0; t < tn; t++) l[t] = bf16_of(g[t]);   // vectorizes: no gather inside
                    }
                }
                for (long t = 0; t < tn; t++) {
                    unsigned short *d = dst + ((cb * nt + t0 + t) * npairs + q) * nb * 2;
                    for (long k = 0; k < 2 * nb; k++) d[k] = local[k * CCK_TAP_CHUNK + t];
                }
            }
}

void cck_pack_phases_bf16_plain(const float *src, long D, long H, long W, long p0, long p1,
                          unsigned short *dst, long Dp, long Hp, long sw, long wq, long fd, long fh, long fw) {
    for (long pl = p0; pl < p1; pl++) {
        const long nc = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            const float *srow = src + (pl * H + h) * W;
            unsigned short *drow = dst + ((nc * Dp + d + fd) * Hp + h + fh) * sw * wq;
            // One phase at a time: contiguous writes, no division per element.
            for (long phi = 0; phi < sw; phi++) {
                unsigned short *dp = drow + phi * wq;
                long u = (fw + sw - 1 - phi) / sw;          // first u with u·sw + phi ≥ fw
                for (long x = u * sw + phi - fw; x < W; x += sw, u++) dp[u] = bf16_of(srow[x]);
            }
        }
    }
}

void cck_pack_position_pairs_bf16_plain(const float *src, long C, long D, long H, long W, long p0, long p1,
                                  unsigned short *dst, long cp, long wpairs) {
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            unsigned short *drow = dst + (pl * H + h) * wpairs * cp * 2;
            for (long c = 0; c < C; c++) {
                const float *srow = src + (((n * C + c) * D + d) * H + h) * W;
                for (long x = 0; x < W; x++) drow[((x >> 1) * cp + c) * 2 + (x & 1)] = bf16_of(srow[x]);
            }
        }
    }
}

// MARK: vectorized bf16 conversion and packers (AVX2; the _plain functions are their reference,
// and each result equals its plain one bit for bit: tests compare them on odd shapes with NaN,
// infinities and subnormals). The rounding is bf16_of's integer trick on 8 lanes, not
// vcvtneps2bf16, which flushes subnormal inputs to zero and would differ from PyTorch's conversion.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2")))
static inline __m256i bf16_round8(__m256 f) {
    const __m256i u = _mm256_castps_si256(f);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
    return _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), nan);
}
// 16 floats -> 16 bf16 in order (packus keeps 0..0xffff as is; the permute undoes its lane split).
__attribute__((target("avx2")))
static inline __m256i bf16_round16(const float *p) {
    return _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16_round8(_mm256_loadu_ps(p)), bf16_round8(_mm256_loadu_ps(p + 8))), 0xD8);
}

__attribute__((target("avx2")))
static long to_bf16_avx2(const float *src, unsigned short *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(dst + i), bf16_round16(src + i));
    return i;
}
__attribute__((target("avx2")))
static long round_bf16_avx2(float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_castsi256_ps(_mm256_slli_epi32(bf16_round8(_mm256_loadu_ps(x + i)), 16)));
    return i;
}

// Channels-last: 8 channel rows x 8 positions; channel pairs joined into 32-bit words (the even
// channel in the low half, as the bf16 array stores it), then a 4x8 transpose of words gives each
// position's 8 channels as one 16-byte store.
__attribute__((target("avx2")))
static long pack_block8_bf16_avx2(const float *const *srow, long W, unsigned short *drow, long cp) {
    long x0 = 0;
    for (; x0 + 8 <= W; x0 += 8) {
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_or_si256(bf16_round8(_mm256_loadu_ps(srow[2 * k] + x0)), _mm256_slli_epi32(bf16_round8(_mm256_loadu_ps(srow[2 * k + 1] + x0)), 16));
        const __m256i t0 = _mm256_unpacklo_epi32(q[0], q[1]), t1 = _mm256_unpackhi_epi32(q[0], q[1]);
        const __m256i t2 = _mm256_unpacklo_epi32(q[2], q[3]), t3 = _mm256_unpackhi_epi32(q[2], q[3]);
        const __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
        for (int k = 0; k < 4; k++) {   // u[k]: position x0 + k (low half) and x0 + 4 + k (high half)
            _mm_storeu_si128((__m128i *)(drow + (x0 + k) * cp), _mm256_castsi256_si128(u[k]));
            _mm_storeu_si128((__m128i *)(drow + (x0 + 4 + k) * cp), _mm256_extracti128_si256(u[k], 1));
        }
    }
    return x0;
}

// Position pairs: per channel, 16 positions -> 8 words (x even low, x odd high); 8 channels' words
// transposed so each pair's 8 channels are one 32-byte store.
__attribute__((target("avx2")))
static long pack_pairs8_bf16_avx2(const float *const *srow, long W, unsigned short *drow, long cp) {
    long x0 = 0;
    for (; x0 + 16 <= W; x0 += 16) {
        __m256 r[8];
        for (int c = 0; c < 8; c++) r[c] = _mm256_castsi256_ps(bf16_round16(srow[c] + x0));
        transpose8_avx2(r);
        for (int k = 0; k < 8; k++) _mm256_storeu_ps((float *)(drow + (x0 / 2 + k) * cp * 2), r[k]);
    }
    return x0;
}

// Phases of one row: sw = 1 a straight conversion; sw = 2 16 positions split into their even and
// odd elements (8 each, to the two phases' rows).
__attribute__((target("avx2")))
static long pack_phases_row_avx2(const float *srow, long W, unsigned short *drow, long sw, long wq, long fw) {
    long x0 = 0;
    if (sw == 1) {
        for (; x0 + 16 <= W; x0 += 16) _mm256_storeu_si256((__m256i *)(drow + x0 + fw), bf16_round16(srow + x0));
    } else if (sw == 2) {
        unsigned short *pe = drow + (fw & 1) * wq + (fw >> 1), *po = drow + ((fw + 1) & 1) * wq + ((fw + 1) >> 1);
        for (; x0 + 16 <= W; x0 += 16) {
            const __m256 a = _mm256_castsi256_ps(bf16_round8(_mm256_loadu_ps(srow + x0)));
            const __m256 b = _mm256_castsi256_ps(bf16_round8(_mm256_loadu_ps(srow + x0 + 8)));
            const __m256i ev = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(a, b, 0x88)), 0xD8);
            const __m256i od = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8);
            const __m256i both = _mm256_permute4x64_epi64(_mm256_packus_epi32(ev, od), 0xD8);
            _mm_storeu_si128((__m128i *)(pe + x0 / 2), _mm256_castsi256_si128(both));
            _mm_storeu_si128((__m128i *)(po + x0 / 2), _mm256_extracti128_si256(both, 1));
        }
    }
    return x0;
}
static int packers_avx2(void) { return cck_supported(CCK_AVX2); }
#endif

void cck_to_bf16(const float *src, unsigned short *dst, long n) {
    long done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (packers_avx2()) done = to_bf16_avx2(src, dst, n);
#endif
    cck_to_bf16_plain(src + done, dst + done, n - done);
}

void cck_round_bf16(float *x, long n) {
    long done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (packers_avx2()) done = round_bf16_avx2(x, n);
#endif
    cck_round_bf16_plain(x + done, n - done);
}

void cck_pack_channels_last_bf16(const float *src, long C, long D, long H, long W, long p0, long p1,
                                 unsigned short *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw) {
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = packers_avx2();
#else
    const int avx2 = 0;
#endif
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            unsigned short *drow = dst + (((n * Dp + d + fd) * Hp + h + fh) * Wp + fw) * cp;
            for (long c0 = 0; c0 < C; c0 += CCK_CHANNEL_BLOCK) {
                const long c1 = c0 + CCK_CHANNEL_BLOCK < C ? c0 + CCK_CHANNEL_BLOCK : C;
                long done = 0;
#if defined(__x86_64__) || defined(__i386__)
                if (avx2 && c1 - c0 == 8) {
                    const float *rows[8];
                    for (int k = 0; k < 8; k++) rows[k] = src + (((n * C + c0 + k) * D + d) * H + h) * W;
                    done = pack_block8_bf16_avx2(rows, W, drow + c0, cp);
                }
#endif
                for (long c = c0; c < c1; c++) {
                    const float *srow = src + (((n * C + c) * D + d) * H + h) * W;
                    unsigned short *dc = drow + c;
                    for (long x = done; x < W; x++) dc[x * cp] = bf16_of(srow[x]);
                }
            }
        }
    }
    (void)avx2;
}

void cck_pack_phases_bf16(const float *src, long D, long H, long W, long p0, long p1,
                          unsigned short *dst, long Dp, long Hp, long sw, long wq, long fd, long fh, long fw) {
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = packers_avx2();
#else
    const int avx2 = 0;
#endif
    for (long pl = p0; pl < p1; pl++) {
        const long nc = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            const float *srow = src + (pl * H + h) * W;
            unsigned short *drow = dst + ((nc * Dp + d + fd) * Hp + h + fh) * sw * wq;
            long done = 0;
#if defined(__x86_64__) || defined(__i386__)
            if (avx2) done = pack_phases_row_avx2(srow, W, drow, sw, wq, fw);
#endif
            // The rest one element at a time: position x goes to phase (x + fw) mod sw, element (x + fw) / sw.
            for (long x = done; x < W; x++) drow[((x + fw) % sw) * wq + (x + fw) / sw] = bf16_of(srow[x]);
        }
    }
    (void)avx2;
}

void cck_pack_position_pairs_bf16(const float *src, long C, long D, long H, long W, long p0, long p1,
                                  unsigned short *dst, long cp, long wpairs) {
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = packers_avx2();
#else
    const int avx2 = 0;
#endif
    for (long pl = p0; pl < p1; pl++) {
        const long n = pl / D, d = pl % D;
        for (long h = 0; h < H; h++) {
            unsigned short *drow = dst + (pl * H + h) * wpairs * cp * 2;
            for (long c0 = 0; c0 < C; c0 += CCK_CHANNEL_BLOCK) {
                const long c1 = c0 + CCK_CHANNEL_BLOCK < C ? c0 + CCK_CHANNEL_BLOCK : C;
                long done = 0;
#if defined(__x86_64__) || defined(__i386__)
                if (avx2 && c1 - c0 == 8) {
                    const float *rows[8];
                    for (int k = 0; k < 8; k++) rows[k] = src + (((n * C + c0 + k) * D + d) * H + h) * W;
                    done = pack_pairs8_bf16_avx2(rows, W, drow + c0 * 2, cp);
                }
#endif
                for (long c = c0; c < c1; c++) {
                    const float *srow = src + (((n * C + c) * D + d) * H + h) * W;
                    for (long x = done; x < W; x++) drow[((x >> 1) * cp + c) * 2 + (x & 1)] = bf16_of(srow[x]);
                }
            }
        }
    }
    (void)avx2;
}
