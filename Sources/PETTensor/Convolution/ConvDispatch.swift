import Foundation

/// Chooses the kernel for one convolution call: the caller's forced path, else PETGAN_CONV, else the
/// cost model (cached per geometry and role).
public enum ConvDispatch {
    public enum Role: String, Sendable { case correlate, adjoint, weight }

    nonisolated(unsafe) private static var cache: [Key: ConvPath] = [:]
    private static let lock = NSLock()
    private struct Key: Hashable { let g: ConvGeometry; let role: Role }

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

    /// The path a call with these options would take.
    public static func choose(_ g: ConvGeometry, role: Role, options: ConvOptions) -> ConvPath {
        if let p = options.path ?? ConvOptions.environmentPath {
            // FFT computes stride-1 convolutions only, Winograd stride-1 k3; other shapes fall back to im2col.
            if p == .winograd && !Conv3dWinograd.applies(g) { return .im2col }
            return (p == .fft && !Conv3dFFT.applies(g)) ? .im2col : p
        }
        let key = Key(g: g, role: role)
        lock.lock(); defer { lock.unlock() }
        if let p = cache[key] { return p }
        var p: ConvPath = Conv3dFFT.applies(g) && Conv3dFFT.estimatedSeconds(g, role: role) < Conv3dIm2col.estimatedSeconds(g, role: role) ? .fft : .im2col
        if Conv3dWinograd.applies(g) && Conv3dWinograd.estimatedSeconds(g, role: role) < min(Conv3dFFT.estimatedSeconds(g, role: role), Conv3dIm2col.estimatedSeconds(g, role: role)) {
            p = .winograd
        }
        // Implicit GEMM replaces whichever path is chosen so far when its estimate is lower.
        let chosenSeconds: Double
        switch p {
        case .fft: chosenSeconds = Conv3dFFT.estimatedSeconds(g, role: role)
        case .winograd: chosenSeconds = Conv3dWinograd.estimatedSeconds(g, role: role)
        default: chosenSeconds = Conv3dIm2col.estimatedSeconds(g, role: role)
        }
        if g.macs >= Conv3dImplicitGEMM.minimumAutomaticMACs && Conv3dImplicitGEMM.estimatedSeconds(g, role: role) < chosenSeconds { p = .implicitGEMM }
        cache[key] = p
        return p
    }
}

extension Conv3dIm2col {
    /// Cost model: GEMM time at the measured sustained rate for its shape, plus memory traffic of
    /// vol2col/col2vol. Rates were measured with `petgan bench conv` on the reference machine.
    static func estimatedSeconds(_ g: ConvGeometry, role: ConvDispatch.Role) -> Double {
        let flops = 2.0 * Double(g.macs)
        // Thin GEMMs (few output channels or a short reduction) run far below the sgemm ceiling.
        let m = Double(min(g.co, g.columnRows))
        let rate = 180e9 * min(1.0, m / 128.0 + 0.15)
        let traffic = Double(g.n * g.columnRows * g.outSpatial) * 8.0 / 10e9
        return flops / rate + traffic
    }
}
