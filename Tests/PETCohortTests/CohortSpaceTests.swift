import XCTest
import PETTestSupport
import PETVolumes
@testable import PETCohort

/// Regression: the phantom store's affines are MNI152 coordinates, so the store must say so
/// (xform code 4); it used to be recorded as scanner space (code 1).
final class CohortSpaceTests: XCTestCase {
    func testPhantomStoreIsRecordedInMNISpace() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/small.h5"
        _ = try PhantomCohort.makeSmallCohort(at: path, count: 3, seed: 5, niftiShape: [24, 28, 24], voxelSize: 8)
        let store = try VolumeStore.open(path)
        XCTAssertEqual(store.space, .mni)
        XCTAssertEqual(try store.readVolume(0).space, .mni)
    }
}
