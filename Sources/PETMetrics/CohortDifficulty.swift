// How hard a labelled cohort is to classify, measured the way a PET study would: regional mean SUVR per
// subject through the AAL2 atlas, then repeated stratified k-fold cross-validation of two classifiers,
//   (a) the project's baseline SmallCNN on the volumes, block-averaged and trained exactly as
//       `evaluate` trains it (Evaluation.smallFactor, SmallCNN.FitOptions' epochs and minimum steps);
//   (b) an L2 logistic regression (C = 1, fixed) on the regional SUVRs, standardised inside each
//       training fold;
// for every NC-vs-other-class task and the all-class task, scored by balanced accuracy, with the
// corrected resampled t-interval (CrossValidation.swift) over the r·k fold estimates. Both classifiers
// see the same folds (paired).
//
// Public API:
//   let extractor = try RegionalSUVR.aal2(grid:, templatesDirectory:, groups: nil)   // nil: every AAL2 label
//   var features = CohortFeatures(classNames:, volumeShape:, groups: extractor.groups)
//   features.add(values, label:, id:, extractor:)         // or CohortFeatures.read(set, extractor:)
//   try CohortDifficulty.measure(features, options:) -> DifficultyResult

import Foundation
import PETCohort
import PETTensor
import PETVolumes

/// A region of interest: a name and the AAL2 codes it unites (voxel-weighted mean over their union).
public struct RegionGroup: Codable, Equatable, Sendable {
    public var name: String
    public var codes: [Int]
    public init(name: String, codes: [Int]) { self.name = name; self.codes = codes }
}

/// Regional mean values of volumes on one grid: for each group, the mean over every voxel whose AAL2
/// label (nearest neighbour, the atlas `evaluate`'s regional statistics use) is one of its codes. No
/// tissue mask: what an analysis of spatially normalised PET without the subject's MRI measures, partial
/// volume included.
public struct RegionalSUVR: Sendable {
    public let groups: [RegionGroup]
    /// Voxel indices of each group (volume order).
    public let voxels: [[Int]]
    public let voxelCount: Int

    /// - codes: AAL2 code of every voxel of the grid (0 = background).
    public init(codes: [Int32], groups: [RegionGroup]) throws {
        var byCode: [Int32: [Int]] = [:]
        for (i, c) in codes.enumerated() where c != 0 { byCode[c, default: []].append(i) }
        var vox: [[Int]] = []
        for g in groups {
            let v = g.codes.flatMap { byCode[Int32($0)] ?? [] }.sorted()
            guard !v.isEmpty else {
                throw MetricsError.tooSmall(detail: "region '\(g.name)' (AAL2 codes \(g.codes.map(String.init).joined(separator: ", "))) has no voxel on this grid")
            }
            vox.append(v)
        }
        self.groups = groups; voxels = vox; voxelCount = codes.count
    }

    /// The AAL2 atlas of PETGAN's templates on `grid`; `groups` nil = every AAL2 label on its own
    /// (left and right separately, the labels present on the grid, in the atlas table's order).
    public static func aal2(grid: VolumeGrid, templatesDirectory: String? = nil, groups: [RegionGroup]? = nil) throws -> RegionalSUVR {
        let (codes, table) = try GridAtlas.aal2Codes(directory: templatesDirectory, grid: grid)
        let present = Set(codes)
        let g = groups ?? zip(table.codes, table.names).filter { present.contains(Int32($0.0)) }.map { RegionGroup(name: $0.1, codes: [$0.0]) }
        return try RegionalSUVR(codes: codes, groups: g)
    }

    /// Mean of `values` in every group.
    public func means(_ values: [Float]) -> [Double] {
        precondition(values.count == voxelCount, "a volume of \(values.count) voxels on a grid of \(voxelCount)")
        return values.withUnsafeBufferPointer { v in
            voxels.map { idx in
                var s = 0.0
                for i in idx { s += Double(v[i]) }
                return s / Double(idx.count)
            }
        }
    }
}

/// What the difficulty measurement needs of each subject, gathered in one pass over the volumes.
public struct CohortFeatures: Codable, Sendable {
    public var classNames: [String]
    public var volumeShape: [Int]
    public var groups: [RegionGroup]
    public var labels: [Int] = []
    public var subjectIDs: [String] = []
    /// Subject × group mean SUVR.
    public var regionalSUVR: [[Double]] = []
    /// The SmallCNN's input: each volume block-averaged as `evaluate` does (largest axis ≤ 32 voxels).
    public var blockAverages: [[Float]] = []
    public var blockShape: [Int]
    public var blockFactor: Int

    public init(classNames: [String], volumeShape: [Int], groups: [RegionGroup]) {
        precondition(volumeShape.count == 3)
        self.classNames = classNames; self.volumeShape = volumeShape; self.groups = groups
        blockFactor = Evaluation.smallFactor(volumeShape)
        let fd = volumeShape[0] > 1 ? blockFactor : 1
        blockShape = [max(1, volumeShape[0] / fd), max(1, volumeShape[1] / blockFactor), max(1, volumeShape[2] / blockFactor)]
    }

    /// Adds one subject's volume (D·H·W values, SUVR).
    public mutating func add(_ values: [Float], label: Int, id: String, extractor: RegionalSUVR) {
        precondition(label >= 0 && label < classNames.count, "label \(label) of \(classNames)")
        labels.append(label); subjectIDs.append(id)
        regionalSUVR.append(extractor.means(values))
        blockAverages.append(ImageMetrics.downsample(values, shape: volumeShape, factor: blockFactor).0)
    }

    /// Reads every volume of a set (in its physical units: SUVR for a phantom store).
    public static func read(_ set: VolumeSet, extractor: RegionalSUVR, progress: ProgressReporter.Output = .lines({ _ in })) throws -> CohortFeatures {
        var f = CohortFeatures(classNames: set.classNames, volumeShape: set.shape, groups: extractor.groups)
        let bar = ProgressReporter(label: "regional SUVR", total: set.count, output: progress)
        for i in 0..<set.count {
            guard set.labels[i] >= 0 else { throw MetricsError.badInput(path: set.path, reason: "volume \(i) has no class label") }
            f.add(try set.values(i), label: set.labels[i], id: set.names[i], extractor: extractor)
            bar.update(i + 1)
        }
        bar.finish()
        return f
    }

    /// Column `group` of the regional table for the subjects of class `label`.
    public func values(group: Int, label: Int) -> [Double] {
        labels.indices.filter { labels[$0] == label }.map { regionalSUVR[$0][group] }
    }
}

public enum DifficultyClassifier: String, Codable, CaseIterable, Sendable {
    case smallCNN = "SmallCNN"
    case logisticRegression = "logistic regression"

    /// What the classifier sees and how it is fitted.
    public var input: String {
        switch self {
        case .smallCNN: return "block-averaged SUVR volumes, trained as `evaluate` trains it"
        case .logisticRegression: return "regional mean SUVR (AAL2), standardised in each training fold"
        }
    }
}

/// A classification task: a subset of the cohort's classes.
public struct DifficultyTask: Codable, Equatable, Sendable {
    public var name: String
    public var classes: [String]

    /// NC vs each other class (AD first, then the others in cohort order), then all classes when
    /// there are three or more. Without NC (or CN): the first class vs each other one.
    public static func standard(classNames: [String]) -> [DifficultyTask] {
        guard classNames.count >= 2 else { return [] }
        let control = classNames.first { $0 == "NC" || $0 == "CN" } ?? classNames[0]
        var others = classNames.filter { $0 != control }
        if let ad = others.firstIndex(of: "AD") { others.insert(others.remove(at: ad), at: 0) }
        var tasks = others.map { DifficultyTask(name: "\(control) vs \($0)", classes: [control, $0]) }
        if classNames.count >= 3 { tasks.append(DifficultyTask(name: "\(classNames.count)-class (\(classNames.joined(separator: "/")))", classes: classNames)) }
        return tasks
    }
}

public struct DifficultyOptions {
    public var plan: CrossValidationPlan
    public var classifiers: [DifficultyClassifier] = DifficultyClassifier.allCases
    /// Tasks (nil: `DifficultyTask.standard`).
    public var tasks: [DifficultyTask]? = nil
    /// SmallCNN fit: `evaluate`'s defaults (EvaluationOptions.classifierEpochs / classifierMinSteps).
    public var cnnEpochs = EvaluationOptions(real: "", synthetic: "", out: "").classifierEpochs
    public var cnnMinSteps = EvaluationOptions(real: "", synthetic: "", out: "").classifierMinSteps
    /// Logistic regression's C (fixed, not tuned: scikit-learn's default).
    public var inverseRegularization = 1.0
    public var level = 0.95
    /// Where the fold-by-fold progress (with ETA) goes.
    public var progress: ProgressReporter.Output = .lines({ _ in })
    public init(plan: CrossValidationPlan) { self.plan = plan }
}

/// One classifier on one task: the r·k fold scores and their summary.
public struct DifficultyEstimate: Codable, Sendable {
    public var task: String
    public var classes: [String]
    public var classifier: DifficultyClassifier
    /// Balanced accuracy of every fold, repetition-major (repetition r, fold f at r·k + f).
    public var foldBalancedAccuracy: [Double]
    public var balancedAccuracy: Double
    /// SD of the fold estimates (not a standard error).
    public var foldSD: Double
    public var ci: ConfidenceInterval
    /// Mean over folds of the held-out AUC (binary, or macro one-vs-rest).
    public var auc: Double
    public var subjects: Int
    /// Mean training and test fold sizes (their ratio enters the interval).
    public var meanTrain: Double, meanTest: Double
    public var seconds: Double
}

public struct DifficultyResult: Codable, Sendable {
    public var plan: CrossValidationPlan
    public var ciMethod: String
    public var level: Double
    public var features: String
    public var cnn: String
    public var logisticRegression: String
    public var estimates: [DifficultyEstimate]

    public func estimate(task: String, classifier: DifficultyClassifier) -> DifficultyEstimate? {
        estimates.first { $0.task == task && $0.classifier == classifier }
    }
}

public enum CohortDifficulty {
    public static func measure(_ f: CohortFeatures, options o: DifficultyOptions) throws -> DifficultyResult {
        let tasks = o.tasks ?? DifficultyTask.standard(classNames: f.classNames)
        guard !tasks.isEmpty else { throw MetricsError.tooSmall(detail: "classification difficulty needs at least two classes (have \(f.classNames))") }
        guard !f.labels.isEmpty else { throw MetricsError.tooSmall(detail: "classification difficulty: no subjects") }
        let k = o.plan.folds, r = o.plan.repeats
        let total = tasks.count * r * k * o.classifiers.count
        let bar = ProgressReporter(label: "difficulty \(o.plan) CV", total: total, rateUnit: " fits/s", output: o.progress)
        var done = 0
        var estimates: [DifficultyEstimate] = []
        for (ti, task) in tasks.enumerated() {
            let classIndex = try task.classes.map { c -> Int in
                guard let i = f.classNames.firstIndex(of: c) else { throw MetricsError.mismatch(detail: "task \(task.name): class \(c) is not in the cohort (\(f.classNames.joined(separator: ", ")))") }
                return i
            }
            let members = f.labels.indices.filter { classIndex.contains(f.labels[$0]) }
            let y = members.map { classIndex.firstIndex(of: f.labels[$0])! }
            let taskSeed = CrossValidationPlan.mix(o.plan.seed, UInt64(ti))
            var taskPlan = o.plan
            taskPlan.seed = taskSeed
            let assignments = try taskPlan.assignments(labels: y)
            var scores: [DifficultyClassifier: [Double]] = [:], aucs: [DifficultyClassifier: [Double]] = [:], secs: [DifficultyClassifier: Double] = [:]
            var trainSizes: [Double] = [], testSizes: [Double] = []
            for (ri, fold) in assignments.enumerated() {
                for fi in 0..<k {
                    let train = members.indices.filter { fold[$0] != fi }, test = members.indices.filter { fold[$0] == fi }
                    trainSizes.append(Double(train.count)); testSizes.append(Double(test.count))
                    let fitSeed = CrossValidationPlan.mix(taskSeed, UInt64(1000 + ri * k + fi))
                    for c in o.classifiers {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        let p: [[Double]]
                        switch c {
                        case .smallCNN:
                            let net = SmallCNN(classes: task.classes.count, inputShape: f.blockShape, seed: fitSeed)
                            try net.fit(train.map { f.blockAverages[members[$0]] }, labels: train.map { y[$0] }, shape: f.blockShape,
                                        options: .init(epochs: o.cnnEpochs, seed: fitSeed &+ 100, minSteps: o.cnnMinSteps))
                            p = try net.probabilities(test.map { f.blockAverages[members[$0]] }, shape: f.blockShape)
                        case .logisticRegression:
                            var lr = LogisticRegression(inverseRegularization: o.inverseRegularization)
                            try lr.fit(train.map { f.regionalSUVR[members[$0]] }, labels: train.map { y[$0] }, classes: task.classes.count)
                            p = lr.probabilities(test.map { f.regionalSUVR[members[$0]] })
                        }
                        let s = ClassificationScores(probabilities: p, labels: test.map { y[$0] })
                        scores[c, default: []].append(s.balancedAccuracy)
                        aucs[c, default: []].append(s.auc)
                        secs[c, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                        done += 1
                        bar.update(done, detail: "\(task.name) \(c.rawValue) rep \(ri + 1) fold \(fi + 1): \(String(format: "%.3f", s.balancedAccuracy))")
                    }
                }
            }
            let meanTrain = Statistics.mean(trainSizes), meanTest = Statistics.mean(testSizes)
            for c in o.classifiers {
                let s = scores[c] ?? []
                estimates.append(DifficultyEstimate(task: task.name, classes: task.classes, classifier: c, foldBalancedAccuracy: s,
                                                    balancedAccuracy: Statistics.mean(s), foldSD: Statistics.variance(s).squareRoot(),
                                                    ci: CorrectedResampledT.interval(estimates: s, testFraction: meanTest / meanTrain, level: o.level),
                                                    auc: Statistics.mean((aucs[c] ?? []).filter { $0.isFinite }), subjects: members.count,
                                                    meanTrain: meanTrain, meanTest: meanTest, seconds: secs[c] ?? 0))
            }
        }
        bar.finish()
        let groupText = f.groups.count <= 8 ? f.groups.map(\.name).joined(separator: ", ") : "\(f.groups.count) AAL2 regions (left and right separately)"
        return DifficultyResult(
            plan: o.plan, ciMethod: CorrectedResampledT.method, level: o.level,
            features: "mean SUVR over every voxel of each AAL2 label (nearest-neighbour atlas on the \(f.volumeShape.map(String.init).joined(separator: "×")) grid, no tissue mask): \(groupText)",
            cnn: "SmallCNN (3 stride-2 3×3×3 convolutions, 32 hidden features) on \(f.blockFactor)× block averages (\(f.blockShape.map(String.init).joined(separator: "×"))), Adam lr 1e-3, batch 8, \(o.cnnEpochs) epochs and at least \(o.cnnMinSteps) steps, input standardised on the training fold",
            logisticRegression: "L2 logistic regression, C = \(o.inverseRegularization) fixed (penalty ‖w‖²/(2C) on the summed log-loss, intercept free; binary: one weight vector, 3+ classes: multinomial), features standardised with the training fold's mean and SD, fitted by Newton's method",
            estimates: estimates)
    }
}
