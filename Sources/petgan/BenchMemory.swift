import ArgumentParser
import Foundation
import PETBenchmarks
import PETModels

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

    @Option(help: "Run a single case on this output grid D×H×W (sides multiples of 16), e.g. 192x224x192.", transform: { try GridSides.parse($0) })
    var grid: GridSides?
    @Flag(help: "With --grid: run tiled (else untiled).")
    var tiled = false
    @OptionGroup var runtime: RuntimeOptions<BenchMemoryBudget>
    @Option(help: "Explicit output tile D×H×W for tiled runs (default: chosen from the budget).", transform: { try GridSides.parse($0) })
    var tile: GridSides?
    @Option(help: "Grids of the sweep, comma-separated D×H×W (default: 64x64x64,128x128x128,192x224x192,256x256x256).", transform: { try GridSides.parseList($0) })
    var grids = [GridSides(64, 64, 64), GridSides(128, 128, 128), GridSides(192, 224, 192), GridSides(256, 256, 256)]
    @Option(help: "Widths of the latent grid and hidden layers (4 values, comma-separated; default: 256,128,64,32).", transform: { try PositiveIntegers.parse($0) })
    var channels = PositiveIntegers(values: [256, 128, 64, 32])
    @Flag(help: "Small grids only (64³, 128³): a smoke run.")
    var quick = false
    @OptionGroup var output: JSONRowsOutput
    @Flag(help: .hidden)
    var rowOutput = false
    @Flag(help: "Training instead of generation: peak RSS and step time of 3D GAN training steps (DCGAN widths, n_critic 1) with and without activation checkpointing chosen from the budget.")
    var train = false
    @Option(help: "With --train: batch size.")
    var batch: Int = 4
    @Option(help: "With --train: a 3D model (\(ModelKind.allCases.filter(\.isThreeD).map(\.rawValue).joined(separator: ", "))).")
    var model: ModelKind = .dcgan3d
    @Flag(name: .customLong("no-recompute"), help: "With --train --grid: keep every activation (no checkpointing), for comparison.")
    var noRecompute = false
    @Option(name: .customLong("train-cases"), help: "With --train and no --grid: grid:budget pairs, each run with and without recomputation (default: 96x112x96:4GB,128x144x128:8GB).",
            transform: { try GridBudget.parseList($0) })
    var trainCases = [GridBudget(grid: GridSides(96, 112, 96), budget: .megabytes(4096)), GridBudget(grid: GridSides(128, 144, 128), budget: .megabytes(8192))]
    @Option(name: .customLong("train-steps"), help: "With --train: training steps per case (the first is an untimed warm-up).")
    var trainSteps: Int = 2

    func validate() throws {
        if let g = grid, !g.allSides({ $0 % 16 == 0 }) { throw ValidationError("--grid must be D×H×W with sides multiples of 16, e.g. 192x224x192") }
        for g in grids where !g.allSides({ $0 % 16 == 0 }) { throw ValidationError("--grids: '\(g)' must be D×H×W with sides multiples of 16") }
        if train {
            guard model.isThreeD else { throw ValidationError("--model: the training memory benchmark runs 3D models; \(model.rawValue) is 2D") }
            guard batch >= 1, trainSteps >= 1 else { throw ValidationError("--batch and --train-steps must be at least 1") }
            for c in trainCases where !c.grid.allSides({ $0 % 16 == 0 }) {
                throw ValidationError("--train-cases: '\(c)' must be grid:budget, e.g. 96x112x96:4GB (sides multiples of 16)")
            }
        }
        guard channels.values.count == 4 else { throw ValidationError("--channels needs 4 positive widths") }
    }

    /// The budget (the group's default: 512MB).
    var budget: ByteSize { runtime.memoryBudget ?? .megabytes(512) }

    func generationCase(_ g: [Int], tiled: Bool) -> MemoryBenchmark.Case {
        var c = MemoryBenchmark.Case(grid: g, tiled: tiled, budgetBytes: tiled ? budget.bytes : nil, tile: tile?.sides)
        c.channels = channels.values
        return c
    }

    func trainCase(_ g: [Int], budget: Int, recompute: Bool) throws -> TrainMemoryBenchmark.Case {
        var c = TrainMemoryBenchmark.Case(grid: g)
        c.batch = batch
        c.model = model
        c.budgetBytes = budget
        c.recompute = recompute
        c.steps = trainSteps
        return c
    }

    func run() throws {
        try runReportingErrors {
            runtime.apply()
            let say: (String) -> Void = rowOutput ? { _ in } : { print("  " + $0) }
            switch (train, grid) {
            case (true, let g?):
                try report(try TrainMemoryBenchmark.run(try trainCase(g.sides, budget: budget.bytes, recompute: !noRecompute), log: say)) { $0.summary }
            case (false, let g?):
                try report(try MemoryBenchmark.run(generationCase(g.sides, tiled: tiled), log: say)) { $0.summary }
            case (true, nil):
                let rows = try TrainMemoryBenchmark.sweep(cases: trainCases.map { ($0.grid.sides, $0.budget.bytes) }, model: model.rawValue, batch: batch,
                                                          steps: trainSteps) { g, b, recompute in
                    var args = ["bench", "memory", "--train", "--grid", GridSides(g[0], g[1], g[2]).description, "--memory-budget", ByteSize(bytes: b).description,
                                "--batch", String(batch), "--model", model.rawValue, "--train-steps", String(trainSteps), "--row-output"]
                    if !recompute { args.append("--no-recompute") }
                    return try Self.runChild(args, as: TrainMemoryRow.self)
                }
                try output.write(rows)
            case (false, nil):
                let list = quick ? [[64, 64, 64], [128, 128, 128]] : grids.map(\.sides)
                let rows = try MemoryBenchmark.sweep(grids: list, budgetBytes: budget.bytes, channels: channels.values) { g, tiled in
                    var args = ["bench", "memory", "--grid", GridSides(g[0], g[1], g[2]).description, "--memory-budget", budget.description,
                                "--channels", channels.description, "--row-output"]
                    if tiled { args.append("--tiled") }
                    if let t = tile { args += ["--tile", t.description] }
                    return try Self.runChild(args, as: MemoryRow.self)
                }
                try output.write(rows)
            }
        }
    }

    /// One case in this process: its row as a ROW line for the sweep's parent, else printed.
    func report<Row: Encodable>(_ row: Row, summary: (Row) -> String) throws {
        if rowOutput {
            print("ROW " + String(decoding: try benchJSONEncoder(pretty: false).encode(row), as: UTF8.self))
        } else {
            print(summary(row))
            try output.write([row])
        }
    }

    /// Runs `petgan <args>` (this executable) and decodes its ROW line.
    static func runChild<Row: Decodable>(_ args: [String], as: Row.Type) throws -> Row {
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
              let row = try? JSONDecoder().decode(Row.self, from: Data(line.dropFirst(4).utf8)) else {
            throw ValidationError("petgan \(args.joined(separator: " ")) failed (exit \(p.terminationStatus)):\n\(out)")
        }
        return row
    }
}
