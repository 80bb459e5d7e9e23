// The one file that calls Open MPI (CMPI). Every other module sees a `ProcessGroup`: rank, size and
// typed collectives on plain buffers, errors as Swift errors; the MPI communicator stays private here.
import CMPI
import Foundation

/// A failed MPI call: which call, Open MPI's error code and its text.
public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let text: String
    public var description: String { "MPI \(call) failed (\(code)): \(text)" }
}

/// The ranks of one `mpirun` / `srun` job. Without a launcher there is no group: PETGAN never
/// initialises MPI then (no singleton), so a plain `petgan train` runs exactly as it does without MPI.
public final class ProcessGroup {
    public let rank: Int
    public let size: Int
    /// Ranks of this job on this node (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE, Slurm's
    /// SLURM_NTASKS_PER_NODE): the default threads per rank divide the node's cores among them.
    public let ranksOnThisNode: Int
    public var isRoot: Bool { rank == 0 }
    /// The job's communicator (a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN).
    private let comm: MPI_Comm

    nonisolated(unsafe) private static var shared: ProcessGroup?

    /// Launcher variables set for every rank: Open MPI's mpirun, PMIx (srun --mpi=pmix, mpirun 4/5)
    /// and PMI-1/2 (srun --mpi=pmi2). A bare `petgan` (or one inside an sbatch script without srun)
    /// has none of them.
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]

    /// True when a launcher started this process as one rank of a job.
    public static func launchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    /// The job's group: initialises MPI on first use when `launchedByMPI()`, nil otherwise.
    public static func job() throws -> ProcessGroup? {
        if let g = shared { return g }
        guard launchedByMPI() else { return nil }
        var provided: Int32 = 0
        var comm: MPI_Comm? = nil
        try check(petgan_mpi_init(&provided, &comm), "MPI_Init_thread")
        guard let comm else { throw MPIError(call: "MPI_Comm_dup", code: 0, text: "no communicator") }
        // Funneled is enough: only the main thread calls MPI, the worker pool never does.
        guard provided >= petgan_mpi_thread_funneled() else {
            throw MPIError(call: "MPI_Init_thread", code: 0, text: "the MPI library offers thread level \(provided), PETGAN needs MPI_THREAD_FUNNELED")
        }
        let env = ProcessInfo.processInfo.environment
        let local = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? Int(env["SLURM_NTASKS_PER_NODE"] ?? "") ?? 1
        let g = ProcessGroup(comm: comm, rank: Int(petgan_mpi_rank(comm)), size: Int(petgan_mpi_size(comm)), ranksOnThisNode: max(1, local))
        shared = g
        atexit { ProcessGroup.finalizeIfNeeded() }
        return g
    }

    /// The group if MPI was initialised (nil in a plain run).
    public static var current: ProcessGroup? { shared }

    private init(comm: MPI_Comm, rank: Int, size: Int, ranksOnThisNode: Int) {
        self.comm = comm
        self.rank = rank; self.size = size; self.ranksOnThisNode = ranksOnThisNode
    }

    static func finalizeIfNeeded() {
        guard let g = shared, petgan_mpi_is_initialized() != 0, petgan_mpi_is_finalized() == 0 else { return }
        _ = petgan_mpi_finalize(g.comm)
    }

    private static func check(_ rc: Int32, _ call: String) throws {
        guard rc != 0 else { return }
        var buffer = [CChar](repeating: 0, count: Int(petgan_mpi_max_error_string()) + 1)
        petgan_mpi_error_string(rc, &buffer)
        throw MPIError(call: call, code: rc, text: String(cString: buffer))
    }

    /// Chunks of at most Int32.max elements (MPI counts are C ints).
    private func chunked<T>(_ p: UnsafeMutablePointer<T>, _ count: Int, _ body: (UnsafeMutablePointer<T>, Int32) -> Int32, _ call: String) throws {
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            try ProcessGroup.check(body(p + done, Int32(n)), call)
            done += n
        }
    }

    // MARK: collectives (every rank must call them in the same order)

    /// In-place elementwise sum over the ranks.
    public func allReduceSum(_ p: UnsafeMutablePointer<Float>, count: Int) throws {
        try chunked(p, count, { petgan_mpi_allreduce_sum_float(comm, $0, $1) }, "MPI_Allreduce(float, sum)")
    }

    public func allReduceSum(_ p: UnsafeMutablePointer<Double>, count: Int) throws {
        try chunked(p, count, { petgan_mpi_allreduce_sum_double(comm, $0, $1) }, "MPI_Allreduce(double, sum)")
    }

    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allReduceSum($0.baseAddress!, count: $0.count) }
        return v
    }

    /// The smallest / largest of one value over the ranks (integers up to 2^53 exactly).
    public func allReduceMin(_ value: Double) throws -> Double {
        var r = 0.0
        try ProcessGroup.check(petgan_mpi_allreduce_min_scalar(comm, value, &r), "MPI_Allreduce(min)")
        return r
    }

    public func allReduceMax(_ value: Double) throws -> Double {
        var r = 0.0
        try ProcessGroup.check(petgan_mpi_allreduce_max_scalar(comm, value, &r), "MPI_Allreduce(max)")
        return r
    }

    /// True on every rank when `flag` is true on any.
    public func any(_ flag: Bool) throws -> Bool { try allReduceMax(flag ? 1 : 0) != 0 }

    /// Rank 0's bytes on every rank (the other ranks' `bytes` give only the length, which must agree).
    public func broadcast(_ bytes: [UInt8]) throws -> [UInt8] {
        var n = [Int64(bytes.count)]
        try n.withUnsafeMutableBytes { try ProcessGroup.check(petgan_mpi_bcast_bytes(comm, $0.baseAddress, 8, 0), "MPI_Bcast") }
        var b = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(n[0]))
        try b.withUnsafeMutableBytes { r in
            var done = 0
            while done < r.count {
                let k = min(r.count - done, Int(Int32.max))
                try ProcessGroup.check(petgan_mpi_bcast_bytes(comm, r.baseAddress! + done, Int32(k), 0), "MPI_Bcast")
                done += k
            }
        }
        return b
    }

    public func broadcast(_ text: String) throws -> String {
        String(decoding: try broadcast(Array(text.utf8)), as: UTF8.self)
    }

    /// The lowest rank for which `flag` is true, or nil when it is false on every rank.
    public func firstRank(where flag: Bool) throws -> Int? {
        let r = Int(try allReduceMin(Double(flag ? rank : size)))
        return r < size ? r : nil
    }

    public func barrier() throws { try ProcessGroup.check(petgan_mpi_barrier(comm), "MPI_Barrier") }

    /// Seconds on MPI's clock.
    public static func wallTime() -> Double { petgan_mpi_wtime() }

    /// Ends every rank of the job at once (mpirun / srun kill the others): the way out of a failure
    /// on one rank that the others would otherwise wait for in their next collective.
    public func abort(code: Int32) -> Never {
        petgan_mpi_abort(code)
        exit(code)
    }

    /// Collective clean end (every rank calls it); later collectives are errors.
    public func finalize() { ProcessGroup.finalizeIfNeeded() }
}
