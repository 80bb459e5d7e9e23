import Dispatch
import Foundation

/// Optional time accounting per kernel phase (GEMM, vol2col, col2vol, FFT …), enabled by
/// PETGAN_PROFILE=1 or `KernelProfile.enabled = true`; `petgan bench conv --profile` prints it.
public enum KernelProfile {
    nonisolated(unsafe) public static var enabled: Bool = ProcessInfo.processInfo.environment["PETGAN_PROFILE"] == "1"
    nonisolated(unsafe) private static var totals: [String: Double] = [:]
    nonisolated(unsafe) private static var counts: [String: Int] = [:]
    private static let lock = NSLock()

    @inline(__always)
    public static func measure<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer {
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            lock.lock(); totals[phase, default: 0] += dt; counts[phase, default: 0] += 1; lock.unlock()
        }
        return try body()
    }

    /// Milliseconds per phase since the last reset.
    public static func snapshot() -> [String: Double] { lock.lock(); defer { lock.unlock() }; return totals }
    /// Times each phase ran since the last reset (e.g. how many weight transforms a row paid).
    public static func callCounts() -> [String: Int] { lock.lock(); defer { lock.unlock() }; return counts }
    public static func reset() { lock.lock(); totals = [:]; counts = [:]; lock.unlock() }
}
