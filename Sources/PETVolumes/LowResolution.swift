// The low-resolution copy of a volume store (issue 19): per item, the mean over non-overlapping
// f×f×f blocks of the stored (normalised) values, exactly PyTorch's
// `avg_pool3d(x, kernel_size=f, stride=f)` on a grid divisible by f. A hierarchical model reads the
// low-resolution whole and a full-resolution slab per step, so the full volume is never read.
//
// Layout (beside /volumes, h5py-readable):
//   /volumes_low_resolution   float32 (N, D/f, H/f, W/f), chunked, same compression as /volumes;
//                             attributes factor (int f ≥ 2), pooling (what the values are)
//
// Public API:
//   LowResolution.averagePool(x, shape: [D, H, W], factor: f, into: y)    // the pooling itself
//   try LowResolution.shape(of: [D, H, W], factor: f, store: "data.h5")    // [D/f, H/f, W/f] or one clear error
//   VolumeStoreOptions(lowResolutionFactor: 2)        // the writer pools every appended volume
//   store.lowResolution?.factor, store.lowResolution?.shape ; try store.readLowResolution(i, into: ptr)
//   try LowResolution.addCopy(to: "data.h5", factor: 2)   // an existing store, changed atomically

import Foundation
import PETTensor

/// A store's low-resolution copy: the pooling factor and the pooled shape [D/f, H/f, W/f].
public struct LowResolutionCopy: Equatable, Sendable {
    public var factor: Int
    public var shape: [Int]
    public init(factor: Int, shape: [Int]) { self.factor = factor; self.shape = shape }
    public var voxelCount: Int { shape.reduce(1, *) }
}

public enum LowResolution {
    /// Name of the dataset beside /volumes.
    public static let datasetName = "volumes_low_resolution"
    /// Its attributes.
    public static let factorAttribute = "factor", poolingAttribute = "pooling"
    public static let poolingDescription = "mean over non-overlapping f x f x f blocks of /volumes (PyTorch avg_pool3d(x, kernel_size=f, stride=f)), f = attribute 'factor'"
    /// Factors a store may hold (1 would be a second copy of /volumes).
    public static let factorRange = 2...64

    /// The pooled shape of `volumeShape` (D, H, W), or an error naming `store` and the shape when
    /// the factor is out of range or does not divide every side.
    public static func shape(of volumeShape: [Int], factor: Int, store: String) throws -> [Int] {
        guard factorRange.contains(factor) else {
            throw VolumeStoreError.invalidArgument(file: store, detail: "low-resolution factor \(factor) must be \(factorRange.lowerBound)…\(factorRange.upperBound)")
        }
        guard volumeShape.count == 3, volumeShape.allSatisfy({ $0 > 0 && $0 % factor == 0 }) else {
            let g = volumeShape.count == 3 ? "\(GridShape(arrayShape: volumeShape)) (x×y×z)" : "\(volumeShape)"
            throw VolumeStoreError.invalidArgument(file: store, detail: "a low-resolution copy by a factor of \(factor) needs every side of the grid divisible by \(factor); the grid is \(g)")
        }
        return volumeShape.map { $0 / factor }
    }

    /// y (D/f, H/f, W/f) = the mean of each non-overlapping f×f×f block of x (D, H, W). Each output
    /// sums its block in PyTorch's order (d, then h, then w, in float) and divides by f³, so it is
    /// bitwise `referenceAveragePool`. Works on slabs too: f planes of (H, W) give one pooled plane.
    public static func averagePool(_ x: UnsafePointer<Float>, shape: [Int], factor f: Int, into y: UnsafeMutablePointer<Float>) {
        precondition(shape.count == 3 && f >= 1 && shape.allSatisfy { $0 % f == 0 }, "averagePool: shape \(shape) is not divisible by \(f)")
        let (d, h, w) = (shape[0], shape[1], shape[2])
        let (od, oh, ow) = (d / f, h / f, w / f)
        let divisor = Float(f * f * f)
        for a in 0..<od {
            for b in 0..<oh {
                // One output row: accumulate its f×f input rows in (kd, kh) order, each row's f
                // values per output in kw order, the same additions as the reference's nest.
                let row = y + (a * oh + b) * ow
                for c in 0..<ow { row[c] = 0 }
                for kd in 0..<f {
                    for kh in 0..<f {
                        let src = x + ((a * f + kd) * h + b * f + kh) * w
                        for c in 0..<ow {
                            var s = row[c]
                            let p = src + c * f
                            for kw in 0..<f { s += p[kw] }
                            row[c] = s
                        }
                    }
                }
                for c in 0..<ow { row[c] /= divisor }
            }
        }
    }

    /// `averagePool` on an array.
    public static func averagePool(_ x: [Float], shape: [Int], factor: Int) -> [Float] {
        precondition(x.count == shape.reduce(1, *), "averagePool: \(x.count) values for shape \(shape)")
        var y = [Float](repeating: 0, count: x.count / (factor * factor * factor))
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { averagePool(xp.baseAddress!, shape: shape, factor: factor, into: $0.baseAddress!) } }
        return y
    }

    /// The plain reference: PyTorch's avg_pool3d_out_frame loop for kernel = stride = f, no padding.
    public static func referenceAveragePool(_ x: [Float], shape: [Int], factor f: Int) -> [Float] {
        let (d, h, w) = (shape[0], shape[1], shape[2])
        let (od, oh, ow) = (d / f, h / f, w / f)
        var y = [Float](repeating: 0, count: od * oh * ow)
        for a in 0..<od { for b in 0..<oh { for c in 0..<ow {
            var sum: Float = 0
            for kd in 0..<f { for kh in 0..<f { for kw in 0..<f {
                sum += x[((a * f + kd) * h + b * f + kh) * w + c * f + kw]
            } } }
            y[(a * oh + b) * ow + c] = sum / Float(f * f * f)
        } } }
        return y
    }

    /// Chunk shape of the copy: one item, up to 32 voxels a side.
    static func chunks(for shape: [Int]) -> [Int] { [1] + shape.map { min($0, 32) } }

    /// Adds a low-resolution copy to an existing store: the store is changed in a temporary copy
    /// (HDF5File.openForUpdate) that replaces it only when every item is pooled, reading f axial
    /// planes at a time (f·H·W floats, counted). Refuses a store that already has a copy.
    @discardableResult
    public static func addCopy(to path: String, factor: Int, memoryBudget: Int? = nil,
                               progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> LowResolutionCopy {
        let store = try VolumeStore.open(path, memoryBudget: memoryBudget)
        if let c = store.lowResolution {
            throw VolumeStoreError.invalidArgument(file: path, detail: "the store already has a low-resolution copy (/\(datasetName), factor \(c.factor), \(GridShape(arrayShape: c.shape)))")
        }
        let low = try shape(of: store.volumeShape, factor: factor, store: path)
        let vs = store.volumeShape
        let slabCount = factor * vs[1] * vs[2], planeCount = low[1] * low[2]
        let bytes = 4 * (slabCount + planeCount)
        try MemoryAccountant.shared.reserve(bytes, what: "\(path): low-resolution copy, \(factor) planes of \(vs[1])x\(vs[2]) and one pooled plane")
        defer { MemoryAccountant.shared.release(bytes) }
        let f = try HDF5File.openForUpdate(path)
        let d = try createDataset(in: f, count: store.count, lowShape: low, factor: factor, like: store.volumes)
        var slab = [Float](repeating: 0, count: slabCount), plane = [Float](repeating: 0, count: planeCount)
        for i in 0..<store.count {
            for z in 0..<low[0] {
                try slab.withUnsafeMutableBufferPointer { try store.readPatch(i, origin: [z * factor, 0, 0], size: [factor, vs[1], vs[2]], into: $0.baseAddress!) }
                slab.withUnsafeBufferPointer { s in plane.withUnsafeMutableBufferPointer { averagePool(s.baseAddress!, shape: [factor, vs[1], vs[2]], factor: factor, into: $0.baseAddress!) } }
                try d.writeHyperslab(start: [i, z, 0, 0], count: [1, 1, low[1], low[2]], plane)
            }
            progress(i + 1, store.count)
        }
        try f.commit()
        return LowResolutionCopy(factor: factor, shape: low)
    }

    /// The (N, D/f, H/f, W/f) dataset with its attributes, compressed like `volumes` (if given).
    static func createDataset(in f: HDF5File, count: Int, lowShape: [Int], factor: Int, like volumes: HDF5Dataset?,
                              deflate: Int? = nil, shuffle: Bool = false) throws -> HDF5Dataset {
        let d = try f.createDataset(datasetName, type: Float.self, shape: [count] + lowShape, maxShape: [nil] + lowShape.map { $0 },
                                    chunks: chunks(for: lowShape), deflate: volumes.map { $0.deflateLevel } ?? deflate,
                                    shuffle: volumes.map { $0.shuffle } ?? shuffle)
        try d.setAttribute(factorAttribute, factor)
        try d.setAttribute(poolingAttribute, poolingDescription)
        return d
    }
}
