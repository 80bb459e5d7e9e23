import Foundation

// The public convolution ops, PyTorch semantics (torch.nn.functional.conv3d / conv_transpose3d with
// dilation 1 and groups 1). 2D convolutions are the same ops with D = 1 and a depth kernel of 1.
// Every op validates its shapes and throws `TensorError` naming the op and the shapes.

public enum Conv3d {
    /// Output shape of conv3d for input `x` and weight `w` (Co, Ci, kD, kH, kW).
    public static func outputShape(x: [Int], w: [Int], params: ConvParams) throws -> [Int] {
        try ConvGeometry.conv(x: x, w: w, params: params, op: "conv3d").yShape
    }

    // x: (N, Ci, D, H, W)  w: (Co, Ci, kD, kH, kW)  bias: (Co)  →  y: (N, Co, OD, OH, OW)
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, params: ConvParams,
                               options: ConvOptions = .automatic) throws -> Tensor {
        let g = try ConvGeometry.conv(x: x.shape, w: weight.shape, params: params, op: "conv3d")
        try checkBias(bias, channels: g.co, op: "conv3d")
        let y = try Tensor.checked(shape: g.yShape, op: "conv3d output")
        ConvDispatch.correlate(g, x: x.data, w: weight.data, y: y.data, options: options)
        if let b = bias { addChannelBias(y, b) }
        return y
    }

    // gy: (N, Co, OD, OH, OW)  w: (Co, Ci, k)  →  gx: (N, Ci, D, H, W) with D, H, W from `inputShape`
    public static func backwardInput(_ gy: Tensor, weight: Tensor, inputShape: [Int], params: ConvParams,
                                     options: ConvOptions = .automatic) throws -> Tensor {
        let g = try ConvGeometry.conv(x: inputShape, w: weight.shape, params: params, op: "conv3d backward (input)")
        guard gy.shape == g.yShape else {
            throw TensorError.shapeMismatch(op: "conv3d backward (input)", detail: "output gradient \(shapeString(gy.shape)) but the forward output is \(shapeString(g.yShape))")
        }
        let gx = try Tensor.checked(shape: g.xShape, op: "conv3d input gradient")
        ConvDispatch.correlateAdjoint(g, y: gy.data, w: weight.data, x: gx.data, options: options)
        return gx
    }

    // gy: (N, Co, O)  x: (N, Ci, I)  →  gw: (Co, Ci, k) with k from `params`
    public static func backwardWeight(_ gy: Tensor, input x: Tensor, params: ConvParams,
                                      options: ConvOptions = .automatic) throws -> Tensor {
        guard gy.rank == 5, x.rank == 5 else {
            throw TensorError.shapeMismatch(op: "conv3d backward (weight)", detail: "gradient \(shapeString(gy.shape)) and input \(shapeString(x.shape)) must be 5-D")
        }
        let wShape = [gy.shape[1], x.shape[1]] + params.kernel
        let g = try ConvGeometry.conv(x: x.shape, w: wShape, params: params, op: "conv3d backward (weight)")
        guard gy.shape == g.yShape else {
            throw TensorError.shapeMismatch(op: "conv3d backward (weight)", detail: "output gradient \(shapeString(gy.shape)) but the forward output is \(shapeString(g.yShape))")
        }
        let gw = try Tensor.checked(shape: wShape, op: "conv3d weight gradient")
        ConvDispatch.weightGradient(g, x: x.data, y: gy.data, w: gw.data, options: options)
        return gw
    }

    /// gbias[c] = Σ_{n, spatial} gy[n, c, ...]   (gy: (N, C, ...))
    public static func backwardBias(_ gy: Tensor) throws -> Tensor {
        guard gy.rank >= 2 else { throw TensorError.shapeMismatch(op: "conv backward (bias)", detail: "gradient \(shapeString(gy.shape)) has no channel axis") }
        let n = gy.shape[0], c = gy.shape[1], s = gy.count / max(1, n * c)
        let gb = Tensor(shape: [c])
        for ch in 0..<c {
            var acc = 0.0
            for i in 0..<n { let p = gy.data + (i * c + ch) * s; var part: Float = 0; for j in 0..<s { part += p[j] }; acc += Double(part) }
            gb.data[ch] = Float(acc)
        }
        return gb
    }

    static func checkBias(_ bias: Tensor?, channels: Int, op: String) throws {
        if let b = bias, b.shape != [channels] {
            throw TensorError.shapeMismatch(op: op, detail: "bias \(shapeString(b.shape)) but the output has \(channels) channels")
        }
    }

}

/// y[n, c, ...] += b[c] in place (y: (N, C, ...), b: (C)): the bias of every convolution, tiled or
/// not, so that a tiled output is the same arithmetic as the untiled one.
public func addChannelBias(_ y: Tensor, _ b: Tensor) {
    let n = y.shape[0], c = y.shape[1], s = y.count / max(1, n * c)
    let py = y.data, pb = b.data
    Parallel.forEach(n * c) { nc in
        let v = pb[nc % c], p = py + nc * s
        for j in 0..<s { p[j] += v }
    }
}

public enum ConvTranspose3d {
    /// Output shape (N, Co, (I−1)·s − 2p + k + output_padding) for weight (Ci, Co, k).
    public static func outputShape(x: [Int], w: [Int], params: ConvParams) throws -> [Int] {
        try ConvGeometry.transposed(x: x, w: w, params: params, op: "conv_transpose3d").xShape
    }

    // x: (N, Ci, D, H, W)  w: (Ci, Co, kD, kH, kW)  bias: (Co)  →  y: (N, Co, OD, OH, OW)
    // The adjoint of conv3d with the same weight: y = conv3d_backward_input(x).
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, params: ConvParams,
                               options: ConvOptions = .automatic) throws -> Tensor {
        let g = try ConvGeometry.transposed(x: x.shape, w: weight.shape, params: params, op: "conv_transpose3d")
        try Conv3d.checkBias(bias, channels: g.ci, op: "conv_transpose3d")
        let y = try Tensor.checked(shape: g.xShape, op: "conv_transpose3d output")
        ConvDispatch.correlateAdjoint(g, y: x.data, w: weight.data, x: y.data, options: options)
        if let b = bias { addChannelBias(y, b) }
        return y
    }

    // gy: (N, Co, OD, OH, OW)  w: (Ci, Co, k)  →  gx: (N, Ci, D, H, W) = conv3d(gy, w)
    public static func backwardInput(_ gy: Tensor, weight: Tensor, params: ConvParams,
                                     options: ConvOptions = .automatic) throws -> Tensor {
        let p = ConvParams(kernel: params.kernel, stride: params.stride, padding: params.padding)
        return try Conv3d.forward(gy, weight: weight, params: p, options: options)
    }

    // gy: (N, Co, O)  x: (N, Ci, I)  →  gw: (Ci, Co, k) = conv3d weight gradient with the roles swapped
    public static func backwardWeight(_ gy: Tensor, input x: Tensor, params: ConvParams,
                                      options: ConvOptions = .automatic) throws -> Tensor {
        guard gy.rank == 5, x.rank == 5 else {
            throw TensorError.shapeMismatch(op: "conv_transpose3d backward (weight)", detail: "gradient \(shapeString(gy.shape)) and input \(shapeString(x.shape)) must be 5-D")
        }
        let wShape = [x.shape[1], gy.shape[1]] + params.kernel
        let g = try ConvGeometry.transposed(x: x.shape, w: wShape, params: params, op: "conv_transpose3d backward (weight)")
        guard gy.shape == g.xShape else {
            throw TensorError.shapeMismatch(op: "conv_transpose3d backward (weight)", detail: "output gradient \(shapeString(gy.shape)) but the forward output is \(shapeString(g.xShape))")
        }
        let gw = try Tensor.checked(shape: wShape, op: "conv_transpose3d weight gradient")
        ConvDispatch.weightGradient(g, x: gy.data, y: x.data, w: gw.data, options: options)
        return gw
    }

    public static func backwardBias(_ gy: Tensor) throws -> Tensor { try Conv3d.backwardBias(gy) }
}
