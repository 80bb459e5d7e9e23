import Foundation
import PETTensor
import Yams

// The run configuration: every hyper-parameter of a training run in one Codable struct.
// Resolution order (later wins): built-in defaults of the model → preset → YAML file → command line.
// The resolved configuration is written into the run directory (config.yaml) and into every
// checkpoint (JSON), so `generate` and `--resume` rebuild exactly the same model.

/// A configuration that cannot be used; names the file or option and the reason.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(source: String, key: String, known: [String])
    case badValue(source: String, key: String, reason: String)
    case unreadable(file: String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .unknownKey(s, k, known):
            let hint = ConfigError.closest(to: k, among: known).map { "did you mean '\($0)'? " } ?? ""
            return "\(s): unknown setting '\(k)' (\(hint)known: \(known.joined(separator: ", ")))"
        case let .badValue(s, k, r): return "\(s): setting '\(k)': \(r)"
        case let .unreadable(f, r): return "\(f): cannot read the configuration: \(r)"
        case let .invalid(r): return "invalid configuration: \(r)"
        }
    }

    /// The known name nearest to `key` (edit distance, '-' read as '_', case ignored), when it is
    /// close enough to be the intended one.
    static func closest(to key: String, among known: [String]) -> String? {
        let k = Array(key.lowercased().replacingOccurrences(of: "-", with: "_"))
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
            var prev = Array(0...b.count), cur = prev
            for i in 1...a.count {
                cur[0] = i
                for j in 1...b.count { cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)) }
                swap(&prev, &cur)
            }
            return prev[b.count]
        }
        guard k.count <= 64 else { return nil }
        let scored = known.map { ($0, distance(k, Array($0))) }.min { $0.1 < $1.1 }
        guard let (name, d) = scored, d <= max(2, k.count / 3) else { return nil }
        return name
    }
}

/// Every setting of a training run. YAML keys are the snake_case names in `CodingKeys`.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var model: ModelKind = .wgangp3d
    /// "paper2d" selects the exact Islam & Zhang (2020) 2D baseline.
    public var preset: String = ""
    /// The training data: a PETVolumes HDF5 store (3D volumes, or (C, H, W) slice samples for 2D).
    public var data: String = ""
    /// Parent folder of the numbered run directories.
    public var out: String = "runs"
    /// Train on one class only (the paper's one model per class), e.g. "AD"; empty for all.
    public var classFilter: String = ""
    /// One model for every class: one-hot class joined to z and given to the discriminator as
    /// constant class channels.
    public var conditional: Bool = false
    public var epochs: Int = 10
    public var batch: Int = 8
    /// Stop after this many generator steps (0: run all epochs).
    public var maxSteps: Int = 0
    public var seed: UInt64 = 1
    /// Worker threads (0: all cores).
    public var threads: Int = 0

    // Architecture
    public var zDim: Int = 100
    /// uniform (U[−1, 1], the paper) or normal (N(0, 1)).
    public var zDistribution: ZDistribution = .normal
    /// Generator widths: the projection's output channels first, then one per upsampling layer
    /// (the last upsampling layer outputs the image channels). Length = number of upsamplings.
    public var gChannels: [Int] = [64, 32, 16]
    /// Discriminator widths, one per strided convolution.
    public var dChannels: [Int] = [16, 32, 64]
    /// Discriminator normalization after every strided convolution but the first:
    /// batch | layer | instance | none.
    public var criticNorm: CriticNorm = .layer

    // Optimization
    /// adam | rmsprop
    public var optimizer: OptimizerKind = .adam
    public var lrG: Double = 1e-4
    public var lrD: Double = 1e-4
    public var beta1: Double = 0.5
    public var beta2: Double = 0.9
    /// RMSprop smoothing constant (torch's alpha).
    public var rmsAlpha: Double = 0.99
    /// Discriminator (critic) updates per generator update.
    public var nCritic: Int = 5
    public var gpLambda: Double = 10
    /// WGAN weight clipping bound c (parameters clamped to [−c, c]).
    public var clip: Double = 0.01
    /// Weight initialization std of N(0, std) (DCGAN: 0.02).
    public var initStd: Double = 0.02

    // Outputs
    /// Save checkpoints/latest.h5 every this many generator steps (and at every epoch end).
    public var checkpointEvery: Int = 200
    /// Fixed-noise samples in the per-epoch montage.
    public var sampleCount: Int = 6
    /// Also write the montage / loss curve every this many steps (0: only at epoch ends).
    public var plotEvery: Int = 0

    // Small-data training (issue 18). Optional so that run records written before these settings
    // existed still decode (a missing key reads as nil = the value below, which changes nothing).
    /// Differentiable augmentation policy, e.g. "translation,cutout=0.4,intensity" (Augmentation.swift).
    public var augment: String? = ""
    /// Adaptive augmentation (`adaptive` in augment): real images over which its probability can go
    /// from 0 to 1 (AdaptiveAugmentation.swift).
    public var augmentSpeed: Double? = 5000
    /// Decay of the generator's exponential moving average (0: none), with ramp-up (GeneratorEMA.swift).
    public var gEMA: Double? = 0
    /// FastGAN: skip-layer excitations in the generator.
    public var sle: Int? = 1
    /// FastGAN: weight of the discriminator's reconstruction loss.
    public var reconstructionWeight: Double? = 1
    /// Convolution arithmetic, "fp32" or "bf16" (nil in older run records: fp32). Kept so that `--resume` continues in it.
    public var precision: String? = "fp32"
    /// Under mpirun: batch-norm statistics over all ranks (`--sync-bn`; nil in older records: per rank). Kept for `--resume`.
    public var syncBN: Bool? = false
    /// hagan3d: the low-resolution whole is the grid / lowres_factor (a power of two; HAGAN.swift).
    public var lowresFactor: Int? = 4
    /// hagan3d: rows of the high-resolution slab along the first spatial axis (0: about 1/8 of it).
    public var slabDepth: Int? = 0
    /// The adversarial loss (bce, wgan-gp, wgan-clip or hinge): the model family's own unless set
    /// (`--set loss=…`; nil in run records written before the setting existed: the family's).
    public var lossSetting: LossKind? = nil

    public init() {}

    public var augmentPolicy: AugmentPolicy { (try? AugmentPolicy.parse(augment ?? "")) ?? AugmentPolicy() }
    public var generatorEMADecay: Double { gEMA ?? 0 }
    public var augmentSpeedImages: Double { augmentSpeed ?? 5000 }
    public var skipExcitations: Int { sle ?? 1 }
    public var reconstructionWeightValue: Double { reconstructionWeight ?? 1 }
    public var convPrecision: ConvPrecision { precision.flatMap(ConvPrecision.init(rawValue:)) ?? .fp32 }
    public var synchronisedBatchNorm: Bool { syncBN ?? false }
    public var lowResolutionFactor: Int { lowresFactor ?? 4 }
    public var slabDepthValue: Int { slabDepth ?? 0 }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, preset, data, out
        case classFilter = "class"
        case conditional, epochs, batch
        case maxSteps = "max_steps"
        case seed, threads
        case zDim = "z_dim", zDistribution = "z_distribution"
        case gChannels = "g_channels", dChannels = "d_channels"
        case criticNorm = "critic_norm"
        case optimizer
        case lrG = "lr_g", lrD = "lr_d", beta1, beta2
        case rmsAlpha = "rms_alpha"
        case nCritic = "n_critic", gpLambda = "gp_lambda", clip
        case initStd = "init_std"
        case checkpointEvery = "checkpoint_every", sampleCount = "sample_count", plotEvery = "plot_every"
        case augment, augmentSpeed = "augment_speed", gEMA = "g_ema", sle, reconstructionWeight = "reconstruction_weight"
        case precision, syncBN = "sync_bn"
        case lowresFactor = "lowres_factor", slabDepth = "slab_depth"
        case lossSetting = "loss"
    }

    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public var loss: LossKind { lossSetting ?? model.loss }

    /// The built-in defaults of a model family.
    public static func defaults(for model: ModelKind) -> TrainConfig {
        var c = TrainConfig()
        c.model = model
        c.lossSetting = model.loss
        model.family.defaults(&c)
        return c
    }

    /// Settings of a named preset (applied over the model defaults).
    public static func preset(_ name: String) throws -> [String: SettingValue] {
        switch name {
        case "", "none": return [:]
        case "paper2d":
            // Islam & Zhang, "GAN-based synthetic brain PET image generation", Brain Informatics 7:3
            // (2020), doi:10.1186/s40708-020-00104-2. The paper's recipe (docs/training.md lists
            // which values are the paper's and which PETGAN's): 128×128×3 inputs (three adjacent
            // axial slices), one model per class (NC, MCI, AD), 500 epochs, batch 64; z = 100 ~
            // U[−1, 1]; G = FC → 4×4×1024 + 5 ConvTranspose2d (k5, s2) 1024→512→256→128→64→3, BN +
            // ReLU but the last, tanh; D = 5 Conv2d (k5, s2) 3→64→128→256→512→1024, BN except on the
            // input layer, LeakyReLU 0.2, FC + sigmoid; Adam lr 1e-4, β1 0.5. PETGAN's choices, DCGAN
            // conventions (Radford et al. 2016) the paper gives no figure for: β2 0.999 (Adam's
            // default), N(0, 0.02) initial weights, one D update per G update, BCE on logits (the
            // same loss, numerically stable). The trainer checks the data shape (presetItemShape;
            // --allow-any-shape overrides).
            return ["model": .string(ModelKind.dcgan2d.rawValue), "epochs": 500, "batch": 64, "conditional": false,
                    "z_dim": 100, "z_distribution": .string(ZDistribution.uniform.rawValue),
                    "g_channels": [1024, 512, 256, 128, 64], "d_channels": [64, 128, 256, 512, 1024],
                    "critic_norm": .string(CriticNorm.batch.rawValue), "optimizer": .string(OptimizerKind.adam.rawValue), "lr_g": 1e-4, "lr_d": 1e-4,
                    "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "init_std": 0.02]
        default:
            throw ConfigError.badValue(source: "--preset", key: "preset", reason: "unknown preset '\(name)' (known: paper2d)")
        }
    }

    /// The training item shape (channels, height, width) a preset's recipe was stated for, or nil
    /// when a preset fits any data: paper2d is the paper's 128×128×3 slices.
    public static func presetItemShape(_ name: String) -> [Int]? {
        name == "paper2d" ? [3, 128, 128] : nil
    }

    /// Resolves defaults → preset → YAML file → overrides (e.g. from the command line).
    /// `overrides` uses the YAML key names; values may be strings (converted to the key's type).
    public static func resolve(model: ModelKind?, preset: String?, yamlFile: String?, overrides: [String: SettingValue]) throws -> TrainConfig {
        let yaml = try yamlFile.map(loadSettings) ?? [:]
        let yamlSource = yamlFile ?? "config"
        // model and preset decide the defaults, so they are checked (as strings) before anything else.
        func name(_ key: String, _ v: SettingValue?, _ source: String) throws -> String? {
            try v.map { try coerce($0, to: .string, key: key, source: source).string ?? "" }
        }
        let presetName = try name("preset", overrides["preset"], "command line") ?? preset ?? name("preset", yaml["preset"], yamlSource) ?? ""
        let presetValues: [String: SettingValue]
        do { presetValues = try TrainConfig.preset(presetName) } catch ConfigError.badValue(_, let key, let reason) {
            // Name where the preset was asked for (the settings file, or the command line).
            let from = preset != nil || overrides["preset"] != nil ? "command line" : yamlSource
            throw ConfigError.badValue(source: from == "command line" ? "--preset" : from, key: key, reason: reason)
        }
        var modelSource = "command line"
        var modelName = try name("model", overrides["model"], "command line") ?? model?.rawValue
        if modelName == nil, let m = try name("model", yaml["model"], yamlSource) { modelName = m; modelSource = yamlSource }
        if modelName == nil, let m = presetValues["model"]?.string { modelName = m; modelSource = "preset \(presetName)" }
        let chosen = modelName ?? ModelKind.wgangp3d.rawValue
        guard let kind = ModelKind(rawValue: chosen) else {
            throw ConfigError.badValue(source: modelSource, key: "model", reason: "unknown model '\(chosen)' (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let pm = presetValues["model"]?.string, pm != kind.rawValue {
            throw ConfigError.badValue(source: modelSource, key: "model", reason: "preset '\(presetName)' is a \(pm) model, but model \(kind.rawValue) was asked for")
        }
        var dict = try defaults(for: kind).settings()
        var sources: [String: String] = ["model": modelSource]
        let presetSource = preset != nil || overrides["preset"] != nil ? "command line" : yamlSource
        if !presetName.isEmpty { sources["preset"] = presetSource }
        try merge(&dict, presetValues, source: "preset \(presetName) (chosen in \(presetSource))", sources: &sources)
        try merge(&dict, yaml, source: yamlSource, sources: &sources)
        var over = overrides
        if let m = model { over["model"] = .string(m.rawValue) }
        if let p = preset { over["preset"] = .string(p) }
        try merge(&dict, over, source: "command line", sources: &sources)
        dict["model"] = .string(kind.rawValue)
        dict["preset"] = .string(presetName)
        // Named choices are checked before decoding, so the error names the setting and its source.
        func choice<C: SettingChoice>(_: C.Type, _ key: String) throws {
            guard let v = dict[key]?.string, C(rawValue: v) == nil else { return }
            throw ConfigError.badValue(source: sources[key] ?? "config", key: key, reason: "must be \(C.choiceList), got '\(v)'")
        }
        try choice(ZDistribution.self, "z_distribution")
        try choice(CriticNorm.self, "critic_norm")
        try choice(OptimizerKind.self, "optimizer")
        try choice(LossKind.self, "loss")
        let c: TrainConfig
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            c = try JSONDecoder().decode(TrainConfig.self, from: encoder.encode(dict))
        } catch {
            throw ConfigError.invalid("the settings could not be assembled (\(error))")
        }
        try c.validate(sources: sources)
        return c
    }

    /// Largest configuration file read (a settings file is a few hundred bytes).
    static let maxSettingsFileBytes = 1 << 20

    /// A scalar's value as Yams constructs it (Int, Double, Bool, null or text), except text with
    /// a ':' in it: Yams 5 reads it as a YAML 1.1 base-60 integer when it looks like one ("1:30") or
    /// is tagged `!!int`, with trapping arithmetic, so a long one ("504467440737095516:15", or
    /// `!!int` on any text; both found by fuzzing) killed the process. Such text stays a string
    /// here (a path or class name keeps its meaning; a number setting refuses it by name). Anything
    /// else Yams would construct (a YAML 1.1 timestamp, binary) is the text as written.
    static func plainValue(_ node: Node) -> SettingValue {
        guard case .scalar(let s) = node else { return .string("") }
        if s.string.contains(":") { return .string(s.string) }
        switch node.any {
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as Double: return .double(d)
        case is NSNull: return .null
        default: return .string(s.string)
        }
    }

    /// Reads a YAML settings file: one mapping of setting names to plain values or flat lists of
    /// plain values (anything deeper, duplicate or unknown names are refused, naming the file).
    static func loadSettings(_ f: String) throws -> [String: SettingValue] {
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: f)) } catch {
            throw ConfigError.unreadable(file: f, reason: (error as NSError).localizedDescription)
        }
        guard bytes.count <= maxSettingsFileBytes else {
            throw ConfigError.unreadable(file: f, reason: "\(bytes.count) bytes; a settings file is at most \(maxSettingsFileBytes) bytes")
        }
        guard let text = String(data: bytes, encoding: .utf8) else { throw ConfigError.unreadable(file: f, reason: "not UTF-8 text") }
        if text.contains("\0") { throw ConfigError.unreadable(file: f, reason: "not a text file (it holds NUL bytes)") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw ConfigError.unreadable(file: f, reason: "not valid YAML: \(error)") }
        guard let root else { return [:] }   // an empty file: no settings
        guard case .mapping(let map) = root else {
            throw ConfigError.unreadable(file: f, reason: "the top level must be a mapping of settings (key: value lines)")
        }
        var out: [String: SettingValue] = [:]
        for (k, v) in map {
            guard case .scalar(let ks) = k else { throw ConfigError.unreadable(file: f, reason: "a setting name must be a plain word, not a list or mapping") }
            let key = ks.string
            guard valueKinds[key] != nil else { throw ConfigError.unknownKey(source: f, key: key, known: keys) }
            guard out[key] == nil else { throw ConfigError.badValue(source: f, key: key, reason: "given more than once") }
            switch v {
            case .scalar(let text) where valueKinds[key] == .string:
                // A text setting keeps the text as written: `class: 007` is "007", not 7.
                out[key] = plainValue(v) == .null ? .null : .string(text.string)
            case .scalar: out[key] = plainValue(v)
            case .sequence(let seq):
                out[key] = .list(try seq.map { e -> SettingValue in
                    guard case .scalar = e else { throw ConfigError.badValue(source: f, key: key, reason: "expected a flat list of values, found a nested list or mapping") }
                    return plainValue(e)
                })
            default:
                throw ConfigError.badValue(source: f, key: key, reason: "expected a value or a list, found a mapping")
            }
        }
        return out
    }

    /// Every setting by its YAML name, as written into checkpoints.
    public func settings() throws -> [String: SettingValue] {
        try JSONDecoder().decode([String: SettingValue].self, from: JSONEncoder().encode(self))
    }

    static func merge(_ dict: inout [String: SettingValue], _ over: [String: SettingValue], source: String) throws {
        var sources: [String: String] = [:]
        try merge(&dict, over, source: source, sources: &sources)
    }

    /// Merges `over` into `dict`, recording in `sources` where each setting came from.
    static func merge(_ dict: inout [String: SettingValue], _ over: [String: SettingValue], source: String, sources: inout [String: String]) throws {
        // Sorted: the first bad setting reported is the same on every run.
        for (k, v) in over.sorted(by: { $0.key < $1.key }) {
            guard dict[k] != nil, let kind = valueKinds[k] else { throw ConfigError.unknownKey(source: source, key: k, known: keys) }
            dict[k] = try coerce(v, to: kind, key: k, source: source)
            sources[k] = source
        }
    }

    enum ValueKind { case string, int, uint, double, bool, intList }
    static let valueKinds: [String: ValueKind] = [
        "model": .string, "preset": .string, "data": .string, "out": .string, "class": .string, "conditional": .bool,
        "epochs": .int, "batch": .int, "max_steps": .int, "seed": .uint, "threads": .int, "z_dim": .int,
        "z_distribution": .string, "g_channels": .intList, "d_channels": .intList, "critic_norm": .string,
        "optimizer": .string, "lr_g": .double, "lr_d": .double, "beta1": .double, "beta2": .double, "rms_alpha": .double,
        "n_critic": .int, "gp_lambda": .double, "clip": .double, "init_std": .double, "checkpoint_every": .int,
        "sample_count": .int, "plot_every": .int,
        "augment": .string, "augment_speed": .double, "g_ema": .double, "sle": .int, "reconstruction_weight": .double,
        "precision": .string, "sync_bn": .bool, "lowres_factor": .int, "slab_depth": .int,
        "loss": .string,
    ]

    /// Converts a YAML / command-line value to the setting's type (YAML 1.1 reads 1e-4 as a string).
    /// Numbers must be finite; integers must fit (no silent rounding or wrapping).
    static func coerce(_ v: SettingValue, to kind: ValueKind, key: String, source: String) throws -> SettingValue {
        func bad(_ why: String) -> ConfigError { .badValue(source: source, key: key, reason: why) }
        func shown(_ x: SettingValue) -> String { let s = x.description; return s.count > 60 ? String(s.prefix(60)) + "…" : s }
        let text = v.string?.trimmingCharacters(in: .whitespaces)
        if case .list = v, kind != .intList { throw bad("expected a single value, got a list \(shown(v))") }
        switch kind {
        case .string:
            if v == .null { return .string("") }
            return .string(text ?? v.description)
        case .bool:
            if case .bool = v { return v }
            switch text?.lowercased() { case "true", "yes", "on": return .bool(true); case "false", "no", "off": return .bool(false); default: throw bad("expected true or false, got '\(shown(v))'") }
        case .int:
            switch v {
            case .int: return v
            case .bool: throw bad("expected an integer, got \(v)")
            case .uint(let u):
                if let i = Int(exactly: u) { return .int(i) }
                throw bad("\(u) is out of range")
            default: break
            }
            if let t = text, let i = Int(t) { return .int(i) }
            let real: Double?
            if case .double(let d) = v { real = d } else { real = text.flatMap(Double.init) }
            if let d = real {
                guard d.isFinite else { throw bad("expected an integer, got \(d)") }
                if let i = Int(exactly: d) { return .int(i) }
                throw bad(d == d.rounded() ? "\(d) is out of range" : "expected an integer, got \(d)")
            }
            throw bad("expected an integer, got '\(shown(v))'")
        case .uint:
            switch v {
            case .uint: return v
            case .int(let i): if i >= 0 { return .uint(UInt64(i)) }; throw bad("expected a non-negative integer, got \(i)")
            case .bool: throw bad("expected a non-negative integer, got \(v)")
            default: break
            }
            if let t = text, let u = UInt64(t) { return .uint(u) }
            throw bad("expected a non-negative integer up to \(UInt64.max), got '\(shown(v))'")
        case .double:
            let d: Double
            switch v {
            case .int(let i): d = Double(i)
            case .uint(let u): d = Double(u)
            case .double(let x): d = x
            case .bool: throw bad("expected a number, got \(v)")
            default:
                guard let t = text, let x = Double(t) else { throw bad("expected a number, got '\(shown(v))'") }
                d = x
            }
            guard d.isFinite else { throw bad("expected a finite number, got \(d)") }
            return .double(d)
        case .intList:
            switch v {
            case .list(let a):
                return .list(try a.map { x -> SettingValue in
                    if case .int = x { return x }
                    if let s = x.string, let i = Int(s.trimmingCharacters(in: .whitespaces)) { return .int(i) }
                    throw bad("expected a list of integers, got \(shown(v))")
                })
            case .int: return .list([v])
            default: break
            }
            if let t = text {
                let parts = t.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "[" || $0 == "]" }).map { Int($0) }
                guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw bad("expected comma-separated integers, got '\(shown(.string(t)))'") }
                return .list(parts.map { .int($0!) })
            }
            throw bad("expected a list of integers, got '\(shown(v))'")
        }
    }

    /// Upper bounds that keep sizes, step counts and allocations of a run representable (far above
    /// any useful value; the paper's widest layer has 1024 channels).
    public static let maxWidth = 16384, maxLayers = 8, maxZDim = 65536, maxBatch = 65536, maxEpochs = 1_000_000
    public static let maxCritic = 1000, maxThreads = 1024

    /// Checks types, ranges and combinations; the error names the setting and where it came from.
    public func validate() throws { try validate(sources: [:]) }

    /// As `validate()`, naming `sources[key]` (the file or "command line" that set it) in the error.
    public func validate(sources: [String: String]) throws {
        // A check across settings names where the first of them that was set came from.
        func bad(_ k: String, _ r: String, with related: [String] = []) -> ConfigError {
            .badValue(source: ([k] + related).lazy.compactMap { sources[$0] }.first ?? "config", key: k, reason: r)
        }
        func positive(_ k: String, _ x: Double, max: Double) throws {
            guard x.isFinite, x > 0, x <= max else { throw bad(k, "must be a positive finite number up to \(max), got \(x)") }
        }
        guard (1...TrainConfig.maxEpochs).contains(epochs) else { throw bad("epochs", "must be 1…\(TrainConfig.maxEpochs), got \(epochs)") }
        guard (1...TrainConfig.maxBatch).contains(batch) else { throw bad("batch", "must be 1…\(TrainConfig.maxBatch), got \(batch)") }
        guard maxSteps >= 0 else { throw bad("max_steps", "must not be negative, got \(maxSteps)") }
        guard (0...TrainConfig.maxThreads).contains(threads) else { throw bad("threads", "must be 0 (all cores)…\(TrainConfig.maxThreads), got \(threads)") }
        guard (1...TrainConfig.maxZDim).contains(zDim) else { throw bad("z_dim", "must be 1…\(TrainConfig.maxZDim), got \(zDim)") }
        guard (1...TrainConfig.maxLayers).contains(gChannels.count), gChannels.allSatisfy({ (1...TrainConfig.maxWidth).contains($0) }) else {
            throw bad("g_channels", "needs 1…\(TrainConfig.maxLayers) widths of 1…\(TrainConfig.maxWidth), got \(gChannels)")
        }
        guard dChannels.count == gChannels.count, dChannels.allSatisfy({ (1...TrainConfig.maxWidth).contains($0) }) else {
            throw bad("d_channels", "needs \(gChannels.count) widths of 1…\(TrainConfig.maxWidth) (one per strided layer, as many as g_channels), got \(dChannels)", with: ["g_channels"])
        }
        if criticNorm == .batch, let refusal = loss.objective.batchNormCriticRefusal {
            throw bad("critic_norm", refusal, with: ["model", "preset", "loss"])
        }
        try positive("lr_g", lrG, max: 1)
        try positive("lr_d", lrD, max: 1)
        guard beta1.isFinite, (0..<1).contains(beta1) else { throw bad("beta1", "must be in [0, 1), got \(beta1)") }
        guard beta2.isFinite, (0..<1).contains(beta2) else { throw bad("beta2", "must be in [0, 1), got \(beta2)") }
        guard rmsAlpha.isFinite, (0..<1).contains(rmsAlpha) else { throw bad("rms_alpha", "must be in [0, 1), got \(rmsAlpha)") }
        guard (1...TrainConfig.maxCritic).contains(nCritic) else { throw bad("n_critic", "must be 1…\(TrainConfig.maxCritic), got \(nCritic)") }
        guard gpLambda.isFinite, gpLambda >= 0 else { throw bad("gp_lambda", "must be a finite number ≥ 0, got \(gpLambda)") }
        try positive("clip", clip, max: 1e6)
        try positive("init_std", initStd, max: 1e3)
        guard checkpointEvery >= 1 else { throw bad("checkpoint_every", "must be at least 1, got \(checkpointEvery)") }
        guard sampleCount >= 1, sampleCount <= 64 else { throw bad("sample_count", "must be 1…64, got \(sampleCount)") }
        guard plotEvery >= 0 else { throw bad("plot_every", "must not be negative, got \(plotEvery)") }
        _ = try AugmentPolicy.parse(augment ?? "", source: sources["augment"] ?? "config")
        guard augmentSpeedImages.isFinite, augmentSpeedImages >= 1 else { throw bad("augment_speed", "must be a number of real images ≥ 1 (how many it takes the adaptive augmentation probability to go from 0 to 1), got \(augmentSpeedImages)") }
        guard generatorEMADecay.isFinite, (0..<1).contains(generatorEMADecay) else { throw bad("g_ema", "must be in [0, 1) (0: no moving average; FastGAN, StyleGAN: 0.999), got \(generatorEMADecay)") }
        guard (0...TrainConfig.maxLayers).contains(skipExcitations) else { throw bad("sle", "must be 0…\(gChannels.count) (one per up-sampling block at most), got \(skipExcitations)") }
        if let p = precision, ConvPrecision(rawValue: p) == nil {
            throw bad("precision", "must be one of \(ConvPrecision.allCases.map(\.rawValue).joined(separator: ", ")), got \(p)")
        }
        guard reconstructionWeightValue.isFinite, reconstructionWeightValue >= 0 else { throw bad("reconstruction_weight", "must be a finite number ≥ 0, got \(reconstructionWeightValue)") }
        let f = lowResolutionFactor
        guard f >= 2, f <= 256, f & (f - 1) == 0 else { throw bad("lowres_factor", "must be a power of two from 2 to 256, got \(f)") }
        guard slabDepthValue >= 0 else { throw bad("slab_depth", "must be 0 (about 1/8 of the first axis) or a number of rows, got \(slabDepthValue)") }
        if conditional && !classFilter.isEmpty { throw bad("class", "a conditional model trains on every class; drop --class or --conditional", with: ["conditional"]) }
    }

    /// The configuration as YAML (keys in declaration order; strings quoted, lists in flow style).
    public func yaml() throws -> String {
        let d = try settings()
        var out = "# PETGAN \(PETGANVersion.string) resolved training configuration\n"
        for k in TrainConfig.keys {
            guard let v = d[k], let kind = TrainConfig.valueKinds[k] else { continue }
            let text: String
            switch (kind, v) {
            case (.string, _): text = TrainConfig.yamlQuoted(v.string ?? v.description)
            case (.bool, _): text = v == .bool(true) ? "true" : "false"
            case (.uint, _): text = k == "seed" ? "\(seed)" : v.description
            case (.int, _): text = v.description
            case (.double, _):
                // JSON writes an integral Double without its ".0", so it may read back as an Int.
                let x: Double
                switch v { case .int(let i): x = Double(i); case .uint(let u): x = Double(u); case .double(let y): x = y; default: x = 0 }
                text = x == x.rounded() && Swift.abs(x) < 1e6 ? String(format: "%.1f", x) : "\(x)"
            case (.intList, .list(let a)): text = "[" + a.map(\.description).joined(separator: ", ") + "]"
            case (.intList, _): text = "[" + v.description + "]"
            }
            out += "\(k): \(text)\n"
        }
        return out
    }

    /// A YAML double-quoted scalar that reads back as exactly `s` (escapes, control characters).
    static func yamlQuoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                // Other C0/C1 controls, DEL, the line/paragraph separators and the BOM: \uXXXX.
                if u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 || u.value == 0xFEFF {
                    out += String(format: "\\u%04X", u.value)
                } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }

    /// Short tag for run directory names: model, then class or "cond".
    public var runTag: String {
        var t = preset.isEmpty ? model.rawValue : preset
        if conditional { t += "-cond" } else if !classFilter.isEmpty { t += "-" + classFilter }
        return t
    }
}
