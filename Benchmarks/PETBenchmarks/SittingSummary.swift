// `petgan bench summary --dir DIR`: the one table of a Benchmarks/run-with-torch.sh sitting, in
// issue 16's form — every layer and training step with PETGAN and PyTorch side by side in fp32 and
// bf16, the speed ratios, each row's fraction of its peak, the layer set's sum — and issue 16's
// targets, each met or not on these figures. It reads only the sitting's own files (conv.json,
// conv_bf16.json, train.json, train_bf16.json, peak.json, machine.txt and torch_peer.py's rows);
// a file that is absent leaves its columns empty and is named under the table.
import Foundation

public struct SittingSummary {
    /// One layer of `bench conv` (the automatic path's row) with its peers.
    public struct Layer {
        public var name: String
        public var op: String
        public var fp32: ConvRow?
        public var bf16: ConvRow?
        public var torch: PeerLayerRow?
        public var torchBF16: PeerLayerRow?
    }
    /// One training step of `bench train` in both precisions (the rows carry their peers' figures).
    public struct Step {
        public var name: String
        public var fp32: TrainRow?
        public var bf16: TrainRow?
    }
    /// One of issue 16's targets on this sitting's figures: nil `met` when a figure is missing.
    public struct Target {
        public var target: String
        public var measured: String
        public var met: Bool?
    }

    public var machine: [String] = []
    public var peak: PeakRow?
    public var layers: [Layer] = []
    public var steps: [Step] = []
    /// The sitting's files that were not there.
    public var missing: [String] = []

    /// The 64³ DCGAN layer set the issue sums (G1–G5, D1–D5) and its GEMM-bound layers.
    public static let layerSet = ["G1", "G2", "G3", "G4", "G5", "D1", "D2", "D3", "D4", "D5"]
    public static let bigLayers = ["G2", "G3", "G4", "D2", "D3", "D4"]
    /// Issue 16's peak RSS of the three steps before its work (MB): the bound its RSS target sets.
    public static let rssBeforeMB: [String: Double] = ["dcgan3d_64_b4": 846, "wgangp3d_64_b4": 838, "dcgan2d_b64": 1753]

    // MARK: reading

    public static func read(directory dir: String) throws -> SittingSummary {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw BenchmarkError("\(dir): no such folder (give the OUT folder of Benchmarks/run-with-torch.sh)")
        }
        var s = SittingSummary()
        func path(_ f: String) -> String { (dir as NSString).appendingPathComponent(f) }
        func rows<T: Decodable>(_ f: String, _ type: T.Type) throws -> [T]? {
            let p = path(f)
            guard FileManager.default.fileExists(atPath: p) else { s.missing.append(f); return nil }
            return try decodeRows(type, from: p)
        }
        if let text = try? String(contentsOfFile: path("machine.txt"), encoding: .utf8) {
            s.machine = text.split(separator: "\n").map(String.init)
        } else { s.missing.append("machine.txt") }
        s.peak = try rows("peak.json", PeakRow.self)?.first
        // The automatic path's row of each layer ("auto(im2col)", "auto:bf16-tiles", …).
        func automatic(_ rs: [ConvRow]?) -> [String: ConvRow] {
            var byName: [String: ConvRow] = [:]
            for r in rs ?? [] where r.path.hasPrefix("auto") { byName[r.name] = r }
            return byName
        }
        let convRows = try rows("conv.json", ConvRow.self)
        let fp32 = automatic(convRows), bf16 = automatic(try rows("conv_bf16.json", ConvRow.self))
        var torch: [String: PeerLayerRow] = [:]
        for f in ["torch_layers_rows.json", "torch_bigk_rows.json"] {
            for r in try rows(f, PeerLayerRow.self) ?? [] { if let n = r.name { torch[n] = r } }
        }
        var torchBF16: [String: PeerLayerRow] = [:]
        for r in try rows("torch_layers_bf16_rows.json", PeerLayerRow.self) ?? [] { if let n = r.name { torchBF16[n] = r } }
        // Layers in the order bench conv ran them.
        var names: [String] = []
        for r in (convRows ?? []) + Array(bf16.values).sorted(by: { $0.name < $1.name }) where r.name != "SGEMM" && !names.contains(r.name) {
            names.append(r.name)
        }
        s.layers = names.map { n in
            Layer(name: n, op: fp32[n]?.op ?? bf16[n]?.op ?? "", fp32: fp32[n], bf16: bf16[n], torch: torch[n], torchBF16: torchBF16[n])
        }
        let t32 = try rows("train.json", TrainRow.self) ?? [], t16 = try rows("train_bf16.json", TrainRow.self) ?? []
        var stepNames: [String] = []
        for r in t32 + t16 where !stepNames.contains(r.name) { stepNames.append(r.name) }
        s.steps = stepNames.map { n in Step(name: n, fp32: t32.first { $0.name == n }, bf16: t16.first { $0.name == n }) }
        if s.layers.isEmpty && s.steps.isEmpty {
            throw BenchmarkError("\(dir): no conv.json, conv_bf16.json, train.json or train_bf16.json rows (is it a run-with-torch.sh OUT folder?)")
        }
        return s
    }

    /// Benchmark files write non-finite figures as "nan" / "inf" strings (benchJSONEncoder).
    static func decodeRows<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchmarkError("\(path): cannot read the file") }
        let text = Data(PeerFile.sanitized(String(decoding: data, as: UTF8.self)).utf8)
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try d.decode([T].self, from: text) } catch let e as DecodingError {
            let why: String
            switch e {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
                let at = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
                why = (at.isEmpty ? "" : "at \(at): ") + c.debugDescription
            @unknown default: why = "\(e)"
            }
            throw BenchmarkError("\(path): not a JSON array of the rows this benchmark writes (\(why))")
        }
    }

    // MARK: figures

    /// f+b ms of the layer set in one column, nil unless every layer of the set has it.
    public func layerSetMs(_ column: (Layer) -> Double?) -> Double? {
        var sum = 0.0
        for n in Self.layerSet {
            guard let l = layers.first(where: { $0.name == n }), let v = column(l) else { return nil }
            sum += v
        }
        return sum
    }

    static func ratio(_ a: Double?, _ b: Double?) -> Double? {
        guard let a, let b, b > 0, a.isFinite, b.isFinite else { return nil }
        return a / b
    }

    /// A step's time over its peer's, from the ms figures (the row's `time_ratio` keeps 3 decimals).
    static func timeRatio(_ r: TrainRow) -> Double? { ratio(r.msStep, r.peerMsStep) ?? r.timeRatio }

    public var targets: [Target] {
        var out: [Target] = []
        func fmt(_ v: Double?, _ d: Int = 2) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "–" }
        // Three decimals: a figure just past its bound (0.654 against 0.65) must not print as the bound.
        func times(_ v: Double?) -> String { v.map { String(format: "%.3f×", $0) } ?? "–" }
        let big = layers.filter { Self.bigLayers.contains($0.name) }
        let fractions = big.compactMap { $0.fp32?.fractionOfPeak }
        out.append(Target(target: "fp32: big layers (G2–G4, D2–D4) f+b ≥ 85% of the FMA peak",
                          measured: big.map { "\($0.name) \($0.fp32?.fractionOfPeak.map { String(format: "%.0f%%", $0 * 100) } ?? "–")" }.joined(separator: ", "),
                          met: fractions.count == Self.bigLayers.count ? fractions.allSatisfy { $0 >= 0.85 } : nil))
        let speeds = big.map { Self.ratio($0.torch?.msForwardBackward, $0.fp32?.msForwardBackward) }
        out.append(Target(target: "fp32: big layers no slower than PyTorch (oneDNN)",
                          measured: zip(big, speeds).map { "\($0.name) \(times($1))" }.joined(separator: ", "),
                          met: speeds.count == Self.bigLayers.count && speeds.allSatisfy({ $0 != nil }) ? speeds.allSatisfy { $0! >= 1 } : nil))
        let set = Self.ratio(layerSetMs { $0.torch?.msForwardBackward }, layerSetMs { $0.fp32?.msForwardBackward })
        out.append(Target(target: "fp32: whole layer set ≥ 1.2× PyTorch's speed", measured: times(set), met: set.map { $0 >= 1.2 }))
        let k3 = layers.first { $0.name == "K3" }.flatMap { Self.ratio($0.torch?.msForwardBackward, $0.fp32?.msForwardBackward) }
        out.append(Target(target: "fp32: K3 ≥ 1.0× PyTorch's speed", measured: times(k3), met: k3.map { $0 >= 1 }))
        for (name, bound) in [("dcgan3d_64_b4", 0.85), ("dcgan2d_b64", 0.85), ("wgangp3d_64_b4", 0.8)] {
            let r = steps.first { $0.name == name }?.fp32.flatMap(Self.timeRatio)
            out.append(Target(target: "fp32: \(name) step ≤ \(fmt(bound))× PyTorch's time", measured: times(r), met: r.map { $0 <= bound }))
        }
        let gains = big.map { Self.ratio($0.fp32?.msForwardBackward, $0.bf16?.msForwardBackward) }
        out.append(Target(target: "bf16: GEMM-bound layers ≥ 1.6× their own fp32 speed",
                          measured: zip(big, gains).map { "\($0.name) \(times($1))" }.joined(separator: ", "),
                          met: gains.count == Self.bigLayers.count && gains.allSatisfy({ $0 != nil }) ? gains.allSatisfy { $0! >= 1.6 } : nil))
        for name in ["dcgan3d_64_b4", "wgangp3d_64_b4", "dcgan2d_b64"] {
            let s = steps.first { $0.name == name }
            let own = Self.ratio(s?.bf16?.msStep, s?.fp32?.msStep)
            out.append(Target(target: "bf16: \(name) step ≤ 0.65× its own fp32 time", measured: times(own), met: own.map { $0 <= 0.65 }))
            let vs = s?.bf16.flatMap(Self.timeRatio)
            out.append(Target(target: "bf16: \(name) step faster than PyTorch autocast bf16", measured: vs.map { String(format: "%.3f× its time", $0) } ?? "–", met: vs.map { $0 < 1 }))
        }
        for (name, before) in Self.rssBeforeMB.sorted(by: { $0.key < $1.key }) {
            let s = steps.first { $0.name == name }
            let worst = [s?.fp32?.peakRSSMB, s?.bf16?.peakRSSMB].compactMap { $0 }.max()
            out.append(Target(target: "peak RSS of \(name) ≤ \(Int(before)) MB (before issue 16)",
                              measured: "fp32 \(fmt(s?.fp32?.peakRSSMB, 0)), bf16 \(fmt(s?.bf16?.peakRSSMB, 0)) MB",
                              met: worst.map { $0 <= before }))
        }
        return out
    }

    // MARK: the table

    public func markdown() -> String {
        func ms(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "–" }
        func mb(_ v: Double?) -> String { v.map { String(format: "%.0f", $0) } ?? "–" }
        func x(_ v: Double?) -> String { v.map { String(format: "%.2f×", $0) } ?? "–" }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.0f%%", $0 * 100) } ?? "–" }
        func path(_ r: ConvRow?) -> String {
            guard let p = r?.path else { return "" }
            // "auto(implicit-gemm)" → "implicit-gemm", "auto:bf16-tiles" → "bf16-tiles".
            var q = p.hasPrefix("auto:") ? String(p.dropFirst(5)) : p
            if q.hasPrefix("auto("), q.hasSuffix(")") { q = String(q.dropFirst(5).dropLast()) }
            return " (\(q))"
        }
        var lines: [String] = ["# Benchmarks/run-with-torch.sh sitting", ""]
        lines += machine.map { "    " + $0 }
        if let p = peak {
            lines += ["", "Peaks on the sitting's threads: fp32 FMA \(ms(p.fp32GFlops)) GF/s (\(p.fp32ISA ?? "?")), bf16 " +
                      (p.bf16GFlops.map { String(format: "%.1f GF/s", $0) } ?? "not available on this CPU") +
                      "; tiles alone: fp32 AVX-512 \(ms(p.tileAVX512GFlops)), AVX2 \(ms(p.tileAVX2GFlops)), bf16 \(ms(p.tileBF16GFlops)) GF/s."]
        }
        lines += ["", "Forward + backward, ms (`bench conv --paths auto`, the path in brackets); speed = PyTorch's time ÷ PETGAN's; % of the fp32 FMA peak and of the bf16 peak.", "",
                  "| layer | PETGAN fp32 | % peak | PyTorch fp32 | speed | PETGAN bf16 | % bf16 peak | PyTorch bf16 | speed | bf16 vs own fp32 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        let set32 = layerSetMs { $0.fp32?.msForwardBackward }, setT = layerSetMs { $0.torch?.msForwardBackward }
        let set16 = layerSetMs { $0.bf16?.msForwardBackward }, setT16 = layerSetMs { $0.torchBF16?.msForwardBackward }
        lines.append("| layer set G1–G5, D1–D5 | \(ms(set32)) | | \(ms(setT)) | \(x(Self.ratio(setT, set32))) | \(ms(set16)) | | \(ms(setT16)) | \(x(Self.ratio(setT16, set16))) | \(x(Self.ratio(set32, set16))) |")
        for l in layers {
            let a = l.fp32?.msForwardBackward, b = l.bf16?.msForwardBackward
            lines.append("| \(l.name) \(l.op) | \(ms(a))\(path(l.fp32)) | \(pct(l.fp32?.fractionOfPeak)) | \(ms(l.torch?.msForwardBackward)) | \(x(Self.ratio(l.torch?.msForwardBackward, a))) | "
                         + "\(ms(b))\(path(l.bf16)) | \(pct(l.bf16?.fractionOfPeak)) | \(ms(l.torchBF16?.msForwardBackward)) | \(x(Self.ratio(l.torchBF16?.msForwardBackward, b))) | \(x(Self.ratio(a, b))) |")
        }
        lines += ["", "Training steps (`bench train`), ms per step; time ratio = PETGAN's ÷ PyTorch's (below 1: PETGAN faster); fp32 share = the bf16 step's time outside the bf16 tiles.", "",
                  "| step | PETGAN fp32 | % peak | RSS MB | PyTorch fp32 | time ratio | PETGAN bf16 | % bf16 peak | fp32 share | RSS MB | PyTorch bf16 | time ratio | bf16 / own fp32 time |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in steps {
            let share = s.bf16?.shareBF16Tiles.map { 1 - $0 }
            lines.append("| \(s.name) | \(ms(s.fp32?.msStep)) | \(pct(s.fp32?.fractionOfPeak)) | \(mb(s.fp32?.peakRSSMB)) | \(ms(s.fp32?.peerMsStep)) | \(x(s.fp32.flatMap(Self.timeRatio))) | "
                         + "\(ms(s.bf16?.msStep)) | \(pct(s.bf16?.fractionOfPeak)) | \(pct(share)) | \(mb(s.bf16?.peakRSSMB)) | \(ms(s.bf16?.peerMsStep)) | \(x(s.bf16.flatMap(Self.timeRatio))) | \(x(Self.ratio(s.bf16?.msStep, s.fp32?.msStep))) |")
        }
        lines += ["", "Issue 16's targets on these figures (the AVX2-forced target needs a second sitting with `ISA=avx2`):", "",
                  "| target | measured | met |", "|---|---|---|"]
        for t in targets { lines.append("| \(t.target) | \(t.measured) | \(t.met.map { $0 ? "yes" : "no" } ?? "not measured") |") }
        if !missing.isEmpty { lines += ["", "Not in this sitting's folder: " + missing.joined(separator: ", ") + "."] }
        return lines.joined(separator: "\n") + "\n"
    }
}
