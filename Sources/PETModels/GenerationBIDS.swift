// `petgan generate --bids DIR`: generated volumes as a BIDS derivative dataset, DIR/derivatives/petgan/.
//
//   dataset_description.json  DatasetType derivative, GeneratedBy PETGAN <version> with the checkpoint SHA-256
//   participants.tsv|.json    one row per sample: class, seed, checkpoint hash (a participants-like table)
//   sub-<class>s<seed>/pet/sub-<class>s<seed>[_space-MNI152NLin2009aSym]_desc-synthetic_pet.nii.gz + _pet.json
//   and DIR/derivatives/petgan-montage.png beside it
//
// The samples are Generation.run's NIfTI files (same float32 voxels), re-written with dim[4] = 1; the sidecar carries class, seed
// and checkpoint under "PETGAN". A sample is not a person: its sub- label is the class and seed.
import Foundation
import PETTensor
import PETVolumes

public enum GenerationBIDS {
    /// The pipeline folder under derivatives/.
    public static let pipeline = "petgan"

    /// The sub- label of a sample: class letters and digits + "s" + the seed (5 digits or more).
    public static func participantLabel(className: String, seed: UInt64) -> String {
        BIDSFileName.label(from: className.isEmpty ? "sample" : className) + "s" + String(format: "%05llu", seed)
    }

    /// Runs `req` (its `out` is replaced) into DIR/derivatives/petgan. DIR must be a BIDS dataset
    /// (dataset_description.json) and derivatives/petgan must not exist yet.
    @discardableResult
    public static func run(_ request: GenerationRequest, bidsRoot root: String, progress: ((Int, Int) -> Void)? = nil) throws -> (summary: GenerationSummary, dataset: String) {
        let fm = FileManager.default
        guard fm.fileExists(atPath: (root as NSString).appendingPathComponent("dataset_description.json")) else {
            throw BIDSError.notBIDS(path: root, reason: "dataset_description.json is missing (generate --bids writes into DIR/derivatives/\(pipeline) of a BIDS dataset; petgan phantom --bids makes one)")
        }
        guard request.format == .nifti else {
            throw BIDSError.writeFailed(path: root, reason: "--bids writes NIfTI images; --format \(request.format.rawValue) cannot go with it")
        }
        let derivatives = (root as NSString).appendingPathComponent("derivatives")
        do { try fm.createDirectory(atPath: derivatives, withIntermediateDirectories: true) } catch {
            throw BIDSError.writeFailed(path: derivatives, reason: error.localizedDescription)
        }
        let dest = (derivatives as NSString).appendingPathComponent(pipeline)
        let writer = try BIDSDatasetWriter(creating: dest)
        var req = request
        // Generated into a hidden folder of the dataset being built, then renamed into the layout.
        req.out = (writer.workingPath as NSString).appendingPathComponent(".generate")
        let s = try Generation.run(req, progress: progress)
        guard s.dims == 3, let rec = s.record else {
            throw BIDSError.writeFailed(path: dest, reason: "--bids needs a 3D model (this checkpoint is \(s.dims)D: its samples are slice stacks, not PET volumes)")
        }
        let units = rec.data.units.hasPrefix("SUVR") ? "SUVR" : rec.data.units
        let space: String? = rec.data.mni ? "MNI152NLin2009aSym" : nil
        var rows: [[String]] = []
        for g in s.samplesWritten {
            let label = participantLabel(className: g.className, seed: g.seed)
            var entities = [("sub", label)]
            if let sp = space { entities.append(("space", sp)) }
            entities.append(("desc", "synthetic"))
            let name = BIDSFileName.make(entities, suffix: "pet", fileExtension: ".nii.gz")
            var record = PETGANRecord(command: "generate", className: g.className, seed: g.seed)
            record.checkpointSHA256 = s.checkpointSHA256
            record.checkpointStep = s.checkpointStep
            record.model = rec.config.model.rawValue
            record.trainingData = rec.data.path
            var sidecar = PETSidecar.syntheticFDG(units: units, modelName: "PETGAN \(rec.config.model.rawValue) generator", fwhmMM: nil, record: record)
            sidecar.spatialReference = space.map { "\($0) (the training data's grid)" }
            // No skull-stripping step made these: the generator imitates its training volumes as they are.
            sidecar.skullStripped = false
            try writer.rewriteImage(from: g.file, name: name, sidecar: sidecar, provenance: [
                "command": "petgan generate", "kind": "generated", "class": g.className, "label": g.label, "seed": Int(g.seed),
                "checkpoint_sha256": s.checkpointSHA256, "checkpoint_step": s.checkpointStep, "model": rec.config.model.rawValue,
                "training_data": rec.data.path, "units": rec.data.units])
            rows.append(["sub-\(label)", g.className.isEmpty ? "n/a" : g.className, String(g.label), String(g.seed), s.checkpointSHA256])
        }
        let columns: [String: BIDSColumnDescription] = [
            "class": BIDSColumnDescription("Class the conditional generator was asked for (n/a: unconditional model)"),
            "label": BIDSColumnDescription("Class index of the model (order of the training store's classes: \(rec.data.classNames.joined(separator: ", ")))"),
            "seed": BIDSColumnDescription("Seed of the latent vector: (checkpoint, class, seed) determines the sample bit for bit"),
            "checkpoint_sha256": BIDSColumnDescription("SHA-256 of the checkpoint file that generated the sample"),
        ]
        try writer.writeParticipants(BIDSTable(columns: ["participant_id", "class", "label", "seed", "checkpoint_sha256"], rows: rows), columns: columns)
        var d = BIDSDatasetDescription(name: "PETGAN synthetic FDG-PET (\(s.samplesWritten.count) generated volumes)", datasetType: .derivative)
        d.generatedBy = [BIDSGeneratedBy(name: "PETGAN", version: PETGANVersion.string,
                                         description: "petgan generate: \(rec.config.model.rawValue) generator, checkpoint sha256 \(s.checkpointSHA256) (step \(s.checkpointStep)), trained on \(rec.data.path)")]
        d.sourceDatasets = [BIDSSourceDataset(url: "file://\((rec.data.path as NSString).standardizingPath)")]
        try writer.writeDescription(d)
        try writer.writeText("""
            PETGAN synthetic FDG-PET: generated volumes, not data from any person
            ======================================================================

            \(s.samplesWritten.count) volumes sampled by `petgan generate` (PETGAN \(PETGANVersion.string)) from the checkpoint with SHA-256
            \(s.checkpointSHA256) (model \(rec.config.model.rawValue), step \(s.checkpointStep)), trained on \(rec.data.path).
            Values are in the training data's units (\(rec.data.units)) on its grid. participants.tsv lists each sample's
            class and seed; each _pet.json carries them under "PETGAN". Acquisition fields PET-BIDS requires are
            placeholders (PETGAN.Placeholders in each sidecar; PETGAN's docs/BIDS.md).

            """, to: "README")
        // The montage beside the dataset, not in it: a .bidsignore inside a derivative is not read
        // when the validator checks the raw dataset with its derivatives (-r).
        let montage = (req.out as NSString).appendingPathComponent("montage.png")
        let montageOut = (derivatives as NSString).appendingPathComponent("\(pipeline)-montage.png")
        if fm.fileExists(atPath: montage) {
            if rename(montage, montageOut) != 0 { throw BIDSError.writeFailed(path: montageOut, reason: String(cString: strerror(errno))) }
        }
        try? fm.removeItem(atPath: req.out)
        try writer.commit()
        var summary = s
        summary.files = writer.images.map { (dest as NSString).appendingPathComponent($0) }
        summary.montage = montageOut
        return (summary, dest)
    }
}
