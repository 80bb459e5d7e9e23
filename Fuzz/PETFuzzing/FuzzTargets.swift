// The bodies of PETGAN's libFuzzer targets (Fuzz/FuzzNIfTI, FuzzStore, FuzzConfig; `make fuzz`).
// They live in an ordinary library so that the normal build compiles them and the XCTest suite
// (Tests/PETFuzzingTests) replays every input that ever crashed through exactly the code the
// fuzzer ran.
//
// Each target writes the input bytes to a file and reads it through the code `petgan inspect`,
// `train` and `evaluate` use. Thrown errors are the expected outcome for garbage; what must never
// happen is a trap, a sanitizer report, or an error that does not name the file (checked here with
// a precondition, so the fuzzer reports it like a crash).
//
//   FuzzTargets.nifti(bytes)   // .nii bytes (also written gzip-compressed as .nii.gz); bytes that
//                              // start with the gzip magic are written as .nii.gz as they are
//   FuzzTargets.store(bytes)   // an HDF5 file opened as a volume store
//   FuzzTargets.config(bytes)  // a YAML settings file for `petgan train --config`

import CNIfTI
import Foundation
import PETMetrics
import PETModels
import PETTensor
import PETVolumes

/// What one input did (for the regression tests).
public enum FuzzOutcome: Equatable {
    /// Read without error.
    case accepted
    /// Refused with an error naming the file; the messages.
    case rejected([String])

    public var messages: [String] { if case .rejected(let m) = self { return m }; return [] }
}

public enum FuzzTargets {
    /// A private scratch folder (in memory when /dev/shm exists), one per process.
    public static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = (base as NSString).appendingPathComponent("petgan-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// What happens on a finding that is not a trap by itself: under libFuzzer a crash (fatalError
    /// prints its message in optimized builds too), so the input is saved; the XCTest suite records
    /// a test failure instead and goes on.
    nonisolated(unsafe) public static var onFinding: (String) -> Void = { fatalError($0) }
    static func fail(_ message: String) { onFinding(message) }

    static func write(_ bytes: UnsafeRawBufferPointer, to name: String) -> String {
        let path = (scratch as NSString).appendingPathComponent(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }

    /// Runs `body`; an error is fine when it names `path` (the contract of every PETGAN error).
    static func expectNamed(_ path: String, _ what: String, _ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch {
            let text = "\(error)"
            if !text.contains(path) { fail("\(what): the error does not name the file \(path): \(text)") }
            return text
        }
    }

    // MARK: NIfTI

    public static func nifti(_ data: Data) -> FuzzOutcome { data.withUnsafeBytes { nifti($0) } }

    public static func nifti(_ bytes: UnsafeRawBufferPointer) -> FuzzOutcome {
        var messages: [String] = []
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            let p = write(bytes, to: "input.nii.gz")
            if let m = readNIfTI(p) { messages.append(m) }
            unlink(p)
        } else {
            let p = write(bytes, to: "input.nii")
            if let m = readNIfTI(p) { messages.append(m) }
            unlink(p)
            // The same bytes through the gzip reader (libnifti's znz, as users' .nii.gz files are read).
            let gz = (scratch as NSString).appendingPathComponent("input-gz.nii.gz")
            if let fp = znzopen(gz, "wb1", 1) {
                var f: znzFile? = fp
                if bytes.count > 0 { _ = znzwrite(bytes.baseAddress, 1, bytes.count, fp) }
                Xznzclose(&f)
                if let m = readNIfTI(gz) { messages.append(m) }
            }
            unlink(gz)
        }
        return messages.isEmpty ? .accepted : .rejected(messages)
    }

    /// `petgan inspect FILE [--json]`, then the slab-by-slab reader `evaluate` uses.
    static func readNIfTI(_ path: String) -> String? {
        var messages: [String] = []
        if let m = expectNamed(path, "inspect", {
            let r = try FileInspector.inspect(path)
            _ = r.text
            do { _ = try r.json() } catch {
                fail("inspect --json: the report of \(path) is not JSON-serializable: \(error)")
            }
        }) { messages.append(m) }
        if let m = expectNamed(path, "streaming read", {
            let r = try StreamingNIfTIReader(path: path, options: NIfTIReadOptions(nonFinite: .zero))
            while r.depthRead < r.shape[0] { _ = try r.read(depth: min(3, r.shape[0] - r.depthRead)) }
        }) { messages.append(m) }
        return messages.isEmpty ? nil : messages.joined(separator: " | ")
    }

    // MARK: HDF5 volume store

    /// Largest volume whose voxels the store target reads (opening and validation are not limited).
    public static let maxVoxelsRead = 1 << 20

    public static func store(_ data: Data) -> FuzzOutcome { data.withUnsafeBytes { store($0) } }

    public static func store(_ bytes: UnsafeRawBufferPointer) -> FuzzOutcome {
        let path = write(bytes, to: "input.h5")
        defer { unlink(path) }
        var messages: [String] = []
        // petgan inspect (and --json)
        if let m = expectNamed(path, "inspect", {
            let r = try FileInspector.inspect(path)
            _ = r.text
            do { _ = try r.json() } catch {
                fail("inspect --json: the report of \(path) is not JSON-serializable: \(error)")
            }
        }) { messages.append(m) }
        // petgan evaluate: the real set, whole volumes and depth slabs in physical units. Volumes
        // are read only up to 2^20 voxels: a few corrupt bytes can declare volumes of up to the
        // store cap (2^29 voxels, all fill value), whose reading costs seconds and finds nothing.
        if let m = expectNamed(path, "evaluate", {
            let s = try VolumeSet.open(path, memoryBudget: 8 << 20)
            for i in 0..<min(s.count, s.voxelCount <= FuzzTargets.maxVoxelsRead ? 2 : 0) {
                _ = try s.values(i)
                let r = try s.slabReader(i)
                var d = 0
                while d < s.shape[0] { let n = min(2, s.shape[0] - d); _ = try r.next(depth: n); d += n }
            }
        }) { messages.append(m) }
        // hierarchical training: the low-resolution copy of the first volume
        if let m = expectNamed(path, "low-resolution copy", {
            let s = try VolumeStore.open(path, memoryBudget: 8 << 20)
            if let c = s.lowResolution, s.count > 0, c.voxelCount <= FuzzTargets.maxVoxelsRead { _ = try s.readLowResolution(0) }
        }) { messages.append(m) }
        // petgan train: the training data and one batch
        if let m = expectNamed(path, "train", {
            let t = try TrainingData(path: path, model: .dcgan3d, classFilter: "")
            if t.itemShape.reduce(1, *) <= FuzzTargets.maxVoxelsRead { _ = try t.batch([0]) }
        }) { messages.append(m) }
        return messages.isEmpty ? .accepted : .rejected(messages)
    }

    // MARK: YAML configuration

    public static func config(_ data: Data) -> FuzzOutcome { data.withUnsafeBytes { config($0) } }

    public static func config(_ bytes: UnsafeRawBufferPointer) -> FuzzOutcome {
        let path = write(bytes, to: "settings.yaml")
        defer { unlink(path) }
        var resolved: TrainConfig?
        if let m = expectNamed(path, "train --config", {
            resolved = try TrainConfig.resolve(model: nil, preset: nil, yamlFile: path, overrides: [:])
        }) { return .rejected([m]) }
        // A resolved configuration is written into the run (config.yaml) and must read back the same.
        guard let c = resolved else { return .accepted }
        let again = (scratch as NSString).appendingPathComponent("resolved.yaml")
        defer { unlink(again) }
        do {
            try c.yaml().write(toFile: again, atomically: false, encoding: .utf8)
            let back = try TrainConfig.resolve(model: nil, preset: nil, yamlFile: again, overrides: [:])
            if back != c { fail("config.yaml of \(path) reads back differently:\n\((try? c.yaml()) ?? "")\nvs\n\((try? back.yaml()) ?? "")") }
        } catch {
            fail("config.yaml of \(path) does not read back: \(error)\n\((try? c.yaml()) ?? "")")
        }
        return .accepted
    }
}
