import Foundation
import PETTensor

/// Median-of-N timing after warm-up, the protocol of every PETGAN benchmark (and of torch_peer.py).
public struct Timing {
    public var warmup: Int
    public var reps: Int
    public var minSeconds: Double
    public init(warmup: Int = 2, reps: Int = 5, minSeconds: Double = 0) {
        self.warmup = warmup; self.reps = reps; self.minSeconds = minSeconds
    }

    /// Median milliseconds of `body`.
    public func medianMs(_ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while samples.count < reps || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < minSeconds {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            if samples.count >= 1000 { break }
        }
        samples.sort()
        let m = samples.count
        return m % 2 == 1 ? samples[m / 2] : (samples[m / 2 - 1] + samples[m / 2]) / 2
    }
}

/// The CPU the figures were measured on: speed ratios against PyTorch change with the vector ISA
/// (oneDNN and OpenBLAS pick AVX2 or AVX-512 kernels), so every benchmark prints it and peer tables
/// keep it.
public enum Machine {
    /// "AMD EPYC (family 26, model 2), 2 CPUs, avx2 avx512f avx512_bf16" from /proc/cpuinfo.
    public static var description: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            for line in info.split(separator: "\n") where line.hasPrefix(name) {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name { return parts[1].trimmingCharacters(in: .whitespaces) }
            }
            return nil
        }
        let model = field("model name") ?? "unknown CPU"
        let family = field("cpu family").map { ", family \($0)" } ?? ""
        let number = field("model").map { ", model \($0)" } ?? ""
        return "\(model) (\(family.dropFirst(2))\(number)), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, ISA: \(isa(flags: field("flags") ?? "")), \(blasCore)"
    }

    /// OpenBLAS's kernel family and who chose it. OPENBLAS_CORETYPE in the environment overrides
    /// OpenBLAS's own detection (some machines set it: this one exports OPENBLAS_CORETYPE=Haswell,
    /// which holds sgemm to AVX2, 252 vs 467 GF/s for the detected Cooperlake core on Zen 5).
    public static var blasCore: String {
        let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0) in the environment)" }
        return "OpenBLAS core \(BLAS.coreName)\(forced ?? " (detected)")"
    }

    /// The vector extensions that decide which kernels the libraries run.
    public static func isa(flags: String) -> String {
        let have = Set(flags.split(separator: " ").map(String.init))
        let shown = ["avx2", "avx512f", "avx512_bf16"].filter { have.contains($0) }
        return shown.isEmpty ? "no avx2" : shown.joined(separator: " ")
    }
}
