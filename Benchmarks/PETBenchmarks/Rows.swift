// The benchmark files: one JSON array of row objects per run (`--json FILE`), read by scripts and
// docs by key, so every row type spells its keys out (CodingKeys) and a key that was written as
// null stays there as null (`NullWhenAbsent`).
import Foundation

/// An optional that is written as JSON null when absent (a synthesized Codable omits the key).
@propertyWrapper
public struct NullWhenAbsent<Value: Codable>: Codable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as absent too.
    public func decode<V>(_ type: NullWhenAbsent<V>.Type, forKey key: Key) throws -> NullWhenAbsent<V> {
        try decodeIfPresent(type, forKey: key) ?? NullWhenAbsent(wrappedValue: nil)
    }
}

/// Rounded to three decimals, as every row's figures are written.
func r3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

/// The encoder of every benchmark file: sorted keys; NaN and infinities as strings.
public func benchJSONEncoder(pretty: Bool = true) -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
}

/// Writes `rows` as one JSON array to `path`, atomically (a reader never sees half a file).
public func writeJSONRows<Row: Encodable>(_ rows: [Row], to path: String) throws {
    let data = try benchJSONEncoder().encode(rows)
    let url = URL(fileURLWithPath: path)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    try data.write(to: tmp)
    // rename(2) replaces an existing file atomically (FileManager.replaceItemAt fails on Linux here).
    guard rename(tmp.path, url.path) == 0 else {
        try? FileManager.default.removeItem(at: tmp)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
    }
}

/// A benchmark's printed table: left- and right-aligned columns.
public func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
public func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
func f1(_ v: Double?) -> String { String(format: "%.1f", v ?? .nan) }
func f0(_ v: Double?) -> String { String(format: "%.0f", v ?? .nan) }

/// An error of a benchmark's input (a --peer file …), printed as it is.
public struct BenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
