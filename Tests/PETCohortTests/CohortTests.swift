import Foundation
import XCTest
import PETTestSupport
@testable import PETCohort
import PETTensor
import PETVolumes

/// Cohort files: the HDF5 store with the recorded subjects, NIfTI outputs readable by nibabel in MNI
/// orientation, 2D slice sets, atomic writes and clear errors.
final class CohortTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: try makeTempDir(name))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSmallCohortStoreNIfTIAndSlicesRoundTrip() throws {
        let anatomy = try Fixtures.anatomy(voxel: 4)
        let out = dir.appendingPathComponent("cohort.h5").path
        let plan = try CohortPlan(count: 6, classNames: ["NC", "MCI", "AD"], proportions: nil, seed: 9)
        var req = CohortRequest(grid: Fixtures.grid(voxel: 4), plan: plan, outputPath: out)
        req.niftiDirectory = dir.appendingPathComponent("nifti").path
        var so = SliceOptions(); so.stepMM = 16
        req.slices = so
        var reported: [Int] = []
        let summary = try PhantomCohort.build(req, anatomy: anatomy) { done, total, _ in reported.append(done); XCTAssertEqual(total, 6) }
        XCTAssertEqual(reported, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(summary.classCounts, ["NC": 2, "MCI": 2, "AD": 2])

        // The store: PETVolumes can read it; labels follow the plan; values are SUVR mapped to [−1, 1]
        // by the recorded intensity map (what training consumes).
        let store = try VolumeStore.open(out)
        XCTAssertEqual(store.count, 6)
        XCTAssertEqual(store.volumeShape, [48, 56, 48])
        XCTAssertEqual(store.classNames, ["NC", "MCI", "AD"])
        XCTAssertEqual(store.labels, plan.subjects.map { ["NC", "MCI", "AD"].firstIndex(of: $0.className)! })
        XCTAssertEqual(store.affine(0).m, Fixtures.grid(voxel: 4).affine.m)

        // Recorded subjects regenerate the stored volumes bitwise.
        let subjects = try PhantomCohort.readSubjects(out)
        XCTAssertEqual(subjects.map(\.seed), plan.subjects.map(\.seed))
        XCTAssertEqual(try PhantomCohort.readParameters(out), PhantomParameters())
        let gen = try PhantomGenerator(anatomy: anatomy, parameters: PhantomParameters(), grid: Fixtures.grid(voxel: 4))
        for i in [0, 5] {
            XCTAssertEqual(try gen.drawSubject(index: i, className: plan.subjects[i].className, seed: plan.subjects[i].seed), subjects[i])
            XCTAssertEqual(gen.synthesize(subjects[i]).values.map { store.intensity(i).forward($0) }, try store.readVolume(i).data, "subject \(i)")
            XCTAssertTrue(try store.readVolume(i).data.allSatisfy { $0 >= -1 && $0 <= 1 })
        }

        // NIfTI: our reader gets the same voxels back.
        let niftiPath = req.niftiDirectory! + "/\(subjects[2].id)_\(subjects[2].className)_pet.nii.gz"
        let nv = try NIfTIFile.read(niftiPath)
        XCTAssertEqual(nv.data.map { store.intensity(2).forward($0) }, try store.readVolume(2).data)
        XCTAssertEqual(nv.affine.m, Fixtures.grid(voxel: 4).affine.m)

        // Slices: (N·k, 3, 128, 128), the middle channel is the centre axial slice resampled.
        let slices = try VolumeStore.open(summary.slicePath!)
        let ks = AxialSlices.centres(grid: Fixtures.grid(voxel: 4), options: so)
        XCTAssertEqual(slices.count, 6 * ks.count)
        XCTAssertEqual(slices.volumeShape, [3, 128, 128])
        XCTAssertEqual(try slices.readVolume(ks.count + 1).data,
                       AxialSlices.extract(gen.synthesize(subjects[1]).values, grid: Fixtures.grid(voxel: 4), centre: ks[1], options: so)
                        .map { slices.intensity(ks.count + 1).forward($0) })

        // h5py reads the store and the recorded subjects (users' tools).
        let (py, _) = try runPython("""
        import h5py, json
        f = h5py.File("\(out)", "r")
        cn = [c.decode() if isinstance(c, bytes) else c for c in f["labels"].attrs["class_names"]]
        s = [json.loads(x) for x in f["phantom/subjects"][:]]
        p = json.loads(f["phantom/parameters"][0])
        print(f["volumes"].shape, ",".join(cn), s[3]["id"], s[3]["className"], s[3]["seed"], p["psfFWHMmm"] == [5, 8.5])
        """)
        XCTAssertEqual(py.trimmingCharacters(in: .whitespacesAndNewlines),
                       "(6, 48, 56, 48) NC,MCI,AD sub-0004 \(plan.subjects[3].className) \(plan.subjects[3].seed) True")

        // Nothing but the finished files in the folder (temporary names are renamed or removed).
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["cohort.h5", "cohort_slices-axial.h5", "nifti"])
    }

    func testNIfTIOpensInNibabelInMNIOrientation() throws {
        let anatomy = try Fixtures.anatomy(voxel: 4)
        let gen = try PhantomGenerator(anatomy: anatomy, parameters: PhantomParameters(), grid: Fixtures.grid(voxel: 4))
        let v = try gen.generate(index: 0, className: "NC", seed: 4)
        let path = dir.appendingPathComponent("nc.nii.gz").path
        try NIfTIFile.write(Volume(grid: gen.grid, data: v.values, space: .mni), to: path)
        // A voxel to check by position: the hottest voxel, as (i, j, k) = (x, y, z index).
        let hot = v.values.indices.max { v.values[$0] < v.values[$1] }!
        let (k, j, i) = (hot / (56 * 48), hot / 48 % 56, hot % 48)
        let script = """
        import nibabel as nib, numpy as np
        im = nib.load("\(path)")
        d = np.asanyarray(im.dataobj)
        print("".join(nib.aff2axcodes(im.affine)), int(im.header["sform_code"]), d.shape)
        print(repr(float(d[\(i), \(j), \(k)])))
        # Where is the left hemisphere? x < 0 mm in MNI: the pons mask-normalised SUVR is symmetric-ish,
        # so check world coordinates of the first voxel instead.
        print(im.affine[0, 3], im.affine[1, 3], im.affine[2, 3], im.affine[0, 0])
        """
        let (outText, _) = try runPython(script)
        let lines = outText.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "RAS 4 (48, 56, 48)")
        XCTAssertEqual(Float(lines[1])!, v.values[hot], accuracy: 1e-6)
        let o = lines[2].split(separator: " ").compactMap { Double($0) }
        XCTAssertEqual(o, [gen.grid.affine[0, 3], gen.grid.affine[1, 3], gen.grid.affine[2, 3], 4])
    }

    func testSliceOrientationAnteriorUpRightOnTheRight() {
        let grid = VolumeGrid.mni(niftiShape: [20, 24, 9], voxelSize: 2)
        // value = y index + 100·x index
        var a = [Float](repeating: 0, count: grid.count)
        for k in 0..<9 { for j in 0..<24 { for i in 0..<20 { a[(k * 24 + j) * 20 + i] = Float(j) + 100 * Float(i) } } }
        var o = SliceOptions(); o.size = [32, 32]; o.zRangeMM = [-1000, 1000]; o.stepMM = 2
        let ks = AxialSlices.centres(grid: grid, options: o)
        XCTAssertEqual(ks, Array(1...7))
        let s = AxialSlices.extract(a, grid: grid, centre: 4, options: o)
        XCTAssertEqual(s.count, 3 * 32 * 32)
        // Column 16 (centre), rows: y decreases downwards (anterior at the top).
        XCTAssertGreaterThan(s[2 * 32 + 16], s[29 * 32 + 16])
        // Row 16: x increases to the right (subject's right on the image's right).
        XCTAssertLessThan(s[16 * 32 + 8], s[16 * 32 + 24])
        // The plane is 48 mm tall and 40 mm wide: the field of view is 48 mm, 1.5 mm pixels, so the
        // outermost columns fall outside the 40 mm width and stay 0.
        XCTAssertEqual(s[16 * 32 + 0], 0)
        XCTAssertGreaterThan(s[16 * 32 + 4], 0)
    }

    func testBadRequestsAreClearErrors() throws {
        let anatomy = try Fixtures.anatomy(voxel: 4)
        let plan = try CohortPlan(count: 2, classNames: ["NC", "XX"], proportions: nil, seed: 1)
        var req = CohortRequest(grid: Fixtures.grid(voxel: 4), plan: plan, outputPath: dir.appendingPathComponent("a.h5").path)
        XCTAssertThrowsError(try PhantomCohort.build(req, anatomy: anatomy)) { e in XCTAssertTrue("\(e)".contains("'XX'"), "\(e)") }
        req.plan = try CohortPlan(count: 2, classNames: ["NC"], proportions: nil, seed: 1)
        req.outputPath = "/nonexistent-folder/cohort.h5"
        XCTAssertThrowsError(try PhantomCohort.build(req, anatomy: anatomy)) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent-folder/cohort.h5"), "\(e)")
        }
        // A grid that misses the pons cannot be SUVR-normalised.
        let tiny = VolumeGrid(shape: [4, 4, 4], affine: Affine([2, 0, 0, 40, 0, 2, 0, 40, 0, 0, 2, 60, 0, 0, 0, 1]))
        XCTAssertThrowsError(try PhantomGenerator(anatomy: anatomy, parameters: PhantomParameters(), grid: tiny)) { e in
            XCTAssertTrue("\(e)".contains("pons"), "\(e)")
        }
    }
}

