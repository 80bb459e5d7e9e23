import Foundation

/// The denominator of a literature SUVR figure.
public enum ReferenceRegion: String, Codable, Sendable, CaseIterable {
    /// The pons mask (the phantom's own SUVR reference).
    case pons
    /// AAL2 cerebellar hemispheres (90xx, vermis excluded).
    case cerebellum
    /// Whole-brain mean ("global activity"): voxels whose template GM + WM is at least 0.5.
    case global
}

/// One row of the literature table in docs/phantom.md ("Literature table: normal FDG regional uptake").
public struct LiteratureRow: Sendable, Equatable {
    public var region: String
    /// AAL2 codes of the row's labels.
    public var codes: [Int]
    public var reference: ReferenceRegion
    public var ncMean: Double?
    public var ncSD: Double?
    /// Percent per decade, MCI and AD change in percent (negative = lower), when the table has them.
    public var agePercentPerDecade: Double?
    public var mciPercent: Double?
    public var adPercent: Double?
}

/// The literature tables of docs/phantom.md, parsed: what the calibration tests check the phantom against.
public struct LiteratureTable: Sendable {
    public var rows: [LiteratureRow]
    /// Atypical AD presentations: name → frequency among AD (fraction; a range "a..b" gives its middle).
    public var variantFrequencies: [String: Double]

    public func row(_ region: String) -> LiteratureRow? { rows.first { $0.region == region } }

    /// Parses the markdown: the regional table is the one whose header has `region`, `AAL2 labels`,
    /// `reference`, `NC mean` and `NC SD` columns (any order; further columns by name); cells are
    /// numbers or `n/a`. Labels are AAL2 names as in atlas-AAL2_dseg.tsv, mapped to codes by `regions`.
    public static func parse(markdown: String, regions: RegionTable, source: String = "docs/phantom.md") throws -> LiteratureTable {
        func bad(_ why: String) -> PhantomError { .invalidParameters(source: source, reason: why) }
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        func cells(_ line: String) -> [String] {
            var t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("|") { t.removeFirst() }
            if t.hasSuffix("|") { t.removeLast() }
            return t.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        /// The rows of the table whose header satisfies `isHeader`: (header, rows).
        func table(_ isHeader: ([String]) -> Bool) -> ([String], [[String]])? {
            for (i, line) in lines.enumerated() where line.trimmingCharacters(in: .whitespaces).hasPrefix("|") {
                let h = cells(line).map { $0.lowercased() }
                guard isHeader(h), i + 1 < lines.count, lines[i + 1].contains("---") else { continue }
                var body: [[String]] = []
                for l in lines[(i + 2)...] {
                    guard l.trimmingCharacters(in: .whitespaces).hasPrefix("|") else { break }
                    body.append(cells(l))
                }
                return (h, body)
            }
            return nil
        }
        func number(_ cell: String, _ what: String) throws -> Double? {
            let c = cell.replacingOccurrences(of: "−", with: "-").replacingOccurrences(of: "+", with: "")
            if c.lowercased() == "n/a" || c.isEmpty { return nil }
            if let v = Double(c) { return v }
            let parts = c.components(separatedBy: "..")
            if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]) { return (a + b) / 2 }
            throw bad("\(what): '\(cell)' is neither a number nor n/a")
        }
        let needed = ["region", "aal2 labels", "reference", "nc mean", "nc sd"]
        guard let (header, body) = table({ h in needed.allSatisfy(h.contains) }) else {
            throw bad("no literature table with columns \(needed.joined(separator: ", "))")
        }
        func column(_ prefix: String) -> Int? { header.firstIndex { $0.hasPrefix(prefix) } }
        let ci = needed.map { header.firstIndex(of: $0)! }
        let ageC = column("age change"), mciC = column("mci change"), adC = column("ad change")
        var byName: [String: Int] = [:]
        for (c, n) in zip(regions.codes, regions.names) { byName[n] = c }
        var rows: [LiteratureRow] = []
        for r in body {
            guard r.count == header.count else { throw bad("row '\(r.first ?? "")' has \(r.count) cells, the header \(header.count)") }
            let name = r[ci[0]]
            var codes: [Int] = []
            for label in r[ci[1]].split(separator: " ").map(String.init) where !label.isEmpty {
                guard let code = byName[label] else { throw bad("row '\(name)': '\(label)' is not an AAL2 label") }
                codes.append(code)
            }
            guard let ref = ReferenceRegion(rawValue: r[ci[2]].lowercased()) else {
                throw bad("row '\(name)': reference '\(r[ci[2]])' is not one of \(ReferenceRegion.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            rows.append(LiteratureRow(region: name, codes: codes, reference: ref,
                                      ncMean: try number(r[ci[3]], "\(name) NC mean"), ncSD: try number(r[ci[4]], "\(name) NC SD"),
                                      agePercentPerDecade: try ageC.flatMap { try number(r[$0], "\(name) age") },
                                      mciPercent: try mciC.flatMap { try number(r[$0], "\(name) MCI") },
                                      adPercent: try adC.flatMap { try number(r[$0], "\(name) AD") }))
        }
        var variants: [String: Double] = [:]
        if let (vh, vb) = table({ $0.first == "variant" && $0.contains { $0.hasPrefix("frequency") } }),
           let fc = vh.firstIndex(where: { $0.hasPrefix("frequency") }) {
            for r in vb where r.count == vh.count {
                if let f = try number(r[fc], "variant \(r[0]) frequency") { variants[r[0]] = f / 100 }
            }
        }
        return LiteratureTable(rows: rows, variantFrequencies: variants)
    }

    /// Reads and parses a markdown file.
    public static func load(path: String, regions: RegionTable) throws -> LiteratureTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PhantomError.unreadable(path: path, reason: "no such file or not UTF-8 text")
        }
        return try parse(markdown: text, regions: regions, source: path)
    }
}

extension GridAtlas {
    /// Voxels of a reference region on this grid (the pons is the generator's own mask).
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
