import Foundation
import PETTensor

// Data-parallel training's one cross-replica op and the batch norm built on it (`--sync-bn`).
// PETAutograd knows no transport: PETModels' DataParallel implements `ReplicaReducer` over MPI.

/// Sums tensors over the replicas (ranks) of a data-parallel job. A collective: every replica calls
/// it with the same shapes in the same order.
public protocol ReplicaReducer: AnyObject {
    var replicaCount: Int { get }
    /// Replaces `t` by its elementwise sum over the replicas.
    func sumInPlace(_ t: Tensor) throws
}

extension Variable {
    // x: any shape → the same shape
    /// The elementwise sum of this value over the replicas. Gradient: the sum of the replicas'
    /// gradients (the op is its own adjoint), so second order comes free.
    public func summedAcrossReplicas(_ reducer: ReplicaReducer) throws -> Variable {
        let y = value.copy()
        try reducer.sumInPlace(y)
        return record(y, op: "replica sum", inputs: [self]) { _, g, _ in [try g.summedAcrossReplicas(reducer)] }
    }
}

// x: (N, C, ...)  weight, bias, runningMean, runningVar: (C)
/// Training-mode batch norm with statistics over the whole global batch: per-channel sums of x and
/// of (x − mean)² are summed over the replicas (every replica holds the same number of items), so
/// each replica normalises with the statistics one process would compute on the global batch, and the
/// backward sums the statistics' gradients over the replicas (as PyTorch's SyncBatchNorm does).
/// Composite of differentiable ops: double backward is exact. Running statistics as `batchNorm`.
public func syncBatchNorm(_ x: Variable, weight: Variable?, bias: Variable?, runningMean: Tensor?, runningVar: Tensor?,
                          momentum: Float = 0.1, eps: Float = 1e-5, reducer: ReplicaReducer) throws -> Variable {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "sync batch norm", detail: "input \(shapeString(x.shape)) has no channel axis") }
    let c = x.shape[1]
    try checkChannels(weight, c, "weight", op: "sync batch norm")
    try checkChannels(bias, c, "bias", op: "sync batch norm")
    let axes = [0] + Array(2..<x.rank)
    let total = x.count / max(c, 1) * reducer.replicaCount
    guard total > 1 else {
        throw TensorError.invalidArgument(op: "sync batch norm", detail: "training needs more than one value per channel, got input \(shapeString(x.shape))")
    }
    let mean = try x.sum(axes: axes, keepDims: true).summedAcrossReplicas(reducer) * (1 / Float(total))
    let centered = try x - mean
    let variance = try (centered * centered).sum(axes: axes, keepDims: true).summedAcrossReplicas(reducer) * (1 / Float(total))
    let y = try centered * (variance + eps).pow(-0.5)
    if let rm = runningMean, let rv = runningVar {
        let unbiased = Float(total) / Float(total - 1)
        for i in 0..<c {
            rm.data[i] = (1 - momentum) * rm.data[i] + momentum * mean.value.data[i]
            rv.data[i] = (1 - momentum) * rv.data[i] + momentum * variance.value.data[i] * unbiased
        }
    }
    return try channelAffine(y, scale: weight, shift: bias)
}
