import Foundation
import PETTensor

// x: (N, in) → (N, out)   weight: (out, in)   bias: (out)
/// Fully connected layer. PyTorch's default initialization (Kaiming-uniform with a = √5, i.e.
/// U(±1/√in) for weight and bias) unless re-initialized.
public final class Linear: Module {
    public let weight: Variable
    public let bias: Variable?
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout PETRandom) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Variable(Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.uniform([outFeatures], low: -bound, high: bound, rng: &rng), requiresGrad: true) : nil
    }
    public override func forward(_ x: Variable) throws -> Variable { try linear(x, weight: weight, bias: bias) }
}
