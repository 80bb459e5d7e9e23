import Foundation

/// What the cost model's rates depend on: the implicit-GEMM micro-kernel in use (PETGAN_CONV_ISA or
/// the best this CPU has), OpenBLAS's kernel family (OPENBLAS_CORETYPE or its own detection: the
/// im2col GEMM runs at about twice the rate on an AVX-512 core as on the Haswell one) and the
/// worker threads (FFT and Winograd scale by them). The dispatch cache is keyed by it.
public struct ConvMachine: Hashable, Sendable {
    public var isa: ConvISA
    public var blasCore: String
    public var threads: Int

    public init(isa: ConvISA, blasCore: String, threads: Int) { self.isa = isa; self.blasCore = blasCore; self.threads = threads }

    /// OpenBLAS's core is fixed when the library loads.
    public static let loadedBLASCore = BLAS.coreName
    /// One line for benchmark headers.
    public var summary: String {
        "implicit-GEMM tile \(isa.rawValue), OpenBLAS core \(blasCore) (im2col GEMM rate \(Int(im2colGEMMRate / 1e9)) GF/s), \(threads) threads"
    }

    /// This process as it runs now.
    public static var current: ConvMachine { ConvMachine(isa: Conv3dImplicitGEMM.isa, blasCore: loadedBLASCore, threads: Parallel.threads) }

    /// Whether OpenBLAS runs its AVX-512 sgemm kernels with this core.
    public var blasHasAVX512: Bool {
        switch blasCore.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return true
        default: return false
        }
    }

    /// Sustained rate of im2col's GEMMs (2 threads, wide shapes), fitted per OpenBLAS core family on
    /// the reference machine (AMD EPYC family 26 model 2, Zen 5, `bench conv --paths im2col`): 180 GF/s
    /// with the Haswell (AVX2) kernels (sgemm 2048² 252–261 GF/s there); 250 GF/s with the AVX-512
    /// ones (Cooperlake, OpenBLAS's own detection; sgemm 467), which fits G2's and D4's im2col
    /// forward (42.5 and 49.1 ms at load 3.7, about half speed, against 20.6 × 2 modelled) — not the
    /// 1.8× of sgemm 2048², since col2vol/vol2col and the thin reduction do not speed up with it.
    /// Other cores keep the Haswell figure.
    public var im2colGEMMRate: Double { blasHasAVX512 ? 250e9 : 180e9 }
}

/// Chooses the kernel for one convolution call: the caller's forced path, else PETGAN_CONV, else the
/// cost model (cached per geometry, role and machine).
public enum ConvDispatch {
    public enum Role: String, Sendable { case correlate, adjoint, weight }

    nonisolated(unsafe) private static var cache: [Key: ConvPath] = [:]
    private static let lock = NSLock()
    struct Key: Hashable { let g: ConvGeometry; let role: Role; let machine: ConvMachine }

    /// The cache key of a call (tests check that it follows the ISA and the BLAS core).
    static func cacheKey(_ g: ConvGeometry, role: Role, machine: ConvMachine = .current) -> Key { Key(g: g, role: role, machine: machine) }

    public static func kernel(for g: ConvGeometry, role: Role, options: ConvOptions) -> any ConvKernel.Type {
        kernelType(choose(g, role: role, options: options))
    }

    public static func kernelType(_ p: ConvPath) -> any ConvKernel.Type {
        switch p {
        case .reference: return Conv3dReference.self
        case .im2col: return Conv3dIm2col.self
        case .fft: return Conv3dFFT.self
        case .winograd: return Conv3dWinograd.self
        case .implicitGEMM: return Conv3dImplicitGEMM.self
        }
    }

    /// The path a call with these options would take (on `machine`: tests ask for others).
    public static func choose(_ g: ConvGeometry, role: Role, options: ConvOptions, machine: ConvMachine = .current) -> ConvPath {
        if let p = options.path ?? ConvOptions.environmentPath {
            // FFT computes stride-1 convolutions only, Winograd stride-1 k3; other shapes fall back to im2col.
            if p == .winograd && !Conv3dWinograd.applies(g) { return .im2col }
            return (p == .fft && !Conv3dFFT.applies(g)) ? .im2col : p
        }
        let key = Key(g: g, role: role, machine: machine)
        lock.lock(); defer { lock.unlock() }
        if let p = cache[key] { return p }
        // im2col, FFT and Winograd are compared in the units the FFT and Winograd models were fitted
        // in (im2col's Haswell-core model), so small calls keep their paths on every core; implicit
        // GEMM (fitted in seconds) is compared with im2col at this machine's GEMM rate.
        var p: ConvPath = Conv3dFFT.applies(g) && Conv3dFFT.estimatedSeconds(g, role: role) < Conv3dIm2col.estimatedSeconds(g, role: role) ? .fft : .im2col
        if Conv3dWinograd.applies(g) && Conv3dWinograd.estimatedSeconds(g, role: role) < min(Conv3dFFT.estimatedSeconds(g, role: role), Conv3dIm2col.estimatedSeconds(g, role: role)) {
            p = .winograd
        }
        // Implicit GEMM replaces whichever path is chosen so far when its estimate is lower.
        let chosenSeconds: Double
        switch p {
        case .fft: chosenSeconds = Conv3dFFT.estimatedSeconds(g, role: role)
        case .winograd: chosenSeconds = Conv3dWinograd.estimatedSeconds(g, role: role)
        default: chosenSeconds = Conv3dIm2col.estimatedSeconds(g, role: role, machine: machine)
        }
        if g.macs >= Conv3dImplicitGEMM.minimumAutomaticMACs && Conv3dImplicitGEMM.estimatedSeconds(g, role: role, isa: machine.isa) < chosenSeconds { p = .implicitGEMM }
        cache[key] = p
        return p
    }
}

extension Conv3dIm2col {
    /// Cost model: GEMM time at the measured sustained rate for its shape, plus memory traffic of
    /// vol2col/col2vol. Rates were measured with `petgan bench conv` on the reference machine.
    /// `machine` nil: the Haswell-core figure (the units of the FFT and Winograd models).
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role, machine: ConvMachine? = nil) -> Double {
        let flops = 2.0 * Double(g.macs)
        // Thin GEMMs (few output channels or a short reduction) run far below the sgemm ceiling.
        let m = Double(min(g.co, g.columnRows))
        let rate = (machine?.im2colGEMMRate ?? 180e9) * min(1.0, m / 128.0 + 0.15)
        let traffic = Double(g.n * g.columnRows * g.outSpatial) * 8.0 / 10e9
        return flops / rate + traffic
    }
}
