import Foundation
import XCTest
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
        "nifti-huge-affine-json.nii": "overflowing voxel sizes",
        // Entries near 1e200: the voxel sizes (column lengths) overflow to inf.
        "nifti-infinite-voxel-size.nii": "overflowing voxel sizes",
        // `epochs: 504467440737095516:15` (a YAML 1.1 base-60 integer): Yams' parser trapped on overflow.
        "config-yams-sexagesimal-overflow.yaml": "expected an integer",
    ]

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
                XCTAssertTrue(outcome.messages.allSatisfy { $0.contains(reason) }, "\(name): expected '\(reason)' in \(outcome.messages)")
            }
        }
    }
}
