import Foundation

/// One place that knows how many bytes of large buffers are alive, the peak, and the user's budget.
/// Tensors and kernel scratch buffers allocate through it; going over the budget throws
/// `TensorError.overBudget` before the allocation happens, with the budget that would have worked.
public final class MemoryAccountant: @unchecked Sendable {
    public static let shared = MemoryAccountant()

    private let lock = NSLock()
    private var inUse = 0
    private var peak = 0
    /// Budget in bytes; nil means unlimited.
    private var budget: Int?

    public init(budget: Int? = nil) { self.budget = budget }

    public var bytesInUse: Int { lock.lock(); defer { lock.unlock() }; return inUse }
    public var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
    public var budgetBytes: Int? {
        get { lock.lock(); defer { lock.unlock() }; return budget }
        set { lock.lock(); budget = newValue; lock.unlock() }
    }
    public func resetPeak() { lock.lock(); peak = inUse; lock.unlock() }

    /// Records `bytes` as allocated, or throws when that would pass the budget.
    public func reserve(_ bytes: Int, what: @autoclosure () -> String) throws {
        lock.lock(); defer { lock.unlock() }
        if let b = budget, inUse + bytes > b {
            throw TensorError.overBudget(what: what(), requestedBytes: bytes, inUseBytes: inUse, budgetBytes: b)
        }
        inUse += bytes
        if inUse > peak { peak = inUse }
    }

    /// Records `bytes` as allocated regardless of the budget (for buffers whose size was checked by
    /// the caller's plan).
    public func reserveUnchecked(_ bytes: Int) {
        lock.lock(); inUse += bytes; if inUse > peak { peak = inUse }; lock.unlock()
    }

    public func release(_ bytes: Int) { lock.lock(); inUse -= bytes; lock.unlock() }
}

/// Parses sizes such as `512MB`, `4GB`, `1.5G`, `800M`, `1048576` (bytes). Binary units.
public func parseByteSize(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [("GIB", 1_073_741_824), ("GB", 1_073_741_824), ("G", 1_073_741_824),
                                     ("MIB", 1_048_576), ("MB", 1_048_576), ("M", 1_048_576),
                                     ("KIB", 1024), ("KB", 1024), ("K", 1024), ("B", 1)]
    for (suffix, mult) in units where t.hasSuffix(suffix) {
        guard let v = Double(t.dropLast(suffix.count)), v > 0 else { return nil }
        return Int(v * mult)
    }
    if let v = Int(t), v > 0 { return v }
    return nil
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 when unavailable.
public func peakResidentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return 0
}

/// Current resident set size (VmRSS), in bytes.
public func currentResidentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return 0
}

/// Resets the kernel's peak-RSS counter (VmHWM) so a benchmark can measure one case at a time.
/// Linux ≥ 4.0: writing "5" to /proc/self/clear_refs. Returns false where unsupported.
@discardableResult public func resetPeakResident() -> Bool {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return false }
    defer { fclose(f) }
    return fputs("5", f) >= 0
}
