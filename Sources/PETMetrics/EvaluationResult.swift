// What `petgan evaluate` returns and writes as metrics.json: the run's header (inputs, seed, notes,
// timing) and every metric's typed result, encoded where its `MetricPlacement` says. The report and
// the command-line summary read the same values through `result(of:)`.

import Foundation
import PETTensor
import PETVolumes

/// metrics.json's top-level facts about the run.
public struct EvaluationHeader: Encodable {
    public struct RealInput: Encodable { public var path: String, kind: String, count: Int, units: String }
    public struct SyntheticInput: Encodable { public var path: String, kind: String, count: Int, unlabelled: Int }
    public struct Inputs: Encodable {
        public var real: RealInput, synthetic: SyntheticInput
        /// 2D samples only.
        public var layout: String?
        public var shapeDHW: [Int]?, shapeCHW: [Int]?
        public var classes: [String], classFilter: [String]
        enum CodingKeys: String, CodingKey {
            case real, synthetic, layout, classes, shapeDHW = "shape_dhw", shapeCHW = "shape_chw", classFilter = "class_filter"
        }
    }
    public struct Streaming: Encodable {
        public var slabDepth: Int
        public var note = "volumes read and measured in depth slabs; no whole volume held"
        enum CodingKeys: String, CodingKey { case slabDepth = "slab_depth", note }
    }
    public var petganVersion = PETGANVersion.string
    public var inputs: Inputs
    public var seed: UInt64
    /// Volumes only.
    public var streaming: Streaming?
    public var notes: [String]
    public var seconds = 0.0
    public var peakRSSMB = 0.0

    enum CodingKeys: String, CodingKey {
        case petganVersion = "petgan_version", inputs, seed, streaming, notes, seconds, peakRSSMB = "peak_rss_mb"
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(petganVersion, forKey: .petganVersion)
        try c.encode(inputs, forKey: .inputs)
        // JSON numbers beyond Int's range lose bits in most readers: such a seed is written as a string.
        if seed <= UInt64(Int.max) { try c.encode(Int(seed), forKey: .seed) } else { try c.encode(String(seed), forKey: .seed) }
        try c.encodeIfPresent(streaming, forKey: .streaming)
        try c.encode(notes, forKey: .notes)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(peakRSSMB, forKey: .peakRSSMB)
    }
}

/// The block averages the classifiers and MMD see (metrics.json's "distribution" section).
struct BlockAverageInfo: Encodable {
    var factor: Int
    var shape: [Int]
    var volumes: Bool
    enum CodingKeys: String, CodingKey { case factor = "block_average_factor", dhw = "block_shape_dhw", chw = "block_shape_chw" }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(factor, forKey: .factor)
        try c.encode(shape, forKey: volumes ? .dhw : .chw)
    }
}

public struct EvaluationResult: Encodable {
    public var header: EvaluationHeader
    var blockAverages: BlockAverageInfo
    /// Every metric that produced a result, in `Evaluation.metrics` order.
    let results: [(type: any EvaluationMetric.Type, value: any Encodable)]
    /// Figure file name → path.
    public let figures: [String: String]

    /// A metric's result (nil when it did not run or produced nothing).
    public func result<M: EvaluationMetric>(of metric: M.Type) -> M.Result? {
        results.first { ObjectIdentifier($0.type) == ObjectIdentifier(metric) }?.value as? M.Result
    }

    public func encode(to encoder: Encoder) throws {
        let root = JSONTree()
        root.merged = [header]
        root.node(["distribution"]).merged.append(blockAverages)
        for (type, value) in results {
            switch type.placement {
            case let .at(path): root.node(Array(path.dropLast())).leaves[path.last!] = value
            case let .merged(path): root.node(path).merged.append(value)
            case .none: break
            }
        }
        root.leaves["summary"] = summary
        try root.encode(to: encoder)
    }

    /// metrics.json: sorted keys, non-finite numbers as null (JSON has no NaN; readers see "no value").
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        let placeholders = ["__inf__", "__-inf__", "__nan__"]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: placeholders[0], negativeInfinity: placeholders[1], nan: placeholders[2])
        var text = String(decoding: try e.encode(self), as: UTF8.self)
        for p in placeholders { text = text.replacingOccurrences(of: "\"\(p)\"", with: "null") }
        return Data(text.utf8)
    }
}

/// Objects of metrics.json assembled from results placed at key paths.
final class JSONTree: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
    /// Encoded into this object's own container (their keys become this object's keys).
    var merged: [any Encodable] = []
    var leaves: [String: any Encodable] = [:]
    var children: [String: JSONTree] = [:]

    func node(_ path: [String]) -> JSONTree {
        guard let first = path.first else { return self }
        if children[first] == nil { children[first] = JSONTree() }
        return children[first]!.node(Array(path.dropFirst()))
    }

    func encode(to encoder: Encoder) throws {
        // A keyed container asked for twice on one encoder is the same object (as for a subclass
        // encoding after its superclass), so merged results share this object.
        for m in merged { try m.encode(to: encoder) }
        var c = encoder.container(keyedBy: Key.self)
        for (k, v) in leaves { try c.encode(v, forKey: Key(k)) }
        for (k, v) in children { try c.encode(v, forKey: Key(k)) }
    }
}
