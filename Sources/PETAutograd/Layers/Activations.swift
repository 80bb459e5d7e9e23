import Foundation
import PETTensor

public final class ReLU: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { x.relu() }
}

public final class LeakyReLU: Module {
    public let negativeSlope: Float
    public init(_ negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    public override func forward(_ x: Variable) throws -> Variable { x.leakyReLU(negativeSlope) }
}

public final class Tanh: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { x.tanh() }
}

public final class Sigmoid: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { x.sigmoid() }
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
