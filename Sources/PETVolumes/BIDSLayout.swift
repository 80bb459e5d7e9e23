// The PET images of a BIDS dataset (raw, or one derivatives/<pipeline>/ folder), filtered by
// session, task, tracer and space, each with the sidecars it inherits.
//
//   var q = BIDSQuery(); q.session = "bl"; q.tracer = "FDG"
//   let layout = try BIDSLayout.scan("ds", query: q)    // layout.images: sub-*/[ses-*/]pet/*_pet.nii[.gz]
//   layout.images[0].sidecar["FrameDuration"]           // merged sidecar (inheritance principle)
//
// Inheritance principle (BIDS common principles): a *_pet.json at the dataset root, in sub-X/, in
// sub-X/ses-Y/ or beside the image applies to the image when its entities are a subset of the
// image's; deeper files and files naming more entities override shallower ones key by key.
import Foundation

/// Which PET images to take.
public struct BIDSQuery: Equatable {
    /// ses- label (without "ses-"); nil: every session.
    public var session: String?
    /// task- label; nil: any.
    public var task: String?
    /// trc- label, compared case-insensitively (FDG = fdg); nil: any.
    public var tracer: String?
    /// A folder under derivatives/ (e.g. "spm"); nil: the raw dataset.
    public var derivatives: String?
    /// space- label of derivative images (e.g. MNI152NLin2009cAsym); nil: any.
    public var space: String?
    public init() {}

    /// The filters as written on the command line, for messages and provenance.
    public var description: String {
        [session.map { "--session \($0)" }, task.map { "--task \($0)" }, tracer.map { "--tracer \($0)" },
         derivatives.map { "--derivatives \($0)" }, space.map { "--space \($0)" }].compactMap { $0 }.joined(separator: " ")
    }
}

/// One PET image of the dataset.
public struct BIDSPETImage {
    public var path: String
    /// Relative to the raw dataset root (derivatives/NAME/sub-…/… for derivative images).
    public var relativePath: String
    public var name: BIDSFileName
    /// sub- label.
    public var subject: String { name["sub"] ?? "" }
    /// The sidecars that apply, shallowest first (relative to the raw root).
    public var sidecarFiles: [String]
    /// The merged sidecar. JSON objects of arbitrary keys (the inheritance principle merges them
    /// key by key, whatever they hold), so a dictionary here; typed reads go through
    /// `FrameTiming.from(sidecar:)` and `string(_:)`.
    public var sidecar: [String: Any]

    /// A string field of the merged sidecar (Units, TracerName).
    public func string(_ key: String) -> String? { sidecar[key] as? String }
}

public struct BIDSLayout {
    /// The raw dataset root.
    public var root: String
    /// Where the images were looked for: `root` or root/derivatives/NAME.
    public var datasetRoot: String
    public var description: BIDSDatasetDescription
    public var images: [BIDSPETImage]
    /// sub- labels with a folder in `datasetRoot` but no PET image matching the query.
    public var subjectsWithoutPET: [String]
    /// Images left out by the query (session, task, tracer, space), for the summary line.
    public var filteredOut: Int

    /// Reads dataset_description.json and lists the PET images. Throws when `root` is not a BIDS
    /// dataset, the derivatives folder does not exist, or an option contradicts the layout.
    public static func scan(_ root: String, query: BIDSQuery) throws -> BIDSLayout {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw BIDSError.notBIDS(path: root, reason: "no such folder")
        }
        let descPath = (root as NSString).appendingPathComponent("dataset_description.json")
        guard fm.fileExists(atPath: descPath) else {
            throw BIDSError.notBIDS(path: root, reason: "dataset_description.json is missing (every BIDS dataset has one at its root)")
        }
        let description = try BIDSJSON.read(BIDSDatasetDescription.self, from: descPath)
        if query.space != nil && query.derivatives == nil {
            throw BIDSError.notBIDS(path: root, reason: "--space selects derivative images (space- entity); name the pipeline folder with --derivatives NAME")
        }
        var datasetRoot = root
        var prefix = ""
        if let d = query.derivatives {
            let derivs = (root as NSString).appendingPathComponent("derivatives")
            datasetRoot = (derivs as NSString).appendingPathComponent(d)
            prefix = "derivatives/\(d)/"
            guard fm.fileExists(atPath: datasetRoot, isDirectory: &isDir), isDir.boolValue else {
                let have = ((try? fm.contentsOfDirectory(atPath: derivs)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                throw BIDSError.notBIDS(path: datasetRoot, reason: "--derivatives \(d): no such folder (derivatives/ holds: \(have.isEmpty ? "nothing" : have.joined(separator: ", ")))")
            }
        }
        let subjects = ((try? fm.contentsOfDirectory(atPath: datasetRoot)) ?? []).filter { name in
            var d: ObjCBool = false
            return name.hasPrefix("sub-") && fm.fileExists(atPath: (datasetRoot as NSString).appendingPathComponent(name), isDirectory: &d) && d.boolValue
        }.sorted()
        guard !subjects.isEmpty else {
            throw BIDSError.notBIDS(path: datasetRoot, reason: "no sub-<label> folders")
        }
        let rootSidecars = petSidecars(in: datasetRoot, relative: prefix)
        var images: [BIDSPETImage] = []
        var without: [String] = []
        var filteredOut = 0
        for sub in subjects {
            let subDir = (datasetRoot as NSString).appendingPathComponent(sub)
            let subLabel = String(sub.dropFirst(4))
            let sessions = ((try? fm.contentsOfDirectory(atPath: subDir)) ?? []).filter { $0.hasPrefix("ses-") }.sorted()
            var folders: [(dir: String, rel: String, ses: String?)] = [(subDir, "\(prefix)\(sub)/", nil)]
            folders += sessions.map { ((subDir as NSString).appendingPathComponent($0), "\(prefix)\(sub)/\($0)/", String($0.dropFirst(4))) }
            let subSidecars = petSidecars(in: subDir, relative: "\(prefix)\(sub)/")
            var found = 0
            for f in folders {
                let petDir = (f.dir as NSString).appendingPathComponent("pet")
                guard let files = try? fm.contentsOfDirectory(atPath: petDir) else { continue }
                let sesSidecars = f.ses == nil ? [] : petSidecars(in: f.dir, relative: f.rel)
                let petSidecarsHere = petSidecars(in: petDir, relative: f.rel + "pet/")
                for file in files.sorted() where file.hasSuffix("_pet.nii.gz") || file.hasSuffix("_pet.nii") {
                    guard let name = BIDSFileName.parse(file), name["sub"] == subLabel else {
                        throw BIDSError.badFile(path: (petDir as NSString).appendingPathComponent(file), reason: "is not a BIDS name for subject \(sub) (expected sub-\(subLabel)[_ses-…][_trc-…]…_pet.nii.gz)")
                    }
                    if name["ses"] != f.ses {
                        throw BIDSError.badFile(path: (petDir as NSString).appendingPathComponent(file), reason: "its ses- entity (\(name["ses"] ?? "none")) does not match its folder (\(f.ses.map { "ses-\($0)" } ?? "no session folder"))")
                    }
                    let matches = (query.session == nil || name["ses"] == query.session)
                        && (query.task == nil || name["task"] == query.task)
                        && (query.tracer == nil || name["trc"]?.lowercased() == query.tracer!.lowercased())
                        && (query.space == nil || name["space"] == query.space)
                    guard matches else { filteredOut += 1; continue }
                    let candidates = rootSidecars + subSidecars + sesSidecars + petSidecarsHere
                    let applicable = candidates.filter { c in c.name.entities.allSatisfy { e in name[e.key] == e.value } }
                    // Shallower first; at one level, fewer entities first (more specific overrides).
                    var merged: [String: Any] = [:]
                    for c in applicable {
                        guard let d = fm.contents(atPath: c.path), let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
                            throw BIDSError.badFile(path: c.path, reason: "is not a JSON object")
                        }
                        merged.merge(obj) { _, new in new }
                    }
                    images.append(BIDSPETImage(path: (petDir as NSString).appendingPathComponent(file), relativePath: f.rel + "pet/" + file,
                                               name: name, sidecarFiles: applicable.map(\.relative), sidecar: merged))
                    found += 1
                }
            }
            if found == 0 { without.append(sub) }
        }
        return BIDSLayout(root: root, datasetRoot: datasetRoot, description: description, images: images,
                          subjectsWithoutPET: without, filteredOut: filteredOut)
    }

    /// *_pet.json files directly in `dir` whose names parse as BIDS, fewer entities first.
    private static func petSidecars(in dir: String, relative: String) -> [(path: String, relative: String, name: BIDSFileName)] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.filter { $0.hasSuffix("_pet.json") || $0 == "pet.json" }.compactMap { f -> (String, String, BIDSFileName)? in
            let name = f == "pet.json" ? BIDSFileName(entities: [], suffix: "pet", fileExtension: ".json") : BIDSFileName.parse(f)
            guard let n = name, n.suffix == "pet" else { return nil }
            return ((dir as NSString).appendingPathComponent(f), relative + f, n)
        }.sorted { ($0.2.entities.count, $0.1) < ($1.2.entities.count, $1.1) }
    }
}
