import CFFTW
import Foundation

/// The only place that calls FFTW (single precision). 3-D real-to-complex transforms of one size,
/// planned once per size (FFTW_MEASURE, under a lock: FFTW's planner is not thread-safe) and executed
/// from any thread with the new-array interface (which is thread-safe).
public final class FFT3D: @unchecked Sendable {
    public let dims: [Int]
    /// Complex elements of a half spectrum: F0·F1·(F2/2+1).
    public let complexCount: Int
    public var realCount: Int { dims[0] * dims[1] * dims[2] }
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    nonisolated(unsafe) private static var cache: [[Int]: FFT3D] = [:]
    private static let lock = NSLock()

    /// Planning rigour: FFTW_MEASURE by default; PETGAN_FFT_PLAN=estimate for quick one-off runs.
    private static let planFlags: UInt32 = {
        ProcessInfo.processInfo.environment["PETGAN_FFT_PLAN"] == "estimate" ? UInt32(FFTW_ESTIMATE) : UInt32(FFTW_MEASURE)
    }()

    public static func plan(_ dims: [Int]) -> FFT3D {
        lock.lock(); defer { lock.unlock() }
        if let p = cache[dims] { return p }
        let p = FFT3D(dims: dims)
        cache[dims] = p
        return p
    }

    private init(dims: [Int]) {
        self.dims = dims
        complexCount = dims[0] * dims[1] * (dims[2] / 2 + 1)
        let n = dims[0] * dims[1] * dims[2]
        let real = fftwf_alloc_real(n)!
        let cplx = fftwf_alloc_complex(complexCount)!
        defer { fftwf_free(real); fftwf_free(cplx) }
        forwardPlan = fftwf_plan_dft_r2c_3d(Int32(dims[0]), Int32(dims[1]), Int32(dims[2]), real, cplx, FFT3D.planFlags)
        inversePlan = fftwf_plan_dft_c2r_3d(Int32(dims[0]), Int32(dims[1]), Int32(dims[2]), cplx, real, FFT3D.planFlags | UInt32(FFTW_DESTROY_INPUT))
    }

    /// Half spectrum of `real` (F0×F1×F2) into `spectrum` (complexCount interleaved pairs).
    /// Both buffers 16-byte aligned (our scratch buffers are 64-byte aligned).
    public func forward(_ real: UnsafeMutablePointer<Float>, _ spectrum: UnsafeMutablePointer<Float>) {
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: complexCount) { c in
            fftwf_execute_dft_r2c(forwardPlan, real, c)
        }
    }

    /// Unnormalised inverse (multiply by 1/realCount for the true inverse). Destroys `spectrum`.
    public func inverse(_ spectrum: UnsafeMutablePointer<Float>, _ real: UnsafeMutablePointer<Float>) {
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: complexCount) { c in
            fftwf_execute_dft_c2r(inversePlan, c, real)
        }
    }
}

/// Transforms of a small kernel (k0×k1×k2) zero-padded to an F0×F1×F2 grid, and the inverse that
/// only needs the k0×k1×k2 corner back. A full 3-D transform would spend most of its work on zero
/// rows; doing the three axes as separate 1-D passes skips them (≈3× less work for k = 5…7 at F ≈ 40).
/// The spectrum layout and values equal fftwf_plan_dft_r2c_3d's.
public final class KernelFFT: @unchecked Sendable {
    public let F: [Int]
    public let k: [Int]
    public let complexCount: Int
    private let half: Int
    private let rowsR2C: fftwf_plan   // k1 real rows of F2 → half rows (one plane a)
    private let colsH: fftwf_plan     // F2h columns of F1 along H, forward (one plane)
    private let colsD: fftwf_plan     // F1·F2h columns of F0 along D, forward
    private let colsDInv: fftwf_plan
    private let colsHInv: fftwf_plan
    private let rowsC2R: fftwf_plan

    nonisolated(unsafe) private static var cache: [[Int]: KernelFFT] = [:]
    private static let lock = NSLock()

    public static func plan(F: [Int], k: [Int]) -> KernelFFT {
        lock.lock(); defer { lock.unlock() }
        if let p = cache[F + k] { return p }
        let p = KernelFFT(F: F, k: k)
        cache[F + k] = p
        return p
    }

    private init(F: [Int], k: [Int]) {
        self.F = F; self.k = k
        half = F[2] / 2 + 1
        complexCount = F[0] * F[1] * half
        let real = fftwf_alloc_real(k[1] * F[2])!
        let cplx = fftwf_alloc_complex(complexCount)!
        defer { fftwf_free(real); fftwf_free(cplx) }
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
        var n2 = Int32(F[2]), n1 = Int32(F[1]), n0 = Int32(F[0])
        let h = Int32(half)
        rowsR2C = fftwf_plan_many_dft_r2c(1, &n2, Int32(k[1]), real, nil, 1, n2, cplx, nil, 1, h, flags)
        colsH = fftwf_plan_many_dft(1, &n1, h, cplx, nil, h, 1, cplx, nil, h, 1, FFTW_FORWARD, flags)
        colsD = fftwf_plan_many_dft(1, &n0, n1 * h, cplx, nil, n1 * h, 1, cplx, nil, n1 * h, 1, FFTW_FORWARD, flags)
        colsDInv = fftwf_plan_many_dft(1, &n0, n1 * h, cplx, nil, n1 * h, 1, cplx, nil, n1 * h, 1, FFTW_BACKWARD, flags)
        colsHInv = fftwf_plan_many_dft(1, &n1, h, cplx, nil, h, 1, cplx, nil, h, 1, FFTW_BACKWARD, flags)
        rowsC2R = fftwf_plan_many_dft_c2r(1, &n2, Int32(k[1]), cplx, nil, 1, h, real, nil, 1, n2, flags | UInt32(FFTW_DESTROY_INPUT))
    }

    /// Spectrum (complexCount interleaved pairs) of `kernel` (k0·k1·k2 values, W fastest).
    /// `rows` is scratch of k1·F2 floats.
    public func forward(kernel: UnsafePointer<Float>, spectrum: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
        spectrum.update(repeating: 0, count: 2 * complexCount)
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: complexCount) { c in
            for a in 0..<k[0] {
                rows.update(repeating: 0, count: k[1] * F[2])
                for b in 0..<k[1] { (rows + b * F[2]).update(from: kernel + (a * k[1] + b) * k[2], count: k[2]) }
                let plane = c + a * F[1] * half
                fftwf_execute_dft_r2c(rowsR2C, rows, plane)
                fftwf_execute_dft(colsH, plane, plane)
            }
            fftwf_execute_dft(colsD, c, c)
        }
    }

    /// The k0×k1×k2 corner of the unnormalised inverse of `spectrum` (destroyed) into `kernel`.
    public func inverseCorner(spectrum: UnsafeMutablePointer<Float>, kernel: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
        spectrum.withMemoryRebound(to: fftwf_complex.self, capacity: complexCount) { c in
            fftwf_execute_dft(colsDInv, c, c)
            for a in 0..<k[0] {
                let plane = c + a * F[1] * half
                fftwf_execute_dft(colsHInv, plane, plane)
                fftwf_execute_dft_c2r(rowsC2R, plane, rows)
                for b in 0..<k[1] { (kernel + (a * k[1] + b) * k[2]).update(from: rows + b * F[2], count: k[2]) }
            }
        }
    }
}
