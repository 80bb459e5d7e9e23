import Foundation

/// One source of variability of the phantom that a user can switch off (scale 0), keep (1) or
/// exaggerate (> 1), from `--effects` or the config's `effects` object. Every effect acts on what is
/// drawn for a subject (`PhantomGenerator.drawSubject`), never on the random stream itself, so a cohort
/// with an effect scaled keeps every other draw of every subject (paired comparisons).
public enum PhantomEffect: String, CaseIterable, Codable, Sendable {
    /// Smooth nonlinear inter-subject deformation (the displacement field's amplitude).
    case deformation
    /// Residual affine spatial-normalisation error: rotation, translation, scaling.
    case misregistration
    /// Grey-matter atrophy and ventricular enlargement (with age and with disease).
    case atrophy
    /// Hemispheric asymmetry: the normal left/right differences and the disease's lateralisation.
    case asymmetry
    /// Age effects on uptake (regional decline per decade) and on anatomy (atrophy, ventricles).
    case age
    /// Sex effects on uptake and on anatomy.
    case sex
    /// Inter-subject variability of regional uptake (the correlated per-region factors).
    case regional
    /// Spread of the GM:WM uptake ratio between subjects (0: every subject at the range's middle).
    case contrast
    /// Disease hypometabolism and disease atrophy (every class's reductions).
    case disease
    /// Frequency of the non-typical presentations (atypical AD variants, near-normal MCI).
    case variants
    /// Spread of the scanner's effective resolution between subjects (0: every subject at the range's middle).
    case resolution
    /// Voxel noise.
    case noise
    /// Global intensity scaling before reference normalisation (spread of the global scale).
    case globalScale

    public var meaning: String {
        switch self {
        case .deformation: return "smooth nonlinear inter-subject deformation"
        case .misregistration: return "residual affine spatial-normalisation error (rotation, translation, scale)"
        case .atrophy: return "grey-matter atrophy and ventricular enlargement (age and disease)"
        case .asymmetry: return "hemispheric asymmetry (normal and disease)"
        case .age: return "age effects on uptake and anatomy"
        case .sex: return "sex effects on uptake and anatomy"
        case .regional: return "inter-subject regional uptake variability"
        case .contrast: return "spread of the GM:WM uptake ratio between subjects"
        case .disease: return "disease hypometabolism and disease atrophy"
        case .variants: return "frequency of atypical AD variants and near-normal MCI"
        case .resolution: return "spread of the effective scanner resolution between subjects"
        case .noise: return "voxel noise"
        case .globalScale: return "global intensity scaling before reference normalisation"
        }
    }
}

/// Scale of every `PhantomEffect` (1 = the model as documented, 0 = off). JSON: an object keyed by
/// effect name; absent effects are 1, unknown names an error.
public struct EffectScales: Codable, Equatable, Sendable {
    private var scales: [PhantomEffect: Double]

    /// Largest scale accepted (an effect exaggerated beyond 5× leaves the literature's ranges far behind).
    public static let maximum = 5.0

    public init() { scales = [:] }

    public subscript(_ effect: PhantomEffect) -> Double {
        get { scales[effect] ?? 1 }
        set { scales[effect] = newValue }
    }

    /// Effects whose scale is not 1.
    public var changed: [PhantomEffect: Double] { scales.filter { $0.value != 1 } }

    /// Applies "name=value,name=value" (names: the effects' raw values, or `all`), left to right.
    public mutating func apply(_ text: String) throws {
        func bad(_ why: String) -> PhantomError { .invalidRequest("--effects: \(why)") }
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, items.allSatisfy({ !$0.isEmpty }) else {
            throw bad("expected name=scale pairs, e.g. age=0,variants=0.5")
        }
        let known = PhantomEffect.allCases.map(\.rawValue).joined(separator: ", ")
        for item in items {
            let kv = item.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2 else { throw bad("'\(item)' is not name=scale") }
            let name = kv[0].trimmingCharacters(in: .whitespaces)
            guard let v = Double(kv[1].trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw bad("'\(kv[1])' in '\(item)' is not a number")
            }
            guard v >= 0, v <= EffectScales.maximum else {
                throw bad("\(name) = \(v) is outside 0…\(EffectScales.maximum)")
            }
            if name == "all" {
                for e in PhantomEffect.allCases { scales[e] = v }
            } else if let e = PhantomEffect(rawValue: name) {
                scales[e] = v
            } else {
                throw bad("unknown effect '\(name)' (known: all, \(known))")
            }
        }
    }

    func validate(_ bad: (String) -> PhantomError) throws {
        for (e, v) in scales where !(v >= 0 && v <= EffectScales.maximum) {
            throw bad("effects.\(e.rawValue) = \(v) is outside 0…\(EffectScales.maximum)")
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        scales = [:]
        for k in c.allKeys {
            guard let e = PhantomEffect(rawValue: k.stringValue) else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [k], debugDescription:
                    "unknown effect '\(k.stringValue)' (known: \(PhantomEffect.allCases.map(\.rawValue).joined(separator: ", ")))"))
            }
            scales[e] = try c.decode(Double.self, forKey: k)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for e in PhantomEffect.allCases { try c.encode(self[e], forKey: Key(stringValue: e.rawValue)) }
    }

    public static func == (a: EffectScales, b: EffectScales) -> Bool {
        PhantomEffect.allCases.allSatisfy { a[$0] == b[$0] }
    }
}
