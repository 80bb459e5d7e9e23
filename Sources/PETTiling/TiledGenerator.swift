import Foundation
import PETAutograd
import PETTensor
import PETVolumes

/// Generation of volumes of any size within a memory budget: the generator's fully convolutional
/// part (everything after its dense input / grid projection) run tile by tile, the output streamed
/// to NIfTI and/or HDF5 sinks.
///
///     // layers after the projection, in order, modules in eval mode:
///     let tg = try TiledGenerator(layers: [bn0, ReLU(), ups0, bn1, ReLU(), …, upsL, Tanh()])
///     let x = try withNoGrad { try projection(z) }.value      // (N, C0, base grid): small
///     let plan = try tg.plan(latentGrid: x.shape, memoryBudget: parseByteSize("512MB"))
///     try tg.generate(x, plan: plan, into: NIfTISlabSink(paths: ["out/sample-0.nii.gz"], shape: plan.outputShape.suffix(3)…))
///
/// The result equals the untiled forward (max abs difference ≤ 1e-5).
public final class TiledGenerator {
    public let stack: TiledStack

    /// `layers` are put in evaluation mode (batch norm with its running statistics) and must be
    /// `Tileable`.
    public init(layers: [Module]) throws {
        for l in layers { l.eval() }
        stack = try TiledStack(layers)
    }

    /// Plan for a latent grid of shape (N, C0, bD, bH, bW). `memoryBudget` nil uses the shared
    /// accountant's budget; when that is nil too (and no tile is given) the output is one tile.
    public func plan(latentGrid shape: [Int], memoryBudget: Int? = nil, tile: [Int]? = nil) throws -> TilePlan {
        try stack.plan(input: shape, budgetBytes: memoryBudget ?? MemoryAccountant.shared.budgetBytes, tile: tile)
    }

    public func generate(_ x: Tensor, plan: TilePlan, into sink: SlabSink,
                         progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        try stack.run(x, plan: plan, into: sink, progress: progress)
    }

    /// Convenience: one NIfTI file per sample (single-channel output), returns the plan used.
    @discardableResult
    public func generateNIfTI(_ x: Tensor, paths: [String], memoryBudget: Int? = nil, tile: [Int]? = nil,
                              affine: Affine = .identity, space: WorldSpace = .scanner, provenance: [[String: Any]] = [[:]],
                              progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> TilePlan {
        let p = try plan(latentGrid: x.shape, memoryBudget: memoryBudget, tile: tile)
        guard paths.count == x.shape[0] else { throw TilingError.invalidShape("\(paths.count) output paths for \(x.shape[0]) samples") }
        let sink = try NIfTISlabSink(paths: paths, shape: Array(p.outputShape.suffix(3)), affine: affine, space: space, provenance: provenance)
        try generate(x, plan: p, into: sink, progress: progress)
        return p
    }
}
