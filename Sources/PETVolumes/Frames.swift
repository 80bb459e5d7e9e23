// 4-D PET series: which frames become the 3-D volume PETGAN reads.
//
//   let sel = FrameSelection.parse("mean")!            // mean | sum | first | last | N[,M...] (0-based)
//   var o = NIfTIReadOptions(); o.frames = sel
//   let v = try NIfTIFile.read("sub-01_pet.nii.gz", options: o)   // v.metadata["frames"] says what was applied
//   let t = try FrameTiming.read(for: path, header: h)  // durations from a BIDS sidecar or the header
//
// `mean` (and a list of several indices) is weighted by frame duration when the durations are known:
// from the BIDS-style sidecar `<name>.json` (FrameDuration, seconds; FrameTimesStart is checked and
// reported) or, failing that, the header (pixdim[4] with the time unit: the same duration for every
// frame, i.e. a plain mean). `sum` adds the frames unweighted. Arithmetic in Double, rounded to Float
// once. A 4-D file read without a selection is refused with a message naming --frames.

import Foundation

public enum FrameSelection: Equatable, CustomStringConvertible {
    case mean, sum, first, last
    /// 0-based frame indices; several are averaged (duration-weighted when durations are known).
    case indices([Int])

    /// Parses "mean", "sum", "first", "last" or "N[,M...]" (0-based, non-negative); nil when malformed.
    public static func parse(_ text: String) -> FrameSelection? {
        switch text.lowercased() {
        case "mean": return .mean
        case "sum": return .sum
        case "first": return .first
        case "last": return .last
        default:
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
            return .indices(parts.map { $0! })
        }
    }

    public var description: String {
        switch self {
        case .mean: return "mean"
        case .sum: return "sum"
        case .first: return "first"
        case .last: return "last"
        case .indices(let i): return i.map(String.init).joined(separator: ",")
        }
    }

    /// The frame indices this selects in a series of `frames` frames (throws for an index past the end).
    func frameIndices(frames: Int, path: String) throws -> [Int] {
        switch self {
        case .mean, .sum: return Array(0..<frames)
        case .first: return [0]
        case .last: return [frames - 1]
        case .indices(let i):
            if let bad = i.first(where: { $0 >= frames }) {
                throw NIfTIError.badRequest(path: path, reason: "--frames \(description): frame \(bad) does not exist (the file has \(frames) frame\(frames == 1 ? "" : "s"), indices 0...\(frames - 1))")
            }
            return i
        }
    }
}

/// Frame durations and start times of a 4-D series, and where they came from.
public struct FrameTiming: Equatable {
    /// Seconds per frame, nil when unknown.
    public var durations: [Double]?
    public var starts: [Double]?
    /// "sidecar NAME.json", "header pixdim[4]" or "none".
    public var source: String

    /// From the BIDS sidecar `<stem>.json` when it has FrameDuration/FrameTimesStart, else the header.
    /// Keys that are present must be arrays of `frames` finite numbers (durations > 0, starts
    /// non-decreasing), else the sidecar is refused, naming it.
    public static func read(for path: String, header: NIfTIHeaderInfo) throws -> FrameTiming {
        let frames = header.frames
        let side = NIfTIFile.sidecarPath(header.headerPath)
        var durations: [Double]? = nil, starts: [Double]? = nil
        if let d = FileManager.default.contents(atPath: side) {
            if let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] {
                (durations, starts) = try timing(inSidecar: obj, sidecarPath: side, frames: frames, path: path)
            } else if frames > 1 {
                FileHandle.standardError.write("petgan: warning: \(side): not a JSON object; frame timing taken from the header\n".data(using: .utf8)!)
            }
        }
        if durations != nil { return FrameTiming(durations: durations, starts: starts, source: "sidecar \((side as NSString).lastPathComponent)") }
        if let d = header.frameDurationSeconds, frames > 1 {
            return FrameTiming(durations: [Double](repeating: d, count: frames), starts: starts, source: "header pixdim[4]")
        }
        return FrameTiming(durations: nil, starts: starts, source: starts != nil ? "sidecar \((side as NSString).lastPathComponent) (FrameTimesStart only)" : "none")
    }

    /// FrameDuration / FrameTimesStart of a sidecar object (a file's own, or the merged sidecars a
    /// BIDS image inherits), checked: `frames` finite numbers each, durations > 0, starts
    /// non-decreasing; the error names `sidecarPath`.
    public static func timing(inSidecar obj: [String: Any], sidecarPath side: String, frames: Int, path: String) throws -> (durations: [Double]?, starts: [Double]?) {
        func numbers(_ key: String) throws -> [Double]? {
            guard let v = obj[key] else { return nil }
            let raw: [Any] = (v as? [Any]) ?? [v]
            var out: [Double] = []
            for x in raw {
                guard let n = x as? NSNumber else {
                    throw NIfTIError.invalidPath(path: side, reason: "frame timing sidecar: " + "\(key) must be a list of numbers (seconds), found \(x)")
                }
                out.append(n.doubleValue)
            }
            guard out.count == frames else {
                throw NIfTIError.invalidPath(path: side, reason: "frame timing sidecar: " + "\(key) has \(out.count) value(s) but \(path) has \(frames) frame(s)")
            }
            if let bad = out.first(where: { !$0.isFinite }) { throw NIfTIError.invalidPath(path: side, reason: "frame timing sidecar: " + "\(key) holds \(bad)") }
            return out
        }
        let durations = try numbers("FrameDuration")
        let starts = try numbers("FrameTimesStart")
        if let d = durations, let bad = d.first(where: { !($0 > 0) }) {
            throw NIfTIError.invalidPath(path: side, reason: "frame timing sidecar: " + "FrameDuration holds \(bad); durations must be positive seconds")
        }
        if let s = starts, zip(s, s.dropFirst()).contains(where: { $0 > $1 }) {
            throw NIfTIError.invalidPath(path: side, reason: "frame timing sidecar: " + "FrameTimesStart is not in increasing order: \(s)")
        }
        return (durations, starts)
    }

    /// Timing from an already merged sidecar object (BIDS inheritance), falling back to the header
    /// like `read(for:header:)`; `source` names the sidecar(s).
    public static func from(sidecar obj: [String: Any], source: String, header: NIfTIHeaderInfo, path: String) throws -> FrameTiming {
        let frames = header.frames
        let (durations, starts) = try timing(inSidecar: obj, sidecarPath: source, frames: frames, path: path)
        if durations != nil { return FrameTiming(durations: durations, starts: starts, source: "sidecar \(source)") }
        if let d = header.frameDurationSeconds, frames > 1 {
            return FrameTiming(durations: [Double](repeating: d, count: frames), starts: starts, source: "header pixdim[4]")
        }
        return FrameTiming(durations: nil, starts: starts, source: starts != nil ? "sidecar \(source) (FrameTimesStart only)" : "none")
    }
}

/// What a read of a 4-D series applied: frames, weights, their source. Recorded in metadata
/// ("frames") and in a store's provenance.
public struct FrameReduction: Equatable, CustomStringConvertible {
    public var selection: FrameSelection
    public var framesInFile: Int
    public var indices: [Int]
    /// Weight of each selected frame (durations, or 1); sums are unweighted.
    public var weights: [Double]
    /// Whether the result is divided by the sum of the weights (mean) or not (sum, one frame).
    public var divides: Bool
    public var timingSource: String

    static func plan(_ selection: FrameSelection, header: NIfTIHeaderInfo, timing: FrameTiming, path: String) throws -> FrameReduction {
        let idx = try selection.frameIndices(frames: header.frames, path: path)
        let sum = selection == .sum
        let w: [Double] = sum || idx.count == 1 ? [Double](repeating: 1, count: idx.count) : idx.map { timing.durations?[$0] ?? 1 }
        return FrameReduction(selection: selection, framesInFile: header.frames, indices: idx, weights: w,
                              divides: !sum && idx.count > 1, timingSource: timing.source)
    }

    public var description: String {
        let list = indices.count == framesInFile && indices == Array(0..<framesInFile) ? "all \(framesInFile) frames" : "frame\(indices.count == 1 ? "" : "s") \(indices.map(String.init).joined(separator: ","))"
        if !divides { return indices.count == 1 ? "\(selection): frame \(indices[0]) of \(framesInFile)" : "sum of \(list)" }
        let weighted = timingSource != "none" && !timingSource.hasSuffix("(FrameTimesStart only)") && Set(weights).count > 1
        return "\(selection): mean of \(list)" + (timingSource == "none" || timingSource.hasSuffix("(FrameTimesStart only)") ? " (unweighted: no frame durations)"
            : weighted ? " weighted by frame duration (\(timingSource))" : " (equal frame durations, \(timingSource))")
    }
}
