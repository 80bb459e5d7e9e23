import Foundation
import PETTensor

// Convolution layers (PyTorch semantics). 3D: N×C×D×H×W; 2D: N×C×H×W with 4-D weights.
// Default initialization follows PyTorch (U(±1/√fan_in), fan_in from weight dims 1…; for transposed
// weights (Ci, Co, k) that is Co·k³ as in torch); DCGAN models re-initialize with `Init.dcgan`.

// x: (N, Ci, D, H, W) → (N, Co, OD, OH, OW)   weight: (Co, Ci, k, k, k)   bias: (Co)
public final class Conv3dLayer: Module {
    public let weight: Variable
    public let bias: Variable?
    public let params: ConvParams
    public var options: ConvOptions = .automatic
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true, rng: inout PETRandom) {
        params = ConvParams(k: kernel, s: stride, p: padding)
        let shape = [outChannels, inChannels, kernel, kernel, kernel]
        let bound = 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot()
        weight = Variable(Tensor.uniform(shape, low: -bound, high: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.uniform([outChannels], low: -bound, high: bound, rng: &rng), requiresGrad: true) : nil
    }
    public override func forward(_ x: Variable) throws -> Variable {
        try conv3d(x, weight: weight, bias: bias, params: params, options: options)
    }
}

// x: (N, Ci, D, H, W) → (N, Co, (I−1)s − 2p + k + op)   weight: (Ci, Co, k, k, k)   bias: (Co)
public final class ConvTranspose3dLayer: Module {
    public let weight: Variable
    public let bias: Variable?
    public let params: ConvParams
    public var options: ConvOptions = .automatic
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0,
                bias: Bool = true, rng: inout PETRandom) {
        params = ConvParams(k: kernel, s: stride, p: padding, op: outputPadding)
        let shape = [inChannels, outChannels, kernel, kernel, kernel]
        let bound = 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot()
        weight = Variable(Tensor.uniform(shape, low: -bound, high: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.uniform([outChannels], low: -bound, high: bound, rng: &rng), requiresGrad: true) : nil
    }
    public override func forward(_ x: Variable) throws -> Variable {
        try convTranspose3d(x, weight: weight, bias: bias, params: params, options: options)
    }
}

// x: (N, Ci, H, W) → (N, Co, OH, OW)   weight: (Co, Ci, k, k)
public final class Conv2dLayer: Module {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true, rng: inout PETRandom) {
        self.stride = stride; self.padding = padding
        let shape = [outChannels, inChannels, kernel, kernel]
        let bound = 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot()
        weight = Variable(Tensor.uniform(shape, low: -bound, high: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.uniform([outChannels], low: -bound, high: bound, rng: &rng), requiresGrad: true) : nil
    }
    public override func forward(_ x: Variable) throws -> Variable {
        try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

// x: (N, Ci, H, W) → (N, Co, (I−1)s − 2p + k + op)   weight: (Ci, Co, k, k)
public final class ConvTranspose2dLayer: Module {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, padding: Int, outputPadding: Int
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, outputPadding: Int = 0,
                bias: Bool = true, rng: inout PETRandom) {
        self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
        let shape = [inChannels, outChannels, kernel, kernel]
        let bound = 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot()
        weight = Variable(Tensor.uniform(shape, low: -bound, high: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.uniform([outChannels], low: -bound, high: bound, rng: &rng), requiresGrad: true) : nil
    }
    public override func forward(_ x: Variable) throws -> Variable {
        try convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding)
    }
}
