// `mpirun -np N petgan train`: the data-parallel trainer against one process on the same global
// batch, resume with another N, refusals, and a killed rank. These run Open MPI's mpirun (installed
// by scripts/setup.sh); a missing mpirun fails them.
import Foundation
import PETModels
import PETTensor
import PETTestFixtures
import PETTestSupport
import XCTest

final class DataParallelTests: XCTestCase {
    /// mpirun on PATH or in /usr/bin; an error (not a skip) when Open MPI is not installed.
    func mpirun() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        for d in path where FileManager.default.isExecutableFile(atPath: d + "/mpirun") { return d + "/mpirun" }
        throw TestSupportError("mpirun not found: Open MPI (openmpi-bin, libopenmpi-dev) is installed by scripts/setup.sh")
    }

    /// CI runs as root; ranks may outnumber cores.
    let mpiEnvironment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]
    /// Runs whose numbers are compared convolve with implicit GEMM on every side: its sum for a voxel
    /// does not depend on how many samples a call holds, so a rank's 2 samples are computed as one
    /// process computes them among 4, and what differs is what data parallelism reorders (the sums
    /// over samples, the all-reduce, --sync-bn's statistics). With the automatic choice the im2col
    /// sgemm of 2 samples and of 4 can take different OpenBLAS kernels (SkylakeX's small-matrix one,
    /// Prescott's), a rounding difference the WGAN-GP penalty's (‖∇D‖ − 1) then amplifies past any
    /// bound on the reordering (measured 9e-5 on gradients there).
    /// The AVX2 tile gives the AVX-512 tile's bits here and wastes less of its block on these
    /// 8–16-channel networks (54 s for this file against 90 s).
    var comparedEnvironment: [String: String] {
        mpiEnvironment.merging(["PETGAN_CONV": "implicit-gemm", "PETGAN_CONV_ISA": "avx2"]) { $1 }
    }

    /// A small 3D model on the 12-subject 4 mm fixture cohort: seconds per run.
    func trainArgs(model: String, data: String, out: String, steps: Int, extra: [String] = []) -> [String] {
        var a = ["train", "--data", data, "--model", model, "--batch", "4", "--max-steps", String(steps), "--seed", "11",
                 "--threads", "1", "--out", out, "--set", "checkpoint_every=1", "--set", "sample_count=2"]
        a += model == "dcgan3d" ? ["--set", "g_channels=16,8", "--set", "d_channels=8,16"]
            : ["--set", "g_channels=16,8", "--set", "d_channels=8,16", "--set", "n_critic=2"]
        return a + extra
    }

    /// Runs `petgan args` under `mpirun -np ranks`; returns the result and the one run directory made in `out`.
    @discardableResult
    func train(ranks: Int?, _ args: [String], out: String) throws -> (ProcessResult, String?) {
        let exe = try petganBinary()
        let r = try ranks.map { try runProcess(try mpirun(), ["--oversubscribe", "-np", String($0), exe] + args, environment: comparedEnvironment) }
            ?? runProcess(exe, args, environment: comparedEnvironment)
        let runs = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted()
        return (r, runs.last.map { out + "/" + $0 })
    }

    func checkpoint(_ run: String) throws -> Checkpoint { try Checkpoint.load(from: run + "/checkpoints/latest.h5") }

    /// Largest |a − b| over the named tensors, relative to the largest |a| (both non-zero somewhere).
    func relativeDifference(_ a: [String: Tensor], _ b: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(Set(a.keys), Set(b.keys), file: file, line: line)
        var diff = 0.0, scale = 0.0
        for (k, x) in a {
            guard let y = b[k], x.count == y.count else { XCTFail("\(k) missing or of another size", file: file, line: line); return .infinity }
            for i in 0..<x.count {
                let d = Double(x.data[i]) - Double(y.data[i])
                if !d.isFinite { return .infinity }
                diff = max(diff, abs(d)); scale = max(scale, abs(Double(x.data[i])))
            }
        }
        XCTAssertGreaterThan(scale, 0, "all-zero tensors compare trivially", file: file, line: line)
        return diff / scale
    }

    // Tolerances. The two-rank run sums each gradient element as (sum over rank 0's items) + (sum over
    // rank 1's) where one process sums all items at once, and --sync-bn's statistics likewise; float32
    // rounding of those reorderings is ~1e-7 relative per sum, amplified through a few layers and
    // Adam's normalisation (a weight whose gradient is near zero moves ±lr whichever way rounding tips
    // it). Measured with comparedEnvironment, the same on OpenBLAS cores Haswell, SkylakeX, Prescott
    // and Sandybridge and with the AVX2 and AVX-512 tiles: ≤ 6.8e-6 for gradients after one step,
    // 2.2e-5 for weights after 4 steps, 1.5e-4 for the resumed WGAN-GP run (its 4 steps take 2 critic
    // steps each). The plain C tile (no AVX2) rounds otherwise: 5.2e-4 after 4 steps.
    let gradientTolerance = 3e-5
    let weightTolerance = 2e-4

    /// One step: Adam's first moments after step 1 are (1 − β1)·g, so the checkpoints hold the averaged
    /// gradients of every parameter; they match one process on the same global batch.
    func testTwoRanksAveragedGradientsEqualOneProcessGradients() throws {
        let data = try Fixtures.smallCohort()
        for model in ["dcgan3d", "wgangp3d"] {
            let dir = try makeTempDir("dp-grad-\(model)")
            let (r1, run1) = try train(ranks: 1, trainArgs(model: model, data: data, out: dir + "/one", steps: 1, extra: ["--sync-bn"]), out: dir + "/one")
            XCTAssertEqual(r1.status, 0, r1.stderr)
            let (r2, run2) = try train(ranks: 2, trainArgs(model: model, data: data, out: dir + "/two", steps: 1, extra: ["--sync-bn"]), out: dir + "/two")
            XCTAssertEqual(r2.status, 0, r2.stderr)
            XCTAssertTrue(r2.stdout.contains("data parallel: 2 ranks × 1 threads, 2 of each batch of 4 per rank"), r2.stdout)
            let c1 = try checkpoint(XCTUnwrap(run1)), c2 = try checkpoint(XCTUnwrap(run2))
            for opt in ["optG", "optD"] {
                let m1 = try XCTUnwrap(c1.optimizers[opt]).tensors, m2 = try XCTUnwrap(c2.optimizers[opt]).tensors
                let firstMoments1 = m1.filter { $0.key.hasSuffix(".exp_avg") || $0.key.hasSuffix(".grad_avg") || $0.key.hasSuffix(".square_avg") }
                let firstMoments2 = m2.filter { firstMoments1[$0.key] != nil }
                XCTAssertFalse(firstMoments1.isEmpty, "\(model) \(opt): no optimizer moments")
                let d = relativeDifference(firstMoments1, firstMoments2)
                print("data parallel: \(model) \(opt) gradients, 2 ranks against 1: relative difference \(d)")
                XCTAssertLessThan(d, gradientTolerance, "\(model) \(opt)")
            }
            // Only rank 0 writes: one metrics line per step, one run directory.
            let lines = try String(contentsOfFile: XCTUnwrap(run2) + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(lines.count, 1)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/two").count, 1)
        }
    }

    /// Several steps (new noise, new batches, Adam moments): the weights stay within tolerance of one
    /// process's; with per-rank batch norm (the default) they do not (the statistics of 2 items, not 4).
    func testWeightsAfterSeveralStepsAgreeAndSyncBatchNormStatisticsAreGlobal() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("dp-steps")
        let (r1, run1) = try train(ranks: nil, trainArgs(model: "dcgan3d", data: data, out: dir + "/one", steps: 4), out: dir + "/one")
        XCTAssertEqual(r1.status, 0, r1.stderr)
        XCTAssertFalse(r1.stdout.contains("data parallel"), "a plain run must not start MPI")
        let (rm, runm) = try train(ranks: 1, trainArgs(model: "dcgan3d", data: data, out: dir + "/mpi1", steps: 4, extra: ["--sync-bn"]), out: dir + "/mpi1")
        XCTAssertEqual(rm.status, 0, rm.stderr)
        let (r2, run2) = try train(ranks: 2, trainArgs(model: "dcgan3d", data: data, out: dir + "/two", steps: 4, extra: ["--sync-bn"]), out: dir + "/two")
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let (rp, runp) = try train(ranks: 2, trainArgs(model: "dcgan3d", data: data, out: dir + "/perrank", steps: 4), out: dir + "/perrank")
        XCTAssertEqual(rp.status, 0, rp.stderr)
        let plain = try checkpoint(XCTUnwrap(run1)), one = try checkpoint(XCTUnwrap(runm))
        let two = try checkpoint(XCTUnwrap(run2)), perRank = try checkpoint(XCTUnwrap(runp))
        XCTAssertEqual(two.step, 4)
        let stats = { (c: Checkpoint) in c.tensors.filter { $0.key.hasSuffix("running_mean") || $0.key.hasSuffix("running_var") } }
        let weights = { (c: Checkpoint) in c.tensors.filter { !$0.key.hasSuffix("running_mean") && !$0.key.hasSuffix("running_var") && !$0.key.hasSuffix("num_batches_tracked") } }
        XCTAssertFalse(stats(one).isEmpty)
        // --sync-bn: the running statistics are those of the global batches, as one process computes them.
        let syncDifference = relativeDifference(stats(one), stats(two))
        XCTAssertLessThan(syncDifference, weightTolerance)
        let weightDifference = relativeDifference(weights(one), weights(two))
        print("data parallel: weights after 4 steps, 2 ranks against 1: relative difference \(weightDifference), statistics \(syncDifference)")
        XCTAssertLessThan(weightDifference, weightTolerance)
        // Per-rank statistics (2 items each) are not the global batch's: beyond the tolerance and far
        // beyond the synchronised run's rounding (measured 1.1e-3 against ~1e-6).
        let perRankDifference = relativeDifference(stats(one), stats(perRank))
        XCTAssertGreaterThan(perRankDifference, weightTolerance)
        XCTAssertGreaterThan(perRankDifference, 100 * syncDifference)
        // mpirun -np 1 (sync batch norm as a composite op) against the plain fused batch norm: the same
        // training up to the fused kernel's rounding.
        XCTAssertLessThan(relativeDifference(weights(plain), weights(one)), 1e-2)
    }

    /// An -np 2 run stopped after 2 steps and resumed with -np 1 to step 4 ends where an uninterrupted
    /// -np 1 run to step 4 does (the global batch and its noise do not depend on the number of ranks).
    func testResumeTwoRanksRunWithOneRank() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("dp-resume")
        let (r1, whole) = try train(ranks: 1, trainArgs(model: "wgangp3d", data: data, out: dir + "/whole", steps: 4, extra: ["--sync-bn"]), out: dir + "/whole")
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let (r2, part) = try train(ranks: 2, trainArgs(model: "wgangp3d", data: data, out: dir + "/part", steps: 2, extra: ["--sync-bn"]), out: dir + "/part")
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let run = try XCTUnwrap(part)
        XCTAssertEqual(try checkpoint(run).step, 2)
        let exe = try petganBinary()
        let r3 = try runProcess(try mpirun(), ["--oversubscribe", "-np", "1", exe, "train", "--resume", run, "--max-steps", "4", "--threads", "1", "--sync-bn"],
                                environment: comparedEnvironment)
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertTrue(r3.stdout.contains("resumed at step 2"), r3.stdout)
        let a = try checkpoint(XCTUnwrap(whole)), b = try checkpoint(run)
        XCTAssertEqual(b.step, 4)
        let d = relativeDifference(a.tensors, b.tensors)
        print("data parallel: resumed -np 2 → -np 1 against -np 1: relative difference \(d)")
        XCTAssertLessThan(d, weightTolerance)
        XCTAssertEqual(try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 4)
    }

    /// Refused at start-up, one error line, no hang: a batch the ranks cannot share, ranks started with
    /// different settings.
    func testIndivisibleBatchAndMismatchedRanksAreRefused() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("dp-refuse")
        let exe = try petganBinary()
        var args = trainArgs(model: "dcgan3d", data: data, out: dir + "/a", steps: 1)
        args[args.firstIndex(of: "--batch")! + 1] = "3"
        let r = try runProcess(try mpirun(), ["--oversubscribe", "-np", "2", exe] + args, environment: mpiEnvironment)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.errorLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--batch 3 is not divisible by the 2 ranks"), r.stderr)
        // MPMD launch: rank 1 gets another seed.
        let a0 = trainArgs(model: "dcgan3d", data: data, out: dir + "/b", steps: 1)
        var a1 = a0
        a1[a1.firstIndex(of: "--seed")! + 1] = "12"
        let m = try runProcess(try mpirun(), ["--oversubscribe", "-np", "1", exe] + a0 + [":", "-np", "1", exe] + a1, environment: mpiEnvironment)
        XCTAssertNotEqual(m.status, 0)
        XCTAssertTrue(m.stderr.contains("rank 1's settings differs from rank 0's"), m.stderr)
        XCTAssertTrue(m.stderr.contains("seed 12") && m.stderr.contains("seed 11"), m.stderr)
    }

    /// Augmentation's per-item draws, and hagan3d's slab draw, two critics and two penalties, are split
    /// over ranks like the noise (every rank draws the global batch's and keeps its rows): with the
    /// augmentation on, two ranks' averaged gradients after one step match one process's, as in
    /// `testTwoRanksAveragedGradientsEqualOneProcessGradients`. FastGAN (its decoder's random crops)
    /// is still refused with one error line.
    func testAugmentedAndHierarchicalRunsMatchOneProcess() throws {
        let data = try Fixtures.smallCohort()
        let augment = ["--augment", "translation,cutout,intensity"]
        for (model, extra) in [("wgangp3d", augment), ("hagan3d", augment + ["--set", "loss=wgan-gp", "--set", "lowres_factor=2"]), ("hagan3d", ["--set", "lowres_factor=2"])] {
            let dir = try makeTempDir("dp-aug-\(model)")
            let (r1, run1) = try train(ranks: 1, trainArgs(model: model, data: data, out: dir + "/one", steps: 1, extra: extra + ["--sync-bn"]), out: dir + "/one")
            XCTAssertEqual(r1.status, 0, r1.stderr)
            let (r2, run2) = try train(ranks: 2, trainArgs(model: model, data: data, out: dir + "/two", steps: 1, extra: extra + ["--sync-bn"]), out: dir + "/two")
            XCTAssertEqual(r2.status, 0, r2.stderr)
            XCTAssertTrue(r2.stdout.contains("data parallel: 2 ranks"), r2.stdout)
            let c1 = try checkpoint(XCTUnwrap(run1)), c2 = try checkpoint(XCTUnwrap(run2))
            for opt in ["optG", "optD"] {
                let m1 = try XCTUnwrap(c1.optimizers[opt]).tensors.filter { $0.key.hasSuffix(".exp_avg") }
                let m2 = try XCTUnwrap(c2.optimizers[opt]).tensors.filter { m1[$0.key] != nil }
                XCTAssertFalse(m1.isEmpty, "\(model) \(opt): no optimizer moments")
                let d = relativeDifference(m1, m2)
                print("data parallel: \(model) \(extra.joined(separator: " ")) \(opt) gradients, 2 ranks against 1: relative difference \(d)")
                XCTAssertLessThan(d, gradientTolerance, "\(model) \(extra) \(opt)")
            }
        }
        // Adaptive augmentation: both ranks move p by the rank-averaged r, and by the same amount as
        // one process (6 steps of one critic batch: p moves after step 4, steps 5 and 6 apply it).
        let dir = try makeTempDir("dp-ada")
        let ada = ["--augment", "translation,cutout,adaptive=0.1", "--set", "augment_speed=40", "--sync-bn"]
        let (a1, adaRun1) = try train(ranks: 1, trainArgs(model: "dcgan3d", data: data, out: dir + "/one", steps: 6, extra: ada), out: dir + "/one")
        XCTAssertEqual(a1.status, 0, a1.stderr)
        let (a2, adaRun2) = try train(ranks: 2, trainArgs(model: "dcgan3d", data: data, out: dir + "/two", steps: 6, extra: ada), out: dir + "/two")
        XCTAssertEqual(a2.status, 0, a2.stderr)
        let s1 = try XCTUnwrap(checkpoint(XCTUnwrap(adaRun1)).tensors[AdaptiveAugmentation.stateName]).array
        let s2 = try XCTUnwrap(checkpoint(XCTUnwrap(adaRun2)).tensors[AdaptiveAugmentation.stateName]).array
        XCTAssertEqual(s1, s2, "adaptive augmentation state, 1 rank against 2")
        let p1 = MetricsFile.read(try XCTUnwrap(adaRun1) + "/metrics.jsonl").map { $0["augment_p"] }
        XCTAssertEqual(p1, MetricsFile.read(try XCTUnwrap(adaRun2) + "/metrics.jsonl").map { $0["augment_p"] })
        XCTAssertEqual(p1.count, 6)
        XCTAssertGreaterThan(try XCTUnwrap(p1.last ?? nil), 0, "the probability moved, so the last steps augmented under both rank counts")
        let exe = try petganBinary()
        let r = try runProcess(try mpirun(), ["--oversubscribe", "-np", "2", exe] + trainArgs(model: "fastgan3d", data: data, out: try makeTempDir("dp-fastgan"), steps: 1),
                               environment: mpiEnvironment)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.errorLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("fastgan3d is not supported under mpirun"), r.stderr)
    }

    /// A rank killed mid-run ends the whole job within seconds, naming the rank; the last checkpoint
    /// stays loadable (and resumable: the resume test's path).
    func testKilledRankEndsTheJob() throws {
        let data = try Fixtures.smallCohort()
        let dir = try makeTempDir("dp-kill")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try mpirun())
        p.arguments = ["--oversubscribe", "-np", "2", try petganBinary()] + trainArgs(model: "dcgan3d", data: data, out: dir, steps: 100000)
        p.environment = ProcessInfo.processInfo.environment.merging(mpiEnvironment) { $1 }
        let errFile = dir + "/stderr.txt"
        FileManager.default.createFile(atPath: errFile, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: errFile)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // Wait for a few steps (a checkpoint each step).
        var run: String?
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            run = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix("dcgan3d") }.first.map { dir + "/" + $0 }
            if let r = run, let t = try? String(contentsOfFile: r + "/metrics.jsonl", encoding: .utf8), t.split(separator: "\n").count >= 2 { break }
            usleep(200_000)
        }
        let victim = try XCTUnwrap(rankProcess(parent: p.processIdentifier, rank: 1), "rank 1 of mpirun \(p.processIdentifier) not found")
        kill(victim, SIGKILL)
        let killedAt = Date()
        while p.isRunning && Date().timeIntervalSince(killedAt) < 30 { usleep(100_000) }
        XCTAssertFalse(p.isRunning, "the job still runs 30 s after rank 1 was killed")
        let seconds = Date().timeIntervalSince(killedAt)
        XCTAssertLessThan(seconds, 10)
        XCTAssertNotEqual(p.terminationStatus, 0)
        let err = try String(contentsOfFile: errFile, encoding: .utf8)
        XCTAssertTrue(err.contains("rank 1") && (err.contains("signal 9") || err.contains("Killed")), err)
        let c = try checkpoint(XCTUnwrap(run))
        XCTAssertGreaterThanOrEqual(c.step, 1)
    }

    /// The pid of `rank`'s process among mpirun's children (Open MPI starts local ranks itself and
    /// gives each its OMPI_COMM_WORLD_RANK).
    func rankProcess(parent: Int32, rank: Int) -> Int32? {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }
}
