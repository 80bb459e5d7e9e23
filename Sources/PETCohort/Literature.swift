// The literature tables of docs/phantom.md, parsed once for everyone who reads them: the calibration
// tests (Tests/PETCohortTests) check the phantom against the regional table and the variant
// frequencies, and `petgan phantom --report` (PETMetrics' CohortReport) sets the built cohort beside
// the regional table. The reference regions are measured by one rule (`GridAtlas.referenceVoxels`)
// for both, so the report measures what the calibration measures.
//
// Public API:
//   let table = try LiteratureTable.load(path: "docs/phantom.md", regions: RegionTable.parse(tsv: …))
//   table.rows[i].codes (AAL2 codes of the row) ; table.rows[i].ncMean.value ; table.variantFrequencies
//   atlas.referenceVoxels(row.reference, pons: anatomy.ponsVoxels(on: grid))

import Foundation
import PETVolumes

/// A number of the table as written ("1.42", "−8", "1.15..1.37", "−5 to −10", "n/a") and what it says.
public struct LiteratureValue: Codable, Equatable, Sendable {
    public var text: String
    /// The number, or the midpoint of a range (what the calibration checks); nil when the cell holds none.
    public var value: Double?
    /// The ends of a range ("1.15..1.37", "8–12", "−5 to −10"); nil for a single number.
    public var low: Double?, high: Double?

    /// "n/a" or an empty cell: no figure, on purpose.
    public var isNotAvailable: Bool {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        return t.isEmpty || t == "n/a"
    }

    public init(parsing cell: String) {
        text = cell
        // Unicode minus as a reader writes it; bold markers.
        let s = cell.replacingOccurrences(of: "\u{2212}", with: "-").replacingOccurrences(of: "**", with: "")
        let number = #"[-+]?[0-9]+(?:\.[0-9]+)?"#
        // Both anchored at the start, so a number inside prose ("see N3") is not taken for the figure.
        let range = try! NSRegularExpression(pattern: "^\\s*[~≈]?\\s*(\(number))\\s*(?:\\.\\.|–|—|to|…|-)\\s*(\(number))")
        let single = try! NSRegularExpression(pattern: "^\\s*[~≈]?\\s*(\(number))(?=\\s|$|\\(|%)")
        let ns = s as NSString
        let all = NSRange(location: 0, length: ns.length)
        if let m = range.firstMatch(in: s, range: all),
           let a = Double(ns.substring(with: m.range(at: 1))), let b = Double(ns.substring(with: m.range(at: 2))) {
            low = min(a, b); high = max(a, b); value = (a + b) / 2
        } else if let m = single.firstMatch(in: s, range: all) {
            value = Double(ns.substring(with: m.range(at: 1)))
        }
    }
}

/// The denominator of a literature SUVR figure.
public enum ReferenceRegion: String, Codable, Sendable, CaseIterable {
    /// The pons mask (the phantom's own SUVR reference).
    case pons
    /// AAL2 cerebellar hemispheres (90xx, vermis excluded).
    case cerebellum
    /// Whole-brain mean ("global activity"): voxels whose template GM + WM is at least 0.5.
    case global

    /// The names a table cell may use for each reference (lower case, bold markers removed).
    public static let spellings: [String: ReferenceRegion] = [
        "pons": .pons, "cerebellum": .cerebellum,
        "global": .global, "global mean": .global, "whole-brain mean": .global, "whole brain mean": .global,
    ]

    /// The reference a table cell names; nil for anything else.
    public init?(cell: String) {
        let t = cell.replacingOccurrences(of: "**", with: "").trimmingCharacters(in: .whitespaces).lowercased()
        guard let r = ReferenceRegion.spellings[t] else { return nil }
        self = r
    }
}

/// One row of the regional literature table ("Literature table: normal FDG regional uptake").
public struct LiteratureRow: Codable, Equatable, Sendable {
    public var region: String
    /// The AAL2 labels cell as written, and the codes and names it resolves to.
    public var aal2Labels: String
    public var codes: [Int]
    public var labelNames: [String]
    /// The denominator of the row's NC mean and SD, and the cell as written.
    public var reference: ReferenceRegion
    public var referenceText: String
    public var ncMean: LiteratureValue, ncSD: LiteratureValue
    /// Percent per decade, MCI and AD change in percent (negative = lower).
    public var ageChangePerDecadePercent: LiteratureValue
    public var mciChangePercent: LiteratureValue, adChangePercent: LiteratureValue
    public var sources: String
}

/// The literature tables of docs/phantom.md, parsed.
public struct LiteratureTable: Codable, Sendable {
    /// The section holding the regional table (a markdown heading of any level).
    public static let title = "Literature table: normal FDG regional uptake"
    public static let columns = ["region", "aal2 labels", "reference", "nc mean", "nc sd", "age change per decade (%)",
                                 "mci change (%)", "ad change (%)", "sources"]
    /// The file the tables were read from.
    public var path: String
    public var rows: [LiteratureRow]
    /// Atypical AD presentations: name → frequency among AD (fraction; a range "a..b" gives its middle).
    public var variantFrequencies: [String: Double]

    public func row(_ region: String) -> LiteratureRow? { rows.first { $0.region == region } }

    /// Reads and parses a markdown file.
    public static func load(path: String, regions: RegionTable) throws -> LiteratureTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PhantomError.unreadable(path: path, reason: "cannot read the literature table (no such file or not UTF-8 text)")
        }
        return try parse(markdown: text, path: path, regions: regions)
    }

    static func cells(_ line: Substring) -> [String] {
        var t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("|") { t.removeFirst() }
        if t.hasSuffix("|") { t.removeLast() }
        return t.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func isTableLine(_ l: Substring) -> Bool { l.trimmingCharacters(in: .whitespaces).hasPrefix("|") }

    /// Parses the markdown. The regional table is the first table under the heading `title` whose header
    /// has every name of `columns` (any order, further columns ignored); every row must resolve its AAL2
    /// labels, name a reference region (`ReferenceRegion.spellings`) and hold numbers, ranges or `n/a`.
    /// The variant table is the one whose header starts with `variant` and has a `frequency…` column.
    /// Every problem is one error naming the file, the line and the row.
    public static func parse(markdown: String, path: String, regions: RegionTable) throws -> LiteratureTable {
        func bad(_ why: String) -> PhantomError { .badLiteratureTable(path: path, reason: why) }
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        func headingTitle(_ l: Substring) -> String? {
            let t = l.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("#") else { return nil }
            return String(t.drop { $0 == "#" }).trimmingCharacters(in: .whitespaces)
        }
        guard let h = lines.firstIndex(where: { headingTitle($0) == title }) else {
            throw bad("no section '\(title)'")
        }
        var i = h + 1
        var columnOf: [String: Int] = [:]
        var headerCount = 0
        while i < lines.count, headingTitle(lines[i]) == nil {
            if isTableLine(lines[i]) {
                let names = cells(lines[i]).map { $0.lowercased() }
                if columns.allSatisfy(names.contains) {
                    for (k, n) in names.enumerated() where columnOf[n] == nil { columnOf[n] = k }
                    headerCount = names.count
                    break
                }
            }
            i += 1
        }
        guard headerCount > 0 else {
            throw bad("section '\(title)' has no table with the columns \(columns.joined(separator: " | "))")
        }
        i += 2   // the header and its |---| line
        var rows: [LiteratureRow] = []
        while i < lines.count, isTableLine(lines[i]) {
            let c = cells(lines[i])
            let line = i + 1
            guard c.count == headerCount else {
                throw bad("line \(line): \(c.count) cells, the header has \(headerCount)")
            }
            func cell(_ name: String) -> String { c[columnOf[name]!] }
            let region = cell("region").replacingOccurrences(of: "**", with: "")
            let at = "line \(line), row '\(region)'"
            let (codes, names) = try resolve(labels: cell("aal2 labels"), regions: regions, path: path, at: at)
            guard let reference = ReferenceRegion(cell: cell("reference")) else {
                throw bad("\(at): reference '\(cell("reference"))' is not one of \(ReferenceRegion.allCases.map(\.rawValue).joined(separator: ", "))"
                          + " (also written: \(ReferenceRegion.spellings.keys.filter { ReferenceRegion(rawValue: $0) == nil }.sorted().joined(separator: ", ")))")
            }
            func value(_ name: String) throws -> LiteratureValue {
                let v = LiteratureValue(parsing: cell(name))
                guard v.value != nil || v.isNotAvailable else { throw bad("\(at): \(name) '\(v.text)' is neither a number, a range nor n/a") }
                return v
            }
            rows.append(LiteratureRow(region: region, aal2Labels: cell("aal2 labels"), codes: codes, labelNames: names,
                                      reference: reference, referenceText: cell("reference"),
                                      ncMean: try value("nc mean"), ncSD: try value("nc sd"),
                                      ageChangePerDecadePercent: try value("age change per decade (%)"),
                                      mciChangePercent: try value("mci change (%)"), adChangePercent: try value("ad change (%)"),
                                      sources: cell("sources")))
            i += 1
        }
        guard !rows.isEmpty else { throw bad("the table of section '\(title)' has no rows") }
        return LiteratureTable(path: path, rows: rows, variantFrequencies: try variants(lines, bad))
    }

    /// The atypical-AD table: name → frequency among AD as a fraction (empty when the file has none).
    static func variants(_ lines: [Substring], _ bad: (String) -> PhantomError) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (i, line) in lines.enumerated() where isTableLine(line) {
            let h = cells(line).map { $0.lowercased() }
            guard h.first == "variant", let fc = h.firstIndex(where: { $0.hasPrefix("frequency") }),
                  i + 1 < lines.count, lines[i + 1].contains("---") else { continue }
            var k = i + 2
            while k < lines.count, isTableLine(lines[k]) {
                let r = cells(lines[k])
                if r.count == h.count {
                    let v = LiteratureValue(parsing: r[fc])
                    guard v.value != nil || v.isNotAvailable else {
                        throw bad("line \(k + 1), variant '\(r[0])': frequency '\(r[fc])' is neither a number, a range nor n/a")
                    }
                    if let f = v.value { out[r[0]] = f / 100 }
                }
                k += 1
            }
            break
        }
        return out
    }

    /// AAL2 labels of a cell: names (`Precuneus_L`), both sides (`Precuneus`, `Precuneus_L/R`), globs
    /// (`Frontal_*`), or codes (`6301`), separated by commas, semicolons, '+' or spaces.
    static func resolve(labels text: String, regions: RegionTable, path: String, at: String) throws -> ([Int], [String]) {
        func bad(_ why: String) -> PhantomError { .badLiteratureTable(path: path, reason: "\(at): \(why)") }
        let tokens = text.replacingOccurrences(of: "`", with: "")
            .split(whereSeparator: { ",;+ ".contains($0) }).map(String.init).filter { !$0.isEmpty && $0.lowercased() != "and" }
        var codes: [Int] = []
        func add(_ k: Int) { let code = regions.codes[k]; if !codes.contains(code) { codes.append(code) } }
        for t in tokens {
            if let code = Int(t) {
                guard let k = regions.codes.firstIndex(of: code) else { throw bad("AAL2 code \(code) is not in the atlas table") }
                add(k); continue
            }
            var candidates: [String] = [t]
            if t.hasSuffix("_L/R") { let stem = String(t.dropLast(4)); candidates = [stem + "_L", stem + "_R"] }
            var matched = false
            for cand in candidates {
                if cand.contains("*") {
                    let pattern = "^" + NSRegularExpression.escapedPattern(for: cand).replacingOccurrences(of: "\\*", with: ".*") + "$"
                    let re = try NSRegularExpression(pattern: pattern)
                    for (k, n) in regions.names.enumerated() where re.firstMatch(in: n, range: NSRange(location: 0, length: (n as NSString).length)) != nil {
                        add(k); matched = true
                    }
                } else if let k = regions.names.firstIndex(of: cand) {
                    add(k); matched = true
                } else {
                    for side in ["_L", "_R"] { if let k = regions.names.firstIndex(of: cand + side) { add(k); matched = true } }
                }
            }
            guard matched else { throw bad("'\(t)' is not an AAL2 label of the atlas table") }
        }
        guard !codes.isEmpty else { throw bad("no AAL2 label in '\(text)'") }
        return (codes, codes.map { regions.names[regions.codes.firstIndex(of: $0)!] })
    }
}

extension PhantomAnatomy {
    /// Output-grid voxels of the pons reference mask (the mask resampled trilinearly, ≥ 0.5): the
    /// phantom's SUVR denominator and the report's pons reference.
    public func ponsVoxels(on grid: VolumeGrid) -> [Int] {
        let onGrid = Resample.trilinear(pons, from: ponsGrid, to: grid)
        return onGrid.indices.filter { onGrid[$0] >= 0.5 }
    }
}

extension GridAtlas {
    /// Voxels of a reference region on this grid (the pons is `PhantomAnatomy.ponsVoxels(on:)`).
    /// The one definition the calibration tests and the cohort report both measure with.
    public func referenceVoxels(_ ref: ReferenceRegion, pons: [Int]) -> [Int] {
        switch ref {
        case .pons: return pons
        case .cerebellum: return voxels(codes: PhantomParameters.cerebellumCodes.filter { $0 < 9100 }, gmMin: 0)
        case .global: return gm.indices.filter { gm[$0] + wm[$0] >= 0.5 }
        }
    }

    /// A region's mean over every voxel of its labels (no tissue threshold, as an atlas analysis of a
    /// PET image measures it: partial volume included) divided by the reference region's mean.
    public func ratio(_ values: [Float], codes: [Int], reference: [Int]) -> Double {
        GridAtlas.mean(values, voxels(codes: codes, gmMin: 0)) / GridAtlas.mean(values, reference)
    }
}
