import XCTest
import PETTestFixtures
import PETTestSupport
@testable import PETMetrics
import PETVolumes

/// A real set whose affine holds NaN, huge or singular values: `evaluate` used to trap in
/// Int(...rounded()) while building the atlas; now the set is refused with one error naming the store.
final class BadAffineTests: XCTestCase {
    func store(_ path: String, affineOfSecond: Affine) throws {
        let shape = [12, 14, 12]
        let w = try VolumeStoreWriter.create(path, volumeShape: shape, classNames: ["NC", "AD"], voxelSize: (4, 4, 4), normalization: "max")
        let good = Affine.scaling(4, 4, 4, origin: (-22, -26, -22))
        let data = blobVolume(shape, seed: 4).map { max(-1, min(1, $0)) }
        try w.append(Volume(shape: shape, data: data, affine: good), label: 0, intensity: IntensityMap(scale: 1, offset: 0), sourceFile: "a")
        try w.append(Volume(shape: shape, data: data, affine: affineOfSecond), label: 1, intensity: IntensityMap(scale: 1, offset: 0), sourceFile: "b")
        try w.commit()
    }

    func testEvaluateRefusesRealSetWithNaNOrHugeAffine() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("badaffine")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var nan = Affine.scaling(4, 4, 4); nan[0, 3] = .nan
        var huge = Affine.scaling(4, 4, 4); huge[1, 1] = 1e300
        var far = Affine.scaling(4, 4, 4); far[2, 3] = 1e200
        let singular = Affine([4, 4, 0, 0, 4, 4, 0, 0, 0, 0, 4, 0, 0, 0, 0, 1])
        // A synthetic folder that is itself fine.
        try FileManager.default.createDirectory(atPath: dir + "/gen", withIntermediateDirectories: true)
        try NIfTIFile.write(Volume(shape: [12, 14, 12], data: blobVolume([12, 14, 12], seed: 5), affine: .scaling(4, 4, 4)), to: dir + "/gen/AD_0.nii.gz", provenance: ["class": "AD"])
        for (name, a, reason) in [("nan", nan, "nan"), ("huge", huge, "voxel edge"), ("far", far, "translation"), ("singular", singular, "singular")] {
            let p = dir + "/\(name).h5"
            try store(p, affineOfSecond: a)
            // Refused when the set is opened: by VolumeSet's affine check, or by the store's own
            // validation when it checks affines first; either way naming the store and the affine.
            XCTAssertThrowsError(try VolumeSet.open(p), name) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains(p) && text.lowercased().contains("affine"), "\(name): \(text)")
                if case MetricsError.badInput(_, let r) = e { XCTAssertTrue(r.contains("affine of volume 1") && r.contains(reason), "\(name): \(r)") }
            }
            let (status, _, err) = try Fixtures.run(exe, ["evaluate", "--real", p, "--synthetic", dir + "/gen", "--out", dir + "/r-\(name)",
                                                          "--skip-classifiers", "--mmd-permutations", "5", "--diversity-pairs", "2"],
                                                    environment: ["PETGAN_TEMPLATES": RepositoryPaths.templates])
            XCTAssertEqual(status, 1, "\(name): evaluate must exit 1 (a signal gives its number): \(err)")
            let lines = err.split(separator: "\n").filter { $0.hasPrefix("petgan: error:") }
            XCTAssertEqual(lines.count, 1, err)
            XCTAssertTrue(lines.first?.contains(p) == true && lines.first?.contains("affine") == true, err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r-\(name)/metrics.json"))
            // inspect and montage of the same store: one error naming it, nothing drawn.
            for args in [["inspect", p, "--json"], ["montage", p, "--index", "1", "--out", dir + "/m-\(name).png"]] {
                let (s2, _, e2) = try Fixtures.run(exe, args)
                XCTAssertEqual(s2, 1, "\(args[0]) \(name): \(e2)")
                let l2 = e2.split(separator: "\n").filter { $0.hasPrefix("petgan: error:") }
                XCTAssertTrue(l2.count == 1 && l2[0].contains(p) && l2[0].lowercased().contains("affine"), "\(args[0]) \(name): \(e2)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m-\(name).png"))
        }
        // The same store with a good second affine opens.
        try store(dir + "/ok.h5", affineOfSecond: .scaling(4, 4, 4))
        XCTAssertEqual(try VolumeSet.open(dir + "/ok.h5").count, 2)
    }
}
