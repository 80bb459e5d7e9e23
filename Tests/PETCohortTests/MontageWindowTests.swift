import XCTest
import PETCohort
import PETVolumes
import PETTestSupport

/// Regression: `phantom --montage` rendered the store's values (SUVR mapped to [−1, 1]) in an SUVR
/// window, so every montage came out nearly black (seen in docs/images/phantom-montage.png after the
/// recalibration). The montage must show SUVR: brain visible, not saturated.
final class MontageWindowTests: XCTestCase {
    func testPhantomMontageShowsSUVRNeitherBlackNorSaturated() throws {
        let path = try makeTempDir("montage-window") + "/c.h5"
        try PhantomCohort.makeSmallCohort(at: path, count: 3, seed: 7, templatesDirectory: RepositoryPaths.templates)
        let store = try VolumeStore.open(path)
        let img = try PhantomCohort.montage(store: store, indices: [0, 1, 2])
        var bright = 0, saturated = 0
        let n = img.width * img.height
        for y in 0..<img.height { for x in 0..<img.width {
            let (r, g, b) = img[x, y]
            if max(r, g, b) >= 128 { bright += 1 }
            // inferno's top end is pale yellow (r, g ≥ 245): the window's maximum or above.
            if r >= 245 && g >= 245 { saturated += 1 }
        } }
        let brightShare = Double(bright) / Double(n), saturatedShare = Double(saturated) / Double(n)
        XCTAssertGreaterThan(brightShare, 0.10, "brain tissue must be visible (bright share \(brightShare))")
        XCTAssertLessThan(saturatedShare, 0.05, "the SUVR window must not clip most of the cortex (saturated share \(saturatedShare))")
    }
}
