import ArgumentParser
import Foundation
import PETBenchmarks
import PETModels

/// `petgan bench hierarchical`: one training step (time, peak RSS) of each --models kind at each
/// --grids grid with the same widths; cases over --memory-limit are reported from the estimate.
struct BenchHierarchical: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hierarchical",
        abstract: "Training step time and peak RSS of 3D models at 2, 1.5 and 1 mm with the same channel widths (issue 19): the full-resolution WGAN-GP against hierarchical models.",
        discussion: """
            Without --model/--grid, runs every (model, grid) pair of --models × --grids, each in its own \
            process (so its peak RSS is its own), and gives each step time against --reference at the first \
            grid. A case whose step-memory estimate (activation checkpointing chosen to fit, unless \
            --no-recompute) is over --memory-limit is reported as not fitting, with the estimate, and not \
            run. With --model and --grid, runs that single case in this process (for /usr/bin/time -v).
            """)

    @Option(help: "3D models to measure, comma-separated (\(ModelKind.allCases.filter(\.isThreeD).map(\.rawValue).joined(separator: ", "))).",
            transform: { try ModelKindList.parse($0) })
    var models = ModelKindList(kinds: [.wgangp3d])
    @Option(help: "The model whose step at the first grid the others are timed against.")
    var reference: ModelKind = .wgangp3d
    @Option(help: "Grids with the voxel size they stand for, comma-separated D×H×W:MM (sides multiples of 2^layers; default: 96x112x96:2,128x144x128:1.5,192x224x192:1).",
            transform: { try GridVoxelList.parse($0) })
    var grids = GridVoxelList(items: [(GridSides(96, 112, 96), 2), (GridSides(128, 144, 128), 1.5), (GridSides(192, 224, 192), 1)])
    @Option(help: "Run a single case: this model (with --grid).")
    var model: ModelKind?
    @Option(help: "Run a single case: this grid D×H×W:MM (with --model).", transform: { try GridVoxelList.parse($0) })
    var grid: GridVoxelList?
    @Option(help: "Batch size.")
    var batch: Int = 4
    @Option(help: "Classes of the conditional models (0: unconditional).")
    var classes: Int = 3
    @Option(name: .customLong("g-channels"), help: "Generator widths, comma-separated (one per strided layer).", transform: { try PositiveIntegers.parse($0) })
    var gChannels = PositiveIntegers(values: [256, 128, 64, 32])
    @Option(name: .customLong("d-channels"), help: "Critic widths, comma-separated (as many as --g-channels).", transform: { try PositiveIntegers.parse($0) })
    var dChannels = PositiveIntegers(values: [32, 64, 128, 256])
    @Option(name: .customLong("memory-limit"), help: "Memory a case may use, e.g. 16GB (a bare number is MB): a case whose estimate is over it is reported as not fitting.",
            transform: { try ByteSize.parse($0) })
    var memoryLimit = ByteSize.megabytes(8 << 10)
    @Flag(name: .customLong("no-recompute"), help: "Keep every activation (no checkpointing chosen to fit the limit).")
    var noRecompute = false
    @Option(help: "Training steps per case (the first is an untimed warm-up).")
    var steps: Int = 2
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var output: JSONRowsOutput
    @Flag(help: .hidden)
    var rowOutput = false

    func validate() throws {
        for m in models.kinds + [model, reference].compactMap({ $0 }) where !m.isThreeD {
            throw ValidationError("--models: the hierarchical benchmark runs 3D models; \(m.rawValue) is 2D")
        }
        guard (model == nil) == (grid == nil) else { throw ValidationError("--model and --grid go together (one case); give both or neither") }
        if let g = grid, g.items.count != 1 { throw ValidationError("--grid is one D×H×W:MM grid") }
        guard batch >= 1, steps >= 1 else { throw ValidationError("--batch and --steps must be at least 1") }
        guard classes >= 0 else { throw ValidationError("--classes must not be negative") }
        guard gChannels.values.count == dChannels.values.count else { throw ValidationError("--g-channels and --d-channels need as many widths") }
        let f = 1 << gChannels.values.count
        for (g, _) in (grid ?? grids).items where !g.allSides({ $0 % f == 0 }) {
            throw ValidationError("--grids: '\(g)' must have sides that are multiples of \(f) (2^\(gChannels.values.count) strided layers)")
        }
    }

    func makeCase(_ m: ModelKind, _ g: GridSides, _ mm: Double) -> HierarchicalBenchmark.Case {
        var c = HierarchicalBenchmark.Case(model: m, grid: g.sides, voxelMM: mm, limitBytes: memoryLimit.bytes)
        c.batch = batch; c.classes = classes; c.gChannels = gChannels.values; c.dChannels = dChannels.values
        c.recompute = !noRecompute; c.steps = steps
        return c
    }

    func run() throws {
        try runReportingErrors {
            threads.apply()
            if let m = model, let one = grid?.items.first {
                let say: (String) -> Void = rowOutput ? { _ in } : { print("  " + $0) }
                let row = try HierarchicalBenchmark.run(makeCase(m, one.0, one.1), log: say)
                if rowOutput {
                    print("ROW " + String(decoding: try benchJSONEncoder(pretty: false).encode(row), as: UTF8.self))
                } else {
                    print(row.summary)
                    try output.write([row])
                }
                return
            }
            let cases = models.kinds.flatMap { m in grids.items.map { makeCase(m, $0.0, $0.1) } }
            let rows = try HierarchicalBenchmark.sweep(cases: cases, reference: reference) { c in
                var args = ["bench", "hierarchical", "--model", c.model.rawValue, "--grid", "\(GridSides(c.grid[0], c.grid[1], c.grid[2])):\(c.voxelMM)",
                            "--batch", String(batch), "--classes", String(classes), "--g-channels", gChannels.description,
                            "--d-channels", dChannels.description, "--memory-limit", memoryLimit.description, "--steps", String(steps), "--row-output"]
                if noRecompute { args.append("--no-recompute") }
                if let t = threads.threads { args += ["--threads", String(t)] }
                return try BenchMemory.runChild(args, as: HierarchicalRow.self)
            }
            try output.write(rows)
        }
    }
}

/// `--models wgangp3d,hagan3d`.
struct ModelKindList: CustomStringConvertible {
    var kinds: [ModelKind]
    static func parse(_ text: String) throws -> ModelKindList {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw ArgumentFormatError("name at least one model") }
        return ModelKindList(kinds: try names.map { n in
            guard let k = ModelKind(rawValue: n) else { throw ArgumentFormatError("'\(n)' is not a model (\(ModelKind.choiceList))") }
            return k
        })
    }
    var description: String { kinds.map(\.rawValue).joined(separator: ",") }
}

/// `--grids 96x112x96:2,192x224x192:1`: grids D×H×W with the voxel size (mm) each stands for.
struct GridVoxelList: CustomStringConvertible {
    var items: [(GridSides, Double)]
    static func parse(_ text: String) throws -> GridVoxelList {
        GridVoxelList(items: try text.split(separator: ",").map { pair in
            let parts = pair.split(separator: ":").map(String.init)
            guard parts.count == 2, let g = GridSides(argument: parts[0]), parts[0].lowercased().contains("x"), let mm = Double(parts[1]), mm > 0, mm.isFinite else {
                throw ArgumentFormatError("'\(pair)' must be D×H×W:MM, e.g. 96x112x96:2")
            }
            return (g, mm)
        })
    }
    var description: String { items.map { "\($0.0):\($0.1)" }.joined(separator: ",") }
}
