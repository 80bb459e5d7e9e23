// Writing a BIDS dataset (raw or derivative): built in a temporary sibling folder, renamed into
// place by `commit()`, so a dataset appears complete or not at all.
//
//   let w = try BIDSDatasetWriter(creating: "ds")                 // refuses an existing non-empty ds
//   try w.writeImage(volume, name: BIDSFileName.make([("sub", "0001")], suffix: "pet", fileExtension: ".nii.gz"), sidecar: s)
//   try w.writeParticipants(table, columns: descriptions)
//   try w.writeDescription(BIDSDatasetDescription(name: "…", datasetType: .raw)); try w.writeText("…", to: "README")
//   try w.commit()
import Foundation

public final class BIDSDatasetWriter {
    /// Where the dataset appears at `commit()`.
    public let path: String
    /// The folder being filled.
    public let workingPath: String
    private var committed = false
    /// Relative paths of the images written, in order.
    public private(set) var images: [String] = []

    /// Starts a dataset at `path`, which must not exist or be an empty folder; its parent must exist.
    public init(creating path: String) throws {
        let fm = FileManager.default
        let clean = (path as NSString).standardizingPath
        let parent = (clean as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !parent.isEmpty, !(fm.fileExists(atPath: parent, isDirectory: &isDir) && isDir.boolValue) {
            throw BIDSError.writeFailed(path: path, reason: "folder \(parent) does not exist")
        }
        if fm.fileExists(atPath: clean, isDirectory: &isDir) {
            let entries = ((try? fm.contentsOfDirectory(atPath: clean)) ?? []).filter { !$0.hasPrefix(".") }
            guard isDir.boolValue, entries.isEmpty else {
                throw BIDSError.writeFailed(path: path, reason: "already exists and is not an empty folder (PETGAN writes a new dataset; remove it or choose another folder)")
            }
        }
        self.path = clean
        workingPath = temporaryName(for: clean)
        do { try fm.createDirectory(atPath: workingPath, withIntermediateDirectories: false) } catch {
            throw BIDSError.writeFailed(path: path, reason: "cannot create \(workingPath): \(error.localizedDescription)")
        }
    }

    deinit { if !committed { try? FileManager.default.removeItem(atPath: workingPath) } }

    /// The folder an image of these entities goes to: sub-X/[ses-Y/]pet.
    public func folder(for name: BIDSFileName) throws -> String {
        guard let sub = name["sub"] else { throw BIDSError.writeFailed(path: name.fileName, reason: "a BIDS image name needs a sub- entity") }
        var rel = "sub-\(sub)"
        if let ses = name["ses"] { rel += "/ses-\(ses)" }
        rel += "/pet"
        let dir = (workingPath as NSString).appendingPathComponent(rel)
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw BIDSError.writeFailed(path: (path as NSString).appendingPathComponent(rel), reason: error.localizedDescription)
        }
        return rel
    }

    /// Writes `volume` as sub-X/[ses-Y/]pet/NAME.nii.gz with its _pet.json (the NIfTI keeps PETGAN's
    /// provenance extension; the BIDS sidecar replaces PETGAN's own <stem>.json).
    public func writeImage(_ volume: Volume, name: BIDSFileName, sidecar: PETSidecar, provenance: [String: Any] = [:]) throws {
        let rel = try folder(for: name) + "/" + name.fileName
        try NIfTIFile.write(volume, to: (workingPath as NSString).appendingPathComponent(rel), provenance: provenance,
                            options: NIfTIWriteOptions(sidecar: false, singleFrame4D: true))
        try writeSidecar(sidecar, for: name)
        images.append(rel)
    }

    /// Re-writes an already written NIfTI (same float32 voxels, affine and provenance) into place as
    /// NAME with its _pet.json, and deletes the original.
    public func rewriteImage(from file: String, name: BIDSFileName, sidecar: PETSidecar, provenance: [String: Any]) throws {
        let v = try NIfTIFile.read(file, options: NIfTIReadOptions(nonFinite: .refuse))
        try writeImage(v, name: name, sidecar: sidecar, provenance: provenance)
        unlink(file)
    }

    private func writeSidecar(_ sidecar: PETSidecar, for name: BIDSFileName) throws {
        var json = name
        json.fileExtension = ".json"
        try BIDSJSON.write(sidecar, to: (workingPath as NSString).appendingPathComponent(try folder(for: name) + "/" + json.fileName))
    }

    public func writeDescription(_ d: BIDSDatasetDescription) throws {
        try BIDSJSON.write(d, to: (workingPath as NSString).appendingPathComponent("dataset_description.json"))
    }

    /// participants.tsv (or another table: `name`) and its JSON column descriptions.
    public func writeParticipants(_ table: BIDSTable, columns: [String: BIDSColumnDescription], name: String = "participants") throws {
        let missing = table.columns.filter { columns[$0] == nil && $0 != "participant_id" }
        guard missing.isEmpty else { throw BIDSError.writeFailed(path: name + ".json", reason: "no description for column(s) \(missing.joined(separator: ", "))") }
        try BIDSJSON.writeFile(Data(table.text.utf8), to: (workingPath as NSString).appendingPathComponent(name + ".tsv"))
        try BIDSJSON.write(columns, to: (workingPath as NSString).appendingPathComponent(name + ".json"))
    }

    /// A text file at the dataset root (README, .bidsignore).
    public func writeText(_ text: String, to relativePath: String) throws {
        try BIDSJSON.writeFile(Data(text.utf8), to: (workingPath as NSString).appendingPathComponent(relativePath))
    }

    /// Renames the dataset into place (an empty folder at `path` is replaced).
    public func commit() throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) { try? fm.removeItem(atPath: path) }
        if rename(workingPath, path) != 0 {
            throw BIDSError.writeFailed(path: path, reason: "renaming \(workingPath): \(String(cString: strerror(errno)))")
        }
        committed = true
    }
}
