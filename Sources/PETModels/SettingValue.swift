import Foundation

/// One training setting's value as a preset, a YAML file or the command line gives it, before it is
/// checked against the setting's type (`TrainConfig.coerce`): YAML and `--set` give text or plain
/// scalars, so the type is only known once the key is. Typed (not `Any`) so that every source is
/// one of these cases and every conversion is an exhaustive switch.
public enum SettingValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    /// A non-negative integer beyond `Int.max` can only be a seed (`--seed`, `seed:`).
    case uint(UInt64)
    case double(Double)
    case string(String)
    /// A flat list (YAML `[64, 32]`, or a preset's widths).
    case list([SettingValue])

    public var string: String? { if case .string(let s) = self { return s }; return nil }
}

extension SettingValue: CustomStringConvertible {
    /// As the value would be written (lists as `[1, "a"]`), for error messages.
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .uint(let u): return "\(u)"
        case .double(let d): return "\(d)"
        case .string(let s): return s
        case .list(let a): return "[" + a.map { if case .string(let s) = $0 { return "\"\(s)\"" }; return $0.description }.joined(separator: ", ") + "]"
        }
    }
}

// Literals, so presets, the demo and tests write `["batch": 4, "g_channels": "8,4"]`.
extension SettingValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
                        ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral i: Int) { self = .int(i) }
    public init(floatLiteral d: Double) { self = .double(d) }
    public init(booleanLiteral b: Bool) { self = .bool(b) }
    public init(arrayLiteral a: SettingValue...) { self = .list(a) }
    public init(nilLiteral: ()) { self = .null }
}

// JSON: the resolved settings are assembled as `[String: SettingValue]` and decoded as a
// `TrainConfig`; a configuration's own settings (`TrainConfig.settings()`) come back the same way.
extension SettingValue: Codable {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .uint(let u): try c.encode(u)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .list(let a): try c.encode(a)
        }
    }

    /// JSON `true` is only a Bool and `3` only a number (JSONDecoder does not convert between them);
    /// an integral number is an Int (or UInt64 above Int.max), any other a Double.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([SettingValue].self) { self = .list(a) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "a setting is a value or a flat list, not a mapping") }
    }
}
