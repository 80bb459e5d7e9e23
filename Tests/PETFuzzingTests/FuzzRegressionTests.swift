import Foundation
import XCTest
import PETTestSupport
@testable import PETFuzzing

/// The fuzz harness itself: every seed is read without error (so the fuzzer starts from valid
/// files), and every input that ever crashed a target is replayed through the same target body
/// and must now be refused with its reason.
final class FuzzRegressionTests: XCTestCase {
    override func setUp() {
        super.setUp()
        FuzzTargets.onFinding = { XCTFail("fuzz target finding: \($0)") }
    }

    func files(_ sub: String) throws -> [String] {
        let dir = fuzzFixtures + "/" + sub
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { dir + "/" + $0 }
    }

    func testSeedsAreValidInputs() throws {
        for (target, run) in [("nifti", FuzzTargets.nifti as (Data) -> FuzzOutcome), ("store", FuzzTargets.store), ("config", FuzzTargets.config)] {
            let seeds = try files(target)
            XCTAssertGreaterThanOrEqual(seeds.count, 2, target)
            for s in seeds { XCTAssertEqual(run(try Data(contentsOf: URL(fileURLWithPath: s))), .accepted, s) }
        }
    }

    /// Crash inputs (Tests/Fixtures/fuzz/crashes/<target>-<what>) and the reason they must now be
    /// refused for (nil: a usable file, which must now be read without a finding).
    static let expected: [String: String?] = [
        // A NaN srow: the affine was not checked, `inspect --json` could not print it.
        "nifti-nonfinite-sform.nii": "affine holds NaN or infinite values",
        // NIfTI-2 srow values near 1e303: inspect's rounding overflowed to inf (not JSON-printable);
        // such an affine has infinite voxel sizes and is refused.
        "nifti-huge-affine-json.nii": "voxel edge along",
        // Entries near 1e200: the voxel sizes (column lengths) overflow to inf.
        "nifti-infinite-voxel-size.nii": "voxel edge along",
        // vox_offset beyond Int.max: Int(Float) trapped (issue 13 also names NaN and infinite ones).
        // The fuzzer changed other fields too; today's reader refuses it for its datatype first
        // ("" = refused, for any reason); testVoxOffsetsThatAreNotOffsets checks the offsets alone.
        "nifti-vox-offset-beyond-int.nii": "",
        // `epochs: 504467440737095516:15` (a YAML 1.1 base-60 integer): Yams' parser trapped on overflow.
        "config-yams-sexagesimal-overflow.yaml": "expected an integer",
        // `data: !!int …:16…`: an explicit !!int tag sends any text with a ':' into the same Yams code.
        "config-yams-tagged-int-colon.yaml": "",
    ]

    /// The fuzzer's vox_offset crash, generalized: NaN, ±inf, huge and negative offsets (NIfTI-1
    /// float, NIfTI-2 int64) are refused by the reader and by `petgan inspect`, never a trap.
    func testVoxOffsetsThatAreNotOffsets() throws {
        let exe = try petganBinary()
        let dir = try makeTempDir()
        let n1 = try Data(contentsOf: URL(fileURLWithPath: fuzzFixtures + "/nifti/float32.nii"))
        let n2 = try Data(contentsOf: URL(fileURLWithPath: fuzzFixtures + "/nifti/uint8-nifti2.nii"))
        var cases: [(String, Data)] = []
        for (name, v) in [("nan", Float.nan), ("inf", Float.infinity), ("minus-inf", -Float.infinity), ("huge", 1e30 as Float), ("negative", -352)] {
            var d = n1
            withUnsafeBytes(of: v.bitPattern.littleEndian) { d.replaceSubrange(108..<112, with: $0) }
            cases.append(("n1-\(name)", d))
        }
        for (name, v) in [("max", Int64.max), ("negative", -1 as Int64)] {
            var d = n2
            withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(168..<176, with: $0) }
            cases.append(("n2-\(name)", d))
        }
        for (name, bytes) in cases {
            let messages = FuzzTargets.nifti(bytes).messages
            XCTAssertEqual(messages.count, 2, "\(name): refused as .nii and as .nii.gz")
            XCTAssertTrue(messages.allSatisfy { $0.contains("vox_offset") }, "\(name): \(messages)")
            let path = dir + "/\(name).nii"
            try bytes.write(to: URL(fileURLWithPath: path))
            assertOneErrorLine(try runProgram(exe, ["inspect", path]), file: path, reason: "vox_offset", "inspect \(name)")
        }
    }

    func testEveryCrashInputIsNowRefusedWithItsReason() throws {
        let crashes = try files("crashes")
        XCTAssertEqual(Set(crashes.map { ($0 as NSString).lastPathComponent }), Set(Self.expected.keys),
                       "every crash input needs an expected reason here (and every listed one its file)")
        for path in crashes {
            let name = (path as NSString).lastPathComponent
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let outcome: FuzzOutcome
            switch name.split(separator: "-").first {
            case "nifti": outcome = FuzzTargets.nifti(data)
            case "store": outcome = FuzzTargets.store(data)
            case "config": outcome = FuzzTargets.config(data)
            default: XCTFail("\(name): crash inputs are named <target>-<what>"); continue
            }
            guard let expected = Self.expected[name] else { continue }
            if let reason = expected {
                XCTAssertFalse(outcome.messages.isEmpty, "\(name) is accepted")
                XCTAssertTrue(reason.isEmpty || outcome.messages.allSatisfy { $0.contains(reason) }, "\(name): expected '\(reason)' in \(outcome.messages)")
            }
        }
    }
}
