// The streaming-metric protocol of `petgan evaluate` and the one list of metrics the driver runs
// (EvaluationRun.swift). A metric sees every item of both sets once, slab by slab (pass 1), every
// (synthetic sample, nearest real sample) pair slab by slab (pass 2), and then finishes into a Codable
// result that lands in metrics.json where its `placement` says. Adding a metric: one file in Metrics/
// conforming to `EvaluationMetric`, and its type in `Evaluation.metrics` below.
//
// Public API:
//   let r = try Evaluation.run(options)                  // EvaluationResult
//   r.result(of: PaperProtocolMetric.self)?.psnr3D?.mean // a metric's typed result

import Foundation
import PETTensor
import PETVolumes

/// Where a metric's result lands in metrics.json.
public enum MetricPlacement {
    /// The value of this key path (["c2st"], ["distribution", "mmd_voxels"]).
    case at([String])
    /// The result's own keys, merged into the object at this key path ([] = the top level).
    case merged(into: [String])
    /// Not written to metrics.json (figures: the report reads the result).
    case none
}

/// One item streamed in pass 1.
public struct EvaluationItem {
    public enum Side { case real, synthetic }
    public var side: Side
    public var index: Int
    /// Class index into the run's class names, −1 when unknown.
    public var label: Int
}

/// A synthetic sample and its nearest real sample (indices into the run's sets).
public struct EvaluationPair {
    public var synthetic: Int, real: Int
}

public protocol EvaluationMetric: AnyObject {
    associatedtype Result: Encodable
    static var placement: MetricPlacement { get }
    /// The metric for this run, or nil when it does not apply (a layout, an option).
    static func make(for run: EvaluationRun) throws -> Self?
    /// Pass 1: every item of both sets, slabs of whole depth planes in order (2D samples: one slab).
    func beginItem(_ item: EvaluationItem, run: EvaluationRun)
    func addSlab(_ slab: [Float], firstDepth: Int) throws
    func endItem() throws
    /// Pass 2: every pair, real and synthetic slabs in lockstep.
    func beginPair(_ pair: EvaluationPair, run: EvaluationRun) throws
    func addPairSlabs(real: [Float], synthetic: [Float], firstDepth: Int) throws
    func endPair() throws
    /// After both passes (in list order); nil leaves the metric out of metrics.json.
    func finish(_ run: EvaluationRun) throws -> Result?
    /// A section of report.html of its own, after the built-in ones (default: none; the built-in
    /// sections of Report.swift read their metrics' results directly).
    static func reportSection(_ result: Result) -> String?
}

public extension EvaluationMetric {
    func beginItem(_ item: EvaluationItem, run: EvaluationRun) {}
    func addSlab(_ slab: [Float], firstDepth: Int) throws {}
    func endItem() throws {}
    func beginPair(_ pair: EvaluationPair, run: EvaluationRun) throws {}
    func addPairSlabs(real: [Float], synthetic: [Float], firstDepth: Int) throws {}
    func endPair() throws {}
    static func reportSection(_ result: Result) -> String? { nil }
    /// `reportSection` of a result held type-erased.
    static func reportSection(erased value: any Encodable) -> String? { (value as? Result).flatMap { reportSection($0) } }
}

extension Evaluation {
    /// Every metric, in the order they finish (their log lines and notes come in this order).
    public static let metrics: [any EvaluationMetric.Type] = [
        PaperProtocolMetric.self,
        JointHistogramMetric.self,
        RegionalMetric.self,
        DiversityMetric.self,
        VoxelMMDMetric.self,
        CriticMetric.self,
        FeatureDistanceMetric.self,
        SeededFrechetMetric.self,
        C2STMetric.self,
        AugmentationMetric.self,
        ClassFidelityMetric.self,
        MemorisationMetric.self,
        RegionalAgreementMetric.self,
        ExampleFigureMetric.self,
        ClassMapsMetric.self,
        // Last: reads the results above (intervals of the numbers that have none of their own).
        IntervalsMetric.self,
    ]
}
