import XCTest
import PETTestSupport
@testable import PETMetrics
import PETCohort
import PETVolumes

/// `phantom --report` measures the reference regions exactly as the calibration tests do
/// (GridAtlas.referenceVoxels on the phantom's anatomy for the grid's voxel size, the generator's pons).
final class CohortReportReferenceTests: XCTestCase {
    func testTheReportsReferenceVoxelsAreTheCalibrations() throws {
        try ensureTemplates(required: TemplateFiles.all)
        let grid = VolumeGrid.mni(niftiShape: [48, 56, 48], voxelSize: 4)
        let (codes, regions, refs) = try CohortReporting.referenceVoxels(grid: grid, templatesDirectory: RepositoryPaths.templates)
        let anatomy = try PhantomAnatomy.load(directory: RepositoryPaths.templates, outputVoxelMM: 4)
        let generator = try PhantomGenerator(anatomy: anatomy, parameters: PhantomParameters(), grid: grid)
        let atlas = GridAtlas(anatomy: anatomy, grid: grid)
        XCTAssertEqual(regions, anatomy.regions)
        XCTAssertEqual(codes, atlas.codes)
        // The atlas-only codes (what `evaluate` and the difficulty features use) are the same labels.
        XCTAssertEqual(codes, try GridAtlas.aal2Codes(directory: RepositoryPaths.templates, grid: grid).codes)
        for r in ReferenceRegion.allCases {
            let want = atlas.referenceVoxels(r, pons: generator.ponsVoxels)
            XCTAssertFalse(want.isEmpty, r.rawValue)
            XCTAssertEqual(refs[r], want, r.rawValue)
        }
        // global is GM + WM ≥ 0.5, not "every AAL2-labelled voxel": it holds white matter outside the labels.
        let global = refs[.global]!
        XCTAssertGreaterThan(global.filter { codes[$0] == 0 }.count, global.count / 10)
        XCTAssertTrue(global.allSatisfy { atlas.gm[$0] + atlas.wm[$0] >= 0.5 })
        // cerebellum: the hemispheres (90xx), never the vermis (91xx).
        XCTAssertTrue(refs[.cerebellum]!.allSatisfy { (9001...9082).contains(Int(codes[$0])) })
        XCTAssertEqual(Set(refs[.cerebellum]!.map { codes[$0] }), Set(codes.filter { (9001...9082).contains(Int($0)) }))
        XCTAssertEqual(refs[.cerebellum]!.count, codes.filter { (9001...9082).contains(Int($0)) }.count, "every hemisphere voxel, no tissue mask")
    }
}
