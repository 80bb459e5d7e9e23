import XCTest
import PETTestFixtures
import PETTestSupport
@testable import PETMetrics
import PETTensor

/// PSNR and SSIM equal scikit-image's (skimage.metrics) on fixtures: installed by
/// scripts/setup-python-eval.sh when missing.
final class InteropTests: XCTestCase {
    func testPSNRAndSSIMEqualScikitImage() throws {
        let (status, _, err) = try Fixtures.run("/bin/bash", [RepositoryPaths.root.appendingPathComponent("scripts/setup-python-eval.sh").path])
        XCTAssertEqual(status, 0, "scripts/setup-python-eval.sh failed: \(err)")
        let dir = try makeTempDir("skimage")
        let shape3 = [18, 22, 20], shape2 = [40, 36]
        let x3 = blobVolume(shape3, seed: 11), x2 = blobVolume(shape2, seed: 12)
        var rng = PETRandom(seed: 13)
        let y3 = x3.map { 0.9 * $0 + 0.1 * rng.normal() + 0.05 }, y2 = x2.map { $0 + 0.15 * rng.normal() }
        // A 2D sample (channels, H, W) as the 2D model makes them: SSIM per channel, averaged.
        let shapeC = [3, 40, 36]
        let xc = blobVolume([3, 40, 36], seed: 14), yc = xc.map { 0.95 * $0 + 0.12 * rng.normal() }
        func save(_ a: [Float], _ name: String) throws {
            try a.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        try save(x3, "x3.f32"); try save(y3, "y3.f32"); try save(x2, "x2.f32"); try save(y2, "y2.f32")
        try save(xc, "xc.f32"); try save(yc, "yc.f32")
        let L = 2.5
        let script = """
        import json, numpy as np
        from skimage.metrics import structural_similarity as ssim, peak_signal_noise_ratio as psnr
        d = "\(dir)"
        x3 = np.fromfile(d + "/x3.f32", dtype="<f4").reshape(\(shape3)).astype(np.float64)
        y3 = np.fromfile(d + "/y3.f32", dtype="<f4").reshape(\(shape3)).astype(np.float64)
        x2 = np.fromfile(d + "/x2.f32", dtype="<f4").reshape(\(shape2)).astype(np.float64)
        y2 = np.fromfile(d + "/y2.f32", dtype="<f4").reshape(\(shape2)).astype(np.float64)
        xc = np.fromfile(d + "/xc.f32", dtype="<f4").reshape(\(shapeC)).astype(np.float64)
        yc = np.fromfile(d + "/yc.f32", dtype="<f4").reshape(\(shapeC)).astype(np.float64)
        kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=\(L))
        print(json.dumps({"ssim3": ssim(x3, y3, **kw), "ssim2": ssim(x2, y2, **kw),
                          "psnr3": psnr(x3, y3, data_range=x3.max()), "psnr2": psnr(x2, y2, data_range=x2.max()),
                          "ssimc": ssim(xc, yc, channel_axis=0, **kw), "psnrc": psnr(xc, yc, data_range=xc.max())}))
        """
        let (s2, out, err2) = try Fixtures.run("/usr/bin/env", ["python3", "-c", script])
        XCTAssertEqual(s2, 0, err2)
        let ref = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Double])
        XCTAssertEqual(try ImageMetrics.ssim(x3, y3, shape: shape3, dataRange: L), ref["ssim3"]!, accuracy: 1e-10)
        XCTAssertEqual(try ImageMetrics.ssim(x2, y2, shape: shape2, dataRange: L), ref["ssim2"]!, accuracy: 1e-10)
        XCTAssertEqual(ImageMetrics.psnr(real: x3, synthetic: y3), ref["psnr3"]!, accuracy: 1e-9)
        XCTAssertEqual(ImageMetrics.psnr(real: x2, synthetic: y2), ref["psnr2"]!, accuracy: 1e-9)
        XCTAssertEqual(try Evaluation.ssim2D(xc, yc, shape: shapeC, dataRange: L), ref["ssimc"]!, accuracy: 1e-10)
        XCTAssertEqual(ImageMetrics.psnr(real: xc, synthetic: yc), ref["psnrc"]!, accuracy: 1e-9)
        XCTAssertLessThan(ref["ssimc"]!, 0.99)
        XCTAssertLessThan(ref["ssim3"]!, 0.99)   // the fixture is a real test, not identical images
    }
}
