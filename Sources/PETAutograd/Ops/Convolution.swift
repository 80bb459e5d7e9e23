import Foundation
import PETTensor

// Convolutions as three bilinear primitives over PETTensor's kernels (PyTorch semantics, N×C×D×H×W,
// 2D = depth 1). With C(x, w) = conv3d:
//   conv3d            y  = C(x, w) + b
//   conv input grad   gx = Cᵀ(gy, w)          (Conv3d.backwardInput; also conv_transpose3d's forward)
//   conv weight grad  gw = W(gy, x)           (Conv3d.backwardWeight)
// Their adjoint relations ⟨C(x,w), gy⟩ = ⟨x, Cᵀ(gy,w)⟩ = ⟨w, W(gy,x)⟩ make every gradient of each
// one a call of another, so the family is closed under differentiation (double backward for WGAN-GP)
// and the autograd runs exactly the kernels a hand-written backward would.

// x: (N, Ci, D, H, W)  weight: (Co, Ci, kD, kH, kW)  bias: (Co)  →  (N, Co, OD, OH, OW)
public func conv3d(_ x: Variable, weight: Variable, bias: Variable? = nil, params: ConvParams,
                   options: ConvOptions = .automatic) throws -> Variable {
    let y = try Conv3d.forward(x.value, weight: weight.value, bias: bias?.value, params: params, options: options)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    let xShape = x.shape
    return record(y, op: "conv3d", inputs: inputs) { _, g, needs in
        [needs[0] ? try convInputGradient(g, weight: weight, inputShape: xShape, params: params, options: options) : nil,
         needs[1] ? try convWeightGradient(g, input: x, params: params, options: options) : nil]
            + (needs.count > 2 ? [needs[2] ? try channelSum(g) : nil] : [])
    }
}

// x: (N, Ci, D, H, W)  weight: (Ci, Co, kD, kH, kW)  bias: (Co)  →  (N, Co, (I−1)s − 2p + k + op)
public func convTranspose3d(_ x: Variable, weight: Variable, bias: Variable? = nil, params: ConvParams,
                            options: ConvOptions = .automatic) throws -> Variable {
    let outShape = try ConvTranspose3d.outputShape(x: x.shape, w: weight.shape, params: params)
    if let b = bias, b.shape != [weight.shape[1]] {
        throw TensorError.shapeMismatch(op: "conv_transpose3d", detail: "bias \(shapeString(b.shape)) but the output has \(weight.shape[1]) channels")
    }
    var p = params
    p.outputPadding = [0, 0, 0]
    // conv_transpose3d(x, w) is the input gradient of conv3d(·, w) evaluated at x.
    return try convInputGradient(x, weight: weight, inputShape: outShape, params: p, bias: bias, options: options)
}

// gy: (N, Co, O)  weight: (Co, Ci, k)  →  (N, Ci, I) with I from inputShape (+ bias per Ci channel)
func convInputGradient(_ gy: Variable, weight: Variable, inputShape: [Int], params: ConvParams, bias: Variable? = nil,
                       options: ConvOptions) throws -> Variable {
    let y = try Conv3d.backwardInput(gy.value, weight: weight.value, inputShape: inputShape, params: params, options: options)
    if let b = bias { addChannelBias(y, b.value) }
    let inputs = bias.map { [gy, weight, $0] } ?? [gy, weight]
    return record(y, op: bias == nil ? "conv3d input gradient" : "conv_transpose3d", inputs: inputs) { _, g, needs in
        // ⟨g, Cᵀ(gy, w)⟩ = ⟨C(g, w), gy⟩ = ⟨w, W(gy, g)⟩
        [needs[0] ? try conv3d(g, weight: weight, params: params, options: options) : nil,
         needs[1] ? try convWeightGradient(gy, input: g, params: params, options: options) : nil]
            + (needs.count > 2 ? [needs[2] ? try channelSum(g) : nil] : [])
    }
}

// gy: (N, Co, O)  x: (N, Ci, I)  →  (Co, Ci, k)
func convWeightGradient(_ gy: Variable, input x: Variable, params: ConvParams, options: ConvOptions) throws -> Variable {
    let gw = try Conv3d.backwardWeight(gy.value, input: x.value, params: params, options: options)
    let xShape = x.shape
    return record(gw, op: "conv3d weight gradient", inputs: [gy, x]) { _, g, needs in
        // ⟨g, W(gy, x)⟩ = ⟨C(x, g), gy⟩ = ⟨x, Cᵀ(gy, g)⟩
        [needs[0] ? try conv3d(x, weight: g, params: params, options: options) : nil,
         needs[1] ? try convInputGradient(gy, weight: g, inputShape: xShape, params: params, options: options) : nil]
    }
}

/// Σ over every axis but 1: (N, C, ...) → (C). Gradient: broadcast back.
public func channelSum(_ x: Variable) throws -> Variable {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "channel sum", detail: "\(shapeString(x.shape)) has no channel axis") }
    var keep = [Int](repeating: 1, count: x.rank)
    keep[1] = x.shape[1]
    return try x.sum(toShape: keep).reshaped([x.shape[1]])
}

// 2-D convenience (depth 1): x (N, C, H, W) ↔ (N, C, 1, H, W) is a reshape.
/// 2-D convolution on (N, C, H, W) with a (Co, Ci, k, k) weight.
public func conv2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
                   options: ConvOptions = .automatic) throws -> Variable {
    guard x.rank == 4, weight.rank == 4 else {
        throw TensorError.shapeMismatch(op: "conv2d", detail: "input \(shapeString(x.shape)) and weight \(shapeString(weight.shape)) must be 4-D")
    }
    let x5 = try x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2], x.shape[3]])
    let w5 = try weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]])
    let p = ConvParams(kernel: [1, weight.shape[2], weight.shape[3]], stride: [1, stride, stride], padding: [0, padding, padding])
    let y = try conv3d(x5, weight: w5, bias: bias, params: p, options: options)
    return try y.reshaped([y.shape[0], y.shape[1], y.shape[3], y.shape[4]])
}

/// 2-D transposed convolution on (N, C, H, W) with a (Ci, Co, k, k) weight.
public func convTranspose2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, options: ConvOptions = .automatic) throws -> Variable {
    guard x.rank == 4, weight.rank == 4 else {
        throw TensorError.shapeMismatch(op: "conv_transpose2d", detail: "input \(shapeString(x.shape)) and weight \(shapeString(weight.shape)) must be 4-D")
    }
    let x5 = try x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2], x.shape[3]])
    let w5 = try weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]])
    let p = ConvParams(kernel: [1, weight.shape[2], weight.shape[3]], stride: [1, stride, stride], padding: [0, padding, padding],
                       outputPadding: [0, outputPadding, outputPadding])
    let y = try convTranspose3d(x5, weight: w5, bias: bias, params: p, options: options)
    return try y.reshaped([y.shape[0], y.shape[1], y.shape[3], y.shape[4]])
}
