// The low-resolution copy through the binary: phantom, prepare (folder and BIDS) and
// `volumes add-low-res` write it, inspect lists it, bad factors and grids are one error line.
import Foundation
import PETCohort
import PETTestFixtures
import PETTestSupport
import PETVolumes
import XCTest

final class LowResolutionCommandTests: XCTestCase {
    func petgan(_ args: [String]) throws -> ProcessResult {
        try runProcess(try petganBinary(), args, environment: ["PETGAN_TEMPLATES": RepositoryPaths.templates])
    }

    /// Exit `status` with exactly one stderr line, `petgan: error: …` containing every `part`.
    func assertOneErrorLine(_ r: ProcessResult, status: Int32, naming parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line only: \(r.stderr)", file: file, line: line)
        let first = lines.first.map(String.init) ?? ""
        XCTAssertTrue(first.hasPrefix("petgan: error: "), first, file: file, line: line)
        for p in parts { XCTAssertTrue(first.contains(p), "'\(p)' in: \(first)", file: file, line: line) }
    }

    /// The store's copy equals the pooling of its own volumes, bitwise.
    func assertCopyIsPooledVolumes(_ path: String, factor: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try VolumeStore.open(path)
        let c = try XCTUnwrap(s.lowResolution, "\(path) has a low-resolution copy", file: file, line: line)
        XCTAssertEqual(c, LowResolutionCopy(factor: factor, shape: s.volumeShape.map { $0 / factor }), file: file, line: line)
        XCTAssertGreaterThan(s.count, 0, file: file, line: line)
        for i in 0..<s.count {
            let pooled = LowResolution.referenceAveragePool(try s.readVolume(i).data, shape: s.volumeShape, factor: factor)
            XCTAssertEqual(try s.readLowResolution(i), pooled, "item \(i)", file: file, line: line)
            XCTAssertTrue(pooled.allSatisfy(\.isFinite) && Set(pooled).count > 1, "a real pooled volume", file: file, line: line)
        }
    }

    func testPhantomPrepareAndBIDSPrepareWriteTheCopy() throws {
        try ensureTemplates(required: TemplateFiles.all)
        let dir = try makeTempDir("lowres-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try petgan(["phantom", "--count", "3", "--shape", "48x56x48", "--voxel-size", "4", "--low-res-copy", "4",
                            "--out", dir + "/c.h5", "--nifti-dir", dir + "/nifti", "--bids", dir + "/bids"])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stdout.contains("low-resolution copy (/volumes_low_resolution, 4×4×4 block means, 12x14x12)"), p.stdout)
        try assertCopyIsPooledVolumes(dir + "/c.h5", factor: 4)
        let i = try petgan(["inspect", dir + "/c.h5"])
        XCTAssertEqual(i.status, 0, i.stderr)
        XCTAssertTrue(i.stdout.contains("low resolution") && i.stdout.contains("factor 4: 12 x 14 x 12"), i.stdout)
        XCTAssertTrue(i.stdout.contains("/volumes_low_resolution  float32 [3, 12, 14, 12]"), i.stdout)

        // prepare from the NIfTI files, and from the BIDS dataset (the same writer).
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/nifti").filter { $0.hasSuffix(".nii.gz") }.sorted()
        XCTAssertEqual(files.count, 3)
        let csv = files.map { "\($0),\($0.contains("_AD_") ? "AD" : "other")" }.joined(separator: "\n")
        try csv.write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        let grid = ["--shape", "24x28x24", "--voxel-size", "8", "--center", "origin"]
        let pr = try petgan(["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/p.h5", "--low-res-copy", "2"] + grid)
        XCTAssertEqual(pr.status, 0, pr.stderr)
        try assertCopyIsPooledVolumes(dir + "/p.h5", factor: 2)
        let bp = try petgan(["prepare", "--bids", dir + "/bids", "--label-column", "class", "--out", dir + "/b.h5", "--low-res-copy", "4"] + grid)
        XCTAssertEqual(bp.status, 0, bp.stderr)
        try assertCopyIsPooledVolumes(dir + "/b.h5", factor: 4)
        // --append keeps the copy complete; asking for another factor is refused naming the store.
        let ap = try petgan(["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/p.h5", "--append"] + grid)
        XCTAssertEqual(ap.status, 0, ap.stderr)
        XCTAssertEqual(try VolumeStore.open(dir + "/p.h5").count, 6)
        try assertCopyIsPooledVolumes(dir + "/p.h5", factor: 2)
        assertOneErrorLine(try petgan(["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/p.h5", "--append", "--low-res-copy", "4"] + grid),
                           status: 1, naming: [dir + "/p.h5", "a copy by a factor of 2"])

        // A grid the factor does not divide, and factors out of range: one line naming the option.
        assertOneErrorLine(try petgan(["phantom", "--count", "2", "--shape", "48x56x48", "--voxel-size", "4", "--low-res-copy", "5", "--out", dir + "/x.h5"]),
                           status: 64, naming: ["--low-res-copy 5", "--shape 48x56x48", "divisible by 5"])
        assertOneErrorLine(try petgan(["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/y.h5", "--low-res-copy", "3"] + grid),
                           status: 64, naming: ["--low-res-copy 3", "--shape 24x28x24"])
        assertOneErrorLine(try petgan(["phantom", "--count", "2", "--low-res-copy", "1", "--out", dir + "/x.h5"]), status: 64, naming: ["--low-res-copy", "2…64"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.h5") || FileManager.default.fileExists(atPath: dir + "/y.h5"))
    }

    func testVolumesAddLowResAddsTheCopyAtomically() throws {
        try ensureTemplates(required: TemplateFiles.all)
        let dir = try makeTempDir("lowres-add")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/c.h5"
        XCTAssertEqual(try petgan(["phantom", "--count", "2", "--shape", "48x56x48", "--voxel-size", "4", "--out", store]).status, 0)
        XCTAssertNil(try VolumeStore.open(store).lowResolution)
        let before = try VolumeStore.open(store).readVolume(1).data
        let r = try petgan(["volumes", "add-low-res", store, "--factor", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("wrote \(store): /volumes_low_resolution (factor 2, 24x28x24 x×y×z)"), r.stdout)
        try assertCopyIsPooledVolumes(store, factor: 2)
        XCTAssertEqual(try VolumeStore.open(store).readVolume(1).data, before)
        XCTAssertEqual(try PhantomCohort.readSubjects(store).count, 2, "the phantom records are kept")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["c.h5"], "no temporary file left")
        assertOneErrorLine(try petgan(["volumes", "add-low-res", store, "--factor", "2"]), status: 1, naming: [store, "already has a low-resolution copy"])
        let plain = dir + "/d.h5"
        XCTAssertEqual(try petgan(["phantom", "--count", "1", "--shape", "48x56x48", "--voxel-size", "4", "--out", plain]).status, 0)
        assertOneErrorLine(try petgan(["volumes", "add-low-res", plain, "--factor", "5"]), status: 1, naming: [plain, "divisible by 5", "48x56x48"])
        assertOneErrorLine(try petgan(["volumes", "add-low-res", plain, "--factor", "1"]), status: 64, naming: ["--factor", "2…64"])
        assertOneErrorLine(try petgan(["volumes", "add-low-res", dir + "/none.h5", "--factor", "2"]), status: 1, naming: [dir + "/none.h5"])
        XCTAssertNil(try VolumeStore.open(plain).lowResolution, "a refused run leaves the store as it was")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["c.h5", "d.h5"])
    }
}
