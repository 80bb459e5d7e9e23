import Foundation
import PETTensor
import PETVolumes

/// Where the training images came from: enough to write generated images back in the data's
/// geometry and units without the data file.
public struct DataInfo: Codable, Equatable, Sendable {
    /// The store the model was trained on.
    public var path: String
    /// Item shape (C, image...): 3D (1, D, H, W); 2D (C, H, W).
    public var itemShape: [Int]
    /// voxel → world affine (row major) of the first training item.
    public var affine: [Double]
    public var classNames: [String]
    /// The store's raw → [−1, 1] intensity map (of the first training item; phantom stores share one).
    public var intensityScale: Double
    public var intensityOffset: Double
    /// Units of the raw intensities (e.g. "SUVR (pons reference)").
    public var units: String
    public var normalization: String
    /// Number of training items (after the class filter).
    public var count: Int
    /// Whether the items are MNI-space volumes.
    public var mni: Bool
    /// Display window (low, high) in raw units for pictures of this data and of generated samples:
    /// from the value −1 maps to, up to the 99.5th percentile of the first training item. One window
    /// for real and generated images makes them comparable by eye (nil in records of older runs).
    public var displayWindow: [Double]? = nil

    public var intensity: IntensityMap { IntensityMap(scale: intensityScale, offset: intensityOffset) }

    /// The display window of a store's item in raw units: from the value −1 maps to, up to the item's
    /// 99.5th percentile (nil when that range is empty or not finite).
    public static func displayWindow(_ s: VolumeStore, item: Int) throws -> (Float, Float)? {
        let raw = try s.readVolumeInRawUnits(item).data
        let step = max(1, raw.count / 200_000)
        let lo = s.intensity(item).inverse(-1)
        let hi = Float(Normalize.percentile(stride(from: 0, to: raw.count, by: step).map { raw[$0] }, 99.5))
        return lo.isFinite && hi.isFinite && hi > lo ? (lo, hi) : nil
    }
}

/// Everything a checkpoint needs to rebuild its model: stored as the checkpoint's config JSON.
public struct RunRecord: Codable, Equatable, Sendable {
    public var config: TrainConfig
    public var geometry: NetworkGeometry
    public var data: DataInfo

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    public static func parse(_ json: String, file: String) throws -> RunRecord {
        do { return try JSONDecoder().decode(RunRecord.self, from: Data(json.utf8)) } catch {
            throw CheckpointError.notACheckpoint(file: file, reason: "its configuration is not a PETGAN training record (\(error))")
        }
    }
}

/// The training items of a run: a volume store (3D) or slice store (2D), optionally one class only.
/// Batches are read on demand through HDF5 hyperslabs, selected by index (so the order is a pure
/// function of the run's data generator, which is what makes --resume exact).
public final class TrainingData {
    public let store: VolumeStore
    /// Store indices used for training.
    public let indices: [Int]
    /// Labels of those items (store class indices).
    public let labels: [Int]
    public private(set) var info: DataInfo
    public var count: Int { indices.count }
    public var itemShape: [Int] { info.itemShape }

    public init(path: String, model: ModelKind, classFilter: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError.badValue(source: "--data", key: "data", reason: "\(path) does not exist (build a cohort with `petgan phantom --out \(path)`)")
        }
        let s = try VolumeStore.open(path)
        store = s
        var idx = Array(0..<s.count)
        if !classFilter.isEmpty {
            guard let c = s.classNames.firstIndex(of: classFilter) else {
                throw ConfigError.badValue(source: path, key: "class", reason: "no class '\(classFilter)' in the store (classes: \(s.classNames.joined(separator: ", ")))")
            }
            idx = idx.filter { s.labels[$0] == c }
            guard !idx.isEmpty else { throw ConfigError.badValue(source: path, key: "class", reason: "the store holds no \(classFilter) items") }
        }
        indices = idx
        labels = idx.map { s.labels[$0] }
        let item: [Int]
        if model.isThreeD {
            item = [1] + s.volumeShape
        } else {
            guard s.volumeShape[0] <= 16 else {
                throw ConfigError.badValue(source: path, key: "data", reason: "items are \(s.volumeShape) volumes, not (channels, H, W) slice samples: a 2D model needs a slice store (`petgan phantom --slices axial`)")
            }
            item = s.volumeShape
        }
        let first = idx[0]
        let f = try HDF5File.open(path)
        let units = (try? f.stringAttribute("units")) ?? ""
        let kind = (try? f.stringAttribute("kind")) ?? ""
        let map = s.intensity(first)
        info = DataInfo(path: path, itemShape: item, affine: s.affine(first).m, classNames: s.classNames,
                        intensityScale: map.scale, intensityOffset: map.offset,
                        units: units == "mm" || units.isEmpty ? "store units (see \(path))" : units,
                        normalization: s.normalization, count: idx.count, mni: kind.contains("phantom"))
        info.displayWindow = try DataInfo.displayWindow(s, item: first).map { [Double($0.0), Double($0.1)] }
    }

    /// Items `which` (positions in `indices`) as a (B, item...) tensor with their labels.
    public func batch(_ which: [Int]) throws -> (Tensor, [Int]) {
        let per = itemShape.reduce(1, *)
        let t = Tensor(shape: [which.count] + itemShape, zeroed: false)
        for (b, w) in which.enumerated() {
            try store.readPatch(indices[w], origin: [0, 0, 0], size: store.volumeShape, into: t.data + b * per)
        }
        return (t, which.map { labels[$0] })
    }
}
