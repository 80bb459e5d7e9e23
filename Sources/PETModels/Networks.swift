import Foundation
import PETAutograd
import PETTensor

// The generator and discriminator of every model family, 2D and 3D.
//
// Generator (DCGAN layout): z (+ one-hot class) → projection to c0 × base grid → BN → ReLU →
//   L−1 × [strided transposed conv → BN → ReLU] → strided transposed conv to the image channels → tanh.
//   2D: the projection is a fully connected layer and the convolutions are k5 s2 p2 op1 (the paper);
//   3D: the projection is a transposed convolution from 1×1×1 whose kernel is the base grid (a fully
//   connected layer written as a convolution: for a 4³ base it is torch's ConvTranspose3d(100, c0, 4, 1, 0)),
//   and the convolutions are k4 s2 p1. The image grid is base × 2^L on every axis, so any grid whose
//   sides are a base grid times 2^L works (96×112×96 = 6×7×6 × 16).
// Discriminator: image (+ constant class channels) → L × [strided conv → norm (not on the first) →
//   LeakyReLU(0.2)] → head to one logit (2D: flatten + FC; 3D: a convolution whose kernel is the base
//   grid). Sigmoid is applied inside the BCE loss (BCE-with-logits: the same function, stable).

/// x: (N, F) → (N, C0, bD, bH, bW): a transposed convolution from 1×1×1 with kernel = base grid.
public final class GridProjection3d: Module {
    public let weight: Variable
    public let params: ConvParams
    public init(_ inFeatures: Int, _ outChannels: Int, grid: [Int], rng: inout PETRandom) {
        params = ConvParams(kernel: grid)
        weight = Variable(Tensor.normal([inFeatures, outChannels] + grid, std: 0.02, rng: &rng), requiresGrad: true)
    }
    public override func forward(_ x: Variable) throws -> Variable {
        let x5 = try x.reshaped([x.shape[0], x.shape[1], 1, 1, 1])
        return try convTranspose3d(x5, weight: weight, params: params)
    }
}

/// x: (N, C, bD, bH, bW) → (N, 1): a convolution whose kernel covers the whole base grid.
public final class GridHead3d: Module {
    public let weight: Variable
    public let params: ConvParams
    public init(_ inChannels: Int, grid: [Int], rng: inout PETRandom) {
        params = ConvParams(kernel: grid)
        weight = Variable(Tensor.normal([1, inChannels] + grid, std: 0.02, rng: &rng), requiresGrad: true)
    }
    public override func forward(_ x: Variable) throws -> Variable {
        try conv3d(x, weight: weight, params: params).reshaped([x.shape[0], 1])
    }
}

/// A layer that returns its input (the "none" normalization).
public final class Identity: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { x }
}

/// Instance normalization for 2D (N, C, H, W) or 3D inputs, no affine (PyTorch's default).
public final class InstanceNormAny: Module {
    public override init() {}
    public override func forward(_ x: Variable) throws -> Variable { try instanceNorm(x) }
}

/// What a network is built for: dimensionality, image channels, base grid, classes.
public struct NetworkGeometry: Codable, Equatable, Sendable {
    /// 2 or 3.
    public var dims: Int
    /// Image channels (3D: 1; 2D: adjacent slices, 3 in the paper).
    public var channels: Int
    /// Spatial shape of the images, (D, H, W) or (H, W).
    public var imageShape: [Int]
    /// Number of strided layers L (image = base × 2^L).
    public var layers: Int
    /// Classes (one-hot width) of a conditional model; 0 when unconditional.
    public var conditionalClasses: Int

    public var baseGrid: [Int] { imageShape.map { $0 >> layers } }

    public init(dims: Int, channels: Int, imageShape: [Int], layers: Int, conditionalClasses: Int) {
        self.dims = dims; self.channels = channels; self.imageShape = imageShape; self.layers = layers
        self.conditionalClasses = conditionalClasses
    }

    /// Checks that the image grid is a base grid times 2^L.
    public func validate() throws {
        let f = 1 << layers
        guard imageShape.count == dims, imageShape.allSatisfy({ $0 % f == 0 && $0 / f >= 1 }) else {
            let suggestion = imageShape.map { max(1, Int((Double($0) / Double(f)).rounded())) * f }
            throw ConfigError.invalid("the image grid \(imageShape.map(String.init).joined(separator: "×")) is not a base grid times 2^\(layers) = \(f) on every axis "
                + "(\(layers) strided layers from g_channels); use a grid like \(suggestion.map(String.init).joined(separator: "×")) or change the number of layers")
        }
    }
}

public final class Generator: Module {
    public let geometry: NetworkGeometry
    public let zDim: Int
    let project: Module
    let bn0: BatchNorm
    let ups: [Module]
    let norms: [Module]

    public init(geometry g: NetworkGeometry, zDim: Int, channels: [Int], rng: inout PETRandom) {
        geometry = g
        self.zDim = zDim
        let inF = zDim + g.conditionalClasses
        let base = g.baseGrid
        if g.dims == 3 {
            project = GridProjection3d(inF, channels[0], grid: base, rng: &rng)
            bn0 = BatchNorm3d(channels[0])
        } else {
            project = Sequential(named: [("fc", Linear(inF, channels[0] * base.reduce(1, *), bias: false, rng: &rng)),
                                         ("unflatten", Unflatten([channels[0]] + base))])
            bn0 = BatchNorm2d(channels[0])
        }
        var ups: [Module] = [], norms: [Module] = []
        let widths = channels + [g.channels]
        for i in 0..<channels.count {
            let a = widths[i], b = widths[i + 1]
            if g.dims == 3 {
                ups.append(ConvTranspose3dLayer(a, b, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng))
                if i < channels.count - 1 { norms.append(BatchNorm3d(b)) }
            } else {
                ups.append(ConvTranspose2dLayer(a, b, kernel: 5, stride: 2, padding: 2, outputPadding: 1, bias: false, rng: &rng))
                if i < channels.count - 1 { norms.append(BatchNorm2d(b)) }
            }
        }
        self.ups = ups
        self.norms = norms
    }

    /// z: (N, zDim + classes) → (N, channels, image...)
    public override func forward(_ z: Variable) throws -> Variable { try forwardTrace(z, trace: nil) }

    /// The forward pass, recording each layer's output shape when `trace` is given.
    public func forwardTrace(_ z: Variable, trace: UnsafeMutablePointer<[(String, [Int])]>?) throws -> Variable {
        var x = try project(z)
        trace?.pointee.append(("project", x.shape))
        x = try bn0.forwardActivated(x, negativeSlope: 0)
        for (i, up) in ups.enumerated() {
            if trace == nil && recomputeBlocks.contains(i) {
                x = try checkpoint(x, parameters: blockParameters(i), name: "checkpoint(G.ups.\(i))") { [unowned self] v in try self.block(i, v) }
                continue
            }
            x = try up(x)
            trace?.pointee.append(("ups.\(i)", x.shape))
            x = i < norms.count ? try activated(norms[i], x, negativeSlope: 0) : x.tanh()
        }
        return x
    }

    /// Upsampling blocks (0 ..< layers: transposed conv → batch norm → ReLU, the last → tanh) whose
    /// activations are recomputed in backward instead of kept (activation checkpointing; the
    /// gradients are the same). Chosen by `RecomputePlan` from a memory budget.
    public var recomputeBlocks: Set<Int> = []

    func block(_ i: Int, _ x: Variable) throws -> Variable {
        let y = try ups[i](x)
        return i < norms.count ? try activated(norms[i], y, negativeSlope: 0) : y.tanh()
    }

    func blockParameters(_ i: Int) -> [Variable] { ups[i].parameters + (i < norms.count ? norms[i].parameters : []) }
}

public final class Discriminator: Module {
    public let geometry: NetworkGeometry
    public let norm: CriticNorm
    let downs: [Module]
    let norms: [Module]
    let head: Module

    public init(geometry g: NetworkGeometry, channels: [Int], norm: CriticNorm, rng: inout PETRandom) {
        geometry = g
        self.norm = norm
        var downs: [Module] = [], norms: [Module] = []
        var inC = g.channels + g.conditionalClasses
        var spatial = g.imageShape
        for (i, c) in channels.enumerated() {
            spatial = spatial.map { $0 / 2 }
            if g.dims == 3 {
                downs.append(Conv3dLayer(inC, c, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng))
            } else {
                downs.append(Conv2dLayer(inC, c, kernel: 5, stride: 2, padding: 2, bias: false, rng: &rng))
            }
            if i > 0 {
                switch norm {
                case .batch: norms.append(g.dims == 3 ? BatchNorm3d(c) : BatchNorm2d(c))
                case .layer: norms.append(LayerNorm([c] + spatial))
                case .instance: norms.append(InstanceNormAny())
                case .none: norms.append(Identity())
                }
            }
            inC = c
        }
        self.downs = downs
        self.norms = norms
        let base = g.baseGrid
        if g.dims == 3 {
            head = GridHead3d(inC, grid: base, rng: &rng)
        } else {
            head = Sequential(named: [("flatten", Flatten()), ("fc", Linear(inC * base.reduce(1, *), 1, rng: &rng))])
        }
    }

    /// x: (N, channels + classes, image...) → logits (N, 1)
    public override func forward(_ x: Variable) throws -> Variable { try forwardTrace(x, trace: nil) }

    public func forwardTrace(_ input: Variable, trace: UnsafeMutablePointer<[(String, [Int])]>?) throws -> Variable {
        var x = input
        for (i, d) in downs.enumerated() {
            if trace == nil && recomputeBlocks.contains(i) {
                x = try checkpoint(x, parameters: blockParameters(i), name: "checkpoint(D.downs.\(i))") { [unowned self] v in try self.block(i, v) }
                continue
            }
            x = try d(x)
            trace?.pointee.append(("downs.\(i)", x.shape))
            x = i > 0 ? try activated(norms[i - 1], x, negativeSlope: 0.2) : x.leakyReLU(0.2)
        }
        let y = try head(x)
        trace?.pointee.append(("head", y.shape))
        return y
    }

    /// Strided blocks (conv → norm → LeakyReLU) recomputed in backward (activation checkpointing).
    public var recomputeBlocks: Set<Int> = []

    func block(_ i: Int, _ x: Variable) throws -> Variable {
        let y = try downs[i](x)
        return i > 0 ? try activated(norms[i - 1], y, negativeSlope: 0.2) : y.leakyReLU(0.2)
    }

    func blockParameters(_ i: Int) -> [Variable] { downs[i].parameters + (i > 0 ? norms[i - 1].parameters : []) }
}

/// norm(x) then leaky ReLU; batch norm fuses the two (half the saved activations, fewer passes).
func activated(_ norm: Module, _ x: Variable, negativeSlope: Float) throws -> Variable {
    if let bn = norm as? BatchNorm { return try bn.forwardActivated(x, negativeSlope: negativeSlope) }
    return try norm(x).leakyReLU(negativeSlope)
}

/// DCGAN initialization of every weight: N(0, std) for convolution and linear weights, biases 0,
/// batch-norm γ ~ N(1, 0.02) and β = 0; layer-norm affine stays (1, 0).
func initializeWeights(_ m: Module, std: Float, rng: inout PETRandom) {
    switch m {
    case let b as BatchNorm:
        if let w = b.weight { Init.normal(w, mean: 1, std: 0.02, rng: &rng) }
        if let bb = b.bias { Init.constant(bb, 0) }
    case is LayerNorm: break
    default:
        for (name, p) in m.ownParameters {
            if name == "bias" { Init.constant(p, 0) } else { Init.normal(p, std: std, rng: &rng) }
        }
    }
    for (_, c) in m.namedChildren { initializeWeights(c, std: std, rng: &rng) }
}

// MARK: tiled generation (PETTiling)

extension Generator {
    /// The generator's dense input: z (+ one-hot class) → (N, C0, base grid), before bn0. Tiled
    /// generation runs this small part whole and the rest (`tiledLayers()`) tile by tile.
    public func projectLatent(_ z: Variable) throws -> Variable { try project(z) }

    /// The layers after the projection, in the order `forward` applies them: bn0, ReLU, then per
    /// upsampling layer the transposed convolution, its batch norm and ReLU, and tanh at the end.
    /// The same module objects (weights and running statistics are shared, not copied); `forward`
    /// calls `.relu()` / `.tanh()`, which are the ops the ReLU / Tanh modules run.
    public func tiledLayers() -> [Module] {
        var layers: [Module] = [bn0, ReLU()]
        for (i, up) in ups.enumerated() {
            layers.append(up)
            layers += i < norms.count ? [norms[i], ReLU()] : [Tanh()]
        }
        return layers
    }
}
