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
