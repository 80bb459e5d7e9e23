// The implicit-GEMM convolution's register-blocked micro-kernel (one function per ISA, chosen at
// run time) and the layout changes around it. A tile is CCK_ROWS output rows (positions, or weight
// taps for the weight gradient) by cck_block_width(isa) output channels, accumulated in registers:
//   out[j][i] (+)= Σ_t Σ_c w[woff[t] + c·wcs + i] · v[j][voff[t] + c·vcs]
// v[j] are the rows' base pointers into the (padded) input: nothing is packed on the input side.
#ifndef CCONVKERNELS_H
#define CCONVKERNELS_H

typedef enum {
    CCK_SCALAR = 0,   // plain C, any CPU
    CCK_AVX2 = 1,     // 6 x 16: 12 ymm accumulators, AVX2 + FMA
    CCK_AVX512 = 2,   // 6 x 64: 24 zmm accumulators, AVX-512F
} cck_isa;

#define CCK_ROWS 6

/// 1 when this CPU (and OS) runs `isa`.
int cck_supported(cck_isa isa);

/// Output channels per tile: 64 (AVX-512), 16 (AVX2, scalar).
int cck_block_width(cck_isa isa);

/// One tile. `v` holds CCK_ROWS pointers (rows past `rows` may repeat a valid one; only the first
/// `rows` rows of `out`, pitch `ldo`, are written). `accumulate` = 0 overwrites, else adds.
void cck_tile(cck_isa isa, const float *const *v, long nt, const long *voff, const long *woff,
              long nc, long vcs, long wcs, const float *w, float *out, long ldo, int rows, int accumulate);

/// Channels-last copy of the (n, d) planes [p0, p1) (plane = n·D + d) of src (N, C, D, H, W) into
/// dst (N, Dp, Hp, Wp, cp) at offset (fd, fh, fw); dst's other elements are left as they are (the
/// caller zeroes them).
///   dst[((n·Dp + d + fd)·Hp + h + fh)·Wp + w + fw)·cp + c] = src[(((n·C + c)·D + d)·H + h)·W + w]
void cck_pack_channels_last(const float *src, long C, long D, long H, long W, long p0, long p1,
                            float *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw);

/// The inverse direction with strides: for (n, d) planes [p0, p1) of an (nd, nh, nw) grid,
///   dst[(((n·C + c)·D + d0 + d·sd)·H + h0 + h·sh)·W + w0 + w·sw] = src[((n·nd + d)·nh + h)·nw + w)·cp + c]
void cck_unpack_channels_last(const float *src, long cp, long nd, long nh, long nw, long p0, long p1,
                              float *dst, long C, long D, long H, long W, long d0, long h0, long w0,
                              long sd, long sh, long sw);

/// A weight panel: element (oc, ic, tap) = w[oc·so + ic·si + tap]; for ic in [ic0, ic1) and every
/// block cb < blocks:  dst[((cb·nt + t)·nin + ic)·nb + i] = element(cb·nb + i, ic, taps[t]), or 0
/// when cb·nb + i ≥ nout.
void cck_pack_weights(const float *w, long so, long si, long nout, long nin, const long *taps, long nt,
                      long nb, long blocks, long ic0, long ic1, float *dst);

/// dst[c·ldd + r] = src[r·lds + c] for rows r in [0, rows) and columns c in [c0, c1).
void cck_transpose(const float *src, long rows, long lds, long c0, long c1, float *dst, long ldd);

#endif
