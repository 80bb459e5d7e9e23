import XCTest
import PETTestFixtures
@testable import PETMetrics
import PETTensor

/// Streaming (slab-fed) SSIM / MS-SSIM against the whole-array reference: bitwise equal, for odd
/// non-cubic shapes and slab depths that do not divide the volume.
final class StreamingSSIMTests: XCTestCase {
    /// Feeds x and y to `add` in depth slabs of `slab` planes (the last one shorter).
    func feed(_ x: [Float], _ y: [Float], shape: [Int], slab: Int, _ add: ([Float], [Float]) -> Void) {
        let plane = shape[1] * shape[2]
        var z = 0
        while z < shape[0] {
            let n = min(slab, shape[0] - z)
            add(Array(x[(z * plane)..<((z + n) * plane)]), Array(y[(z * plane)..<((z + n) * plane)]))
            z += n
        }
    }

    func testStreamingSSIMEqualsReferenceBitwise() throws {
        var rng = PETRandom(seed: 41)
        for shape in [[13, 17, 12], [11, 11, 11], [25, 14, 19], [1, 20, 23], [30, 12, 1]] {
            let x = blobVolume(shape, seed: 1)
            let y = x.map { $0 + 0.3 * rng.normal() }
            let ref = try ImageMetrics.ssimTerms(x, y, shape: shape, dataRange: 2)
            for slab in [1, 3, 7, shape[0]] {
                let s = try StreamingSSIM(shape: shape, dataRange: 2)
                feed(x, y, shape: shape, slab: slab) { s.add($0, $1) }
                let got = try s.finish()
                XCTAssertEqual(got.ssim.bitPattern, ref.ssim.bitPattern, "ssim \(shape) slab \(slab): \(got.ssim) vs \(ref.ssim)")
                XCTAssertEqual(got.cs.bitPattern, ref.cs.bitPattern, "cs \(shape) slab \(slab)")
            }
        }
    }

    func testStreamingSSIMRefusesIncompleteAndTooSmall() throws {
        let s = try StreamingSSIM(shape: [12, 12, 12], dataRange: 1)
        s.add([Float](repeating: 1, count: 144 * 5), [Float](repeating: 1, count: 144 * 5))
        XCTAssertThrowsError(try s.finish()) { e in XCTAssertTrue("\(e)".contains("5 of 12")) }
        XCTAssertThrowsError(try StreamingSSIM(shape: [12, 9, 12], dataRange: 1)) { e in
            XCTAssertEqual(e as? MetricsError, .tooSmall(detail: "SSIM needs every image axis ≥ 11 voxels, got shape [12, 9, 12]"))
        }
    }

    func testStreamingMSSSIMEqualsReferenceBitwise() throws {
        var rng = PETRandom(seed: 42)
        for (shape, scales) in [([48, 50, 46], 3), ([47, 45, 44], 3), ([47, 45, 44], 2), ([23, 24, 22], 2), ([1, 50, 47], 3)] {
            let x = blobVolume(shape, seed: 2)
            let y = x.map { $0 + 0.2 * rng.normal() }
            let ref = try ImageMetrics.msssim(x, y, shape: shape, dataRange: 2, scales: scales)
            for slab in [1, 5, shape[0]] {
                let m = try StreamingMSSSIM(shape: shape, dataRange: 2, scales: scales)
                feed(x, y, shape: shape, slab: slab) { m.add($0, $1) }
                let got = try m.finish()
                XCTAssertEqual(got.bitPattern, ref.bitPattern, "\(shape) scales \(scales) slab \(slab): \(got) vs \(ref)")
            }
        }
    }
}
