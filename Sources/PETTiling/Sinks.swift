import Foundation
import PETTensor
import PETVolumes

/// Streams each sample of a single-channel output to its own NIfTI file, slab by slab
/// (`StreamingNIfTIWriter`: gzip through znz for .nii.gz). Files appear only when complete.
public final class NIfTISlabSink: SlabSink {
    public let writers: [StreamingNIfTIWriter]

    /// One path per sample; `shape` is the output (D, H, W); provenance per sample (or one for all).
    public init(paths: [String], shape: [Int], affine: Affine = .identity, space: WorldSpace = .scanner,
                provenance: [[String: Any]] = [[:]]) throws {
        guard provenance.count == 1 || provenance.count == paths.count else {
            throw TilingError.invalidShape("\(provenance.count) provenance records for \(paths.count) files")
        }
        writers = try paths.enumerated().map { i, p in
            try StreamingNIfTIWriter(path: p, shape: shape, affine: affine, space: space,
                                     provenance: provenance.count == 1 ? provenance[0] : provenance[i])
        }
    }

    public func write(slab: Tensor, depthStart: Int) throws {
        guard slab.shape[0] == writers.count, slab.shape[1] == 1 else {
            throw TilingError.invalidShape("NIfTI output takes one channel and \(writers.count) sample(s); the slab is \(shapeString(slab.shape))")
        }
        guard depthStart == writers[0].depthWritten else {
            throw TilingError.invalidShape("slab at depth \(depthStart) but \(writers[0].depthWritten) slices were written (slabs must come in order)")
        }
        let per = slab.count / slab.shape[0]
        for (n, w) in writers.enumerated() { try w.write(slab.data + n * per, depth: slab.shape[2]) }
    }

    public func finish() throws { for w in writers { try w.finish() } }
}

/// Writes slabs into a chunked HDF5 dataset of shape (N, D, H, W) (single channel) or
/// (N, C, D, H, W), samples starting at `sampleOffset`. Only the chunks a slab covers are touched.
public final class HDF5SlabSink: SlabSink {
    public let dataset: HDF5Dataset
    public let sampleOffset: Int

    public init(dataset: HDF5Dataset, sampleOffset: Int = 0) {
        self.dataset = dataset
        self.sampleOffset = sampleOffset
    }

    /// Creates a float32 dataset for `outputShape` (N, C, D, H, W): rank 4 when C = 1. Chunks are
    /// one sample × `chunk`³ voxels (clipped to the volume); `deflate` is the gzip level, nil for none.
    public static func createDataset(in group: HDF5Group, name: String, outputShape s: [Int], chunk: Int = 32,
                                     deflate: Int? = nil) throws -> HDF5Dataset {
        let spatial = Array(s[2...])
        let c = spatial.map { min($0, chunk) }
        if s[1] == 1 {
            return try group.createDataset(name, type: Float.self, shape: [s[0]] + spatial, chunks: [1] + c, deflate: deflate)
        }
        return try group.createDataset(name, type: Float.self, shape: s, chunks: [1, 1] + c, deflate: deflate)
    }

    public func write(slab: Tensor, depthStart: Int) throws {
        let s = slab.shape
        if dataset.shape.count == 4 {
            guard s[1] == 1 else { throw TilingError.invalidShape("dataset \(dataset.objectPath) has no channel axis but the output has \(s[1]) channels") }
            try dataset.writeHyperslab(start: [sampleOffset, depthStart, 0, 0], count: [s[0], s[2], s[3], s[4]], from: UnsafePointer(slab.data))
        } else {
            try dataset.writeHyperslab(start: [sampleOffset, 0, depthStart, 0, 0], count: s, from: UnsafePointer(slab.data))
        }
    }

    public func finish() throws {}
}

/// Applies `transform` to every value of a slab (in place: the slab is the run's own scratch and is
/// dropped after the sinks saw it), then hands it on. Generation uses it to map the generator's
/// [−1, 1] back to the training data's units (SUVR) before the NIfTI writer sees a voxel.
public final class MapSink: SlabSink {
    public let inner: SlabSink
    let transform: (Float) -> Float

    public init(_ inner: SlabSink, transform: @escaping (Float) -> Float) {
        self.inner = inner
        self.transform = transform
    }

    public func write(slab: Tensor, depthStart: Int) throws {
        let p = slab.data, f = transform
        Parallel.forRanges(slab.count, minChunk: 1 << 16) { r in for i in r { p[i] = f(p[i]) } }
        try inner.write(slab: slab, depthStart: depthStart)
    }

    public func finish() throws { try inner.finish() }
}

/// Keeps every `factor`-th voxel along D, H and W of a single-channel output (voxel 0, f, 2f, …), so
/// a preview (montage) of a volume too large to hold exists without holding it: (N, 1, ⌈D/f⌉, ⌈H/f⌉,
/// ⌈W/f⌉). With factor 1 it is the whole output.
public final class SubsampledVolumeSink: SlabSink {
    public let factor: Int
    public let output: Tensor

    /// `outputShape` (N, 1, D, H, W) of the full output.
    public init(outputShape s: [Int], factor: Int) throws {
        guard s.count == 5, s[1] == 1, factor >= 1 else {
            throw TilingError.invalidShape("a subsampled preview takes a single-channel (N, 1, D, H, W) output and a factor ≥ 1, got \(shapeString(s)) and \(factor)")
        }
        self.factor = factor
        output = try Tensor.checked(shape: [s[0], 1] + s[2...].map { ($0 + factor - 1) / factor }, op: "preview")
    }

    public func write(slab: Tensor, depthStart: Int) throws {
        let f = factor, n = slab.shape[0], d = slab.shape[2], h = slab.shape[3], w = slab.shape[4]
        let od = output.shape[2], oh = output.shape[3], ow = output.shape[4]
        for s in 0..<n {
            for z in 0..<d where (depthStart + z) % f == 0 {
                let oz = (depthStart + z) / f
                for y in stride(from: 0, to: h, by: f) {
                    let src = slab.data + ((s * d + z) * h + y) * w
                    let dst = output.data + ((s * od + oz) * oh + y / f) * ow
                    for x in 0..<ow { dst[x] = src[x * f] }
                }
            }
        }
    }

    public func finish() throws {}
}
