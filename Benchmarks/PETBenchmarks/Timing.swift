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

/// One JSON row of a benchmark file.
public typealias BenchRow = [String: Any]

public func writeJSONRows(_ rows: [BenchRow], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
    let url = URL(fileURLWithPath: path)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    try data.write(to: tmp)
    // rename(2) replaces an existing file atomically (FileManager.replaceItemAt fails on Linux here).
    guard rename(tmp.path, url.path) == 0 else {
        try? FileManager.default.removeItem(at: tmp)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
    }
}
