import XCTest
import PETTestFixtures
import PETVolumes
@testable import PETMetrics
import PETTensor
import PETModels

final class ImageMetricsTests: XCTestCase {
    func testSSIMOfIdenticalIsOneAndDropsWithNoise() throws {
        let x = blobVolume([20, 24, 22], seed: 1)
        XCTAssertEqual(try ImageMetrics.ssim(x, x, shape: [20, 24, 22], dataRange: 2), 1, accuracy: 1e-12)
        var rng = PETRandom(seed: 2)
        let y = x.map { $0 + 0.2 * rng.normal() }
        let s = try ImageMetrics.ssim(x, y, shape: [20, 24, 22], dataRange: 2)
        XCTAssertLessThan(s, 0.95); XCTAssertGreaterThan(s, 0)
        let x2 = blobVolume([30, 28], seed: 3)
        XCTAssertEqual(try ImageMetrics.ssim(x2, x2, shape: [30, 28], dataRange: 2), 1, accuracy: 1e-12)
        XCTAssertThrowsError(try ImageMetrics.ssim([Float](repeating: 0, count: 100), [Float](repeating: 0, count: 100), shape: [10, 10], dataRange: 1))
    }

    func testPSNROfKnownPerturbation() {
        let x = blobVolume([10, 12, 14], seed: 4)
        let peak = Double(finiteMaximum(x)!)
        // A constant offset δ gives MSE = δ².
        let d: Float = 0.125
        XCTAssertEqual(ImageMetrics.psnr(real: x, synthetic: x.map { $0 + d }), 10 * log10(peak * peak / Double(d * d)), accuracy: 1e-4)
        // Alternating ±δ: MSE = δ² too.
        let y = x.enumerated().map { $0.element + ($0.offset % 2 == 0 ? d : -d) }
        XCTAssertEqual(ImageMetrics.psnr(real: x, synthetic: y), 10 * log10(peak * peak / Double(d * d)), accuracy: 1e-4)
        XCTAssertEqual(ImageMetrics.psnr(real: x, synthetic: x), .infinity)
    }

    func testValidGaussianFilterMatchesDirectSum() {
        // The separable valid filter against a plain triple loop on a small 3-D array.
        var rng = PETRandom(seed: 5)
        let shape = [13, 14, 12]
        let x = (0..<shape.reduce(1, *)).map { _ in Double(rng.normal()) }
        let t = ImageMetrics.gaussianTaps()
        XCTAssertEqual(t.count, 11); XCTAssertEqual(t.reduce(0, +), 1, accuracy: 1e-15)
        let (y, s) = ImageMetrics.filterValid(x, shape: shape, taps: t, axes: [0, 1, 2])
        XCTAssertEqual(s, [3, 4, 2])
        for d in 0..<3 { for h in 0..<4 { for w in 0..<2 {
            var ref = 0.0
            for a in 0..<11 { for b in 0..<11 { for c in 0..<11 { ref += t[a] * t[b] * t[c] * x[((d + a) * 14 + h + b) * 12 + w + c] } } }
            XCTAssertEqual(y[(d * 4 + h) * 2 + w], ref, accuracy: 1e-12)
        } } }
    }

    func testMSSSIMIdenticalIsOneAndOrdersNoise() throws {
        let shape = [48, 48, 48]
        let x = blobVolume(shape, seed: 6)
        XCTAssertEqual(try ImageMetrics.msssim(x, x, shape: shape, dataRange: 2, scales: 3), 1, accuracy: 1e-12)
        var rng = PETRandom(seed: 7)
        let a = x.map { $0 + 0.05 * rng.normal() }, b = x.map { $0 + 0.5 * rng.normal() }
        let sa = try ImageMetrics.msssim(x, a, shape: shape, dataRange: 2), sb = try ImageMetrics.msssim(x, b, shape: shape, dataRange: 2)
        XCTAssertGreaterThan(sa, sb); XCTAssertLessThan(sa, 1)
        XCTAssertEqual(Evaluation.msssimScales([48, 56, 48]), 3)
        XCTAssertEqual(Evaluation.msssimScales([96, 112, 96]), 4)
    }

    func testDownsampleAveragesBlocks() {
        let x: [Float] = (0..<(4 * 4 * 6)).map { Float($0) }
        let (y, s) = ImageMetrics.downsample(x, shape: [4, 4, 6], factor: 2)
        XCTAssertEqual(s, [2, 2, 3])
        // Block (0,0,0): indices (d,h,w) ∈ {0,1}³ → values d·24 + h·6 + w.
        XCTAssertEqual(y[0], Float([0, 1, 6, 7, 24, 25, 30, 31].reduce(0, +)) / 8)
    }

    func testMMDIdenticalSetsNearZeroAndSeparatedSetsLarge() {
        var rng = PETRandom(seed: 8)
        let x = (0..<20).map { _ in (0..<50).map { _ in rng.normal() } }
        let same = DistributionMetrics.mmd(x, x, permutations: 50)
        XCTAssertEqual(same.mmd2Biased, 0, accuracy: 1e-12)
        XCTAssertLessThan(abs(same.mmd2), 0.06)
        XCTAssertGreaterThan(same.pValue, 0.5)
        let y = (0..<20).map { _ in (0..<50).map { _ in rng.normal() + 1.5 } }
        let far = DistributionMetrics.mmd(x, y, permutations: 50)
        XCTAssertGreaterThan(far.mmd2, 0.3)
        XCTAssertLessThan(far.pValue, 0.05)
        let z = (0..<20).map { _ in (0..<50).map { _ in rng.normal() } }
        let near = DistributionMetrics.mmd(x, z, permutations: 50)
        XCTAssertLessThan(near.mmd2, far.mmd2 / 5)
    }

    func testFrechetDistanceKnownCases() {
        var rng = PETRandom(seed: 9)
        var x: [[Float]] = []
        for _ in 0..<40 { x.append((0..<6).map { j in rng.normal() * Float(1 + j) }) }
        XCTAssertEqual(DistributionMetrics.frechet(x, x), 0, accuracy: 1e-8)
        // Translation by c adds ‖c‖².
        let c: [Float] = [1, -2, 0.5, 0, 3, 1]
        let shifted = x.map { zip($0, c).map { $0 + $1 } }
        XCTAssertEqual(DistributionMetrics.frechet(x, shifted), Double(c.map { $0 * $0 }.reduce(0, +)), accuracy: 1e-4)
        // Scaling by 2 about the mean: tr Σ + 4 tr Σ − 2·2 tr Σ = tr Σ.
        let (mu, cov) = DistributionMetrics.meanCovariance(x)
        var scaled: [[Float]] = []
        for r in x {
            var row = [Float](repeating: 0, count: 6)
            for j in 0..<6 { row[j] = Float(2 * (Double(r[j]) - mu[j]) + mu[j]) }
            scaled.append(row)
        }
        let tr = (0..<6).reduce(0.0) { $0 + cov[$1 * 6 + $1] }
        XCTAssertEqual(DistributionMetrics.frechet(x, scaled), tr, accuracy: 1e-3 * tr)
    }

    func testJacobiEigenReconstructs() {
        let a: [Double] = [4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]
        let (vals, v) = SymmetricEigen.decompose(a, 3)
        for i in 0..<3 { for j in 0..<3 {
            let r = (0..<3).reduce(0.0) { $0 + v[i * 3 + $1] * vals[$1] * v[j * 3 + $1] }
            XCTAssertEqual(r, a[i * 3 + j], accuracy: 1e-12)
        } }
        let root = SymmetricEigen.function(a, 3) { $0.squareRoot() }
        let sq = DistributionMetrics.multiply(root, root, 3)
        for i in 0..<9 { XCTAssertEqual(sq[i], a[i], accuracy: 1e-12) }
    }

    func testSHA256KnownVectors() {
        // FIPS 180-2 examples; the 1000 × "a" digest from Python's hashlib.
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data(repeating: 0x61, count: 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        // Incremental: pieces of odd sizes, and a file read 1 MB at a time (sizes around block and read boundaries).
        var rng = PETRandom(seed: 9)
        for size in [55, 56, 64, 119, (1 << 20) - 1, (1 << 20) + 57] {
            let bytes = Data((0..<size).map { _ in UInt8(rng.int(below: 256)) })
            var h = SHA256.Hasher()
            var i = 0, piece = 1
            while i < size { let j = min(size, i + piece); h.update(bytes[i..<j]); i = j; piece = piece * 3 + 1 }
            let whole = SHA256.hex(bytes)
            XCTAssertEqual(h.finish(), whole, "pieces, \(size) bytes")
            let path = NSTemporaryDirectory() + "/petgan-sha-\(getpid())-\(size)"
            try? bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertEqual(try? SHA256.hex(file: path), whole, "file, \(size) bytes")
            try? FileManager.default.removeItem(atPath: path)
        }
        // Against Python's hashlib for a multi-block message.
        XCTAssertEqual(SHA256.hex(Data((0..<200).map { UInt8($0) })), "1901da1c9f699b48f6b2636e65cbf73abf99d0441ef67f5c540a42f7051dec6f")
    }
}
