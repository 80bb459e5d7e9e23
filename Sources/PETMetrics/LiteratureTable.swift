// The literature table of normal FDG regional uptake in docs/phantom.md (section
// "## Literature table: normal FDG regional uptake"), read the way a reader sees it: one row per region
// with its AAL2 labels, reference region, NC mean and SD, age change per decade and MCI/AD changes (%),
// and sources. `petgan phantom --report` sets the built cohort beside it.
//
// Public API:
//   let table = try LiteratureTable.load(path: "docs/phantom.md", regions: RegionTable.parse(tsv: …))
//   table.rows[i].codes (AAL2 codes of the row) ; table.rows[i].ncMean.value

import Foundation
import PETCohort

/// A number of the table as written ("1.42", "−8", "−5 to −10", "n/a") and what it says.
public struct LiteratureValue: Codable, Equatable, Sendable {
    public var text: String
    /// The number, or the midpoint of a range; nil when the cell holds none.
    public var value: Double?
    /// The ends of a range ("8–12", "−5 to −10"); nil for a single number.
    public var low: Double?, high: Double?

    public init(parsing cell: String) {
        text = cell
        // Unicode minus and dashes as a reader writes them.
        let s = cell.replacingOccurrences(of: "\u{2212}", with: "-").replacingOccurrences(of: "**", with: "")
        let number = #"[-+]?[0-9]+(?:\.[0-9]+)?"#
        let range = try! NSRegularExpression(pattern: "^\\s*[~≈]?\\s*(\(number))\\s*(?:–|—|to|…|\\.\\.|-)\\s*(\(number))")
        let single = try! NSRegularExpression(pattern: number)
        let ns = s as NSString
        if let m = range.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)),
           let a = Double(ns.substring(with: m.range(at: 1))), let b = Double(ns.substring(with: m.range(at: 2))) {
            low = min(a, b); high = max(a, b); value = (a + b) / 2
        } else if let m = single.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) {
            value = Double(ns.substring(with: m.range))
        }
    }
}

/// Which reference region a row's SUVR is normalised to.
public enum ReferenceRegion: String, Codable, Sendable {
    case pons
    case cerebellum
    case globalMean = "global mean"
    case unknown

    init(text: String) {
        let t = text.lowercased()
        if t.contains("pons") { self = .pons } else if t.contains("cerebell") { self = .cerebellum }
        else if t.contains("global") || t.contains("whole brain") || t.contains("whole-brain") { self = .globalMean } else { self = .unknown }
    }
}

public struct LiteratureRow: Codable, Sendable {
    public var region: String
    /// The AAL2 labels cell as written, and the codes and names it resolves to.
    public var aal2Labels: String
    public var codes: [Int]
    public var labelNames: [String]
    public var reference: String
    public var referenceRegion: ReferenceRegion
    public var ncMean: LiteratureValue, ncSD: LiteratureValue
    public var ageChangePerDecadePercent: LiteratureValue
    public var mciChangePercent: LiteratureValue, adChangePercent: LiteratureValue
    public var sources: String
}

public struct LiteratureTable: Codable, Sendable {
    public static let heading = "## Literature table: normal FDG regional uptake"
    public static let columns = ["region", "aal2 labels", "reference", "nc mean", "nc sd", "age change per decade (%)",
                                 "mci change (%)", "ad change (%)", "sources"]
    public var path: String
    public var rows: [LiteratureRow]

    public static func load(path: String, regions: RegionTable) throws -> LiteratureTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw MetricsError.badInput(path: path, reason: "cannot read the literature table (no such file or not UTF-8)")
        }
        return try parse(markdown: text, path: path, regions: regions)
    }

    static func cells(_ line: Substring) -> [String] {
        var t = line.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("|") { t.removeFirst() }
        if t.hasSuffix("|") { t.removeLast() }
        return t.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    public static func parse(markdown: String, path: String, regions: RegionTable) throws -> LiteratureTable {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        guard let h = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(heading) }) else {
            throw MetricsError.badInput(path: path, reason: "no section '\(heading)'")
        }
        var i = h + 1
        var columnOf: [String: Int] = [:]
        while i < lines.count, !lines[i].hasPrefix("## ") {
            if lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
                let names = cells(lines[i]).map { $0.lowercased() }
                if columns.allSatisfy(names.contains) {
                    for (k, n) in names.enumerated() { columnOf[n] = k }
                    break
                }
            }
            i += 1
        }
        guard !columnOf.isEmpty else {
            throw MetricsError.badInput(path: path, reason: "section '\(heading)' has no table with the columns \(columns.joined(separator: " | "))")
        }
        i += 2   // the header and its |---| line
        var rows: [LiteratureRow] = []
        while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
            let c = cells(lines[i])
            guard c.count >= columnOf.count else {
                throw MetricsError.badInput(path: path, reason: "line \(i + 1): \(c.count) cells, the header has \(columnOf.count)")
            }
            func cell(_ name: String) -> String { c[columnOf[name]!] }
            let region = cell("region").replacingOccurrences(of: "**", with: "")
            let (codes, names) = try resolve(labels: cell("aal2 labels"), regions: regions, path: path, line: i + 1)
            rows.append(LiteratureRow(region: region, aal2Labels: cell("aal2 labels"), codes: codes, labelNames: names,
                                      reference: cell("reference"), referenceRegion: ReferenceRegion(text: cell("reference")),
                                      ncMean: LiteratureValue(parsing: cell("nc mean")), ncSD: LiteratureValue(parsing: cell("nc sd")),
                                      ageChangePerDecadePercent: LiteratureValue(parsing: cell("age change per decade (%)")),
                                      mciChangePercent: LiteratureValue(parsing: cell("mci change (%)")),
                                      adChangePercent: LiteratureValue(parsing: cell("ad change (%)")),
                                      sources: cell("sources")))
            i += 1
        }
        guard !rows.isEmpty else { throw MetricsError.badInput(path: path, reason: "the literature table has no rows") }
        return LiteratureTable(path: path, rows: rows)
    }

    /// AAL2 labels of a cell: names (`Precuneus_L`), both sides (`Precuneus`, `Precuneus_L/R`), globs
    /// (`Frontal_*`), or codes (`6301`), separated by commas, semicolons, '+' or spaces.
    static func resolve(labels text: String, regions: RegionTable, path: String, line: Int) throws -> ([Int], [String]) {
        let tokens = text.replacingOccurrences(of: "`", with: "")
            .split(whereSeparator: { ",;+ ".contains($0) }).map(String.init).filter { !$0.isEmpty && $0.lowercased() != "and" }
        var codes: [Int] = []
        func add(_ k: Int) { let code = regions.codes[k]; if !codes.contains(code) { codes.append(code) } }
        for t in tokens {
            if let code = Int(t) {
                guard let k = regions.codes.firstIndex(of: code) else {
                    throw MetricsError.badInput(path: path, reason: "line \(line): AAL2 code \(code) is not in the atlas table")
                }
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
            guard matched else {
                throw MetricsError.badInput(path: path, reason: "line \(line): '\(t)' is not an AAL2 label of the atlas table")
            }
        }
        guard !codes.isEmpty else { throw MetricsError.badInput(path: path, reason: "line \(line): no AAL2 label in '\(text)'") }
        return (codes, codes.map { regions.names[regions.codes.firstIndex(of: $0)!] })
    }
}
