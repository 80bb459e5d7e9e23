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
