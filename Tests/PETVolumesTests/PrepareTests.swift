import PETTensor
import XCTest
import PETTestSupport
@testable import PETVolumes

final class PrepareTests: XCTestCase {
    /// Writes n small NIfTI volumes (alternating RAS / LAS storage of the same blob) and a CSV.
    func makeInputs(_ dir: String, n: Int) throws {
        try FileManager.default.createDirectory(atPath: dir + "/nii", withIntermediateDirectories: true)
        var csv = "file,label\n"
        for s in 0..<n {
            var v = Volume(shape: [10, 12, 10], affine: .scaling(3, 3, 3, origin: (-13.5, -16.5, -13.5)))
            let g = v.gridShape
            for k in 0..<g.nz { for j in 0..<g.ny { for i in 0..<g.nx {
                let (x, y, z) = v.affine.apply(Double(i), Double(j), Double(k))
                v[i, j, k] = Float(10 + s) * Float(exp(-(x * x + y * y + z * z) / 200))
            } } }
            if s % 2 == 1 { v = flipX(v) }
            try NIfTIFile.write(v, to: dir + "/nii/s\(s).nii.gz", options: NIfTIWriteOptions(sidecar: false))
            csv += "s\(s).nii.gz,\(s % 2 == 0 ? "CN" : "AD")\n"
        }
        try csv.write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
    }

    func testPrepareBuildsStoreOnCommonGrid() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeInputs(dir, n: 4)
        var cfg = PrepareConfig(inputDirectory: dir + "/nii", labelsCSV: dir + "/labels.csv", output: dir + "/d.h5",
                                shape: GridShape(nx: 12, ny: 14, nz: 12), voxelSize: (2.5, 2.5, 2.5))
        cfg.normalization = .max
        cfg.storeOptions = VolumeStoreOptions(chunks: [1, 8, 8, 8], deflate: 1)
        var lines: [String] = []
        let summary = try DatasetPreparer.run(cfg) { lines.append($0) }
        XCTAssertEqual(lines.count, 4); XCTAssertTrue(lines[0].contains("ETA"))
        XCTAssertEqual(summary.classNames, ["AD", "CN"]); XCTAssertEqual(summary.classCounts, [2, 2])
        let s = try VolumeStore.open(dir + "/d.h5")
        XCTAssertEqual(s.volumeShape, [12, 14, 12]); XCTAssertEqual(s.labels, [1, 0, 1, 0])
        XCTAssertEqual(s.sourceFiles, ["s0.nii.gz", "s1.nii.gz", "s2.nii.gz", "s3.nii.gz"])
        // RAS and LAS inputs of the same content give the same resampled volume (up to the scale).
        let v0 = try s.readVolume(0), v1 = try s.readVolume(1)
        XCTAssertEqual(v0.affine.orientationCodes, "RAS")
        XCTAssertEqual(s.space, .scanner, "centred on each volume: not a shared MNI grid")
        XCTAssertEqual(finiteMaximum(v0.data), 1); XCTAssertGreaterThanOrEqual(finiteMinimum(v0.data)!, -1)
        XCTAssertLessThan(maxAbsDifference(v0.data, v1.data), 1e-5)
        // The stored inverse map brings values back to the original units (peak ≈ 10 + s).
        let raw = Normalize.invert(s.intensity(1), v1)
        XCTAssertEqual(finiteMaximum(raw.data)!, 11, accuracy: 0.5)
        // --append: two more volumes on the same grid.
        try "s2.nii.gz,CN\ns3.nii.gz,AD\n".write(toFile: dir + "/more.csv", atomically: true, encoding: .utf8)
        var more = cfg
        more.labelsCSV = dir + "/more.csv"; more.append = true
        try DatasetPreparer.run(more)
        let s2 = try VolumeStore.open(dir + "/d.h5")
        XCTAssertEqual(s2.count, 6); XCTAssertEqual(s2.labels, [1, 0, 1, 0, 1, 0])
        XCTAssertEqual(try s2.readVolume(4).data, try s.readVolume(2).data)
        try "s2.nii.gz,MCI\n".write(toFile: dir + "/new.csv", atomically: true, encoding: .utf8)
        more.labelsCSV = dir + "/new.csv"
        XCTAssertThrowsError(try DatasetPreparer.run(more)) { e in XCTAssertTrue("\(e)".contains("MCI"), "\(e)") }
        more.labelsCSV = dir + "/more.csv"; more.shape = GridShape(nx: 10, ny: 10, nz: 10)
        XCTAssertThrowsError(try DatasetPreparer.run(more)) { e in XCTAssertTrue(e is VolumeStoreError, "\(e)") }
        let report = try FileInspector.inspect(dir + "/d.h5")
        XCTAssertEqual(report.count, 6); XCTAssertEqual(report.shapeXYZ, [12, 14, 12])
        XCTAssertEqual(report.labelCounts, ["AD": 3, "CN": 3])
        XCTAssertTrue(report.text.contains("PETGAN volume store"))
        let n = try FileInspector.inspect(dir + "/nii/s1.nii.gz")
        XCTAssertEqual(n.orientation, "LAS"); XCTAssertEqual(n.shapeXYZ, [10, 12, 10])
        // The JSON keeps the keys scripts read, and reads back as the same report.
        let json = try report.json()
        let keys = try JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8)).keys
        XCTAssertTrue(Set(["file", "format", "kind", "count", "shape_xyz", "label_counts", "array_shape_ndhw", "datasets", "attributes"]).isSubset(of: Set(keys)), "\(keys)")
        XCTAssertEqual(try JSONDecoder().decode(InspectReport.self, from: Data(json.utf8)), report)
        XCTAssertEqual(try JSONDecoder().decode(InspectReport.self, from: Data(try n.json().utf8)), n)
    }

    func testBadLabelsAndInputsLeaveNothingBehind() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeInputs(dir, n: 2)
        let out = dir + "/d.h5"
        var cfg = PrepareConfig(inputDirectory: dir + "/nii", labelsCSV: dir + "/labels.csv", output: out,
                                shape: GridShape(nx: 8, ny: 8, nz: 8), voxelSize: (3, 3, 3))
        // CSV naming missing files: listed, before any work.
        try "file,label\ns0.nii.gz,CN\nnope.nii.gz,AD\ngone.nii,AD\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        cfg.labelsCSV = dir + "/bad.csv"
        XCTAssertThrowsError(try DatasetPreparer.run(cfg)) {
            XCTAssertEqual($0 as? PrepareError, .missingFiles(csv: dir + "/bad.csv", files: ["nope.nii.gz", "gone.nii"]))
        }
        try "s0.nii.gz\n".write(toFile: dir + "/short.csv", atomically: true, encoding: .utf8)
        cfg.labelsCSV = dir + "/short.csv"
        XCTAssertThrowsError(try DatasetPreparer.run(cfg)) { e in XCTAssertTrue("\(e)".contains("line 1"), "\(e)") }
        cfg.labelsCSV = dir + "/absent.csv"
        XCTAssertThrowsError(try DatasetPreparer.run(cfg)) { e in XCTAssertTrue("\(e)".contains("absent.csv"), "\(e)") }
        // A corrupt volume midway: typed NIfTI error naming it, and no store (not even a temp file).
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/nii/bad.nii"))
        try "file,label\ns0.nii.gz,CN\nbad.nii,AD\n".write(toFile: dir + "/mid.csv", atomically: true, encoding: .utf8)
        cfg.labelsCSV = dir + "/mid.csv"
        XCTAssertThrowsError(try DatasetPreparer.run(cfg)) { e in
            guard let ne = e as? NIfTIError else { return XCTFail("\(e)") }
            XCTAssertTrue(ne.description.contains("bad.nii"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".h5") }, [])
        // SUVR without a mask is refused.
        cfg.labelsCSV = dir + "/labels.csv"; cfg.normalization = .suvr(suvrMax: 3)
        XCTAssertThrowsError(try DatasetPreparer.run(cfg))
    }

    func testOriginCentredMNIInputsGiveMNIStore() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/nii", withIntermediateDirectories: true)
        var v = sampleVolume(shape: [8, 8, 8], affine: .scaling(2, 2, 2, origin: (-7, -7, -7)))
        v.space = .mni
        try NIfTIFile.write(v, to: dir + "/nii/m.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        try "m.nii.gz,CN\n".write(toFile: dir + "/l.csv", atomically: true, encoding: .utf8)
        var cfg = PrepareConfig(inputDirectory: dir + "/nii", labelsCSV: dir + "/l.csv", output: dir + "/mni.h5",
                                shape: GridShape(nx: 8, ny: 8, nz: 8), voxelSize: (2, 2, 2))
        cfg.center = .origin; cfg.normalization = .max
        try DatasetPreparer.run(cfg)
        let s = try VolumeStore.open(dir + "/mni.h5")
        XCTAssertEqual(s.space, .mni)
        let r = try s.readVolume(0)
        XCTAssertEqual(r.space, .mni)
        XCTAssertEqual(r.affine, .scaling(2, 2, 2, origin: (-7, -7, -7)), "the origin-centred grid is the inputs' grid here")
        // Same grid: the stored volume is the input (normalized) voxel for voxel.
        let map = s.intensity(0)
        XCTAssertLessThan(maxAbsDifference(Normalize.invert(map, r).data, v.data), 1e-3)
        try NIfTIFile.write(r, to: dir + "/back.nii.gz")
        XCTAssertEqual(try NIfTIFile.read(dir + "/back.nii.gz").space, .mni, "written back with sform code 4")
    }

    func testPrepareWithSUVRReferenceMask() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeInputs(dir, n: 2)
        // Reference region: a 4×4×4 box around the world origin, in the inputs' world space.
        var mask = Volume(shape: [10, 12, 10], affine: .scaling(3, 3, 3, origin: (-13.5, -16.5, -13.5)))
        for k in 3..<7 { for j in 4..<8 { for i in 3..<7 { mask[i, j, k] = 1 } } }
        try NIfTIFile.write(mask, to: dir + "/ref.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        var cfg = PrepareConfig(inputDirectory: dir + "/nii", labelsCSV: dir + "/labels.csv", output: dir + "/suvr.h5",
                                shape: GridShape(nx: 12, ny: 14, nz: 12), voxelSize: (2.5, 2.5, 2.5))
        cfg.normalization = .suvr(suvrMax: 3); cfg.referenceMask = dir + "/ref.nii.gz"
        try DatasetPreparer.run(cfg)
        let s = try VolumeStore.open(dir + "/suvr.h5")
        XCTAssertTrue(s.normalization.hasPrefix("suvr"))
        let grid = VolumeGrid(shape: s.volumeShape, affine: s.affine(0))
        let m = try Resample.toGrid(mask, grid: grid, interpolation: .nearest)
        let v = try s.readVolume(0)
        var sum = 0.0, n = 0
        for idx in 0..<v.count where m.data[idx] > 0.5 { sum += Double(v.data[idx]); n += 1 }
        XCTAssertGreaterThan(n, 0)
        // Mean SUVR in the reference region is 1 → normalized 1/3 · 2 − 1.
        XCTAssertEqual(sum / Double(n), 2.0 / 3 - 1, accuracy: 1e-4)
    }
}
