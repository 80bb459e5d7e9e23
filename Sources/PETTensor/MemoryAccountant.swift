import CMalloc
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
public func peakResidentBytes() -> Int { statusBytes("VmHWM") }

/// Current resident set size (VmRSS), in bytes.
public func currentResidentBytes() -> Int { statusBytes("VmRSS") }

/// A "Name:   1234 kB" field of /proc/self/status in bytes, 0 when unavailable.
func statusBytes(_ field: String) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    return statusKilobytes(s, field: field).map { $0 * 1024 } ?? 0
}

/// The kB value of `field` in /proc/<pid>/status text. The kernel pads the value after a tab to 8
/// columns with spaces, so from 10 GB (8 digits) on the tab is the only separator: splitting on
/// spaces alone read "VmHWM:\t15728808 kB" as nothing (peak RSS 0 MB at 1 mm).
public func statusKilobytes(_ status: String, field: String) -> Int? {
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        let parts = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" })
        if let first = parts.first, let kb = Int(first) { return kb }
    }
    return nil
}

/// Resets the kernel's peak-RSS counter (VmHWM) so a benchmark can measure one case at a time.
/// Linux ≥ 4.0: writing "5" to /proc/self/clear_refs. Returns false where unsupported.
@discardableResult public func resetPeakResident() -> Bool {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return false }
    defer { fclose(f) }
    return fputs("5", f) >= 0
}

/// The C allocator's handling of the large buffers tensors and kernels allocate and free every step.
public enum ResidentMemory {
    /// Buffers of at least this size are mapped and unmapped on their own (glibc M_MMAP_THRESHOLD).
    public static let mmapThresholdBytes: Int32 = 1 << 20

    /// Fixes glibc's mmap threshold at `mmapThresholdBytes`. By default glibc raises the threshold
    /// to the size of each mapped buffer it frees (up to 32 MB), so from the second training step on
    /// activations come from the heap, whose freed space fragments and stays resident: a 1 mm
    /// hagan3d step's peak RSS grew 1208 → 1512 MB over 4 steps while the counted buffers stayed
    /// the same; with the threshold fixed it was 1288 MB, and a 2 mm wgangp3d step 972 against
    /// 1146 MB, at the same step time (Benchmarks: `bench hierarchical`, docs/training.md). Setting
    /// the threshold turns glibc's adjustment off. Returns whether glibc accepted it.
    @discardableResult
    public static func useFixedMmapThreshold() -> Bool {
        mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes) == 1
    }

    /// Buffers glibc has mapped on their own right now (mallinfo2's hblks).
    public static var mappedBufferCount: Int { Int(mallinfo2().hblks) }
}

