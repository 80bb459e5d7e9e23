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
