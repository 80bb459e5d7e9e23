// The option groups shared by the commands: runtime (worker threads, memory budget) and JSON output.
import ArgumentParser
import Foundation
import PETBenchmarks
import PETTensor
import PETVolumes

/// `--threads`: every command that computes.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads for our loops and OpenBLAS (default: all cores; 1 makes training runs bitwise reproducible).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Sets the worker threads of this process (when given).
    func apply() { if let t = threads { Parallel.setThreads(t) } }
}

/// What `--memory-budget` bounds in one command: its help text and default. One type per use keeps
/// each command's own help while the option is declared, parsed and checked once.
protocol MemoryBudgetUse {
    static var help: String { get }
    /// Nil: no budget unless given.
    static var defaultBudget: ByteSize? { get }
    /// Smallest budget the command accepts.
    static var minimum: ByteSize { get }
}

extension MemoryBudgetUse {
    static var defaultBudget: ByteSize? { nil }
    static var minimum: ByteSize { ByteSize(bytes: 1) }
}

/// `--threads` and `--memory-budget` (sizes as `ByteSize`: 512MB, 4GB, a bare number is MB).
struct RuntimeOptions<Budget: MemoryBudgetUse>: ParsableArguments {
    @OptionGroup var threading: ThreadOptions
    @Option(name: .customLong("memory-budget"), help: ArgumentHelp(Budget.help), transform: { try ByteSize.parse($0) })
    var givenBudget: ByteSize?

    /// The budget given, else the command's default.
    var memoryBudget: ByteSize? { givenBudget ?? Budget.defaultBudget }
    var threads: Int? { threading.threads }

    func validate() throws {
        if let b = memoryBudget, b.bytes < Budget.minimum.bytes {
            throw ValidationError("--memory-budget must be at least \(Budget.minimum.megabytes) MB")
        }
    }

    func apply() { threading.apply() }
}

extension ConvPrecision: ExpressibleByArgument {}

/// `--precision fp32|bf16`: the convolutions' arithmetic (train, generate, bench conv, bench train).
struct PrecisionOptions: ParsableArguments {
    @Option(help: "Convolution arithmetic: fp32, or bf16 (GEMM operands rounded to bf16, fp32 accumulation; master weights, optimizer state, norms, losses and the gradient penalty stay fp32). bf16 runs the vdpbf16ps kernels on CPUs with AVX512_BF16 and an exact emulation (rounded operands, fp32 kernels) elsewhere.")
    var precision: ConvPrecision?

    /// The precision asked for (fp32 when not given).
    var value: ConvPrecision { precision ?? .fp32 }
    /// Sets the precision of every convolution this process runs.
    func apply() { ConvPrecision.current = value }
}

/// `--json FILE`: the benchmark commands' rows (a JSON array of objects, one per row).
struct JSONRowsOutput: ParsableArguments {
    @Option(help: "Write the rows as JSON (an array of one object per row) to this file.")
    var json: String?

    /// Writes `rows` when --json was given and says where.
    func write<Row: Encodable>(_ rows: [Row]) throws {
        guard let j = json else { return }
        try writeJSONRows(rows, to: j)
        print("wrote \(j)")
    }
}

// Each command's `--memory-budget` (help texts as the commands always had them).
enum TrainBudget: MemoryBudgetUse {
    static let help = "Train within this memory, e.g. 4GB (a bare number is MB): generator/discriminator blocks are recomputed in backward (activation checkpointing, same gradients) until the estimated step peak fits; too small a budget fails with one that would work."
}
enum GenerateBudget: MemoryBudgetUse {
    static let help = "3D models: generate tile by tile within this memory budget, e.g. 512MB or 2GB (a bare number is MB; NIfTI streamed slab by slab; the result equals untiled generation). Too small a budget fails with one that would work."
}
enum PrepareBudget: MemoryBudgetUse {
    static let help = "Memory budget, e.g. 512MB (a bare number is MB; refuses grids that would not fit)."
}
enum EvaluateBudget: MemoryBudgetUse {
    static let help = "Memory budget, e.g. 256MB or 1GB (a bare number is MB): the HDF5 chunk cache, and the tiles of --critic (default: 256MB)."
    static let defaultBudget: ByteSize? = .megabytes(256)
    static let minimum = ByteSize.megabytes(8)
}
enum BenchEvaluateBudget: MemoryBudgetUse {
    static let help = "HDF5 chunk-cache budget of the evaluation, e.g. 256MB (a bare number is MB; evaluate's default; default: 256MB)."
    static let defaultBudget: ByteSize? = .megabytes(256)
    static let minimum = ByteSize.megabytes(8)
}
enum BenchMemoryBudget: MemoryBudgetUse {
    static let help = "Memory budget for tiled runs, e.g. 512MB (a bare number is MB; default: 512MB)."
    static let defaultBudget: ByteSize? = .megabytes(512)
}

/// `--low-res-copy F` (phantom, prepare): also store each volume's F×F×F block means
/// (/volumes_low_resolution, PETVolumes' LowResolution.swift), pooled as the volume is written.
struct LowResolutionCopyOptions: ParsableArguments {
    @Option(name: .customLong("low-res-copy"), help: ArgumentHelp("Also store a low-resolution copy of every volume: the mean over non-overlapping F×F×F blocks (PyTorch avg_pool3d, kernel = stride = F), for hierarchical models that read a low-resolution whole and a full-resolution slab per step. Every side of the grid must be divisible by F.", valueName: "F"))
    var factor: Int?

    func validate() throws {
        if let f = factor, !LowResolution.factorRange.contains(f) {
            throw ValidationError("--low-res-copy must be \(LowResolution.factorRange.lowerBound)…\(LowResolution.factorRange.upperBound) (got \(f))")
        }
    }

    /// Checks that the grid x×y×z pools by the factor (before anything is read or written).
    func validate(grid sides: [Int], option: String) throws {
        guard let f = factor else { return }
        guard sides.allSatisfy({ $0 % f == 0 }) else {
            throw ValidationError("--low-res-copy \(f): every side of \(option) \(sides.map(String.init).joined(separator: "x")) must be divisible by \(f)")
        }
    }
}
