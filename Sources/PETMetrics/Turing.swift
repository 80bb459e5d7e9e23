// Visual Turing test (Han et al. 2018): a blinded, shuffled set of three-view PNGs of real and
// synthetic volumes, a sealed answer key (its SHA-256 is recorded in kit.json, so a changed key is
// detected at scoring), and a self-contained HTML form that saves a reader's answers as JSON; scoring
// prints accuracy and the real/synthetic confusion in the layout of Han et al.'s Table 1.
//
// KIT layout:
//   form.html                       give this to readers (images inlined; no answers inside)
//   items/item_001.png …            the same images as files
//   kit.json                        kit id, item list, seed, sources, key_sha256
//   sealed/answer-key.json          truth per item: keep it away from readers
//
// Public API:
//   try TuringKit.make(TuringKitOptions(...)) -> TuringKitSummary
//   try TuringKit.score(kit: "KIT", answers: ["a.json"]) -> [TuringScore] ; TuringKit.table(scores)

import Foundation
import PETModels
import PETTensor
import PETVolumes

public struct TuringKitOptions {
    public var real: String, synthetic: String, out: String
    public var count = 50
    public var seed: UInt64 = 1
    public var classes: [String] = []
    public var zoom = 2
    public init(real: String, synthetic: String, out: String) { self.real = real; self.synthetic = synthetic; self.out = out }
}

public struct TuringKitSummary: Codable {
    public var kitID: String, items: Int, real: Int, synthetic: Int, form: String, key: String, keySHA256: String
}

public struct TuringKeyItem: Codable, Equatable {
    public var item: String, truth: String, source: String, name: String, className: String
}

/// kit.json: what the kit holds and the SHA-256 that seals its answer key.
struct KitFile: Codable {
    var kitID: String, items: [String], count: Int, real: Int, synthetic: Int, seed: Int
    var realSource: String, syntheticSource: String, classes: [String], keyFile: String, keySHA256: String
    var displayWindow: [Double], petganVersion: String, instructions: String
    enum CodingKeys: String, CodingKey {
        case items, count, real, synthetic, seed, classes, instructions, kitID = "kit_id", realSource = "real_source",
             syntheticSource = "synthetic_source", keyFile = "key_file", keySHA256 = "key_sha256", displayWindow = "display_window",
             petganVersion = "petgan_version"
    }
}

/// What scoring reads of kit.json (a JSON object; a missing or mistyped field counts as absent).
struct KitSeal: Decodable {
    var kitID: String?, keySHA256: String?
    enum CodingKeys: String, CodingKey { case kitID = "kit_id", keySHA256 = "key_sha256" }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kitID = try? c.decode(String.self, forKey: .kitID)
        keySHA256 = try? c.decode(String.self, forKey: .keySHA256)
    }
}

/// An answers file saved by form.html: {"kit_id", "reader", "answers": {item: "real" | "synthetic"}}.
struct AnswersFile: Decodable {
    /// One answer as given: its text when it is a string (anything else is refused by item).
    struct Answer: Decodable {
        var text: String?
        init(from decoder: Decoder) throws { text = try? decoder.singleValueContainer().decode(String.self) }
    }
    var kitID: String?, reader: String?
    var answers: [String: Answer]
    enum CodingKeys: String, CodingKey { case kitID = "kit_id", reader, answers }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kitID = try? c.decode(String.self, forKey: .kitID)
        reader = try? c.decode(String.self, forKey: .reader)
        answers = try c.decode([String: Answer].self, forKey: .answers)
    }
}

public struct TuringScore: Codable, Equatable {
    public var reader: String, file: String
    public var answered: Int, unanswered: Int
    public var realAsReal: Int, realAsSynthetic: Int, syntheticAsReal: Int, syntheticAsSynthetic: Int
    public var accuracy: Double
    public var ciLow: Double, ciHigh: Double
}

public enum TuringKit {
    static let keyName = "sealed/answer-key.json"

    public static func make(_ o: TuringKitOptions) throws -> TuringKitSummary {
        guard o.count >= 2 else { throw MetricsError.badInput(path: o.out, reason: "--count must be at least 2") }
        let real = try VolumeSet.open(o.real)
        let synthAll = try VolumeSet.open(o.synthetic)
        guard real.shape == synthAll.shape else {
            throw MetricsError.mismatch(detail: "\(o.real) has shape \(real.shape) but \(o.synthetic) has \(synthAll.shape)")
        }
        synthAll.alignClasses(to: real.classNames)
        let r = try real.restricted(toClasses: o.classes), s = try synthAll.restricted(toClasses: o.classes)
        let nReal = o.count / 2, nSynth = o.count - nReal
        guard r.count >= nReal else { throw MetricsError.tooSmall(detail: "\(o.real): \(r.count) real volumes, the kit needs \(nReal)") }
        guard s.count >= nSynth else { throw MetricsError.tooSmall(detail: "\(o.synthetic): \(s.count) synthetic volumes, the kit needs \(nSynth)") }
        var rng = PETRandom(seed: o.seed)
        var ri = Array(0..<r.count), si = Array(0..<s.count)
        rng.shuffle(&ri); rng.shuffle(&si)
        var picks: [(VolumeSet, Int, String)] = ri.prefix(nReal).map { (r, $0, "real") } + si.prefix(nSynth).map { (s, $0, "synthetic") }
        rng.shuffle(&picks)
        let fm = FileManager.default
        let tmp = o.out + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp + "/items", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: tmp + "/sealed", withIntermediateDirectories: true)
        // One display window for every item (from the real picks), so brightness gives nothing away.
        var highs: [Float] = []
        for (set, i, truth) in picks where truth == "real" { highs.append(Montage.autoWindow(try set.volume(i)).1) }
        let window: (Float, Float) = (0, highs.isEmpty ? 1 : highs.reduce(0, +) / Float(highs.count))
        var key: [TuringKeyItem] = [], images: [(String, String)] = []
        for (n, (set, i, truth)) in picks.enumerated() {
            let item = String(format: "item_%03d", n + 1)
            let png = "\(tmp)/items/\(item).png"
            try PNGFile.write(Montage.render([try set.volume(i)], options: MontageOptions(colorMap: .gray, zoom: o.zoom, window: window)), to: png)
            key.append(TuringKeyItem(item: item, truth: truth, source: set.path, name: set.names[i],
                                     className: set.labels[i] >= 0 && set.labels[i] < set.classNames.count ? set.classNames[set.labels[i]] : ""))
            images.append((item, Figures.dataURI(png)))
        }
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let keyData = try enc.encode(key)
        let keyHash = SHA256.hex(keyData)
        let kitID = String(keyHash.prefix(12))
        try keyData.write(to: URL(fileURLWithPath: "\(tmp)/\(keyName)"))
        let kit = KitFile(kitID: kitID, items: key.map(\.item), count: key.count, real: nReal, synthetic: nSynth, seed: Int(o.seed),
                          realSource: o.real, syntheticSource: o.synthetic, classes: o.classes, keyFile: keyName, keySHA256: keyHash,
                          displayWindow: [Double(window.0), Double(window.1)], petganVersion: PETGANVersion.string,
                          instructions: "Give readers form.html only. Score with: petgan turing-score KIT answers.json")
        try enc.encode(kit).write(to: URL(fileURLWithPath: "\(tmp)/kit.json"))
        try Data(formHTML(kitID: kitID, images: images, realCount: nReal, synthCount: nSynth).utf8).write(to: URL(fileURLWithPath: "\(tmp)/form.html"))
        if fm.fileExists(atPath: o.out) {
            let old = o.out + ".old-\(getpid())"
            try fm.moveItem(atPath: o.out, toPath: old)
            try fm.moveItem(atPath: tmp, toPath: o.out)
            try? fm.removeItem(atPath: old)
        } else {
            try fm.moveItem(atPath: tmp, toPath: o.out)
        }
        return TuringKitSummary(kitID: kitID, items: key.count, real: nReal, synthetic: nSynth, form: o.out + "/form.html",
                                key: o.out + "/" + keyName, keySHA256: keyHash)
    }

    static func formHTML(kitID: String, images: [(String, String)], realCount: Int, synthCount: Int) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>PETGAN visual Turing test \(kitID)</title>
        <style>body{font-family:Helvetica,Arial,sans-serif;max-width:900px;margin:2em auto;padding:0 1em}
        .item{border:1px solid #ccc;margin:1em 0;padding:0.6em}.item img{max-width:100%;image-rendering:pixelated;display:block;margin-bottom:0.4em}
        label{margin-right:1.5em}#status{font-weight:bold}</style></head><body>
        <h1>Visual Turing test</h1>
        <p>Kit <code>\(kitID)</code>: \(images.count) brain PET volumes (axial | coronal | sagittal mid-slices, one common grey window).
        Some are real scans, some are synthetic. For each, choose <b>real</b> or <b>synthetic</b>, then press <b>Save answers</b>:
        your browser downloads <code>answers-\(kitID).json</code>; return that file.</p>
        <p><label>Reader name or ID: <input id="reader" type="text" size="30"></label></p>
        <form id="form">

        """
        for (item, uri) in images {
            h += "<div class=\"item\" id=\"\(item)\"><b>\(item)</b><img src=\"\(uri)\" alt=\"\(item)\">"
            h += "<label><input type=\"radio\" name=\"\(item)\" value=\"real\"> real</label>"
            h += "<label><input type=\"radio\" name=\"\(item)\" value=\"synthetic\"> synthetic</label></div>\n"
        }
        h += """
        </form>
        <p><button id="save" type="button">Save answers</button> <span id="status"></span></p>
        <textarea id="out" rows="6" cols="90" readonly placeholder="The answers JSON also appears here (copy it if the download is blocked)."></textarea>
        <script>
        const KIT = "\(kitID)";
        const ITEMS = [\(images.map { "\"\($0.0)\"" }.joined(separator: ","))];
        function collect() {
          const answers = {};
          for (const it of ITEMS) {
            const c = document.querySelector('input[name="' + it + '"]:checked');
            if (c) answers[it] = c.value;
          }
          return {kit_id: KIT, reader: document.getElementById("reader").value, saved_at: new Date().toISOString(), answers: answers};
        }
        document.getElementById("save").addEventListener("click", function () {
          const a = collect();
          const text = JSON.stringify(a, null, 2);
          document.getElementById("out").value = text;
          const n = Object.keys(a.answers).length;
          document.getElementById("status").textContent = n + " of " + ITEMS.length + " answered" + (n < ITEMS.length ? " (unanswered items are not scored)" : "");
          const blob = new Blob([text], {type: "application/json"});
          const link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = "answers-" + KIT + ".json";
          document.body.appendChild(link); link.click(); link.remove();
        });
        </script></body></html>

        """
        return h
    }

    /// Scores answer files against the kit's key (checking the seal and the kit id).
    public static func score(kit: String, answers: [String]) throws -> [TuringScore] {
        let kitPath = kit + "/kit.json", keyPath = kit + "/" + keyName
        guard let kd = FileManager.default.contents(atPath: kitPath), let k = try? JSONDecoder().decode(KitSeal.self, from: kd) else {
            throw MetricsError.badInput(path: kitPath, reason: "missing or not a JSON object (is \(kit) a kit made by petgan turing-kit?)")
        }
        guard let keyData = FileManager.default.contents(atPath: keyPath) else {
            throw MetricsError.badInput(path: keyPath, reason: "the sealed answer key is missing")
        }
        guard SHA256.hex(keyData) == k.keySHA256 else {
            throw MetricsError.badInput(path: keyPath, reason: "the answer key does not match the SHA-256 sealed in kit.json (the key was changed)")
        }
        let key = try JSONDecoder().decode([TuringKeyItem].self, from: keyData)
        let truth = Dictionary(uniqueKeysWithValues: key.map { ($0.item, $0.truth) })
        let kitID = k.kitID ?? ""
        var out: [TuringScore] = []
        for f in answers {
            guard let d = FileManager.default.contents(atPath: f),
                  let a = try? JSONDecoder().decode(AnswersFile.self, from: d) else {
                throw MetricsError.badInput(path: f, reason: "not an answers file (expected JSON with an \"answers\" object from form.html)")
            }
            if let id = a.kitID, id != kitID {
                throw MetricsError.badInput(path: f, reason: "answers are for kit \(id), not \(kitID)")
            }
            var rr = 0, rs = 0, sr = 0, ss = 0
            for (item, v) in a.answers {
                guard let t = truth[item] else { throw MetricsError.badInput(path: f, reason: "unknown item '\(item)'") }
                guard let v = v.text, v == "real" || v == "synthetic" else {
                    throw MetricsError.badInput(path: f, reason: "answer for \(item) must be \"real\" or \"synthetic\"")
                }
                switch (t, v) {
                case ("real", "real"): rr += 1
                case ("real", _): rs += 1
                case (_, "real"): sr += 1
                default: ss += 1
                }
            }
            let n = rr + rs + sr + ss
            let ci = Statistics.clopperPearson(rr + ss, n)
            out.append(TuringScore(reader: a.reader.flatMap { $0.isEmpty ? nil : $0 } ?? (f as NSString).lastPathComponent,
                                   file: f, answered: n, unanswered: key.count - n,
                                   realAsReal: rr, realAsSynthetic: rs, syntheticAsReal: sr, syntheticAsSynthetic: ss,
                                   accuracy: n > 0 ? Double(rr + ss) / Double(n) : .nan, ciLow: ci.low, ciHigh: ci.high))
        }
        return out
    }

    /// Han et al. 2018, Table 1 layout: accuracy, then real selected as real / as synthetic, synthetic as real / as synthetic.
    public static func table(_ scores: [TuringScore]) -> String {
        func pct(_ k: Int, _ n: Int) -> String { n > 0 ? String(format: "%d (%.1f%%)", k, 100 * Double(k) / Double(n)) : "\(k)" }
        var lines = [String(format: "%-16@ %-22@ %-14@ %-14@ %-14@ %-14@", "Reader" as NSString, "Accuracy (95% CI)" as NSString,
                            "Real as Real" as NSString, "Real as Synt" as NSString, "Synt as Real" as NSString, "Synt as Synt" as NSString)]
        for s in scores {
            let nr = s.realAsReal + s.realAsSynthetic, ns = s.syntheticAsReal + s.syntheticAsSynthetic
            let acc = String(format: "%.1f%% (%.1f–%.1f)", 100 * s.accuracy, 100 * s.ciLow, 100 * s.ciHigh)
            lines.append(String(format: "%-16@ %-22@ %-14@ %-14@ %-14@ %-14@", String(s.reader.prefix(16)) as NSString, acc as NSString,
                                pct(s.realAsReal, nr) as NSString, pct(s.realAsSynthetic, nr) as NSString,
                                pct(s.syntheticAsReal, ns) as NSString, pct(s.syntheticAsSynthetic, ns) as NSString))
            if s.unanswered > 0 { lines.append("  (\(s.unanswered) item(s) unanswered, not scored)") }
        }
        lines.append("Accuracy 50% = readers cannot tell synthetic from real (Han et al. 2018, Table 1 layout).")
        return lines.joined(separator: "\n")
    }
}
