import CConvKernels
import XCTest
@testable import PETTensor

/// The layout kernels around the implicit-GEMM and bf16 tiles (kernels.c): each vectorized packer
/// (AVX2 8×8 transposes and 8-lane bf16 rounding) against its `_plain` one-element-at-a-time
/// reference, bit for bit, on odd shapes whose rows end in every remainder of the vector widths,
/// with NaN (several payloads, both signs), infinities, subnormals, ties and signed zeros among the
/// values, and a sentinel in every destination element the contract leaves alone.
final class PackerTests: XCTestCase {
    /// Values that stress the rounding: random magnitudes over many binades, random bit patterns
    /// (NaN, infinities and subnormals among them) and the special cases.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = PETRandom(seed: seed)
        let special: [Float] = [0, -0, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7f80_0001), Float(bitPattern: 0xffc0_1234),
                                .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 0x1p-130, 1 + 0x1p-8, 1 + 0x1p-8 + 0x1p-7,
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        return (0..<n).map { i in
            switch rng.int(below: 4) {
            case 0: return special[i % special.count]
            case 1: return Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            default: return rng.uniform(-1, 1) * Float(pow(2.0, Double(rng.int(below: 80)) - 40))
            }
        }
    }

    static let sentinel: UInt16 = 0xBEEF

    func testConversionsMatchPlain() {
        for n in [0, 1, 7, 8, 15, 16, 17, 31, 33, 1000] {
            let v = Self.values(n, seed: UInt64(n) + 1)
            var fast = [UInt16](repeating: 0, count: n), plain = fast
            cck_to_bf16(v, &fast, n)
            cck_to_bf16_plain(v, &plain, n)
            XCTAssertEqual(fast, plain, "cck_to_bf16, n = \(n)")
            var rf = v, rp = v
            cck_round_bf16(&rf, n)
            cck_round_bf16_plain(&rp, n)
            XCTAssertEqual(rf.map(\.bitPattern), rp.map(\.bitPattern), "cck_round_bf16, n = \(n)")
        }
    }

    func testChannelsLastBF16MatchesPlain() {
        // C: below, at and past the 8-channel block; W: every remainder of the 8-position block.
        for (c, w) in [(1, 9), (7, 8), (8, 8), (8, 17), (9, 15), (16, 23), (17, 1), (24, 33)] {
            let (n, d, h) = (2, 3, 2), (fd, fh, fw) = (1, 0, 2)
            let cp = c + c % 2 + (w % 3 == 0 ? 2 : 0)
            let (dp, hp, wp) = (d + fd + 1, h + fh + 1, w + fw + 1)
            let src = Self.values(n * c * d * h * w, seed: UInt64(c * 100 + w))
            var fast = [UInt16](repeating: Self.sentinel, count: n * dp * hp * wp * cp), plain = fast
            // Two calls over plane ranges, as Parallel.forRanges splits them.
            for (p0, p1) in [(0, 2), (2, n * d)] {
                cck_pack_channels_last_bf16(src, c, d, h, w, p0, p1, &fast, cp, dp, hp, wp, fd, fh, fw)
                cck_pack_channels_last_bf16_plain(src, c, d, h, w, p0, p1, &plain, cp, dp, hp, wp, fd, fh, fw)
            }
            XCTAssertEqual(fast, plain, "channels-last bf16, C = \(c), W = \(w)")
            XCTAssertTrue(fast.contains(Self.sentinel), "padding left alone")
        }
    }

    func testPhasesBF16MatchPlain() {
        for (w, sw, fw) in [(1, 1, 0), (15, 1, 1), (16, 1, 0), (33, 1, 2), (16, 2, 0), (17, 2, 1), (31, 2, 2), (40, 2, 3), (35, 3, 1), (9, 4, 2)] {
            let (planes, d, h) = (4, 2, 3), (fd, fh) = (1, 1)
            let (dp, hp) = (d + fd + 1, h + fh + 1)
            let wq = (w + fw - 1) / sw + 2
            let src = Self.values(planes * h * w, seed: UInt64(w * 10 + sw))
            var fast = [UInt16](repeating: Self.sentinel, count: (planes / d) * dp * hp * sw * wq), plain = fast
            for (p0, p1) in [(0, 1), (1, planes)] {
                cck_pack_phases_bf16(src, d, h, w, p0, p1, &fast, dp, hp, sw, wq, fd, fh, fw)
                cck_pack_phases_bf16_plain(src, d, h, w, p0, p1, &plain, dp, hp, sw, wq, fd, fh, fw)
            }
            XCTAssertEqual(fast, plain, "phases bf16, W = \(w), sw = \(sw), fw = \(fw)")
        }
    }

    func testPositionPairsBF16MatchPlain() {
        for (c, w) in [(1, 16), (8, 15), (8, 16), (8, 33), (9, 32), (16, 17), (23, 48)] {
            let (n, d, h) = (2, 2, 3)
            let cp = c + c % 2 + 2, wpairs = (w + 1) / 2
            let src = Self.values(n * c * d * h * w, seed: UInt64(c * 7 + w))
            var fast = [UInt16](repeating: Self.sentinel, count: n * d * h * wpairs * cp * 2), plain = fast
            for (p0, p1) in [(0, 1), (1, n * d)] {
                cck_pack_position_pairs_bf16(src, c, d, h, w, p0, p1, &fast, cp, wpairs)
                cck_pack_position_pairs_bf16_plain(src, c, d, h, w, p0, p1, &plain, cp, wpairs)
            }
            XCTAssertEqual(fast, plain, "position pairs bf16, C = \(c), W = \(w)")
        }
    }

    func testUnpackChannelsLastMatchesPlain() {
        // Strides 1 (the forward), 2 (the adjoint's phases of k4 s2 layers) and 3; origins off zero.
        for (c, nw, s, w0) in [(8, 8, 1, 0), (8, 17, 1, 1), (9, 16, 2, 1), (16, 7, 1, 0), (17, 24, 2, 0), (24, 9, 3, 2), (5, 33, 1, 0), (64, 16, 2, 1)] {
            let (n, nd, nh) = (2, 2, 3), cp = c + (c % 8 == 0 ? 0 : 8 - c % 8)
            let (d0, h0) = (1, 0), (sd, sh) = (s, s)
            let (dd, hh, ww) = (d0 + (nd - 1) * sd + 1, h0 + (nh - 1) * sh + 2, w0 + (nw - 1) * s + 2)
            let src = Self.values(n * nd * nh * nw * cp, seed: UInt64(c + nw * 3 + s))
            var fast = [Float](repeating: Float(bitPattern: 0x7fbe_ef00), count: n * c * dd * hh * ww), plain = fast
            for (p0, p1) in [(0, 1), (1, n * nd)] {
                cck_unpack_channels_last(src, cp, nd, nh, nw, p0, p1, &fast, c, dd, hh, ww, d0, h0, w0, sd, sh, s)
                cck_unpack_channels_last_plain(src, cp, nd, nh, nw, p0, p1, &plain, c, dd, hh, ww, d0, h0, w0, sd, sh, s)
            }
            XCTAssertEqual(fast.map(\.bitPattern), plain.map(\.bitPattern), "unpack, C = \(c), nw = \(nw), stride \(s)")
        }
    }
}
