import ArgumentParser
import Foundation
import PETBenchmarks
import PETDistributed
import PETModels

/// `petgan bench scaling`: data-parallel throughput, allreduce figures, gradient bytes and the
/// scaling model of docs/SCALING.md. It launches `mpirun … petgan` itself.
struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Data-parallel scaling (issue 20): steps/s of 1 rank × 2 threads vs 2 ranks × 1 thread under mpirun, MPI_Allreduce bandwidth and latency between 2 ranks, gradient bytes per step of each model, and the ring-allreduce model of weak and strong scaling.")

    @Option(help: "Model trained in the throughput runs.")
    var model: ModelKind = .dcgan3d
    @Option(help: "Built-in cohort grid, NIfTI order x×y×z.", transform: { try GridSides.parse($0) })
    var grid = GridSides(48, 56, 48)
    @Option(name: .customLong("voxel-size"), help: "Voxel size in mm of the built-in cohort.")
    var voxelSize: Double = 4
    @Option(help: "Subjects of the built-in cohort.")
    var subjects: Int = 16
    @Option(help: "Global batch of the throughput runs.")
    var batch: Int = 8
    @Option(help: "Training steps per throughput run.")
    var steps: Int = 6
    @Option(name: .customLong("set"), help: "Training setting key=value for the throughput runs (repeatable, as `petgan train --set`).")
    var settings: [String] = []
    @Option(name: .customLong("max-bytes"), help: "Largest allreduce message, e.g. 64MB (a bare number is MB).")
    var maxBytes = ByteSize.megabytes(64)
    @Option(name: .customLong("compute-seconds"), help: "Compute seconds per step of the 2 mm DCGAN at the per-rank batch (default: measured here, one step after a warm-up).")
    var computeSeconds: Double?
    @Option(name: .customLong("per-rank-batch"), help: "Per-rank batch of the weak-scaling model.")
    var perRankBatch: Int = 4
    @Option(name: .customLong("strong-batch"), help: "Global batch of the strong-scaling model (ranks go down to one item each).")
    var strongBatch: Int = 32
    @Option(name: .customLong("network-latency-us"), help: "Network latency per message in µs for the cluster model (default 2: InfiniBand-class; TCP Ethernet ≈ 20–50).")
    var networkLatencyMicroseconds: Double = 2
    @Option(name: .customLong("work-dir"), help: "Folder for the cohort and the throughput runs (default: a new temporary folder, removed afterwards).")
    var workDir: String?
    @Option(help: "Folder with the phantom templates (default: $PETGAN_TEMPLATES or Volumes/templates).")
    var templates: String?
    @OptionGroup var output: JSONRowsOutput

    func validate() throws {
        guard subjects >= 1 else { throw ValidationError("--subjects must be at least 1") }
        guard batch >= 2, batch % 2 == 0 else { throw ValidationError("--batch must be even (it is split over 2 ranks), got \(batch)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard voxelSize > 0 else { throw ValidationError("--voxel-size must be positive") }
        guard maxBytes.bytes >= 8 else { throw ValidationError("--max-bytes must be at least 8 bytes") }
        if let c = computeSeconds { guard c > 0, c.isFinite else { throw ValidationError("--compute-seconds must be positive, got \(c)") } }
        guard perRankBatch >= 1 else { throw ValidationError("--per-rank-batch must be at least 1") }
        guard strongBatch >= 1 else { throw ValidationError("--strong-batch must be at least 1") }
        guard networkLatencyMicroseconds >= 0 else { throw ValidationError("--network-latency-us must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            let temporary = workDir == nil
            let dir = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("petgan-bench-scaling-\(getpid())").path
            defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }
            var o = ScalingBenchmark.Options(workDirectory: dir)
            o.model = model.rawValue; o.shape = grid.sides; o.voxelSize = voxelSize; o.subjects = subjects
            o.batch = batch; o.steps = steps; o.settings = settings; o.maxAllreduceBytes = maxBytes.bytes
            o.computeSeconds = computeSeconds; o.perRankBatch = perRankBatch; o.strongGlobalBatch = strongBatch
            o.networkLatencySeconds = networkLatencyMicroseconds * 1e-6; o.templatesDirectory = templates
            try output.write(try ScalingBenchmark.run(o))
        }
    }
}

/// `mpirun -np 2 petgan bench allreduce-probe`: what `bench scaling` runs for its allreduce rows;
/// rank 0 prints one line of JSON samples.
struct BenchAllreduceProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-probe", abstract: "MPI_Allreduce timing under mpirun (run by bench scaling).", shouldDisplay: false)

    @Option(name: .customLong("max-bytes"), help: "Largest message (a bare number is MB).")
    var maxBytes = ByteSize.megabytes(64)

    func run() throws {
        try runReportingErrors {
            guard let group = try ProcessGroup.job(), group.size >= 2 else {
                throw BenchmarkError("bench allreduce-probe needs at least 2 ranks: run it as `mpirun -np 2 petgan bench allreduce-probe`")
            }
            let samples = try AllreduceProbe.run(group: group, maxBytes: maxBytes.bytes)
            if group.isRoot {
                print(AllreduceProbe.outputPrefix + String(decoding: try benchJSONEncoder(pretty: false).encode(samples), as: UTF8.self))
            }
            group.finalize()
        }
    }
}
