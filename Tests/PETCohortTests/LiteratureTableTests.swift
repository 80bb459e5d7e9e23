import XCTest
import PETTestSupport
@testable import PETCohort

/// The literature table of docs/phantom.md as the calibration tests and `phantom --report` read it
/// (one parser, PETCohort's `LiteratureTable`).
final class LiteratureTableTests: XCTestCase {
    func atlasTable() throws -> RegionTable {
        try ensureTemplates(required: [TemplateFiles.atlasTable])
        return try RegionTable.parse(tsv: RepositoryPaths.templates + "/" + TemplateFiles.atlasTable)
    }

    func testTheDocsTableParsesAndNamesRealAAL2Labels() throws {
        let regions = try atlasTable()
        let path = RepositoryPaths.root.appendingPathComponent("docs/phantom.md").path
        let t = try LiteratureTable.load(path: path, regions: regions)
        XCTAssertGreaterThanOrEqual(t.rows.count, 8, "regions in the table: \(t.rows.map(\.region))")
        let known = Set(regions.codes)
        for r in t.rows {
            XCTAssertFalse(r.codes.isEmpty, r.region)
            XCTAssertTrue(r.codes.allSatisfy(known.contains), "\(r.region): \(r.codes)")
            XCTAssertEqual(r.labelNames.count, r.codes.count)
            XCTAssertFalse(r.sources.isEmpty, "\(r.region) cites no source")
        }
        // Every row names a reference region the report understands; numbers are numbers or "n/a".
        for r in t.rows {
            XCTAssertEqual(ReferenceRegion(cell: r.referenceText), r.reference, "\(r.region): reference '\(r.referenceText)'")
            for v in [r.ncMean, r.ncSD, r.ageChangePerDecadePercent, r.mciChangePercent, r.adChangePercent] {
                XCTAssertTrue(v.value != nil || v.text.lowercased() == "n/a", "\(r.region): cell '\(v.text)' is neither a number nor n/a")
            }
        }
        let withMean = t.rows.filter { $0.ncMean.value != nil }
        XCTAssertGreaterThanOrEqual(withMean.count, 5, "rows with an NC mean")
        for r in withMean {
            XCTAssertGreaterThan(r.ncMean.value!, 0, r.region)
            if let sd = r.ncSD.value { XCTAssertGreaterThan(sd, 0, r.region); XCTAssertLessThan(sd, r.ncMean.value!, r.region) }
        }
    }

    func testCellFormsAndErrors() throws {
        let regions = try atlasTable()
        let md = """
        # x

        ## Literature table: normal FDG regional uptake

        Some text.

        | region | AAL2 labels | reference | NC mean | NC SD | age change per decade (%) | MCI change (%) | AD change (%) | sources |
        |---|---|---|---|---|---|---|---|---|
        | **Precuneus** | `Precuneus_L`, `Precuneus_R` | pons | 1.52 | 0.11 | −2.1 | −8 to −12 | −15–−20 | A et al. 2001 |
        | posterior cingulate | Cingulate_Post_L/R | cerebellum | 1.4 | 0.1 | n/a | ~−10 | −19 (−15…−23) | B 2002 |
        | thalamus | Thalamus | global mean | 1.1 | 0.08 | | | | C |
        | frontal | Frontal_Sup_2_* + 2611 | whole-brain mean | 1.0 | 0.05 | −3 | 0 | −8 | D |
        | putamen | Putamen_L Putamen_R | global | 1.15..1.37 | 0.12 | n/a | n/a | n/a | E |

        ## Next section
        | not | this |

        ### Atypical AD presentations

        | variant | frequency among AD (%) | pattern |
        |---|---|---|
        | typical | 75 | x |
        | minimal atrophy | 10..15 | y |
        | posterior | n/a | z |
        """
        let t = try LiteratureTable.parse(markdown: md, path: "x.md", regions: regions)
        XCTAssertEqual(t.rows.map(\.region), ["Precuneus", "posterior cingulate", "thalamus", "frontal", "putamen"])
        XCTAssertEqual(t.rows[0].labelNames, ["Precuneus_L", "Precuneus_R"])
        XCTAssertEqual(t.rows[1].labelNames, ["Cingulate_Post_L", "Cingulate_Post_R"])
        XCTAssertEqual(t.rows[2].labelNames, ["Thalamus_L", "Thalamus_R"])
        XCTAssertEqual(Set(t.rows[3].labelNames), ["Frontal_Sup_2_L", "Frontal_Sup_2_R", regions.names[regions.codes.firstIndex(of: 2611)!]])
        XCTAssertEqual(t.rows.map(\.reference), [.pons, .cerebellum, .global, .global, .global])
        XCTAssertEqual(t.rows.map(\.referenceText), ["pons", "cerebellum", "global mean", "whole-brain mean", "global"])
        XCTAssertEqual(t.rows[0].ncMean.value, 1.52); XCTAssertEqual(t.rows[0].ncSD.value, 0.11)
        XCTAssertEqual(t.rows[0].ageChangePerDecadePercent.value, -2.1)
        XCTAssertEqual(t.rows[0].mciChangePercent.value, -10); XCTAssertEqual(t.rows[0].mciChangePercent.low, -12)
        XCTAssertEqual(t.rows[0].adChangePercent.value, -17.5)
        XCTAssertEqual(t.rows[1].mciChangePercent.value, -10); XCTAssertNil(t.rows[1].mciChangePercent.low)
        XCTAssertEqual(t.rows[1].adChangePercent.value, -19)
        XCTAssertNil(t.rows[1].ageChangePerDecadePercent.value)
        XCTAssertNil(t.rows[2].mciChangePercent.value)
        // "a..b": the ends kept, the value (what the calibration checks) the midpoint.
        XCTAssertEqual(t.rows[4].ncMean.low, 1.15); XCTAssertEqual(t.rows[4].ncMean.high, 1.37)
        XCTAssertEqual(t.rows[4].ncMean.value ?? .nan, 1.26, accuracy: 1e-12)
        XCTAssertEqual(t.variantFrequencies.keys.sorted(), ["minimal atrophy", "typical"])
        XCTAssertEqual(t.variantFrequencies["typical"] ?? .nan, 0.75, accuracy: 1e-12)
        XCTAssertEqual(t.variantFrequencies["minimal atrophy"] ?? .nan, 0.125, accuracy: 1e-12)
        XCTAssertEqual(t.path, "x.md")

        // An unknown reference is one error naming the file, the row and the value.
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: md.replacingOccurrences(of: "| global mean |", with: "| striatum |"), path: "x.md", regions: regions)) {
            let m = "\($0)"
            XCTAssertTrue(m.hasPrefix("x.md:") && m.contains("row 'thalamus'") && m.contains("'striatum'"), m)
        }
        // So is a cell that is neither a number, a range nor n/a (a number inside prose is not taken).
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: md.replacingOccurrences(of: "| 1.1 | 0.08 |", with: "| see N3 | 0.08 |"), path: "x.md", regions: regions)) {
            let m = "\($0)"
            XCTAssertTrue(m.hasPrefix("x.md:") && m.contains("row 'thalamus'") && m.contains("'see N3'"), m)
        }
        // And a row whose cell count is not the header's.
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: md.replacingOccurrences(of: "| E |", with: "| E | extra |"), path: "x.md", regions: regions)) {
            XCTAssertTrue("\($0)".hasPrefix("x.md:"), "\($0)")
        }

        XCTAssertThrowsError(try LiteratureTable.parse(markdown: md.replacingOccurrences(of: "Thalamus |", with: "Thalamusx |"), path: "x.md", regions: regions)) {
            XCTAssertTrue("\($0)".contains("Thalamusx"), "\($0)")
        }
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: "# none\n", path: "x.md", regions: regions))
        XCTAssertThrowsError(try LiteratureTable.parse(markdown: md.replacingOccurrences(of: "| sources |", with: "| refs |"), path: "x.md", regions: regions))
    }
}
