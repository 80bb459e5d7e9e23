import XCTest
@testable import PETMetrics
import PETVolumes

final class VolumeSetTests: XCTestCase {
    func testNormalizedStoreIsMappedBackAndRawStoreIsReadAsStored() throws {
        let dir = Fixtures.tempDirectory("volumeset")
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
}
