// Figures of the PyTorch peer (../shared/bench/torch_peer.py) for the bench commands' --peer files.
// Only what such a file holds is printed beside our rows: no peer figure is built into the tool.
import Foundation

/// One row of `torch_peer.py --rows FILE` (the layer suites): named like our conv rows.
public struct PeerLayerRow: Codable {
    public var name: String?
    public var path: String?
    public var msForward: Double?
    public var msForwardBackward: Double?
    enum CodingKeys: String, CodingKey {
        case name, path
        case msForward = "ms_forward", msForwardBackward = "ms_forward_backward"
    }
}

/// A `torch_peer.py --suite models --out FILE` result (the parts bench train reads).
public struct PeerModelsFile: Codable {
    public struct Args: Codable { public var threads: Int? }
    public struct Versions: Codable {
        public var torch: String?
        public var cpuCapability: String?
        enum CodingKeys: String, CodingKey { case torch, cpuCapability = "cpu_capability" }
    }
    public struct Step: Codable {
        public var medianMs: Double?
        enum CodingKeys: String, CodingKey { case medianMs = "median_ms" }
    }
    public struct Case: Codable {
        public var name: String?
        public var step: Step?
        public var stepGflop: Double?
        public var maxRSSSoFarMiB: Double?
        enum CodingKeys: String, CodingKey {
            case name, step, stepGflop = "step_gflop", maxRSSSoFarMiB = "ru_maxrss_mib_so_far"
        }
    }
    public var suite: String?
    public var args: Args?
    public var versions: Versions?
    public var results: [Case]
    public var maxRSSMiB: Double?
    enum CodingKeys: String, CodingKey { case suite, args, versions, results, maxRSSMiB = "ru_maxrss_mib" }
}

public enum PeerFile {
    /// Reads a JSON file written by torch_peer.py into `T`. Python's json module writes NaN (a FLOP
    /// count PyTorch could not make) as a bare `NaN`, which is not JSON; those become null.
    static func decode<T: Decodable>(_ type: T.Type, from path: String, option: String = "--peer", shapeError: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchmarkError("\(path): cannot read the \(option) file (no such file, or not readable)")
        }
        let text = Data(sanitized(String(decoding: data, as: UTF8.self)).utf8)
        do { _ = try JSONSerialization.jsonObject(with: text) } catch {
            throw BenchmarkError("\(path): the \(option) file is not JSON (\(error.localizedDescription))")
        }
        do { return try JSONDecoder().decode(T.self, from: text) } catch {
            throw BenchmarkError("\(path): \(shapeError)")
        }
    }

    /// Replaces the bare tokens NaN, Infinity and -Infinity outside strings by null.
    static func sanitized(_ s: String) -> String {
        var out = "", inString = false, escaped = false
        let chars = Array(s)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                i += 1; continue
            }
            if c == "\"" { inString = true; out.append(c); i += 1; continue }
            var matched = false
            for token in ["-Infinity", "Infinity", "NaN"] where chars.count - i >= token.count && String(chars[i..<(i + token.count)]) == token {
                out += "null"; i += token.count; matched = true; break
            }
            if !matched { out.append(c); i += 1 }
        }
        return out
    }

    /// The layer rows of `--rows` files, by name (a later file's row replaces an earlier one's).
    public static func layerRows(_ paths: [String]) throws -> [String: PeerLayerRow] {
        var byName: [String: PeerLayerRow] = [:]
        for p in paths {
            let rows = try decode([PeerLayerRow].self, from: p,
                                  shapeError: "the --peer file is not a JSON array of rows (make it with torch_peer.py --rows FILE)")
            for r in rows { if let n = r.name { byName[n] = r } }
        }
        return byName
    }

    /// One training-step figure of `--suite models`: the case name, median ms, peak RSS (MiB, as ours).
    public struct ModelStep { public var name: String; public var ms: Double; public var rssMB: Double?; public var gflop: Double? }

    /// The rows of a torch_peer.py `--suite models --out FILE` result, with its torch version and threads.
    public static func modelSteps(_ path: String) throws -> (steps: [ModelStep], torch: String, threads: Int?, capability: String) {
        let root = try decode(PeerModelsFile.self, from: path,
                              shapeError: "not a torch_peer.py result (expected an object with \"results\"; make it with torch_peer.py --suite models --out FILE)")
        guard root.suite == "models" else {
            throw BenchmarkError("\(path): a torch_peer.py '\(root.suite ?? "?")' suite result; bench train needs --suite models")
        }
        var steps: [ModelStep] = []
        for r in root.results {
            guard let name = r.name, let ms = r.step?.medianMs else { throw BenchmarkError("\(path): a result without name and step.median_ms") }
            // One case per process (run-with-torch.sh) makes the process's peak RSS the case's own.
            let rss = root.results.count == 1 ? root.maxRSSMiB : r.maxRSSSoFarMiB
            steps.append(ModelStep(name: name, ms: ms, rssMB: rss, gflop: r.stepGflop))
        }
        return (steps, root.versions?.torch ?? "?", root.args?.threads, root.versions?.cpuCapability ?? "?")
    }
}
