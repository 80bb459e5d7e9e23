import XCTest
import PETTestFixtures
import PETTestSupport
@testable import PETMetrics
import PETTensor
import PETVolumes
import PETModels
import PETAutograd

final class EvaluationTests: XCTestCase {
    static let offset: Float = 0.05

    func options(_ real: String, _ synthetic: String, _ out: String) -> EvaluationOptions {
        var o = EvaluationOptions(real: real, synthetic: synthetic, out: out)
        o.classifierEpochs = 5; o.classifierMinSteps = 40; o.diversityPairs = 3; o.mmdPermutations = 20; o.augmentationSeeds = [1]
        o.templatesDirectory = RepositoryPaths.templates
        return o
    }

    func testEvaluateNIfTIFolderAndStoreAgainstPhantomCohort() throws {
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("eval")
        let synDir = dir + "/generated"
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: synDir, offset: Self.offset)
        let out = dir + "/report"
        let result = try Evaluation.run(options(real, synDir, out))
        let m = try jsonObject(result)

        // metrics.json is the returned result, encoded.
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(data, try result.jsonData())
        XCTAssertEqual(result.result(of: PaperProtocolMetric.self)?.pairs, 12)
        XCTAssertEqual(result.result(of: RegionalMetric.self)?.global.count, 2)
        XCTAssertEqual((json["inputs"] as? [String: Any])?["classes"] as? [String], ["NC", "MCI", "AD"])
        let paper = try XCTUnwrap(m["paper_protocol"] as? [String: Any])
        XCTAssertEqual(paper["pairs"] as? Int, 12)

        // Each perturbed copy pairs with its source, and PSNR is that of a known offset: MSE = δ².
        let realSet = try VolumeSet.open(real)
        let synSet = try VolumeSet.open(synDir)
        let pairs = try XCTUnwrap(paper["pair_list"] as? [[String: Any]])
        for p in pairs {
            let sName = p["synthetic"] as! String
            let si = synSet.names.firstIndex(of: sName)!
            let idx = Int(sName.split(separator: "d").last!.prefix(5))!
            XCTAssertEqual(p["real"] as? String, realSet.names[idx], "\(sName) paired with \(p["real"]!)")
            let peak = Double(finiteMaximum(try realSet.values(idx))!)
            XCTAssertEqual(p["psnr_3d"] as! Double, 10 * log10(peak * peak / Double(Self.offset * Self.offset)), accuracy: 2e-3)
            // A constant offset costs luminance similarity mostly in the background (μ ≈ 0 against δ).
            XCTAssertGreaterThan(p["ssim_3d"] as! Double, 0.5); XCTAssertLessThan(p["ssim_3d"] as! Double, 1)
            XCTAssertGreaterThan(p["ssim_2d"] as! Double, 0.5); XCTAssertLessThan(p["ssim_2d"] as! Double, 1)
            XCTAssertGreaterThan(p["slices"] as! Int, 10)
            _ = si
        }
        // Regional: synthetic − real global mean = δ in every class; ratios and AAL2 regions present.
        let regional = try XCTUnwrap(m["regional"] as? [String: Any])
        XCTAssertTrue((regional["atlas"] as! String).hasPrefix("AAL2"))
        let global = try XCTUnwrap(regional["global"] as? [[String: Any]])
        XCTAssertEqual(global.count, 2)
        let classStats = try XCTUnwrap(global[0]["classStats"] as? [[String: Any]])
        XCTAssertEqual(classStats.count, 3)
        for c in classStats {
            let w = c["welch"] as! [String: Any]
            XCTAssertEqual((w["meanB"] as! Double) - (w["meanA"] as! Double), Double(Self.offset), accuracy: 1e-4)
        }
        let lr = try XCTUnwrap((global[1]["classStats"] as? [[String: Any]])?.first?["real"] as? [String: Any])
        XCTAssertEqual(lr["mean"] as! Double, 1, accuracy: 0.1)
        XCTAssertGreaterThan((regional["regions"] as! [Any]).count, 60)

        // Distribution: copies of the real set are close (voxel MMD small, high diversity agreement).
        let dist = try XCTUnwrap(m["distribution"] as? [String: Any])
        let syn = dist["msssim_synthetic"] as! [String: Any], rea = dist["msssim_real"] as! [String: Any]
        XCTAssertEqual(syn["pairs"] as? Int, 9)
        XCTAssertLessThan(syn["mean"] as! Double, 0.999)
        XCTAssertNotNil((dist["features"] as? [String: Any])?["frechet_distance"] as? Double)
        _ = rea
        XCTAssertNotNil(m["c2st"] as? [String: Any])
        XCTAssertEqual((m["augmentation"] as? [Any])?.count, 2)   // NC vs AD and NC/MCI/AD

        // The report is one self-contained file.
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data:image/png;base64,"))
        XCTAssertFalse(html.contains("src=\"http"), "external image")
        XCTAssertFalse(html.contains("href=\"http"), "external link/resource")
        XCTAssertFalse(html.contains("src=\"figures/"), "image by file reference")
        for f in ["examples.png", "mean_NC.png", "sd_AD.png", "joint_histogram.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/figures/" + f), f)
        }

        // The same synthetic volumes in an HDF5 store give the same paper metrics.
        let store = dir + "/generated.h5"
        let w = try VolumeStoreWriter.create(store, volumeShape: synSet.shape, classNames: synSet.classNames, voxelSize: (4, 4, 4),
                                             normalization: "none")
        for i in 0..<synSet.count { try w.append(try synSet.volume(i), label: synSet.labels[i], sourceFile: synSet.names[i]) }
        try w.commit()
        var o2 = options(real, store, dir + "/report-h5")
        o2.skipClassifiers = true
        let m2 = try jsonObject(Evaluation.run(o2))
        let p2 = m2["paper_protocol"] as! [String: Any]
        for k in ["psnr_3d", "ssim_3d", "psnr_2d", "ssim_2d"] {
            XCTAssertEqual((p2[k] as! [String: Any])["mean"] as! Double, (paper[k] as! [String: Any])["mean"] as! Double, accuracy: 1e-9, k)
        }

        // Headless Chromium: the page loads without errors and every image renders.
        let chrome = try Fixtures.chromium()
        let (probe, stderr) = try Fixtures.probeInChromium(chrome, htmlPath: out + "/report.html")
        XCTAssertFalse(probe.isEmpty, "no probe output from chromium; stderr: \(stderr.suffix(2000))")
        XCTAssertEqual((probe["errors"] as? [Any])?.count, 0, "page errors: \(probe["errors"] ?? "")")
        let images = try XCTUnwrap(probe["images"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(images.count, 7)
        for i in images { XCTAssertGreaterThan(i["w"] as? Int ?? 0, 50); XCTAssertGreaterThan(i["h"] as? Int ?? 0, 20) }
        XCTAssertGreaterThanOrEqual(probe["svgs"] as? Int ?? 0, 4)   // loss curve, two bar charts, joint histogram
        XCTAssertFalse(stderr.contains("Uncaught"), String(stderr.suffix(2000)))
        _ = try Fixtures.run(chrome, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,4000",
                                      "--screenshot=" + out + "/screenshot.png", "file://" + out + "/report.html"])
        print("report screenshot: \(out)/screenshot.png")
    }

    /// Tiled analysis: the slab schedule changes no result. Slabs of 2 planes (and of 9, rounded up to the
    /// block-averaging factor, not dividing the depth) against whole volumes give identical metrics,
    /// and the pair metrics equal the whole-array reference functions exactly.
    func testSlabScheduleDoesNotChangeMetrics() throws {
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("eval-slabs")
        let synDir = dir + "/generated"
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: synDir, offset: Self.offset)
        var results: [[String: Any]] = [], typed: [EvaluationResult] = []
        let realSet = try VolumeSet.open(real), synSet = try VolumeSet.open(synDir)
        XCTAssertNotEqual(realSet.shape[0] % 10, 0, "the fixture's depth should not divide into slabs of 10")
        for depth in [1, 9, 10_000] {
            var o = options(real, synDir, dir + "/report-\(depth)")
            o.skipClassifiers = true; o.slabDepth = depth
            let result = try Evaluation.run(o)
            typed.append(result)
            var m = try jsonObject(result)
            XCTAssertEqual((m["streaming"] as? [String: Any])?["slab_depth"] as? Int, depth == 10_000 ? 10_000 : (depth == 1 ? 2 : 10))
            for k in ["seconds", "peak_rss_mb", "streaming"] { m[k] = nil }
            results.append(m)
        }
        func text(_ m: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]), as: UTF8.self)
        }
        XCTAssertEqual(try text(results[0]), try text(results[2]))
        XCTAssertEqual(try text(results[1]), try text(results[2]))
        // Bitwise: the typed results (JSONSerialization's number parsing may move a last digit).
        let paper = try XCTUnwrap(typed[0].result(of: PaperProtocolMetric.self))
        let range = paper.dataRange
        for p in paper.pairList.prefix(3) {
            let rv = try realSet.values(realSet.names.firstIndex(of: p.real)!)
            let sv = try synSet.values(synSet.names.firstIndex(of: p.synthetic)!)
            XCTAssertEqual(p.ssim3D, try ImageMetrics.ssim(rv, sv, shape: realSet.shape, dataRange: range))
            XCTAssertEqual(p.psnr3D, ImageMetrics.psnr(real: rv, synthetic: sv))
        }
        // metrics.json holds those bits: its text decodes back to the same Doubles.
        struct PairsFile: Decodable {
            struct Paper: Decodable { var pair_list: [PaperProtocolMetric.PairValues] }
            var paper_protocol: Paper
        }
        let file = try JSONDecoder().decode(PairsFile.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/report-1/metrics.json")))
        XCTAssertEqual(file.paper_protocol.pair_list.map(\.ssim3D), paper.pairList.map(\.ssim3D))
        XCTAssertEqual(file.paper_protocol.pair_list.map(\.psnr3D), paper.pairList.map(\.psnr3D))
    }

    /// `evaluate --critic`: a tiny trained 3D model's critic scores both sets; tiled (a budget that
    /// forces several tiles) equals the untiled discriminator on the same mapped volumes.
    /// For the critic-score tests: a 2-step conditional run of `model` on the 12-subject fixture, and
    /// the fixture beside a perturbed copy of it (the synthetic set), classes aligned.
    func criticFixture(_ model: ModelKind, tag: String, settings: [String: SettingValue]) throws
        -> (real: String, dir: String, synDir: String, run: String, realSet: VolumeSet, synSet: VolumeSet) {
        let real = try Fixtures.smallCohort()   // 48×56×48
        let dir = try makeTempDir(tag)
        let synDir = dir + "/generated"
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: synDir, offset: Self.offset)
        let common: [String: SettingValue] = ["data": .string(real), "out": .string(dir + "/runs"), "max_steps": 2, "z_dim": 8, "checkpoint_every": 1000,
                                     "sample_count": 2, "seed": 3, "conditional": true]
        let cfg = try TrainConfig.resolve(model: model, preset: nil, yamlFile: nil, overrides: common.merging(settings) { $1 })
        let run = try Trainer(config: cfg).run().runDirectory
        let realSet = try VolumeSet.open(real), synSet = try VolumeSet.open(synDir)
        synSet.alignClasses(to: realSet.classNames)
        return (real, dir, synDir, run, realSet, synSet)
    }

    func testCriticScoresTiledEqualUntiled() throws {
        let (real, dir, synDir, run, realSet, synSet) = try criticFixture(.dcgan3d, tag: "eval-critic", settings: [
            "batch": 4, "g_channels": "8,4,4", "d_channels": "4,8,8", "n_critic": 1])

        // Untiled reference: the discriminator in eval mode on the whole mapped volume.
        let (m, rec, _) = try Generation.loadModel(try Generation.checkpointFile(run))
        m.discriminator.eval()
        func untiled(_ set: VolumeSet) throws -> [Double] {
            try (0..<set.count).map { i in
                let x = Tensor(shape: [1, 1] + set.shape, values: try set.values(i).map { rec.data.intensity.forward($0) })
                let label = rec.data.classNames.firstIndex(of: set.classNames[set.labels[i]])!
                return Double(try withNoGrad { try m.discriminate(Variable(x), labels: [label]) }.value.array[0])
            }
        }
        let ur = try untiled(realSet), us = try untiled(synSet)

        var tiledSome = false
        for budget in [nil, 6 << 20] as [Int?] {
            let c = try CriticScores.run(checkpoint: run, real: realSet, synthetic: synSet, memoryBudget: budget)
            XCTAssertEqual(c.real.n, 12); XCTAssertEqual(c.synthetic.n, 12); XCTAssertEqual(c.skipped, 0)
            XCTAssertEqual(c.real.mean, Summary(ur).mean, accuracy: 1e-5, "budget \(String(describing: budget))")
            XCTAssertEqual(c.synthetic.mean, Summary(us).mean, accuracy: 1e-5)
            XCTAssertEqual(c.auc, Statistics.auc(scores: ur + us, positive: ur.map { _ in true } + us.map { _ in false }), accuracy: 1e-9)
            XCTAssertEqual(c.perClass.count, 3)
            if budget != nil { tiledSome = c.tile.contains("tiles") && !c.tile.contains("= 1 tiles") }
        }
        XCTAssertTrue(tiledSome, "a 6 MB budget should need several tiles")

        // Through evaluate: the critic section lands in metrics.json and the report.
        var o = options(real, synDir, dir + "/report")
        o.skipClassifiers = true; o.critic = run
        let result = try Evaluation.run(o)
        let metrics = try jsonObject(result)
        XCTAssertEqual(result.result(of: CriticMetric.self)?.real.n, 12)
        XCTAssertEqual(((metrics["critic"] as? [String: Any])?["real"] as? [String: Any])?["n"] as? Double, 12, "\(String(describing: metrics["critic"]))")
        XCTAssertTrue(try String(contentsOfFile: dir + "/report/report.html", encoding: .utf8).contains("The run's own critic"))
        // A checkpoint for another grid is refused with the shapes named.
        let other = dir + "/other.h5"
        let w = try VolumeStoreWriter.create(other, volumeShape: [8, 8, 8], classNames: ["NC"], voxelSize: (2, 2, 2), normalization: "none")
        for _ in 0..<2 { try w.append(Volume(shape: [8, 8, 8]), label: 0) }
        try w.commit()
        XCTAssertThrowsError(try CriticScores.run(checkpoint: run, real: try VolumeSet.open(other), synthetic: try VolumeSet.open(other), memoryBudget: nil)) { e in
            XCTAssertTrue("\(e)".contains("[48, 56, 48]") && "\(e)".contains("[8, 8, 8]"), "\(e)")
        }
    }

    /// `evaluate --critic` on a hagan3d run (two critics, layer norm: not tiled): every volume scored
    /// by `hierarchicalScores` on the volume mapped as in training, slabs covering every row.
    func testCriticScoresOfAHierarchicalRun() throws {
        let (_, _, _, run, realSet, synSet) = try criticFixture(.hagan3d, tag: "eval-critic-hagan", settings: [
            "batch": 2, "g_channels": "8,6,4", "d_channels": "4,6,8", "slab_depth": 16])
        let (m, rec, _) = try Generation.loadModel(try Generation.checkpointFile(run))
        XCTAssertTrue(m.isHierarchical)
        // 48 rows in slabs of 16: 0, 16, 32 — every row once.
        XCTAssertEqual(m.scoringSlabStarts, [0, 16, 32])
        func direct(_ set: VolumeSet) throws -> [Double] {
            try (0..<set.count).map { i in
                let x = Tensor(shape: [1, 1] + set.shape, values: try set.values(i).map { rec.data.intensity.forward($0) })
                let label = rec.data.classNames.firstIndex(of: set.classNames[set.labels[i]])!
                return Double(try m.hierarchicalScores(x, labels: [label])[0])
            }
        }
        let ur = try direct(realSet), us = try direct(synSet)
        XCTAssertTrue((ur + us).allSatisfy(\.isFinite))
        XCTAssertGreaterThan(Set(ur).count, 1, "every volume scored the same")
        let c = try CriticScores.run(checkpoint: run, real: realSet, synthetic: synSet, memoryBudget: 6 << 20)
        XCTAssertEqual(c.real.n, 12); XCTAssertEqual(c.synthetic.n, 12); XCTAssertEqual(c.skipped, 0)
        XCTAssertEqual(c.real.mean, Summary(ur).mean, accuracy: 1e-6)
        XCTAssertEqual(c.synthetic.mean, Summary(us).mean, accuracy: 1e-6)
        XCTAssertEqual(c.auc, Statistics.auc(scores: ur + us, positive: ur.map { _ in true } + us.map { _ in false }), accuracy: 1e-9)
        XCTAssertTrue(c.tile.contains("3 slabs (starts 0, 16, 32)"), c.tile)
        XCTAssertTrue(c.model.hasPrefix("hagan3d"), c.model)
    }

    func testClearErrorsForBadInputs() throws {
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("errors")
        XCTAssertThrowsError(try Evaluation.run(options(real, dir + "/missing", dir + "/r"))) { e in
            XCTAssertTrue("\(e)".contains("missing") && "\(e)".contains("no such file"), "\(e)")
        }
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        XCTAssertThrowsError(try Evaluation.run(options(real, dir + "/empty", dir + "/r"))) { e in
            XCTAssertTrue("\(e)".contains("no .nii"), "\(e)")
        }
        // A different grid is refused, naming both inputs.
        let small = dir + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        for i in 0..<2 {
            try NIfTIFile.write(Volume(shape: [20, 20, 20], data: blobVolume([20, 20, 20], seed: UInt64(i))), to: small + "/s\(i).nii.gz")
        }
        XCTAssertThrowsError(try Evaluation.run(options(real, small, dir + "/r"))) { e in
            XCTAssertTrue("\(e)".contains("shape") && "\(e)".contains(small), "\(e)")
        }
        var o = options(real, real, dir + "/r")
        o.classes = ["XYZ"]
        XCTAssertThrowsError(try Evaluation.run(o)) { e in XCTAssertTrue("\(e)".contains("no class 'XYZ'"), "\(e)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r/metrics.json"))
    }

    func testTuringKitAndScore() throws {
        let real = try Fixtures.smallCohort()
        let dir = try makeTempDir("turing")
        _ = try Fixtures.writePerturbedNIfTI(from: real, to: dir + "/gen", offset: 0.2, indices: [0, 1, 4, 5, 8, 9])
        var o = TuringKitOptions(real: real, synthetic: dir + "/gen", out: dir + "/kit")
        o.count = 8; o.seed = 4
        let s = try TuringKit.make(o)
        XCTAssertEqual(s.items, 8); XCTAssertEqual(s.real, 4); XCTAssertEqual(s.synthetic, 4)
        let keyData = try Data(contentsOf: URL(fileURLWithPath: s.key))
        let key = try JSONDecoder().decode([TuringKeyItem].self, from: keyData)
        XCTAssertEqual(key.filter { $0.truth == "real" }.count, 4)
        XCTAssertEqual(Set(key.map(\.item)).count, 8)
        for k in key { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/kit/items/\(k.item).png")) }
        // The form holds the images but not the answers.
        let form = try String(contentsOfFile: s.form, encoding: .utf8)
        XCTAssertEqual(form.components(separatedBy: "data:image/png;base64,").count - 1, 8)
        for k in key { XCTAssertFalse(form.contains(k.name), "form leaks \(k.name)") }
        XCTAssertFalse(form.contains("\"truth\""))
        // Items are shuffled: not all real first.
        XCTAssertNotEqual(key.map(\.truth), ["real", "real", "real", "real", "synthetic", "synthetic", "synthetic", "synthetic"])

        // A reader who calls everything real: 50% accuracy, Han et al. layout.
        var answers: [String: String] = [:]
        for k in key { answers[k.item] = "real" }
        let a1 = dir + "/a1.json"
        try JSONSerialization.data(withJSONObject: ["kit_id": s.kitID, "reader": "r1", "answers": answers]).write(to: URL(fileURLWithPath: a1))
        // A perfect reader who skipped one item.
        var perfect: [String: String] = [:]
        for k in key.dropFirst() { perfect[k.item] = k.truth }
        let a2 = dir + "/a2.json"
        try JSONSerialization.data(withJSONObject: ["kit_id": s.kitID, "reader": "r2", "answers": perfect]).write(to: URL(fileURLWithPath: a2))
        let scores = try TuringKit.score(kit: dir + "/kit", answers: [a1, a2])
        XCTAssertEqual(scores[0].accuracy, 0.5)
        XCTAssertEqual([scores[0].realAsReal, scores[0].realAsSynthetic, scores[0].syntheticAsReal, scores[0].syntheticAsSynthetic], [4, 0, 4, 0])
        XCTAssertEqual(scores[1].accuracy, 1); XCTAssertEqual(scores[1].unanswered, 1); XCTAssertEqual(scores[1].answered, 7)
        let table = TuringKit.table(scores)
        XCTAssertTrue(table.contains("Real as Real") && table.contains("Synt as Synt") && table.contains("50.0%"), table)

        // Wrong kit id and a changed key are refused.
        let a3 = dir + "/a3.json"
        try JSONSerialization.data(withJSONObject: ["kit_id": "other", "answers": answers]).write(to: URL(fileURLWithPath: a3))
        XCTAssertThrowsError(try TuringKit.score(kit: dir + "/kit", answers: [a3])) { XCTAssertTrue("\($0)".contains("kit other")) }

        // The form in headless Chromium: pick answers, save, and score what it produced.
        do {
            let chrome = try Fixtures.chromium()
            let script = "document.querySelectorAll('input[value=\"synthetic\"]').forEach(r => r.checked = true); document.getElementById('reader').value = 'browser'; document.getElementById('save').click(); return JSON.parse(document.getElementById('out').value);"
            let (probe, stderr) = try Fixtures.probeInChromium(chrome, htmlPath: s.form, extraScript: script)
            XCTAssertEqual((probe["errors"] as? [Any])?.count, 0, "\(probe) \(stderr.suffix(1500))")
            XCTAssertEqual((probe["images"] as? [[String: Any]])?.filter { ($0["w"] as? Int ?? 0) > 50 }.count, 8)
            let saved = try XCTUnwrap(probe["extra"] as? [String: Any])
            XCTAssertEqual(saved["kit_id"] as? String, s.kitID)
            let a4 = dir + "/a4.json"
            try JSONSerialization.data(withJSONObject: saved).write(to: URL(fileURLWithPath: a4))
            let sc = try TuringKit.score(kit: dir + "/kit", answers: [a4])
            XCTAssertEqual(sc[0].reader, "browser")
            XCTAssertEqual([sc[0].realAsReal, sc[0].realAsSynthetic, sc[0].syntheticAsReal, sc[0].syntheticAsSynthetic], [0, 4, 0, 4])
        }

        var tampered = key
        tampered[0].truth = tampered[0].truth == "real" ? "synthetic" : "real"
        try JSONEncoder().encode(tampered).write(to: URL(fileURLWithPath: s.key))
        XCTAssertThrowsError(try TuringKit.score(kit: dir + "/kit", answers: [a1])) { XCTAssertTrue("\($0)".contains("SHA-256")) }
    }
}
