// `petgan phantom --report DIR`: builds a phantom cohort (PhantomCohortJob) or takes an existing store,
// then writes PETMetrics' cohort report (regional table beside the literature table, classification
// difficulty by repeated cross-validation, montage) into DIR.
import Foundation
import PETCohort
import PETMetrics
import PETTensor
import PETVolumes

public struct PhantomReportJob {
    /// The cohort to build (its `out` is the store the report reads); nil with `existingStore`.
    public var cohort: PhantomCohortJob?
    /// An existing cohort store to report on instead of building one.
    public var existingStore: String?
    public var directory: String
    public var plan: CrossValidationPlan
    public var literaturePath: String? = nil
    public var templatesDirectory: String? = nil
    public var classifiers: [DifficultyClassifier] = DifficultyClassifier.allCases
    public var cnnMinSteps: Int? = nil
    public var command: String? = nil
    public var say: (String) -> Void = { print($0) }

    public init(directory: String, plan: CrossValidationPlan) { self.directory = directory; self.plan = plan }

    /// The store a build writes when no --out is given.
    public static func defaultStore(in directory: String) -> String { (directory as NSString).appendingPathComponent("cohort.h5") }

    @discardableResult
    public func run() throws -> CohortReport {
        guard (cohort == nil) != (existingStore == nil) else {
            throw PhantomError.invalidRequest("a report needs either a cohort to build or an existing store (--from), not both")
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw PhantomError.writeFailed(path: directory, reason: error.localizedDescription)
        }
        var store = existingStore ?? ""
        var buildSeconds: Double?
        var seed: UInt64?
        if var job = cohort {
            job.say = say
            let summary = try job.run()
            store = summary.outputPath
            buildSeconds = summary.seconds
            seed = job.seed
        } else if let s = existingStore, let plan = try? HDF5File.open(s).dataset("phantom/plan").readStrings().first,
                  let p = try? JSONDecoder().decode(CohortPlan.self, from: Data(plan.utf8)) {
            seed = p.seed
        }
        var o = CohortReportOptions(store: store, directory: directory, plan: plan)
        o.templatesDirectory = templatesDirectory ?? cohort?.templatesDirectory
        o.literaturePath = literaturePath
        o.classifiers = classifiers
        o.cnnMinSteps = cnnMinSteps
        o.command = command
        o.cohortSeed = seed
        o.buildSeconds = buildSeconds
        o.progress = .standardError
        o.log = say
        let report = try CohortReporting.run(o)
        for e in report.difficulty.estimates {
            say(String(format: "report: %@ %@: balanced accuracy %.3f (95%% CI %.3f–%.3f, %d folds)", e.task, e.classifier.rawValue,
                       e.balancedAccuracy, e.ci.low, e.ci.high, e.foldBalancedAccuracy.count))
        }
        say("report: wrote \(directory)/report.md, report.html, report.json, \(report.montage) (\(String(format: "%.1f", report.timings.totalSeconds)) s)")
        return report
    }
}
