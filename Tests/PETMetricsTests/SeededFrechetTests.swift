import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
@testable import PETMetrics

/// The pinned extractor of the seeded Fréchet distance: stable weights, features equal to a plain
/// re-implementation, and a distance that tells real volumes from blurred, shifted and wrong-class ones.
final class SeededFrechetTests: XCTestCase {
    /// Computed once from SeededFeatureNetwork (petgan-seeded-fd-v1): a regression pin. A change here
    /// changes every fd_seeded ever written; bump the version instead.
    static let pinnedSHA256 = "6ef535d6fcb550a570e1a268e45e553d6475c348582cb6e63d0f6d2da644b6c2"

    func testWeightsAreBitwiseStableAndPinned() {
        let a = SeededFeatureNetwork(), b = SeededFeatureNetwork()
        for (wa, wb) in zip(a.weights, b.weights) {
            XCTAssertEqual(wa.shape, wb.shape)
            for k in 0..<wa.count { XCTAssertEqual(wa.data[k].bitPattern, wb.data[k].bitPattern) }
        }
        XCTAssertEqual(a.weights.map(\.shape), [[8, 1, 3, 3, 3], [16, 8, 3, 3, 3], [8, 16, 3, 3, 3]])
        print("seeded extractor weights SHA-256: \(a.weightsSHA256)")
        XCTAssertEqual(a.weightsSHA256, Self.pinnedSHA256)
        XCTAssertEqual(SeededFeatureNetwork.version, "petgan-seeded-fd-v1")
        // The first weight from the generator by hand: (2u − 1)·√(6/27), u the top 24 bits of the first draw.
        var rng = PETRandom(seed: SeededFeatureNetwork.seed)
        let u = Float(rng.next() >> 40) / 16_777_216
        XCTAssertEqual(a.weights[0].data[0], (2 * u - 1) * Float((6.0 / 27).squareRoot()))
    }

    /// A plain re-implementation: textbook convolution in Double, ReLU, 2-pooling, means.
    func referenceFeatures(_ x: [Float], shape: [Int], net: SeededFeatureNetwork, mean: Float, sd: Float) -> [Float] {
        var maps: [[Double]] = [x.map { Double(($0 - mean) * (1 / sd)) }], s = shape
        var out: [Float] = []
        func octants(_ m: [Double], _ s: [Int]) -> [Float] {
            var sums = [Double](repeating: 0, count: 8), counts = [Double](repeating: 0, count: 8)
            for d in 0..<s[0] { for h in 0..<s[1] { for v in 0..<s[2] {
                let o = (d >= s[0] / 2 ? 4 : 0) + (h >= s[1] / 2 ? 2 : 0) + (v >= s[2] / 2 ? 1 : 0)
                sums[o] += m[(d * s[1] + h) * s[2] + v]; counts[o] += 1
            } } }
            return (0..<8).map { Float(sums[$0] / counts[$0]) }
        }
        out += octants(maps[0], s)
        for (stage, w) in net.weights.enumerated() {
            let co = w.shape[0], ci = w.shape[1]
            var next: [[Double]] = []
            for o in 0..<co {
                var m = [Double](repeating: 0, count: s[0] * s[1] * s[2])
                for d in 0..<s[0] { for h in 0..<s[1] { for v in 0..<s[2] {
                    var acc = 0.0
                    for c in 0..<ci { for a in 0..<3 { for b in 0..<3 { for e in 0..<3 {
                        let zd = d + a - 1, zh = h + b - 1, zw = v + e - 1
                        guard zd >= 0, zd < s[0], zh >= 0, zh < s[1], zw >= 0, zw < s[2] else { continue }
                        acc += Double(w.data[(((o * ci + c) * 3 + a) * 3 + b) * 3 + e]) * maps[c][(zd * s[1] + zh) * s[2] + zw]
                    } } } }
                    m[(d * s[1] + h) * s[2] + v] = max(0, acc)
                } } }
                next.append(m)
            }
            let p = s.map { $0 >= 2 ? $0 / 2 : 1 }, k = s.map { $0 >= 2 ? 2 : 1 }
            maps = next.map { m in
                var q = [Double](repeating: 0, count: p[0] * p[1] * p[2])
                for d in 0..<p[0] { for h in 0..<p[1] { for v in 0..<p[2] {
                    var acc = 0.0
                    for a in 0..<k[0] { for b in 0..<k[1] { for e in 0..<k[2] { acc += m[((d * k[0] + a) * s[1] + h * k[1] + b) * s[2] + v * k[2] + e] } } }
                    q[(d * p[1] + h) * p[2] + v] = acc / Double(k[0] * k[1] * k[2])
                } } }
                return q
            }
            s = p
            for m in maps {
                if stage < 2 { out.append(Float(m.reduce(0, +) / Double(m.count))); continue }
                out += octants(m, s)
            }
        }
        return out
    }

    func testFeaturesEqualPlainReference() throws {
        let net = SeededFeatureNetwork.v1
        // Odd sizes; the last map is 2×2×2 and 2×2×3, so every octant holds voxels.
        for shape in [[17, 19, 18], [16, 21, 24]] {
            let x = blobVolume(shape, seed: 4, noise: 0.2)
            let f = try net.features([x], shape: shape, mean: 0.4, sd: 0.7)[0]
            let r = referenceFeatures(x, shape: shape, net: net, mean: 0.4, sd: 0.7)
            XCTAssertEqual(f.count, SeededFeatureNetwork.featureCount); XCTAssertEqual(r.count, f.count)
            XCTAssertLessThan(maxAbsDifference(f, r), 1e-4 * max(1, r.map { abs($0) }.max()!), "shape \(shape)")
        }
    }

    // Perturbations of block-averaged volumes (D, H, W).
    static func blur(_ x: [Float], shape s: [Int], sigma: Double) -> [Float] {
        let r = Int((3 * sigma).rounded(.up))
        let k = (-r...r).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        var v = x.map(Double.init)
        for axis in 0..<3 {
            var out = v
            for d in 0..<s[0] { for h in 0..<s[1] { for w in 0..<s[2] {
                var acc = 0.0, wsum = 0.0
                for t in -r...r {
                    var p = [d, h, w]; p[axis] += t
                    guard p[axis] >= 0, p[axis] < s[axis] else { continue }
                    acc += k[t + r] * v[(p[0] * s[1] + p[1]) * s[2] + p[2]]; wsum += k[t + r]
                }
                out[(d * s[1] + h) * s[2] + w] = acc / max(wsum, 1e-12)
            } } }
            v = out
        }
        return v.map(Float.init)
    }

    /// Moves the volume by `by` voxels along W (left–right), zero fill.
    static func shift(_ x: [Float], shape s: [Int], by k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for d in 0..<s[0] { for h in 0..<s[1] { for w in 0..<s[2] where w - k >= 0 && w - k < s[2] {
            out[(d * s[1] + h) * s[2] + w] = x[(d * s[1] + h) * s[2] + w - k]
        } } }
        return out
    }

    func testSeparatesRealFromBlurredShiftedAndWrongClass() throws {
        // 72 phantom subjects (24 NC, 24 MCI, 24 AD), 4 mm, block-averaged ×2 as the evaluation does
        // (plus 24 NC and 24 paired AD for the wrong-class check below).
        let path = try makeTempDir("seeded-fd") + "/c.h5"
        try PhantomCohort.makeSmallCohort(at: path, count: 72, seed: 17, templatesDirectory: RepositoryPaths.templates)
        let set = try VolumeSet.open(path)
        let factor = Evaluation.smallFactor(set.shape)
        var shape: [Int] = []
        let vols = try (0..<set.count).map { i -> [Float] in
            let (v, s) = ImageMetrics.downsample(try set.values(i), shape: set.shape, factor: factor)
            shape = s
            return v
        }
        let (m, sd) = SeededFrechetMetric.standardization(vols)
        let net = SeededFeatureNetwork.v1
        func fd(_ a: [[Float]], _ b: [[Float]]) throws -> Double {
            DistributionMetrics.frechet(try net.features(a, shape: shape, mean: m, sd: sd), try net.features(b, shape: shape, mean: m, sd: sd))
        }
        let all = vols
        XCTAssertEqual(try fd(all, all), 0, accuracy: 1e-6)
        let blurs = try [0.5, 1.0, 2.0].map { s in try fd(all, all.map { Self.blur($0, shape: shape, sigma: s) }) }
        let shifts = try [1, 2, 3].map { k in try fd(all, all.map { Self.shift($0, shape: shape, by: k) }) }
        // Two disjoint halves of one distribution: the floor at this sample size.
        let even = all.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), odd = all.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let floor = try fd(even, odd)
        // Wrong class, paired: 24 NC and 24 AD subjects built from the same subject seeds (same anatomy,
        // age, scanner and noise; one class-specific stream adds the disease), so the AD set differs
        // from the second NC half by the disease alone. The realistic cohort's subject-to-subject
        // variability is as large as the class difference at 12 vs 12 (issue 15: classes overlap), so
        // comparing unpaired subjects would test the sample, not the extractor.
        func singleClass(_ name: String) throws -> [[Float]] {
            let p = try makeTempDir("seeded-fd-\(name)") + "/c.h5"
            let plan = try CohortPlan(count: 24, classNames: [name], proportions: nil, seed: 23)
            var req = CohortRequest(grid: .mni(niftiShape: [48, 56, 48], voxelSize: 4), parameters: PhantomParameters(), plan: plan, outputPath: p)
            req.templatesDirectory = RepositoryPaths.templates
            _ = try PhantomCohort.build(req)
            let s = try VolumeSet.open(p)
            return try (0..<s.count).map { ImageMetrics.downsample(try s.values($0), shape: s.shape, factor: factor).0 }
        }
        let nc = try singleClass("NC"), ad = try singleClass("AD")
        let ncHalves = try fd(Array(nc[0..<12]), Array(nc[12..<24]))
        let wrongClass = try fd(Array(nc[0..<12]), Array(ad[12..<24]))
        print("seeded FD: blur σ 0.5/1/2 \(blurs), shift 1/2/3 \(shifts), real halves \(floor), NC halves \(ncHalves), NC vs AD \(wrongClass)")
        for k in 1..<3 {
            XCTAssertGreaterThan(blurs[k], blurs[k - 1]); XCTAssertGreaterThan(shifts[k], shifts[k - 1])
        }
        XCTAssertGreaterThan(blurs[1], floor, "blur σ = 1 voxel must stand out from the same-distribution floor")
        XCTAssertGreaterThan(shifts[0], floor, "a 1-voxel (8 mm) shift must stand out from the floor")
        XCTAssertGreaterThan(wrongClass, ncHalves, "AD volumes must be further from NC than other NC volumes")
    }
}
