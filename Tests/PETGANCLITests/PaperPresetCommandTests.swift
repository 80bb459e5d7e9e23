import Foundation
import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort

/// `petgan phantom --slices axial` makes the paper's 128×128×3 slices, and `petgan train --preset
/// paper2d` trains on them, refuses other shapes with one error line naming the file and the
/// option, and accepts them with --allow-any-shape.
final class PaperPresetCommandTests: XCTestCase {
    func testPhantomSlicesFitThePaperPresetAndOtherShapesAreRefused() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("paperpreset")
        let env = ["PETGAN_TEMPLATES": RepositoryPaths.templates]
        try ensureTemplates(required: TemplateFiles.all)
        let (s0, o0, e0) = try Fixtures.run(exe, ["phantom", "--count", "3", "--shape", "48x56x48", "--voxel-size", "4", "--slices", "axial",
                                                  "--out", dir + "/c.h5"], environment: env)
        XCTAssertEqual(s0, 0, e0)
        XCTAssertTrue(o0.contains("slice samples of 3x128x128"), o0)
        let (s1, o1, e1) = try Fixtures.run(exe, ["inspect", "--json", dir + "/c_slices-axial.h5"])
        XCTAssertEqual(s1, 0, e1)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(o1.utf8)) as? [String: Any])
        let shape = try XCTUnwrap(info["array_shape_ndhw"] as? [Int], o1)
        XCTAssertEqual(Array(shape.dropFirst()), [3, 128, 128])   // (N, channels, H, W)
        XCTAssertGreaterThan(shape[0], 0)
        let (s2, o2, e2) = try Fixtures.run(exe, ["train", "--data", dir + "/c_slices-axial.h5", "--preset", "paper2d", "--class", "AD", "--dry-run"])
        XCTAssertEqual(s2, 0, e2)
        XCTAssertTrue(o2.contains("epochs: 500") && o2.contains("G.ups.4: 2×3×128×128"), o2)

        let (s3, _, e3) = try Fixtures.run(exe, ["phantom", "--count", "3", "--shape", "48x56x48", "--voxel-size", "4", "--slices", "axial",
                                                 "--slice-shape", "64x64", "--out", dir + "/small.h5"], environment: env)
        XCTAssertEqual(s3, 0, e3)
        let small = dir + "/small_slices-axial.h5"
        let (s4, _, e4) = try Fixtures.run(exe, ["train", "--data", small, "--preset", "paper2d", "--class", "AD", "--out", dir + "/runs"])
        XCTAssertEqual(s4, 1)
        let lines = e4.split(separator: "\n").filter { $0.hasPrefix("petgan: error:") }
        XCTAssertEqual(lines.count, 1, e4)
        XCTAssertTrue(e4.contains("petgan: error: \(small): preset paper2d") && e4.contains("64×64×3") && e4.contains("--allow-any-shape"), e4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/runs"), "nothing written for a refused run")
        let (s5, o5, e5) = try Fixtures.run(exe, ["train", "--data", small, "--preset", "paper2d", "--class", "AD", "--allow-any-shape", "--dry-run"])
        XCTAssertEqual(s5, 0, e5)
        XCTAssertTrue(o5.contains("G.ups.4: 2×3×64×64"), o5)
    }

    /// `petgan prepare --slices axial` turns a folder of NIfTI volumes into the paper preset's input.
    func testPrepareSlicesFitThePaperPreset() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir("prepareslices")
        let names = try Fixtures.writePerturbedNIfTI(from: try Fixtures.smallCohort(), to: dir + "/nifti", offset: 0, indices: [0, 1, 4, 11])
        let csv = "file,label\n" + names.map { "\($0),\($0.split(separator: "_")[0])\n" }.joined()
        try csv.write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        let (s0, o0, e0) = try Fixtures.run(exe, ["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/p.h5",
                                                  "--shape", "48x56x48", "--voxel-size", "4", "--center", "origin", "--slices", "axial"])
        XCTAssertEqual(s0, 0, e0)
        XCTAssertTrue(o0.contains("wrote \(dir)/p_slices-axial.h5: ") && o0.contains("slice samples of 3x128x128"), o0)
        let (s1, o1, e1) = try Fixtures.run(exe, ["inspect", "--json", dir + "/p_slices-axial.h5"])
        XCTAssertEqual(s1, 0, e1)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(o1.utf8)) as? [String: Any])
        let shape = try XCTUnwrap(info["array_shape_ndhw"] as? [Int], o1)
        XCTAssertEqual(Array(shape.dropFirst()), [3, 128, 128])
        XCTAssertTrue(shape[0] > 0 && shape[0] % 4 == 0, "every volume gives the same centres: \(shape)")
        let (s2, o2, e2) = try Fixtures.run(exe, ["train", "--data", dir + "/p_slices-axial.h5", "--preset", "paper2d", "--class", "AD", "--dry-run"])
        XCTAssertEqual(s2, 0, e2)
        XCTAssertTrue(o2.contains("epochs: 500"), o2)
        // A bad slice option is refused before anything is written.
        let (s3, _, e3) = try Fixtures.run(exe, ["prepare", "--input", dir + "/nifti", "--labels", dir + "/labels.csv", "--out", dir + "/q.h5",
                                                 "--shape", "48x56x48", "--voxel-size", "4", "--slices", "axial", "--slice-range", "5"])
        XCTAssertNotEqual(s3, 0)
        XCTAssertTrue(e3.contains("--slice-range"), e3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/q.h5"))
    }
}
