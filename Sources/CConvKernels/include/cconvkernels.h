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

/// Thin outputs, one output channel, one line of `rows` rows: row j reads from v + j·vstride and
/// writes out[j·ostride] (straight into the NCDHW result: a line runs along W):
///   out[j·ostride] = Σ_t Σ_c w[woff[t] + c] · v[j·vstride + voff[t] + c]
/// vectorised along the contiguous reduction c (AVX2 + FMA for the avx2 and avx512 ISAs, which
/// imply it; plain C for scalar). A row's sum depends only on nt and nc (and the ISA), not on
/// `rows` or its neighbours.
void cck_thin_rows(cck_isa isa, const float *v, long vstride, long rows, long nt, const long *voff, const long *woff,
                   long nc, const float *w, float *out, long ostride);

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
/// The same one element at a time (the reference of the AVX2 8x8-transpose blocks above).
void cck_unpack_channels_last_plain(const float *src, long cp, long nd, long nh, long nw, long p0, long p1,
                                    float *dst, long C, long D, long H, long W, long d0, long h0, long w0,
                                    long sd, long sh, long sw);

/// A weight panel: element (oc, ic, tap) = w[oc·so + ic·si + tap]; for ic in [ic0, ic1) and every
/// block cb < blocks:  dst[((cb·nt + t)·nin + ic)·nb + i] = element(cb·nb + i, ic, taps[t]), or 0
/// when cb·nb + i ≥ nout. nb ≤ 64.
void cck_pack_weights(const float *w, long so, long si, long nout, long nin, const long *taps, long nt,
                      long nb, long blocks, long ic0, long ic1, float *dst);

/// dst[c·ldd + r] = src[r·lds + c] for rows r in [0, rows) and columns c in [c0, c1).
void cck_transpose(const float *src, long rows, long lds, long c0, long c1, float *dst, long ldd);

// MARK: bf16 (bf16 inputs, fp32 accumulation)
// bf16 values are the upper 16 bits of an fp32 (8-bit significand). A bf16 tile reduces over
// *pairs* of steps, as vdpbf16ps does: pair c of row j is the two bf16 at v[j] + voff[t] + c·vps
// (adjacent), the weight side of pair c is nb pairs (i, 0..1) interleaved at w + woff[t] + c·wps:
//   out[j][i] (+)= Σ_t Σ_c Σ_{e<2} w[woff[t] + c·wps + 2i + e] · v[j][voff[t] + c·vps + e]
// Products of two bf16 are exact in fp32; only the accumulation rounds.

/// Output channels per bf16 tile (16 fp32 lanes × 4 vectors).
#define CCK_BF16_WIDTH 64

/// 1 when this CPU runs the vdpbf16ps tile (AVX512_BF16 + AVX-512F).
int cck_bf16_supported(void);

/// One bf16 tile. fast = 1: vdpbf16ps (only where cck_bf16_supported()); fast = 0: the same sums
/// in plain C with fp32 arithmetic (every CPU; per pair: acc += w1·v1, then acc += w0·v0,
/// the order Intel documents for vdpbf16ps). tail = 1: the reduction has an odd length, so the last
/// pair of every segment holds one step: its second input-side element (which may be another
/// position's data, even NaN) is replaced by +0 and only the first is multiplied in.
void cck_tile_bf16(int fast, const unsigned short *const *v, long nt, const long *voff, const long *woff,
                   long npairs, long vps, long wps, const unsigned short *w, float *out, long ldo, int rows, int accumulate, int tail);

/// fp32 → bf16, round to nearest even (PyTorch's c10::BFloat16 conversion; NaN → quiet NaN 0x7FC0).
void cck_to_bf16(const float *src, unsigned short *dst, long n);
/// x rounded to the nearest bf16 in place (kept as fp32): the emulated path's input conversion.
void cck_round_bf16(float *x, long n);

// The conversions and packers below run 8 or 16 elements at a time with AVX2 where the CPU has it;
// each *_plain function is the same contract one element at a time, the reference tests compare
// the vectorized ones against bit for bit.
void cck_to_bf16_plain(const float *src, unsigned short *dst, long n);
void cck_round_bf16_plain(float *x, long n);
void cck_pack_channels_last_bf16_plain(const float *src, long C, long D, long H, long W, long p0, long p1,
                                       unsigned short *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw);
void cck_pack_phases_bf16_plain(const float *src, long D, long H, long W, long p0, long p1,
                                unsigned short *dst, long Dp, long Hp, long sw, long wq, long fd, long fh, long fw);
void cck_pack_position_pairs_bf16_plain(const float *src, long C, long D, long H, long W, long p0, long p1,
                                        unsigned short *dst, long cp, long wpairs);

/// cck_pack_channels_last into bf16 (dst's other elements are left as they are).
void cck_pack_channels_last_bf16(const float *src, long C, long D, long H, long W, long p0, long p1,
                                 unsigned short *dst, long cp, long Dp, long Hp, long Wp, long fd, long fh, long fw);

/// A bf16 weight panel: element (oc, ic, tap) = w[oc·so + ic·si + tap]; for input-channel pairs
/// [q0, q1) (npairs = ⌈nin/2⌉ in all) and every block cb < blocks:
///   dst[(((cb·nt + t)·npairs + q)·nb + i)·2 + e] = element(cb·nb + i, 2q + e, taps[t]), 0 outside. nb ≤ 64.
void cck_pack_weights_bf16(const float *w, long so, long si, long nout, long nin, const long *taps, long nt,
                           long nb, long blocks, long q0, long q1, unsigned short *dst);

/// Weight-gradient input side: x (planes (n·C + c)·D + d, [p0, p1)) zero-padded and split by W phase
/// so a stride-sw walk becomes contiguous: dst[((plane'·Hp + h + fh)·sw + φ)·wq + u] = x[..., w]
/// where plane' = (n·C + c)·Dp + d + fd, w + fw = u·sw + φ.
void cck_pack_phases_bf16(const float *src, long D, long H, long W, long p0, long p1,
                          unsigned short *dst, long Dp, long Hp, long sw, long wq, long fd, long fh, long fw);

/// Weight-gradient weight side: src (N, C, D, H, W), planes n·D + d in [p0, p1), into pairs of W
/// positions, channels padded to cp:  dst[(((plane·H + h)·wpairs + x/2)·cp + c)·2 + x%2] = src[...x]
/// (dst's other elements are left as they are).
void cck_pack_position_pairs_bf16(const float *src, long C, long D, long H, long W, long p0, long p1,
                                  unsigned short *dst, long cp, long wpairs);

#endif
