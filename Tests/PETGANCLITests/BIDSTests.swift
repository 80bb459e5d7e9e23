import XCTest
import PETTestFixtures
import PETTestSupport
import PETCohort
import PETVolumes
import PETTensor

/// BIDS in and out (docs/BIDS.md): every dataset PETGAN writes passes the official validator
/// (bids-validator-deno) with no error and reads back with pybids; `prepare --bids` reads a dataset
/// built here (sessions, a 4-D image with frame timing, a derivatives folder) and PETGAN's own
/// output. The validator and pybids come from scripts/setup-python-bids.sh; a missing one fails.
final class BIDSTests: XCTestCase {
    // MARK: tools

    /// The validator binary: on PATH, else beside python3 (pip's scripts folder).
    static func validatorPath() throws -> String {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        if let py = python3Path() {
            let r = try runProcess(py, ["-c", "import sys, os; print(os.path.join(sys.prefix, 'bin'))"])
            dirs.append(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let p = dirs.map({ $0 + "/bids-validator-deno" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestSupportError("bids-validator-deno is required by the BIDS tests (run scripts/setup-python-bids.sh)")
        }
        return p
    }

    /// Runs the validator; fails the test on any issue of severity error. Returns its text report.
    @discardableResult
    func assertValidBIDS(_ dir: String, recursive: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let v = try Self.validatorPath()
        let j = try runProcess(v, [dir, "--format", "json"] + (recursive ? ["-r"] : []), environment: ["NO_COLOR": "1"])
        guard let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any] else {
            XCTFail("validator printed no JSON for \(dir): \(j.stdout.prefix(500)) \(j.stderr.prefix(500))", file: file, line: line); return ""
        }
        // Every issue anywhere in the report (with -r the derivatives' are under derivativesSummary).
        func issues(_ x: Any) -> [[String: Any]] {
            if let d = x as? [String: Any] { return (d["severity"] != nil ? [d] : []) + d.values.flatMap(issues) }
            if let a = x as? [Any] { return a.flatMap(issues) }
            return []
        }
        XCTAssertFalse(issues(obj).isEmpty, "the validator's JSON lists no issue at all (not even the expected RECOMMENDED warnings): format changed?", file: file, line: line)
        let errors = issues(obj).filter { ($0["severity"] as? String) == "error" }
        XCTAssertTrue(errors.isEmpty, "validator errors in \(dir):\n" + errors.prefix(10).map { "\($0["code"] ?? "?") \($0["location"] ?? "") \($0["issueMessage"] ?? "")" }.joined(separator: "\n"), file: file, line: line)
        XCTAssertEqual(j.status, 0, "validator exit status for \(dir): \(j.stderr.prefix(500))", file: file, line: line)
        let text = try runProcess(v, [dir] + (recursive ? ["-r"] : []), environment: ["NO_COLOR": "1"])
        return text.stdout
    }

    func petgan(_ args: [String]) throws -> ProcessResult {
        try runProcess(try petganBinary(), args, environment: ["PETGAN_TEMPLATES": RepositoryPaths.templates])
    }

    func sources(_ store: String) throws -> [BIDSSourceRecord] {
        let f = try HDF5File.open(store)
        return try f.dataset("bids_sources").readStrings().map { try JSONDecoder().decode(BIDSSourceRecord.self, from: Data($0.utf8)) }
    }

    /// A small dataset: 4 subjects (CN, EMCI, AD, LMCI), sessions bl and m12 (sub-04 only bl), the
    /// AD baseline a 3-frame series (durations 60, 120, 300 s in its own sidecar; the dataset-level
    /// trc-FDG_pet.json is inherited by every image), derivatives/spm with space-MNI152NLin2009cAsym
    /// and space-T1w images. Voxels: pattern(x) × the frame's factor (1, 2, 4) × 1000 Bq/mL.
    func makeDataset(_ root: String, extraSubjectWithoutPET: Bool = false, participantsRows: [String]? = nil) throws {
        let rows = participantsRows ?? ["sub-01\tCN\t71", "sub-02\tEMCI\t68", "sub-03\tAD\t75", "sub-04\tLMCI\t80"]
        try runPython("""
        import nibabel as nib, numpy as np, json, os
        root = \(pyString(root))
        def write(rel, frames):
            p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
            x = np.arange(16, dtype=np.float32).reshape(16, 1, 1)
            pattern = (1.0 + x / 16.0) * np.ones((16, 16, 16), np.float32)
            data = np.stack([pattern * f * 1000 for f in frames], axis=-1) if len(frames) > 1 else pattern * 1000
            aff = np.diag([4.0, 4.0, 4.0, 1.0]); aff[:3, 3] = -30
            img = nib.Nifti1Image(data.astype(np.float32), aff); img.header.set_xyzt_units('mm', 'sec')
            nib.save(img, p)
        def dump(rel, obj):
            p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
            json.dump(obj, open(p, 'w'), indent=1)
        dump('dataset_description.json', {'Name': 'petgan test', 'BIDSVersion': '1.10.0', 'DatasetType': 'raw'})
        open(os.path.join(root, 'README'), 'w').write('A small synthetic dataset built by the PETGAN tests.\\n')
        open(os.path.join(root, 'participants.tsv'), 'w').write('participant_id\\tdiagnosis\\tage\\n' + \(pyString(rows.joined(separator: "\n"))) + '\\n')
        dump('participants.json', {'diagnosis': {'Description': 'diagnosis'}, 'age': {'Description': 'age', 'Units': 'year'}})
        dump('trc-FDG_pet.json', {
            'Manufacturer': 'test', 'ManufacturersModelName': 'test', 'Units': 'Bq/mL', 'TracerName': 'FDG', 'TracerRadionuclide': 'F18',
            'InjectedRadioactivity': 185, 'InjectedRadioactivityUnits': 'MBq', 'InjectedMass': 'n/a', 'InjectedMassUnits': 'n/a',
            'SpecificRadioactivity': 'n/a', 'SpecificRadioactivityUnits': 'n/a', 'ModeOfAdministration': 'bolus',
            'TimeZero': '10:00:00', 'ScanStart': 1800, 'InjectionStart': 0, 'FrameTimesStart': [1800], 'FrameDuration': [1800],
            'AcquisitionMode': 'list mode', 'ImageDecayCorrected': True, 'ImageDecayCorrectionTime': 0, 'ReconMethodName': 'OSEM',
            'ReconMethodParameterLabels': ['none'], 'ReconFilterType': 'none', 'AttenuationCorrection': 'CT'})
        for s, ses in [('01', 'bl'), ('01', 'm12'), ('02', 'bl'), ('02', 'm12'), ('03', 'm12'), ('04', 'bl')]:
            write(f'sub-{s}/ses-{ses}/pet/sub-{s}_ses-{ses}_trc-FDG_pet.nii.gz', [1])
        write('sub-03/ses-bl/pet/sub-03_ses-bl_trc-FDG_pet.nii.gz', [1, 2, 4])
        dump('sub-03/ses-bl/pet/sub-03_ses-bl_trc-FDG_pet.json', {'FrameTimesStart': [1800, 1860, 1980], 'FrameDuration': [60, 120, 300]})
        dump('derivatives/spm/dataset_description.json', {'Name': 'spm', 'BIDSVersion': '1.10.0', 'DatasetType': 'derivative',
                                                          'GeneratedBy': [{'Name': 'test'}]})
        for s in ['01', '02', '03', '04']:
            write(f'derivatives/spm/sub-{s}/ses-bl/pet/sub-{s}_ses-bl_trc-FDG_space-MNI152NLin2009cAsym_pet.nii.gz', [1])
        write('derivatives/spm/sub-01/ses-bl/pet/sub-01_ses-bl_trc-FDG_space-T1w_pet.nii.gz', [1])
        if \(extraSubjectWithoutPET ? "True" : "False"):
            os.makedirs(os.path.join(root, 'sub-05/ses-bl/anat'), exist_ok=True)
        """)
    }

    func pyString(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'").replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t") + "'"
    }

    let grid = ["--shape", "16", "--voxel-size", "4"]

    // MARK: prepare --bids on a dataset built here

    func testPrepareBIDSSessionsLabelMapFramesAndDerivatives() throws {
        let dir = try makeTempDir()
        let root = dir + "/ds"
        try makeDataset(root)
        try assertValidBIDS(root)   // the test's own dataset is valid BIDS
        let map = "CN=NC,EMCI=MCI,LMCI=MCI,AD=AD"

        // A 4-D image without --frames is refused, naming --frames and the file.
        let r0 = try petgan(["prepare", "--bids", root, "--label-map", map, "--out", dir + "/x.h5"] + grid)
        XCTAssertEqual(r0.status, 1); XCTAssertEqual(r0.errorLines.count, 1, r0.stderr)
        XCTAssertTrue(r0.stderr.contains("sub-03_ses-bl_trc-FDG_pet.nii.gz") && r0.stderr.contains("--frames"), r0.stderr)

        let r = try petgan(["prepare", "--bids", root, "--label-map", map, "--frames", "mean", "--out", dir + "/all.h5"] + grid)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("7 volumes (AD 2, MCI 3, NC 2)"), r.stdout)
        XCTAssertTrue(r.warningLines.isEmpty, r.stderr)
        let store = try VolumeStore.open(dir + "/all.h5")
        XCTAssertEqual(store.classNames, ["AD", "MCI", "NC"])
        let recs = try sources(dir + "/all.h5")
        XCTAssertEqual(recs.count, 7)
        XCTAssertEqual(recs.map(\.path), store.sourceFiles, "one record per volume, in store order")
        let ad = try XCTUnwrap(recs.firstIndex { $0.entities == ["sub": "03", "ses": "bl", "trc": "FDG"] })
        XCTAssertEqual(recs[ad].labelValue, "AD"); XCTAssertEqual(recs[ad].className, "AD")
        XCTAssertEqual(recs[ad].participant["age"], "75")
        XCTAssertEqual(recs[ad].sidecars, ["trc-FDG_pet.json", "sub-03/ses-bl/pet/sub-03_ses-bl_trc-FDG_pet.json"])
        XCTAssertEqual(recs[ad].units, "Bq/mL")
        let emci = try XCTUnwrap(recs.first { $0.entities["sub"] == "02" })
        XCTAssertEqual(emci.labelValue, "EMCI"); XCTAssertEqual(emci.className, "MCI")
        // Units from the inherited sidecar are the store's units; frames weighted by the image's own durations.
        let f = try HDF5File.open(dir + "/all.h5")
        XCTAssertEqual(try f.stringAttribute("units"), "Bq/mL")
        let reductions = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try f.stringAttribute("frame_reductions").utf8)) as? [String: String])
        XCTAssertEqual(reductions, ["sub-03/ses-bl/pet/sub-03_ses-bl_trc-FDG_pet.nii.gz":
                                    "mean: mean of all 3 frames weighted by frame duration (sidecar trc-FDG_pet.json + sub-03/ses-bl/pet/sub-03_ses-bl_trc-FDG_pet.json)"])
        // Same grid as the source: the raw value is the duration-weighted mean (60·1 + 120·2 + 300·4)/480 = 3.125 of the frame-1 value.
        let raw = try store.readVolumeInRawUnits(ad)
        let one = try store.readVolumeInRawUnits(try XCTUnwrap(recs.firstIndex { $0.entities["sub"] == "04" }))
        for i in [8 * 256 + 8 * 16 + 3, 8 * 256 + 8 * 16 + 12] {
            XCTAssertEqual(Double(raw.data[i]) / Double(one.data[i]), 3.125, accuracy: 1e-4)
        }

        // --session: the baseline only; the summary counts what the filter left out.
        let b = try petgan(["prepare", "--bids", root, "--label-map", map, "--frames", "first", "--session", "bl", "--tracer", "fdg", "--out", dir + "/bl.h5"] + grid)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains("4 volumes (AD 1, MCI 2, NC 1)") && b.stdout.contains("3 left out by the filters"), b.stdout)
        XCTAssertEqual(Set(try sources(dir + "/bl.h5").map { $0.entities["ses"] }), ["bl"])

        // A session's own label (sub-X_sessions.tsv) overrides participants.tsv: sub-02 converted to AD at m12.
        try "session_id\tdiagnosis\nses-bl\tEMCI\nses-m12\tAD\n".write(toFile: root + "/sub-02/sub-02_sessions.tsv", atomically: true, encoding: .utf8)
        let c = try petgan(["prepare", "--bids", root, "--label-map", map, "--frames", "last", "--session", "m12", "--out", dir + "/m12.h5"] + grid)
        XCTAssertEqual(c.status, 0, c.stderr)
        let m12 = try sources(dir + "/m12.h5")
        let s2 = try XCTUnwrap(m12.first { $0.entities["sub"] == "02" })
        XCTAssertEqual(s2.className, "AD"); XCTAssertEqual(s2.labelSource, "sub-02/sub-02_sessions.tsv")

        // Derivatives: space-MNI152NLin2009cAsym only (the T1w-space image is left out).
        let d = try petgan(["prepare", "--bids", root, "--derivatives", "spm", "--space", "MNI152NLin2009cAsym", "--label-map", map,
                            "--center", "origin", "--out", dir + "/mni.h5"] + grid)
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertTrue(d.stdout.contains("4 volumes (AD 1, MCI 2, NC 1)") && d.stdout.contains("1 left out by the filters"), d.stdout)
        let dr = try sources(dir + "/mni.h5")
        XCTAssertTrue(dr.allSatisfy { $0.path.hasPrefix("derivatives/spm/sub-") && $0.entities["space"] == "MNI152NLin2009cAsym" }, "\(dr.map(\.path))")
        // --label-map VALUE=- leaves a value out on purpose (counted).
        let e = try petgan(["prepare", "--bids", root, "--label-map", "CN=NC,EMCI=-,LMCI=-,AD=AD", "--frames", "mean", "--out", dir + "/ncad.h5"] + grid)
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains("5 volumes (AD 3, NC 2)") && e.stdout.contains("2 dropped by --label-map"), e.stdout)   // sub-02 m12 is AD (sessions.tsv)
    }

    // MARK: bad input

    func testPrepareBIDSBadInputOneErrorOrCountedWarnings() throws {
        let dir = try makeTempDir()
        let map = "CN=NC,EMCI=MCI,LMCI=MCI,AD=AD"
        func fails(_ args: [String], naming: [String], status: Int32 = 1, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try petgan(["prepare"] + args + ["--out", dir + "/bad.h5"] + grid)
            XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
            XCTAssertEqual(r.errorLines.count, 1, r.stderr, file: file, line: line)
            for n in naming { XCTAssertTrue(r.errorLines.first?.contains(n) == true, "'\(n)' not in: \(r.stderr)", file: file, line: line) }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.h5"), file: file, line: line)
        }
        // Not BIDS: a folder of NIfTI files without dataset_description.json.
        try FileManager.default.createDirectory(atPath: dir + "/plain/sub-01/pet", withIntermediateDirectories: true)
        try fails(["--bids", dir + "/plain"], naming: [dir + "/plain", "not a BIDS dataset", "dataset_description.json"])
        try fails(["--bids", dir + "/none"], naming: [dir + "/none", "no such folder"])

        let root = dir + "/ds"
        try makeDataset(root, extraSubjectWithoutPET: true, participantsRows: ["sub-01\tCN\t71", "sub-02\tEMCI\t68", "sub-03\tAD\t75", "sub-05\tCN\t60"])
        // Label column missing: names the file, the column and what the file has.
        try fails(["--bids", root, "--label-column", "dx", "--frames", "mean"], naming: [root + "/participants.tsv", "'dx'", "participant_id, diagnosis, age"])
        // Unmapped value: names the value and how to drop it.
        try fails(["--bids", root, "--label-map", "CN=NC,AD=AD", "--frames", "mean"], naming: [root + "/participants.tsv", "'EMCI'", "VALUE=-"])
        // --space without --derivatives; unknown derivatives folder (lists what exists).
        try fails(["--bids", root, "--space", "MNI152NLin2009cAsym"], naming: ["--derivatives"])
        try fails(["--bids", root, "--derivatives", "fsl"], naming: ["derivatives/fsl", "spm"])
        // Nothing left after the filters.
        try fails(["--bids", root, "--label-map", map, "--session", "m24"], naming: [root, "no PET image left", "--session m24"])

        // sub-04 has PET but no participants.tsv row; sub-05 has a row and a folder but no PET:
        // skipped with a warning and a count, the rest is prepared.
        let ok = try petgan(["prepare", "--bids", root, "--label-map", map, "--frames", "mean", "--out", dir + "/ok.h5"] + grid)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.warningLines.count, 2, ok.stderr)
        XCTAssertTrue(ok.warningLines.contains { $0.contains(root + "/participants.tsv") && $0.contains("no participant_id row, skipped 1") && $0.contains("sub-04/ses-bl/pet/sub-04_ses-bl_trc-FDG_pet.nii.gz") }, ok.stderr)
        XCTAssertTrue(ok.warningLines.contains { $0.contains("without a PET image") && $0.contains("skipped 1: sub-05") }, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("6 volumes"), ok.stdout)
        // --strict: the first of them is an error.
        try fails(["--bids", root, "--label-map", map, "--frames", "mean", "--strict"], naming: ["sub-05", "without a PET image", "--strict"])
        try FileManager.default.removeItem(atPath: root + "/sub-05")
        try fails(["--bids", root, "--label-map", map, "--frames", "mean", "--strict"], naming: [root + "/participants.tsv", "no participant_id row", "sub-04"])
        // An n/a label is skipped with a warning too (an error with --strict).
        try "participant_id\tdiagnosis\tage\nsub-01\tCN\t71\nsub-02\tn/a\t68\nsub-03\tAD\t75\nsub-04\tLMCI\t80\n".write(toFile: root + "/participants.tsv", atomically: true, encoding: .utf8)
        let na = try petgan(["prepare", "--bids", root, "--label-map", map, "--frames", "mean", "--out", dir + "/na.h5"] + grid)
        XCTAssertEqual(na.status, 0, na.stderr)
        XCTAssertTrue(na.warningLines.count == 1 && na.warningLines[0].contains("empty or n/a diagnosis, skipped 2"), na.stderr)
        try fails(["--bids", root, "--label-map", map, "--frames", "mean", "--strict"], naming: ["empty or n/a diagnosis", "sub-02"])
        // No participants.tsv at all.
        try FileManager.default.removeItem(atPath: root + "/participants.tsv")
        try fails(["--bids", root, "--frames", "mean"], naming: [root + "/participants.tsv", "does not exist", "--label-column"])
        // Options that need --bids, and --bids with --input.
        try fails(["--input", dir, "--labels", dir + "/l.csv", "--session", "bl"], naming: ["--session", "--bids"], status: 64)
        try fails(["--bids", root, "--input", dir], naming: ["--bids", "--input"], status: 64)
    }

    // MARK: BIDS out, validated, read back, round trip, and train → generate --bids

    func testPhantomAndGeneratedBIDSValidateReadBackAndRoundTrip() throws {
        try ensureTemplates(required: TemplateFiles.all)
        let dir = try makeTempDir()
        let bids = dir + "/cohort"
        let p = try petgan(["phantom", "--count", "6", "--shape", "48x56x48", "--voxel-size", "4", "--seed", "5",
                            "--out", dir + "/c.h5", "--bids", bids])
        XCTAssertEqual(p.status, 0, p.stderr)
        let report = try assertValidBIDS(bids)
        print("bids-validator-deno on petgan phantom --bids:\n" + report)
        // A second run into the same folder is refused (nothing is overwritten).
        let again = try petgan(["phantom", "--count", "2", "--shape", "48x56x48", "--voxel-size", "4", "--out", dir + "/c2.h5", "--bids", bids])
        XCTAssertEqual(again.status, 1); XCTAssertTrue(again.errorLines.first?.contains(bids) == true && again.stderr.contains("already exists"), again.stderr)

        // pybids reads it: 6 PET images with their sidecars, participants with class and covariates.
        let phantomStore = try VolumeStore.open(dir + "/c.h5")
        let py = try runPython("""
        import bids, json
        l = bids.BIDSLayout(\(pyString(bids)), validate=True)
        imgs = l.get(suffix='pet', extension='.nii.gz', tracer='FDG')
        t = l.get(suffix='participants', extension='.tsv')[0].get_df()
        md = imgs[0].get_metadata()
        print(json.dumps({'n': len(imgs), 'subjects': sorted(l.get_subjects()), 'classes': sorted(t['class'].tolist()),
                          'columns': list(t.columns), 'units': md['Units'], 'tracer': md['TracerName'], 'cls': md['PETGAN']['Class'],
                          'filter': md['ReconFilterType'], 'fwhm': md['ReconFilterSize'], 'sub': imgs[0].entities['subject'],
                          'psf': float(t[t['participant_id'] == 'sub-' + imgs[0].entities['subject']]['psf_fwhm_mm'].iloc[0])}))
        """)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(py.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["n"] as? Int, 6)
        XCTAssertEqual(j["subjects"] as? [String], ["0001", "0002", "0003", "0004", "0005", "0006"])
        XCTAssertEqual((j["classes"] as? [String])?.sorted(), phantomStore.labels.map { phantomStore.classNames[$0] }.sorted())
        XCTAssertEqual(j["columns"] as? [String], PhantomBIDSWriter.columns)
        XCTAssertEqual(j["units"] as? String, "SUVR"); XCTAssertEqual(j["tracer"] as? String, "FDG")
        XCTAssertEqual(j["filter"] as? String, "Gaussian")
        XCTAssertEqual(try XCTUnwrap(j["fwhm"] as? Double), try XCTUnwrap(j["psf"] as? Double), accuracy: 1e-9)

        // Round trip: prepare --bids on PETGAN's own dataset gives the phantom's subjects and classes,
        // and (the same grid: each volume's own field of view, shape and voxel size; max normalization,
        // which clips nothing) its SUVR values.
        let r = try petgan(["prepare", "--bids", bids, "--label-column", "class", "--shape", "48x56x48", "--voxel-size", "4",
                            "--normalize", "max", "--out", dir + "/rt.h5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.warningLines.isEmpty, r.stderr)
        let rt = try VolumeStore.open(dir + "/rt.h5")
        XCTAssertEqual(rt.count, 6)
        let recs = try sources(dir + "/rt.h5")
        XCTAssertEqual(recs.map { $0.entities["sub"]! }, ["0001", "0002", "0003", "0004", "0005", "0006"])
        XCTAssertEqual(recs.map(\.className), phantomStore.labels.map { phantomStore.classNames[$0] })
        XCTAssertEqual(try HDF5File.open(dir + "/rt.h5").stringAttribute("units"), "SUVR")
        let a = try phantomStore.readVolumeInRawUnits(0), b = try rt.readVolumeInRawUnits(0)
        XCTAssertLessThan(maxAbsDifference(a.data, b.data), 1e-4, "SUVR survives phantom → BIDS → prepare")

        // Train two steps on the prepared store, then generate into the dataset's derivatives.
        let t = try petgan(["train", "--data", dir + "/rt.h5", "--model", "wgangp3d", "--conditional", "--max-steps", "2", "--batch", "2",
                            "--set", "n_critic=1", "--set", "g_channels=8,4,2", "--set", "d_channels=2,4,8", "--set", "sample_count=2",
                            "--threads", "2", "--out", dir + "/runs"])
        XCTAssertEqual(t.status, 0, t.stdout + t.stderr)
        let run = try XCTUnwrap(t.stdout.split(separator: "\n").first { $0.hasPrefix("train: run directory ") }, t.stdout)
            .replacingOccurrences(of: "train: run directory ", with: "")
        let g = try petgan(["generate", "--checkpoint", run, "--count", "2", "--seed", "7", "--bids", bids])
        XCTAssertEqual(g.status, 0, g.stderr)
        let deriv = bids + "/derivatives/petgan"
        let dreport = try assertValidBIDS(deriv)
        print("bids-validator-deno on petgan generate --bids (derivatives/petgan):\n" + dreport)
        try assertValidBIDS(bids)   // the raw dataset with its new derivatives folder still validates
        try assertValidBIDS(bids, recursive: true)   // and so does the derivative checked with it (-r)
        XCTAssertTrue(FileManager.default.fileExists(atPath: bids + "/derivatives/petgan-montage.png"))
        let desc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: deriv + "/dataset_description.json"))) as? [String: Any])
        XCTAssertEqual(desc["DatasetType"] as? String, "derivative")
        let gen = try XCTUnwrap((desc["GeneratedBy"] as? [[String: Any]])?.first)
        XCTAssertEqual(gen["Name"] as? String, "PETGAN"); XCTAssertEqual(gen["Version"] as? String, PETGANVersion.string)
        let sha = try SHA256.hex(file: run + "/checkpoints/final.h5")
        XCTAssertTrue((gen["Description"] as? String)?.contains(sha) == true, "\(gen)")
        // pybids sees the derivative: 2 per class, desc-synthetic, class and seed in sidecar and table.
        let classes = rt.classNames
        let py2 = try runPython("""
        import bids, json
        l = bids.BIDSLayout(\(pyString(bids)), derivatives=True)
        d = l.derivatives['PETGAN']
        imgs = d.get(suffix='pet', desc='synthetic', extension='.nii.gz')
        t = d.get(suffix='participants', extension='.tsv')[0].get_df()
        print(json.dumps({'n': len(imgs), 'meta': sorted([(i.get_metadata()['PETGAN']['Class'], i.get_metadata()['PETGAN']['Seed'], i.get_metadata()['PETGAN']['CheckpointSHA256']) for i in imgs]),
                          'table': sorted([(r['class'], int(r['seed'])) for _, r in t.iterrows()]), 'space': sorted(set(i.entities.get('space', '') for i in imgs))}))
        """)
        let j2 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(py2.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j2["n"] as? Int, 2 * classes.count)
        let expected = classes.flatMap { c in [7, 8].map { [c, $0] as [Any] } }.map { "\($0[0]) \($0[1])" }.sorted()
        XCTAssertEqual(((j2["table"] as? [[Any]]) ?? []).map { "\($0[0]) \($0[1])" }.sorted(), expected)
        XCTAssertEqual(((j2["meta"] as? [[Any]]) ?? []).map { "\($0[0]) \($0[1])" }.sorted(), expected)
        XCTAssertTrue(((j2["meta"] as? [[Any]]) ?? []).allSatisfy { ($0[2] as? String) == sha })
        // A store prepared from BIDS is not marked MNI (PETModels' DataInfo.mni is the phantom's kind), so no space- entity.
        XCTAssertEqual(j2["space"] as? [String], [""])
        // Round trip of the generated derivative.
        let r2 = try petgan(["prepare", "--bids", bids, "--derivatives", "petgan", "--label-column", "class",
                             "--shape", "48x56x48", "--voxel-size", "4", "--out", dir + "/gen.h5"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let gs = try VolumeStore.open(dir + "/gen.h5")
        XCTAssertEqual(gs.count, 2 * classes.count)
        XCTAssertEqual(Set(try sources(dir + "/gen.h5").map { $0.entities["desc"] }), ["synthetic"])
        // generate --bids into a folder that is not BIDS: one error naming it.
        let bad = try petgan(["generate", "--checkpoint", run, "--count", "1", "--bids", dir + "/runs"])
        XCTAssertEqual(bad.status, 1); XCTAssertEqual(bad.errorLines.count, 1, bad.stderr)
        XCTAssertTrue(bad.errorLines[0].contains(dir + "/runs") && bad.errorLines[0].contains("dataset_description.json"), bad.stderr)
        // A second generate into the same dataset is refused (derivatives/petgan exists).
        let twice = try petgan(["generate", "--checkpoint", run, "--count", "1", "--bids", bids])
        XCTAssertEqual(twice.status, 1); XCTAssertTrue(twice.stderr.contains("derivatives/petgan") && twice.stderr.contains("already exists"), twice.stderr)
    }

    func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        var m = 0.0
        for (x, y) in zip(a, b) {
            let d = Double(abs(x - y))
            if !d.isFinite { return .infinity }
            m = max(m, d)
        }
        return m
    }
}
