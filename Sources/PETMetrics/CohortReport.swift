// The report of a labelled cohort (`petgan phantom --report DIR`): the regional table of the cohort
// (mean ± SD per class per region, Cohen's d and z-scores of the class means against NC) beside the
// literature table of docs/phantom.md, the classification difficulty (CohortDifficulty) with its
// confidence intervals, and a montage of one subject per class; written as report.json (this file's
// Codable `CohortReport`), report.md and a self-contained report.html, each under a temporary name
// renamed into place.
//
// Public API:
//   var o = CohortReportOptions(store: "cohort.h5", directory: "report", plan: try CrossValidationPlan(parsing: "5x5"))
//   let report = try CohortReporting.run(o)      // reads the store once, measures, writes the files

import Foundation
import PETCohort
import PETTensor
import PETVolumes

public struct CohortReportOptions {
    /// The cohort: a volume store (or NIfTI folder) `VolumeSet.open` reads, values in SUVR.
    public var store: String
    public var directory: String
    public var plan: CrossValidationPlan
    public var templatesDirectory: String? = nil
    /// The markdown file holding the literature table (nil: docs/phantom.md in the current folder or a parent).
    public var literaturePath: String? = nil
    public var classifiers: [DifficultyClassifier] = DifficultyClassifier.allCases
    /// SmallCNN minimum Adam steps per fit (nil: `evaluate`'s default; tests make it small).
    public var cnnMinSteps: Int? = nil
    public var cnnEpochs: Int? = nil
    /// The command line that made the cohort and report (recorded).
    public var command: String? = nil
    /// Facts about how the cohort was built (recorded): seed, build time.
    public var cohortSeed: UInt64? = nil
    public var buildSeconds: Double? = nil
    public var progress: ProgressReporter.Output = .lines({ _ in })
    public var log: (String) -> Void = { _ in }
    public init(store: String, directory: String, plan: CrossValidationPlan) { self.store = store; self.directory = directory; self.plan = plan }

    /// docs/phantom.md in the current folder or one of its parents (nil when there is none).
    public static func defaultLiteraturePath() -> String? {
        var url = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<8 {
            let c = url.appendingPathComponent("docs/phantom.md")
            if FileManager.default.fileExists(atPath: c.path) { return c.path }
            url.deleteLastPathComponent()
        }
        return nil
    }
}

/// One class in one region of the built cohort.
public struct CohortRegionClass: Codable, Sendable {
    public var className: String
    public var n: Int
    public var mean: Double, sd: Double
    /// (mean − NC mean) / NC mean, percent (nil for NC itself or without NC).
    public var changePercent: Double?
    /// Cohen's d against NC: (mean − NC mean) / pooled SD.
    public var cohenD: Double?
    /// z-score of the class mean against the NC distribution: (mean − NC mean) / NC SD.
    public var zAgainstNC: Double?
}

/// One row of the regional table: a literature region (or an AAL2 label when there is no table).
public struct CohortRegionRow: Codable, Sendable {
    public var region: String
    public var codes: [Int]
    public var voxels: Int
    /// What the built values are normalised to (the literature row's reference; pons without one).
    public var reference: ReferenceRegion
    public var classes: [CohortRegionClass]
    /// Coefficient of variation of NC (SD / mean).
    public var ncCV: Double?
    public var literature: LiteratureRow?
    /// (built NC mean − literature NC mean) / literature NC SD.
    public var ncZAgainstLiterature: Double?
}

public struct CohortDescription: Codable, Sendable {
    public var path: String
    public var units: String
    public var shape: [Int]
    public var voxelSizeMM: [Double]
    public var classNames: [String]
    public var classCounts: [String: Int]
    public var subjects: Int
    public var seed: UInt64?
    public var buildSeconds: Double?
}

public struct CohortReportTimings: Codable, Sendable {
    public var readSeconds: Double, difficultySeconds: Double, totalSeconds: Double
}

/// report.json.
public struct CohortReport: Codable, Sendable {
    public var title: String
    public var petganVersion: String
    public var command: String?
    public var cohort: CohortDescription
    public var literatureSource: String?
    public var notes: [String]
    /// How each reference region is measured (keyed by `ReferenceRegion.rawValue`).
    public var referenceRegions: [String: String]
    public var regional: [CohortRegionRow]
    public var difficulty: DifficultyResult
    /// Real-data ranges the issue asks the difficulty to land in (issue 15 §4), per task name.
    public var targetRanges: [String: [Double]]
    public var montage: String
    public var montageRows: [String]
    public var timings: CohortReportTimings
}

public enum CohortReporting {
    /// What each reference region is (report.json's `referenceRegions`).
    static let referenceDescriptions: [ReferenceRegion: String] = [
        .pons: "mean over the pons mask (the template pons mask resampled to the grid, trilinear value ≥ 0.5: the phantom's own SUVR denominator, so ≈ 1 on a phantom store)",
        .cerebellum: "mean over the AAL2 cerebellar hemispheres (Cerebelum_* labels 9001–9082, vermis excluded, no tissue mask)",
        .global: "mean over the voxels whose template GM + WM probability is ≥ 0.5 (the maps as the phantom builds them for this voxel size)",
    ]

    /// The AAL2 codes of the grid and the voxels of every reference region, by the rule the calibration
    /// tests measure with: `GridAtlas.referenceVoxels` on the anatomy the phantom builds for this voxel
    /// size (its largest side, as `PhantomCohort.build`), the pons as `PhantomAnatomy.ponsVoxels(on:)`.
    static func referenceVoxels(grid: VolumeGrid, templatesDirectory: String?) throws
        -> (codes: [Int32], regions: RegionTable, references: [ReferenceRegion: [Int]]) {
        let vs = grid.voxelSize
        let anatomy = try PhantomAnatomy.load(directory: templatesDirectory, outputVoxelMM: max(vs.0, vs.1, vs.2))
        let atlas = GridAtlas(anatomy: anatomy, grid: grid)
        let pons = anatomy.ponsVoxels(on: grid)
        let refs = Dictionary(uniqueKeysWithValues: ReferenceRegion.allCases.map { ($0, atlas.referenceVoxels($0, pons: pons)) })
        return (atlas.codes, anatomy.regions, refs)
    }

    static let targets: [String: [Double]] = ["NC vs AD": [0.80, 0.92], "NC vs MCI": [0.60, 0.72], "3-class (NC/MCI/AD)": [0.55, 0.70]]

    public static func run(_ o: CohortReportOptions) throws -> CohortReport {
        let t0 = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: o.directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw MetricsError.writeFailed(path: o.directory, reason: "exists and is not a folder") }
        } else {
            do { try FileManager.default.createDirectory(atPath: o.directory, withIntermediateDirectories: true) } catch {
                throw MetricsError.writeFailed(path: o.directory, reason: error.localizedDescription)
            }
        }
        let set = try VolumeSet.open(o.store)
        guard set.classNames.count >= 2 else {
            throw MetricsError.tooSmall(detail: "\(o.store): the report needs at least two classes (has \(set.classNames.joined(separator: ", ")))")
        }
        let grid = VolumeGrid(shape: set.shape, affine: set.affine)
        let (codes, table, refVoxels) = try referenceVoxels(grid: grid, templatesDirectory: o.templatesDirectory)
        var notes: [String] = []
        // The literature table and the groups of the regional table.
        var literature: LiteratureTable?
        if let p = o.literaturePath {
            literature = try LiteratureTable.load(path: p, regions: table)
        } else if let p = CohortReportOptions.defaultLiteraturePath() {
            // A docs/phantom.md found on the way up may predate the table: say so and go on without it.
            do { literature = try LiteratureTable.load(path: p, regions: table) } catch {
                notes.append("No literature table read from \(p) (\(error)): the regional table lists every AAL2 label.")
            }
        } else {
            notes.append("No literature table (docs/phantom.md not found; --literature names it): the regional table lists every AAL2 label.")
        }
        let present = Set(codes)
        var tableGroups: [RegionGroup] = []
        var tableLiterature: [LiteratureRow?] = []
        if let lit = literature {
            for row in lit.rows {
                let c = row.codes.filter { present.contains(Int32($0)) }
                if c.isEmpty { notes.append("Literature region '\(row.region)' has no voxel on this grid; left out."); continue }
                tableGroups.append(RegionGroup(name: row.region, codes: c)); tableLiterature.append(row)
            }
        } else {
            for (c, n) in zip(table.codes, table.names) where present.contains(Int32(c)) { tableGroups.append(RegionGroup(name: n, codes: [c])); tableLiterature.append(nil) }
        }
        // Rows without a literature row are pons-referenced (the store's own SUVR reference).
        let rowReference = tableLiterature.map { $0?.reference ?? .pons }
        for r in ReferenceRegion.allCases where rowReference.contains(r) && refVoxels[r]!.isEmpty {
            throw MetricsError.badInput(path: o.store, reason: "the grid holds no voxel of the \(r.rawValue) reference region (\(referenceDescriptions[r]!))")
        }
        let tableExtractor = try RegionalSUVR(codes: codes, groups: tableGroups)
        let featureExtractor = try RegionalSUVR.aal2(grid: grid, templatesDirectory: o.templatesDirectory)

        // One pass over the volumes: features for the difficulty, the regional table, the montage rows.
        let tRead = DispatchTime.now().uptimeNanoseconds
        o.log("report: reading \(set.count) volumes of \(o.store) (regional SUVR, block averages)")
        var features = CohortFeatures(classNames: set.classNames, volumeShape: set.shape, groups: featureExtractor.groups)
        var tableValues: [[Double]] = []
        var referenceMeans: [[ReferenceRegion: Double]] = []
        var firstOfClass: [Int: Volume] = [:], firstName: [Int: String] = [:]
        let bar = ProgressReporter(label: "report: regional SUVR", total: set.count, output: o.progress)
        for i in 0..<set.count {
            guard set.labels[i] >= 0 else { throw MetricsError.badInput(path: o.store, reason: "volume \(i) has no class label") }
            let v = try set.volume(i)
            guard v.data.allSatisfy({ $0.isFinite }) else { throw MetricsError.badInput(path: o.store, reason: "volume \(i) (\(set.names[i])) has non-finite values") }
            features.add(v.data, label: set.labels[i], id: set.names[i], extractor: featureExtractor)
            tableValues.append(tableExtractor.means(v.data))
            referenceMeans.append(refVoxels.filter { !$0.value.isEmpty }.mapValues { GridAtlas.mean(v.data, $0) })
            if firstOfClass[set.labels[i]] == nil { firstOfClass[set.labels[i]] = v; firstName[set.labels[i]] = set.names[i] }
            bar.update(i + 1)
        }
        bar.finish()
        let readSeconds = seconds(since: tRead)

        // The regional table.
        let nc = set.classNames.firstIndex { $0 == "NC" || $0 == "CN" }
        var rows: [CohortRegionRow] = []
        for (g, group) in tableGroups.enumerated() {
            let lit = tableLiterature[g]
            let reference = rowReference[g]
            func column(_ label: Int) -> [Double] {
                features.labels.indices.filter { features.labels[$0] == label }.map { s in tableValues[s][g] / referenceMeans[s][reference]! }
            }
            let ncValues = nc.map(column)
            let ncSummary = ncValues.map(Summary.init)
            var classes: [CohortRegionClass] = []
            for (k, name) in set.classNames.enumerated() {
                let xs = column(k)
                let s = Summary(xs)
                var row = CohortRegionClass(className: name, n: s.n, mean: s.mean, sd: s.sd)
                if let ncS = ncSummary, k != nc {
                    row.changePercent = 100 * (s.mean - ncS.mean) / ncS.mean
                    row.zAgainstNC = (s.mean - ncS.mean) / ncS.sd
                    let pooled = (((Double(s.n) - 1) * s.sd * s.sd + (Double(ncS.n) - 1) * ncS.sd * ncS.sd) / Double(s.n + ncS.n - 2)).squareRoot()
                    row.cohenD = (s.mean - ncS.mean) / pooled
                }
                classes.append(row)
            }
            var r = CohortRegionRow(region: group.name, codes: group.codes, voxels: tableExtractor.voxels[g].count, reference: reference,
                                    classes: classes, ncCV: ncSummary.map { $0.sd / $0.mean }, literature: lit)
            if let ncS = ncSummary, let m = lit?.ncMean.value, let sd = lit?.ncSD.value, sd > 0 { r.ncZAgainstLiterature = (ncS.mean - m) / sd }
            rows.append(r)
        }

        // The difficulty.
        let tDiff = DispatchTime.now().uptimeNanoseconds
        var d = DifficultyOptions(plan: o.plan)
        d.classifiers = o.classifiers
        if let s = o.cnnMinSteps { d.cnnMinSteps = s }
        if let e = o.cnnEpochs { d.cnnEpochs = e }
        d.progress = o.progress
        o.log("report: \(o.plan) cross-validation of \(o.classifiers.map(\.rawValue).joined(separator: " and ")) on \(DifficultyTask.standard(classNames: set.classNames).map(\.name).joined(separator: ", "))")
        let difficulty = try CohortDifficulty.measure(features, options: d)
        let difficultySeconds = seconds(since: tDiff)
        for e in difficulty.estimates where e.foldSD == 0 {
            notes.append("\(e.task), \(e.classifier.rawValue): every fold scored \(f(e.balancedAccuracy)), so the t-interval has zero width; it cannot express uncertainty when all folds agree.")
        }

        // The montage: the first subject of each class, axial, coronal and sagittal mid-slices.
        let order = set.classNames.indices.filter { firstOfClass[$0] != nil }
        let img = Montage.render(order.map { firstOfClass[$0]! }, options: MontageOptions(colorMap: .inferno, zoom: 2, window: CohortRequest.displayWindowSUVR))
        let montageName = "montage.png"
        let montagePath = (o.directory as NSString).appendingPathComponent(montageName)
        try writeAtomically(montagePath) { try PNGFile.write(img, to: $0) }

        let vs = grid.voxelSize
        let counts = Dictionary(grouping: features.labels, by: { set.classNames[$0] }).mapValues(\.count)
        let report = CohortReport(
            title: "Phantom cohort report", petganVersion: PETGANVersion.string, command: o.command,
            cohort: CohortDescription(path: o.store, units: set.units, shape: set.shape, voxelSizeMM: [vs.0, vs.1, vs.2], classNames: set.classNames,
                                      classCounts: counts, subjects: set.count, seed: o.cohortSeed, buildSeconds: o.buildSeconds),
            literatureSource: literature?.path, notes: notes,
            referenceRegions: Dictionary(uniqueKeysWithValues: referenceDescriptions.map { ($0.key.rawValue, "regional mean / \($0.value), of the same subject") }),
            regional: rows, difficulty: difficulty, targetRanges: targets, montage: montageName,
            montageRows: order.map { "\(set.classNames[$0]): \(firstName[$0]!)" },
            timings: CohortReportTimings(readSeconds: readSeconds, difficultySeconds: difficultySeconds, totalSeconds: seconds(since: t0)))
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let json = try enc.encode(report)
        try writeAtomically((o.directory as NSString).appendingPathComponent("report.json")) { try json.write(to: URL(fileURLWithPath: $0)) }
        try writeAtomically((o.directory as NSString).appendingPathComponent("report.md")) { try markdown(report).write(toFile: $0, atomically: false, encoding: .utf8) }
        try writeAtomically((o.directory as NSString).appendingPathComponent("report.html")) {
            try html(report, montageURI: Figures.dataURI(montagePath)).write(toFile: $0, atomically: false, encoding: .utf8)
        }
        return report
    }

    static func writeAtomically(_ path: String, _ write: (String) throws -> Void) throws {
        let tmp = (path as NSString).deletingLastPathComponent + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        do { try write(tmp) } catch { unlink(tmp); throw MetricsError.writeFailed(path: path, reason: "\(error)") }
        if rename(tmp, path) != 0 { unlink(tmp); throw MetricsError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    }

    static func f(_ v: Double?, _ digits: Int = 3) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.\(digits)f", v)
    }

    static func signed(_ v: Double?, _ digits: Int = 1) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%+.\(digits)f", v)
    }

    /// "NC 1.234 ± 0.056" cells of a row, in class order.
    static func classCells(_ r: CohortRegionRow) -> [String] { r.classes.map { "\(f($0.mean)) ± \(f($0.sd))" } }

    static func literatureCells(_ l: LiteratureRow?) -> [String] {
        guard let l else { return ["–", "–", "–", "–"] }
        let nc = l.ncMean.value == nil ? l.ncMean.text : (l.ncSD.value == nil ? "\(l.ncMean.text) (SD \(l.ncSD.text))" : "\(l.ncMean.text) ± \(l.ncSD.text)")
        return ["\(nc) (\(l.referenceText))", l.mciChangePercent.text, l.adChangePercent.text, l.sources]
    }

    static func comparisonCells(_ r: CohortRegionRow, _ className: String) -> String {
        guard let c = r.classes.first(where: { $0.className == className }), c.changePercent != nil else { return "–" }
        return "\(signed(c.changePercent))% (d \(f(c.cohenD, 2)), z \(f(c.zAgainstNC, 2)))"
    }

    static func difficultyRows(_ r: CohortReport) -> [[String]] {
        r.difficulty.estimates.map { e in
            let t = r.targetRanges[e.task].map { "\(f($0[0], 2))–\(f($0[1], 2))" } ?? "–"
            return [e.task, e.classifier.rawValue, f(e.balancedAccuracy), "\(f(e.ci.low))–\(f(e.ci.high))", f(e.foldSD), f(e.auc),
                    "\(e.subjects) (\(f(e.meanTrain, 1)) / \(f(e.meanTest, 1)))", t, f(e.seconds, 1)]
        }
    }

    static let difficultyHeader = ["task", "classifier", "balanced accuracy (mean of folds)", "95% CI", "fold SD", "AUC", "subjects (train / test per fold)",
                                   "issue 15 real-data range", "seconds"]

    static func regionalHeader(_ r: CohortReport) -> [String] {
        let others = r.cohort.classNames.filter { $0 != "NC" && $0 != "CN" }
        return ["region", "ref.", "voxels"] + r.cohort.classNames.map { "\($0) mean ± SD" } + ["NC CV"] + others.map { "\($0) vs NC: change (d, z)" }
            + ["literature NC mean ± SD (ref.)", "literature MCI change (%)", "literature AD change (%)", "NC z vs literature", "sources"]
    }

    static func regionalCells(_ r: CohortReport, _ row: CohortRegionRow) -> [String] {
        let others = r.cohort.classNames.filter { $0 != "NC" && $0 != "CN" }
        let lit = literatureCells(row.literature)
        return [row.region, row.reference.rawValue, String(row.voxels)] + classCells(row) + [f(row.ncCV.map { 100 * $0 }, 1) + "%"]
            + others.map { comparisonCells(row, $0) } + lit.prefix(3) + [f(row.ncZAgainstLiterature, 2), lit[3]]
    }

    static func summaryLines(_ r: CohortReport) -> [String] {
        let c = r.cohort
        var s = ["Cohort: `\(c.path)`, \(c.subjects) subjects (\(c.classNames.map { "\($0) \(c.classCounts[$0] ?? 0)" }.joined(separator: ", "))), grid \(c.shape.map(String.init).joined(separator: "×")) (D×H×W) at \(c.voxelSizeMM.map { f($0, 2) }.joined(separator: "×")) mm, \(c.units)\(c.seed.map { ", seed \($0)" } ?? "")."]
        if let cmd = r.command { s.append("Command: `\(cmd)`") }
        s.append("Times: \(c.buildSeconds.map { "cohort built in \(f($0, 1)) s, " } ?? "")volumes read in \(f(r.timings.readSeconds, 1)) s, cross-validation \(f(r.timings.difficultySeconds, 1)) s, report total \(f(r.timings.totalSeconds, 1)) s. PETGAN \(r.petganVersion).")
        return s
    }

    static func methodLines(_ r: CohortReport) -> [String] {
        let d = r.difficulty
        return ["Cross-validation: \(d.plan.repeats)× repeated stratified \(d.plan.folds)-fold (seed \(d.plan.seed); folds stratified by class, the same folds for both classifiers); the score is the mean balanced accuracy over the \(d.plan.repeats * d.plan.folds) held-out folds.",
                "Interval: \(d.ciMethod), \(Int(100 * d.level))% level, not clipped to [0, 1].",
                "Logistic regression: \(d.logisticRegression); features: \(d.features).",
                "CNN: \(d.cnn).",
                "Regional table: mean over every voxel of the row's AAL2 labels (nearest-neighbour atlas, no tissue mask), divided by the row's reference region; Cohen's d uses the pooled SD of the class and NC; z = (class mean − NC mean) / NC SD; NC z vs literature = (built NC mean − literature NC mean) / literature NC SD."]
    }

    public static func markdown(_ r: CohortReport) -> String {
        func table(_ header: [String], _ rows: [[String]]) -> String {
            func line(_ c: [String]) -> String { "| " + c.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
            return ([line(header), line(header.map { _ in "---" })] + rows.map(line)).joined(separator: "\n")
        }
        var m = "# \(r.title)\n\n" + summaryLines(r).joined(separator: "\n") + "\n\n"
        if !r.notes.isEmpty { m += r.notes.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        m += "![One subject per class (rows \(r.montageRows.joined(separator: "; "))); axial, coronal, sagittal; SUVR 0–3, inferno](\(r.montage))\n\n"
        m += "## Classification difficulty\n\n" + table(difficultyHeader, difficultyRows(r)) + "\n\n"
        m += methodLines(r).map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        m += "## Regional table\n\n"
        if let src = r.literatureSource { m += "Literature columns from `\(src)` (section \"\(LiteratureTable.title)\").\n\n" }
        m += table(regionalHeader(r), r.regional.map { regionalCells(r, $0) }) + "\n"
        return m
    }

    /// Balanced accuracy with its interval per task and classifier, the issue's ranges shaded.
    static func intervalChart(_ r: CohortReport) -> String {
        let es = r.difficulty.estimates
        let rowH = 26.0, left = 250.0, width = 720.0, plotW = width - left - 20
        let height = Double(es.count) * rowH + 50
        func x(_ v: Double) -> Double { left + plotW * min(1, max(0, v)) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"balanced accuracy with confidence intervals\">"
        for k in 0...10 {
            let v = Double(k) / 10
            s += "<line x1=\"\(x(v))\" y1=\"10\" x2=\"\(x(v))\" y2=\"\(height - 30)\" stroke=\"#e4e4e4\"/>"
            s += "<text x=\"\(x(v))\" y=\"\(height - 16)\" font-size=\"10\" text-anchor=\"middle\">\(String(format: "%.1f", v))</text>"
        }
        s += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 2)\" font-size=\"11\" text-anchor=\"middle\">balanced accuracy (mean of folds, \(Int(100 * r.difficulty.level))% CI; shaded: issue 15 real-data range)</text>"
        for (i, e) in es.enumerated() {
            let y = 14 + Double(i) * rowH
            if let t = r.targetRanges[e.task] {
                s += "<rect x=\"\(x(t[0]))\" y=\"\(y)\" width=\"\(x(t[1]) - x(t[0]))\" height=\"\(rowH - 6)\" fill=\"#cfe8cf\"/>"
            }
            s += "<text x=\"\(left - 8)\" y=\"\(y + 14)\" font-size=\"11\" text-anchor=\"end\">\(Figures.esc("\(e.task) · \(e.classifier.rawValue)"))</text>"
            if e.ci.low.isFinite && e.ci.high.isFinite {
                s += "<line x1=\"\(x(e.ci.low))\" y1=\"\(y + 10)\" x2=\"\(x(e.ci.high))\" y2=\"\(y + 10)\" stroke=\"#333\" stroke-width=\"2\"/>"
            }
            if e.balancedAccuracy.isFinite {
                s += "<circle cx=\"\(x(e.balancedAccuracy))\" cy=\"\(y + 10)\" r=\"4\" fill=\"\(e.classifier == .smallCNN ? "#d62728" : "#1f77b4")\"/>"
            }
        }
        return s + "</svg>"
    }

    public static func html(_ r: CohortReport, montageURI: String) -> String {
        func table(_ header: [String], _ rows: [[String]]) -> String {
            "<table><thead><tr>" + header.map { "<th>\(Figures.esc($0))</th>" }.joined() + "</tr></thead><tbody>"
                + rows.map { "<tr>" + $0.map { "<td>\(Figures.esc($0))</td>" }.joined() + "</tr>" }.joined() + "</tbody></table>"
        }
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(Figures.esc(r.title))</title>
        <style>
        body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;margin:0.6em 0;font-size:12px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}
        th{background:#f3f3f3}img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}figcaption{font-size:12px;color:#555}
        .note{background:#fff8e1;padding:0.5em 0.8em;border-left:4px solid #f0c000}li{font-size:13px}
        </style></head><body>
        <h1>\(Figures.esc(r.title))</h1>

        """
        h += summaryLines(r).map { "<p>\(Figures.esc($0.replacingOccurrences(of: "`", with: "")))</p>" }.joined()
        if !r.notes.isEmpty { h += "<div class=\"note\"><ul>" + r.notes.map { "<li>\(Figures.esc($0))</li>" }.joined() + "</ul></div>" }
        h += "<figure><img src=\"\(montageURI)\" alt=\"one subject per class\"><figcaption>Rows: \(Figures.esc(r.montageRows.joined(separator: "; "))). Axial, coronal, sagittal mid-slices; SUVR 0–3, inferno.</figcaption></figure>"
        h += "<h2>Classification difficulty</h2>" + table(difficultyHeader, difficultyRows(r)) + intervalChart(r)
        h += "<ul>" + methodLines(r).map { "<li>\(Figures.esc($0))</li>" }.joined() + "</ul>"
        h += "<h2>Regional table</h2>"
        if let src = r.literatureSource { h += "<p>Literature columns from <code>\(Figures.esc(src))</code>.</p>" }
        h += table(regionalHeader(r), r.regional.map { regionalCells(r, $0) })
        h += "<hr><p style=\"font-size:12px;color:#777\">Generated by <code>petgan phantom --report</code>; every number is in <code>report.json</code>.</p></body></html>\n"
        return h
    }
}
