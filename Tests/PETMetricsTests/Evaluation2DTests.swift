import XCTest
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
@testable import PETMetrics

/// `petgan evaluate` on 2D samples (channels, H, W), the 2D model's output: against the slice store the
/// model trains on, and against slices cut from the volume store the same way.
final class Evaluation2DTests: XCTestCase {
    static let offset: Float = 0.05
    nonisolated(unsafe) static var cohort: (volumes: String, slices: String)?

    /// 12 phantom subjects on the 4 mm grid with a 64×64×3 axial slice store (default positions).
    func cohort() throws -> (volumes: String, slices: String) {
        if let c = Self.cohort { return c }
        try ensureTemplates(required: TemplateFiles.all)
        let p = try makeTempDir("eval2d") + "/real.h5"
        var so = SliceOptions()
        so.size = [64, 64]
        let s = try PhantomCohort.makeSmallCohort(at: p, count: 12, seed: 3, slices: so, templatesDirectory: RepositoryPaths.templates)
        Self.cohort = (p, try XCTUnwrap(s.slicePath))
        return Self.cohort!
    }

    /// Copies of slice items `indices` (raw units + offset) written the way `petgan generate` writes
    /// 2D samples: (channels, H, W) NIfTI with a sidecar naming the class and the 2D layout.
    func writeCopies(of slices: String, indices: [Int], to dir: String) throws -> [String: String] {
        let set = try VolumeSet.open(slices)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var sourceOf: [String: String] = [:]
        for i in indices {
            var v = try set.volume(i)
            for k in 0..<v.data.count { v.data[k] += Self.offset }
            let cls = set.classNames[set.labels[i]]
            let name = String(format: "%@_seed%05d.nii.gz", cls, i)
            try NIfTIFile.write(Volume(shape: v.shape, data: v.data), to: dir + "/" + name,
                                provenance: ["kind": "generated", "class": cls, "label": set.labels[i],
                                             "layout": "2D sample: (channels, H, W) = adjacent axial slices"])
            sourceOf[name] = set.names[i]
        }
        return sourceOf
    }

    func options(_ real: String, _ synthetic: String, _ out: String) -> EvaluationOptions {
        var o = EvaluationOptions(real: real, synthetic: synthetic, out: out)
        o.classifierEpochs = 2; o.classifierMinSteps = 20; o.diversityPairs = 3; o.mmdPermutations = 20; o.augmentationSeeds = [1]
        o.templatesDirectory = RepositoryPaths.templates
        return o
    }

    func testTwoDimensionalSamplesAgainstSliceStoreAndVolumeStore() throws {
        let (volumes, slices) = try cohort()
        let sliceSet = try VolumeSet.open(slices)
        XCTAssertTrue(sliceSet.holdsSlices)
        XCTAssertEqual(sliceSet.shape, [3, 64, 64])
        XCTAssertFalse(try VolumeSet.open(volumes).holdsSlices)
        // One sample per subject, at varying positions (items are subject-major).
        let perSubject = sliceSet.count / 12
        XCTAssertGreaterThan(perSubject, 3)
        let picked = (0..<12).map { $0 * perSubject + ($0 % perSubject) }
        let dir = try makeTempDir("eval2d-run")
        let sourceOf = try writeCopies(of: slices, indices: picked, to: dir + "/generated")

        var results: [[String: Any]] = []
        for real in [slices, volumes] {
            let out = dir + "/report-\(results.count)"
            let result = try Evaluation.run(options(real, dir + "/generated", out))
            let m = try jsonObject(result)
            XCTAssertEqual(result.result(of: PaperProtocolMetric.self)?.layout, "2D")
            XCTAssertNil(result.result(of: RegionalMetric.self))
            results.append(m)
            let paper = try XCTUnwrap(m["paper_protocol"] as? [String: Any])
            XCTAssertEqual(paper["layout"] as? String, "2D")
            XCTAssertEqual(paper["pairs"] as? Int, 12)
            XCTAssertNil(m["regional"], "no atlas statistics for slices")
            let pairs = try XCTUnwrap(paper["pair_list"] as? [[String: Any]])
            let realSet = try VolumeSet.open(slices)
            for p in pairs {
                let name = p["synthetic"] as! String
                // Each copy pairs with its source slice (same subject, same position)…
                XCTAssertEqual(p["real"] as? String, sourceOf[name], "\(name) against \(real)")
                // …and PSNR is that of the known offset: MSE = δ², peak = the source slice's maximum.
                let src = realSet.names.firstIndex(of: sourceOf[name]!)!
                let peak = Double(finiteMaximum(try realSet.values(src))!)
                XCTAssertEqual(p["psnr_2d"] as! Double, 10 * log10(peak * peak / Double(Self.offset * Self.offset)), accuracy: 2e-3)
                let ssim = p["ssim_2d"] as! Double
                XCTAssertGreaterThan(ssim, 0.3); XCTAssertLessThan(ssim, 1)
                XCTAssertNotNil(p["real_z_mm"] as? Double)
            }
            let dist = try XCTUnwrap(m["distribution"] as? [String: Any])
            XCTAssertEqual(dist["block_shape_chw"] as? [Int], [3, 32, 32])
            XCTAssertNotNil(m["c2st"] as? [String: Any])
            XCTAssertEqual((m["augmentation"] as? [Any])?.count, 2)
            for f in ["examples.png", "mean_NC.png", "sd_AD.png", "joint_histogram.png"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/figures/" + f), f)
            }
            let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
            XCTAssertTrue(html.contains("2D samples"))
            XCTAssertFalse(html.contains("3D (volume)"))
        }
        // Slices cut from the volume store are the slice store's items: the same pairs and numbers.
        let a = (results[0]["paper_protocol"] as! [String: Any])["pair_list"] as! [[String: Any]]
        let b = (results[1]["paper_protocol"] as! [String: Any])["pair_list"] as! [[String: Any]]
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x["real"] as? String, y["real"] as? String)
            XCTAssertEqual(x["real_z_mm"] as! Double, y["real_z_mm"] as! Double, accuracy: 1e-9)
            XCTAssertEqual(x["psnr_2d"] as! Double, y["psnr_2d"] as! Double, accuracy: 1e-3)
            XCTAssertEqual(x["ssim_2d"] as! Double, y["ssim_2d"] as! Double, accuracy: 1e-4)
        }
        XCTAssertEqual(((results[1]["inputs"] as! [String: Any])["real"] as! [String: Any])["count"] as? Int, sliceSet.count)
    }

    func testTwoDimensionalInputErrors() throws {
        let (volumes, slices) = try cohort()
        let dir = try makeTempDir("eval2d-errors")
        // 2D samples of another size than the real slice store.
        var small = SliceOptions(); small.size = [32, 32]
        let other = try VolumeSet.open(slices)
        try FileManager.default.createDirectory(atPath: dir + "/small", withIntermediateDirectories: true)
        let grid = VolumeGrid(shape: try VolumeSet.open(volumes).shape, affine: try VolumeSet.open(volumes).affine)
        let vol = try VolumeSet.open(volumes)
        for i in 0..<2 {
            let item = AxialSlices.extract(try vol.values(i), grid: grid, centre: AxialSlices.centres(grid: grid, options: small)[0], options: small)
            try NIfTIFile.write(Volume(shape: [3, 32, 32], data: item), to: dir + "/small/s\(i).nii.gz", provenance: ["class": "NC"])
        }
        XCTAssertThrowsError(try Evaluation.run(options(slices, dir + "/small", dir + "/r1"))) { e in
            guard case MetricsError.mismatch(let d) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(d.contains("[3, 64, 64]") && d.contains("[3, 32, 32]"), d)
        }
        // 3D volumes against a slice store.
        XCTAssertThrowsError(try Evaluation.run(options(slices, volumes, dir + "/r2"))) { e in
            guard case MetricsError.mismatch(let d) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(d.contains(volumes) && d.contains("2D"), d)
        }
        // A folder of colour-mapped PNG previews only.
        try FileManager.default.createDirectory(atPath: dir + "/png", withIntermediateDirectories: true)
        try PNGFile.write(RGBImage(width: 4, height: 4), to: dir + "/png/NC_seed00001.png")
        XCTAssertThrowsError(try Evaluation.run(options(slices, dir + "/png", dir + "/r3"))) { e in
            guard case MetricsError.badInput(let p, let r) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, dir + "/png"); XCTAssertTrue(r.contains("PNG") && r.contains("--format nifti"), r)
        }
        _ = other
    }
}
