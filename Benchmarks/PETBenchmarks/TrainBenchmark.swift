import Foundation
import PETAutograd
import PETModels
import PETTensor

/// Training-step benchmarks with the layer shapes of ../shared/bench/torch_peer.py `--suite models`:
///   dcgan3d_64_b4   3D DCGAN step (D on real + fake, then G), 64³, batch 4:
///                   G ConvT3d 100→512 (k4 from 1³) → 256 → 128 → 64 → 1 (k4 s2 p1), BN + ReLU;
///                   D Conv3d 1→64→128→256→512 (k4 s2 p1), BN but on the first, LeakyReLU 0.2, 512→1 (k4)
///   wgangp3d_64_b4  WGAN-GP critic step with gradient penalty (same shapes, no norm in the critic)
///   dcgan2d_b64     the 2D paper model (Islam & Zhang 2020) step at 128×128×3, batch 64
///   fastgan3d_64_b8 the conditional 3D FastGAN step (FastGAN.swift; 3 classes), 64³, batch 8, the
///                   SPECT study's batch: G widths 128→64→32→16 (4 GLU up-sampling blocks from 4³, one
///                   excitation), D 16→32→64→128 (k4 s2 p1, batch norm) + both decoders (3 blocks each)
///   fastgan2d_256_b8 the conditional 2D FastGAN step at 256×256 (the study's matrix), batch 8, with
///                   FastGAN's 256² widths at ngf 64 (1024→512→256→128→128→64, 6 blocks from 4²),
///                   D 32→…→1024 (k5 s2 p2, as the 2D DCGAN critic), decoders of 5 blocks
/// The FastGAN rows' PyTorch peer is Benchmarks/torch_fastgan.py (written for this benchmark, the
/// same layers: Benchmarks/check_torch_fastgan.sh compares its shapes with `layerShapes`).
/// GFLOP/s use an analytic count of the convolution and linear work a step does (2 FLOPs per MAC;
/// a backward pass counts twice its forward): DCGAN 3·F_G + 8·F_D (the G update's discriminator pass
/// computes input gradients only), WGAN-GP critic F_G + 12·F_D (penalty: forward, input gradient,
/// and the double backward ≈ 6 F_D). torch_peer.py freezes D's weights in the G update too, so
/// both sides do the same work; its FlopCounterMode count is in its result file (null when PyTorch
/// cannot count the gradient penalty's double backward). FastGAN (hinge, no batch reuse):
/// 4·F_G + 8·F_D + 3·F_dec (G runs without a graph in the critic step, forward + backward in the G
/// step; the decoders run forward and backward on the real batch).
public enum TrainBenchmark {
    public struct Case {
        public var name: String
        public var config: TrainConfig
        public var geometry: NetworkGeometry
        public var batch: Int
        public var criticOnly: Bool
    }

    public static func cases(quick: Bool) -> [Case] {
        let size = quick ? 32 : 64
        var d3 = TrainConfig.defaults(for: .dcgan3d)
        d3.gChannels = quick ? [256, 128, 64] : [512, 256, 128, 64]
        d3.dChannels = quick ? [64, 128, 256] : [64, 128, 256, 512]
        d3.data = "benchmark"
        let g3 = NetworkGeometry(dims: 3, channels: 1, imageShape: [size, size, size], layers: d3.gChannels.count, conditionalClasses: 0)
        var w3 = TrainConfig.defaults(for: .wgangp3d)
        w3.gChannels = d3.gChannels; w3.dChannels = d3.dChannels; w3.criticNorm = .none; w3.beta1 = 0; w3.data = "benchmark"
        var p2 = TrainConfig.defaults(for: .dcgan2d)
        p2.gChannels = [1024, 512, 256, 128, 64]; p2.dChannels = [64, 128, 256, 512, 1024]; p2.lrG = 1e-4; p2.lrD = 1e-4; p2.data = "benchmark"
        let b2 = quick ? 8 : 64
        let g2 = NetworkGeometry(dims: 2, channels: 3, imageShape: [128, 128], layers: 5, conditionalClasses: 0)
        var f3 = TrainConfig.defaults(for: .fastgan3d)
        f3.gChannels = quick ? [64, 32, 16] : [128, 64, 32, 16]; f3.dChannels = quick ? [16, 32, 64] : [16, 32, 64, 128]
        f3.conditional = true; f3.data = "benchmark"
        let fg3 = NetworkGeometry(dims: 3, channels: 1, imageShape: [size, size, size], layers: f3.gChannels.count, conditionalClasses: 3)
        var f2 = TrainConfig.defaults(for: .fastgan2d)
        let side2 = quick ? 64 : 256
        f2.gChannels = quick ? [256, 128, 64, 32] : [1024, 512, 256, 128, 128, 64]
        f2.dChannels = quick ? [32, 64, 128, 256] : [32, 64, 128, 256, 512, 1024]
        f2.conditional = true; f2.data = "benchmark"
        let fg2 = NetworkGeometry(dims: 2, channels: 1, imageShape: [side2, side2], layers: f2.gChannels.count, conditionalClasses: 3)
        return [Case(name: "dcgan3d_\(size)_b4", config: d3, geometry: g3, batch: 4, criticOnly: false),
                Case(name: "wgangp3d_\(size)_b4", config: w3, geometry: g3, batch: 4, criticOnly: true),
                Case(name: "dcgan2d_b\(b2)", config: p2, geometry: g2, batch: b2, criticOnly: false),
                Case(name: "fastgan3d_\(size)_b8", config: f3, geometry: fg3, batch: 8, criticOnly: false),
                Case(name: "fastgan2d_\(side2)_b8", config: f2, geometry: fg2, batch: 8, criticOnly: false)]
    }

    /// Forward FLOPs of a FastGAN generator, discriminator trunk + head, and both decoders at batch n
    /// (convolutions and the dense projection; 2 FLOPs per MAC).
    public static func fastGANForwardFLOPs(_ c: Case) -> (g: Double, d: Double, decoders: Double) {
        let g = c.geometry, n = Double(c.batch), L = c.config.gChannels.count
        let k3 = g.dims == 3 ? 27.0 : 9.0, kd = g.dims == 3 ? 64.0 : 25.0
        let base = Double(g.baseGrid.reduce(1, *)), doubling = g.dims == 3 ? 8.0 : 4.0
        let w = (c.config.gChannels + [c.config.gChannels[L - 1]]).map(Double.init)
        let inF = Double(c.config.zDim + g.conditionalClasses)
        var fg = 2 * n * inF * 2 * w[0] * base
        var spatial = base
        for i in 0..<L {
            spatial *= doubling
            fg += 2 * n * spatial * w[i] * 2 * w[i + 1] * k3
        }
        fg += 2 * n * spatial * w[L] * Double(g.channels) * k3
        for p in fastGANExcitationPairs(layers: L, count: c.config.skipExcitations) {
            fg += 2 * n * (w[p.low] * w[p.high] * base + w[p.high] * w[p.high])
        }
        var fd = 0.0, inC = Double(g.channels + g.conditionalClasses)
        spatial = Double(g.imageShape.reduce(1, *))
        for c2 in c.config.dChannels.map(Double.init) {
            spatial /= doubling
            fd += 2 * n * c2 * spatial * inC * kd
            inC = c2
        }
        fd += 2 * n * inC * base
        func decoder(_ inChannels: Double) -> Double {
            var f = 0.0, ch = inChannels, s = base
            for _ in 0..<(L - 1) {
                let b = max(8, (ch / 2).rounded(.down))
                s *= doubling
                f += 2 * n * s * ch * 2 * b * k3
                ch = b
            }
            return f + 2 * n * s * ch * Double(g.channels) * k3
        }
        let dw = c.config.dChannels.map(Double.init)
        return (fg, fd, decoder(dw[L - 1]) + decoder(dw[L - 2]))
    }

    /// One case's layers as `petgan bench train --layer-shapes` writes them: every layer-table output
    /// shape at batch 2 (GANModel.layerTable's names) and the shapes of G's and D's parameter
    /// tensors, sorted (what Benchmarks/torch_fastgan.py --shapes writes for its models).
    public struct CaseShapes: Codable, Equatable {
        public var layers: [LayerShape]
        public var parameters: [String: [[Int]]]
        public var parameterCount: [String: Int]
        enum CodingKeys: String, CodingKey { case layers, parameters, parameterCount = "parameter_count" }
    }

    /// A [name, shape] pair (a JSON array of two, as the Python side writes it).
    public struct LayerShape: Codable, Equatable {
        public var name: String
        public var shape: [Int]
        public init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
        public init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            name = try c.decode(String.self); shape = try c.decode([Int].self)
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.unkeyedContainer()
            try c.encode(name); try c.encode(shape)
        }
    }

    /// The layer shapes of the cases whose names start with one of `only` (nil: all), by case name.
    public static func layerShapes(quick: Bool, only: [String]?) throws -> [String: CaseShapes] {
        var out: [String: CaseShapes] = [:]
        for c in cases(quick: quick) where only.map({ w in w.contains { c.name.hasPrefix($0) } }) ?? true {
            var rng = PETRandom(seed: 11)
            let m = try GANModel(config: c.config, geometry: c.geometry, rng: &rng)
            func sortedShapes(_ ps: [(String, Variable)]) -> [[Int]] { ps.map(\.1.shape).sorted { $0.lexicographicallyPrecedes($1) } }
            out[c.name] = CaseShapes(layers: try m.layerTable().map { LayerShape(name: $0.0, shape: $0.1) },
                                     parameters: ["G": sortedShapes(m.generator.namedParameters()), "D": sortedShapes(m.discriminator.namedParameters())],
                                     parameterCount: ["G": m.generator.parameterCount, "D": m.discriminator.parameterCount])
        }
        return out
    }

    /// Forward FLOPs of the generator and the discriminator at batch n.
    public static func forwardFLOPs(_ c: Case) -> (g: Double, d: Double) {
        let g = c.geometry, n = Double(c.batch)
        let k = g.dims == 3 ? 64.0 : 25.0
        var fg = 2 * n * Double(c.config.zDim) * Double(c.config.gChannels[0]) * Double(g.baseGrid.reduce(1, *))
        var spatial = Double(g.baseGrid.reduce(1, *))
        let gw = c.config.gChannels + [g.channels]
        for i in 0..<c.config.gChannels.count {
            fg += 2 * n * Double(gw[i]) * spatial * Double(gw[i + 1]) * k
            spatial *= g.dims == 3 ? 8 : 4
        }
        var fd = 0.0
        var inC = Double(g.channels)
        spatial = Double(g.imageShape.reduce(1, *))
        for c2 in c.config.dChannels {
            spatial /= g.dims == 3 ? 8 : 4
            fd += 2 * n * Double(c2) * spatial * inC * k
            inC = Double(c2)
        }
        fd += 2 * n * inC * spatial
        return (fg, fd)
    }

    public static func run(_ c: Case, precision: ConvPrecision = .fp32, timing: Timing) throws -> TrainRow {
        // The models' convolutions take the process precision (what `--precision` sets).
        let savedPrecision = ConvPrecision.current
        ConvPrecision.current = precision
        defer { ConvPrecision.current = savedPrecision }
        var rng = PETRandom(seed: 11)
        resetPeakResident()
        let model = try GANModel(config: c.config, geometry: c.geometry, rng: &rng)
        let real = Tensor.uniform([c.batch, c.geometry.channels] + c.geometry.imageShape, low: -1, high: 1, rng: &rng)
        let labels = (0..<c.batch).map { c.geometry.conditionalClasses > 0 ? $0 % c.geometry.conditionalClasses : 0 }
        var noise = PETRandom(seed: 12)
        ConvTimers.reset()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let ms = try timing.medianMs {
            if c.criticOnly { _ = try model.criticStep(real: real, labels: labels, rng: &noise) }
            else { _ = try model.trainStep(real: [(real, labels)], rng: &noise) }
        }
        // Shares of the wall time of all runs (warm-up included) by where it went.
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let conv = ConvTimers.snapshot()
        let flops: Double
        switch c.config.model.family.layout {
        case .dcgan:
            let (fg, fd) = forwardFLOPs(c)
            flops = c.criticOnly ? fg + 12 * fd : 3 * fg + 8 * fd
        case .fastgan:
            let f = fastGANForwardFLOPs(c)
            flops = 4 * f.g + 8 * f.d + 3 * f.decoders
        case .hierarchical:
            // No bench train case runs hagan3d (part lowres's harness measures it); no FLOP model yet.
            flops = 0
        }
        var row = TrainRow(name: c.name, msStep: (ms * 10).rounded() / 10, gflops: ((flops / (ms / 1000) / 1e9) * 10).rounded() / 10,
                           stepGflop: (flops / 1e9 * 10).rounded() / 10, batch: c.batch, threads: Parallel.threads,
                           peakRSSMB: (Double(peakResidentBytes()) / 1_048_576).rounded())
        func share(_ v: Double) -> Double { wall > 0 ? (v / wall * 1000).rounded() / 1000 : 0 }
        let convSeconds = conv.values.reduce(0, +)
        row.precision = precision
        row.shareBF16Tiles = share(conv[.bf16Tiles] ?? 0)
        row.shareBF16Emulated = share(conv[.bf16Emulated] ?? 0)
        row.shareFP32Convolutions = share(conv[.fp32] ?? 0)
        row.shareOutsideConvolutions = share(max(0, wall - convSeconds))
        return row
    }

    /// `petgan bench train`: the cases whose names start with one of `only` (nil: all), with the
    /// peer's step time and the time ratio beside ours for cases the --peer files hold.
    public static func runPrinted(quick: Bool, only: [String]?, timing: Timing, peerFiles: [String], precision: ConvPrecision = .fp32,
                                  say: (String) -> Void = { print($0) }) throws -> [TrainRow] {
        let timing = quick ? Timing(warmup: 1, reps: 2) : timing
        // Peer figures only from files given here, read before anything is timed.
        var peerSteps: [String: (step: PeerFile.ModelStep, file: String)] = [:]
        var peerNotes: [String] = []
        for p in peerFiles {
            let r = try PeerFile.modelSteps(p)
            for s in r.steps { peerSteps[s.name] = (s, p) }
            peerNotes.append("\(p): PyTorch \(r.torch), \(r.threads.map { "\($0) threads" } ?? "threads not recorded"), CPU capability \(r.capability)")
            if let t = r.threads, t != Parallel.threads {
                peerNotes.append("warning: \(p) was measured with \(t) threads, this run uses \(Parallel.threads): the ratios compare unlike runs (pass --threads \(t))")
            }
        }
        say("PETGAN \(PETGANVersion.string) training-step benchmark: \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
        say("machine: \(Machine.description)")
        let peak = PeakProbe.peak(for: precision)
        say(PeakProbe.describe(peak, threads: Parallel.threads))
        if precision == .bf16 {
            say("precision: bf16 convolutions (fp32 master weights, optimizer, norms, losses, penalty); time shares of the step: "
                + "tiles = bf16 vdpbf16ps tiles, emul = bf16 convolutions run emulated (rounded operands, fp32 kernels), "
                + "fp32 share = everything but the tiles")
        }
        for n in peerNotes { say("peer \(n)") }
        var header = "name".padding(toLength: 16, withPad: " ", startingAt: 0) + "    ms/step    GFLOP    GFLOP/s  % peak   RSS MB"
        if precision == .bf16 { header += "  tiles   emul  other  fp32 share" }
        if !peerFiles.isEmpty { header += "   torch ms  torch RSS  time ratio" }
        say(header)
        var rows: [TrainRow] = []
        var unmatched: [String] = []
        for c in cases(quick: quick) where only.map({ w in w.contains { c.name.hasPrefix($0) } }) ?? true {
            var r = try run(c, precision: precision, timing: timing)
            r.peakGflops = peak?.gflops
            r.fractionOfPeak = PeakProbe.fraction(r.gflops, of: peak)
            let ms = r.msStep
            var line = c.name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %10.1f %8.1f %10.1f", ms, r.stepGflop, r.gflops)
                + lpad(PeakProbe.percent(r.fractionOfPeak), 8) + String(format: " %8.0f", r.peakRSSMB)
            if precision == .bf16, let t = r.shareBF16Tiles, let e = r.shareBF16Emulated, let o = r.shareOutsideConvolutions {
                line += lpad(PeakProbe.percent(t), 7) + lpad(PeakProbe.percent(e), 7) + lpad(PeakProbe.percent(o), 7) + lpad(PeakProbe.percent(1 - t), 12)
            }
            if let (ps, file) = peerSteps[c.name] {
                // time ratio = our time / PyTorch's (below 1: PETGAN is faster).
                line += String(format: " %10.1f", ps.ms) + lpad(ps.rssMB.map { String(format: "%.0f", $0) } ?? "-", 11) + String(format: " %10.2f×", ms / ps.ms)
                r.peerFile = file
                r.peerMsStep = ps.ms
                r.peerPeakRSSMB = ps.rssMB?.rounded()
                r.timeRatio = ((ms / ps.ms) * 1000).rounded() / 1000
            } else if !peerFiles.isEmpty {
                line += "          -          -           -"
                unmatched.append(c.name)
            }
            r.machine = Machine.description
            rows.append(r)
            say(line)
        }
        if !unmatched.isEmpty { say("no peer figures for \(unmatched.joined(separator: ", ")) in the --peer files") }
        return rows
    }
}

/// One row of `bench train`: a training step's median time, with the peer's when a --peer file has the case.
public struct TrainRow: Codable {
    public var name: String
    public var msStep: Double
    public var gflops: Double
    public var stepGflop: Double
    public var batch: Int
    public var threads: Int
    public var peakRSSMB: Double
    public var peerFile: String? = nil
    public var peerMsStep: Double? = nil
    public var peerPeakRSSMB: Double? = nil
    public var timeRatio: Double? = nil
    public var machine: String? = nil
    /// The fp32 FMA peak this run measured at its start (`PeakProbe`) and `gflops` over it.
    public var peakGflops: Double? = nil
    public var fractionOfPeak: Double? = nil
    /// The convolutions' precision, and where the step's time went (shares of the wall time):
    /// bf16 tiles, bf16 convolutions run emulated, fp32 convolutions, and everything outside the
    /// convolutions (norms, activations, losses, penalty, optimizer: fp32 in both precisions).
    public var precision: ConvPrecision? = nil
    public var shareBF16Tiles: Double? = nil
    public var shareBF16Emulated: Double? = nil
    public var shareFP32Convolutions: Double? = nil
    public var shareOutsideConvolutions: Double? = nil

    public init(name: String, msStep: Double, gflops: Double, stepGflop: Double, batch: Int, threads: Int, peakRSSMB: Double) {
        self.name = name; self.msStep = msStep; self.gflops = gflops; self.stepGflop = stepGflop
        self.batch = batch; self.threads = threads; self.peakRSSMB = peakRSSMB
    }

    enum CodingKeys: String, CodingKey {
        case name, gflops, batch, threads, machine
        case msStep = "ms_step", stepGflop = "step_gflop", peakRSSMB = "peak_rss_mb"
        case peerFile = "peer_file", peerMsStep = "peer_ms_step", peerPeakRSSMB = "peer_peak_rss_mb", timeRatio = "time_ratio"
        case peakGflops = "peak_gflops", fractionOfPeak = "fraction_of_peak"
        case precision, shareBF16Tiles = "share_bf16_tiles", shareBF16Emulated = "share_bf16_emulated"
        case shareFP32Convolutions = "share_fp32_convolutions", shareOutsideConvolutions = "share_outside_convolutions"
    }
}
