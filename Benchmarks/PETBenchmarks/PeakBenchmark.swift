import CPeak
import Foundation
import PETTensor

/// The machine's arithmetic peak on the threads in use: every `Parallel` worker runs a kernel of
/// independent FMA (or bf16 dot-product) chains held in registers (CPeak, one C function per ISA
/// chosen at run time: Swift has no per-function target attribute, so AVX-512 code in a Swift
/// module would need the whole module built for AVX-512), long enough (≥ 0.2 s per run), median of
/// a few runs. `bench conv` and `bench train` divide their GF/s by the fp32 figure of the best ISA.
public enum PeakProbe {
    /// One kernel of the probe.
    public enum Kernel: CaseIterable {
        case fp32AVX512, fp32AVX2, bf16AVX512

        var c: cpeak_kernel {
            switch self {
            case .fp32AVX512: return CPEAK_FP32_AVX512
            case .fp32AVX2: return CPEAK_FP32_AVX2
            case .bf16AVX512: return CPEAK_BF16_AVX512
            }
        }
        /// The instructions it runs.
        public var isa: String {
            switch self {
            case .fp32AVX512: return "avx512f (FMA on zmm)"
            case .fp32AVX2: return "avx2+fma (FMA on ymm)"
            case .bf16AVX512: return "avx512_bf16 (vdpbf16ps zmm)"
            }
        }
        public var isAvailable: Bool { cpeak_supported(c) != 0 }
    }

    /// GF/s of `kernel` on the `Parallel.threads` workers (nil when this CPU lacks it): each worker runs the same
    /// iteration count, calibrated so that a run takes at least `secondsPerRun`; median of `reps`.
    public static func gflops(_ kernel: Kernel, secondsPerRun: Double = 0.2, reps: Int = 3) -> Double? {
        guard kernel.isAvailable else { return nil }
        let perIteration = cpeak_flops_per_iteration(kernel.c)
        let workers = Parallel.threads
        // The sinks keep the compiler from dropping the work; one slot per worker.
        let sinks = UnsafeMutablePointer<Float>.allocate(capacity: workers)
        defer { sinks.deallocate() }
        func seconds(_ iterations: Int) -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(workers) { w in sinks[w] = cpeak_run(kernel.c, iterations) }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        // Calibrate: grow the run until it is long enough to time (and clocks have ramped up).
        var iterations = 1 << 16
        while true {
            let t = seconds(iterations)
            if t >= secondsPerRun { break }
            iterations = t < secondsPerRun / 16 ? iterations * 16 : Int(Double(iterations) * secondsPerRun / max(t, 1e-9) * 1.1) + 1
        }
        var samples = (0..<max(1, reps)).map { _ in Double(workers) * Double(iterations) * perIteration / seconds(iterations) / 1e9 }
        samples.sort()
        let m = samples.count
        return m % 2 == 1 ? samples[m / 2] : (samples[m / 2 - 1] + samples[m / 2]) / 2
    }

    /// The fp32 kernel of the best ISA this CPU has (nil when it has neither AVX-512 nor AVX2+FMA).
    public static var bestFP32: Kernel? { [Kernel.fp32AVX512, .fp32AVX2].first { $0.isAvailable } }

    /// The fp32 peak of the best ISA on the threads in use, as `bench conv` / `bench train` take it
    /// at their start (about 1 s), or nil when no kernel runs here.
    public static func fp32Peak() -> (gflops: Double, isa: String)? {
        guard let k = bestFP32, let g = gflops(k) else { return nil }
        return (r3(g), k.isa)
    }

    /// The bf16 dot-product peak (vdpbf16ps) on the threads in use, or nil without AVX512_BF16: what
    /// bf16 conv and train rows divide by.
    public static func bf16Peak() -> (gflops: Double, isa: String)? {
        guard let g = gflops(.bf16AVX512) else { return nil }
        return (r3(g), Kernel.bf16AVX512.isa)
    }

    /// The peak a row of this precision divides by (fp32 FMA, or bf16 dot products; a bf16 run on a
    /// CPU without AVX512_BF16 computes emulated in fp32 and divides by the fp32 peak).
    public static func peak(for precision: ConvPrecision) -> (gflops: Double, isa: String)? {
        switch precision {
        case .fp32: return fp32Peak()
        case .bf16: return bf16Peak() ?? fp32Peak()
        }
    }

    /// What a benchmark prints about the peak it divides by.
    static func describe(_ peak: (gflops: Double, isa: String)?, threads: Int) -> String {
        guard let p = peak else { return "fp32 FMA peak: no AVX2/AVX-512 kernel on this CPU (% of peak not reported)" }
        if p.isa == Kernel.bf16AVX512.isa {
            return "bf16 dot-product peak: \(f1(p.gflops)) GF/s (\(p.isa), \(threads) threads; % of peak = GF/s / this)"
        }
        return "fp32 FMA peak: \(f1(p.gflops)) GF/s (\(p.isa), \(threads) threads; % of peak = GF/s / this; conv rows: f+b, sgemm: its one figure)"
    }

    /// `value / peak`, from the rounded figures the row holds, or nil without a peak.
    static func fraction(_ gflops: Double?, of peak: (gflops: Double, isa: String)?) -> Double? {
        guard let g = gflops, let p = peak, p.gflops > 0 else { return nil }
        return r3(g / p.gflops)
    }

    static func percent(_ fraction: Double?) -> String { fraction.map { String(format: "%.0f%%", $0 * 100) } ?? "-" }

    /// `petgan bench peak`: every fp32 kernel this CPU runs and the bf16 one, printed and as one row.
    public static func runPrinted(secondsPerRun: Double = 0.2, reps: Int = 3,
                                  say: (String) -> Void = { print($0) }) -> PeakRow {
        let threads = Parallel.threads
        say("PETGAN \(PETGANVersion.string) peak probe: \(threads) threads, median of \(reps) runs of ≥ \(secondsPerRun) s each")
        say("machine: \(Machine.description)")
        let cpu = Machine.description
        var row = PeakRow(cpu: cpu, threads: threads, reps: reps, secondsPerRun: secondsPerRun)
        for k in Kernel.allCases {
            let g = gflops(k, secondsPerRun: secondsPerRun, reps: reps).map(r3)
            let name: String
            switch k {
            case .fp32AVX512: name = "fp32 avx512"; row.fp32AVX512GFlops = g
            case .fp32AVX2: name = "fp32 avx2"; row.fp32AVX2GFlops = g
            case .bf16AVX512: name = "bf16 avx512"; row.bf16GFlops = g; row.bf16ISA = g == nil ? nil : k.isa
            }
            say(pad(name, 13) + (g.map { lpad(f1($0), 9) + " GF/s   " + k.isa } ?? "        -   not available on this CPU"))
        }
        if let best = bestFP32 {
            row.fp32ISA = best.isa
            row.fp32GFlops = best == .fp32AVX512 ? row.fp32AVX512GFlops : row.fp32AVX2GFlops
            say("fp32 peak (best ISA, what bench conv / bench train divide by): \(f1(row.fp32GFlops)) GF/s, \(best.isa)")
        } else {
            say("fp32 peak: no AVX2/AVX-512 kernel runs on this CPU")
        }
        if row.bf16GFlops == nil { row.bf16Note = "not available on this CPU" }
        // The implicit-GEMM convolution's micro-kernel alone (operands in L1), against its own ISA's peak.
        for (isa, peak) in [(ConvISA.avx512, row.fp32AVX512GFlops), (.avx2, row.fp32AVX2GFlops)] {
            let g = Conv3dImplicitGEMM.microKernelGflops(isa, secondsPerRun: secondsPerRun, reps: reps).map(r3)
            let name = "tile " + isa.rawValue
            if isa == .avx512 { row.tileAVX512GFlops = g } else { row.tileAVX2GFlops = g }
            say(pad(name, 13) + (g.map { g in lpad(f1(g), 9) + " GF/s   implicit-GEMM micro-kernel 6×\(isa.blockWidth)"
                + (peak.map { String(format: ", %.0f%% of the %@ peak", 100 * g / $0, isa.rawValue) } ?? "") } ?? "        -   not available on this CPU"))
        }
        // The bf16 tile alone (vdpbf16ps where the CPU has it), against the bf16 peak.
        let gb = Conv3dBF16.microKernelGflops(.avx512bf16, secondsPerRun: secondsPerRun, reps: reps).map(r3)
        row.tileBF16GFlops = gb
        say(pad("tile bf16", 13) + (gb.map { g in lpad(f1(g), 9) + " GF/s   bf16 micro-kernel 6×64 (vdpbf16ps)"
            + (row.bf16GFlops.map { String(format: ", %.0f%% of the bf16 peak", 100 * g / $0) } ?? "") } ?? "        -   not available on this CPU"))
        return row
    }
}

/// The row of `bench peak`: the fp32 FMA peak per ISA path and the bf16 dot-product peak (null when
/// the CPU lacks the instructions; `bf16_note` says so).
public struct PeakRow: Codable {
    public var cpu: String
    public var threads: Int
    public var reps: Int
    public var secondsPerRun: Double
    /// The best ISA's fp32 figure: what conv and train rows divide by.
    @NullWhenAbsent public var fp32GFlops: Double? = nil
    @NullWhenAbsent public var fp32ISA: String? = nil
    @NullWhenAbsent public var fp32AVX512GFlops: Double? = nil
    @NullWhenAbsent public var fp32AVX2GFlops: Double? = nil
    @NullWhenAbsent public var bf16GFlops: Double? = nil
    @NullWhenAbsent public var bf16ISA: String? = nil
    @NullWhenAbsent public var bf16Note: String? = nil
    /// The implicit-GEMM micro-kernel alone, operands in L1 (`Conv3dImplicitGEMM.microKernelGflops`).
    @NullWhenAbsent public var tileAVX512GFlops: Double? = nil
    @NullWhenAbsent public var tileAVX2GFlops: Double? = nil
    /// The bf16 micro-kernel alone (`Conv3dBF16.microKernelGflops`, vdpbf16ps).
    @NullWhenAbsent public var tileBF16GFlops: Double? = nil

    public init(cpu: String, threads: Int, reps: Int, secondsPerRun: Double) {
        self.cpu = cpu; self.threads = threads; self.reps = reps; self.secondsPerRun = secondsPerRun
    }

    enum CodingKeys: String, CodingKey {
        case cpu, threads, reps
        case secondsPerRun = "seconds_per_run"
        case fp32GFlops = "fp32_gflops", fp32ISA = "fp32_isa", fp32AVX512GFlops = "fp32_avx512_gflops", fp32AVX2GFlops = "fp32_avx2_gflops"
        case bf16GFlops = "bf16_gflops", bf16ISA = "bf16_isa", bf16Note = "bf16_note"
        case tileAVX512GFlops = "tile_avx512_gflops", tileAVX2GFlops = "tile_avx2_gflops", tileBF16GFlops = "tile_bf16_gflops"
    }
}
