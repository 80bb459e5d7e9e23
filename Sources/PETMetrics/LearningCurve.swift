// Learning curves (issue 17): how well a model has learned the data, measured during training. At
// chosen points the training clock stops, samples are generated from fixed seeds (the same seeds
// every time, so successive rows differ only by the model), `Evaluation.run` compares them with a
// held-out real set, and one `QualityRow` is kept: training time and CPU time so far (evaluation
// excluded), the evaluation's own cost, and the headline figures of the evaluation. `petgan bench
// quality` and `petgan train --eval-every` write the same rows; `QualityCurve` draws them.
//
// Public API:
//   let probe = try QualityProbe(options, record: trainer.record)
//   let recorder = QualityRecorder(probe: probe, jsonl: "run/quality.jsonl", curve: "run/quality_curve.png")
//   try recorder.record(model: trainer.model, step: trainer.step)      // QualityRow, appended
//   QualityCurve.render([("run", rows)], x: .minutes)                  // RGBImage

import Foundation
import PETModels
import PETTensor
import PETVolumes

/// One figure of a quality row. Adding a figure: a case (its JSON key) and its line in `value(in:)`.
public enum QualityField: String, CodingKey, CaseIterable, Sendable {
    /// Classifier two-sample test accuracy on held-out real vs generated (0.5: indistinguishable) and its 95% interval.
    case c2stAcc = "c2st_acc", c2stCILow = "c2st_ci_low", c2stCIHigh = "c2st_ci_high"
    /// MMD² (Gaussian kernel) between block-averaged real and generated volumes, and its permutation p-value.
    case mmd = "mmd", mmdP = "mmd_p"
    /// Mean over atlas regions and classes of |generated − real| regional mean (data units: SUVR for the phantom).
    case regionalAbsErr = "regional_abs_err"
    /// Fréchet distance in the task-trained feature network (`FeatureDistanceMetric`), and the real
    /// set's half-vs-half distance in the same features (its noise floor).
    case fdTask = "fd_task", fdTaskRealHalves = "fd_task_real_halves"
    /// Fréchet distance in the pinned seeded 3D extractor (issue 17 deliverable 3).
    case fdSeeded = "fd_seeded"
    /// Accuracy of a real-trained classifier on the generated volumes' requested class (deliverable 1).
    case classFidelity = "class_fidelity"
    /// Memorisation audit: generated-to-train over held-out-to-train nearest-neighbour distance (deliverable 2).
    case nnRatio = "nn_ratio"

    /// The figure in an evaluation's result; nil when the evaluation does not provide it (written as null).
    public func value(in r: EvaluationResult) -> Double? {
        let v: Double?
        switch self {
        case .c2stAcc: v = r.result(of: C2STMetric.self)?.accuracy
        case .c2stCILow: v = r.result(of: C2STMetric.self)?.ciLow
        case .c2stCIHigh: v = r.result(of: C2STMetric.self)?.ciHigh
        case .mmd: v = r.result(of: VoxelMMDMetric.self)?.mmd2
        case .mmdP: v = r.result(of: VoxelMMDMetric.self)?.pValue
        case .regionalAbsErr: v = r.summary.regionalAbsErr
        case .fdTask: v = r.summary.fdTask
        case .fdTaskRealHalves: v = r.result(of: FeatureDistanceMetric.self)?.frechetRealHalfVsHalf
        case .fdSeeded: v = r.summary.fdSeeded
        case .classFidelity: v = r.summary.classFidelity
        // Null unless the evaluation had the training store (`QualityProbe.Options.train`).
        case .nnRatio: v = r.summary.nnRatio
        }
        return v.flatMap { $0.isFinite ? $0 : nil }
    }

    /// Lower is better for every figure but the p-value (higher: less evidence of a difference).
    public var lowerIsBetter: Bool { self != .mmdP }
}

/// One point of a learning curve. JSON keys: the fixed ones below, then every `QualityField` (null
/// when the evaluation did not provide it).
public struct QualityRow: Codable, Equatable {
    /// Training wall-clock minutes so far, evaluation time excluded.
    public var minutes: Double
    /// Generator steps so far.
    public var step: Int
    /// Training CPU seconds of the process so far (user + system, all threads), evaluation excluded.
    public var cpuSeconds: Double
    /// Wall and CPU seconds of this row's sampling and evaluation.
    public var evalSeconds: Double, evalCPUSeconds: Double
    /// Generated volumes and held-out real volumes compared.
    public var samples: Int, heldOut: Int
    /// The evaluation's report folder (metrics.json, report.html).
    public var report: String
    public var metrics: [QualityField: Double]

    public init(minutes: Double, step: Int, cpuSeconds: Double, evalSeconds: Double, evalCPUSeconds: Double,
                samples: Int, heldOut: Int, report: String, metrics: [QualityField: Double]) {
        self.minutes = minutes; self.step = step; self.cpuSeconds = cpuSeconds; self.evalSeconds = evalSeconds
        self.evalCPUSeconds = evalCPUSeconds; self.samples = samples; self.heldOut = heldOut; self.report = report; self.metrics = metrics
    }

    /// The row of an evaluation: every field's value from the result.
    public init(evaluation r: EvaluationResult, minutes: Double, step: Int, cpuSeconds: Double, evalSeconds: Double, evalCPUSeconds: Double, report: String) {
        var m: [QualityField: Double] = [:]
        for f in QualityField.allCases { if let v = f.value(in: r) { m[f] = v } }
        self.init(minutes: minutes, step: step, cpuSeconds: cpuSeconds, evalSeconds: evalSeconds, evalCPUSeconds: evalCPUSeconds,
                  samples: r.header.inputs.synthetic.count, heldOut: r.header.inputs.real.count, report: report, metrics: m)
    }

    enum Key: String, CodingKey {
        case minutes, step, samples, report
        case cpuSeconds = "cpu_seconds", evalSeconds = "eval_seconds", evalCPUSeconds = "eval_cpu_seconds", heldOut = "held_out"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        minutes = try c.decode(Double.self, forKey: .minutes)
        step = try c.decode(Int.self, forKey: .step)
        cpuSeconds = try c.decode(Double.self, forKey: .cpuSeconds)
        evalSeconds = try c.decode(Double.self, forKey: .evalSeconds)
        evalCPUSeconds = try c.decode(Double.self, forKey: .evalCPUSeconds)
        samples = try c.decode(Int.self, forKey: .samples)
        heldOut = try c.decode(Int.self, forKey: .heldOut)
        report = try c.decodeIfPresent(String.self, forKey: .report) ?? ""
        let m = try decoder.container(keyedBy: QualityField.self)
        var metrics: [QualityField: Double] = [:]
        for f in QualityField.allCases { if let v = try m.decodeIfPresent(Double.self, forKey: f), v.isFinite { metrics[f] = v } }
        self.metrics = metrics
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(minutes, forKey: .minutes)
        try c.encode(step, forKey: .step)
        try c.encode(cpuSeconds, forKey: .cpuSeconds)
        try c.encode(evalSeconds, forKey: .evalSeconds)
        try c.encode(evalCPUSeconds, forKey: .evalCPUSeconds)
        try c.encode(samples, forKey: .samples)
        try c.encode(heldOut, forKey: .heldOut)
        try c.encode(report, forKey: .report)
        var m = encoder.container(keyedBy: QualityField.self)
        for f in QualityField.allCases {
            if let v = metrics[f] { try m.encode(v, forKey: f) } else { try m.encodeNil(forKey: f) }
        }
    }
}

/// Reading and writing rows: a JSON array (`bench quality --json`) or JSON lines (`quality.jsonl`).
public enum QualityRows {
    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// Rows of a file of either layout; a file that is neither, or holds no row, is an error naming it.
    public static func read(_ path: String) throws -> [QualityRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MetricsError.badInput(path: path, reason: "cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let rows: [QualityRow]
        do {
            if text.hasPrefix("[") {
                rows = try decoder().decode([QualityRow].self, from: Data(text.utf8))
            } else {
                rows = try text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                    .map { try decoder().decode(QualityRow.self, from: Data($0.utf8)) }
            }
        } catch let e as DecodingError {
            throw MetricsError.badInput(path: path, reason: "not a file of learning-curve rows (bench quality --json or quality.jsonl): \(describe(e).replacingOccurrences(of: "\n", with: " "))")
        }
        guard !rows.isEmpty else { throw MetricsError.badInput(path: path, reason: "holds no learning-curve rows") }
        for i in 1..<max(1, rows.count) where rows[i].step < rows[i - 1].step {
            throw MetricsError.badInput(path: path, reason: "rows are not in step order (row \(i + 1) has step \(rows[i].step) after \(rows[i - 1].step))")
        }
        return rows
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case let .keyNotFound(k, _): return "key '\(k.stringValue)' is missing"
        case let .typeMismatch(_, c), let .valueNotFound(_, c): return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case let .dataCorrupted(c): return c.underlyingError.map { "\($0.localizedDescription)" } ?? c.debugDescription
        @unknown default: return "\(e)"
        }
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// Writes rows as JSON lines, atomically.
    public static func writeJSONL(_ rows: [QualityRow], to path: String) throws {
        let e = encoder()
        var data = Data()
        for r in rows { data += try e.encode(r); data += Data("\n".utf8) }
        try Evaluation.writeAtomically(data, to: path)
    }
}

/// Generates samples from fixed seeds with a model in training and evaluates them against a
/// held-out store with the project's evaluation.
public final class QualityProbe {
    public struct Options {
        /// The held-out real store (same grid as the training data).
        public var heldOut: String
        /// Folder of the evaluations (one report folder per row: step-NNNNNN/).
        public var out: String
        /// Generated volumes per class (nil: as many as the held-out set has of that class).
        public var samplesPerClass: Int? = nil
        /// Sample j of a class uses seed `firstSeed + j` (as `petgan generate --seeds`).
        public var firstSeed: UInt64 = 1
        /// Evaluation seed (classifier splits and initializations).
        public var seed: UInt64 = 1
        public var templatesDirectory: String? = nil
        /// The model's training store: with it each row has the memorisation audit's `nn_ratio`.
        public var train: String? = nil
        public var memoryBudget: Int? = nil
        /// Synthetic samples paired with their nearest real one (PSNR/SSIM pass; bounded to keep rows cheap).
        public var maxPairs = 12
        public var mmdPermutations = 100
        /// Keep only the latest report folder (older rows' reports are removed).
        public var keepLatestReportOnly = true
        public var log: ((String) -> Void)? = nil
        public init(heldOut: String, out: String) { self.heldOut = heldOut; self.out = out }
    }

    public let options: Options
    public let record: RunRecord
    /// (label, seed) of every generated volume, in order.
    public let jobs: [(label: Int, seed: UInt64)]
    /// Classes the held-out set is restricted to (a one-class model: its class).
    let classFilter: [String]
    public let heldOutCount: Int
    var lastReport: String?

    public init(_ o: Options, record: RunRecord) throws {
        options = o; self.record = record
        guard record.geometry.dims == 3 else {
            throw MetricsError.badInput(path: o.heldOut, reason: "learning curves evaluate 3D models (this run is \(record.config.model.rawValue))")
        }
        let store: VolumeStore
        do { store = try VolumeStore.open(o.heldOut) } catch {
            throw MetricsError.badInput(path: o.heldOut, reason: "cannot open the held-out store: \(error)")
        }
        guard store.volumeShape == record.geometry.imageShape else {
            throw MetricsError.mismatch(detail: "\(o.heldOut) holds volumes of shape \(store.volumeShape) (D,H,W) but the model generates \(record.geometry.imageShape)")
        }
        let names = record.data.classNames
        let conditional = record.geometry.conditionalClasses > 0
        let modelClasses: [Int]
        if conditional { modelClasses = Array(0..<record.geometry.conditionalClasses) }
        else if !record.config.classFilter.isEmpty, let c = names.firstIndex(of: record.config.classFilter) { modelClasses = [c] }
        else { modelClasses = [0] }
        let filter = !conditional && !record.config.classFilter.isEmpty ? [record.config.classFilter] : []
        classFilter = filter
        var jobs: [(label: Int, seed: UInt64)] = []
        var held = 0
        for c in modelClasses {
            let name = c < names.count ? names[c] : ""
            let inHeld = store.labels.indices.filter { i in
                let l = store.labels[i]
                return conditional || !filter.isEmpty ? (l < store.classNames.count && store.classNames[l] == name) : true
            }.count
            held += inHeld
            let n = o.samplesPerClass ?? inHeld
            for j in 0..<n { jobs.append((c, o.firstSeed + UInt64(j))) }
        }
        guard held >= 2, jobs.count >= 2 else {
            throw MetricsError.tooSmall(detail: "\(o.heldOut): the learning curve needs at least 2 held-out volumes of the model's classes (\(modelClasses.map { $0 < names.count ? names[$0] : "?" }.joined(separator: ", "))) and 2 samples (have \(held) and \(jobs.count))")
        }
        self.jobs = jobs
        heldOutCount = held
    }

    /// Writes the model's samples for the fixed seeds to `path` (values in the generator's [−1, 1]
    /// with the training data's intensity map, as a normalized store). One sample per generator call,
    /// in evaluation mode: a sample depends only on (weights, class, seed).
    func writeSamples(model: GANModel, to path: String) throws {
        let rec = record
        let affine = Affine(rec.data.affine)
        let w = try VolumeStoreWriter.create(path, volumeShape: rec.geometry.imageShape, classNames: rec.data.classNames,
                                             voxelSize: affine.voxelSizes, normalization: rec.data.normalization,
                                             space: rec.data.mni ? .mni : .scanner,
                                             extraAttributes: ["kind": "petgan learning-curve samples", "units": rec.data.units])
        for j in jobs {
            var r = PETRandom(seed: j.seed)
            let z = model.sampleNoise(1, rng: &r)
            let t = try model.sample(z, labels: [j.label])
            let v = Volume(shape: rec.geometry.imageShape, data: Array(UnsafeBufferPointer(start: t.data, count: t.count)),
                           affine: affine, space: rec.data.mni ? .mni : .scanner)
            try w.append(v, label: j.label, intensity: rec.data.intensity, sourceFile: String(format: "class%d_seed%05llu", j.label, j.seed))
        }
        try w.commit()
    }

    /// Samples and evaluates; the evaluation's result and its report folder.
    public func measure(model: GANModel, step: Int) throws -> (result: EvaluationResult, report: String) {
        let dir = (options.out as NSString).appendingPathComponent(String(format: "step-%06d", step))
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let samples = (dir as NSString).appendingPathComponent("samples.h5")
        try writeSamples(model: model, to: samples)
        var e = EvaluationOptions(real: options.heldOut, synthetic: samples, out: dir)
        e.classes = classFilter
        e.seed = options.seed
        e.memoryBudget = options.memoryBudget
        e.templatesDirectory = options.templatesDirectory
        e.train = options.train
        e.maxPairs = options.maxPairs
        e.mmdPermutations = options.mmdPermutations
        // The augmentation benefit trains 4 classifiers per seed and is not a row figure.
        e.augmentationSeeds = []
        e.log = options.log
        let r = try Evaluation.run(e)
        if options.keepLatestReportOnly, let old = lastReport, old != dir { try? FileManager.default.removeItem(atPath: old) }
        lastReport = dir
        return (r, dir)
    }
}

/// User + system CPU seconds of this process (all threads).
public func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// The training clock (wall and CPU, evaluation excluded) and the rows of one run, kept on disk
/// after every row (JSON lines and the curve PNG).
public final class QualityRecorder {
    public let probe: QualityProbe
    public let jsonl: String?, curve: String?
    public private(set) var rows: [QualityRow]
    var wallStart: UInt64, cpuStart: Double
    /// Training time and CPU time carried over from rows written before this process (a resumed run).
    let carriedSeconds: Double, carriedCPU: Double
    var evalWall = 0.0, evalCPU = 0.0

    /// `previous`: rows already written (a resumed run continues their clock and appends).
    public init(probe: QualityProbe, jsonl: String?, curve: String?, previous: [QualityRow] = []) {
        self.probe = probe; self.jsonl = jsonl; self.curve = curve; rows = previous
        carriedSeconds = (previous.last?.minutes ?? 0) * 60
        carriedCPU = previous.last?.cpuSeconds ?? 0
        wallStart = DispatchTime.now().uptimeNanoseconds
        cpuStart = processCPUSeconds()
    }

    /// Training seconds so far (this process's wall time minus its evaluations, plus carried time).
    public var trainingSeconds: Double {
        carriedSeconds + Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9 - evalWall
    }
    public var trainingCPUSeconds: Double { carriedCPU + processCPUSeconds() - cpuStart - evalCPU }

    /// One line: the row's clock and its headline figures.
    public static func summary(_ r: QualityRow) -> String {
        func f(_ k: QualityField, _ fmt: String) -> String { r.metrics[k].map { String(format: fmt, $0) } ?? "–" }
        return String(format: "%.2f min, %.0f CPU s; ", r.minutes, r.cpuSeconds)
            + "C2ST \(f(.c2stAcc, "%.3f")) [\(f(.c2stCILow, "%.3f")), \(f(.c2stCIHigh, "%.3f"))], MMD² \(f(.mmd, "%.4g")), "
            + "regional |Δ| \(f(.regionalAbsErr, "%.4f")), FD(task) \(f(.fdTask, "%.4g"))"
            + String(format: " (evaluation %.1f s, %d vs %d volumes)", r.evalSeconds, r.samples, r.heldOut)
    }

    /// Evaluates the model now (the training clock stopped meanwhile), appends the row and rewrites
    /// the files.
    @discardableResult
    public func record(model: GANModel, step: Int) throws -> QualityRow {
        // The untrained model's row is the clock's zero (setting up the probe is not training).
        if step == 0 && rows.isEmpty { wallStart = DispatchTime.now().uptimeNanoseconds; cpuStart = processCPUSeconds() }
        let minutes = trainingSeconds / 60, cpu = trainingCPUSeconds
        let w0 = DispatchTime.now().uptimeNanoseconds, c0 = processCPUSeconds()
        let (result, report) = try probe.measure(model: model, step: step)
        let ew = Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9, ec = processCPUSeconds() - c0
        evalWall += ew; evalCPU += ec
        func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
        // Minutes to 1e-5 (0.6 ms): a tiny model's step must still move the clock.
        let row = QualityRow(evaluation: result, minutes: (minutes * 1e5).rounded() / 1e5, step: step, cpuSeconds: round3(cpu),
                             evalSeconds: round3(ew), evalCPUSeconds: round3(ec), report: report)
        rows.append(row)
        if let j = jsonl { try QualityRows.writeJSONL(rows, to: j) }
        if let c = curve { try QualityCurve.write([("", rows)], x: .minutes, to: c) }
        return row
    }
}

/// The x axis of a learning curve.
public enum QualityAxis: String, CaseIterable, Sendable {
    case minutes, steps, cpu
    func value(_ r: QualityRow) -> Double {
        switch self {
        case .minutes: return r.minutes
        case .steps: return Double(r.step)
        case .cpu: return r.cpuSeconds
        }
    }
    var label: String {
        switch self {
        case .minutes: return "TRAINING MINUTES"
        case .steps: return "GENERATOR STEPS"
        case .cpu: return "TRAINING CPU SECONDS"
        }
    }
}

/// Learning-curve figures: one panel per figure any run has, one line per run.
public enum QualityCurve {
    static let colors: [(UInt8, UInt8, UInt8)] = [(220, 60, 50), (40, 110, 220), (40, 160, 70), (200, 140, 20), (140, 60, 180), (20, 160, 170)]
    /// Panels drawn (the interval bounds go into the C2ST panel).
    static let panels: [QualityField] = QualityField.allCases.filter { ![.c2stCILow, .c2stCIHigh, .fdTaskRealHalves].contains($0) }

    public static func render(_ runs: [(name: String, rows: [QualityRow])], x: QualityAxis, panelWidth: Int = 480, panelHeight: Int = 240) -> RGBImage {
        let shown = panels.filter { f in runs.contains { $0.rows.contains { $0.metrics[f] != nil } } }
        var images: [RGBImage] = []
        for f in shown {
            var rows: [[String: Double]] = []
            var series: [LossPlot.Series] = []
            for (k, run) in runs.enumerated() {
                let color = colors[k % colors.count]
                let name = runs.count == 1 ? "" : "\(k + 1) \(run.name)"
                let key = "run\(k)", lo = "run\(k)lo", hi = "run\(k)hi"
                for r in run.rows {
                    var d: [String: Double] = ["x": x.value(r)]
                    if let v = r.metrics[f] { d[key] = v }
                    if f == .c2stAcc { d[lo] = r.metrics[.c2stCILow]; d[hi] = r.metrics[.c2stCIHigh] }
                    if f == .fdTask { d[lo] = r.metrics[.fdTaskRealHalves] }
                    rows.append(d)
                }
                func faint(_ c: (UInt8, UInt8, UInt8)) -> (UInt8, UInt8, UInt8) { (UInt8(255 - (255 - Int(c.0)) / 3), UInt8(255 - (255 - Int(c.1)) / 3), UInt8(255 - (255 - Int(c.2)) / 3)) }
                // Faint lines first: the run's own line is drawn over them.
                if f == .c2stAcc {
                    series.append(LossPlot.Series(name: "", key: lo, color: faint(color)))
                    series.append(LossPlot.Series(name: "", key: hi, color: faint(color)))
                }
                if f == .fdTask { series.append(LossPlot.Series(name: "", key: lo, color: faint(color))) }
                series.append(LossPlot.Series(name: name, key: key, color: color))
            }
            let note = f == .c2stAcc ? " (95 PCT CI FAINT)" : f == .fdTask ? " (REAL HALVES FAINT)" : ""
            images.append(LossPlot.plot(rows, series: series, width: panelWidth, height: panelHeight, title: f.rawValue.replacingOccurrences(of: "_", with: " ") + note,
                                        xKey: "x", xLabel: x.label, smooth: false))
        }
        if images.isEmpty { images.append(LossPlot.plot([], series: [], width: panelWidth, height: panelHeight, title: "NO FIGURES", xKey: "x", xLabel: x.label, smooth: false)) }
        // Two panels a row.
        let cols = min(2, images.count), lines = (images.count + cols - 1) / cols
        var out = RGBImage(width: cols * panelWidth, height: lines * panelHeight, fill: 255)
        for (i, img) in images.enumerated() {
            let ox = (i % cols) * panelWidth, oy = (i / cols) * panelHeight
            for y in 0..<img.height { for xx in 0..<img.width { out[ox + xx, oy + y] = img[xx, y] } }
        }
        return out
    }

    /// Renders and writes a PNG atomically.
    public static func write(_ runs: [(name: String, rows: [QualityRow])], x: QualityAxis, to path: String) throws {
        let tmp = path + ".tmp-\(getpid()).png"
        try PNGFile.write(render(runs, x: x), to: tmp)
        if rename(tmp, path) != 0 {
            unlink(tmp)
            throw MetricsError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// The last and best value of each figure per run (best: lowest, or highest for a p-value).
    public static func table(_ runs: [(name: String, rows: [QualityRow])], x: QualityAxis) -> [String] {
        let fields = QualityField.allCases.filter { f in runs.contains { $0.rows.contains { $0.metrics[f] != nil } } }
        var lines = ["run".padding(toLength: 28, withPad: " ", startingAt: 0) + "figure".padding(toLength: 20, withPad: " ", startingAt: 0)
                     + "      last   (at \(x.rawValue))       best   (at \(x.rawValue))"]
        for (k, run) in runs.enumerated() {
            let name = String("\(k + 1) \(run.name)".prefix(27)).padding(toLength: 28, withPad: " ", startingAt: 0)
            let last = run.rows.last!
            lines.append(name + String(format: "(%d rows, last step %d, %.1f min, %.0f CPU s)", run.rows.count, last.step, last.minutes, last.cpuSeconds))
            for f in fields {
                let pts = run.rows.compactMap { r in r.metrics[f].map { (x.value(r), $0) } }
                guard let l = pts.last else { continue }
                let b = pts.min { f.lowerIsBetter ? $0.1 < $1.1 : $0.1 > $1.1 }!
                lines.append(String(repeating: " ", count: 28) + f.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
                             + String(format: "%10.4g %10.4g %10.4g %10.4g", l.1, l.0, b.1, b.0))
            }
        }
        return lines
    }
}
