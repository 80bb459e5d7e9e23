import Foundation
import PETTensor

// Parameter-free layers: activations (each keeps one tensor of its input's size for backward),
// the identity, and reshapes.

/// An activation batch norm can fuse with (`BatchNorm.forwardActivated`): leaky ReLU, ReLU being
/// slope 0.
public protocol Rectifier: Module {
    var negativeSlope: Float { get }
}

public final class ReLU: Module, Rectifier, BackwardFootprint {
    public override init() {}
    public var negativeSlope: Float { 0 }
    public var keptTensorsForBackward: Int { 1 }
    public override func forward(_ x: Variable) throws -> Variable { x.relu() }
}

public final class LeakyReLU: Module, Rectifier, BackwardFootprint {
    public let negativeSlope: Float
    public init(_ negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    public var keptTensorsForBackward: Int { 1 }
    public override func forward(_ x: Variable) throws -> Variable { x.leakyReLU(negativeSlope) }
}

public final class Tanh: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 1 }
    public override func forward(_ x: Variable) throws -> Variable { x.tanh() }
}

public final class Sigmoid: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 1 }
    public override func forward(_ x: Variable) throws -> Variable { x.sigmoid() }
}

/// A layer that returns its input (a network's "none" normalization); keeps nothing.
public final class Identity: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 0 }
    public override func forward(_ x: Variable) throws -> Variable { x }
}

/// (N, ...) → (N, rest)
public final class Flatten: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { try x.flattened() }
}

/// (N, F) → (N, shape...)
public final class Unflatten: Module {
    public let shape: [Int]
    public init(_ shape: [Int]) { self.shape = shape }
    public override func forward(_ x: Variable) throws -> Variable { try x.reshaped([x.shape[0]] + shape) }
}

/// torch.nn.GLU(dim=1): (N, 2C, ...) → (N, C, ...), first half · sigmoid(second half). Keeps its
/// input (2 tensors of its output's size) and the sigmoid (1).
public final class GLU: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 3 }
    public override func forward(_ x: Variable) throws -> Variable { try glu(x) }
}

/// x · sigmoid(x) (torch's SiLU; FastGAN's Swish): keeps its input and the sigmoid.
public final class Swish: Module, BackwardFootprint {
    public override init() {}
    public var keptTensorsForBackward: Int { 2 }
    public override func forward(_ x: Variable) throws -> Variable { try swish(x) }
}
