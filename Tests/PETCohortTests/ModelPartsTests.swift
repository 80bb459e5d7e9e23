import Foundation
import XCTest
@testable import PETCohort
import PETTensor
import PETVolumes

/// Pure parts of the phantom: filters, random draws, displacement fields, parameters, grids.
final class ModelPartsTests: XCTestCase {
    func testSeparableGaussianMatchesDirectConvolutionOnRandomShapes() {
        var rng = PETRandom(seed: 11)
        for _ in 0..<6 {
            let shape = [2 + rng.int(below: 9), 2 + rng.int(below: 9), 2 + rng.int(below: 9)]
            let sig = (0..<3).map { _ in Double(rng.uniform(0, 2.5)) }
            let data = (0..<(shape.reduce(1, *))).map { _ in rng.normal() }
            var fast = data
            GaussianFilter.smooth(&fast, shape: shape, sigmas: sig)
            let ref = GaussianFilter.reference(data, shape: shape, sigmas: sig)
            let err = maxAbsDifference(fast, ref)
            XCTAssertLessThan(err, 1e-5, "shape \(shape) sigmas \(sig)")
        }
    }

    func testGaussianPreservesConstantsAndSumsToOne() {
        let k = GaussianFilter.kernel(sigma: 1.7)
        XCTAssertEqual(k.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(k.count, 2 * 6 + 1)
        var c = [Float](repeating: 3.5, count: 7 * 8 * 9)
        GaussianFilter.smooth(&c, shape: [7, 8, 9], sigmas: [1, 2, 3])
        XCTAssertEqual(maxMagnitude(c.map { $0 - 3.5 }), 0, accuracy: 1e-5)
    }

    func testVarianceReductionIsTheImpulseResponseEnergy() {
        // White noise of variance 1 comes out with variance Σ h², h the impulse response.
        let shape = [25, 23, 21]
        var a = [Float](repeating: 0, count: shape.reduce(1, *))
        a[(12 * 23 + 11) * 21 + 10] = 1
        let sig = [1.7, 1.2, 2.1]
        GaussianFilter.smooth(&a, shape: shape, sigmas: sig)
        let energy = a.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertEqual(energy, GaussianFilter.varianceReduction(sigmas: sig), accuracy: 1e-7)
        XCTAssertEqual(a.reduce(0.0) { $0 + Double($1) }, 1, accuracy: 1e-5)
    }

    func testGammaBetaLogNormalMoments() {
        var rng = PETRandom(seed: 99)
        let n = 40_000
        for k in [0.5, 1.0, 3.0, 7.5] {
            let xs = (0..<n).map { _ in Draw.gamma(&rng, shape: k) }
            let m = xs.reduce(0, +) / Double(n)
            let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n - 1)
            XCTAssertEqual(m, k, accuracy: 0.03 * k, "Gamma(\(k)) mean")
            XCTAssertEqual(v, k, accuracy: 0.06 * k, "Gamma(\(k)) variance")
            XCTAssertTrue(xs.allSatisfy { $0 > 0 })
        }
        for (a, b) in [(3.0, 3.0), (2.0, 5.0), (0.7, 0.9)] {
            let xs = (0..<n).map { _ in Draw.beta(&rng, a, b) }
            let m = xs.reduce(0, +) / Double(n)
            let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n - 1)
            XCTAssertEqual(m, a / (a + b), accuracy: 0.006, "Beta(\(a),\(b)) mean")
            XCTAssertEqual(v, a * b / ((a + b) * (a + b) * (a + b + 1)), accuracy: 0.05 * a * b / ((a + b) * (a + b) * (a + b + 1)))
            XCTAssertTrue(xs.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let ln = (0..<n).map { _ in Draw.logNormal(&rng, mean: 1, cv: 0.09) }
        let m = ln.reduce(0, +) / Double(n)
        let sd = (ln.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n - 1)).squareRoot()
        XCTAssertEqual(m, 1, accuracy: 0.003)
        XCTAssertEqual(sd / m, 0.09, accuracy: 0.004)
    }

    func testDisplacementFieldIsSmoothScaledAndDeterministic() {
        let f = DisplacementField(seed: 42, sigmaMM: 17, maxMM: 3)
        XCTAssertEqual(f.maxNorm, 3, accuracy: 1e-4)
        let g = DisplacementField(seed: 42, sigmaMM: 17, maxMM: 3)
        XCTAssertEqual(f.ux, g.ux)
        XCTAssertNotEqual(f.ux, DisplacementField(seed: 43, sigmaMM: 17, maxMM: 3).ux)
        // Smooth: over 1 mm the field changes by a small fraction of its maximum.
        var worst: Float = 0
        for x in stride(from: -60.0, to: 60, by: 7) { for z in stride(from: -40.0, to: 70, by: 9) {
            let a = f.displacement(x, -20, z), b = f.displacement(x + 1, -20, z)
            worst = max(worst, maxAbsDifference([a.0, a.1, a.2], [b.0, b.1, b.2]))
        } }
        XCTAssertLessThan(worst, 0.3)
        XCTAssertGreaterThan(worst, 0)
        // Trilinear interpolation reproduces lattice values at lattice points.
        let (i, j, k) = (7, 9, 11)
        let p = (f.origin.0 + Double(i) * f.spacing, f.origin.1 + Double(j) * f.spacing, f.origin.2 + Double(k) * f.spacing)
        let v = f.displacement(p.0, p.1, p.2)
        XCTAssertEqual(v.0, f.ux[(k * f.shape[1] + j) * f.shape[2] + i], accuracy: 1e-5)
    }

    func testParametersRoundTripOverrideAndErrors() throws {
        let d = PhantomParameters()
        XCTAssertNoThrow(try d.validate())
        let back = try JSONDecoder().decode(PhantomParameters.self, from: try d.jsonData())
        XCTAssertEqual(back, d)
        let partial = #"{"psfFWHMmm": [6, 6], "gmToWMRatio": [4, 4.5]}"#.data(using: .utf8)!
        let p = try JSONDecoder().decode(PhantomParameters.self, from: partial)
        XCTAssertEqual(p.psfFWHMmm, .fixed(6))
        XCTAssertEqual(p.gmToWMRatio, ParameterRange(4, 4.5))
        XCTAssertEqual(p.classes, d.classes)
        XCTAssertThrowsError(try JSONDecoder().decode(PhantomParameters.self, from: #"{"psfFWHM": [6, 6]}"#.data(using: .utf8)!)) { e in
            XCTAssertTrue(describe(e).contains("unknown phantom parameter 'psfFWHM'"), describe(e))
        }
        var bad = d
        bad.gmToWMRatio = ParameterRange(5, 3)
        XCTAssertThrowsError(try bad.validate(source: "x.json")) { e in
            XCTAssertTrue("\(e)".contains("x.json") && "\(e)".contains("gmToWMRatio"), "\(e)")
        }
        bad = d
        bad.classes[2].reductions["nowhere"] = ParameterRange(0.1, 0.2)
        XCTAssertThrowsError(try bad.validate()) { e in XCTAssertTrue("\(e)".contains("nowhere"), "\(e)") }
        // A config file that is not JSON names the file.
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("phantom-bad-\(getpid()).json")
        try "not json".write(to: tmp, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PhantomParameters.load(path: tmp.path)) { e in XCTAssertTrue("\(e)".contains(tmp.path), "\(e)") }
        try? FileManager.default.removeItem(at: tmp)
    }

    func testMNIGridGeometry() throws {
        let g = VolumeGrid.mni(niftiShape: [96, 112, 96], voxelSize: 2)
        XCTAssertEqual(g.shape, [96, 112, 96])
        XCTAssertEqual([g.voxelSize.0, g.voxelSize.1, g.voxelSize.2], [2, 2, 2])
        // Centred on (0, −18, 18): the centre lies half-way between the two middle voxels.
        let c = g.affine.apply(47.5, 55.5, 47.5)
        XCTAssertEqual(c.0, 0, accuracy: 1e-9); XCTAssertEqual(c.1, -18, accuracy: 1e-9); XCTAssertEqual(c.2, 18, accuracy: 1e-9)
        let inv = try XCTUnwrap(g.affine.inverse) * g.affine
        for r in 0..<4 { for col in 0..<4 { XCTAssertEqual(inv[r, col], r == col ? 1 : 0, accuracy: 1e-12) } }
        // Resampling a grid onto itself is the identity.
        var rng = PETRandom(seed: 3)
        let small = VolumeGrid.mni(niftiShape: [5, 6, 7], voxelSize: 3)
        let a = (0..<small.count).map { _ in rng.uniform01() }
        XCTAssertEqual(Resample.trilinear(a, from: small, to: small), a)
    }

    func testCohortPlanProportionsAndDeterminism() throws {
        let plan = try CohortPlan(count: 411, classNames: ["NC", "MCI", "AD"], proportions: [105, 208, 98], seed: 7)
        let counts = Dictionary(grouping: plan.subjects, by: \.className).mapValues(\.count)
        XCTAssertEqual(counts, ["NC": 105, "MCI": 208, "AD": 98])
        let again = try CohortPlan(count: 411, classNames: ["NC", "MCI", "AD"], proportions: [105, 208, 98], seed: 7)
        XCTAssertEqual(plan.subjects, again.subjects)
        XCTAssertEqual(Set(plan.subjects.map(\.seed)).count, 411)
        let small = try CohortPlan(count: 10, classNames: ["NC", "MCI", "AD"], proportions: [105, 208, 98], seed: 7)
        XCTAssertEqual(Dictionary(grouping: small.subjects, by: \.className).mapValues(\.count), ["NC": 3, "MCI": 5, "AD": 2])
        XCTAssertThrowsError(try CohortPlan(count: 5, classNames: ["NC", "AD"], proportions: [1], seed: 1))
        XCTAssertThrowsError(try CohortPlan(count: 0, classNames: ["NC"], proportions: nil, seed: 1))
    }
}
