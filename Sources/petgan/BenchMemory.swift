import ArgumentParser
import Foundation
import PETBenchmarks
import PETModels
import PETTensor

struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Peak RSS and time of a generator's output at growing grids (64³ … 256³), tiled within --memory-budget vs untiled.",
        discussion: """
            Without --grid, runs every grid of --grids both ways, each case in its own process (so its \
            peak RSS is its own), and checks the targets: tiled peak RSS ≤ budget + 100 MB, tiled time \
            ≤ 1.3× untiled where untiled fits. With --grid, runs that single case in this process (for \
            /usr/bin/time -v).
            """)

    @Option(help: "Run a single case on this output grid D×H×W (sides multiples of 16), e.g. 192x224x192.")
    var grid: String?
    @Flag(help: "With --grid: run tiled (else untiled).")
    var tiled = false
    @Option(name: .customLong("memory-budget"), help: "Memory budget for tiled runs, e.g. 512MB.")
    var memoryBudget: String = "512MB"
    @Option(help: "Explicit output tile D×H×W for tiled runs (default: chosen from the budget).")
    var tile: String?
    @Option(help: "Grids of the sweep, comma-separated D×H×W.")
    var grids: String = "64x64x64,128x128x128,192x224x192,256x256x256"
    @Option(help: "Widths of the latent grid and hidden layers (4 values, comma-separated).")
    var channels: String = "256,128,64,32"
    @Flag(help: "Small grids only (64³, 128³): a smoke run.")
    var quick = false
    @Option(help: "Write the rows as JSON to this file.")
    var json: String?
    @Flag(help: .hidden)
    var rowOutput = false
    @Flag(help: "Training instead of generation: peak RSS and step time of 3D GAN training steps (DCGAN widths, n_critic 1) with and without activation checkpointing chosen from the budget.")
    var train = false
    @Option(help: "With --train: batch size.")
    var batch: Int = 4
    @Option(help: "With --train: model, dcgan3d or wgangp3d.")
    var model: String = "dcgan3d"
    @Flag(name: .customLong("no-recompute"), help: "With --train --grid: keep every activation (no checkpointing), for comparison.")
    var noRecompute = false
    @Option(name: .customLong("train-cases"), help: "With --train and no --grid: grid:budget pairs, each run with and without recomputation.")
    var trainCases: String = "96x112x96:4GB,128x144x128:8GB"
    @Option(name: .customLong("train-steps"), help: "With --train: training steps per case (the first is an untimed warm-up).")
    var trainSteps: Int = 2

    static func parseGrid(_ s: String) -> [Int]? {
        let p = s.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" }).compactMap { Int($0) }
        return p.count == 3 && p.allSatisfy({ $0 > 0 }) ? p : nil
    }

    func validate() throws {
        if let g = grid {
            guard let p = Self.parseGrid(g), p.allSatisfy({ $0 % 16 == 0 }) else { throw ValidationError("--grid must be D×H×W with sides multiples of 16, e.g. 192x224x192") }
        }
        for g in grids.split(separator: ",") {
            guard let p = Self.parseGrid(String(g)), p.allSatisfy({ $0 % 16 == 0 }) else { throw ValidationError("--grids: '\(g)' must be D×H×W with sides multiples of 16") }
        }
        guard parseByteSize(memoryBudget) != nil else { throw ValidationError("--memory-budget must be a size like 512MB") }
        if let t = tile { guard Self.parseGrid(t) != nil else { throw ValidationError("--tile must be D×H×W") } }
        if train {
            guard ["dcgan3d", "wgangp3d", "wgan3d"].contains(model) else { throw ValidationError("--model must be dcgan3d, wgangp3d or wgan3d (got '\(model)')") }
            guard batch >= 1, trainSteps >= 1 else { throw ValidationError("--batch and --train-steps must be at least 1") }
            for pair in trainCases.split(separator: ",") {
                let parts = pair.split(separator: ":").map(String.init)
                guard parts.count == 2, let g = Self.parseGrid(parts[0]), g.allSatisfy({ $0 % 16 == 0 }), parseByteSize(parts[1]) != nil else {
                    throw ValidationError("--train-cases: '\(pair)' must be grid:budget, e.g. 96x112x96:4GB (sides multiples of 16)")
                }
            }
        }
        let c = channels.split(separator: ",").compactMap { Int($0) }
        guard c.count == 4, c.allSatisfy({ $0 > 0 }) else { throw ValidationError("--channels needs 4 positive widths") }
    }

    func makeCase(_ g: [Int], tiled: Bool) -> MemoryBenchmark.Case {
        var c = MemoryBenchmark.Case(grid: g, tiled: tiled, budgetBytes: tiled ? parseByteSize(memoryBudget)! : nil,
                                     tile: tile.flatMap(Self.parseGrid))
        c.channels = channels.split(separator: ",").compactMap { Int($0) }
        return c
    }

    static func describe(_ r: BenchRow) -> String {
        let g = (r["grid"] as? [Int] ?? []).map(String.init).joined(separator: "×")
        var s = String(format: "%-13@ %-8@ %8.2f s  peak RSS %7.0f MB  counted peak %7.0f MB", g, (r["tiled"] as? Bool ?? false) ? "tiled" : "untiled",
                       r["seconds"] as? Double ?? 0, r["peak_rss_mb"] as? Double ?? 0, r["counted_peak_mb"] as? Double ?? 0)
        if let t = r["tile"] as? [Int] {
            s += String(format: "  tile %@ ×%d (work %.2f×)", t.map(String.init).joined(separator: "×"), r["tiles"] as? Int ?? 0, r["recompute_factor"] as? Double ?? 0)
        }
        return s
    }

    func trainCase(_ g: [Int], budget: Int, recompute: Bool) -> TrainMemoryBenchmark.Case {
        var c = TrainMemoryBenchmark.Case(grid: g)
        c.batch = batch
        c.model = ModelKind(rawValue: model)!
        c.budgetBytes = budget
        c.recompute = recompute
        c.steps = trainSteps
        return c
    }

    static func describeTrain(_ r: BenchRow) -> String {
        let g = (r["grid"] as? [Int] ?? []).map(String.init).joined(separator: "×")
        func blocks(_ k: String) -> String { let b = r[k] as? [Int] ?? []; return b.isEmpty ? "-" : b.map(String.init).joined(separator: ",") }
        return String(format: "%-13@ b%d %@ %-10@ %7.2f s/step  peak RSS %6.0f MB  (estimate %5d MB)  recompute G %@ D %@", g, r["batch"] as? Int ?? 0,
                      r["model"] as? String ?? "", (r["recompute"] as? Bool ?? false) ? "recompute" : "keep-all", r["seconds"] as? Double ?? 0,
                      r["peak_rss_mb"] as? Double ?? 0, r["estimated_mb"] as? Int ?? 0, blocks("g_blocks"), blocks("d_blocks"))
    }

    /// `--train`: one case in this process (with --grid) or the sweep, each case in its own process.
    func runTrain() throws {
        if let g = grid {
            let row = try TrainMemoryBenchmark.run(trainCase(Self.parseGrid(g)!, budget: parseByteSize(memoryBudget)!, recompute: !noRecompute)) {
                if !rowOutput { print("  " + $0) }
            }
            if rowOutput {
                let d = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
                print("ROW " + String(decoding: d, as: UTF8.self))
            } else {
                print(Self.describeTrain(row))
                if let j = json { try writeJSONRows([row], to: j); print("wrote \(j)") }
            }
            return
        }
        print("PETGAN \(PETGANVersion.string) training memory benchmark: \(model), batch \(batch), G 512→256→128→64→1, D 64→128→256→512, \(trainSteps) steps (first untimed), \(Parallel.threads) threads; each case in its own process")
        var rows: [BenchRow] = []
        var failures: [String] = []
        for pair in trainCases.split(separator: ",") {
            let parts = pair.split(separator: ":").map(String.init)
            var pairRows: [Bool: BenchRow] = [:]
            for recompute in [false, true] {
                var args = ["bench", "memory", "--train", "--grid", parts[0], "--memory-budget", parts[1], "--batch", String(batch),
                            "--model", model, "--train-steps", String(trainSteps), "--row-output"]
                if !recompute { args.append("--no-recompute") }
                let row = try Self.runChild(args)
                print(Self.describeTrain(row))
                rows.append(row)
                pairRows[recompute] = row
            }
            let on = pairRows[true]!, off = pairRows[false]!
            let limit = Double(parseByteSize(parts[1])! >> 20)
            let peak = on["peak_rss_mb"] as! Double
            print(String(format: "  %@: recomputation time %.2f× keep-all, peak RSS %.0f → %.0f MB (budget %.0f MB); parameter checksums %.9g vs %.9g", parts[0],
                         (on["seconds"] as! Double) / (off["seconds"] as! Double), off["peak_rss_mb"] as! Double, peak, limit,
                         on["checksum"] as! Double, off["checksum"] as! Double))
            if peak > limit { failures.append(String(format: "%@: peak RSS %.0f MB > budget %.0f MB", parts[0], peak, limit)) }
        }
        if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
        print(failures.isEmpty ? "within budget at every grid" : "over budget:\n  " + failures.joined(separator: "\n  "))
    }

    func run() throws {
        try runReportingErrors {
            if train { try runTrain(); return }
            if let g = grid {
                let row = try MemoryBenchmark.run(makeCase(Self.parseGrid(g)!, tiled: tiled)) { if !rowOutput { print("  " + $0) } }
                if rowOutput {
                    let d = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
                    print("ROW " + String(decoding: d, as: UTF8.self))
                } else {
                    print(Self.describe(row))
                    if let j = json { try writeJSONRows([row], to: j); print("wrote \(j)") }
                }
                return
            }
            let budget = parseByteSize(memoryBudget)!
            let list = quick ? ["64x64x64", "128x128x128"] : grids.split(separator: ",").map(String.init)
            print("PETGAN \(PETGANVersion.string) memory benchmark: generator \(channels) → 1 channel, 4 × (k4 s2 p1 transposed conv), budget \(formatBytes(budget)), \(Parallel.threads) threads; each case in its own process")
            var rows: [BenchRow] = []
            var failures: [String] = []
            for g in list {
                var pair: [Bool: BenchRow] = [:]
                for t in [false, true] {
                    var args = ["bench", "memory", "--grid", g, "--memory-budget", memoryBudget, "--channels", channels, "--row-output"]
                    if t { args.append("--tiled") }
                    if let tl = tile { args += ["--tile", tl] }
                    let row = try Self.runChild(args)
                    print(Self.describe(row))
                    pair[t] = row
                    rows.append(row)
                }
                let tr = pair[true]!, ur = pair[false]!
                let limit = Double(budget >> 20) + 100
                let tPeak = tr["peak_rss_mb"] as! Double, uPeak = ur["peak_rss_mb"] as! Double
                if tPeak > limit { failures.append("\(g): tiled peak RSS \(Int(tPeak)) MB > \(Int(limit)) MB") }
                let ratio = (tr["seconds"] as! Double) / (ur["seconds"] as! Double)
                let fits = uPeak <= limit
                print(String(format: "  %@: tiled/untiled time %.2f× (untiled %@ the budget); checksums %.6g vs %.6g", g, ratio,
                             fits ? "fits" : "does not fit", tr["checksum"] as! Double, ur["checksum"] as! Double))
                if fits && ratio > 1.3 { failures.append(String(format: "%@: tiled time %.2f× untiled (target ≤ 1.3×)", g, ratio)) }
            }
            if let j = json { try writeJSONRows(rows, to: j); print("wrote \(j)") }
            print(failures.isEmpty ? "targets met" : "targets missed:\n  " + failures.joined(separator: "\n  "))
        }
    }

    /// Runs `petgan <args>` (this executable) and parses its ROW line.
    static func runChild(_ args: [String]) throws -> BenchRow {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0, let line = out.split(separator: "\n").last(where: { $0.hasPrefix("ROW ") }),
              let row = try JSONSerialization.jsonObject(with: Data(line.dropFirst(4).utf8)) as? BenchRow else {
            throw ValidationError("petgan \(args.joined(separator: " ")) failed (exit \(p.terminationStatus)):\n\(out)")
        }
        return row
    }
}
