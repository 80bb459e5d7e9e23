import Dispatch
import Foundation

/// Our own parallel loops (vol2col/col2vol, FFT tiles, elementwise work). They never call BLAS from
/// inside a worker: GEMMs run on the calling thread, where OpenBLAS uses its own threads, so the two
/// kinds of threads never nest (2 BLAS threads inside 2 workers would oversubscribe the cores).
public enum Parallel {
    /// Worker count: PETGAN_THREADS, else the number of active cores.
    nonisolated(unsafe) public private(set) static var threads: Int = {
        if let s = ProcessInfo.processInfo.environment["PETGAN_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Sets the worker count for our loops and for OpenBLAS.
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        BLAS.setThreads(threads)
    }

    /// Runs `body(range)` over `0..<count` split into contiguous chunks, in parallel when worthwhile.
    /// `minChunk` is the smallest amount of work worth a thread hop.
    @inlinable
    public static func forRanges(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let t = threads
        let chunks = min(t, max(1, count / max(1, minChunk)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, dynamically load-balanced over the workers.
    @inlinable
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if threads <= 1 || count == 1 { for i in 0..<count { body(i) }; return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
