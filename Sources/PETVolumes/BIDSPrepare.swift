// `petgan prepare --bids DIR`: a BIDS dataset's PET images, labelled from participants.tsv (or a
// subject's sessions.tsv), as the rows DatasetPreparer stores, each with its BIDS record.
//
//   var r = BIDSPrepareRequest(root: "ds"); r.labelColumn = "diagnosis"
//   r.labelMap = try BIDSLabelMap.parse("CN=NC,EMCI=MCI,LMCI=MCI,AD=AD")
//   let s = try BIDSPrepare.select(r)     // s.rows, s.warnings (skips, with counts)
//
// What is skipped with a warning (and is an error with `strict`): an image whose subject has no row
// in participants.tsv, an image whose label cell is empty or n/a, a subject folder without a PET
// image matching the query. Always an error: no dataset_description.json, no participants.tsv or
// no label column, a label value the map does not name (map it to "-" to drop it on purpose), mixed
// Units, nothing left to prepare.
import Foundation

/// participants.tsv values → class names, e.g. "CN=NC,EMCI=MCI,LMCI=MCI,AD=AD"; "X=-" drops X.
public struct BIDSLabelMap: Equatable {
    /// Value → class; nil class: drop.
    public var classes: [String: String?]
    /// The value marking a dropped label.
    public static let drop = "-"

    public static func parse(_ text: String) throws -> BIDSLabelMap {
        var m: [String: String?] = [:]
        for pair in text.split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw PrepareError.invalidOption("--label-map: '\(pair)' is not VALUE=CLASS (e.g. CN=NC,EMCI=MCI,LMCI=MCI,AD=AD; VALUE=- drops VALUE)")
            }
            guard m[kv[0]] == nil else { throw PrepareError.invalidOption("--label-map: '\(kv[0])' is mapped twice") }
            m[kv[0]] = kv[1] == drop ? String?.none : kv[1]
        }
        guard !m.isEmpty else { throw PrepareError.invalidOption("--label-map: no VALUE=CLASS pairs") }
        return BIDSLabelMap(classes: m)
    }
}

/// The merged sidecars a BIDS image inherits (frame timing is read from it, not from <stem>.json).
public struct InheritedSidecar: Equatable {
    public var object: [String: Any]
    /// The files merged, for messages ("sub-01/pet/sub-01_pet.json").
    public var source: String
    public static func == (a: InheritedSidecar, b: InheritedSidecar) -> Bool {
        a.source == b.source && NSDictionary(dictionary: a.object).isEqual(to: b.object)
    }
}

public struct BIDSPrepareRequest {
    public var root: String
    public var query = BIDSQuery()
    /// The participants.tsv (or sessions.tsv) column holding each subject's class.
    public var labelColumn = "diagnosis"
    public var labelMap: BIDSLabelMap?
    /// Every skip becomes an error.
    public var strict = false
    public init(root: String) { self.root = root }
}

/// What the store records about each source image (one JSON per volume in /bids/sources).
public struct BIDSSourceRecord: Codable, Equatable {
    /// Relative to the dataset root.
    public var path: String
    public var entities: [String: String]
    /// The value of the label column, and the class it became.
    public var labelValue: String
    public var className: String
    /// Which table the label came from (participants.tsv or sub-X/sub-X_sessions.tsv).
    public var labelSource: String
    /// The subject's participants.tsv row.
    public var participant: [String: String]
    /// The sidecars the image inherits, shallowest first.
    public var sidecars: [String]
    public var units: String?
    public var tracerName: String?
}

public struct BIDSSelection {
    public var rows: [LabelledFile]
    public var records: [BIDSSourceRecord]
    /// One line each, without the "petgan: warning: " prefix.
    public var warnings: [String]
    /// Units of every selected image (nil when no sidecar names them).
    public var units: String?
    /// Counts for the summary line.
    public var droppedByMap: Int
    public var filteredOut: Int
    public var datasetRoot: String
}

public enum BIDSPrepare {
    public static func select(_ req: BIDSPrepareRequest) throws -> BIDSSelection {
        let layout = try BIDSLayout.scan(req.root, query: req.query)
        var warnings: [String] = []
        func skipOrFail(_ path: String, _ what: String, _ items: [String]) throws {
            guard !items.isEmpty else { return }
            let shown = items.prefix(8).joined(separator: ", ") + (items.count > 8 ? ", …" : "")
            if req.strict { throw BIDSError.badFile(path: path, reason: "\(what): \(shown) (--strict)") }
            warnings.append("\(path): \(what), skipped \(items.count): \(shown) (--strict makes this an error)")
        }
        // participants.tsv: the derivative folder's when it has one, else the raw dataset's.
        let derivTable = (layout.datasetRoot as NSString).appendingPathComponent("participants.tsv")
        let tablePath = req.query.derivatives != nil && FileManager.default.fileExists(atPath: derivTable)
            ? derivTable : (req.root as NSString).appendingPathComponent("participants.tsv")
        guard FileManager.default.fileExists(atPath: tablePath) else {
            throw BIDSError.badFile(path: tablePath, reason: "does not exist: prepare --bids takes each subject's class from its --label-column (\(req.labelColumn))")
        }
        let table = try BIDSTable.read(tablePath)
        guard table.columnIndex("participant_id") != nil else {
            throw BIDSError.badFile(path: tablePath, reason: "has no participant_id column (columns: \(table.columns.joined(separator: ", ")))")
        }
        guard table.columnIndex(req.labelColumn) != nil else {
            throw BIDSError.badFile(path: tablePath, reason: "has no column '\(req.labelColumn)' for --label-column (columns: \(table.columns.joined(separator: ", ")))")
        }
        try skipOrFail(layout.datasetRoot, "subject folder(s) without a PET image\(req.query.description.isEmpty ? "" : " matching \(req.query.description)")", layout.subjectsWithoutPET)
        var rows: [LabelledFile] = [], records: [BIDSSourceRecord] = []
        var noRow: [String] = [], noLabel: [String] = [], unmapped: [String: [String]] = [:]
        var dropped = 0
        var unitsSeen: [String: String] = [:]   // Units → first file
        for img in layout.images {
            let sub = "sub-\(img.subject)"
            guard let participant = table.row(where: "participant_id", equals: sub) else { noRow.append(img.relativePath); continue }
            // A session's own value (sub-X/sub-X_sessions.tsv with the label column) overrides the subject's.
            var value = participant[req.labelColumn] ?? ""
            var source = (tablePath as NSString).lastPathComponent
            if let ses = img.name["ses"] {
                let sessions = ((req.root as NSString).appendingPathComponent(sub) as NSString).appendingPathComponent("\(sub)_sessions.tsv")
                if FileManager.default.fileExists(atPath: sessions) {
                    let st = try BIDSTable.read(sessions)
                    if st.columnIndex(req.labelColumn) != nil, let r = st.row(where: "session_id", equals: "ses-\(ses)"), let v = r[req.labelColumn], !v.isEmpty, v != "n/a" {
                        value = v; source = "\(sub)/\(sub)_sessions.tsv"
                    }
                }
            }
            guard !value.isEmpty, value != "n/a" else { noLabel.append("\(sub) (\(img.relativePath))"); continue }
            var className = value
            if let map = req.labelMap {
                guard let mapped = map.classes[value] else { unmapped[value, default: []].append(sub); continue }
                guard let c = mapped else { dropped += 1; continue }
                className = c
            }
            let units = img.string("Units")
            if let u = units, unitsSeen[u] == nil { unitsSeen[u] = img.relativePath }
            var row = LabelledFile(name: img.relativePath, path: img.path, label: className)
            row.inheritedSidecar = InheritedSidecar(object: img.sidecar, source: img.sidecarFiles.joined(separator: " + "))
            rows.append(row)
            records.append(BIDSSourceRecord(path: img.relativePath, entities: img.name.entityDictionary, labelValue: value, className: className,
                                            labelSource: source, participant: participant, sidecars: img.sidecarFiles, units: units,
                                            tracerName: img.string("TracerName")))
        }
        if !unmapped.isEmpty {
            let list = unmapped.keys.sorted().map { "'\($0)' (\(unmapped[$0]!.count) image(s), e.g. \(unmapped[$0]![0]))" }.joined(separator: ", ")
            throw BIDSError.badFile(path: tablePath, reason: "--label-map does not name the \(req.labelColumn) value(s) \(list); add VALUE=CLASS, or VALUE=- to leave them out")
        }
        try skipOrFail(tablePath, "image(s) whose subject has no participant_id row", noRow)
        try skipOrFail(tablePath, "image(s) with an empty or n/a \(req.labelColumn)", noLabel)
        if unitsSeen.count > 1 {
            let list = unitsSeen.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            throw BIDSError.badFile(path: layout.datasetRoot, reason: "the selected images have different Units in their _pet.json: \(list); select one kind with --session/--tracer/--derivatives")
        }
        guard !rows.isEmpty else {
            throw BIDSError.nothingSelected(path: layout.datasetRoot, reason: "no PET image left to prepare (\(layout.images.count) found\(req.query.description.isEmpty ? "" : " matching \(req.query.description)"), \(layout.filteredOut) filtered out, \(dropped) dropped by --label-map, \(noRow.count + noLabel.count) without a label)")
        }
        return BIDSSelection(rows: rows, records: records, warnings: warnings, units: unitsSeen.keys.first,
                             droppedByMap: dropped, filteredOut: layout.filteredOut, datasetRoot: layout.datasetRoot)
    }
}
