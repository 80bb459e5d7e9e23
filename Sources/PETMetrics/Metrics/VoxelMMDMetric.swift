// MMD² (Gaussian kernel, permutation test) between the block-averaged real and synthetic samples.

import Foundation
import PETTensor
import PETVolumes

public final class VoxelMMDMetric: EvaluationMetric {
    public typealias Result = MMDResult
    public static let placement = MetricPlacement.at(["distribution", "mmd_voxels"])
    public static func make(for run: EvaluationRun) throws -> VoxelMMDMetric? { VoxelMMDMetric() }

    public func finish(_ run: EvaluationRun) throws -> MMDResult? {
        run.log(run.isVolumes ? "MMD on voxels" : "MMD on pixels")
        return DistributionMetrics.mmd(run.real.blockAverages, run.synthetic.blockAverages, permutations: run.options.mmdPermutations,
                                       seed: run.options.seed &+ 21)
    }
}
