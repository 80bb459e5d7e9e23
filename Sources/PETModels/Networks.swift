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

/// z (+ one-hot class) → image: the input block (projection → bn0 → ReLU), then the upsampling
/// blocks (transposed conv → batch norm → ReLU; the last → tanh).
public class Generator: Module {
    public let geometry: NetworkGeometry
    public let zDim: Int
    /// The dense input: z → (N, C0, base grid), batch norm, ReLU.
    public let input: NetworkBlock
    /// The upsampling blocks, 0 ..< layers.
    public let blocks: [NetworkBlock]

    /// A generator of another layout (FastGAN.swift) from its input block and its blocks.
    init(geometry: NetworkGeometry, zDim: Int, input: NetworkBlock, blocks: [NetworkBlock]) {
        self.geometry = geometry; self.zDim = zDim; self.input = input; self.blocks = blocks
    }

    public init(geometry g: NetworkGeometry, zDim: Int, channels: [Int], rng: inout PETRandom) {
        geometry = g
        self.zDim = zDim
        let inF = zDim + g.conditionalClasses
        var spatial = g.baseGrid
        let project: Module
        if g.dims == 3 {
            project = GridProjection3d(inF, channels[0], grid: spatial, rng: &rng)
        } else {
            project = Sequential(named: [("fc", Linear(inF, channels[0] * spatial.reduce(1, *), bias: false, rng: &rng)),
                                         ("unflatten", Unflatten([channels[0]] + spatial))])
        }
        func batchNorm(_ c: Int) -> BatchNorm { g.dims == 3 ? BatchNorm3d(c) : BatchNorm2d(c) }
        input = NetworkBlock("project", project, norm: ("bn0", batchNorm(channels[0])), activation: ReLU(), outputShape: [channels[0]] + spatial)
        var blocks: [NetworkBlock] = []
        let widths = channels + [g.channels]
        for i in 0..<channels.count {
            let a = widths[i], b = widths[i + 1]
            spatial = spatial.map { $0 * 2 }
            let up: Module = g.dims == 3
                ? ConvTranspose3dLayer(a, b, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng)
                : ConvTranspose2dLayer(a, b, kernel: 5, stride: 2, padding: 2, outputPadding: 1, bias: false, rng: &rng)
            let last = i == channels.count - 1
            blocks.append(NetworkBlock("ups.\(i)", up, norm: last ? nil : ("norms.\(i)", batchNorm(b)),
                                       activation: last ? Tanh() : ReLU(), outputShape: [b] + spatial))
        }
        self.blocks = blocks
    }

    /// State-dict names: "project", "bn0", "ups.i", "norms.i".
    public override var namedChildren: [(String, Module)] { ([input] + blocks).familyOrderedLayers }

    /// z: (N, zDim + classes) → (N, channels, image...)
    public override func forward(_ z: Variable) throws -> Variable {
        var x = try input(z)
        for (i, b) in blocks.enumerated() { x = try b.run(x, recompute: recomputeBlocks.contains(i), owner: "G") }
        return x
    }

    /// Upsampling blocks whose activations are recomputed in backward instead of kept (activation
    /// checkpointing; the gradients are the same). Chosen by `RecomputePlan` from a memory budget.
    public var recomputeBlocks: Set<Int> = []

    /// The forward pass with each block's name and the shape of its layer's output.
    func traced(_ z: Variable) throws -> (Variable, [(String, [Int])]) { try ([input] + blocks).traced(z) }

    /// Tiled generation (`generate --memory-budget`): the part run whole for generator inputs z (the
    /// dense projection: small), whose output `tiledLayers` take tile by tile. Call without a graph.
    public func tiledInput(_ z: Variable) throws -> Variable { try input.layer(z) }

    /// The layers run tile by tile on `tiledInput`'s output, in order (the input block's norm and
    /// activation, then every block's).
    public var tiledLayers: [Module] { Array(input.layers.dropFirst()) + blocks.flatMap(\.layers) }

    /// Sampled through the tiled writer even without a budget (then as one tile).
    var rendersTiled: Bool { false }
}

/// image (+ class channels) → one logit: the strided blocks (conv → norm → LeakyReLU(0.2), no norm
/// on the first), then the head.
public class Discriminator: Module {
    public let geometry: NetworkGeometry
    public let norm: CriticNorm
    /// The strided blocks, 0 ..< layers.
    public let blocks: [NetworkBlock]
    /// (N, C_L, base grid) → (N, 1): no norm, no activation.
    public let head: NetworkBlock

    /// A discriminator of another layout (FastGAN.swift) from its strided blocks and head.
    init(geometry: NetworkGeometry, norm: CriticNorm, blocks: [NetworkBlock], head: NetworkBlock) {
        self.geometry = geometry; self.norm = norm; self.blocks = blocks; self.head = head
    }

    public init(geometry g: NetworkGeometry, channels: [Int], norm: CriticNorm, rng: inout PETRandom) {
        geometry = g
        self.norm = norm
        var blocks: [NetworkBlock] = []
        var inC = g.channels + g.conditionalClasses
        var spatial = g.imageShape
        for (i, c) in channels.enumerated() {
            spatial = spatial.map { $0 / 2 }
            let down: Module = g.dims == 3
                ? Conv3dLayer(inC, c, kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng)
                : Conv2dLayer(inC, c, kernel: 5, stride: 2, padding: 2, bias: false, rng: &rng)
            var normalization: (Module & BackwardFootprint)? = nil
            if i > 0 {
                switch norm {
                case .batch: normalization = g.dims == 3 ? BatchNorm3d(c) : BatchNorm2d(c)
                case .layer: normalization = LayerNorm([c] + spatial)
                case .instance: normalization = InstanceNormAny()
                case .none: normalization = Identity()
                }
            }
            blocks.append(NetworkBlock("downs.\(i)", down, norm: normalization.map { ("norms.\(i - 1)", $0) },
                                       activation: LeakyReLU(0.2), outputShape: [c] + spatial))
            inC = c
        }
        self.blocks = blocks
        let base = g.baseGrid
        let headLayer: Module = g.dims == 3
            ? GridHead3d(inC, grid: base, rng: &rng)
            : Sequential(named: [("flatten", Flatten()), ("fc", Linear(inC * base.reduce(1, *), 1, rng: &rng))])
        head = NetworkBlock("head", headLayer, outputShape: [1])
    }

    /// State-dict names: "downs.i", "norms.i", "head".
    public override var namedChildren: [(String, Module)] { (blocks + [head]).familyOrderedLayers }

    /// x: (N, channels + classes, image...) → logits (N, 1)
    public override func forward(_ x: Variable) throws -> Variable {
        var x = x
        for (i, b) in blocks.enumerated() { x = try b.run(x, recompute: recomputeBlocks.contains(i), owner: "D") }
        return try head(x)
    }

    /// Strided blocks recomputed in backward (activation checkpointing).
    public var recomputeBlocks: Set<Int> = []

    /// Values per item of the real input a training step reads (what the memory estimate counts).
    public var realInputElements: Int { geometry.channels * geometry.imageShape.reduce(1, *) }

    /// Bytes per sample that the pass on a real batch keeps for backward besides the strided blocks
    /// and the head (FastGAN's decoders; what `RecomputePlan`'s estimate adds to the critic phase).
    public var realPassExtraBytesPerSample: Int { 0 }

    /// Bytes per sample of the largest tensor of those (its gradient exists in backward beside it).
    public var realPassLargestBytesPerSample: Int { 0 }

    /// Logits of a real batch (its first `geometry.channels` channels the images, the rest class
    /// channels) and a term the discriminator adds to its own loss on real images (FastGAN's
    /// reconstruction), nil when it has none. Random choices (FastGAN's crop) come from `rng`.
    public func forwardReal(_ x: Variable, rng: inout PETRandom) throws -> (logits: Variable, extraLoss: Variable?) {
        (try forward(x), nil)
    }

    /// The forward pass with each block's name and the shape of its layer's output.
    func traced(_ x: Variable) throws -> (Variable, [(String, [Int])]) { try (blocks + [head]).traced(x) }
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
