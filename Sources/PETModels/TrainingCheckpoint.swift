import Foundation
import PETAutograd
import PETTensor
import PETVolumes

// Training checkpoints in HDF5: everything `--resume` needs to continue a run exactly.
//
// File layout (h5py-readable):
//   /                      attributes format = "petgan-checkpoint", format_version, petgan_version,
//                          epoch, step
//   /config                1 string: the resolved run configuration as JSON
//   /tensors/<name>        float32, the tensor's shape (model parameters and buffers by name,
//                          e.g. "gen.block1.conv.weight", "gen.block1.bn.running_mean")
//   /optimizers/<opt>/tensors/<key>   float32 moments by key ("<parameter>.exp_avg", …)
//   /optimizers/<opt>/step_names      strings, /optimizers/<opt>/step_counts  int64 (per parameter)
//   /rng/<name>            uint64[4] generator state; attribute spare_normal when one is cached
//
// Writing goes to a temporary sibling file that is fsynced and then renamed over the target (and
// the folder fsynced), so a kill at any moment leaves either the old checkpoint or the new one.
//
// The training checkpoint lives with the trainer, above PETAutograd and PETVolumes' HDF5 wrapper, so
// it stores PETAutograd's own types: `Module.stateDict()` gives `tensors`, `Optimizer.state()` gives
// an `OptimizerState` that is written and read as it is (no second record type to convert through).
// The layout is unchanged since format version 1 (when this file was in PETVolumes).

/// Why a checkpoint could not be written, read or used.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file is not a PETGAN checkpoint (or is damaged).
    case notACheckpoint(file: String, reason: String)
    /// The checkpoint does not fit what the run expects; every difference is listed.
    case mismatch(file: String, missing: [String], unexpected: [String], shapeMismatches: [String])
    /// A name cannot be stored (it contains '/').
    case invalidName(file: String, name: String)
    /// An operating-system call failed while writing.
    case io(file: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case let .notACheckpoint(file, reason): return "\(file): not a PETGAN checkpoint: \(reason)"
        case let .mismatch(file, missing, unexpected, shapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing from the checkpoint: " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { parts.append("not expected by this run: " + unexpected.joined(separator: ", ")) }
            if !shapes.isEmpty { parts.append("shape differs: " + shapes.joined(separator: "; ")) }
            return "\(file): checkpoint does not match the model: " + parts.joined(separator: " | ")
        case let .invalidName(file, name): return "\(file): cannot store the name '\(name)' (names may not contain '/')"
        case let .io(file, op, reason): return "\(file): \(op) failed: \(reason)"
        }
    }
}

public struct Checkpoint {
    /// What a run expects to find: tensor names and shapes, optimizer keys and shapes, RNG names.
    public struct Manifest {
        public var tensors: [String: [Int]]
        public var optimizers: [String: [String: [Int]]]
        public var rngs: Set<String>
        public init(tensors: [String: [Int]] = [:], optimizers: [String: [String: [Int]]] = [:], rngs: Set<String> = []) {
            self.tensors = tensors; self.optimizers = optimizers; self.rngs = rngs
        }
    }

    public static let format = "petgan-checkpoint"
    public static let formatVersion = 1

    /// Model parameters and buffers by name.
    public var tensors: [String: Tensor]
    /// Optimizer states by optimizer name (e.g. "optG", "optD").
    public var optimizers: [String: OptimizerState]
    /// Generator states by name (e.g. "train", "noise").
    public var rngs: [String: PETRandom]
    public var epoch: Int
    public var step: Int
    /// The resolved run configuration as JSON.
    public var configJSON: String
    /// The PETGAN version that wrote the checkpoint.
    public var version: String

    public init(tensors: [String: Tensor] = [:], optimizers: [String: OptimizerState] = [:], rngs: [String: PETRandom] = [:],
                epoch: Int = 0, step: Int = 0, configJSON: String = "{}", version: String = PETGANVersion.string) {
        self.tensors = tensors; self.optimizers = optimizers; self.rngs = rngs
        self.epoch = epoch; self.step = step; self.configJSON = configJSON; self.version = version
    }

    // MARK: saving

    /// Writes the checkpoint to `path` atomically: temporary sibling, fsync, rename, fsync folder.
    public func save(to path: String) throws {
        for name in Array(tensors.keys) + Array(optimizers.keys) + Array(rngs.keys)
            + optimizers.values.flatMap({ Array($0.tensors.keys) }) where name.contains("/") || name.isEmpty {
            throw CheckpointError.invalidName(file: path, name: name)
        }
        let tmp = temporaryName(for: path)
        do {
            try writeContents(to: tmp, displayName: path)   // every HDF5 handle is closed when this returns
            try fsyncFile(tmp, displayName: path)
            guard rename(tmp, path) == 0 else {
                throw CheckpointError.io(file: path, operation: "renaming the temporary file \(tmp)", reason: String(cString: strerror(errno)))
            }
        } catch {
            unlink(tmp)
            throw error
        }
        let dir = (path as NSString).deletingLastPathComponent
        try? fsyncFile(dir.isEmpty ? "." : dir, displayName: path)   // the rename itself (best effort)
    }

    private func writeContents(to file: String, displayName: String) throws {
        let f = try HDF5File.create(file, atomic: false, overwrite: true)
        try f.setAttribute("format", Checkpoint.format)
        try f.setAttribute("format_version", Checkpoint.formatVersion)
        try f.setAttribute("petgan_version", version)
        try f.setAttribute("epoch", epoch)
        try f.setAttribute("step", step)
        try f.createStringDataset("config", [configJSON])
        _ = try f.createGroup("tensors")
        for name in tensors.keys.sorted() { try writeTensor(tensors[name]!, in: f, at: "tensors/" + name) }
        _ = try f.createGroup("optimizers")
        for opt in optimizers.keys.sorted() {
            let rec = optimizers[opt]!
            _ = try f.createGroup("optimizers/\(opt)/tensors")
            for key in rec.tensors.keys.sorted() { try writeTensor(rec.tensors[key]!, in: f, at: "optimizers/\(opt)/tensors/\(key)") }
            let names = rec.steps.keys.sorted()
            try f.createStringDataset("optimizers/\(opt)/step_names", names)
            try f.createDataset("optimizers/\(opt)/step_counts", values: names.map { Int64(rec.steps[$0]!) }, shape: [names.count])
        }
        _ = try f.createGroup("rng")
        for name in rngs.keys.sorted() {
            let r = rngs[name]!
            let d = try f.createDataset("rng/\(name)", values: r.state, shape: [r.state.count])
            if let s = r.spareNormal { try d.setAttribute("spare_normal", Double(s)) }
        }
        try f.flush()
    }

    private func writeTensor(_ t: Tensor, in f: HDF5File, at path: String) throws {
        // Rank-0 tensors are stored as [1] with attribute rank0 (HDF5 scalars do not take hyperslabs).
        let shape = t.rank == 0 ? [1] : t.shape
        let d = try f.createDataset(path, type: Float.self, shape: shape)
        if t.count > 0 { try d.writeHyperslab(start: [Int](repeating: 0, count: shape.count), count: shape, from: UnsafePointer(t.data)) }
        if t.rank == 0 { try d.setAttribute("rank0", 1) }
    }

    private func fsyncFile(_ file: String, displayName: String) throws {
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io(file: displayName, operation: "opening \(file) for fsync", reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError.io(file: displayName, operation: "fsync of \(file)", reason: String(cString: strerror(errno))) }
    }

    // MARK: loading

    /// Reads a checkpoint. With `expecting`, also checks every tensor and optimizer key name and shape
    /// and every RNG name, and throws `CheckpointError.mismatch` listing all differences.
    /// `optimizers: false` skips the optimizer moments (generation needs only the weights; the moments
    /// are twice their size).
    /// `into`: tensors (by name) to read straight into when the shapes agree, e.g. a model's own
    /// parameters, so a large model is not held twice while loading; the returned checkpoint then refers
    /// to those tensors. `readTensors: false` reads only the metadata (config, step, RNG states).
    public static func load(from path: String, expecting manifest: Manifest? = nil, optimizers: Bool = true,
                            into targets: [String: Tensor] = [:], readTensors: Bool = true) throws -> Checkpoint {
        let f: HDF5File
        do { f = try HDF5File.open(path, mode: .readOnly) } catch let e as HDF5Error {
            if case .notFound = e { throw e }
            throw CheckpointError.notACheckpoint(file: path, reason: "\(e)")
        }
        guard (try? f.hasAttribute("format")) == true, (try? f.stringAttribute("format")) == Checkpoint.format else {
            throw CheckpointError.notACheckpoint(file: path, reason: "no format attribute '\(Checkpoint.format)' (an HDF5 file, but not written by PETGAN's checkpoint writer)")
        }
        let fv = try f.intAttribute("format_version")
        guard fv <= Checkpoint.formatVersion else {
            throw CheckpointError.notACheckpoint(file: path, reason: "format version \(fv) is newer than this PETGAN understands (\(Checkpoint.formatVersion))")
        }
        var c = Checkpoint()
        c.version = try f.stringAttribute("petgan_version")
        c.epoch = try f.intAttribute("epoch")
        c.step = try f.intAttribute("step")
        let config = try f.dataset("config").readStrings()
        c.configJSON = config.first ?? "{}"
        for name in try f.group("tensors").childNames() where readTensors {
            if let t = targets[name] {
                let d = try f.dataset("tensors/" + name)
                let shape = try d.hasAttribute("rank0") ? [] : d.shape
                if shape == t.shape {
                    if t.count > 0 { try d.readHyperslab(start: [Int](repeating: 0, count: d.shape.count), count: d.shape, into: t.data) }
                    c.tensors[name] = t
                    continue
                }
            }
            c.tensors[name] = try readTensor(f, "tensors/" + name)
        }
        for opt in try f.group("optimizers").childNames() where optimizers {
            var rec = OptimizerState()
            for key in try f.group("optimizers/\(opt)/tensors").childNames() {
                rec.tensors[key] = try readTensor(f, "optimizers/\(opt)/tensors/\(key)")
            }
            let names = try f.dataset("optimizers/\(opt)/step_names").readStrings()
            let counts = try f.dataset("optimizers/\(opt)/step_counts").read(Int64.self)
            guard names.count == counts.count else {
                throw CheckpointError.notACheckpoint(file: path, reason: "optimizer \(opt): \(names.count) step names but \(counts.count) step counts")
            }
            for (n, k) in zip(names, counts) { rec.steps[n] = Int(k) }
            c.optimizers[opt] = rec
        }
        for name in try f.group("rng").childNames() {
            let d = try f.dataset("rng/\(name)")
            let state = try d.read(UInt64.self)
            guard state.count == 4 else {
                throw CheckpointError.notACheckpoint(file: path, reason: "rng/\(name) has \(state.count) words, expected 4")
            }
            let spare = try d.hasAttribute("spare_normal") ? Float(try d.doubleAttribute("spare_normal")) : nil
            c.rngs[name] = PETRandom(state: state, spareNormal: spare)
        }
        if let m = manifest { try c.check(against: m, file: path) }
        return c
    }

    private static func readTensor(_ f: HDF5File, _ path: String) throws -> Tensor {
        let d = try f.dataset(path)
        let rank0 = try d.hasAttribute("rank0")
        let t = Tensor(shape: rank0 ? [] : d.shape)
        if t.count > 0 { try d.readHyperslab(start: [Int](repeating: 0, count: d.shape.count), count: d.shape, into: t.data) }
        return t
    }

    /// Throws `CheckpointError.mismatch` listing every missing, unexpected or differently shaped entry.
    public func check(against m: Manifest, file: String) throws {
        var missing: [String] = [], unexpected: [String] = [], shapes: [String] = []
        func compare(_ have: [String: Tensor], _ want: [String: [Int]], label: (String) -> String) {
            for (name, shape) in want.sorted(by: { $0.key < $1.key }) {
                guard let t = have[name] else { missing.append(label(name)); continue }
                if t.shape != shape { shapes.append("\(label(name)): checkpoint \(shapeString(t.shape)), model \(shapeString(shape))") }
            }
            for name in have.keys.sorted() where want[name] == nil { unexpected.append(label(name)) }
        }
        compare(tensors, m.tensors) { $0 }
        for (opt, want) in m.optimizers.sorted(by: { $0.key < $1.key }) {
            guard let rec = optimizers[opt] else { missing.append("optimizer \(opt)"); continue }
            compare(rec.tensors, want) { "optimizer \(opt): \($0)" }
        }
        for opt in optimizers.keys.sorted() where m.optimizers[opt] == nil { unexpected.append("optimizer \(opt)") }
        for r in m.rngs.sorted() where rngs[r] == nil { missing.append("rng \(r)") }
        for r in rngs.keys.sorted() where !m.rngs.contains(r) { unexpected.append("rng \(r)") }
        if !missing.isEmpty || !unexpected.isEmpty || !shapes.isEmpty {
            throw CheckpointError.mismatch(file: file, missing: missing, unexpected: unexpected, shapeMismatches: shapes)
        }
    }
}
