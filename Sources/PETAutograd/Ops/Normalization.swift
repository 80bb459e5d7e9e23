import Foundation
import PETTensor

// Batch, layer and instance normalization over the fused primitives of FusedNormalization.swift
// (double backward exact, which the gradient penalty needs for layer/instance norm in critics).
// PyTorch semantics: biased variance to normalize; batch norm's running variance is updated with the
// unbiased estimate, running = (1 − momentum)·running + momentum·batch, momentum 0.1, eps 1e-5.

/// (x − mean) / sqrt(var + eps) over `axes` (biased variance), with the batch mean and variance:
/// the composite reference the fused `standardizeFused` is tested against.
func standardize(_ x: Variable, axes: [Int], eps: Float) throws -> (y: Variable, mean: Variable, variance: Variable) {
    let mean = try x.mean(axes: axes, keepDims: true)
    let centered = try x - mean
    let variance = try (centered * centered).mean(axes: axes, keepDims: true)
    return (try centered * (variance + eps).pow(-0.5), mean, variance)
}

func checkChannels(_ p: Variable?, _ c: Int, _ what: String, op: String) throws {
    if let p, p.shape != [c] {
        throw TensorError.shapeMismatch(op: op, detail: "\(what) \(shapeString(p.shape)) but the input has \(c) channels")
    }
}

// x: (N, C, ...)  weight, bias, runningMean, runningVar: (C)
/// Batch normalization. Training: batch statistics, and the running statistics (if given) are updated
/// in place. Evaluation: running statistics.
public func batchNorm(_ x: Variable, weight: Variable?, bias: Variable?, runningMean: Tensor?, runningVar: Tensor?,
                      training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) throws -> Variable {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "batch norm", detail: "input \(shapeString(x.shape)) has no channel axis") }
    let c = x.shape[1]
    try checkChannels(weight, c, "weight", op: "batch norm")
    try checkChannels(bias, c, "bias", op: "batch norm")
    for (t, what) in [(runningMean, "running mean"), (runningVar, "running variance")] {
        if let t, t.shape != [c] { throw TensorError.shapeMismatch(op: "batch norm", detail: "\(what) \(shapeString(t.shape)) but the input has \(c) channels") }
    }
    let n = x.count / max(c, 1)
    if training {
        guard n > 1 else {
            throw TensorError.invalidArgument(op: "batch norm", detail: "training needs more than one value per channel, got input \(shapeString(x.shape))")
        }
        let (y, mean, variance) = try standardizeFused(x, view: NormView(a: x.shape[0], b: c, k: n / x.shape[0]), eps: eps)
        if let rm = runningMean, let rv = runningVar {
            let unbiased = Float(n) / Float(n - 1)
            for i in 0..<c {
                rm.data[i] = (1 - momentum) * rm.data[i] + momentum * mean.data[i]
                rv.data[i] = (1 - momentum) * rv.data[i] + momentum * variance.data[i] * unbiased
            }
        }
        return try channelAffine(y, scale: weight, shift: bias)
    }
    guard let rm = runningMean, let rv = runningVar else {
        throw TensorError.invalidArgument(op: "batch norm", detail: "evaluation mode needs running statistics")
    }
    // Running statistics as one constant scale and shift per channel, then the learnable affine.
    let scale = Tensor(shape: [c]), shift = Tensor(shape: [c])
    for i in 0..<c {
        scale.data[i] = 1 / (rv.data[i] + eps).squareRoot()
        shift.data[i] = -rm.data[i] * scale.data[i]
    }
    let y = try channelAffine(x, scale: Variable(scale), shift: Variable(shift))
    return try channelAffine(y, scale: weight, shift: bias)
}

// x: (N, ..., normalizedShape)  weight, bias: normalizedShape
/// Layer normalization over the trailing `normalizedShape` axes (PyTorch LayerNorm), elementwise affine.
public func layerNorm(_ x: Variable, normalizedShape: [Int], weight: Variable?, bias: Variable?, eps: Float = 1e-5) throws -> Variable {
    let k = normalizedShape.count
    guard k >= 1, x.rank > k, Array(x.shape.suffix(k)) == normalizedShape else {
        throw TensorError.shapeMismatch(op: "layer norm", detail: "input \(shapeString(x.shape)) does not end with the normalized shape \(shapeString(normalizedShape))")
    }
    for (p, what) in [(weight, "weight"), (bias, "bias")] {
        if let p, p.shape != normalizedShape {
            throw TensorError.shapeMismatch(op: "layer norm", detail: "\(what) \(shapeString(p.shape)) but the normalized shape is \(shapeString(normalizedShape))")
        }
    }
    let features = normalizedShape.reduce(1, *)
    let rows = x.count / max(features, 1)
    let y = try standardizeFused(x, view: NormView(a: 1, b: rows, k: features), eps: eps).y
    return try paramAffine(y, view: NormView(a: rows, b: features, k: 1), paramShape: normalizedShape, scale: weight, shift: bias)
}

// x: (N, C, ...)  weight, bias: (C)
/// Instance normalization: each (sample, channel) over its spatial axes (PyTorch InstanceNorm3d without
/// running statistics), optional per-channel affine.
public func instanceNorm(_ x: Variable, weight: Variable? = nil, bias: Variable? = nil, eps: Float = 1e-5) throws -> Variable {
    guard x.rank >= 3 else { throw TensorError.shapeMismatch(op: "instance norm", detail: "input \(shapeString(x.shape)) has no spatial axes") }
    try checkChannels(weight, x.shape[1], "weight", op: "instance norm")
    try checkChannels(bias, x.shape[1], "bias", op: "instance norm")
    let spatial = x.shape[2...].reduce(1, *)
    let y = try standardizeFused(x, view: NormView(a: 1, b: x.shape[0] * x.shape[1], k: spatial), eps: eps).y
    return try channelAffine(y, scale: weight, shift: bias)
}
