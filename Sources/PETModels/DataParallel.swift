import Foundation
import PETAutograd
import PETDistributed
import PETTensor
import PETVolumes

/// Synchronous data parallelism over the ranks of an MPI job (`mpirun -np N petgan train`).
///
/// The global batch (which items, in which order, which noise) is what one process would use: every
/// rank draws the global batch's noise from the same stream and keeps its own rows, and reads only
/// its `share` of the items. After each backward the gradients are summed over the ranks in buckets
/// of whole parameters, in the networks' fixed parameter order, and divided by N, so every rank
/// applies the same update to the same weights. Batch norm uses each rank's items unless
/// `syncBatchNorm` (then `syncBatchNorm`'s global statistics).
public final class DataParallel: ReplicaReducer {
    public let group: ProcessGroup
    /// Set from the run's configuration before the model is attached (a resumed run keeps its own).
    public internal(set) var syncBatchNorm: Bool
    /// Bytes per MPI_Allreduce of gradients: large enough that latency does not dominate, small
    /// enough that the packing buffer stays a few MB.
    public let bucketBytes: Int
    public var rank: Int { group.rank }
    public var size: Int { group.size }
    public var replicaCount: Int { group.size }

    /// Time spent in gradient and statistics reductions, and the gradient bytes reduced (per rank).
    public private(set) var communicationSeconds = 0.0
    public private(set) var gradientBytesReduced = 0
    /// Set when this rank's gradients held a NaN or infinity before the last reduction.
    var localNonFinite = false
    private var buffer: [Float] = []

    public init(group: ProcessGroup, syncBatchNorm: Bool, bucketBytes: Int = 4 << 20) {
        self.group = group
        self.syncBatchNorm = syncBatchNorm
        self.bucketBytes = max(4, bucketBytes)
    }

    /// The data parallelism of this process's MPI job, or nil when no launcher started it (a plain
    /// `petgan train`: MPI is never initialised).
    public static func job(syncBatchNorm: Bool) throws -> DataParallel? {
        try ProcessGroup.job().map { DataParallel(group: $0, syncBatchNorm: syncBatchNorm) }
    }

    /// Threads per rank when --threads is not given: the node's cores shared by its ranks.
    public static func defaultThreads(_ g: ProcessGroup) -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount / g.ranksOnThisNode)
    }

    /// This rank's rows of a global batch of `global` items (contiguous, rank order).
    public func share(of global: Int) -> Range<Int> {
        let n = global / size
        return rank * n ..< (rank + 1) * n
    }

    /// Why a global batch cannot be split over the ranks, or nil.
    public func batchRefusal(_ global: Int) -> String? {
        global % size == 0 ? nil
            : "--batch \(global) is not divisible by the \(size) ranks (every rank takes an equal share of the global batch; use a multiple of \(size))"
    }

    // MARK: ReplicaReducer (sync batch norm statistics)

    public func sumInPlace(_ t: Tensor) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try group.allReduceSum(t.data, count: t.count)
        communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Attaches (or detaches) this job to every batch norm of `module` for `--sync-bn`.
    func attachBatchNorms(_ module: Module) {
        if let bn = module as? BatchNorm { bn.replicaReducer = syncBatchNorm ? self : nil }
        for (_, child) in module.namedChildren { attachBatchNorms(child) }
    }

    // MARK: gradients

    /// Replaces each parameter's gradient by the mean over the ranks. Buckets of whole parameters
    /// in `parameters`' order (the same on every rank), each one MPI_Allreduce; a parameter without a
    /// gradient (the same on every rank: the graphs are the same) is skipped.
    public func averageGradients(_ parameters: [Variable]) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        let withGrad = parameters.compactMap { p in p.grad.map { (p, $0) } }
        let capacity = max(bucketBytes / 4, withGrad.map { $0.1.count }.max() ?? 0)
        if buffer.count < capacity { buffer = [Float](repeating: 0, count: capacity) }
        let scale = 1 / Float(size)
        var start = 0
        while start < withGrad.count {
            var end = start, used = 0
            while end < withGrad.count, end == start || used + withGrad[end].1.count <= capacity { used += withGrad[end].1.count; end += 1 }
            try buffer.withUnsafeMutableBufferPointer { b in
                let base = b.baseAddress!
                var o = 0
                for (_, g) in withGrad[start..<end] { (base + o).update(from: g.data, count: g.count); o += g.count }
                for i in 0..<used where !base[i].isFinite { localNonFinite = true; break }
                try group.allReduceSum(base, count: used)
                o = 0
                for (_, g) in withGrad[start..<end] {
                    for i in 0..<g.count { g.data[i] = base[o + i] * scale }
                    o += g.count
                }
            }
            gradientBytesReduced += used * 4
            start = end
        }
    }

    /// The mean over the ranks of each value.
    func mean(_ values: [Double]) throws -> [Double] {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try group.allReduceSum(values).map { $0 / Double(size) }
    }

    // MARK: start-up and resume agreement

    /// Refuses the job when `digest` (of `what`) differs between rank 0 and any other rank; every rank
    /// gets the same answer. `detail` describes this rank's value for the message.
    public func requireSame(_ digest: [UInt8], what: String, detail: String) throws {
        let root = try group.broadcast(digest)
        if let r = try group.firstRank(where: root != digest) {
            let rootDetail = try group.broadcast(detail)
            throw DataParallelError.mismatch(what: what, rank: r, detail: r == rank ? detail : nil, rootDetail: rootDetail)
        }
    }
}

public enum DataParallelError: Error, CustomStringConvertible {
    /// The ranks disagree at start-up: every rank throws it (a refused job, not a crash).
    case mismatch(what: String, rank: Int, detail: String?, rootDetail: String)
    /// A global batch the ranks cannot share equally (every rank throws it).
    case batch(String)
    /// A setting whose random draws are not yet split over ranks (every rank throws it).
    case unsupported(String)

    public var description: String {
        switch self {
        case let .mismatch(what, rank, detail, rootDetail):
            return "rank \(rank)'s \(what) differs from rank 0's (\(detail.map { "rank \(rank): \($0); " } ?? "")rank 0: \(rootDetail)); "
                + "every rank must be started with the same options on the same data"
        case let .batch(s): return s
        case let .unsupported(s): return s
        }
    }

    /// True for errors every rank raises alike (the job ends cleanly, one message from rank 0).
    public var isCollective: Bool { true }
}
