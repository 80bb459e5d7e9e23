// A thin Swift wrapper over libhdf5 (serial). Only this file touches the raw HDF5 C API.
//
// Public API (all methods may throw HDF5Error, which names the file, the object and the reason):
//
//   let f = try HDF5File.create("out.h5")              // written to a temporary name …
//   try f.commit()                                       // … flushed, closed and renamed at the end
//   let f = try HDF5File.open("in.h5", mode: .readOnly)  // or .readWrite
//   let f = try HDF5File.openForUpdate("in.h5")          // changes a copy; commit() replaces the file
//   let g = try f.createGroup("model/layer1")            // intermediate groups are created too
//   let d = try f.createDataset("volumes", type: Float.self, shape: [0, 64, 64, 64],
//                               maxShape: [nil, 64, 64, 64], chunks: [1, 32, 32, 32],
//                               deflate: 4, shuffle: true)
//   try d.write([Float](...))                            // whole dataset
//   try d.writeHyperslab(start: [2, 0, 0, 0], count: [1, 64, 64, 64], values)
//   try d.extend(to: [3, 64, 64, 64])                   // unlimited dims only
//   let all: [Float] = try d.read()
//   try d.readHyperslab(start: ..., count: ..., into: pointer)   // only the chunks touched are read
//   try f.createStringDataset("names", ["a", "b"])   ;  try f.dataset("names").readStrings()
//   try f.setAttribute("units", "mm") ; try d.setAttribute("voxel_size", [2.0, 2.0, 2.0])
//   try f.attribute("units")  -> HDF5AttributeValue (.string/.strings/.double/.doubles/.int/.ints)
//   f.stringAttribute("units"), doubleAttribute, doublesAttribute, intAttribute, intsAttribute
//
// Every call into libhdf5 runs under one process-wide recursive lock (HDF5Library.locked): the
// serial library is not thread-safe, and a background prefetch thread reads while others write.
// HDF5's own error printing is switched off; its error stack is collected into the thrown error.

import CHDF5
import Foundation

/// A failure inside HDF5, or HDF5 content that is not what the caller expected.
public enum HDF5Error: Error, CustomStringConvertible, Equatable {
    /// libhdf5 returned an error; `reason` is the library's error stack, innermost message last.
    case library(file: String, operation: String, reason: String)
    /// A group, dataset or attribute that should exist does not.
    case notFound(file: String, object: String)
    /// The object exists but has the wrong kind, type or shape.
    case mismatch(file: String, object: String, reason: String)
    /// The caller passed something inconsistent (wrong number of values, bad chunk shape...).
    case invalidArgument(file: String, object: String, reason: String)

    public var description: String {
        switch self {
        case let .library(file, op, reason): return "\(file): HDF5 \(op) failed: \(reason)"
        case let .notFound(file, object): return "\(file): '\(object)' not found"
        case let .mismatch(file, object, reason): return "\(file): '\(object)': \(reason)"
        case let .invalidArgument(file, object, reason): return "\(file): '\(object)': \(reason)"
        }
    }
}

/// Process-wide lock and error handling for libhdf5.
public enum HDF5Library {
    static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var initialized = false

    /// Runs `body` with exclusive access to libhdf5. A crash inside libhdf5 meanwhile (a corrupt
    /// file, see CHDF5/shim.h) exits with one error line naming the file last opened.
    @inline(__always)
    public static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        if !initialized {
            H5open()
            H5Eset_auto2(petgan_h5e_default(), nil, nil)   // we report errors ourselves
            // The fuzz targets leave libhdf5's crashes to the sanitizer, which reports where they are.
            if ProcessInfo.processInfo.environment["PETGAN_HDF5_CRASH_GUARD"] != "0" { HDF5CrashGuard.install() }
            initialized = true
        }
        let outer = HDF5CrashGuard.arm()
        defer { HDF5CrashGuard.restore(outer) }
        return try body()
    }

    /// Names `path` in the message printed if libhdf5 crashes.
    static func guardFile(_ path: String) { HDF5CrashGuard.setFile(path) }

    /// The messages on HDF5's current error stack, outermost first, joined with "; ".
    static func errorStackText() -> String {
        final class Box { var messages: [String] = [] }
        let box = Box()
        let ptr = Unmanaged.passUnretained(box).toOpaque()
        H5Ewalk2(petgan_h5e_default(), H5E_WALK_DOWNWARD, { _, err, client in
            guard let err = err, let client = client else { return 0 }
            let b = Unmanaged<Box>.fromOpaque(client).takeUnretainedValue()
            let desc = err.pointee.desc.map { String(cString: $0) } ?? ""
            let fn = err.pointee.func_name.map { String(cString: $0) } ?? ""
            b.messages.append(fn.isEmpty ? desc : "\(desc) (\(fn))")
            return 0
        }, ptr)
        H5Eclear2(petgan_h5e_default())
        let unique = box.messages.filter { !$0.isEmpty }
        return unique.isEmpty ? "unknown HDF5 error" : unique.joined(separator: "; ")
    }

    /// Throws if `status` is negative.
    static func check(_ status: herr_t, file: String, _ op: @autoclosure () -> String) throws {
        if status < 0 { throw HDF5Error.library(file: file, operation: op(), reason: errorStackText()) }
    }

    /// Throws if `id` is negative, else returns it.
    static func checkID(_ id: hid_t, file: String, _ op: @autoclosure () -> String) throws -> hid_t {
        if id < 0 { throw HDF5Error.library(file: file, operation: op(), reason: errorStackText()) }
        return id
    }
}

/// A crash inside libhdf5 becomes one error line naming the file and exit status 1 instead of a
/// segmentation fault: libhdf5 1.10 trusts corrupt files' global-heap indices and sizes (H5HG_read,
/// H5C_protect; found by fuzzing, docs/FUZZING.md). Armed only on the thread that holds the HDF5
/// lock, while it holds it; any other SIGSEGV/SIGBUS goes back to the handler installed before
/// (the Swift runtime's crash reporter), which then handles the repeated fault.
enum HDF5CrashGuard {
    struct State {
        var armedThread: pthread_t = 0      // 0: nobody is inside libhdf5
        var length = 0
    }
    static let capacity = 4096
    // Allocated once before the handler is installed; the handler only loads from them.
    nonisolated(unsafe) static let state: UnsafeMutablePointer<State> = {
        let p = UnsafeMutablePointer<State>.allocate(capacity: 1); p.initialize(to: State()); return p
    }()
    nonisolated(unsafe) static let text = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 2)

    /// Called once, under the HDF5 lock.
    static func install() {
        if state.pointee.length == 0 { setFile("(an HDF5 file)") }
        _ = previous   // allocated before the handler can run
        var sa = sigaction()
        sa.__sigaction_handler.sa_sigaction = { sig, _, _ in
            let s = HDF5CrashGuard.state
            if s.pointee.armedThread != 0 && pthread_equal(s.pointee.armedThread, pthread_self()) != 0 {
                _ = write(2, HDF5CrashGuard.text, s.pointee.length)
                _exit(1)
            }
            // Not inside libhdf5: give the fault back to the previous handler.
            _ = sigaction(sig, HDF5CrashGuard.previous + (sig == SIGBUS ? 1 : 0), nil)
        }
        sa.sa_flags = SA_SIGINFO | Int32(SA_ONSTACK)
        sigemptyset(&sa.sa_mask)
        sigaction(SIGSEGV, &sa, previous)
        sigaction(SIGBUS, &sa, previous + 1)
    }

    /// The file named if libhdf5 crashes (set when a file is opened; call under the HDF5 lock).
    static func setFile(_ path: String) {
        let line = Array("petgan: error: \(path): libhdf5 crashed reading the file (it is corrupt: libhdf5 does not check every structure of a damaged file)\n".utf8.prefix(capacity))
        state.pointee.length = 0
        line.withUnsafeBufferPointer { text.update(from: $0.baseAddress!, count: line.count) }
        state.pointee.length = line.count
    }

    /// Arms the guard for the calling thread; returns the previous state for `restore`.
    static func arm() -> pthread_t {
        let outer = state.pointee.armedThread
        state.pointee.armedThread = pthread_self()
        return outer
    }
    static func restore(_ outer: pthread_t) { state.pointee.armedThread = outer }
}

/// Numeric element types that map onto an HDF5 native type.
public protocol HDF5Numeric {
    /// The in-memory HDF5 type.
    static var hdf5MemoryType: hid_t { get }
    /// The little-endian file type we store it as.
    static var hdf5FileType: hid_t { get }
    static var hdf5Name: String { get }
    init()
}
extension Float: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_float() }
    public static var hdf5FileType: hid_t { petgan_h5t_ieee_f32le() }
    public static var hdf5Name: String { "float32" }
}
extension Double: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_double() }
    public static var hdf5FileType: hid_t { petgan_h5t_ieee_f64le() }
    public static var hdf5Name: String { "float64" }
}
extension Int32: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_int32() }
    public static var hdf5FileType: hid_t { petgan_h5t_std_i32le() }
    public static var hdf5Name: String { "int32" }
}
extension Int64: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_int64() }
    public static var hdf5FileType: hid_t { petgan_h5t_std_i64le() }
    public static var hdf5Name: String { "int64" }
}
extension UInt64: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_uint64() }
    public static var hdf5FileType: hid_t { petgan_h5t_std_u64le() }
    public static var hdf5Name: String { "uint64" }
}
extension UInt8: HDF5Numeric {
    public static var hdf5MemoryType: hid_t { petgan_h5t_native_uint8() }
    public static var hdf5FileType: hid_t { petgan_h5t_std_u8le() }
    public static var hdf5Name: String { "uint8" }
}

/// The stored element type of a dataset or attribute.
public enum HDF5ElementKind: String, Equatable {
    case float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, string, other
}

/// The value of an attribute, as read back.
public enum HDF5AttributeValue: Equatable, CustomStringConvertible {
    case string(String), strings([String])
    case double(Double), doubles([Double])
    case int(Int64), ints([Int64])

    public var description: String {
        switch self {
        case .string(let s): return s
        case .strings(let a): return a.description
        case .double(let d): return String(d)
        case .doubles(let a): return a.description
        case .int(let i): return String(i)
        case .ints(let a): return a.description
        }
    }
}

/// Owns one HDF5 identifier and closes it (under the library lock) when released.
final class HDF5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    init(_ id: hid_t, closer: @escaping (hid_t) -> herr_t) { self.id = id; self.closer = closer }
    deinit { HDF5Library.locked { _ = closer(id) } }
}

/// Something attributes can hang on: a file (its root group), a group or a dataset.
public class HDF5Object {
    /// Path of the file this object lives in (the final path, for error messages).
    public let filePath: String
    /// Path of the object inside the file ("/" for the root).
    public let objectPath: String
    let handle: HDF5Handle
    var id: hid_t { handle.id }

    init(filePath: String, objectPath: String, handle: HDF5Handle) {
        self.filePath = filePath; self.objectPath = objectPath; self.handle = handle
    }

    // MARK: attributes

    /// Whether an attribute of this name exists.
    public func hasAttribute(_ name: String) throws -> Bool {
        try HDF5Library.locked {
            let r = H5Aexists(id, name)
            if r < 0 { throw HDF5Error.library(file: filePath, operation: "checking attribute '\(name)' of \(objectPath)", reason: HDF5Library.errorStackText()) }
            return r > 0
        }
    }

    /// Names of all attributes.
    public func attributeNames() throws -> [String] {
        HDF5Library.locked {
            // Walk indices until the library says there are no more (works on every HDF5 version).
            var names: [String] = []
            var idx: hsize_t = 0
            while true {
                let len = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, idx, nil, 0, petgan_h5p_default())
                if len < 0 { H5Eclear2(petgan_h5e_default()); break }
                var buf = [CChar](repeating: 0, count: Int(len) + 1)
                _ = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, idx, &buf, buf.count, petgan_h5p_default())
                names.append(String(cString: buf))
                idx += 1
            }
            return names
        }
    }

    /// Deletes the attribute `name` if there is one.
    public func removeAttribute(_ name: String) throws { try HDF5Library.locked { try deleteAttributeIfPresent(name) } }

    private func deleteAttributeIfPresent(_ name: String) throws {
        if try hasAttribute(name) {
            try HDF5Library.check(H5Adelete(id, name), file: filePath, "deleting attribute '\(name)' of \(objectPath)")
        }
    }

    private func writeNumericAttribute<T: HDF5Numeric>(_ name: String, _ values: [T], scalar: Bool) throws {
        try HDF5Library.locked {
            try deleteAttributeIfPresent(name)
            let what = "writing attribute '\(name)' of \(objectPath)"
            var dims: [hsize_t] = [hsize_t(values.count)]
            let space = try HDF5Library.checkID(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), file: filePath, what)
            defer { H5Sclose(space) }
            let attr = try HDF5Library.checkID(H5Acreate2(id, name, T.hdf5FileType, space, petgan_h5p_default(), petgan_h5p_default()), file: filePath, what)
            defer { H5Aclose(attr) }
            try values.withUnsafeBufferPointer { buf in
                try HDF5Library.check(H5Awrite(attr, T.hdf5MemoryType, buf.baseAddress), file: filePath, what)
            }
        }
    }

    private func writeStringAttribute(_ name: String, _ values: [String], scalar: Bool) throws {
        try HDF5Library.locked {
            try deleteAttributeIfPresent(name)
            let what = "writing attribute '\(name)' of \(objectPath)"
            let type = try makeVariableStringType(file: filePath)
            defer { H5Tclose(type) }
            var dims: [hsize_t] = [hsize_t(values.count)]
            let space = try HDF5Library.checkID(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), file: filePath, what)
            defer { H5Sclose(space) }
            let attr = try HDF5Library.checkID(H5Acreate2(id, name, type, space, petgan_h5p_default(), petgan_h5p_default()), file: filePath, what)
            defer { H5Aclose(attr) }
            try withCStringArray(values) { ptrs in
                try HDF5Library.check(H5Awrite(attr, type, ptrs), file: filePath, what)
            }
        }
    }

    /// Sets (replacing) a scalar string attribute.
    public func setAttribute(_ name: String, _ value: String) throws { try writeStringAttribute(name, [value], scalar: true) }
    /// Sets a 1-D string array attribute.
    public func setAttribute(_ name: String, _ value: [String]) throws { try writeStringAttribute(name, value, scalar: false) }
    /// Sets a scalar float64 attribute.
    public func setAttribute(_ name: String, _ value: Double) throws { try writeNumericAttribute(name, [value], scalar: true) }
    /// Sets a 1-D float64 array attribute.
    public func setAttribute(_ name: String, _ value: [Double]) throws { try writeNumericAttribute(name, value, scalar: false) }
    /// Sets a scalar int64 attribute.
    public func setAttribute(_ name: String, _ value: Int) throws { try writeNumericAttribute(name, [Int64(value)], scalar: true) }
    /// Sets a 1-D int64 array attribute.
    public func setAttribute(_ name: String, _ value: [Int]) throws { try writeNumericAttribute(name, value.map(Int64.init), scalar: false) }

    /// Reads an attribute of any supported type (strings, floats, integers; scalar or 1-D).
    public func attribute(_ name: String) throws -> HDF5AttributeValue {
        try HDF5Library.locked {
            guard try hasAttribute(name) else { throw HDF5Error.notFound(file: filePath, object: "\(objectPath)@\(name)") }
            let what = "reading attribute '\(name)' of \(objectPath)"
            let attr = try HDF5Library.checkID(H5Aopen(id, name, petgan_h5p_default()), file: filePath, what)
            defer { H5Aclose(attr) }
            let ftype = try HDF5Library.checkID(H5Aget_type(attr), file: filePath, what)
            defer { H5Tclose(ftype) }
            let space = try HDF5Library.checkID(H5Aget_space(attr), file: filePath, what)
            defer { H5Sclose(space) }
            let isScalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
            let points = H5Sget_simple_extent_npoints(space)
            guard points >= 0, points <= 1 << 24 else {
                throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "attribute holds \(points) values (corrupt file?)")
            }
            let n = Int(points)
            switch H5Tget_class(ftype) {
            case H5T_STRING:
                let strings = try readHDF5Strings(count: n, fileType: ftype, file: filePath, what: what) { memType, buf in
                    H5Aread(attr, memType, buf)
                }
                return isScalar || n == 1 && isScalar ? .string(strings.first ?? "") : .strings(strings)
            case H5T_FLOAT:
                var values = [Double](repeating: 0, count: n)
                try HDF5Library.check(H5Aread(attr, petgan_h5t_native_double(), &values), file: filePath, what)
                return isScalar ? .double(values.first ?? 0) : .doubles(values)
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: n)
                try HDF5Library.check(H5Aread(attr, petgan_h5t_native_int64(), &values), file: filePath, what)
                return isScalar ? .int(values.first ?? 0) : .ints(values)
            default:
                throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "attribute type is not a string, float or integer")
            }
        }
    }

    /// A string attribute (a 1-element string array is accepted too).
    public func stringAttribute(_ name: String) throws -> String {
        switch try attribute(name) {
        case .string(let s): return s
        case .strings(let a) where a.count == 1: return a[0]
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected a string attribute, found \(other)")
        }
    }
    /// A string-array attribute (a scalar string becomes a 1-element array).
    public func stringsAttribute(_ name: String) throws -> [String] {
        switch try attribute(name) {
        case .string(let s): return [s]
        case .strings(let a): return a
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected a string array attribute, found \(other)")
        }
    }
    /// A numeric scalar attribute as Double.
    public func doubleAttribute(_ name: String) throws -> Double {
        switch try attribute(name) {
        case .double(let d): return d
        case .int(let i): return Double(i)
        case .doubles(let a) where a.count == 1: return a[0]
        case .ints(let a) where a.count == 1: return Double(a[0])
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected a numeric attribute, found \(other)")
        }
    }
    /// A numeric array attribute as [Double].
    public func doublesAttribute(_ name: String) throws -> [Double] {
        switch try attribute(name) {
        case .double(let d): return [d]
        case .int(let i): return [Double(i)]
        case .doubles(let a): return a
        case .ints(let a): return a.map(Double.init)
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected a numeric array attribute, found \(other)")
        }
    }
    /// An integer scalar attribute.
    public func intAttribute(_ name: String) throws -> Int {
        switch try attribute(name) {
        case .int(let i): return Int(i)
        case .ints(let a) where a.count == 1: return Int(a[0])
        // Int(d) traps beyond ±2^63 (a corrupt or fuzzed attribute): such a value is a mismatch.
        case .double(let d) where d == d.rounded() && abs(d) < 0x1p62: return Int(d)
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected an integer attribute, found \(other)")
        }
    }
    /// An integer array attribute.
    public func intsAttribute(_ name: String) throws -> [Int] {
        switch try attribute(name) {
        case .int(let i): return [Int(i)]
        case .ints(let a): return a.map { Int($0) }
        case let other: throw HDF5Error.mismatch(file: filePath, object: "\(objectPath)@\(name)", reason: "expected an integer array attribute, found \(other)")
        }
    }
}

/// A group: a folder of datasets and groups. `HDF5File` is its root group.
public class HDF5Group: HDF5Object {
    func childPath(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return objectPath == "/" ? "/" + name : objectPath + "/" + name
    }

    /// Whether `path` (relative to this group; "a/b/c" allowed) names an existing link.
    public func exists(_ path: String) throws -> Bool {
        HDF5Library.locked {
            var prefix = path.hasPrefix("/") ? "/" : ""
            for comp in path.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + comp
                let r = H5Lexists(id, prefix, petgan_h5p_default())
                if r < 0 { H5Eclear2(petgan_h5e_default()); return false }
                if r == 0 { return false }
            }
            return true
        }
    }

    /// Names of the direct children (groups and datasets), in name order.
    public func childNames() throws -> [String] {
        try HDF5Library.locked {
            var info = H5G_info_t()
            try HDF5Library.check(H5Gget_info(id, &info), file: filePath, "listing \(objectPath)")
            var names: [String] = []
            for i in 0..<info.nlinks {
                let len = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, petgan_h5p_default())
                guard len >= 0 else { throw HDF5Error.library(file: filePath, operation: "listing \(objectPath)", reason: HDF5Library.errorStackText()) }
                var buf = [CChar](repeating: 0, count: Int(len) + 1)
                _ = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, petgan_h5p_default())
                names.append(String(cString: buf))
            }
            return names
        }
    }

    /// Whether the child at `path` is a group (false for datasets; throws if missing).
    public func isGroup(_ path: String) throws -> Bool {
        try HDF5Library.locked {
            guard try exists(path) else { throw HDF5Error.notFound(file: filePath, object: childPath(path)) }
            let obj = try HDF5Library.checkID(H5Oopen(id, path, petgan_h5p_default()), file: filePath, "opening \(childPath(path))")
            defer { H5Oclose(obj) }
            return H5Iget_type(obj) == H5I_GROUP
        }
    }

    /// Opens an existing group.
    public func group(_ path: String) throws -> HDF5Group {
        try HDF5Library.locked {
            guard try exists(path) else { throw HDF5Error.notFound(file: filePath, object: childPath(path)) }
            guard try isGroup(path) else { throw HDF5Error.mismatch(file: filePath, object: childPath(path), reason: "is a dataset, not a group") }
            let g = try HDF5Library.checkID(H5Gopen2(id, path, petgan_h5p_default()), file: filePath, "opening group \(childPath(path))")
            return HDF5Group(filePath: filePath, objectPath: childPath(path), handle: HDF5Handle(g, closer: H5Gclose))
        }
    }

    /// Creates a group (and any missing intermediate groups); returns the existing one if present.
    @discardableResult
    public func createGroup(_ path: String) throws -> HDF5Group {
        try HDF5Library.locked {
            if try exists(path) { return try group(path) }
            let lcpl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_link_create()), file: filePath, "creating group \(childPath(path))")
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let g = try HDF5Library.checkID(H5Gcreate2(id, path, lcpl, petgan_h5p_default(), petgan_h5p_default()), file: filePath, "creating group \(childPath(path))")
            return HDF5Group(filePath: filePath, objectPath: childPath(path), handle: HDF5Handle(g, closer: H5Gclose))
        }
    }

    /// Opens an existing dataset. `chunkCacheBytes` sizes this dataset's chunk cache (HDF5's default
    /// is 1 MB); reading patches that cross many chunks wants it at least one row of chunks.
    public func dataset(_ path: String, chunkCacheBytes: Int? = nil) throws -> HDF5Dataset {
        try HDF5Library.locked {
            guard try exists(path) else { throw HDF5Error.notFound(file: filePath, object: childPath(path)) }
            if try isGroup(path) { throw HDF5Error.mismatch(file: filePath, object: childPath(path), reason: "is a group, not a dataset") }
            var dapl = petgan_h5p_default()
            if let bytes = chunkCacheBytes {
                dapl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_dataset_access()), file: filePath, "opening \(childPath(path))")
                // Slots: a prime well above the number of chunks that fit (HDF5's advice: ~100x).
                let slots = max(521, min(1_000_003, bytes / 4096 * 10 + 1))
                // w0 stays at HDF5's default 0.75: with 1.0 (evict fully read chunks first) libhdf5
                // 1.10 let resident memory grow far past the cache size on random patch reads
                // (279 MB with a 1 MB cache after 1000 64³ patches; see `petgan bench volumes`).
                H5Pset_chunk_cache(dapl, slots, max(0, bytes), 0.75)
            }
            defer { if dapl != petgan_h5p_default() { H5Pclose(dapl) } }
            let d = try HDF5Library.checkID(H5Dopen2(id, path, dapl), file: filePath, "opening dataset \(childPath(path))")
            return try HDF5Dataset(file: filePath, path: childPath(path), handle: HDF5Handle(d, closer: H5Dclose))
        }
    }

    /// Creates a numeric dataset of any rank.
    /// - maxShape: per-dimension maximum, nil for unlimited (needs chunks); default = shape.
    /// - chunks: chunk shape (required for unlimited dims, deflate or shuffle).
    /// - deflate: gzip level 0...9 (nil = none). shuffle: byte-shuffle filter before deflate.
    @discardableResult
    public func createDataset<T: HDF5Numeric>(_ path: String, type: T.Type, shape: [Int], maxShape: [Int?]? = nil,
                                             chunks: [Int]? = nil, deflate: Int? = nil, shuffle: Bool = false) throws -> HDF5Dataset {
        try createDatasetRaw(path, fileType: T.hdf5FileType, shape: shape, maxShape: maxShape, chunks: chunks, deflate: deflate, shuffle: shuffle)
    }

    /// Creates a numeric dataset and writes `values` (row-major, last dimension fastest).
    @discardableResult
    public func createDataset<T: HDF5Numeric>(_ path: String, values: [T], shape: [Int], chunks: [Int]? = nil,
                                             deflate: Int? = nil, shuffle: Bool = false) throws -> HDF5Dataset {
        let d = try createDataset(path, type: T.self, shape: shape, chunks: chunks, deflate: deflate, shuffle: shuffle)
        try d.write(values)
        return d
    }

    /// Creates a 1-D dataset of variable-length UTF-8 strings (h5py reads them as str/bytes).
    @discardableResult
    public func createStringDataset(_ path: String, _ values: [String]) throws -> HDF5Dataset {
        try HDF5Library.locked {
            let type = try makeVariableStringType(file: filePath)
            defer { H5Tclose(type) }
            let d = try createDatasetRaw(path, fileType: type, shape: [values.count], maxShape: nil, chunks: nil, deflate: nil, shuffle: false)
            try withCStringArray(values) { ptrs in
                try HDF5Library.check(H5Dwrite(d.id, type, petgan_h5s_all(), petgan_h5s_all(), petgan_h5p_default(), ptrs), file: filePath, "writing \(d.objectPath)")
            }
            return d
        }
    }

    func createDatasetRaw(_ path: String, fileType: hid_t, shape: [Int], maxShape: [Int?]?, chunks: [Int]?, deflate: Int?, shuffle: Bool) throws -> HDF5Dataset {
        try HDF5Library.locked {
            let full = childPath(path)
            let what = "creating dataset \(full)"
            if shape.contains(where: { $0 < 0 }) { throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "negative dimension in shape \(shape)") }
            let maxS = maxShape ?? shape.map { Optional($0) }
            guard maxS.count == shape.count else { throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "maxShape \(maxS) has a different rank from shape \(shape)") }
            if let c = chunks {
                guard c.count == shape.count, c.allSatisfy({ $0 > 0 }) else {
                    throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "chunk shape \(c) must have rank \(shape.count) and positive sizes")
                }
            } else if maxS.contains(where: { $0 == nil }) || deflate != nil || shuffle {
                throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "unlimited dimensions, deflate and shuffle need a chunk shape")
            }
            if let level = deflate, !(0...9).contains(level) {
                throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "deflate level \(level) is not in 0...9")
            }
            if try exists(path) { throw HDF5Error.invalidArgument(file: filePath, object: full, reason: "already exists") }
            var dims = shape.map { hsize_t($0) }
            var maxDims = maxS.map { $0.map { hsize_t($0) } ?? petgan_h5s_unlimited() }
            let space = try HDF5Library.checkID(shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, &maxDims), file: filePath, what)
            defer { H5Sclose(space) }
            let dcpl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_dataset_create()), file: filePath, what)
            defer { H5Pclose(dcpl) }
            if let c = chunks {
                // A chunk may not exceed a fixed dimension's size; clamp (keeping at least 1).
                var cd = zip(c, maxS).map { (ch, m) -> hsize_t in hsize_t(m.map { max(1, min(ch, $0)) } ?? ch) }
                try HDF5Library.check(H5Pset_chunk(dcpl, Int32(cd.count), &cd), file: filePath, what)
                if shuffle { try HDF5Library.check(H5Pset_shuffle(dcpl), file: filePath, what + " (shuffle filter)") }
                if let level = deflate { try HDF5Library.check(H5Pset_deflate(dcpl, UInt32(level)), file: filePath, what + " (deflate filter)") }
            }
            let lcpl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_link_create()), file: filePath, what)
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let d = try HDF5Library.checkID(H5Dcreate2(id, path, fileType, space, lcpl, dcpl, petgan_h5p_default()), file: filePath, what)
            return try HDF5Dataset(file: filePath, path: full, handle: HDF5Handle(d, closer: H5Dclose))
        }
    }

    /// Deletes the link `path` (the space is reclaimed only by repacking; fine for small objects).
    public func remove(_ path: String) throws {
        try HDF5Library.locked {
            guard try exists(path) else { throw HDF5Error.notFound(file: filePath, object: childPath(path)) }
            try HDF5Library.check(H5Ldelete(id, path, petgan_h5p_default()), file: filePath, "deleting \(childPath(path))")
        }
    }
}

/// How to open an existing file.
public enum HDF5OpenMode { case readOnly, readWrite }

/// An HDF5 file; also its root group.
public final class HDF5File: HDF5Group {
    /// Where the file is being written when created atomically (renamed to `filePath` by commit()).
    public let temporaryPath: String?
    private var committed = false

    private init(path: String, temporaryPath: String?, id: hid_t) {
        self.temporaryPath = temporaryPath
        super.init(filePath: path, objectPath: "/", handle: HDF5Handle(id, closer: H5Fclose))
    }

    /// Opens an existing file. `chunkCacheBytes` sets the default chunk cache of every dataset.
    public static func open(_ path: String, mode: HDF5OpenMode = .readOnly, chunkCacheBytes: Int? = nil) throws -> HDF5File {
        guard FileManager.default.fileExists(atPath: path) else {
            throw HDF5Error.notFound(file: path, object: "/ (the file does not exist)")
        }
        return try HDF5Library.locked {
            HDF5Library.guardFile(path)
            let isH5 = H5Fis_hdf5(path)
            if isH5 <= 0 {
                H5Eclear2(petgan_h5e_default())
                throw HDF5Error.mismatch(file: path, object: "/", reason: "not an HDF5 file (no HDF5 signature; truncated or a different format)")
            }
            let fapl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_file_access()), file: path, "opening")
            defer { H5Pclose(fapl) }
            if let bytes = chunkCacheBytes {
                H5Pset_cache(fapl, 0, max(521, min(1_000_003, bytes / 4096 * 10 + 1)), max(0, bytes), 0.75)
            }
            let flags = mode == .readOnly ? petgan_h5f_acc_rdonly() : petgan_h5f_acc_rdwr()
            let id = try HDF5Library.checkID(H5Fopen(path, flags, fapl), file: path, "opening")
            return HDF5File(path: path, temporaryPath: nil, id: id)
        }
    }

    /// Opens a copy of an existing file for changes: the copy lives under a temporary name and
    /// replaces the original only when `commit()` succeeds (the original is untouched until then).
    public static func openForUpdate(_ path: String) throws -> HDF5File {
        _ = try open(path)   // same checks and errors as open()
        let tmp = temporaryName(for: path)
        do { try FileManager.default.copyItem(atPath: path, toPath: tmp) } catch {
            throw HDF5Error.library(file: path, operation: "copying for update", reason: error.localizedDescription)
        }
        return try HDF5Library.locked {
            let fapl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_file_access()), file: path, "opening for update")
            defer { H5Pclose(fapl) }
            H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG)
            let id = H5Fopen(tmp, petgan_h5f_acc_rdwr(), fapl)
            if id < 0 {
                let reason = HDF5Library.errorStackText(); unlink(tmp)
                throw HDF5Error.library(file: path, operation: "opening for update", reason: reason)
            }
            return HDF5File(path: path, temporaryPath: tmp, id: id)
        }
    }

    /// Creates a new file. With `atomic` (the default) it is written under a temporary name in the
    /// same folder and appears at `path` only when `commit()` succeeds; if the object is released
    /// without commit the temporary file is deleted, so no half-written file is ever left behind.
    public static func create(_ path: String, atomic: Bool = true, overwrite: Bool = true) throws -> HDF5File {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw HDF5Error.invalidArgument(file: path, object: "/", reason: "file already exists")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            throw HDF5Error.notFound(file: path, object: "/ (folder \(dir) does not exist)")
        }
        let target = atomic ? temporaryName(for: path) : path
        return try HDF5Library.locked {
            let fapl = try HDF5Library.checkID(H5Pcreate(petgan_h5p_file_access()), file: path, "creating")
            defer { H5Pclose(fapl) }
            H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG)
            let id = try HDF5Library.checkID(H5Fcreate(target, petgan_h5f_acc_trunc(), petgan_h5p_default(), fapl), file: path, "creating")
            return HDF5File(path: path, temporaryPath: atomic ? target : nil, id: id)
        }
    }

    /// Flushes everything to disk.
    public func flush() throws {
        try HDF5Library.locked { try HDF5Library.check(H5Fflush(id, H5F_SCOPE_GLOBAL), file: filePath, "flushing") }
    }

    /// Finishes an atomically created file: flushes, closes every handle and renames the temporary
    /// file to its final name. Datasets and groups obtained from this file must not be used after.
    public func commit() throws {
        try HDF5Library.locked {
            guard let tmp = temporaryPath, !committed else { try flush(); return }
            try flush()
            // The file was created with the "strong" close degree: this closes every dataset and
            // group handle still alive elsewhere, so the file is complete before the rename.
            try HDF5Library.check(H5Fclose(id), file: filePath, "closing")
            committed = true
            if rename(tmp, filePath) != 0 {
                let reason = String(cString: strerror(errno))
                unlink(tmp)
                throw HDF5Error.library(file: filePath, operation: "renaming \(tmp) to the final name", reason: reason)
            }
        }
    }

    deinit {
        if let tmp = temporaryPath, !committed {
            HDF5Library.locked { _ = H5Fclose(id); H5Eclear2(petgan_h5e_default()) }
            unlink(tmp)
        }
    }
}

/// Temporary sibling name used for atomic writes: "<dir>/.<name>.tmp-<pid>-<counter>".
public func temporaryName(for path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    temporaryNameCounter.lock.lock(); temporaryNameCounter.value += 1; let n = temporaryNameCounter.value; temporaryNameCounter.lock.unlock()
    return dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(n)"
}
private final class Counter: @unchecked Sendable { let lock = NSLock(); var value = 0 }
private let temporaryNameCounter = Counter()

/// A dataset: an n-dimensional array of one element type.
public final class HDF5Dataset: HDF5Object {
    /// Current shape (row-major, last dimension fastest).
    public private(set) var shape: [Int]
    /// Maximum shape; nil entries are unlimited.
    public let maxShape: [Int?]
    /// Chunk shape, or nil for contiguous storage.
    public let chunks: [Int]?
    /// Stored element type.
    public let kind: HDF5ElementKind
    /// Filters on the chunks: deflate level (nil = none) and whether shuffle is on.
    public let deflateLevel: Int?
    public let shuffle: Bool

    /// Total number of elements.
    public var count: Int { shape.reduce(1, *) }   // cannot overflow: checked against maxElements on open

    /// Largest dimension and element count accepted from a file (2^40: far beyond any volume, and
    /// small enough that element counts times 8 bytes never overflow).
    public static let maxDimension = 1 << 40, maxElements = 1 << 40

    init(file filePath: String, path objectPath: String, handle: HDF5Handle) throws {
        let id = handle.id
        var shape: [Int] = [], maxShape: [Int?] = [], chunks: [Int]? = nil
        var kind = HDF5ElementKind.other, deflate: Int? = nil, shuffle = false
        try HDF5Library.locked {
            let what = "inspecting \(objectPath)"
            let space = try HDF5Library.checkID(H5Dget_space(id), file: filePath, what)
            defer { H5Sclose(space) }
            let rank = Int(H5Sget_simple_extent_ndims(space))
            guard (0...32).contains(rank) else {
                throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "dataspace rank \(rank) is not 0...32 (corrupt file?)")
            }
            var dims = [hsize_t](repeating: 0, count: max(rank, 1)), maxd = dims
            if rank > 0 { try HDF5Library.check(H5Sget_simple_extent_dims(space, &dims, &maxd), file: filePath, what) }
            // A size that does not fit an Int, or whose element count overflows, is refused here so
            // that no later arithmetic on the shape can trap.
            shape = try dims.prefix(rank).map { d -> Int in
                guard let n = Int(exactly: d), n <= HDF5Dataset.maxDimension else {
                    throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "dimension \(d) is too large (shape \(Array(dims.prefix(rank))))")
                }
                return n
            }
            var total = 1
            for n in shape {
                let (p, o) = total.multipliedReportingOverflow(by: n)
                guard !o, p <= HDF5Dataset.maxElements else {
                    throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "shape \(shape) holds too many elements (more than \(HDF5Dataset.maxElements))")
                }
                total = p
            }
            maxShape = maxd.prefix(rank).map { $0 == petgan_h5s_unlimited() ? nil : Int(exactly: $0) ?? Int.max }
            let type = try HDF5Library.checkID(H5Dget_type(id), file: filePath, what)
            defer { H5Tclose(type) }
            kind = elementKind(type)
            let dcpl = try HDF5Library.checkID(H5Dget_create_plist(id), file: filePath, what)
            defer { H5Pclose(dcpl) }
            if H5Pget_layout(dcpl) == H5D_CHUNKED {
                var cd = [hsize_t](repeating: 0, count: max(rank, 1))
                let chunkRank = H5Pget_chunk(dcpl, Int32(rank), &cd)
                guard chunkRank == Int32(rank) else {
                    throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "chunk rank \(chunkRank) differs from the dataset rank \(rank) (corrupt file?)")
                }
                chunks = cd.prefix(rank).map { Int(clamping: $0) }
            }
            let nf = H5Pget_nfilters(dcpl)
            for i in 0..<max(0, nf) {
                var flags: UInt32 = 0, nelmts: Int = 4, filterConfig: UInt32 = 0
                var cdValues = [UInt32](repeating: 0, count: 4)
                var name = [CChar](repeating: 0, count: 64)
                let f = H5Pget_filter2(dcpl, UInt32(i), &flags, &nelmts, &cdValues, name.count, &name, &filterConfig)
                if f == H5Z_FILTER_DEFLATE { deflate = Int(cdValues[0]) }
                if f == H5Z_FILTER_SHUFFLE { shuffle = true }
            }
        }
        self.shape = shape; self.maxShape = maxShape; self.chunks = chunks; self.kind = kind
        self.deflateLevel = deflate; self.shuffle = shuffle
        super.init(filePath: filePath, objectPath: objectPath, handle: handle)
    }

    private func refreshShape() throws {
        try HDF5Library.locked {
            let space = try HDF5Library.checkID(H5Dget_space(id), file: filePath, "inspecting \(objectPath)")
            defer { H5Sclose(space) }
            var dims = [hsize_t](repeating: 0, count: max(shape.count, 1))
            H5Sget_simple_extent_dims(space, &dims, nil)
            shape = dims.prefix(shape.count).map { Int(clamping: $0) }
        }
    }

    /// The chunk-cache size (bytes) this dataset is actually using.
    public func chunkCacheBytes() throws -> Int {
        try HDF5Library.locked {
            let dapl = try HDF5Library.checkID(H5Dget_access_plist(id), file: filePath, "reading the access list of \(objectPath)")
            defer { H5Pclose(dapl) }
            var slots = 0, bytes = 0, w0 = 0.0
            try HDF5Library.check(H5Pget_chunk_cache(dapl, &slots, &bytes, &w0), file: filePath, "reading the chunk cache of \(objectPath)")
            return bytes
        }
    }

    /// Grows (or shrinks) the dataset; only dimensions declared unlimited or below maxShape may change.
    public func extend(to newShape: [Int]) throws {
        guard newShape.count == shape.count else {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "extend to \(newShape): rank differs from \(shape)")
        }
        for (n, m) in zip(newShape, maxShape) where m != nil && n > m! {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "extend to \(newShape) exceeds the maximum shape \(maxShape.map { $0.map(String.init) ?? "unlimited" })")
        }
        try HDF5Library.locked {
            var dims = newShape.map { hsize_t($0) }
            try HDF5Library.check(H5Dset_extent(id, &dims), file: filePath, "extending \(objectPath) to \(newShape)")
            try refreshShape()
        }
    }

    private func checkSlab(start: [Int], count: [Int], op: String) throws {
        guard start.count == shape.count, count.count == shape.count else {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "\(op): start \(start) / count \(count) must have rank \(shape.count)")
        }
        for d in 0..<shape.count where start[d] < 0 || count[d] < 0 || start[d] + count[d] > shape[d] {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "\(op): region start \(start) count \(count) is outside the dataset shape \(shape)")
        }
    }

    private func numericCheck<T: HDF5Numeric>(_ t: T.Type, op: String) throws {
        if kind == .string || kind == .other {
            throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "\(op) as \(T.hdf5Name): the dataset holds \(kind.rawValue)")
        }
    }

    /// Reads the whole dataset (converted to T by HDF5 when the stored type differs).
    public func read<T: HDF5Numeric>(_ type: T.Type = T.self) throws -> [T] {
        try numericCheck(T.self, op: "read")
        var out = [T](repeating: T(), count: count)
        if out.isEmpty { return out }
        try out.withUnsafeMutableBufferPointer { buf in
            try readHyperslab(start: [Int](repeating: 0, count: shape.count), count: shape, into: buf.baseAddress!)
        }
        return out
    }

    /// Writes the whole dataset; `values.count` must equal the element count.
    public func write<T: HDF5Numeric>(_ values: [T]) throws {
        guard values.count == count else {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "write: \(values.count) values for shape \(shape) (\(count) elements)")
        }
        if values.isEmpty { return }
        try values.withUnsafeBufferPointer { buf in
            try writeHyperslab(start: [Int](repeating: 0, count: shape.count), count: shape, from: buf.baseAddress!)
        }
    }

    /// Reads the box [start, start+count) into `into` (row-major, `count.product` elements).
    /// Only the chunks the box touches are read from disk.
    public func readHyperslab<T: HDF5Numeric>(start: [Int], count: [Int], into: UnsafeMutablePointer<T>) throws {
        try numericCheck(T.self, op: "read")
        try checkSlab(start: start, count: count, op: "read")
        if count.contains(0) { return }
        try HDF5Library.locked {
            let what = "reading \(objectPath) region start \(start) count \(count)"
            let (fileSpace, memSpace) = try selectSpaces(start: start, count: count, what: what)
            defer { H5Sclose(fileSpace); H5Sclose(memSpace) }
            try HDF5Library.check(H5Dread(id, T.hdf5MemoryType, memSpace, fileSpace, petgan_h5p_default(), into), file: filePath, what)
        }
    }

    /// Reads the box [start, start+count) into a new array.
    public func readHyperslab<T: HDF5Numeric>(start: [Int], count: [Int], as type: T.Type = T.self) throws -> [T] {
        var out = [T](repeating: T(), count: count.reduce(1, *))
        if out.isEmpty { return out }
        try out.withUnsafeMutableBufferPointer { try readHyperslab(start: start, count: count, into: $0.baseAddress!) }
        return out
    }

    /// Writes `from` (row-major, `count.product` elements) into the box [start, start+count).
    public func writeHyperslab<T: HDF5Numeric>(start: [Int], count: [Int], from: UnsafePointer<T>) throws {
        try numericCheck(T.self, op: "write")
        try checkSlab(start: start, count: count, op: "write")
        if count.contains(0) { return }
        try HDF5Library.locked {
            let what = "writing \(objectPath) region start \(start) count \(count)"
            let (fileSpace, memSpace) = try selectSpaces(start: start, count: count, what: what)
            defer { H5Sclose(fileSpace); H5Sclose(memSpace) }
            try HDF5Library.check(H5Dwrite(id, T.hdf5MemoryType, memSpace, fileSpace, petgan_h5p_default(), from), file: filePath, what)
        }
    }

    /// Writes an array into the box [start, start+count).
    public func writeHyperslab<T: HDF5Numeric>(start: [Int], count: [Int], _ values: [T]) throws {
        guard values.count == count.reduce(1, *) else {
            throw HDF5Error.invalidArgument(file: filePath, object: objectPath, reason: "write: \(values.count) values for region count \(count)")
        }
        if values.isEmpty { return }
        try values.withUnsafeBufferPointer { try writeHyperslab(start: start, count: count, from: $0.baseAddress!) }
    }

    private func selectSpaces(start: [Int], count: [Int], what: String) throws -> (hid_t, hid_t) {
        if shape.isEmpty {
            let fs = try HDF5Library.checkID(H5Dget_space(id), file: filePath, what)
            let ms = try HDF5Library.checkID(H5Screate(H5S_SCALAR), file: filePath, what)
            return (fs, ms)
        }
        let fs = try HDF5Library.checkID(H5Dget_space(id), file: filePath, what)
        var st = start.map { hsize_t($0) }, ct = count.map { hsize_t($0) }
        if H5Sselect_hyperslab(fs, H5S_SELECT_SET, &st, nil, &ct, nil) < 0 {
            H5Sclose(fs)
            throw HDF5Error.library(file: filePath, operation: what, reason: HDF5Library.errorStackText())
        }
        let ms = H5Screate_simple(Int32(ct.count), &ct, nil)
        if ms < 0 { H5Sclose(fs); throw HDF5Error.library(file: filePath, operation: what, reason: HDF5Library.errorStackText()) }
        return (fs, ms)
    }

    /// Reads a 1-D string dataset (variable- or fixed-length).
    public func readStrings() throws -> [String] {
        guard kind == .string else {
            throw HDF5Error.mismatch(file: filePath, object: objectPath, reason: "read as strings: the dataset holds \(kind.rawValue)")
        }
        return try HDF5Library.locked {
            let what = "reading \(objectPath)"
            let ftype = try HDF5Library.checkID(H5Dget_type(id), file: filePath, what)
            defer { H5Tclose(ftype) }
            return try readHDF5Strings(count: count, fileType: ftype, file: filePath, what: what) { memType, buf in
                H5Dread(id, memType, petgan_h5s_all(), petgan_h5s_all(), petgan_h5p_default(), buf)
            }
        }
    }
}

// MARK: helpers (call with the lock held)

func elementKind(_ type: hid_t) -> HDF5ElementKind {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT: return size == 4 ? .float32 : size == 8 ? .float64 : .other
    case H5T_INTEGER:
        let signed = H5Tget_sign(type) != H5T_SGN_NONE
        switch size {
        case 1: return signed ? .int8 : .uint8
        case 2: return signed ? .int16 : .uint16
        case 4: return signed ? .int32 : .uint32
        case 8: return signed ? .int64 : .uint64
        default: return .other
        }
    case H5T_STRING: return .string
    default: return .other
    }
}

func makeVariableStringType(file: String) throws -> hid_t {
    let t = try HDF5Library.checkID(H5Tcopy(petgan_h5t_c_s1()), file: file, "making a string type")
    H5Tset_size(t, petgan_h5t_variable())
    H5Tset_cset(t, H5T_CSET_UTF8)
    return t
}

/// Calls body with a C array of NUL-terminated UTF-8 strings (valid only during the call).
func withCStringArray<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) throws -> R) rethrows -> R {
    let owned = strings.map { strdup($0) }
    defer { owned.forEach { free($0) } }
    var ptrs: [UnsafePointer<CChar>?] = owned.map { UnsafePointer($0) }
    if ptrs.isEmpty { ptrs.append(nil) }
    return try ptrs.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}

/// Reads `count` strings stored with `fileType` (variable or fixed length) through `read`.
func readHDF5Strings(count: Int, fileType: hid_t, file: String, what: String, _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
    if count == 0 { return [] }
    if H5Tis_variable_str(fileType) > 0 {
        let mem = try makeVariableStringType(file: file)
        defer { H5Tclose(mem) }
        var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try ptrs.withUnsafeMutableBufferPointer { buf in
            try HDF5Library.check(read(mem, UnsafeMutableRawPointer(buf.baseAddress!)), file: file, what)
        }
        let out = ptrs.map { $0.map { String(cString: $0) } ?? "" }
        // Free the library-allocated strings.
        var dims = [hsize_t(count)]
        let space = H5Screate_simple(1, &dims, nil)
        ptrs.withUnsafeMutableBufferPointer { buf in _ = H5Dvlen_reclaim(mem, space, petgan_h5p_default(), buf.baseAddress) }
        H5Sclose(space)
        return out
    } else {
        let size = H5Tget_size(fileType)
        guard size > 0, size <= 1 << 20, (size + 1).multipliedReportingOverflow(by: count).partialValue <= 1 << 28,
              !(size + 1).multipliedReportingOverflow(by: count).overflow else {
            throw HDF5Error.mismatch(file: file, object: what, reason: "\(count) fixed-length strings of \(size) bytes are not readable (corrupt file?)")
        }
        let mem = try HDF5Library.checkID(H5Tcopy(petgan_h5t_c_s1()), file: file, what)
        defer { H5Tclose(mem) }
        H5Tset_size(mem, size + 1)   // room for a terminator
        H5Tset_strpad(mem, H5T_STR_NULLTERM)
        var buf = [CChar](repeating: 0, count: (size + 1) * count)
        try buf.withUnsafeMutableBytes { raw in
            try HDF5Library.check(read(mem, raw.baseAddress!), file: file, what)
        }
        return (0..<count).map { i in
            let slice = Array(buf[(i * (size + 1))..<((i + 1) * (size + 1))])
            return String(cString: slice)
        }
    }
}
