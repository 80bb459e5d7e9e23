import XCTest
import PETTestFixtures
import PETTestSupport
@testable import PETMetrics
import PETVolumes

final class VolumeSetTests: XCTestCase {
    func testNormalizedStoreIsMappedBackAndRawStoreIsReadAsStored() throws {
        let dir = try makeTempDir("volumeset")
        let shape = [12, 12, 12]
        let raw = blobVolume(shape, seed: 21).map { abs($0) * 1.5 }        // SUVR-like, up to ~3
        let map = IntensityMap(scale: 2.0 / 3.0, offset: -1)                // SUVR/3 → [0, 1] → [-1, 1]
        let norm = Normalize.apply(map, to: Volume(shape: shape, data: raw))
        let w = try VolumeStoreWriter.create(dir + "/norm.h5", volumeShape: shape, classNames: ["NC", "AD"], voxelSize: (2, 2, 2),
                                             normalization: "suvr(max=3.0)")
        try w.append(norm, label: 1, intensity: map, sourceFile: "a")
        try w.commit()
        let s = try VolumeSet.open(dir + "/norm.h5")
        XCTAssertTrue(s.storeHoldsNormalized)
        let back = try s.values(0)
        for i in 0..<raw.count { XCTAssertEqual(back[i], min(3, raw[i]), accuracy: 1e-5) }
        XCTAssertEqual(s.classNames, ["NC", "AD"]); XCTAssertEqual(s.labels, [1])

        // Raw values with the map recorded (the phantom cohort's layout): used as stored.
        let w2 = try VolumeStoreWriter.create(dir + "/raw.h5", volumeShape: shape, classNames: ["NC"], voxelSize: (2, 2, 2),
                                              normalization: "suvr(max=3.0)")
        try w2.append(Volume(shape: shape, data: raw), label: 0, intensity: map, sourceFile: "b")
        try w2.commit()
        let r = try VolumeSet.open(dir + "/raw.h5")
        XCTAssertFalse(r.storeHoldsNormalized)
        XCTAssertEqual(try r.values(0), raw)
        XCTAssertEqual(try r.restricted(toClasses: ["NC"]).count, 1)
        XCTAssertThrowsError(try r.restricted(toClasses: ["AD"]))

        // A NIfTI folder: classes from sidecars, sorted; a file without a sidecar has no class.
        try FileManager.default.createDirectory(atPath: dir + "/nii", withIntermediateDirectories: true)
        try NIfTIFile.write(Volume(shape: shape, data: raw), to: dir + "/nii/x1.nii.gz", provenance: ["class": "NC"])
        try NIfTIFile.write(Volume(shape: shape, data: raw), to: dir + "/nii/x2.nii.gz", provenance: ["class": "AD"])
        try NIfTIFile.write(Volume(shape: shape, data: raw), to: dir + "/nii/x3.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        let f = try VolumeSet.open(dir + "/nii")
        XCTAssertEqual(f.classNames, ["AD", "NC"]); XCTAssertEqual(f.labels, [1, 0, -1])
        f.alignClasses(to: ["NC", "MCI", "AD"])
        XCTAssertEqual(f.labels, [0, 2, -1])
        XCTAssertEqual(try f.values(2), raw)
    }

    /// Slabs concatenated are values(i), bit for bit, for slab depths that do and do not divide D.
    private func assertSlabsEqualValues(_ set: VolumeSet, _ i: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let whole = try set.values(i)
        let d = set.shape[0], slice = set.shape[1] * set.shape[2]
        for step in [1, 2, 4, 5, d] {
            let r = try set.slabReader(i)
            XCTAssertEqual(r.shape, set.shape, file: file, line: line)
            var all: [Float] = []
            while r.depthRead < d {
                let n = min(step, d - r.depthRead)
                let slab = try r.next(depth: n)
                XCTAssertEqual(slab.count, n * slice, file: file, line: line)
                all += slab
            }
            XCTAssertEqual(all.map(\.bitPattern), whole.map(\.bitPattern), "\(set.path) item \(i) by slabs of \(step)", file: file, line: line)
            XCTAssertThrowsError(try r.next(depth: 1), file: file, line: line) { e in
                guard case MetricsError.badInput(_, let reason) = e else { return XCTFail("\(e)", file: file, line: line) }
                XCTAssertTrue(reason.contains("depth \(d)"), reason, file: file, line: line)
            }
        }
    }

    func testSlabReaderGivesExactlyTheValues() throws {
        let dir = try makeTempDir("volumeset-slabs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [11, 9, 10]   // D = 11: slabs of 2, 4, 5 leave a shorter last slab
        let raws = (0..<2).map { k in blobVolume(shape, seed: 40 + UInt64(k)).map { abs($0) * 1.5 } }
        let map = IntensityMap(scale: 2.0 / 3.0, offset: -1)
        let map2 = IntensityMap(scale: 0.61, offset: -0.93)
        let w = try VolumeStoreWriter.create(dir + "/norm.h5", volumeShape: shape, classNames: ["NC", "AD"], voxelSize: (2, 2, 2),
                                             normalization: "suvr(max=3.0)")
        try w.append(Normalize.apply(map, to: Volume(shape: shape, data: raws[0])), label: 1, intensity: map, sourceFile: "a")
        try w.append(Normalize.apply(map2, to: Volume(shape: shape, data: raws[1])), label: 0, intensity: map2, sourceFile: "b")
        try w.commit()
        let norm = try VolumeSet.open(dir + "/norm.h5")
        XCTAssertTrue(norm.storeHoldsNormalized)
        for i in 0..<2 { try assertSlabsEqualValues(norm, i) }
        // The selection's index, not the store's, picks the volume.
        let ad = try norm.restricted(toClasses: ["NC"])
        XCTAssertEqual(try ad.slabReader(0).next(depth: 11), try norm.values(1))

        let w2 = try VolumeStoreWriter.create(dir + "/raw.h5", volumeShape: shape, classNames: ["NC"], voxelSize: (2, 2, 2),
                                              normalization: "suvr(max=3.0)")
        try w2.append(Volume(shape: shape, data: raws[0]), label: 0, intensity: map, sourceFile: "c")
        try w2.commit()
        let raw = try VolumeSet.open(dir + "/raw.h5")
        XCTAssertFalse(raw.storeHoldsNormalized)
        try assertSlabsEqualValues(raw, 0)
        XCTAssertEqual(try raw.slabReader(0).next(depth: 11), raws[0])

        // A NIfTI folder, with a NaN (read as 0, as volume(_:) does).
        try FileManager.default.createDirectory(atPath: dir + "/nii", withIntermediateDirectories: true)
        var withNaN = raws[1]
        withNaN[7 * 90 + 3] = .nan
        try NIfTIFile.write(Volume(shape: shape, data: raws[0]), to: dir + "/nii/x1.nii.gz", provenance: ["class": "NC"])
        try NIfTIFile.write(Volume(shape: shape, data: withNaN), to: dir + "/nii/x2.nii", provenance: ["class": "AD"])
        let f = try VolumeSet.open(dir + "/nii")
        for i in 0..<2 { try assertSlabsEqualValues(f, i) }
        XCTAssertEqual(try f.values(1)[7 * 90 + 3], 0)
        // A file replaced by another shape after opening is refused when its reader is opened, naming it.
        try NIfTIFile.write(Volume(shape: [11, 9, 8], data: [Float](repeating: 1, count: 11 * 72)), to: dir + "/nii/x2.nii")
        XCTAssertThrowsError(try f.slabReader(1)) { e in
            guard case MetricsError.badInput(let p, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, dir + "/nii/x2.nii"); XCTAssertTrue(reason.contains("differs"), reason)
        }
    }
}
