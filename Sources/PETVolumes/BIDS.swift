// BIDS (Brain Imaging Data Structure, with its PET extension): file names and their entities,
// TSV tables (participants.tsv), and the JSON files PETGAN reads and writes as Codable structs.
//
//   let n = BIDSFileName.parse("sub-01_ses-bl_trc-FDG_pet.nii.gz")!   // n["ses"] == "bl", n.suffix == "pet"
//   let t = try BIDSTable.read("ds/participants.tsv")                  // t.column("diagnosis")
//   try BIDSJSON.write(BIDSDatasetDescription(name: "x", datasetType: .raw), to: "ds/dataset_description.json")
//
// The layout of a dataset (which PET images, their inherited sidecars) is BIDSLayout.swift; what
// `prepare --bids` makes of it is BIDSPrepare.swift; writing datasets is BIDSWriter.swift.
import Foundation
import PETTensor

/// The BIDS version PETGAN writes (the schema bids-validator-deno 2.x checks against).
public let bidsVersionWritten = "1.10.0"

public enum BIDSError: Error, CustomStringConvertible, Equatable {
    /// `path` is not (a part of) a BIDS dataset the way the option needs it.
    case notBIDS(path: String, reason: String)
    /// A file of the dataset (participants.tsv, a sidecar, a JSON file) is missing or wrong.
    case badFile(path: String, reason: String)
    /// Nothing matched the request.
    case nothingSelected(path: String, reason: String)
    /// An output folder cannot be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notBIDS(p, r): return "\(p): not a BIDS dataset: \(r)"
        case let .badFile(p, r): return "\(p): \(r)"
        case let .nothingSelected(p, r): return "\(p): \(r)"
        case let .writeFailed(p, r): return "\(p): \(r)"
        }
    }
}

/// A BIDS file name: key-value entities, a suffix and an extension, e.g.
/// sub-01_ses-bl_trc-FDG_rec-acdyn_run-1_pet.nii.gz.
public struct BIDSFileName: Equatable, Codable, CustomStringConvertible {
    /// Entities in file order (key, value).
    public var entities: [BIDSEntity]
    public var suffix: String
    /// With the dot: ".nii.gz", ".json", ".tsv".
    public var fileExtension: String

    /// The order BIDS gives the entities PET files use (the specification's entity table).
    public static let entityOrder = ["sub", "ses", "task", "trc", "rec", "run", "space", "res", "den", "label", "desc"]

    public init(entities: [BIDSEntity], suffix: String, fileExtension: String) {
        self.entities = entities; self.suffix = suffix; self.fileExtension = fileExtension
    }

    /// Parses a file name (no folder); nil when it is not entity_entity_..._suffix.ext with
    /// alphanumeric labels.
    public static func parse(_ fileName: String) -> BIDSFileName? {
        guard let dot = fileName.firstIndex(of: ".") else { return nil }
        let stem = fileName[..<dot], ext = String(fileName[dot...])
        var parts = stem.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, let suffix = parts.popLast(), isLabel(suffix) else { return nil }
        var entities: [BIDSEntity] = []
        for p in parts {
            let kv = p.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, isLabel(kv[0]), isLabel(kv[1]) else { return nil }
            entities.append(BIDSEntity(key: kv[0], value: kv[1]))
        }
        return BIDSFileName(entities: entities, suffix: suffix, fileExtension: ext)
    }

    /// A BIDS label: one or more ASCII letters or digits.
    public static func isLabel(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { ($0.value < 128) && CharacterSet.alphanumerics.contains($0) }
    }

    /// Letters and digits of `text` only (a subject id or class made into a BIDS label).
    public static func label(from text: String) -> String {
        String(text.unicodeScalars.filter { $0.value < 128 && CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    public subscript(key: String) -> String? { entities.first(where: { $0.key == key })?.value }

    public var fileName: String { (entities.map { "\($0.key)-\($0.value)" } + [suffix]).joined(separator: "_") + fileExtension }
    public var description: String { fileName }

    /// The entities as a dictionary (for records and comparisons).
    public var entityDictionary: [String: String] { Dictionary(entities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) }

    /// A name from entities given as (key, value), ordered as BIDS orders them (unknown keys last).
    public static func make(_ pairs: [(String, String)], suffix: String, fileExtension: String) -> BIDSFileName {
        let rank = { (k: String) in entityOrder.firstIndex(of: k) ?? entityOrder.count }
        let sorted = pairs.enumerated().sorted { (rank($0.element.0), $0.offset) < (rank($1.element.0), $1.offset) }.map { BIDSEntity(key: $0.element.0, value: $0.element.1) }
        return BIDSFileName(entities: sorted, suffix: suffix, fileExtension: fileExtension)
    }
}

public struct BIDSEntity: Equatable, Codable {
    public var key: String
    public var value: String
    public init(key: String, value: String) { self.key = key; self.value = value }
}

/// A BIDS TSV table (participants.tsv): a header row and rows of tab-separated cells; "n/a" is a
/// missing value.
public struct BIDSTable: Equatable {
    public var columns: [String]
    public var rows: [[String]]
    /// Where it was read from (for messages), empty when built in memory.
    public var path: String = ""

    public init(columns: [String], rows: [[String]]) { self.columns = columns; self.rows = rows }

    public static func read(_ path: String) throws -> BIDSTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BIDSError.badFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")
        }
        let lines = String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) }
        guard let header = lines.first, !header.isEmpty else { throw BIDSError.badFile(path: path, reason: "is empty (a TSV needs a header row)") }
        let cols = header.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var rows: [[String]] = []
        for (n, line) in lines.dropFirst().enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == cols.count else {
                throw BIDSError.badFile(path: path, reason: "line \(n + 2) has \(cells.count) tab-separated cells, the header has \(cols.count) (\(cols.joined(separator: ", ")))")
            }
            rows.append(cells)
        }
        var t = BIDSTable(columns: cols, rows: rows)
        t.path = path
        return t
    }

    public func columnIndex(_ name: String) -> Int? { columns.firstIndex(of: name) }

    /// The row whose `key` column equals `value`, as column → cell.
    public func row(where key: String, equals value: String) -> [String: String]? {
        guard let k = columnIndex(key), let r = rows.first(where: { $0[k] == value }) else { return nil }
        return Dictionary(zip(columns, r).map { ($0, $1) }, uniquingKeysWith: { a, _ in a })
    }

    /// Tab-separated text with a trailing newline.
    public var text: String {
        ([columns] + rows).map { $0.joined(separator: "\t") }.joined(separator: "\n") + "\n"
    }
}

/// dataset_description.json.
public struct BIDSDatasetDescription: Codable, Equatable {
    public enum DatasetType: String, Codable { case raw, derivative }
    public var name: String
    public var bidsVersion: String
    public var datasetType: DatasetType?
    public var license: String?
    public var authors: [String]?
    public var generatedBy: [BIDSGeneratedBy]?
    public var sourceDatasets: [BIDSSourceDataset]?
    public var howToAcknowledge: String?

    enum CodingKeys: String, CodingKey {
        case name = "Name", bidsVersion = "BIDSVersion", datasetType = "DatasetType", license = "License", authors = "Authors"
        case generatedBy = "GeneratedBy", sourceDatasets = "SourceDatasets", howToAcknowledge = "HowToAcknowledge"
    }

    public init(name: String, datasetType: DatasetType, bidsVersion: String = bidsVersionWritten) {
        self.name = name; self.datasetType = datasetType; self.bidsVersion = bidsVersion
    }
}

public struct BIDSGeneratedBy: Codable, Equatable {
    public var name: String
    public var version: String?
    public var description: String?
    public var codeURL: String?
    enum CodingKeys: String, CodingKey { case name = "Name", version = "Version", description = "Description", codeURL = "CodeURL" }
    public init(name: String, version: String? = nil, description: String? = nil) { self.name = name; self.version = version; self.description = description }
}

public struct BIDSSourceDataset: Codable, Equatable {
    public var url: String?
    public var doi: String?
    public var version: String?
    enum CodingKeys: String, CodingKey { case url = "URL", doi = "DOI", version = "Version" }
    public init(url: String? = nil, doi: String? = nil, version: String? = nil) { self.url = url; self.doi = doi; self.version = version }
}

/// One column of participants.json (what a participants.tsv column means).
public struct BIDSColumnDescription: Codable, Equatable {
    public var description: String
    public var units: String?
    /// Value → meaning, for categorical columns.
    public var levels: [String: String]?
    enum CodingKeys: String, CodingKey { case description = "Description", units = "Units", levels = "Levels" }
    public init(_ description: String, units: String? = nil, levels: [String: String]? = nil) {
        self.description = description; self.units = units; self.levels = levels
    }
}

/// A number, or the string "n/a" where BIDS allows it (InjectedMass, SpecificRadioactivity of FDG).
public enum BIDSNumberOrNA: Codable, Equatable {
    case number(Double)
    case notApplicable

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        let s = try c.decode(String.self)
        guard s == "n/a" else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number or \"n/a\", found \"\(s)\"") }
        self = .notApplicable
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .notApplicable: try c.encode("n/a")
        }
    }
}

/// The _pet.json sidecar PETGAN writes: every field PET-BIDS marks REQUIRED (bidsschematools 2.0.1,
/// BIDS 1.11: rules/sidecars/pet.yaml PETHardware, PETRadioChemistry, PETTime, PETReconstruction and
/// the conditional ReconFilterSize), plus PETGAN's own record under "PETGAN".
public struct PETSidecar: Codable, Equatable {
    // Hardware
    public var manufacturer: String
    public var manufacturersModelName: String
    public var units: String
    // Radiochemistry
    public var tracerName: String
    public var tracerRadionuclide: String
    public var injectedRadioactivity: Double
    public var injectedRadioactivityUnits: String
    public var injectedMass: BIDSNumberOrNA
    public var injectedMassUnits: String
    public var specificRadioactivity: BIDSNumberOrNA
    public var specificRadioactivityUnits: String
    public var modeOfAdministration: String
    // Time
    public var timeZero: String
    public var scanStart: Double
    public var injectionStart: Double
    public var frameTimesStart: [Double]
    public var frameDuration: [Double]
    // Reconstruction
    public var acquisitionMode: String
    public var imageDecayCorrected: Bool
    public var imageDecayCorrectionTime: Double
    public var reconMethodName: String
    public var reconMethodParameterLabels: [String]
    public var reconFilterType: String
    /// REQUIRED when ReconFilterType is not "none" (mm FWHM).
    public var reconFilterSize: Double?
    public var attenuationCorrection: String
    // Recommended / optional
    public var bodyPart: String?
    /// REQUIRED for derivative images (BIDS derivatives, common imaging fields).
    public var skullStripped: Bool?
    public var sources: [String]?
    public var spatialReference: String?
    /// What PETGAN knows about the image (class, seed, covariates, checkpoint, placeholders).
    public var petgan: PETGANRecord?

    enum CodingKeys: String, CodingKey {
        case manufacturer = "Manufacturer", manufacturersModelName = "ManufacturersModelName", units = "Units"
        case tracerName = "TracerName", tracerRadionuclide = "TracerRadionuclide", injectedRadioactivity = "InjectedRadioactivity"
        case injectedRadioactivityUnits = "InjectedRadioactivityUnits", injectedMass = "InjectedMass", injectedMassUnits = "InjectedMassUnits"
        case specificRadioactivity = "SpecificRadioactivity", specificRadioactivityUnits = "SpecificRadioactivityUnits"
        case modeOfAdministration = "ModeOfAdministration", timeZero = "TimeZero", scanStart = "ScanStart", injectionStart = "InjectionStart"
        case frameTimesStart = "FrameTimesStart", frameDuration = "FrameDuration", acquisitionMode = "AcquisitionMode"
        case imageDecayCorrected = "ImageDecayCorrected", imageDecayCorrectionTime = "ImageDecayCorrectionTime"
        case reconMethodName = "ReconMethodName", reconMethodParameterLabels = "ReconMethodParameterLabels"
        case reconFilterType = "ReconFilterType", reconFilterSize = "ReconFilterSize", attenuationCorrection = "AttenuationCorrection"
        case bodyPart = "BodyPart", skullStripped = "SkullStripped", sources = "Sources", spatialReference = "SpatialReference", petgan = "PETGAN"
    }

    /// The fields a synthetic FDG image has no measurement for, with the value PETGAN writes and
    /// why (docs/BIDS.md lists them too). Listed in every sidecar under PETGAN.placeholders.
    public static let syntheticPlaceholders: [String: String] = [
        "Manufacturer": "PETGAN: no scanner; the image is computed",
        "InjectedRadioactivity": "0 MBq: nothing was injected",
        "TimeZero": "00:00:00: no acquisition clock",
        "ScanStart": "0 s: no acquisition",
        "InjectionStart": "0 s: no injection",
        "FrameTimesStart": "[0]: one static frame",
        "FrameDuration": "[1] s: one static frame of unit length (values are SUVR, not counts, so no duration enters them)",
        "AcquisitionMode": "static: one frame",
        "ImageDecayCorrected": "true, time 0 s: the SUVR image has no decay to correct",
        "ReconMethodName": "none: no reconstruction, the image is synthesised in image space",
        "AttenuationCorrection": "none: no emission data",
    ]

    /// A static synthetic FDG image in `units` (SUVR) smoothed by a Gaussian of `fwhmMM` (the
    /// phantom's PSF; nil: no smoothing recorded). InjectedMass/SpecificRadioactivity(Units) are
    /// "n/a" as PET-BIDS asks for FDG.
    public static func syntheticFDG(units: String, modelName: String, fwhmMM: Double?, record: PETGANRecord) -> PETSidecar {
        var r = record
        r.placeholders = syntheticPlaceholders
        return PETSidecar(manufacturer: "PETGAN", manufacturersModelName: modelName, units: units,
                          tracerName: "FDG", tracerRadionuclide: "F18", injectedRadioactivity: 0, injectedRadioactivityUnits: "MBq",
                          injectedMass: .notApplicable, injectedMassUnits: "n/a", specificRadioactivity: .notApplicable, specificRadioactivityUnits: "n/a",
                          modeOfAdministration: "bolus", timeZero: "00:00:00", scanStart: 0, injectionStart: 0,
                          frameTimesStart: [0], frameDuration: [1], acquisitionMode: "static", imageDecayCorrected: true,
                          imageDecayCorrectionTime: 0, reconMethodName: "none", reconMethodParameterLabels: ["none"],
                          reconFilterType: fwhmMM == nil ? "none" : "Gaussian", reconFilterSize: fwhmMM,
                          attenuationCorrection: "none", bodyPart: "BRAIN", skullStripped: nil, sources: nil, spatialReference: nil, petgan: r)
    }
}

/// PETGAN's record in a sidecar: what made the image.
public struct PETGANRecord: Codable, Equatable {
    public var version: String = PETGANVersion.string
    /// "phantom" or "generate".
    public var command: String
    public var className: String
    public var seed: UInt64
    /// Phantom covariates (age, sex, MMSE, severity, PSF, noise, atrophy...).
    public var covariates: [String: BIDSValue]?
    public var checkpointSHA256: String?
    public var checkpointStep: Int?
    public var model: String?
    public var trainingData: String?
    public var placeholders: [String: String]?

    enum CodingKeys: String, CodingKey {
        case version = "Version", command = "Command", className = "Class", seed = "Seed", covariates = "Covariates"
        case checkpointSHA256 = "CheckpointSHA256", checkpointStep = "CheckpointStep", model = "Model", trainingData = "TrainingData"
        case placeholders = "Placeholders"
    }
    public init(command: String, className: String, seed: UInt64) { self.command = command; self.className = className; self.seed = seed }
}

/// A JSON scalar of a record (covariates: numbers and strings).
public enum BIDSValue: Codable, Equatable, CustomStringConvertible {
    case number(Double)
    case string(String)
    case bool(Bool)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .string(try c.decode(String.self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        }
    }
    /// As a TSV cell.
    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)   // shortest exact digits
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        }
    }
}

public enum BIDSJSON {
    /// Pretty, sorted-key JSON written to a temporary name and renamed.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try enc.encode(value) } catch { throw BIDSError.writeFailed(path: path, reason: "cannot encode JSON: \(error)") }
        try writeFile(data, to: path)
    }

    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let d = FileManager.default.contents(atPath: path) else { throw BIDSError.badFile(path: path, reason: "does not exist") }
        do { return try JSONDecoder().decode(T.self, from: d) } catch let DecodingError.keyNotFound(k, _) {
            throw BIDSError.badFile(path: path, reason: "\(k.stringValue) is missing")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw BIDSError.badFile(path: path, reason: "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw BIDSError.badFile(path: path, reason: "is not valid JSON of the expected layout (\(error))")
        }
    }

    /// Writes bytes under a temporary sibling name, then renames.
    public static func writeFile(_ data: Data, to path: String) throws {
        let tmp = temporaryName(for: path)
        do { try data.write(to: URL(fileURLWithPath: tmp)) } catch { throw BIDSError.writeFailed(path: path, reason: error.localizedDescription) }
        if rename(tmp, path) != 0 {
            unlink(tmp)
            throw BIDSError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
