import Foundation
import XCTest
import PETTestSupport
@testable import PETFuzzing
@testable import PETVolumes
import PETTensor

/// Malformed volume stores: every one is refused by VolumeStore.open with an error naming the file
/// and the reason, and by `petgan inspect` / `train` / `evaluate` with one `petgan: error:` line and
/// exit 1 — never a trap, never a silent wrong number.
final class StoreValidationTests: XCTestCase {
    override func setUp() {
        super.setUp()
        FuzzTargets.onFinding = { XCTFail("fuzz target finding: \($0)") }
    }

    /// (name, how the store is made wrong, what the error must say)
    static let cases: [(String, (inout StoreSpec) -> Void, String)] = [
        ("rank 3 volumes", { $0.volumesShape = [2, 3, 4]; $0.chunks = nil }, "expected (N, D, H, W)"),
        ("rank 5 volumes", { $0.volumesShape = [2, 1, 3, 4, 5]; $0.chunks = nil }, "expected (N, D, H, W)"),
        ("zero depth", { $0.volumesShape = [2, 0, 4, 5]; $0.chunks = nil }, "must be positive"),
        ("huge volumes", { $0.volumesShape = [1, 1024, 1024, 1024]; $0.chunks = [1, 16, 16, 16]; $0.writeVolumes = false
                           $0.labels = [0]; $0.affinesShape = [1, 4, 4]; $0.intensity = [[0.5, -1]] }, "exceed the cap"),
        ("2 GB chunks", { $0.volumesShape = [1, 512, 1024, 1024]; $0.chunks = [1, 512, 1024, 1024]; $0.writeVolumes = false
                          $0.labels = [0]; $0.affinesShape = [1, 4, 4]; $0.intensity = [[0.5, -1]] }, "cannot be cached"),
        ("integer volumes", { $0.volumesInt = true }, "expected float32"),
        ("missing affines", { $0.omit = ["affines"] }, "dataset 'affines' is missing"),
        ("missing labels", { $0.omit = ["labels"] }, "dataset 'labels' is missing"),
        ("label count", { $0.labels = [0, 1, 0] }, "/labels has shape [3], expected [2]"),
        ("float labels", { $0.labelsFloat = true }, "expected integer class indices"),
        ("label out of range", { $0.labels = [0, 5] }, "label 5 has no class name"),
        ("negative label", { $0.labels = [-1, 0] }, "label -1 has no class name"),
        ("missing class names", { $0.classNames = nil }, "no 'class_names' attribute"),
        ("numeric class names", { $0.classNames = .ints([0, 1]) }, "'class_names' must be an array of strings"),
        ("duplicate class names", { $0.classNames = .strings(["AD", "AD"]) }, "distinct, non-empty names"),
        ("affine count", { $0.affinesShape = [1, 4, 4] }, "/affines has shape [1, 4, 4], expected [2, 4, 4]"),
        ("affine shape", { $0.affinesShape = [2, 3, 4] }, "/affines has shape [2, 3, 4]"),
        ("NaN affine", { $0.affineOverride[1] = [2, 0, 0, .nan, 0, 2, 0, -3, 0, 0, 2, -2, 0, 0, 0, 1] }, "/affines[1] holds NaN or infinite"),
        ("infinite affine", { $0.affine[0] = .infinity }, "/affines[0] holds NaN or infinite"),
        ("huge affine", { $0.affine[3] = 1e300 }, "entries beyond"),
        ("singular affine", { $0.affine = [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] }, "voxel sizes"),
        ("collinear affine", { $0.affine = [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1] }, "singular"),
        ("affine last row", { $0.affine[12] = 1 }, "last row"),
        ("zero intensity scale", { $0.intensity = [[0.5, -1], [0, -1]] }, "/intensity[1]"),
        ("NaN intensity", { $0.intensity = [[.nan, -1], [0.5, -1]] }, "/intensity[0]"),
        ("intensity count", { $0.intensity = [[0.5, -1]] }, "/intensity has shape [1, 2], expected [2, 2]"),
        ("NaN voxel size", { $0.rootAttributes["voxel_size"] = .doubles([2, .nan, 2]) }, "'voxel_size'"),
        ("negative voxel size", { $0.rootAttributes["voxel_size"] = .doubles([2, -2, 2]) }, "'voxel_size'"),
        ("string voxel size", { $0.rootAttributes["voxel_size"] = .string("2mm") }, "'voxel_size' must be three voxel sizes"),
        ("two voxel sizes", { $0.rootAttributes["voxel_size"] = .doubles([2, 2]) }, "'voxel_size'"),
        ("shape_xyz", { $0.rootAttributes["shape_xyz"] = .ints([3, 4, 5]) }, "'shape_xyz' [3, 4, 5] disagrees"),
        ("xform code", { $0.rootAttributes["xform_code"] = .int(9) }, "'xform_code' 9"),
        ("float xform code", { $0.rootAttributes["xform_code"] = .double(.nan) }, "'xform_code' must be an integer"),
        ("numeric normalization", { $0.rootAttributes["normalization"] = .double(3) }, "'normalization' must be a string"),
        ("source file count", { $0.rootAttributes["source_files"] = .strings(["a", "b", "c"]) }, "names 3 files for 2 volumes"),
        ("low-res factor not dividing", { $0.lowResolution = ([2, 1, 2, 2], .int(2)) }, "/volumes_low_resolution has factor 2, which does not divide the volume grid 5x4x3"),
        ("low-res factor a string", { $0.lowResolution = ([2, 1, 1, 1], .string("2")) }, "/volumes_low_resolution attribute 'factor' must be one integer"),
        ("low-res factor missing", { $0.lowResolution = ([2, 1, 1, 1], nil) }, "/volumes_low_resolution has no 'factor' attribute"),
        ("low-res factor huge", { $0.lowResolution = ([2, 1, 1, 1], .double(-1e300)) }, "/volumes_low_resolution attribute 'factor' must be one integer"),
    ]

    func makeCase(_ i: Int, in dir: String) throws -> String {
        var spec = StoreSpec()
        Self.cases[i].1(&spec)
        let path = dir + "/case\(i).h5"
        try spec.write(path)
        return path
    }

    func testTheUnchangedSpecIsAValidStore() throws {
        // Otherwise the cases below could pass for a reason other than the one they name.
        let dir = try makeTempDir()
        try StoreSpec().write(dir + "/ok.h5")
        let s = try VolumeStore.open(dir + "/ok.h5")
        XCTAssertEqual(s.count, 2); XCTAssertEqual(s.volumeShape, [3, 4, 5]); XCTAssertEqual(s.classNames, ["AD", "NC"])
        XCTAssertEqual(s.space, .mni); XCTAssertEqual(s.affine(1).m[3], -4)
        XCTAssertEqual(FuzzTargets.store(try Data(contentsOf: URL(fileURLWithPath: dir + "/ok.h5"))), .accepted)
    }

    func testTheLowResolutionSeedHoldsItsCopy() throws {
        // The fuzzer starts from a store with /volumes_low_resolution, so its validation is fuzzed.
        let s = try VolumeStore.open(fuzzFixtures + "/store/low-resolution.h5")
        XCTAssertEqual(s.lowResolution, LowResolutionCopy(factor: 2, shape: [1, 2, 1]))
        for i in 0..<2 {
            XCTAssertEqual(maxAbsDifference(try s.readLowResolution(i), LowResolution.referenceAveragePool(try s.readVolume(i).data, shape: [2, 4, 2], factor: 2)), 0, accuracy: 1e-7)
        }
    }

    func testEveryMalformedStoreIsRefusedNamingFileAndReason() throws {
        let dir = try makeTempDir()
        for i in Self.cases.indices {
            let (name, _, reason) = Self.cases[i]
            let path = try makeCase(i, in: dir)
            XCTAssertThrowsError(try VolumeStore.open(path), name) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix(path + ": "), "\(name): \(text)")
                XCTAssertTrue(text.contains(reason), "\(name): expected '\(reason)' in: \(text)")
            }
        }
    }

    func testPetganInspectRefusesEveryMalformedStore() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        for i in Self.cases.indices {
            let (name, _, reason) = Self.cases[i]
            let path = try makeCase(i, in: dir)
            if name == "missing labels" {
                // Without /labels the file does not claim to be a store: inspect lists it as plain HDF5
                // (train and evaluate refuse it, below and in the VolumeStore.open table).
                let (status, out, err) = try runProgram(exe, ["inspect", path])
                XCTAssertEqual(status, 0, err)
                XCTAssertTrue(out.contains("HDF5") && !out.contains("volume store"), out)
                continue
            }
            assertOneErrorLine(try runProgram(exe, ["inspect", path]), file: path, reason: reason, "inspect \(name)")
            assertOneErrorLine(try runProgram(exe, ["inspect", "--json", path]), file: path, reason: reason, "inspect --json \(name)")
        }
    }

    func testPetganTrainAndEvaluateRefuseMalformedStores() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        try StoreSpec().write(dir + "/good.h5")
        for name in ["missing labels", "NaN affine", "huge affine", "label count", "float labels", "missing class names", "zero intensity scale", "NaN voxel size", "zero depth"] {
            let i = try XCTUnwrap(Self.cases.firstIndex { $0.0 == name })
            let path = try makeCase(i, in: dir)
            let reason = Self.cases[i].2
            assertOneErrorLine(try runProgram(exe, ["train", "--data", path, "--model", "dcgan3d", "--out", dir + "/runs", "--max-steps", "1"]),
                               file: path, reason: reason, "train \(name)")
            assertOneErrorLine(try runProgram(exe, ["evaluate", "--real", path, "--synthetic", dir + "/good.h5", "--out", dir + "/report",
                                                    "--skip-classifiers"]), file: path, reason: reason, "evaluate \(name)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/report/report.html"), "evaluate \(name) wrote a report")
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: dir + "/runs"))?.count ?? 0, 0, "no run directory for refused data")
    }

    func testNotAStoreAndTruncatedStoresNameTheFile() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        try StoreSpec().write(dir + "/good.h5")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/good.h5"))
        try Data("model: dcgan3d\n".utf8).write(to: URL(fileURLWithPath: dir + "/text.h5"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/half.h5"))
        try bytes.prefix(600).write(to: URL(fileURLWithPath: dir + "/head.h5"))
        assertOneErrorLine(try runProgram(exe, ["inspect", dir + "/text.h5"]), file: dir + "/text.h5", reason: "not an HDF5 file", "text")
        for name in ["half.h5", "head.h5"] {
            let r = try runProgram(exe, ["inspect", dir + "/" + name])
            assertOneErrorLine(r, file: dir + "/" + name, reason: "HDF5", name)
            XCTAssertEqual(FuzzTargets.store(bytes.prefix(name == "half.h5" ? bytes.count / 2 : 600)).messages.isEmpty, false, name)
        }
    }
}
