import XCTest
import PETTestSupport
@testable import PETVolumes

/// BIDS names, tables, label maps, sidecar inheritance and the writer (the commands' BIDS paths are
/// tested end to end, with the official validator, in PETGANCLITests/BIDSTests.swift).
final class BIDSLayerTests: XCTestCase {
    func testFileNamesParseAndFormatInBIDSOrder() throws {
        let n = try XCTUnwrap(BIDSFileName.parse("sub-01_ses-bl_trc-FDG_rec-acdyn_run-2_pet.nii.gz"))
        XCTAssertEqual(n["sub"], "01"); XCTAssertEqual(n["ses"], "bl"); XCTAssertEqual(n["trc"], "FDG"); XCTAssertEqual(n["run"], "2")
        XCTAssertEqual(n.suffix, "pet"); XCTAssertEqual(n.fileExtension, ".nii.gz")
        XCTAssertEqual(n.fileName, "sub-01_ses-bl_trc-FDG_rec-acdyn_run-2_pet.nii.gz")
        for bad in ["sub-01.nii.gz", "sub-01_ses_pet.nii.gz", "sub-0_1_pet.nii.gz", "sub-01_ses-b-l_pet.nii.gz", "pet", "sub-é1_pet.nii"] {
            XCTAssertNil(BIDSFileName.parse(bad), bad)
        }
        let m = BIDSFileName.make([("desc", "synthetic"), ("space", "MNI152NLin2009aSym"), ("sub", "ADs00003")], suffix: "pet", fileExtension: ".json")
        XCTAssertEqual(m.fileName, "sub-ADs00003_space-MNI152NLin2009aSym_desc-synthetic_pet.json")
        XCTAssertEqual(BIDSFileName.label(from: "sub-00_7 x"), "sub007x")
    }

    func testTableReadsTabsAndRefusesRaggedRows() throws {
        let dir = try makeTempDir()
        try "participant_id\tdiagnosis\tage\nsub-01\tCN\t71\n\nsub-02\tn/a\t68\n".write(toFile: dir + "/p.tsv", atomically: true, encoding: .utf8)
        let t = try BIDSTable.read(dir + "/p.tsv")
        XCTAssertEqual(t.columns, ["participant_id", "diagnosis", "age"])
        XCTAssertEqual(t.rows.count, 2)
        XCTAssertEqual(t.row(where: "participant_id", equals: "sub-02")?["diagnosis"], "n/a")
        XCTAssertNil(t.row(where: "participant_id", equals: "sub-03"))
        XCTAssertEqual(t.text, "participant_id\tdiagnosis\tage\nsub-01\tCN\t71\nsub-02\tn/a\t68\n")
        try "participant_id\tdiagnosis\nsub-01\tCN\t71\n".write(toFile: dir + "/bad.tsv", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BIDSTable.read(dir + "/bad.tsv")) { e in
            XCTAssertTrue("\(e)".contains(dir + "/bad.tsv") && "\(e)".contains("line 2 has 3"), "\(e)")
        }
    }

    func testLabelMapParsesDropsAndRefusesMalformedPairs() throws {
        let m = try BIDSLabelMap.parse("CN=NC, EMCI=MCI,LMCI=MCI,AD=AD,SMC=-")
        XCTAssertEqual(m.classes["EMCI"], .some("MCI"))
        XCTAssertEqual(m.classes["SMC"], .some(nil))
        XCTAssertNil(m.classes["XX"])
        for bad in ["CN", "CN=", "=NC", "CN=NC,CN=AD", ""] {
            XCTAssertThrowsError(try BIDSLabelMap.parse(bad), bad) { e in XCTAssertTrue("\(e)".contains("--label-map"), "\(e)") }
        }
    }

    func testSidecarInheritanceDeeperAndMoreSpecificOverride() throws {
        let root = try makeTempDir()
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sub-01/ses-a/pet", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/sub-02/pet", withIntermediateDirectories: true)
        func json(_ rel: String, _ obj: [String: Any]) throws {
            try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: root + "/" + rel))
        }
        try json("dataset_description.json", ["Name": "t", "BIDSVersion": "1.10.0"])
        try json("pet.json", ["Units": "Bq/mL", "TracerName": "FDG", "A": 0])
        try json("trc-FDG_pet.json", ["A": 1, "B": 1])
        try json("sub-01/sub-01_pet.json", ["B": 2])
        try json("sub-01/ses-a/pet/sub-01_ses-a_trc-FDG_pet.json", ["C": 3])
        try json("sub-01/ses-a/pet/sub-01_ses-b_trc-FDG_pet.json", ["C": 99])   // another session's: does not apply
        let v = Volume(shape: [4, 4, 4], data: [Float](repeating: 1, count: 64), affine: .scaling(2, 2, 2, origin: (0, 0, 0)), space: .scanner)
        try NIfTIFile.write(v, to: root + "/sub-01/ses-a/pet/sub-01_ses-a_trc-FDG_pet.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        try NIfTIFile.write(v, to: root + "/sub-02/pet/sub-02_trc-PIB_pet.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        let l = try BIDSLayout.scan(root, query: BIDSQuery())
        XCTAssertEqual(l.images.count, 2)
        let a = l.images[0]
        XCTAssertEqual(a.sidecarFiles, ["pet.json", "trc-FDG_pet.json", "sub-01/sub-01_pet.json", "sub-01/ses-a/pet/sub-01_ses-a_trc-FDG_pet.json"])
        XCTAssertEqual(a.sidecar["A"] as? Int, 1); XCTAssertEqual(a.sidecar["B"] as? Int, 2); XCTAssertEqual(a.sidecar["C"] as? Int, 3)
        XCTAssertEqual(a.string("Units"), "Bq/mL")
        XCTAssertEqual(l.images[1].sidecarFiles, ["pet.json"], "trc-FDG_pet.json does not apply to a PIB image")
        var q = BIDSQuery(); q.tracer = "pib"
        let p = try BIDSLayout.scan(root, query: q)
        XCTAssertEqual(p.images.map(\.subject), ["02"]); XCTAssertEqual(p.subjectsWithoutPET, ["sub-01"]); XCTAssertEqual(p.filteredOut, 1)
        // A file whose sub- entity is not its folder's is refused, naming it.
        try NIfTIFile.write(v, to: root + "/sub-02/pet/sub-03_pet.nii.gz", options: NIfTIWriteOptions(sidecar: false))
        XCTAssertThrowsError(try BIDSLayout.scan(root, query: BIDSQuery())) { e in
            XCTAssertTrue("\(e)".contains("sub-02/pet/sub-03_pet.nii.gz") && "\(e)".contains("subject sub-02"), "\(e)")
        }
    }

    func testWriterAppearsOnlyOnCommitAndWritesOneFrame() throws {
        let dir = try makeTempDir()
        let v = Volume(shape: [3, 4, 5], data: (0..<60).map(Float.init), affine: .scaling(2, 2, 2, origin: (0, 0, 0)), space: .mni)
        var w: BIDSDatasetWriter? = try BIDSDatasetWriter(creating: dir + "/ds")
        let name = BIDSFileName.make([("sub", "01")], suffix: "pet", fileExtension: ".nii.gz")
        try w!.writeImage(v, name: name, sidecar: PETSidecar.syntheticFDG(units: "SUVR", modelName: "m", fwhmMM: 5, record: PETGANRecord(command: "t", className: "NC", seed: 3)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ds"), "nothing under the final name before commit")
        w = nil   // abandoned: its working folder is removed
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("ds") }, [])
        let w2 = try BIDSDatasetWriter(creating: dir + "/ds")
        try w2.writeImage(v, name: name, sidecar: PETSidecar.syntheticFDG(units: "SUVR", modelName: "m", fwhmMM: 5, record: PETGANRecord(command: "t", className: "NC", seed: 3)))
        try w2.writeDescription(BIDSDatasetDescription(name: "t", datasetType: .raw))
        try w2.commit()
        let h = try NIfTIFile.readHeader(dir + "/ds/sub-01/pet/sub-01_pet.nii.gz")
        XCTAssertEqual(Array(h.dims[0...4]), [4, 5, 4, 3, 1], "dim[4] = 1 frame (NIfTI x, y, z order)")
        let back = try NIfTIFile.read(dir + "/ds/sub-01/pet/sub-01_pet.nii.gz")
        XCTAssertEqual(back.shape, [3, 4, 5]); XCTAssertEqual(back.data, v.data)
        let s = try BIDSJSON.read(PETSidecar.self, from: dir + "/ds/sub-01/pet/sub-01_pet.json")
        XCTAssertEqual(s.frameDuration, [1]); XCTAssertEqual(s.reconFilterSize, 5); XCTAssertEqual(s.injectedMass, .notApplicable)
        XCTAssertEqual(s.petgan?.className, "NC"); XCTAssertEqual(s.petgan?.seed, 3)
        XCTAssertEqual(Set(s.petgan?.placeholders?.keys.map { $0 } ?? []), Set(PETSidecar.syntheticPlaceholders.keys))
        XCTAssertThrowsError(try BIDSDatasetWriter(creating: dir + "/ds")) { e in XCTAssertTrue("\(e)".contains("already exists"), "\(e)") }
    }
}
