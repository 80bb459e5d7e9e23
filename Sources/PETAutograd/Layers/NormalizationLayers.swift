import Foundation
import PETTensor

// x: (N, C, D, H, W) (BatchNorm3d) or (N, C, H, W) (BatchNorm2d); weight, bias, running stats: (C)
/// Batch normalization, PyTorch defaults: momentum 0.1, eps 1e-5, γ = 1, β = 0, running mean 0 and
/// variance 1. Training mode uses batch statistics and updates the running ones; eval mode uses them.
/// For backward it keeps 2 tensors of its input's size (as the other norms are counted); fused with
/// the activation after it (`forwardActivated`), the pair keeps 1 (`keptTensorsForBackwardActivated`).
public class BatchNorm: Module, BackwardFootprint {
    public let weight: Variable?
    public let bias: Variable?
    public let runningMean: Buffer
    public let runningVar: Buffer
    public let momentum: Float, eps: Float
    let expectedRank: Int
    /// Data-parallel `--sync-bn`: training-mode statistics over every replica's items
    /// (`syncBatchNorm`); nil (the default): this process's batch only.
    public var replicaReducer: ReplicaReducer?
    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5, affine: Bool = true, rank: Int) {
        weight = affine ? Variable(Tensor(shape: [channels], repeating: 1), requiresGrad: true) : nil
        bias = affine ? Variable(Tensor(shape: [channels]), requiresGrad: true) : nil
        runningMean = Buffer(Tensor(shape: [channels]))
        runningVar = Buffer(Tensor(shape: [channels], repeating: 1))
        self.momentum = momentum; self.eps = eps; self.expectedRank = rank
    }
    public var keptTensorsForBackward: Int { 2 }
    /// The fused op's output: it recomputes the normalized values from its input in backward.
    public var keptTensorsForBackwardActivated: Int { 1 }

    /// PyTorch's buffer names.
    public override var ownBuffers: [(String, Buffer)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public override func forward(_ x: Variable) throws -> Variable {
        guard x.rank == expectedRank else {
            throw TensorError.shapeMismatch(op: "\(type(of: self))", detail: "input \(shapeString(x.shape)) is not \(expectedRank)-D")
        }
        // A checkpointed segment re-run in backward (ActivationCheckpointing.swift) normalises with the same batch
        // statistics but must not move the running ones a second time.
        let keepStats = isTraining && Recompute.isRecomputing
        if isTraining, let reducer = replicaReducer {
            return try syncBatchNorm(x, weight: weight, bias: bias, runningMean: keepStats ? nil : runningMean.value,
                                     runningVar: keepStats ? nil : runningVar.value, momentum: momentum, eps: eps, reducer: reducer)
        }
        return try batchNorm(x, weight: weight, bias: bias, runningMean: keepStats ? nil : runningMean.value,
                             runningVar: keepStats ? nil : runningVar.value, training: isTraining, momentum: momentum, eps: eps)
    }

    /// This layer followed by leaky ReLU (`negativeSlope` 0: ReLU). In training mode one fused op
    /// (`batchNormActivation`: half the saved activations of the composite); in evaluation mode the
    /// running-statistics affine, then the activation.
    public func forwardActivated(_ x: Variable, negativeSlope: Float) throws -> Variable {
        guard isTraining, replicaReducer == nil else { return try forward(x).leakyReLU(negativeSlope) }
        guard x.rank == expectedRank else {
            throw TensorError.shapeMismatch(op: "\(type(of: self))", detail: "input \(shapeString(x.shape)) is not \(expectedRank)-D")
        }
        let keepStats = Recompute.isRecomputing   // see forward
        return try batchNormActivation(x, weight: weight, bias: bias, runningMean: keepStats ? nil : runningMean.value,
                                       runningVar: keepStats ? nil : runningVar.value, momentum: momentum, eps: eps,
                                       negativeSlope: negativeSlope)
    }
}

public final class BatchNorm3d: BatchNorm {
    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5, affine: Bool = true) {
        super.init(channels, momentum: momentum, eps: eps, affine: affine, rank: 5)
    }
}

public final class BatchNorm2d: BatchNorm {
    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5, affine: Bool = true) {
        super.init(channels, momentum: momentum, eps: eps, affine: affine, rank: 4)
    }
}

// x: (N, ..., normalizedShape)   weight, bias: normalizedShape
/// Layer normalization over the trailing axes (PyTorch LayerNorm: γ = 1, β = 0, eps 1e-5).
/// Keeps 2 tensors of its input's size for backward (the standardized values and the affine's output).
public final class LayerNorm: Module, BackwardFootprint {
    public let weight: Variable?
    public let bias: Variable?
    public let normalizedShape: [Int]
    public let eps: Float
    public init(_ normalizedShape: [Int], eps: Float = 1e-5, affine: Bool = true) {
        self.normalizedShape = normalizedShape; self.eps = eps
        weight = affine ? Variable(Tensor(shape: normalizedShape, repeating: 1), requiresGrad: true) : nil
        bias = affine ? Variable(Tensor(shape: normalizedShape), requiresGrad: true) : nil
    }
    public var keptTensorsForBackward: Int { 2 }
    public override func forward(_ x: Variable) throws -> Variable {
        try layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}

// x: (N, C, D, H, W)   weight, bias: (C) when affine
/// Instance normalization (PyTorch InstanceNorm3d: no running statistics; affine off by default).
/// Counted as keeping 2 tensors of its input's size for backward, like layer norm.
public final class InstanceNorm3d: Module, BackwardFootprint {
    public let weight: Variable?
    public let bias: Variable?
    public let eps: Float
    public init(_ channels: Int, eps: Float = 1e-5, affine: Bool = false) {
        self.eps = eps
        weight = affine ? Variable(Tensor(shape: [channels], repeating: 1), requiresGrad: true) : nil
        bias = affine ? Variable(Tensor(shape: [channels]), requiresGrad: true) : nil
    }
    public var keptTensorsForBackward: Int { 2 }
    public override func forward(_ x: Variable) throws -> Variable {
        guard x.rank == 5 else { throw TensorError.shapeMismatch(op: "InstanceNorm3d", detail: "input \(shapeString(x.shape)) is not 5-D") }
        return try instanceNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

/// Instance normalization for 2D (N, C, H, W) or 3D inputs, no affine (PyTorch's default); counted
/// like `InstanceNorm3d`.
public final class InstanceNormAny: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 2 }
    public override func forward(_ x: Variable) throws -> Variable { try instanceNorm(x) }
}
