import Foundation

/// Figures of the PyTorch peer (../shared/bench/torch_peer.py) for the bench commands' --peer files.
/// Only what such a file holds is printed beside our rows: no peer figure is built into the tool.
enum PeerFile {
    /// Reads a JSON file written by torch_peer.py. Python's json module writes NaN (a FLOP count
    /// PyTorch could not make) as a bare `NaN`, which is not JSON; those become null.
    static func load(_ path: String, option: String = "--peer") throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PeerError("\(path): cannot read the \(option) file (no such file, or not readable)")
        }
        let text = sanitized(String(decoding: data, as: UTF8.self))
        do { return try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            throw PeerError("\(path): the \(option) file is not JSON (\(error.localizedDescription))")
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

    /// One training-step figure of `--suite models`: the case name, median ms, peak RSS (MiB, as ours).
    struct ModelStep { var name: String; var ms: Double; var rssMB: Double?; var gflop: Double? }

    /// The rows of a torch_peer.py `--suite models --out FILE` result, with its torch version and threads.
    static func modelSteps(_ path: String) throws -> (steps: [ModelStep], torch: String, threads: Int?, capability: String) {
        guard let root = try load(path) as? [String: Any], let results = root["results"] as? [[String: Any]] else {
            throw PeerError("\(path): not a torch_peer.py result (expected an object with \"results\"; make it with torch_peer.py --suite models --out FILE)")
        }
        guard (root["suite"] as? String) == "models" else {
            throw PeerError("\(path): a torch_peer.py '\((root["suite"] as? String) ?? "?")' suite result; bench train needs --suite models")
        }
        let versions = root["versions"] as? [String: Any] ?? [:]
        let threads = (root["args"] as? [String: Any])?["threads"] as? Int
        var steps: [ModelStep] = []
        for r in results {
            guard let name = r["name"] as? String, let ms = (r["step"] as? [String: Any])?["median_ms"] as? Double else {
                throw PeerError("\(path): a result without name and step.median_ms")
            }
            // One case per process (run-with-torch.sh) makes the process's peak RSS the case's own.
            let rss = results.count == 1 ? (root["ru_maxrss_mib"] as? Double) : (r["ru_maxrss_mib_so_far"] as? Double)
            steps.append(ModelStep(name: name, ms: ms, rssMB: rss, gflop: r["step_gflop"] as? Double))
        }
        return (steps, (versions["torch"] as? String) ?? "?", threads, (versions["cpu_capability"] as? String) ?? "?")
    }
}

struct PeerError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
