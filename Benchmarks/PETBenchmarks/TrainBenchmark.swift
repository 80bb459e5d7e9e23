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
/// GFLOP/s use an analytic count of the convolution and linear work a step does (2 FLOPs per MAC;
/// a backward pass counts twice its forward): DCGAN 3·F_G + 8·F_D (the G update's discriminator pass
/// computes input gradients only), WGAN-GP critic F_G + 12·F_D (penalty: forward, input gradient,
/// and the double backward ≈ 6 F_D). torch_peer.py freezes D's weights in the G update too, so
/// both sides do the same work; its FlopCounterMode count is in its result file (null when PyTorch
/// cannot count the gradient penalty's double backward).
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
        return [Case(name: "dcgan3d_\(size)_b4", config: d3, geometry: g3, batch: 4, criticOnly: false),
                Case(name: "wgangp3d_\(size)_b4", config: w3, geometry: g3, batch: 4, criticOnly: true),
                Case(name: "dcgan2d_b\(b2)", config: p2, geometry: g2, batch: b2, criticOnly: false)]
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

    public static func run(_ c: Case, timing: Timing) throws -> BenchRow {
        var rng = PETRandom(seed: 11)
        resetPeakResident()
        let model = try GANModel(config: c.config, geometry: c.geometry, rng: &rng)
        let real = Tensor.uniform([c.batch, c.geometry.channels] + c.geometry.imageShape, low: -1, high: 1, rng: &rng)
        let labels = [Int](repeating: 0, count: c.batch)
        var noise = PETRandom(seed: 12)
        let ms = try timing.medianMs {
            if c.criticOnly { _ = try model.criticStep(real: real, labels: labels, rng: &noise) }
            else { _ = try model.trainStep(real: [(real, labels)], rng: &noise) }
        }
        let (fg, fd) = forwardFLOPs(c)
        let flops = c.criticOnly ? fg + 12 * fd : 3 * fg + 8 * fd
        return ["name": c.name, "ms_step": (ms * 10).rounded() / 10, "gflops": ((flops / (ms / 1000) / 1e9) * 10).rounded() / 10,
                "step_gflop": (flops / 1e9 * 10).rounded() / 10, "batch": c.batch, "threads": Parallel.threads,
                "peak_rss_mb": (Double(peakResidentBytes()) / 1_048_576).rounded()]
    }
}
