import COpenBLAS
import Foundation
import PETTensor

/// The compute-core benchmark: the 64³ 3D DCGAN layer set (generator G1–G5, discriminator D1–D5),
/// stride-1 conv3d C32→32 on 64³ with k3/k5/k7 (K3/K5/K7), and the machine's sgemm ceiling.
/// Rows are named and shaped like ../shared/bench/torch_peer.py's, so the two can be put side by side.
public enum ConvBenchmark {
    public struct Layer {
        public var name: String
        public var transposed: Bool
        public var cin, cout, k, s, p: Int
        public var inSize: Int
        public var batch: Int
    }

    public static func dcganLayers(batch: Int = 4) -> [Layer] {
        [
            Layer(name: "G1", transposed: true, cin: 100, cout: 512, k: 4, s: 1, p: 0, inSize: 1, batch: batch),
            Layer(name: "G2", transposed: true, cin: 512, cout: 256, k: 4, s: 2, p: 1, inSize: 4, batch: batch),
            Layer(name: "G3", transposed: true, cin: 256, cout: 128, k: 4, s: 2, p: 1, inSize: 8, batch: batch),
            Layer(name: "G4", transposed: true, cin: 128, cout: 64, k: 4, s: 2, p: 1, inSize: 16, batch: batch),
            Layer(name: "G5", transposed: true, cin: 64, cout: 1, k: 4, s: 2, p: 1, inSize: 32, batch: batch),
            Layer(name: "D1", transposed: false, cin: 1, cout: 64, k: 4, s: 2, p: 1, inSize: 64, batch: batch),
            Layer(name: "D2", transposed: false, cin: 64, cout: 128, k: 4, s: 2, p: 1, inSize: 32, batch: batch),
            Layer(name: "D3", transposed: false, cin: 128, cout: 256, k: 4, s: 2, p: 1, inSize: 16, batch: batch),
            Layer(name: "D4", transposed: false, cin: 256, cout: 512, k: 4, s: 2, p: 1, inSize: 8, batch: batch),
            Layer(name: "D5", transposed: false, cin: 512, cout: 1, k: 4, s: 1, p: 0, inSize: 4, batch: batch),
        ]
    }

    /// The memory row: ConvTranspose3d 64→1 up to 128³, batch 4 (target: forward + backward under 1 GB peak RSS).
    public static func memoryLayer() -> Layer {
        Layer(name: "G5_128", transposed: true, cin: 64, cout: 1, k: 4, s: 2, p: 1, inSize: 64, batch: 4)
    }

    public static func bigKernelLayers() -> [Layer] {
        [3, 5, 7].map { k in Layer(name: "K\(k)", transposed: false, cin: 32, cout: 32, k: k, s: 1, p: k / 2, inSize: 64, batch: 1) }
    }

    /// Times one layer on one path: forward, and forward + input gradient + weight gradient.
    public static func run(_ l: Layer, path: ConvPath?, precision: ConvPrecision = .fp32, timing: Timing) throws -> ConvRow {
        var rng = PETRandom(seed: 1234)
        let params = ConvParams(k: l.k, s: l.s, p: l.p)
        let opts = ConvOptions(path: path, precision: precision)
        let x = Tensor.uniform([l.batch, l.cin, l.inSize, l.inSize, l.inSize], low: -1, high: 1, rng: &rng)
        let wShape = l.transposed ? [l.cin, l.cout, l.k, l.k, l.k] : [l.cout, l.cin, l.k, l.k, l.k]
        // Two weight sets, used in turn: every repetition sees weights other than the previous call's,
        // as every training step does after its optimizer update. The FFT path keys its cached weight
        // spectra by the weight values, so with one fixed weight it would transform them once and
        // never again in the timed runs; alternating makes each timed forward pay its weight
        // transform (and the content hash) inside the timing, as training pays it. The input
        // gradient of an f+b repetition reuses the spectra its own forward made (same weights, as in
        // a step of a network with one FFT layer). Other paths keep nothing between calls.
        let weights = [Tensor.normal(wShape, std: 0.02, rng: &rng), Tensor.normal(wShape, std: 0.02, rng: &rng)]
        var calls = 0
        func nextWeight() -> Tensor { calls += 1; return weights[calls % 2] }
        // Peak RSS per row: drop what earlier rows left cached (idle pooled buffers, weight spectra).
        ScratchPool.shared.trim()
        Conv3dFFT.clearCache()
        resetPeakResident()
        let forward: (Tensor) throws -> Tensor = { w in
            l.transposed ? try ConvTranspose3d.forward(x, weight: w, params: params, options: opts)
                         : try Conv3d.forward(x, weight: w, params: params, options: opts)
        }
        let yProbe = try forward(nextWeight())
        let gy = Tensor.uniform(yProbe.shape, low: -1, high: 1, rng: &rng)
        let g = l.transposed ? try ConvGeometry.transposed(x: x.shape, w: wShape, params: params, op: "bench")
                             : try ConvGeometry.conv(x: x.shape, w: wShape, params: params, op: "bench")
        let msF = try timing.medianMs { _ = try forward(nextWeight()) }
        let msFB = try timing.medianMs {
            let w = nextWeight()
            _ = try forward(w)
            if l.transposed {
                _ = try ConvTranspose3d.backwardInput(gy, weight: w, params: params, options: opts)
                _ = try ConvTranspose3d.backwardWeight(gy, input: x, params: params, options: opts)
            } else {
                _ = try Conv3d.backwardInput(gy, weight: w, inputShape: x.shape, params: params, options: opts)
                _ = try Conv3d.backwardWeight(gy, input: x, params: params, options: opts)
            }
        }
        let flops = 2.0 * Double(g.macs)
        let usedPath: String
        let role: ConvDispatch.Role = l.transposed ? .adjoint : .correlate
        if precision == .bf16 {
            // Each role may take its own route; the forward's is named (the gradients' follow the same model).
            usedPath = (path?.rawValue ?? "auto") + ":" + ConvDispatch.bf16Route(for: g, role: role, options: opts)
        } else if let p = path { usedPath = p.rawValue } else {
            usedPath = "auto(" + ConvDispatch.choose(g, role: role, options: opts).rawValue + ")"
        }
        return ConvRow(name: l.name, op: l.transposed ? "conv_transpose3d" : "conv3d", path: usedPath, batch: l.batch,
                       input: [l.cin, l.inSize, l.inSize, l.inSize], output: Array(yProbe.shape.dropFirst()),
                       msForward: round3(msF), msForwardBackward: round3(msFB), weights: "new each repetition",
                       gflopsForward: round3(flops / msF / 1e6), gflopsForwardBackward: round3(3 * flops / msFB / 1e6),
                       peakRSSMB: round3(Double(peakResidentBytes()) / 1_048_576), precision: precision)
    }

    /// sgemm 2048² on the configured threads: the machine's ceiling for our GEMM-based kernels.
    public static func sgemmCeiling(size: Int = 2048, timing: Timing) -> ConvRow {
        var rng = PETRandom(seed: 7)
        let a = Tensor.uniform([size, size], rng: &rng), b = Tensor.uniform([size, size], rng: &rng)
        let c = Tensor(shape: [size, size])
        let ms = timing.medianMs {
            BLAS.sgemm(m: size, n: size, k: size, a: a.data, lda: size, b: b.data, ldb: size, c: c.data, ldc: size)
        }
        let flops = 2.0 * Double(size * size * size)
        var row = ConvRow(name: "SGEMM", op: "sgemm", path: "openblas-\(BLAS.coreName)", batch: 1, input: [size, size], output: [size, size],
                          msForward: round3(ms), gflopsForward: round3(flops / ms / 1e6), peakRSSMB: round3(Double(peakResidentBytes()) / 1_048_576))
        row.threads = Parallel.threads
        row.gemmThreading = BLAS.threading.rawValue
        return row
    }

    static func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
}

/// One row of `bench conv`: a layer on one path (forward and forward + backward), or the sgemm ceiling.
public struct ConvRow: Codable {
    public var name: String
    public var op: String
    public var path: String
    public var batch: Int
    /// Input and output shapes without the batch (C, D, H, W), or the sgemm matrices.
    public var input: [Int]
    public var output: [Int]
    public var msForward: Double
    public var msForwardBackward: Double?
    public var weights: String?
    public var gflopsForward: Double
    public var gflopsForwardBackward: Double?
    public var peakRSSMB: Double
    /// sgemm row: the threads and how OpenBLAS threads.
    public var threads: Int?
    public var gemmThreading: String?
    /// The fp32 FMA peak this run measured at its start (`PeakProbe`, best ISA, same threads) and
    /// this row's GF/s over it: forward + backward for layers, the one figure for sgemm.
    public var peakGflops: Double?
    public var fractionOfPeak: Double?
    /// fp32, or bf16 (GEMM operands in bf16, fp32 accumulation; bf16 rows divide by the bf16 peak).
    public var precision: ConvPrecision?

    public init(name: String, op: String, path: String, batch: Int, input: [Int], output: [Int], msForward: Double, msForwardBackward: Double? = nil,
                weights: String? = nil, gflopsForward: Double, gflopsForwardBackward: Double? = nil, peakRSSMB: Double, precision: ConvPrecision? = nil) {
        self.precision = precision
        self.name = name; self.op = op; self.path = path; self.batch = batch; self.input = input; self.output = output
        self.msForward = msForward; self.msForwardBackward = msForwardBackward; self.weights = weights
        self.gflopsForward = gflopsForward; self.gflopsForwardBackward = gflopsForwardBackward; self.peakRSSMB = peakRSSMB
    }

    enum CodingKeys: String, CodingKey {
        case name, op, path, batch, weights, threads, precision
        case input = "in", output = "out"
        case msForward = "ms_forward", msForwardBackward = "ms_forward_backward"
        case gflopsForward = "gflops_forward", gflopsForwardBackward = "gflops_forward_backward"
        case peakRSSMB = "peak_rss_mb", gemmThreading = "gemm_threading"
        case peakGflops = "peak_gflops", fractionOfPeak = "fraction_of_peak"
    }

    /// Sets `peak_gflops` and `fraction_of_peak` (f+b GF/s where the row has it, else forward).
    public mutating func setPeak(_ peak: (gflops: Double, isa: String)?) {
        peakGflops = peak?.gflops
        fractionOfPeak = PeakProbe.fraction(gflopsForwardBackward ?? gflopsForward, of: peak)
    }
}

/// `petgan bench conv`: the table of every layer on every path asked for, with the PyTorch peer's
/// figures beside ours when --peer files are given.
public struct ConvSuite {
    public var quick = false
    /// Paths to time; nil is the automatic choice.
    public var paths: [ConvPath?] = [nil, .im2col, .fft, .implicitGEMM]
    /// Row names to run (nil: all).
    public var only: Set<String>? = nil
    public var timing = Timing(warmup: 1, reps: 5)
    /// Print the time per kernel phase of each row.
    public var profile = false
    /// torch_peer.py --rows files.
    public var peerFiles: [String] = []
    /// The layers' precision (the sgemm row is fp32 either way).
    public var precision: ConvPrecision = .fp32
    public init() {}

    public func run(say: (String) -> Void = { print($0) }) throws -> [ConvRow] {
        let timing = quick ? Timing(warmup: 1, reps: 3) : self.timing
        let pathList: [ConvPath?] = quick ? [nil] : paths
        let peerRows = try PeerFile.layerRows(peerFiles)
        var rows: [ConvRow] = []
        say("PETGAN \(PETGANVersion.string) conv benchmark: OpenBLAS core \(BLAS.coreName), \(Parallel.threads) threads, median of \(timing.reps) after \(timing.warmup) warm-up")
        say("machine: \(Machine.description)")
        let pw = precision == .bf16 ? 38 : 22   // path column
        let fp32Peak = PeakProbe.fp32Peak()
        // One probe per peak per run: the sgemm row and fp32 layer rows share the fp32 figure.
        let peak = precision == .bf16 ? (PeakProbe.bf16Peak() ?? fp32Peak) : fp32Peak
        say(PeakProbe.describe(fp32Peak, threads: Parallel.threads))
        if precision == .bf16 {
            say("precision: bf16 (GEMM operands rounded to bf16, fp32 accumulation and output); " + (Conv3dBF16.hasFastTile
                ? "bf16-tiles = the 6×64 vdpbf16ps tile, bf16-emul(path) = rounded operands through that fp32 path; layer rows' % peak is of the bf16 peak:"
                : "this CPU lacks AVX512_BF16: every call runs emulated (rounded operands, fp32 kernels), % of the fp32 peak"))
            if Conv3dBF16.hasFastTile { say(PeakProbe.describe(peak, threads: Parallel.threads)) }
        }
        say("implicit-gemm micro-kernel: \(Conv3dImplicitGEMM.isa.rawValue) (6×\(Conv3dImplicitGEMM.isa.blockWidth) tile; PETGAN_CONV_ISA=avx512|avx2|scalar forces one)")
        say("cost model (auto): " + ConvMachine.current.summary)
        say("weights: new each repetition, as in training: FFT rows pay their weight transforms (fft-weights) inside the timing; an f+b input gradient reuses its forward's spectra")
        say(pad("name", 7) + pad("op", 17) + pad("path", pw) + pad("input", 16) + lpad("ms fwd", 10) + lpad("ms f+b", 10) + lpad("GF/s f", 9) + lpad("GF/s f+b", 10) + lpad("% peak", 8) + lpad("RSS MB", 8))
        var sg = ConvBenchmark.sgemmCeiling(timing: timing)
        sg.setPeak(fp32Peak)
        rows.append(sg)
        say(pad("SGEMM", 7) + pad("sgemm", 17) + pad(sg.path, pw) + pad("2048x2048", 16) + lpad(f1(sg.msForward), 10)
            + lpad("-", 10) + lpad(f1(sg.gflopsForward), 9) + lpad("-", 10) + lpad(PeakProbe.percent(sg.fractionOfPeak), 8) + lpad(f0(sg.peakRSSMB), 8))
        for layer in ConvBenchmark.dcganLayers() + ConvBenchmark.bigKernelLayers() + [ConvBenchmark.memoryLayer()] {
            if quick && layer.name == ConvBenchmark.memoryLayer().name { continue }
            if let w = only, !w.contains(layer.name) { continue }
            for path in pathList {
                if path == .fft && (layer.s != 1) { continue }   // FFT computes stride-1 convolutions only
                if path == .winograd && (layer.s != 1 || layer.k != 3) { continue }   // Winograd: stride-1 k3 only
                KernelProfile.enabled = profile
                KernelProfile.reset()
                var row = try ConvBenchmark.run(layer, path: path, precision: precision, timing: timing)
                row.setPeak(peak)
                if profile {
                    let calls = KernelProfile.callCounts()
                    say("   phases (ms and calls, all runs): " + KernelProfile.snapshot().sorted { $0.key < $1.key }
                        .map { "\($0.key) \(String(format: "%.1f", $0.value)) ×\(calls[$0.key] ?? 0)" }.joined(separator: ", "))
                }
                rows.append(row)
                let inStr = "\(layer.batch)x\(layer.cin)x\(layer.inSize)³"
                say(pad(layer.name, 7) + pad(row.op, 17) + pad(row.path, pw) + pad(inStr, 16)
                    + lpad(f1(row.msForward), 10) + lpad(f1(row.msForwardBackward), 10)
                    + lpad(f1(row.gflopsForward), 9) + lpad(f1(row.gflopsForwardBackward), 10)
                    + lpad(PeakProbe.percent(row.fractionOfPeak), 8) + lpad(f0(row.peakRSSMB), 8))
                if let pr = peerRows[layer.name], let tf = pr.msForward, let tfb = pr.msForwardBackward, let ofb = row.msForwardBackward {
                    say(pad("", 7) + pad("  PyTorch", 17) + pad(pr.path ?? "torch", pw) + pad("", 16) + lpad(f1(tf), 10) + lpad(f1(tfb), 10)
                        + "   speed vs PyTorch: fwd \(String(format: "%.2f", tf / row.msForward))x, f+b \(String(format: "%.2f", tfb / ofb))x")
                }
            }
        }
        return rows
    }
}
