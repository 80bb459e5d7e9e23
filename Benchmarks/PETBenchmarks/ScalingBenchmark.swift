import Foundation
import PETDistributed
import PETModels
import PETTensor

/// What a `bench scaling` row holds (its JSON `kind`).
public enum ScalingRowKind: String, Codable {
    /// steps/s of a short `petgan train` under mpirun at one ranks × threads layout
    case throughput
    /// one MPI_Allreduce (float sum) between 2 ranks on this machine
    case allreduce
    /// the bandwidth and latency the scaling model takes from the allreduce rows
    case allreduceFit = "allreduce_fit"
    /// gradient bytes one generator step reduces, from a model's parameter counts
    case gradientBytes = "gradient_bytes"
    /// the model's weak scaling (fixed per-rank batch) at a node count and network bandwidth
    case weakScaling = "weak_scaling"
    /// the model's strong scaling (fixed global batch) at a node count and network bandwidth
    case strongScaling = "strong_scaling"
}

/// One row of `petgan bench scaling` (only the keys of its kind are written).
public struct ScalingRow: Codable, Equatable {
    public var kind: ScalingRowKind
    public var name: String
    public var ranks: Int?
    public var threads: Int?
    public var secondsPerStep: Double?
    public var stepsPerSecond: Double?
    public var efficiency: Double?
    public var bytes: Int?
    public var seconds: Double?
    public var gbPerSecond: Double?
    public var latencySeconds: Double?
    public var generatorParameters: Int?
    public var discriminatorParameters: Int?
    public var criticSteps: Int?
    public var buckets: Int?
    public var nodes: Int?
    public var gbitPerSecond: Double?
    public var perRankBatch: Double?
    public var globalBatch: Int?
    public var computeSeconds: Double?
    public var allreduceSeconds: Double?

    public init(kind: ScalingRowKind, name: String) { self.kind = kind; self.name = name }

    enum CodingKeys: String, CodingKey {
        case kind, name, ranks, threads, efficiency, bytes, seconds, buckets, nodes
        case secondsPerStep = "seconds_per_step", stepsPerSecond = "steps_per_second", gbPerSecond = "gb_per_second"
        case latencySeconds = "latency_seconds", generatorParameters = "generator_parameters"
        case discriminatorParameters = "discriminator_parameters", criticSteps = "critic_steps"
        case gbitPerSecond = "gbit_per_second", perRankBatch = "per_rank_batch", globalBatch = "global_batch"
        case computeSeconds = "compute_seconds", allreduceSeconds = "allreduce_seconds"
    }
}

/// One allreduce size measured by `AllreduceProbe` (the hidden `bench allreduce-probe`).
public struct AllreduceSample: Codable {
    public var bytes: Int
    public var seconds: Double
    public var reps: Int
}

/// MPI_Allreduce of growing float buffers, timed on rank 0: each call after a barrier, median of
/// repeated calls (as many as fit in ~0.2 s, 3 to 1000).
public enum AllreduceProbe {
    /// 8 B, 64 B, … ×8 … up to `maxBytes` (always included).
    public static func sizes(maxBytes: Int) -> [Int] {
        var s: [Int] = [], b = 8
        while b < maxBytes { s.append(b); b *= 8 }
        return s + [max(8, maxBytes / 4 * 4)]
    }

    public static func run(group: ProcessGroup, maxBytes: Int) throws -> [AllreduceSample] {
        let count = max(2, maxBytes / 4)
        try MemoryAccountant.shared.reserve(count * 4, what: "allreduce probe buffer")
        defer { MemoryAccountant.shared.release(count * 4) }
        var buffer = [Float](repeating: 1, count: count)
        var out: [AllreduceSample] = []
        try buffer.withUnsafeMutableBufferPointer { b in
            for bytes in sizes(maxBytes: maxBytes) {
                let n = bytes / 4
                func once() throws -> Double {
                    try group.barrier()
                    let t0 = ProcessGroup.wallTime()
                    try group.allReduceSum(b.baseAddress!, count: n)
                    return ProcessGroup.wallTime() - t0
                }
                _ = try once(); let first = try once()
                // Every rank must make the same number of calls: rank 0's estimate decides.
                let reps = Int(try group.allReduceMax(Double(max(3, min(1000, Int(0.2 / max(first, 1e-7)))))))
                var times: [Double] = []
                for _ in 0..<reps { times.append(try once()) }
                times.sort()
                out.append(AllreduceSample(bytes: bytes, seconds: times[times.count / 2], reps: reps))
                // Reset so the sums stay finite over many reps.
                for i in 0..<n { b[i] = 1 }
            }
        }
        return out
    }
}

/// The ring-allreduce model of issue 20: T(N) = 2(N−1)/N · S/β + 2(N−1)·α per bucket of the
/// step's reductions (latency paid once per MPI_Allreduce call).
public struct RingAllreduceModel {
    public var bytesPerSecond: Double
    public var latencySeconds: Double

    public init(bytesPerSecond: Double, latencySeconds: Double) {
        self.bytesPerSecond = bytesPerSecond; self.latencySeconds = latencySeconds
    }

    public func seconds(bytes: Double, calls: Int, ranks: Int) -> Double {
        guard ranks > 1 else { return 0 }
        let n = Double(ranks)
        return 2 * (n - 1) / n * bytes / bytesPerSecond + 2 * (n - 1) * Double(calls) * latencySeconds
    }

    /// β and α from two-rank measurements: with N = 2 the model is T = S/β + 2α, so α is half the
    /// smallest message's time and β the largest message's bytes over its time less 2α.
    public static func fit(_ samples: [AllreduceSample]) -> RingAllreduceModel? {
        guard let small = samples.min(by: { $0.bytes < $1.bytes }), let large = samples.max(by: { $0.bytes < $1.bytes }),
              large.bytes > small.bytes else { return nil }
        let alpha = small.seconds / 2
        return RingAllreduceModel(bytesPerSecond: Double(large.bytes) / max(large.seconds - small.seconds, 1e-12), latencySeconds: alpha)
    }
}

/// `petgan bench scaling`.
public enum ScalingBenchmark {
    /// A model whose gradient bytes are reported.
    public struct GradientModel {
        public var name: String
        public var config: TrainConfig
        public var geometry: NetworkGeometry
    }

    public static func geometry3D(_ c: TrainConfig, _ shape: [Int]) -> NetworkGeometry {
        NetworkGeometry(dims: 3, channels: 1, imageShape: shape, layers: c.gChannels.count, conditionalClasses: 0)
    }

    /// The 2 mm DCGAN of the weak-scaling target: `dcgan3d` defaults at 96×112×96.
    public static var dcgan3d2mm: GradientModel {
        let c = TrainConfig.defaults(for: .dcgan3d)
        return GradientModel(name: "dcgan3d_2mm_96x112x96", config: c, geometry: geometry3D(c, [96, 112, 96]))
    }

    /// The models of issue 20's list: the 2D paper model and the 3D DCGAN at 64³ (bench train's
    /// torch_peer shapes), the `dcgan3d` defaults at 4 mm (the measured run) and at 2 mm, and the
    /// 1 mm generator of docs/TILING.md (g 128-64-32-16, d 8-16-32-64, 192×224×192).
    public static var gradientModels: [GradientModel] {
        let bench = TrainBenchmark.cases(quick: false)
        var out: [GradientModel] = []
        for c in bench where c.name == "dcgan2d_b64" || c.name == "dcgan3d_64_b4" {
            out.append(GradientModel(name: c.name == "dcgan2d_b64" ? "dcgan2d_paper_128x128x3" : "dcgan3d_64", config: c.config, geometry: c.geometry))
        }
        let d = TrainConfig.defaults(for: .dcgan3d)
        out.append(GradientModel(name: "dcgan3d_4mm_48x56x48", config: d, geometry: geometry3D(d, [48, 56, 48])))
        out.append(dcgan3d2mm)
        var g1 = TrainConfig.defaults(for: .dcgan3d)
        g1.gChannels = [128, 64, 32, 16]; g1.dChannels = [8, 16, 32, 64]; g1.nCritic = 1
        out.append(GradientModel(name: "dcgan3d_1mm_192x224x192", config: g1, geometry: geometry3D(g1, [192, 224, 192])))
        return out
    }

    /// Builds the model and counts what one generator step reduces: G's gradients once, D's once per
    /// critic step; buckets packed as `DataParallel.averageGradients` packs them (whole parameters,
    /// 4 MB unless one parameter is larger).
    public static func gradientRow(_ m: GradientModel, bucketBytes: Int = 4 << 20) throws -> ScalingRow {
        var rng = PETRandom(seed: 1)
        let model = try GANModel(config: m.config, geometry: m.geometry, rng: &rng)
        let g = model.generator.parameters.map { $0.value.count }, d = model.discriminator.parameters.map { $0.value.count }
        func buckets(_ counts: [Int]) -> Int {
            let capacity = max(bucketBytes / 4, counts.max() ?? 0)
            var n = 0, used = 0
            for c in counts {
                if used > 0 && used + c > capacity { n += 1; used = 0 }
                used += c
            }
            return n + (used > 0 ? 1 : 0)
        }
        var row = ScalingRow(kind: .gradientBytes, name: m.name)
        row.generatorParameters = g.reduce(0, +); row.discriminatorParameters = d.reduce(0, +)
        row.criticSteps = m.config.nCritic
        row.bytes = 4 * (g.reduce(0, +) + m.config.nCritic * d.reduce(0, +))
        row.buckets = buckets(g) + m.config.nCritic * buckets(d)
        return row
    }

    /// Seconds of one training step (generator + its critic steps) of `m` at `batch` in this process:
    /// one warm-up, then the median of `reps`.
    public static func computeSeconds(_ m: GradientModel, batch: Int, reps: Int = 1) throws -> Double {
        var rng = PETRandom(seed: 11)
        let model = try GANModel(config: m.config, geometry: m.geometry, rng: &rng)
        let real = (0..<m.config.nCritic).map { _ in (Tensor.uniform([batch, 1] + m.geometry.imageShape, low: -1, high: 1, rng: &rng), [Int](repeating: 0, count: batch)) }
        var noise = PETRandom(seed: 12)
        return try Timing(warmup: 1, reps: reps).medianMs { _ = try model.trainStep(real: real, rng: &noise) } / 1000
    }

    // MARK: launching ranks

    public struct Launch {
        /// This executable (the `petgan` the ranks run).
        public var executable: String
        public var mpirun: String

        public init() throws {
            guard !ProcessGroup.launchedByMPI() else {
                throw BenchmarkError("bench scaling launches its own mpirun jobs: run it without mpirun/srun")
            }
            executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let env = ProcessInfo.processInfo.environment
            // PETGAN_MPIRUN names another launcher (a cluster's Open MPI outside PATH).
            if let m = env["PETGAN_MPIRUN"], !m.isEmpty {
                guard FileManager.default.isExecutableFile(atPath: m) else {
                    throw BenchmarkError("PETGAN_MPIRUN=\(m): no executable mpirun there (bench scaling needs Open MPI's mpirun)")
                }
                mpirun = m
                return
            }
            let dirs = (env["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
            guard let m = dirs.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/mpirun") }) else {
                throw BenchmarkError("mpirun not found on PATH or in /usr/bin: bench scaling needs Open MPI (openmpi-bin, libopenmpi-dev; installed by scripts/setup.sh)")
            }
            mpirun = m + "/mpirun"
        }

        /// Runs `petgan args` (under `mpirun -np ranks` when ranks is given); stdout, or an error
        /// naming the command and the last lines of its stderr.
        public func run(ranks: Int?, _ args: [String]) throws -> String {
            let p = Process()
            if let n = ranks {
                p.executableURL = URL(fileURLWithPath: mpirun)
                p.arguments = ["--oversubscribe", "-np", String(n), executable] + args
            } else {
                p.executableURL = URL(fileURLWithPath: executable)
                p.arguments = args
            }
            var env = ProcessInfo.processInfo.environment
            // Open MPI refuses root without these (CI and containers run as root).
            if geteuid() == 0 { env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1" }
            p.environment = env
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petgan-scaling-\(getpid())-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
            FileManager.default.createFile(atPath: outURL.path, contents: nil)
            FileManager.default.createFile(atPath: errURL.path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: outURL)
            p.standardError = try FileHandle(forWritingTo: errURL)
            try p.run()
            p.waitUntilExit()
            let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
            guard p.terminationStatus == 0 else {
                let err = ((try? String(contentsOf: errURL, encoding: .utf8)) ?? "").split(separator: "\n").suffix(4).joined(separator: " | ")
                let what = (ranks.map { "mpirun -np \($0) " } ?? "") + "petgan " + args.joined(separator: " ")
                throw BenchmarkError("`\(what)` exited with status \(p.terminationStatus): \(err)")
            }
            return out
        }
    }

    public struct Options {
        public var model = "dcgan3d"
        public var shape = [48, 56, 48]
        public var voxelSize = 4.0
        public var subjects = 16
        public var batch = 8
        public var steps = 6
        public var settings: [String] = []
        public var maxAllreduceBytes = 64 << 20
        /// Seconds per step of the 2 mm DCGAN at the per-rank batch (nil: measured here).
        public var computeSeconds: Double?
        public var perRankBatch = 4
        public var strongGlobalBatch = 32
        public var networkLatencySeconds = 2e-6
        public var nodes = [8, 32, 128]
        public var gbits = [10.0, 100.0]
        public var workDirectory: String
        /// The phantom templates folder (nil: petgan phantom's default).
        public var templatesDirectory: String?
        public init(workDirectory: String) { self.workDirectory = workDirectory }
    }

    /// "(0.363 s per step)" of `petgan train`'s summary line (rank 0 prints it).
    static func secondsPerStep(_ out: String) throws -> Double {
        for line in out.split(separator: "\n") where line.contains(" s per step)") {
            if let open = line.range(of: "(", options: .backwards), let v = Double(line[open.upperBound...].split(separator: " ").first ?? "") { return v }
        }
        throw BenchmarkError("petgan train printed no '… s per step' summary: \(out.suffix(300))")
    }

    public static func run(_ o: Options, say: (String) -> Void = { print($0) }) throws -> [ScalingRow] {
        let launch = try Launch()
        say("PETGAN \(PETGANVersion.string) scaling benchmark (issue 20)")
        say("machine: \(Machine.description)")
        say("mpirun: \(launch.mpirun)")
        var rows: [ScalingRow] = []
        try FileManager.default.createDirectory(atPath: o.workDirectory, withIntermediateDirectories: true)
        let cohort = (o.workDirectory as NSString).appendingPathComponent("scaling-cohort.h5")
        let shapeText = o.shape.map(String.init).joined(separator: "x")
        _ = try launch.run(ranks: nil, ["phantom", "--count", String(o.subjects), "--shape", shapeText, "--voxel-size", String(o.voxelSize),
                                        "--seed", "20", "--out", cohort] + (o.templatesDirectory.map { ["--templates", $0] } ?? []))

        // (a) throughput: 1 rank × 2 threads vs 2 ranks × 1 thread, same global batch and seed.
        say("\n(a) \(o.model) on the built-in \(o.subjects)-subject \(shapeText) (\(o.voxelSize) mm) cohort, global batch \(o.batch), \(o.steps) steps (s per step of the whole run: start-up excluded, checkpoints and plots included)")
        say(pad("layout", 26) + lpad("s/step", 10) + lpad("steps/s", 10) + lpad("vs 1×2", 10))
        var base: Double?
        var reducedMB: Double?
        for (ranks, threads) in [(1, 2), (2, 1)] {
            let out = (o.workDirectory as NSString).appendingPathComponent("runs-\(ranks)x\(threads)")
            try? FileManager.default.removeItem(atPath: out)
            let text = try launch.run(ranks: ranks, ["train", "--data", cohort, "--model", o.model, "--batch", String(o.batch),
                                                    "--max-steps", String(o.steps), "--seed", "5", "--threads", String(threads), "--out", out]
                                      + o.settings.flatMap { ["--set", $0] })
            let s = try secondsPerStep(text)
            if ranks == 2, let line = text.split(separator: "\n").first(where: { $0.contains("MB of gradients reduced per step") }),
               let r = line.range(of: "MB of gradients") {
                reducedMB = Double(line[..<r.lowerBound].split(separator: " ").last ?? "")
            }
            var row = ScalingRow(kind: .throughput, name: "\(ranks)x\(threads)")
            row.ranks = ranks; row.threads = threads; row.secondsPerStep = s; row.stepsPerSecond = r3(1 / s)
            if base == nil { base = s }
            row.efficiency = r3(base! / s)
            rows.append(row)
            say(pad("\(ranks) rank\(ranks > 1 ? "s" : "") × \(threads) thread\(threads > 1 ? "s" : "")", 26) + lpad(String(format: "%.3f", s), 10)
                + lpad(String(format: "%.2f", 1 / s), 10) + lpad(String(format: "%.2f", base! / s), 10))
        }
        let efficiency2 = rows.last!.efficiency!
        say(String(format: "efficiency = throughput(2×1) / throughput(1×2) = %.2f (target ≥ 0.9)", efficiency2))

        // (b) allreduce between 2 ranks.
        let probeOut = try launch.run(ranks: 2, ["bench", "allreduce-probe", "--max-bytes", "\(o.maxAllreduceBytes)B"])
        guard let jsonLine = probeOut.split(separator: "\n").first(where: { $0.hasPrefix(AllreduceProbe.outputPrefix) }),
              let samples = try? JSONDecoder().decode([AllreduceSample].self, from: Data(jsonLine.dropFirst(AllreduceProbe.outputPrefix.count).utf8)),
              let measured = RingAllreduceModel.fit(samples) else {
            throw BenchmarkError("bench allreduce-probe printed no samples: \(probeOut.suffix(300))")
        }
        say("\n(b) MPI_Allreduce (float sum, in place) between 2 ranks on this machine (shared memory), rank 0, median after a barrier")
        say(pad("bytes", 12) + lpad("µs", 12) + lpad("GB/s", 10) + lpad("reps", 8))
        for s in samples {
            var row = ScalingRow(kind: .allreduce, name: "allreduce_\(s.bytes)")
            row.ranks = 2; row.bytes = s.bytes; row.seconds = s.seconds; row.gbPerSecond = r3(Double(s.bytes) / s.seconds / 1e9)
            rows.append(row)
            say(pad(String(s.bytes), 12) + lpad(String(format: "%.1f", s.seconds * 1e6), 12) + lpad(String(format: "%.3f", Double(s.bytes) / s.seconds / 1e9), 10) + lpad(String(s.reps), 8))
        }
        var fit = ScalingRow(kind: .allreduceFit, name: "allreduce_2_ranks_this_machine")
        fit.ranks = 2; fit.gbPerSecond = r3(measured.bytesPerSecond / 1e9); fit.latencySeconds = measured.latencySeconds
        rows.append(fit)
        say(String(format: "fit of T = S/β + 2α (N = 2): β = %.2f GB/s, α = %.2f µs", measured.bytesPerSecond / 1e9, measured.latencySeconds * 1e6))

        // (c) gradient bytes per generator step.
        say("\n(c) gradient bytes per generator step = 4 B × (G parameters + critic steps × D parameters), from the models PETModels builds; buckets of ≤ 4 MB")
        say(pad("model", 26) + lpad("G params", 12) + lpad("D params", 12) + lpad("critic", 8) + lpad("MB/step", 10) + lpad("buckets", 9))
        var twoMM: ScalingRow?
        for m in gradientModels {
            let row = try gradientRow(m)
            rows.append(row)
            if m.name == dcgan3d2mm.name { twoMM = row }
            say(pad(m.name, 26) + lpad(String(row.generatorParameters!), 12) + lpad(String(row.discriminatorParameters!), 12) + lpad(String(row.criticSteps!), 8)
                + lpad(String(format: "%.2f", Double(row.bytes!) / 1e6), 10) + lpad(String(row.buckets!), 9))
            if m.name == "dcgan3d_4mm_48x56x48", o.model == "dcgan3d", o.settings.isEmpty, o.shape == [48, 56, 48], let mb = reducedMB {
                say(String(format: "  (the 2-rank run of (a) reduced %.2f MB per step)", mb))
            }
        }
        if let mb = reducedMB { say(String(format: "the 2-rank run of (a) reported %.2f MB of gradients reduced per step", mb)) }

        // (d) the scaling model.
        let target = dcgan3d2mm, g2 = twoMM!
        let bytes = Double(g2.bytes!), calls = g2.buckets!
        let compute: Double
        if let c = o.computeSeconds { compute = c; say("\n(d) scaling model of \(target.name), per-rank batch \(o.perRankBatch): compute \(String(format: "%.3f", c)) s per step (--compute-seconds)") }
        else {
            compute = try computeSeconds(target, batch: o.perRankBatch)
            say("\n(d) scaling model of \(target.name), per-rank batch \(o.perRankBatch): compute \(String(format: "%.3f", compute)) s per step (measured here, \(Parallel.threads) threads, one step after a warm-up)")
        }
        say(String(format: "T(N) = 2(N−1)/N · S/β + 2(N−1)·k·α, S = %.2f MB, k = %d MPI_Allreduce calls per step; network α = %.1f µs (assumed: InfiniBand-class; not measurable on one machine)", bytes / 1e6, calls, o.networkLatencySeconds * 1e6))
        // Check against the two measured points: the model with this machine's β, α and the 1×2 step time.
        if let mb = reducedMB, let t1 = base {
            let checkBytes = mb * 1e6, checkCalls = max(2, Int((checkBytes / Double(4 << 20)).rounded(.up)) + 1)
            let t = measured.seconds(bytes: checkBytes, calls: checkCalls, ranks: 2)
            say(String(format: "check against the two measured points: this machine's β, α and the 2-rank run's %.2f MB (≈ %d calls) give T(2) = %.4f s on %.3f s of compute ⇒ predicted 2×1 efficiency %.3f, measured %.3f (the rest: two ranks × one thread vs one rank's two threads, work every rank repeats)",
                       mb, checkCalls, t, t1, t1 / (t1 + t), efficiency2))
        }
        say(pad("nodes", 8) + lpad("Gbit/s", 8) + lpad("global batch", 14) + lpad("T(N) ms", 10) + lpad("weak eff.", 11))
        var at32: Double?
        for gb in o.gbits {
            let net = RingAllreduceModel(bytesPerSecond: gb * 1e9 / 8, latencySeconds: o.networkLatencySeconds)
            for n in [2] + o.nodes {
                let t = net.seconds(bytes: bytes, calls: calls, ranks: n)
                var row = ScalingRow(kind: .weakScaling, name: "\(target.name)_n\(n)_\(Int(gb))gbit")
                row.nodes = n; row.gbitPerSecond = gb; row.perRankBatch = Double(o.perRankBatch); row.globalBatch = n * o.perRankBatch
                row.computeSeconds = compute; row.allreduceSeconds = t; row.efficiency = compute / (compute + t)
                rows.append(row)
                if n == 32 && gb == 100 { at32 = row.efficiency }
                say(pad(String(n), 8) + lpad(String(format: "%.0f", gb), 8) + lpad(String(n * o.perRankBatch), 14) + lpad(String(format: "%.1f", t * 1e3), 10)
                    + lpad(String(format: "%.1f%%", row.efficiency! * 100), 11))
            }
        }
        if let e = at32 {
            say(String(format: "weak scaling at 32 nodes, 2 mm DCGAN, per-rank batch %d, 100 Gbit/s: efficiency %.1f%% (target ≥ 80%%)", o.perRankBatch, e * 100))
        }
        // Strong scaling: global batch fixed, compute assumed linear in the per-rank batch.
        let B = o.strongGlobalBatch
        say("\nstrong scaling, global batch \(B) (compute per rank = \(String(format: "%.3f", compute)) s × per-rank batch / \(o.perRankBatch), assumed linear), down to one item per rank:")
        say(pad("nodes", 8) + lpad("Gbit/s", 8) + lpad("per rank", 10) + lpad("compute s", 11) + lpad("T(N) ms", 10) + lpad("speed-up", 10) + lpad("strong eff.", 12))
        for gb in o.gbits {
            let net = RingAllreduceModel(bytesPerSecond: gb * 1e9 / 8, latencySeconds: o.networkLatencySeconds)
            var stop: Int?
            let t1 = compute * Double(B) / Double(o.perRankBatch)
            var n = 1
            while n <= B {
                let c = compute * (Double(B) / Double(n)) / Double(o.perRankBatch), t = net.seconds(bytes: bytes, calls: calls, ranks: n)
                var row = ScalingRow(kind: .strongScaling, name: "\(target.name)_b\(B)_n\(n)_\(Int(gb))gbit")
                row.nodes = n; row.gbitPerSecond = gb; row.perRankBatch = Double(B) / Double(n); row.globalBatch = B
                row.computeSeconds = c; row.allreduceSeconds = t; row.efficiency = t1 / (Double(n) * (c + t))
                rows.append(row)
                if stop == nil && t > c { stop = n }
                say(pad(String(n), 8) + lpad(String(format: "%.0f", gb), 8) + lpad(String(format: "%g", Double(B) / Double(n)), 10) + lpad(String(format: "%.3f", c), 11)
                    + lpad(String(format: "%.1f", t * 1e3), 10) + lpad(String(format: "%.1f", t1 / (c + t)), 10) + lpad(String(format: "%.1f%%", row.efficiency! * 100), 12))
                n *= 2
            }
            let crossover = compute / Double(o.perRankBatch) / max(net.seconds(bytes: bytes, calls: calls, ranks: B), 1e-12)
            say(String(format: "  %.0f Gbit/s: ", gb) + (stop.map { "communication exceeds compute from \($0) ranks (efficiency below 50%)" }
                ?? String(format: "communication stays below compute down to one item per rank (at N = %d one item's compute is %.0f× the allreduce)", B, crossover)))
        }
        say("where it stops: at N = global batch (one item per rank) there is nothing left to split — more ranks need a larger global batch, which is a different training (weak scaling); "
            + "before that, the per-step allreduce of S bytes (≈ 2·S/β, independent of N) meets the shrinking per-rank compute. With one item per rank, per-rank batch norm sees one volume: use --sync-bn.")
        return rows
    }
}

extension AllreduceProbe {
    /// The line rank 0 prints: this prefix, then the samples as JSON.
    public static let outputPrefix = "allreduce-probe: "
}
