import Foundation
import PETAutograd
import PETTensor

/// Forward + backward of the 3D DCGAN discriminator (Conv3d 1→64→128→256→512 k4 s2 p1, then 512→1 k4
/// s1 p0, LeakyReLU 0.2 between, no bias) through the autograd, against the same computation written
/// with bare kernel calls (the compute-core benchmark's ops plus hand-written leaky-relu loops). Both
/// compute the weight gradients of all five layers and the input gradients of layers 2–5.
public enum AutogradBenchmark {
    public struct Result {
        public var size: Int, batch: Int
        public var msBareForward: Double, msAutogradForward: Double
        public var msBare: Double, msAutograd: Double
        /// max relative difference of the weight gradients (autograd vs bare)
        public var gradientRelativeError: Float
        public var peakRSSMB: Double
        public var overheadPercent: Double { (msAutograd / msBare - 1) * 100 }
        public var row: AutogradRow {
            AutogradRow(size: size, batch: batch, msBareForward: r3(msBareForward), msAutogradForward: r3(msAutogradForward),
                        msBareForwardBackward: r3(msBare), msAutogradForwardBackward: r3(msAutograd), overheadPercent: r3(overheadPercent),
                        gradientRelativeError: Double(gradientRelativeError), threads: Parallel.threads, peakRSSMB: r3(peakRSSMB))
        }
    }


    /// Layer (cin, cout, k, s, p) list of the discriminator for a cubic input of `size` (64 in the paper setup).
    public static func layers(size: Int) -> [(Int, Int, Int, Int, Int)] {
        // Four stride-2 halvings, then a k4 valid conv over the remaining size/16 voxels.
        [(1, 64, 4, 2, 1), (64, 128, 4, 2, 1), (128, 256, 4, 2, 1), (256, 512, 4, 2, 1), (512, 1, size / 16, 1, 0)]
    }

    public static func run(size: Int = 64, batch: Int = 4, timing: Timing) throws -> Result {
        var rng = PETRandom(seed: 4242)
        let specs = layers(size: size)
        let params = specs.map { ConvParams(k: $0.2, s: $0.3, p: $0.4) }
        let weights = specs.map { Tensor.normal([$0.1, $0.0, $0.2, $0.2, $0.2], std: 0.02, rng: &rng) }
        let x = Tensor.uniform([batch, 1, size, size, size], low: -1, high: 1, rng: &rng)
        resetPeakResident()

        // Bare kernels.
        func leaky(_ t: Tensor) -> Tensor {
            let y = Tensor(shape: t.shape, zeroed: false)
            let p = t.data, q = y.data
            Parallel.forRanges(t.count, minChunk: 1 << 15) { r in for i in r { q[i] = p[i] > 0 ? p[i] : 0.2 * p[i] } }
            return y
        }
        func leakyBackward(_ g: Tensor, _ pre: Tensor) -> Tensor {
            let y = Tensor(shape: g.shape, zeroed: false)
            let pg = g.data, pp = pre.data, q = y.data
            Parallel.forRanges(g.count, minChunk: 1 << 15) { r in for i in r { q[i] = pp[i] > 0 ? pg[i] : 0.2 * pg[i] } }
            return y
        }
        func bareForward() throws -> (pre: [Tensor], act: [Tensor]) {
            var pre: [Tensor] = [], act: [Tensor] = [x]
            for l in 0..<5 {
                let y = try Conv3d.forward(act[l], weight: weights[l], params: params[l])
                pre.append(y)
                if l < 4 { act.append(leaky(y)) }
            }
            return (pre, act)
        }
        func bareForwardBackward() throws -> [Tensor] {
            let (pre, act) = try bareForward()
            var g = Tensor(shape: pre[4].shape, repeating: 1)
            var gw = [Tensor?](repeating: nil, count: 5)
            for l in stride(from: 4, through: 0, by: -1) {
                gw[l] = try Conv3d.backwardWeight(g, input: act[l], params: params[l])
                if l > 0 {
                    let ga = try Conv3d.backwardInput(g, weight: weights[l], inputShape: act[l].shape, params: params[l])
                    g = leakyBackward(ga, pre[l - 1])
                }
            }
            return gw.map { $0! }
        }

        // Autograd.
        let wv = weights.map { Variable($0, requiresGrad: true) }
        func discriminator(_ input: Variable) throws -> Variable {
            var h = input
            for l in 0..<5 {
                h = try conv3d(h, weight: wv[l], params: params[l])
                if l < 4 { h = h.leakyReLU(0.2) }
            }
            return h
        }
        func autogradForwardBackward() throws {
            for w in wv { w.grad = nil }
            try discriminator(Variable(x)).sum().backward()
        }

        let bareGrads = try bareForwardBackward()
        try autogradForwardBackward()
        var err: Float = 0
        for (w, g) in zip(wv, bareGrads) { err = max(err, w.grad!.relativeError(to: g)) }

        // The two variants alternate rep by rep (each rep is timed with the Timing protocol), so load
        // from other processes hits both alike; the medians are compared.
        let one = Timing(warmup: 0, reps: 1)
        var samples: [[Double]] = [[], [], [], []]
        for rep in 0..<(timing.warmup + timing.reps) {
            let t = [try one.medianMs { _ = try bareForward() },
                     try one.medianMs { _ = try withNoGrad { try discriminator(Variable(x)) } },
                     try one.medianMs { _ = try bareForwardBackward() },
                     try one.medianMs { try autogradForwardBackward() }]
            if rep >= timing.warmup { for i in 0..<4 { samples[i].append(t[i]) } }
        }
        let med = samples.map { s -> Double in
            let v = s.sorted(), m = v.count
            return m % 2 == 1 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2
        }
        let (msBareF, msAutoF, msBare, msAuto) = (med[0], med[1], med[2], med[3])
        return Result(size: size, batch: batch, msBareForward: msBareF, msAutogradForward: msAutoF, msBare: msBare, msAutograd: msAuto,
                      gradientRelativeError: err, peakRSSMB: Double(peakResidentBytes()) / 1_048_576)
    }
}

/// The row of `bench autograd`.
public struct AutogradRow: Codable {
    public var name = "D-fwd-bwd"
    public var size: Int, batch: Int
    public var msBareForward: Double, msAutogradForward: Double
    public var msBareForwardBackward: Double, msAutogradForwardBackward: Double
    public var overheadPercent: Double
    public var gradientRelativeError: Double
    public var threads: Int
    public var peakRSSMB: Double
    enum CodingKeys: String, CodingKey {
        case name, size, batch, threads
        case msBareForward = "ms_bare_forward", msAutogradForward = "ms_autograd_forward"
        case msBareForwardBackward = "ms_bare_forward_backward", msAutogradForwardBackward = "ms_autograd_forward_backward"
        case overheadPercent = "overhead_percent", gradientRelativeError = "gradient_relative_error", peakRSSMB = "peak_rss_mb"
    }
}

extension AutogradBenchmark {
    /// `petgan bench autograd`: one timed comparison, printed.
    public static func runPrinted(size: Int, batch: Int, timing: Timing, say: (String) -> Void = { print($0) }) throws -> AutogradRow {
        say("PETGAN \(PETGANVersion.string) autograd benchmark: DCGAN discriminator \(batch)x1x\(size)³, \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
        let r = try run(size: size, batch: batch, timing: timing)
        say(String(format: "forward:            bare %9.1f ms   autograd (no grad) %9.1f ms", r.msBareForward, r.msAutogradForward))
        say(String(format: "forward + backward: bare %9.1f ms   autograd           %9.1f ms   overhead %+.1f%%", r.msBare, r.msAutograd, r.overheadPercent))
        say(String(format: "weight gradients agree to %.1e (relative); peak RSS %.0f MB", r.gradientRelativeError, r.peakRSSMB))
        return r.row
    }
}
