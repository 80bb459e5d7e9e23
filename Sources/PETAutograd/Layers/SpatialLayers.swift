import Foundation
import PETTensor

// Resampling layers of any spatial rank (Ops/Spatial.swift): nearest-neighbour up-sampling and
// average pooling by integer factors. Neither keeps anything for backward (their gradients are each
// other, applied to the incoming gradient).

/// torch.nn.Upsample(scale_factor=f, mode="nearest") for an integer f on every spatial axis.
public final class UpsampleNearest: Module, BackwardFootprint {
    public let factor: Int
    public init(factor: Int = 2) { self.factor = factor }
    public var keptTensorsForBackward: Int { 0 }
    public override func forward(_ x: Variable) throws -> Variable {
        try upsampleNearest(x, factor: [Int](repeating: factor, count: max(0, x.rank - 2)))
    }
}

/// torch's AvgPool{2,3}d(kernel=f, stride=f) with one factor per spatial axis.
public final class AvgPool: Module, BackwardFootprint {
    public let factor: [Int]
    public init(factor: [Int]) { self.factor = factor }
    public var keptTensorsForBackward: Int { 0 }
    public override func forward(_ x: Variable) throws -> Variable { try avgPool(x, factor: factor) }
}

/// A convolution without padding or stride whose kernel is the weight's spatial shape, for 2D
/// (N, C, H, W) and 3D (N, C, D, H, W) inputs: weight (Co, Ci, k...).
public func convValid(_ x: Variable, weight: Variable) throws -> Variable {
    switch x.rank {
    case 4: return try conv2d(x, weight: weight)
    case 5: return try conv3d(x, weight: weight, params: ConvParams(kernel: Array(weight.shape.dropFirst(2))))
    default: throw TensorError.invalidArgument(op: "conv", detail: "needs a 2D or 3D batch, got \(shapeString(x.shape))")
    }
}

/// FastGAN's skip-layer excitation (Liu et al., ICLR 2021; their SEBlock), any spatial rank: a
/// low-resolution feature map gates the channels of a high-resolution one,
///   high · sigmoid(conv1×1(swish(conv_grid(avgpool(low → grid))))),
/// with `grid` the pooled size (FastGAN: 4×4, and a 4×4 kernel reduces it to one value per channel).
/// low: (N, Cl, grid·f...), high: (N, Ch, any...) → (N, Ch, same...). No biases (as FastGAN).
public final class SkipLayerExcitation: Module, BackwardFootprint {
    /// (Ch, Cl, grid...) and (Ch, Ch, 1...).
    public let squeeze: Variable
    public let excite: Variable
    public let grid: [Int]
    public init(lowChannels: Int, highChannels: Int, grid: [Int], rng: inout PETRandom) {
        self.grid = grid
        let b1 = 1 / Float(lowChannels * grid.reduce(1, *)).squareRoot(), b2 = 1 / Float(highChannels).squareRoot()
        squeeze = Variable(Tensor.uniform([highChannels, lowChannels] + grid, low: -b1, high: b1, rng: &rng), requiresGrad: true)
        excite = Variable(Tensor.uniform([highChannels, highChannels] + grid.map { _ in 1 }, low: -b2, high: b2, rng: &rng), requiresGrad: true)
    }
    /// The high map and the (small) gate's tensors.
    public var keptTensorsForBackward: Int { 1 }

    /// (N, Ch, 1...) gate values in (0, 1) from the low-resolution map, for given weights (the
    /// module's, or any: gradient checks differentiate in the weights too).
    public static func gate(_ low: Variable, squeeze: Variable, excite: Variable) throws -> Variable {
        let spatial = Array(low.shape.dropFirst(2)), grid = Array(squeeze.shape.dropFirst(2))
        guard spatial.count == grid.count, zip(spatial, grid).allSatisfy({ $0 % $1 == 0 }) else {
            throw TensorError.invalidArgument(op: "skip-layer excitation", detail: "the low-resolution map \(shapeString(low.shape)) does not pool to the grid \(grid)")
        }
        let pooled = try avgPool(low, factor: zip(spatial, grid).map { $0 / $1 })
        return try convValid(swish(convValid(pooled, weight: squeeze)), weight: excite).sigmoid()
    }

    /// high · gate(low) for given weights.
    public static func excite(low: Variable, high: Variable, squeeze: Variable, excite: Variable) throws -> Variable {
        try high * gate(low, squeeze: squeeze, excite: excite)
    }

    public func gate(_ low: Variable) throws -> Variable { try SkipLayerExcitation.gate(low, squeeze: squeeze, excite: excite) }

    public func callAsFunction(low: Variable, high: Variable) throws -> Variable { try high * gate(low) }

    public override func forward(_ x: Variable) throws -> Variable {
        throw TensorError.invalidArgument(op: "skip-layer excitation", detail: "takes two maps: call it as sle(low:high:)")
    }
}

/// x · gate with a fixed gate of shape (N, C, 1...) (broadcast over the spatial axes): a skip-layer
/// excitation whose gate was computed beforehand, once per sample from the whole low-resolution map
/// (tiled generation runs the high-resolution part tile by tile with it). Set `gate` before use.
public final class ChannelGate: Module, BackwardFootprint {
    public var gate: Tensor?
    public init(gate: Tensor? = nil) { self.gate = gate }
    public var keptTensorsForBackward: Int { 1 }
    public override func forward(_ x: Variable) throws -> Variable {
        guard let g = gate else { throw TensorError.invalidArgument(op: "channel gate", detail: "no gate set (compute it from the low-resolution map first)") }
        guard g.shape.count == x.rank, g.shape[0] == x.shape[0], g.shape[1] == x.shape[1], g.shape.dropFirst(2).allSatisfy({ $0 == 1 }) else {
            throw TensorError.shapeMismatch(op: "channel gate", detail: "gate \(shapeString(g.shape)) for \(shapeString(x.shape)): expected (N, C, 1…)")
        }
        return try x * Variable(g)
    }
}
