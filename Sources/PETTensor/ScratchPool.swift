import Foundation

/// A counted, 64-byte aligned scratch buffer, taken from `ScratchPool` and given back when it goes
/// out of scope. Reusing buffers matters: a fresh 64 MB column matrix costs ~16k page faults and a
/// kernel zero-fill on every call, as much as the vol2col itself.
final class ScratchBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let capacity: Int
    init(count: Int) {
        (pointer, capacity) = ScratchPool.shared.take(max(count, 1))
    }
    deinit { ScratchPool.shared.give(pointer, capacity: capacity) }
}

/// Keeps recently freed scratch buffers and large tensor buffers for reuse, up to `cacheLimitBytes`
/// of idle memory. Every buffer, cached or in use, is counted by the MemoryAccountant (it is resident
/// memory); `trim()` frees the idle ones.
public final class ScratchPool: @unchecked Sendable {
    public static let shared = ScratchPool()
    /// Bytes held idle in the pool (counted by the accountant, reusable by the next allocations).
    public var idleBytes: Int { lock.lock(); defer { lock.unlock() }; return cachedBytes }
    private let lock = NSLock()
    private var free: [(UnsafeMutablePointer<Float>, Int)] = []
    private var cachedBytes = 0
    /// Upper bound on cached (idle) bytes; 0 disables caching. PETGAN_POOL_MB overrides the default.
    /// The bound on resident memory is the high-water rule in `takeBuffer` (idle buffers only fill
    /// the gap up to the peak of live memory + `slackBytes`); this limit is a backstop, large enough
    /// that a training step finds every buffer of the last one. At 320 MB (the default until
    /// 2026-12-06) a 64³ step's ~800 MB of activations came back fresh each step, and the kernel's
    /// page zeroing was 17% of a bf16 dcgan3d step (perf); at 4 GB, same peak RSS (±3%), the steps
    /// ran 5–24% faster (docs/training.md, "The allocator's cache").
    public static let defaultCacheLimitBytes = 4096 << 20
    public var cacheLimitBytes: Int = {
        if let s = ProcessInfo.processInfo.environment["PETGAN_POOL_MB"], let mb = Int(s), mb >= 0 { return mb << 20 }
        return ScratchPool.defaultCacheLimitBytes
    }()
    /// Buffers allocated fresh (not reused) since start: what the cache saves is visible here.
    public private(set) var freshAllocations = 0

    /// Tests set this: every buffer handed out (reused or fresh) is first filled with NaN, so a kernel
    /// that reads scratch it did not write (a padding it assumed zero) gives NaN instead of passing.
    nonisolated(unsafe) static var poisonForTesting = false

    func take(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let b = takeBuffer(count)
        if ScratchPool.poisonForTesting { b.0.update(repeating: .nan, count: b.1) }
        return b
    }

    private func takeBuffer(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        lock.lock()
        var best = -1
        // Smallest cached buffer that fits without wasting more than an eighth of it (the whole
        // capacity is resident: a loose fit inflates peak memory).
        for (i, b) in free.enumerated() where b.1 >= count && b.1 <= count + count / 8 && (best < 0 || b.1 < free[best].1) { best = i }
        if best >= 0 {
            let b = free.remove(at: best)
            cachedBytes -= b.1 * 4
            lock.unlock()
            return b
        }
        // A fresh buffer. Idle buffers may only fill the gap between what is in use now and the most
        // that was ever in use (plus `slackBytes`): peak resident memory then stays at the peak of live
        // memory instead of live + a full cache, and a training step that repeats the last one's
        // allocations still finds its buffers.
        let live = MemoryAccountant.shared.bytesInUse - cachedBytes + count * 4
        highWaterBytes = max(highWaterBytes, live)
        while cachedBytes > 0 && live + cachedBytes > highWaterBytes + slackBytes,
              let i = free.indices.max(by: { free[$0].1 < free[$1].1 }) {
            let b = free.remove(at: i)
            cachedBytes -= b.1 * 4
            ScratchPool.deallocate(b.0, capacity: b.1)
        }
        freshAllocations += 1
        lock.unlock()
        return (ScratchPool.allocate(count), count)
    }

    /// Bytes of idle buffers allowed above the high-water mark of live memory.
    public var slackBytes = 32 << 20
    private var highWaterBytes = 0

    /// 64-byte aligned; buffers from 4 MB up are 2 MB aligned and marked for transparent huge pages
    /// (a fresh 64 MB buffer then costs 32 page faults instead of 16k).
    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = count * 4
        let huge = bytes >= 4 << 20
        var raw: UnsafeMutableRawPointer?
        precondition(posix_memalign(&raw, huge ? 2 << 20 : 64, bytes) == 0, "out of memory allocating scratch \(formatBytes(bytes))")
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        MemoryAccountant.shared.reserveUnchecked(bytes)
        return raw!.bindMemory(to: Float.self, capacity: count)
    }

    static func deallocate(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        Foundation.free(p)
        MemoryAccountant.shared.release(capacity * 4)
    }

    func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        free.append((p, capacity))
        cachedBytes += capacity * 4
        // Over the limit: drop the largest idle buffers first.
        while cachedBytes > cacheLimitBytes, let i = free.indices.max(by: { free[$0].1 < free[$1].1 }) {
            let b = free.remove(at: i)
            cachedBytes -= b.1 * 4
            ScratchPool.deallocate(b.0, capacity: b.1)
        }
        lock.unlock()
    }

    /// Frees every idle buffer (e.g. before a phase with a tight memory budget).
    public func trim() {
        lock.lock()
        for b in free { ScratchPool.deallocate(b.0, capacity: b.1) }
        free.removeAll(); cachedBytes = 0
        highWaterBytes = 0
        lock.unlock()
    }
}
