// The headline numbers of one evaluation under plain names, for learning curves (`bench quality`,
// `train --eval-every`) and metrics.json's "summary" object: each is nil (null) when its metric did not
// run. Units and methods: docs/EVALUATION.md.
//
// Public API:
//   let s = result.summary
//   s.fdSeeded, s.fdTask, s.classFidelity, s.regionalAbsErr, s.nnRatio, s.mmdVoxels, s.c2stAccuracy

import Foundation

public struct QualitySummary: Codable, Equatable {
    /// Seeded Fréchet distance (SeededFrechetMetric, pinned extractor petgan-seeded-fd-v1).
    public var fdSeeded: Double?
    public var fdSeededLow: Double?, fdSeededHigh: Double?
    /// Fréchet distance in the task-trained SmallCNN's features (FeatureDistanceMetric).
    public var fdTask: Double?
    /// Fraction of synthetic volumes the real-only classifier labels as their requested class (ClassFidelityMetric).
    public var classFidelity: Double?
    /// The same classifier's accuracy on held-out real volumes (the ceiling of classFidelity).
    public var classFidelityCeiling: Double?
    /// Mean |synthetic − real| class-mean regional value over every (class, region) (RegionalAgreementMetric).
    public var regionalAbsErr: Double?
    /// Median nearest-training distance, synthetic / held-out real, voxel space (MemorisationMetric; needs --train).
    public var nnRatio: Double?
    public var nearCopies: Int?
    /// Unbiased MMD² on block-averaged voxels (VoxelMMDMetric).
    public var mmdVoxels: Double?
    /// Classifier two-sample test accuracy (C2STMetric).
    public var c2stAccuracy: Double?
    enum CodingKeys: String, CodingKey {
        case fdSeeded = "fd_seeded", fdSeededLow = "fd_seeded_low", fdSeededHigh = "fd_seeded_high", fdTask = "fd_task",
             classFidelity = "class_fidelity", classFidelityCeiling = "class_fidelity_ceiling", regionalAbsErr = "regional_abs_err",
             nnRatio = "nn_ratio", nearCopies = "near_copies", mmdVoxels = "mmd_voxels", c2stAccuracy = "c2st_acc"
    }
    /// Writes nil as null (a row always has every key).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fdSeeded, forKey: .fdSeeded); try c.encode(fdSeededLow, forKey: .fdSeededLow); try c.encode(fdSeededHigh, forKey: .fdSeededHigh)
        try c.encode(fdTask, forKey: .fdTask); try c.encode(classFidelity, forKey: .classFidelity)
        try c.encode(classFidelityCeiling, forKey: .classFidelityCeiling); try c.encode(regionalAbsErr, forKey: .regionalAbsErr)
        try c.encode(nnRatio, forKey: .nnRatio); try c.encode(nearCopies, forKey: .nearCopies)
        try c.encode(mmdVoxels, forKey: .mmdVoxels); try c.encode(c2stAccuracy, forKey: .c2stAccuracy)
    }
}

extension EvaluationResult {
    public var summary: QualitySummary {
        let seeded = result(of: SeededFrechetMetric.self)
        return QualitySummary(fdSeeded: seeded?.frechetDistance, fdSeededLow: seeded?.interval.low, fdSeededHigh: seeded?.interval.high,
                              fdTask: result(of: FeatureDistanceMetric.self)?.frechetDistance,
                              classFidelity: result(of: ClassFidelityMetric.self)?.classFidelity,
                              classFidelityCeiling: result(of: ClassFidelityMetric.self)?.ceilingAccuracy,
                              regionalAbsErr: result(of: RegionalAgreementMetric.self)?.regionalAbsErr,
                              nnRatio: result(of: MemorisationMetric.self)?.nnRatio,
                              nearCopies: result(of: MemorisationMetric.self)?.nearCopies,
                              mmdVoxels: result(of: VoxelMMDMetric.self)?.mmd2,
                              c2stAccuracy: result(of: C2STMetric.self)?.accuracy)
    }
    public var fdSeeded: Double? { summary.fdSeeded }
    public var fdTask: Double? { summary.fdTask }
    public var classFidelity: Double? { summary.classFidelity }
    public var regionalAbsErr: Double? { summary.regionalAbsErr }
    public var nnRatio: Double? { summary.nnRatio }
}
