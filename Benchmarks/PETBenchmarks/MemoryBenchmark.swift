// Memory benchmark: one generator-like stack's output at increasing grid sizes, with and without
// tiling. A matching generator per grid: base grid = grid / 2^4, four k4 s2 p1 transposed
// convolutions (DCGAN widths) with eval batch norm + ReLU, tanh at the end. Random DCGAN-initialised
// weights (no checkpoint needed: memory and time do not depend on the weight values). Each case is
// meant to run in its own process (`petgan bench memory --grid … [--tiled]`) so that its peak RSS
// (VmHWM) is its own; the sweep runs every case that way.
import Foundation
import PETAutograd
import PETTensor
import PETTiling

public enum MemoryBenchmark {
    public struct Case {
        /// Output grid (D, H, W); every side a multiple of 16.
        public var grid: [Int]
        public var tiled: Bool
        /// Budget for the tiled run (also the accountant's budget while it runs).
        public var budgetBytes: Int?
        /// Explicit output tile (D, H, W) instead of one chosen from the budget.
        public var tile: [Int]?
        /// Widths of the latent grid and of the three hidden layers.
        public var channels: [Int] = [256, 128, 64, 32]
        public var seed: UInt64 = 1
        /// Timed repetitions (median seconds reported; peak RSS is over all of them).
        public var reps = 3
        public init(grid: [Int], tiled: Bool, budgetBytes: Int?, tile: [Int]? = nil) {
            self.grid = grid; self.tiled = tiled; self.budgetBytes = budgetBytes; self.tile = tile
        }
    }

    /// The layers after the generator's dense input, for an output grid (sides multiples of 16),
    /// and the latent grid shape (1, C0, grid / 16).
    public static func generatorLayers(grid: [Int], channels: [Int], rng: inout PETRandom) throws -> (layers: [Module], latent: [Int]) {
        guard grid.count == 3, grid.allSatisfy({ $0 > 0 && $0 % 16 == 0 }) else {
            throw TilingError.invalidShape("grid \(grid.map(String.init).joined(separator: "x")) must have sides that are multiples of 16 (base grid × 2^4)")
        }
        var layers: [Module] = [bn(channels[0], &rng), ReLU()]
        let widths = channels + [1]
        for i in 0..<channels.count {
            let up = ConvTranspose3dLayer(widths[i], widths[i + 1], kernel: 4, stride: 2, padding: 1, bias: false, rng: &rng)
            let w = up.weight.value
            for j in 0..<w.count { w.data[j] = rng.normal(mean: 0, std: 0.02) }
            layers.append(up)
            if i < channels.count - 1 { layers += [bn(widths[i + 1], &rng), ReLU()] } else { layers.append(Tanh()) }
        }
        for l in layers { l.eval() }
        return (layers, [1, channels[0]] + grid.map { $0 / 16 })
    }

    static func bn(_ c: Int, _ rng: inout PETRandom) -> BatchNorm3d {
        let b = BatchNorm3d(c)
        for i in 0..<c {
            b.runningMean.value.data[i] = rng.normal(mean: 0, std: 0.01)
            b.runningVar.value.data[i] = rng.uniform(0.0002, 0.001)   // DCGAN activations are small
            b.weight!.value.data[i] = rng.normal(mean: 1, std: 0.02)
        }
        return b
    }

    /// Keeps only a checksum of the output (so neither mode holds or writes more than it must).
    final class ChecksumSink: SlabSink {
        var sum = 0.0, absSum = 0.0
        func write(slab: Tensor, depthStart: Int) throws { add(slab) }
        func finish() throws {}
        func add(_ t: Tensor) { for i in 0..<t.count { sum += Double(t.data[i]); absSum += Double(abs(t.data[i])) } }
    }

    /// Runs one case in this process; peak RSS is the process's (reset before the timed part).
    public static func run(_ c: Case, log: (String) -> Void = { _ in }) throws -> MemoryRow {
        var rng = PETRandom(seed: c.seed)
        let (layers, latent) = try generatorLayers(grid: c.grid, channels: c.channels, rng: &rng)
        let x = Tensor.normal(latent, rng: &rng)
        ScratchPool.shared.trim()
        _ = resetPeakResident()
        MemoryAccountant.shared.resetPeak()
        let sink = ChecksumSink()
        var row = MemoryRow(grid: c.grid, tiled: c.tiled, budgetMB: c.budgetBytes.map { $0 >> 20 }, channels: c.channels)
        var times: [Double] = []
        let gen = c.tiled ? try TiledGenerator(layers: layers) : nil
        for _ in 0..<max(1, c.reps) {
            sink.sum = 0; sink.absSum = 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            if let gen {
                MemoryAccountant.shared.budgetBytes = c.budgetBytes
                defer { MemoryAccountant.shared.budgetBytes = nil }
                let tp = DispatchTime.now().uptimeNanoseconds
                let plan = try gen.plan(latentGrid: x.shape, memoryBudget: c.budgetBytes, tile: c.tile)
                row.planSeconds = Double(DispatchTime.now().uptimeNanoseconds - tp) / 1e9
                if times.isEmpty { log("plan: \(plan)") }
                try gen.generate(x, plan: plan, into: sink)
                row.tile = plan.tile
                row.tiles = plan.tileCount
                row.recomputeFactor = plan.recomputeFactor
                row.plannedTileMB = Double(plan.estimatedBytes) / 1_048_576
            } else {
                let net = Sequential(layers)
                let y = try withNoGrad { try net(Variable(x)) }.value
                sink.add(y)
            }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.sort()
        let seconds = times[times.count / 2]
        row.reps = times.count
        row.seconds = seconds
        row.peakRSSMB = Double(peakResidentBytes()) / 1_048_576
        row.countedPeakMB = Double(MemoryAccountant.shared.peakBytes) / 1_048_576
        row.checksum = sink.sum
        row.absChecksum = sink.absSum
        if KernelProfile.enabled {
            // PETGAN_PROFILE=1: where the time of all repetitions went, by kernel phase.
            let calls = KernelProfile.callCounts()
            log("phases (ms and calls, all runs): " + KernelProfile.snapshot().sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.1f", $0.value)) ×\(calls[$0.key] ?? 0)" }.joined(separator: ", "))
        }
        return row
    }
}

/// One case of `bench memory` (generation): a grid, tiled or not.
public struct MemoryRow: Codable {
    public var grid: [Int]
    public var tiled: Bool
    @NullWhenAbsent public var budgetMB: Int?
    public var channels: [Int]
    /// Tiled runs: the plan.
    public var planSeconds: Double? = nil
    public var tile: [Int]? = nil
    public var tiles: Int? = nil
    public var recomputeFactor: Double? = nil
    public var plannedTileMB: Double? = nil
    public var reps = 0
    public var seconds = 0.0
    public var peakRSSMB = 0.0
    public var countedPeakMB = 0.0
    public var checksum = 0.0
    public var absChecksum = 0.0

    public init(grid: [Int], tiled: Bool, budgetMB: Int?, channels: [Int]) {
        self.grid = grid; self.tiled = tiled; self.budgetMB = budgetMB; self.channels = channels
    }

    enum CodingKeys: String, CodingKey {
        case grid, tiled, channels, tile, tiles, reps, seconds, checksum
        case budgetMB = "budget_mb", planSeconds = "plan_seconds", recomputeFactor = "recompute_factor", plannedTileMB = "planned_tile_mb"
        case peakRSSMB = "peak_rss_mb", countedPeakMB = "counted_peak_mb", absChecksum = "abs_checksum"
    }

    /// The printed line of the case.
    public var summary: String {
        var s = String(format: "%-13@ %-8@ %8.2f s  peak RSS %7.0f MB  counted peak %7.0f MB", grid.map(String.init).joined(separator: "×"),
                       tiled ? "tiled" : "untiled", seconds, peakRSSMB, countedPeakMB)
        if let t = tile {
            s += String(format: "  tile %@ ×%d (work %.2f×)", t.map(String.init).joined(separator: "×"), tiles ?? 0, recomputeFactor ?? 0)
        }
        return s
    }
}

extension MemoryBenchmark {
    /// The sweep of `bench memory`: every grid untiled and tiled, each case measured by `measure`
    /// (the command runs each in its own process, so its peak RSS is its own), and the targets
    /// checked: tiled peak RSS ≤ budget + 100 MB, tiled time ≤ 1.3× untiled where untiled fits.
    public static func sweep(grids: [[Int]], budgetBytes: Int, channels: [Int], measure: (_ grid: [Int], _ tiled: Bool) throws -> MemoryRow,
                             say: (String) -> Void = { print($0) }) throws -> [MemoryRow] {
        say("PETGAN \(PETGANVersion.string) memory benchmark: generator \(channels.map(String.init).joined(separator: ",")) → 1 channel, 4 × (k4 s2 p1 transposed conv), budget \(formatBytes(budgetBytes)), \(Parallel.threads) threads; each case in its own process")
        var rows: [MemoryRow] = []
        var failures: [String] = []
        for g in grids {
            let name = g.map(String.init).joined(separator: "x")
            let untiled = try measure(g, false)
            say(untiled.summary)
            let tiled = try measure(g, true)
            say(tiled.summary)
            rows += [untiled, tiled]
            let limit = Double(budgetBytes >> 20) + 100
            if tiled.peakRSSMB > limit { failures.append("\(name): tiled peak RSS \(Int(tiled.peakRSSMB)) MB > \(Int(limit)) MB") }
            let ratio = tiled.seconds / untiled.seconds
            let fits = untiled.peakRSSMB <= limit
            say(String(format: "  %@: tiled/untiled time %.2f× (untiled %@ the budget); checksums %.6g vs %.6g", name, ratio,
                       fits ? "fits" : "does not fit", tiled.checksum, untiled.checksum))
            if fits && ratio > 1.3 { failures.append(String(format: "%@: tiled time %.2f× untiled (target ≤ 1.3×)", name, ratio)) }
        }
        say(failures.isEmpty ? "targets met" : "targets missed:\n  " + failures.joined(separator: "\n  "))
        return rows
    }
}
