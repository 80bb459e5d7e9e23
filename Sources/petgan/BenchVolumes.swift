import ArgumentParser
import Foundation
import PETBenchmarks
import PETVolumes

struct BenchVolumes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volumes",
        abstract: "HDF5 volume store: bytes read, ms and peak RSS for random patches from an N-volume store (only touched chunks are read).")

    @Flag(help: "A small store and fewer patches (smoke run).")
    var quick = false
    @Option(help: "Volumes in the store (comma-separated list runs each, e.g. 50,200 to show RSS does not grow with N; default: 200).", transform: { try PositiveIntegers.parse($0) })
    var volumes = PositiveIntegers(values: [200])
    @Option(help: "Volume grid x×y×z.")
    var shape = GridSides(96, 112, 96)
    @Option(help: "Patch edge in voxels.")
    var patch: Int = 64
    @Option(help: "Patches to read.")
    var patches: Int = 1000
    @Option(help: "Chunk edge in voxels.")
    var chunk: Int = 32
    @Option(help: "Chunk cache budget, e.g. 64MB (a bare number is MB; default: 64MB).", transform: { try ByteSize.parse($0) })
    var cache = ByteSize.megabytes(64)
    @Option(help: "Folder for the generated stores (reused between runs when they match).")
    var dir: String = NSTemporaryDirectory() + "petgan-bench-volumes"
    @OptionGroup var output: JSONRowsOutput

    func validate() throws {
        guard patch > 0, patches > 0, chunk > 0 else { throw ValidationError("--patch, --patches and --chunk must be positive") }
    }

    func run() throws {
        try runReportingErrors {
            var base = VolumeBenchmark.Config(storePath: "")
            base.shape = quick ? GridShape(nx: 64, ny: 64, nz: 64) : shape.niftiShape
            base.patch = quick ? 32 : patch
            base.patches = quick ? 200 : patches
            base.chunk = chunk
            base.cacheBytes = cache.bytes
            try output.write(try VolumeBenchmark.runPrinted(volumes: quick ? [20] : volumes.values, base: base, directory: dir))
        }
    }
}
