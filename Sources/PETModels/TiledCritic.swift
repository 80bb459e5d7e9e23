import Foundation
import PETAutograd
import PETTensor
import PETTiling

// Tiled analysis (issue 7, item 5): the critic / discriminator of a 3D model scores volumes in
// evaluation mode with its convolutional trunk run tile by tile (PETTiling), so the full-size
// activations of its first layers never exist; only the trunk's output (C_L × base grid, small) is
// stitched, and the head (a convolution whose kernel is the base grid) runs on it whole. The scores
// equal the untiled ones (≤ 1e-5). Batch-norm and normalization-free critics tile; layer and instance
// norm depend on the whole volume and are refused with `TilingError.unsupportedLayer`.

public enum TiledCritic {
    /// Critic scores (N, 1) of `images` (N, C, D, H, W) in evaluation mode, the trunk tile by tile:
    /// tiles chosen from `memoryBudget` (bytes; nil: the shared accountant's) or given as `tile`
    /// (trunk output D, H, W). Returns the scores and the plan used.
    public static func scores(_ model: GANModel, images: Tensor, labels: [Int], memoryBudget: Int? = nil,
                              tile: [Int]? = nil) throws -> (scores: Tensor, plan: TilePlan) {
        guard model.geometry.dims == 3 else {
            throw TilingError.invalidShape("tiled analysis is for 3D models (this one is \(model.geometry.dims)D)")
        }
        let d = model.discriminator
        let wasTraining = d.isTraining
        d.eval()
        defer { d.train(wasTraining) }
        // The trunk is the strided blocks' layers (conv, norm, LeakyReLU), the same module objects.
        let stack = try TiledStack(d.blocks.flatMap(\.layers))
        let input = try withNoGrad { try model.discriminatorInput(Variable(images), labels: labels) }.value
        let plan = try stack.plan(input: input.shape, budgetBytes: memoryBudget ?? MemoryAccountant.shared.budgetBytes, tile: tile)
        let sink = TensorSink(shape: plan.outputShape)
        try stack.run(input, plan: plan, into: sink)
        let s = try withNoGrad { try d.head(Variable(sink.output)) }.value
        return (s, plan)
    }
}
