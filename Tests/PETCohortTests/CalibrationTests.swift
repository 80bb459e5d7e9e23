import Foundation
import XCTest
import PETTestSupport
@testable import PETCohort
import PETTensor
import PETVolumes

/// The phantom against the literature table of docs/phantom.md (parsed here, so a change to the table
/// is a change to these tests): NC regional means through AAL2 at 2 mm after the PSF, each with its
/// row's reference region, and the NC cortical coefficient of variation.
final class CalibrationTests: XCTestCase {
    static var docPath: String { RepositoryPaths.root.appendingPathComponent("docs/phantom.md").path }

    /// "Cortical CV range (pons reference): lo–hi %" in docs/phantom.md.
    static func corticalCVRange() throws -> (Double, Double) {
        let text = try String(contentsOfFile: docPath, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.contains("Cortical CV range (pons reference):") }) else {
            XCTFail("docs/phantom.md has no 'Cortical CV range (pons reference):' line"); return (.nan, .nan)
        }
        let tail = line.components(separatedBy: "Cortical CV range (pons reference):")[1]
        let nums = tail.replacingOccurrences(of: "–", with: " ").replacingOccurrences(of: "%", with: " ")
            .split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "*`,."))) }
        XCTAssertGreaterThanOrEqual(nums.count, 2, String(line))
        return (nums[0] / 100, nums[1] / 100)
    }

    func testTheLiteratureTableParsesWithAAL2Labels() throws {
        let regions = try Fixtures.anatomy(voxel: 4).regions
        let lit = try LiteratureTable.load(path: Self.docPath, regions: regions)
        XCTAssertGreaterThanOrEqual(lit.rows.filter { $0.ncMean.value != nil }.count, 10)
        XCTAssertTrue(lit.rows.allSatisfy { !$0.codes.isEmpty })
        XCTAssertEqual(lit.variantFrequencies["typical"] ?? .nan, 0.75, accuracy: 1e-9)
        // A mislabelled region is an error naming the row and the label.
        let bad = """
        ## Literature table: normal FDG regional uptake

        | region | AAL2 labels | reference | NC mean | NC SD | age change per decade (%) | MCI change (%) | AD change (%) | sources |
        |---|---|---|---|---|---|---|---|---|
        | x | Precuneus_L Nowhere_R | pons | 1.2 | 0.1 | n/a | n/a | n/a | A |
        """
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: bad, path: "bad.md", regions: regions)) { e in
            XCTAssertTrue("\(e)".contains("'Nowhere_R'") && "\(e)".contains("row 'x'"), "\(e)")
        }
    }

    func testNCRegionalMeansLieWithinTheLiteratureSDAndCorticalCVInItsRange() throws {
        let gen = try Fixtures.generator(voxel: 2)
        let lit = try LiteratureTable.load(path: Self.docPath, regions: gen.anatomy.regions)
        let atlas = GridAtlas(anatomy: gen.anatomy, grid: gen.grid)
        let rows = lit.rows.filter { $0.ncMean.value != nil }
        let idx = rows.map { atlas.voxels(codes: $0.codes, gmMin: 0) }
        let refs = Dictionary(uniqueKeysWithValues: ReferenceRegion.allCases.map { ($0, atlas.referenceVoxels($0, pons: gen.ponsVoxels)) })
        let cortex = atlas.voxels(codes: PhantomParameters.cortexCodes, gmMin: 0)
        let n = 40
        var sums = [Double](repeating: 0, count: rows.count)
        var cortical: [Double] = []
        let t0 = DispatchTime.now().uptimeNanoseconds
        for s in 0..<n {
            let v = try gen.generate(index: s, className: "NC", seed: Draw.derivedSeed(4242, UInt64(s)))
            let ref = refs.mapValues { GridAtlas.mean(v.values, $0) }
            for (i, r) in rows.enumerated() { sums[i] += GridAtlas.mean(v.values, idx[i]) / ref[r.reference]! }
            cortical.append(GridAtlas.mean(v.values, cortex))
        }
        print(String(format: "calibration cohort: %d NC subjects at 2 mm in %.1f s", n, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
        for (i, r) in rows.enumerated() {
            let measured = sums[i] / Double(n)
            // Rows without an SD in the table are held to ±5% of their mean (the test's tolerance).
            let mean = r.ncMean.value!
            let tolerance = r.ncSD.value ?? 0.05 * mean
            print(String(format: "%@ (%@): literature %.2f ± %.2f, phantom %.3f", r.region, r.reference.rawValue, mean, tolerance, measured))
            XCTAssertEqual(measured, mean, accuracy: tolerance, "\(r.region) (\(r.reference.rawValue))")
        }
        let (lo, hi) = try Self.corticalCVRange()
        let m = cortical.reduce(0, +) / Double(n)
        let cv = (cortical.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(n - 1)).squareRoot() / m
        print(String(format: "NC cortical SUVR (pons) %.3f, CV %.1f%% (literature range %.1f–%.1f%%)", m, 100 * cv, 100 * lo, 100 * hi))
        XCTAssertGreaterThanOrEqual(cv, lo)
        XCTAssertLessThanOrEqual(cv, hi)
    }
}
