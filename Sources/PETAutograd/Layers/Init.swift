import Foundation
import PETTensor

/// Weight initializers (in place). Fans follow torch.nn.init: fan_in = size(1)·receptive field,
/// fan_out = size(0)·receptive field.
public enum Init {
    static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2 else { return (shape.first ?? 1, shape.first ?? 1) }
        let rf = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * rf, shape[0] * rf)
    }

    public static func normal(_ v: Variable, mean: Float = 0, std: Float, rng: inout PETRandom) {
        for i in 0..<v.count { v.value.data[i] = rng.normal(mean: mean, std: std) }
    }
    public static func uniform(_ v: Variable, low: Float, high: Float, rng: inout PETRandom) {
        for i in 0..<v.count { v.value.data[i] = rng.uniform(low, high) }
    }
    public static func constant(_ v: Variable, _ c: Float) { v.value.data.update(repeating: c, count: v.count) }

    /// Kaiming (He) normal, fan_in mode: std = gain/√fan_in, gain √(2/(1+a²)).
    public static func kaimingNormal(_ v: Variable, a: Float = 0, rng: inout PETRandom) {
        let std = (2 / (1 + a * a)).squareRoot() / Float(fans(v.shape).fanIn).squareRoot()
        normal(v, std: std, rng: &rng)
    }
    /// Kaiming (He) uniform, fan_in mode: bound = gain·√(3/fan_in).
    public static func kaimingUniform(_ v: Variable, a: Float = 0, rng: inout PETRandom) {
        let bound = (2 / (1 + a * a)).squareRoot() * (3 / Float(fans(v.shape).fanIn)).squareRoot()
        uniform(v, low: -bound, high: bound, rng: &rng)
    }
    /// Xavier (Glorot) uniform: bound = gain·√(6/(fan_in + fan_out)).
    public static func xavierUniform(_ v: Variable, gain: Float = 1, rng: inout PETRandom) {
        let f = fans(v.shape)
        let bound = gain * (6 / Float(f.fanIn + f.fanOut)).squareRoot()
        uniform(v, low: -bound, high: bound, rng: &rng)
    }
    /// Xavier (Glorot) normal: std = gain·√(2/(fan_in + fan_out)).
    public static func xavierNormal(_ v: Variable, gain: Float = 1, rng: inout PETRandom) {
        let f = fans(v.shape)
        normal(v, std: gain * (2 / Float(f.fanIn + f.fanOut)).squareRoot(), rng: &rng)
    }

    /// DCGAN initialization (Radford et al.): conv weights N(0, 0.02); batch-norm γ N(1, 0.02), β 0.
    /// Applied to every module of `model` by parameter name.
    public static func dcgan(_ model: Module, rng: inout PETRandom) {
        dcganVisit(model, rng: &rng)
    }
    private static func dcganVisit(_ m: Module, rng: inout PETRandom) {
        switch m {
        case let c as Conv3dLayer: normal(c.weight, std: 0.02, rng: &rng); if let b = c.bias { constant(b, 0) }
        case let c as ConvTranspose3dLayer: normal(c.weight, std: 0.02, rng: &rng); if let b = c.bias { constant(b, 0) }
        case let c as Conv2dLayer: normal(c.weight, std: 0.02, rng: &rng); if let b = c.bias { constant(b, 0) }
        case let c as ConvTranspose2dLayer: normal(c.weight, std: 0.02, rng: &rng); if let b = c.bias { constant(b, 0) }
        case let l as Linear: normal(l.weight, std: 0.02, rng: &rng); if let b = l.bias { constant(b, 0) }
        case let b as BatchNorm:
            if let w = b.weight { normal(w, mean: 1, std: 0.02, rng: &rng) }
            if let bb = b.bias { constant(bb, 0) }
        default: break
        }
        for (_, c) in m.namedChildren { dcganVisit(c, rng: &rng) }
    }

    /// WGAN weight clipping: clamps every parameter of `model` to [−c, c] in place.
    public static func clipWeights(_ model: Module, to c: Float) {
        for p in model.parameters { p.clampInPlace(-c, c) }
    }
}
