import Foundation
import PETAutograd
import PETTensor

// The conditional FastGAN (`--model fastgan2d | fastgan3d`): the light-weight GAN of Liu et al.
// (ICLR 2021, "Towards faster and stabilized GAN training for high-fidelity few-shot image
// synthesis") as Werner et al. (Sci Rep 2022, 12:18787) used it, class-conditional, on brain SPECT.
// One code path for 2D and 3D: every layer below is dimension-generic.
//
// Generator (features f_0 … f_L, f_i on the base grid × 2^i):
//   [z, one-hot class] → dense projection to 2·c_0 × base grid → batch norm → GLU        = f_0
//   L × [nearest ×2 up-sampling → conv k3 p1 (no bias) to 2·c_{i+1} → batch norm → GLU]   = f_1 … f_L
//   skip-layer excitation (`sle` of them, default 1): f_{L−j} ← f_{L−j} · gate(f_{max(0, L−j−4)}),
//     gates 4 doublings apart as in FastGAN (f_8 gates f_128, …), fewer when the network is shallower;
//   conv k3 p1 (no bias) to the image channels → tanh.
// Discriminator: [image, constant class channels] → L × [conv k4 s2 p1 → batch norm (not on the
//   first) → LeakyReLU 0.2] → a convolution whose kernel is the base grid → one logit; hinge loss.
//   Self-supervised decoders on real images: one decodes the last block's features (base grid) to
//   the image at half resolution, one decodes a random half-size crop (one of the 2^dims corners,
//   drawn per batch as FastGAN's `part`) of block L−2's features to that corner of the image at
//   full resolution; each decoder is L−1 × [up-sampling → conv k3 → batch norm → GLU] → conv k3 →
//   tanh. The reconstruction loss, mean squared error (FastGAN used LPIPS, a perceptual distance of
//   an ImageNet VGG: no 3D counterpart exists), times `reconstruction_weight`, is added to the
//   discriminator loss on real batches only.
// Widths: g_channels = [c_0, …, c_{L−1}], c_L = c_{L−1}; d_channels one per strided block.

extension ModelFamily {
    /// FastGAN's training recipe (its train.py: Adam lr 2e-4, β = (0.5, 0.999), batch 8, z 256-d
    /// normal), one discriminator update per generator update, batch norm in the discriminator.
    static func fastGANDefaults(_ c: inout TrainConfig) {
        c.criticNorm = .batch; c.optimizer = .adam; c.lrG = 2e-4; c.lrD = 2e-4; c.beta1 = 0.5; c.beta2 = 0.999
        c.nCritic = 1; c.batch = 8; c.zDim = 256; c.zDistribution = .normal
        c.gChannels = [128, 64, 32]; c.dChannels = [32, 64, 128]
        // FastGAN's train.py keeps a 0.999 moving average of G and samples with it.
        c.gEMA = 0.999
    }
    public static let fastgan2d = ModelFamily(dims: 2, loss: .hinge, summary: "2D conditional FastGAN, hinge + reconstruction", layout: .fastgan) { c in
        fastGANDefaults(&c)
    }
    public static let fastgan3d = ModelFamily(dims: 3, loss: .hinge, summary: "3D conditional FastGAN, hinge + reconstruction", layout: .fastgan) { c in
        fastGANDefaults(&c)
    }
}

/// Conv k3 p1 without bias, 2D or 3D.
func conv3x3(_ dims: Int, _ a: Int, _ b: Int, rng: inout PETRandom) -> Module {
    dims == 3 ? Conv3dLayer(a, b, kernel: 3, padding: 1, bias: false, rng: &rng) : Conv2dLayer(a, b, kernel: 3, padding: 1, bias: false, rng: &rng)
}

func batchNorm(_ dims: Int, _ c: Int) -> BatchNorm { dims == 3 ? BatchNorm3d(c) : BatchNorm2d(c) }

/// FastGAN's up-sampling block: nearest ×2 → conv k3 (to 2·out) → batch norm → GLU (to out).
func fastGANUpBlock(_ name: String, normName: String, dims: Int, _ a: Int, _ b: Int, outputSpatial: [Int], rng: inout PETRandom) -> NetworkBlock {
    NetworkBlock(name, Sequential(named: [("up", UpsampleNearest(factor: 2)), ("conv", conv3x3(dims, a, 2 * b, rng: &rng))]),
                 norm: (normName, batchNorm(dims, 2 * b)), activation: GLU(), outputShape: [b] + outputSpatial)
}

/// Which features of a FastGAN generator gate which: (low feature index, high feature index), the
/// j-th gating the (L−j)-th feature from 4 doublings below (0 at the least).
public func fastGANExcitationPairs(layers: Int, count: Int) -> [(low: Int, high: Int)] {
    (0..<count).map { j in (max(0, layers - j - 4), layers - j) }
}

/// The FastGAN generator (see the top of this file). Its `blocks` are the up-sampling blocks and
/// the output block (what memory estimates and activation checkpointing read); the excitations
/// connect blocks, so it has its own forward pass; tiled generation splits it at the last feature an
/// excitation reads (`tiledInput`).
public final class FastGANGenerator: Generator {
    public let excitations: [SkipLayerExcitation]
    public let pairs: [(low: Int, high: Int)]
    /// One per excitation: its gate as a per-sample constant in tiled generation (no parameters,
    /// not in the state dict).
    let tileGates: [ChannelGate]

    public init(geometry g: NetworkGeometry, zDim: Int, channels: [Int], excitations count: Int, rng: inout PETRandom) throws {
        let L = channels.count
        guard (0...L).contains(count) else {
            throw ConfigError.badValue(source: "config", key: "sle", reason: "a FastGAN generator with \(L) up-sampling blocks has at most \(L) skip-layer excitations, got \(count)")
        }
        let inF = zDim + g.conditionalClasses
        let base = g.baseGrid
        let widths = channels + [channels[L - 1]]
        let c0 = widths[0]
        let project: Module = g.dims == 3
            ? GridProjection3d(inF, 2 * c0, grid: base, rng: &rng)
            : Sequential(named: [("fc", Linear(inF, 2 * c0 * base.reduce(1, *), bias: false, rng: &rng)), ("unflatten", Unflatten([2 * c0] + base))])
        let input = NetworkBlock("project", project, norm: ("bn0", batchNorm(g.dims, 2 * c0)), activation: GLU(), outputShape: [c0] + base)
        var blocks: [NetworkBlock] = []
        var spatial = base
        for i in 0..<L {
            spatial = spatial.map { $0 * 2 }
            blocks.append(fastGANUpBlock("ups.\(i)", normName: "norms.\(i)", dims: g.dims, widths[i], widths[i + 1], outputSpatial: spatial, rng: &rng))
        }
        blocks.append(NetworkBlock("out", conv3x3(g.dims, widths[L], g.channels, rng: &rng), activation: Tanh(), outputShape: [g.channels] + spatial))
        pairs = fastGANExcitationPairs(layers: L, count: count)
        excitations = pairs.map { p in SkipLayerExcitation(lowChannels: widths[p.low], highChannels: widths[p.high], grid: base, rng: &rng) }
        tileGates = pairs.map { _ in ChannelGate() }
        super.init(geometry: g, zDim: zDim, input: input, blocks: blocks)
    }

    /// State-dict names: "project", "bn0", "ups.i" ("ups.i.conv"), "norms.i", "out", "sle.j".
    public override var namedChildren: [(String, Module)] {
        ([input] + blocks).familyOrderedLayers + excitations.enumerated().map { ("sle.\($0.offset)", $0.element as Module) }
    }

    /// The features f_0 … f_L (excitations applied) and the image.
    func features(_ z: Variable) throws -> (features: [Variable], image: Variable) {
        var f = [try input(z)]
        let L = blocks.count - 1
        for i in 0..<L {
            var x = try blocks[i].run(f[i], recompute: recomputeBlocks.contains(i), owner: "G")
            for (e, p) in zip(excitations, pairs) where p.high == i + 1 { x = try e(low: f[p.low], high: x) }
            f.append(x)
        }
        return (f, try blocks[L].run(f[L], recompute: recomputeBlocks.contains(L), owner: "G"))
    }

    public override func forward(_ z: Variable) throws -> Variable { try features(z).image }

    /// The last feature an excitation reads (f_P: low resolution, base grid × 2^P).
    var tiledPrefix: Int { pairs.map(\.low).max() ?? 0 }

    /// Tiled generation: an excitation gates a whole high-resolution map by a whole low-resolution
    /// one, so the features up to f_P run whole (the input block, the blocks before it and their own
    /// excitations, as `features` runs them), and every excitation of a later feature computes its
    /// gate from its whole low-resolution map here, once per sample (N, C, 1…: small). What follows
    /// f_P then runs tile by tile, each gate a per-sample constant multiplying its feature as the
    /// untiled excitation does (the same ops on the same values).
    public override func tiledInput(_ z: Variable) throws -> Variable {
        let P = tiledPrefix
        var f = [try input(z)]
        for i in 0..<P {
            var x = try blocks[i](f[i])
            for (e, p) in zip(excitations, pairs) where p.high == i + 1 { x = try e(low: f[p.low], high: x) }
            f.append(x)
        }
        for (j, (e, p)) in zip(excitations, pairs).enumerated() where p.high > P { tileGates[j].gate = try e.gate(f[p.low]).value }
        return f[P]
    }

    /// The blocks after f_P with their excitations' gates, then the output block.
    public override var tiledLayers: [Module] {
        let P = tiledPrefix, L = blocks.count - 1
        var layers: [Module] = []
        for i in P..<L {
            layers += blocks[i].layers
            for (j, p) in pairs.enumerated() where p.high == i + 1 { layers.append(tileGates[j]) }
        }
        return layers + blocks[L].layers
    }

    override func traced(_ z: Variable) throws -> (Variable, [(String, [Int])]) {
        var trace: [(String, [Int])] = []
        var f = [try input(z)]
        trace.append(("project", f[0].shape))
        let L = blocks.count - 1
        for i in 0..<L {
            var x = try blocks[i](f[i])
            trace.append((blocks[i].name, x.shape))
            for (j, (e, p)) in zip(excitations, pairs).enumerated() where p.high == i + 1 {
                x = try e(low: f[p.low], high: x)
                trace.append(("sle.\(j) (f\(p.low) gates f\(p.high))", x.shape))
            }
            f.append(x)
        }
        let y = try blocks[L](f[L])
        trace.append(("out", y.shape))
        return (y, trace)
    }
}

/// A FastGAN self-supervised decoder: `ups` × [up-sampling block] → conv k3 → tanh.
public final class FastGANDecoder: Module {
    public let ups: [NetworkBlock]
    public let out: NetworkBlock
    /// Its input, one sample: (C, spatial...).
    public let inputShape: [Int]
    init(dims: Int, inChannels: Int, imageChannels: Int, inputSpatial: [Int], ups n: Int, rng: inout PETRandom) {
        inputShape = [inChannels] + inputSpatial
        var blocks: [NetworkBlock] = []
        var c = inChannels, spatial = inputSpatial
        for i in 0..<n {
            let b = max(8, c / 2)
            spatial = spatial.map { $0 * 2 }
            blocks.append(fastGANUpBlock("ups.\(i)", normName: "norms.\(i)", dims: dims, c, b, outputSpatial: spatial, rng: &rng))
            c = b
        }
        ups = blocks
        out = NetworkBlock("out", conv3x3(dims, c, imageChannels, rng: &rng), activation: Tanh(), outputShape: [imageChannels] + spatial)
    }
    public override var namedChildren: [(String, Module)] { (ups + [out]).familyOrderedLayers }
    public override func forward(_ x: Variable) throws -> Variable {
        var x = x
        for b in ups { x = try b(x) }
        return try out(x)
    }

    /// Elements of one sample the decoder keeps for backward: per block, its convolution's input
    /// (an up-sampling block's: the up-sampled map, 2^dims times its input; nearest up-sampling
    /// itself keeps nothing) and the block's `keptTensorsForBackward` of its output's size, + 1 for
    /// an up-sampling block (GLU halves the channels, so the convolution's output and batch norm's
    /// tensors are twice the block's output).
    public var keptElementsForBackward: Int {
        let dims = inputShape.count - 1
        var input = inputShape.reduce(1, *), total = 0
        for b in ups {
            let output = b.outputShape.reduce(1, *)
            total += (input << dims) + (b.keptTensorsForBackward + 1) * output
            input = output
        }
        return total + input + out.keptTensorsForBackward * out.outputShape.reduce(1, *)
    }

    /// Elements of one sample of its largest tensor: an up-sampling block's convolution output (twice
    /// the block's output: GLU halves it) or the up-sampled input of that convolution.
    public var largestElements: Int {
        let dims = inputShape.count - 1
        var input = inputShape.reduce(1, *), largest = 0
        for b in ups {
            let output = b.outputShape.reduce(1, *)
            largest = max(largest, input << dims, 2 * output)
            input = output
        }
        return max(largest, out.outputShape.reduce(1, *))
    }
}

/// The FastGAN discriminator (see the top of this file): the strided trunk and head of the DCGAN
/// layout (so tiled analysis scores with it unchanged) plus the two decoders, used in training on
/// real batches only.
public final class FastGANDiscriminator: Discriminator {
    public let decoderWhole: FastGANDecoder
    public let decoderPart: FastGANDecoder
    public let reconstructionWeight: Float

    public init(geometry g: NetworkGeometry, channels: [Int], norm: CriticNorm, reconstructionWeight: Double, rng: inout PETRandom) throws {
        let L = channels.count
        guard L >= 2 else {
            throw ConfigError.badValue(source: "config", key: "d_channels", reason: "a FastGAN discriminator needs at least 2 strided blocks (its crop decoder reads block L−2), got \(L)")
        }
        let plain = Discriminator(geometry: g, channels: channels, norm: norm, rng: &rng)
        let base = g.baseGrid
        decoderWhole = FastGANDecoder(dims: g.dims, inChannels: channels[L - 1], imageChannels: g.channels, inputSpatial: base, ups: L - 1, rng: &rng)
        decoderPart = FastGANDecoder(dims: g.dims, inChannels: channels[L - 2], imageChannels: g.channels, inputSpatial: base, ups: L - 1, rng: &rng)
        self.reconstructionWeight = Float(reconstructionWeight)
        super.init(geometry: g, norm: norm, blocks: plain.blocks, head: plain.head)
    }

    /// State-dict names: "downs.i", "norms.i", "head", "dec_whole.…", "dec_part.…".
    public override var namedChildren: [(String, Module)] {
        (blocks + [head]).familyOrderedLayers + [("dec_whole", decoderWhole as Module), ("dec_part", decoderPart as Module)]
    }

    /// Both decoders' graphs and the two reconstruction targets (each an eighth (3D) or a quarter
    /// (2D) of the image): what the real pass keeps besides the trunk.
    public override var realPassExtraBytesPerSample: Int {
        let image = geometry.channels * geometry.imageShape.reduce(1, *)
        return 4 * (decoderWhole.keptElementsForBackward + decoderPart.keptElementsForBackward + 2 * (image >> geometry.dims))
    }

    public override var realPassLargestBytesPerSample: Int { 4 * max(decoderWhole.largestElements, decoderPart.largestElements) }

    /// The half-size corner `part` (bit a set: the upper half of spatial axis a) of x's spatial axes.
    static func corner(_ x: Variable, part: Int) throws -> Variable {
        var y = x
        for a in 2..<x.rank {
            let half = x.shape[a] / 2
            y = try y.slice(axis: a, start: (part >> (a - 2)) & 1 == 1 ? x.shape[a] - half : 0, length: half)
        }
        return y
    }

    /// Logits and the weighted reconstruction loss of a real batch: whole image at half resolution
    /// from the last block, a random corner at full resolution from block L−2.
    public override func forwardReal(_ x: Variable, rng: inout PETRandom) throws -> (logits: Variable, extraLoss: Variable?) {
        var f = x, feats: [Variable] = []
        for (i, b) in blocks.enumerated() {
            f = try b.run(f, recompute: recomputeBlocks.contains(i), owner: "D")
            feats.append(f)
        }
        let logits = try head(f)
        let L = blocks.count
        let image = try x.slice(axis: 1, start: 0, length: geometry.channels)
        let dims = x.rank - 2
        let part = rng.int(below: 1 << dims)
        let whole = try decoderWhole(feats[L - 1])
        let wholeTarget = try avgPool(image, factor: zip(image.shape.dropFirst(2), whole.shape.dropFirst(2)).map { $0 / $1 })
        let cropped = try decoderPart(FastGANDiscriminator.corner(feats[L - 2], part: part))
        let partTarget = try FastGANDiscriminator.corner(image, part: part)
        let loss = try Loss.mse(whole, wholeTarget.detached()) + Loss.mse(cropped, partTarget.detached())
        return (logits, loss * reconstructionWeight)
    }

    override func traced(_ x: Variable) throws -> (Variable, [(String, [Int])]) {
        let (y, headTrace) = try (blocks + [head]).traced(x)
        var trace = headTrace
        var f = x, feats: [Variable] = []
        for b in blocks { f = try b(f); feats.append(f) }
        let L = blocks.count
        trace.append(("dec_whole (from \(blocks[L - 1].name))", try decoderWhole(feats[L - 1]).shape))
        trace.append(("dec_part (a corner of \(blocks[L - 2].name))", try decoderPart(FastGANDiscriminator.corner(feats[L - 2], part: 0)).shape))
        return (y, trace)
    }
}
