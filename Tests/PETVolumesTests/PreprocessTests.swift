import XCTest
@testable import PETVolumes
import PETTensor

final class PreprocessTests: XCTestCase {
    /// A volume whose value is a linear function of world position (trilinear reproduces it exactly).
    func linearVolume(shape: [Int], affine: Affine) -> Volume {
        var v = Volume(shape: shape, affine: affine)
        let g = v.gridShape
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let (x, y, z) = affine.apply(Double(i), Double(j), Double(k))
            v[i, j, k] = Float(0.5 * x - 0.25 * y + 0.75 * z + 100)
        } } }
        return v
    }

    func testTrilinearReproducesLinearFieldOnRotatedGrid() throws {
        let src = linearVolume(shape: [20, 22, 24], affine: Affine([-2, 0, 0, 24, 0, 2, 0, -22, 0, 0, 2, -20, 0, 0, 0, 1]))
        // Target: oblique (rotated 20° about z), 1.5 mm, well inside the source.
        let c = cos(20.0 * .pi / 180), s = sin(20.0 * .pi / 180)
        let t = Affine([1.5 * c, -1.5 * s, 0, -8, 1.5 * s, 1.5 * c, 0, -10, 0, 0, 1.5, -8, 0, 0, 0, 1])
        let r = try Resample.toGrid(src, grid: VolumeGrid(shape: [9, 10, 11], affine: t), interpolation: .trilinear)
        XCTAssertEqual(r.affine, t)
        var maxErr: Float = 0
        let g = r.gridShape
        for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
            let (x, y, z) = t.apply(Double(i), Double(j), Double(k))
            maxErr = max(maxErr, maxAbsDifference([r[i, j, k]], [Float(0.5 * x - 0.25 * y + 0.75 * z + 100)]))
        } } }
        XCTAssertLessThan(maxErr, 1e-3)
    }

    func testFastResampleMatchesReference() throws {
        var rng = PETRandom(seed: 11)
        let src = Volume(shape: [7, 8, 9], data: (0..<504).map { _ in rng.uniform(-1, 1) },
                         affine: Affine([0, 0, -2, 10, -2, 0, 0, 12, 0, 2.5, 0, -9, 0, 0, 0, 1]))
        for _ in 0..<4 {
            let a = Double(rng.uniform(0, 1)), sc = Double(rng.uniform(1, 3))
            let t = Affine([sc * cos(a), -sc * sin(a), 0, Double(rng.uniform(-12, 0)), sc * sin(a), sc * cos(a), 0, Double(rng.uniform(-12, 0)),
                            0, 0, sc, Double(rng.uniform(-14, 0)), 0, 0, 0, 1])
            let grid = VolumeGrid(shape: [6, 7, 8], affine: t)
            for interp in Interpolation.allCases {
                let fast = try Resample.toGrid(src, grid: grid, interpolation: interp, fill: -5)
                let ref = Resample.referenceToGrid(src, grid: grid, interpolation: interp, fill: -5)
                let diff = maxAbsDifference(fast.data, ref.data)
                XCTAssertLessThan(diff, 1e-4, "\(interp)")
                XCTAssertTrue(fast.data.contains(-5) || ref.data.allSatisfy { $0 != -5 })
            }
        }
    }

    func testNearestKeepsLabelsAndIdentityIsExact() throws {
        var labels = Volume(shape: [6, 6, 6], affine: .scaling(2, 2, 2))
        for n in 0..<labels.count { labels.data[n] = Float(n % 4) }
        let same = try Resample.toGrid(labels, grid: VolumeGrid(shape: [6, 6, 6], affine: labels.affine), interpolation: .trilinear)
        XCTAssertEqual(same.data, labels.data)
        let fine = try Resample.toGrid(labels, shape: [12, 12, 12], voxelSize: 1, interpolation: .nearest)
        XCTAssertTrue(Set(fine.data).isSubset(of: [0, 1, 2, 3]))
        XCTAssertEqual(fine.voxelSize.0, 1, accuracy: 1e-12)
        // Centred: the grid centre maps to the same world point as the source centre.
        let cs = labels.affine.apply(2.5, 2.5, 2.5), cf = fine.affine.apply(5.5, 5.5, 5.5)
        XCTAssertEqual(cs.0, cf.0, accuracy: 1e-9); XCTAssertEqual(cs.2, cf.2, accuracy: 1e-9)
        XCTAssertThrowsError(try Resample.toGrid(labels, shape: [0, 1, 1], voxelSize: 1))
    }

    func testCropPadKeepsWorldPositions() throws {
        let v = sampleVolume(shape: [5, 6, 7])
        for target in [[3, 4, 5], [9, 8, 10], [5, 2, 11]] {
            let c = try Preprocess.cropOrPad(v, to: target)
            XCTAssertEqual(c.shape, target)
            let g = c.gridShape, inv = v.affine.inverse!
            var matched = 0
            for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
                let w = c.affine.apply(Double(i), Double(j), Double(k))
                let (a, b, d) = inv.apply(w.0, w.1, w.2)
                let (ia, ib, id) = (Int(a.rounded()), Int(b.rounded()), Int(d.rounded()))
                if ia >= 0 && ia < 7 && ib >= 0 && ib < 6 && id >= 0 && id < 5 {
                    XCTAssertEqual(c[i, j, k], v[ia, ib, id]); matched += 1
                } else {
                    XCTAssertEqual(c[i, j, k], 0)
                }
            } } }
            XCTAssertEqual(matched, min(3, 5) * 0 + zip(target, [5, 6, 7]).map { min($0, $1) }.reduce(1, *))
        }
    }

    func testNormalizationMapsToUnitRangeAndInverts() throws {
        var v = sampleVolume(shape: [6, 6, 6])
        v.data[0] = 0
        for method in [NormalizationMethod.max, .percentile(99), .zscore(clipSigma: 3)] {
            let map = try Normalize.fit(v, method: method)
            let n = Normalize.apply(map, to: v)
            XCTAssertTrue(n.data.allSatisfy { $0 >= -1 && $0 <= 1 }, "\(method)")
            let back = Normalize.invert(map, n)
            // Values not clipped come back exactly (to float precision).
            for idx in 0..<v.count where abs(Double(v.data[idx]) * map.scale + map.offset) < 1 {
                XCTAssertEqual(back.data[idx], v.data[idx], accuracy: 1e-3)
            }
        }
        XCTAssertEqual(finiteMaximum(Normalize.apply(try Normalize.fit(v, method: .max), to: v).data), 1)
        XCTAssertEqual(Normalize.apply(try Normalize.fit(v, method: .max), to: v).data[0], -1)
        // SUVR: reference region of constant value 20 → voxels of 20 map to SUVR 1 → 2/3 - 1.
        var mask = Volume(shape: v.shape)
        for idx in 0..<10 { mask.data[idx] = 1; v.data[idx] = 20 }
        let suvr = try Normalize.fit(v, method: .suvr(suvrMax: 3), referenceMask: mask)
        XCTAssertEqual(Double(suvr.forward(20)), 2.0 / 3 - 1, accuracy: 1e-6)
        XCTAssertThrowsError(try Normalize.fit(v, method: .suvr(suvrMax: 3), referenceMask: Volume(shape: v.shape)))
        XCTAssertThrowsError(try Normalize.fit(v, method: .suvr(suvrMax: 3)))
        XCTAssertThrowsError(try Normalize.fit(Volume(shape: [2, 2, 2]), method: .max))
        XCTAssertEqual(NormalizationMethod.parse("percentile:99.5"), .percentile(99.5))
        XCTAssertEqual(NormalizationMethod.parse("zscore"), .zscore(clipSigma: 3))
        XCTAssertNil(NormalizationMethod.parse("median"))
        XCTAssertEqual(Normalize.percentile([1, 2, 3, 4, 5], 50), 3)
        XCTAssertEqual(Normalize.percentile([0, 10], 25), 2.5)
    }
}
