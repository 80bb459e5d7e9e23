import Foundation

/// A dense, contiguous Float32 tensor. Convolution tensors use the layout N×C×D×H×W (a 2D image is
/// D = 1); other ops accept any rank. Storage is 64-byte aligned (AVX-512 lines) and counted by the
/// `MemoryAccountant`. A tensor is a reference type: ops return new tensors and never alias inputs,
/// except the explicit in-place helpers (`addInPlace`, optimizer steps) that say so in their name, and
/// `viewing(as:)`, which shares storage (the autograd reshape uses it: a 2D convolution viewed as 3D
/// must not copy its activations).
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    private let accountant: MemoryAccountant
    /// Capacity (floats) of a buffer taken from `ScratchPool`; 0 when allocated directly.
    private let pooledCapacity: Int
    /// The tensor whose storage a view shares (kept alive by the view); nil for an owning tensor.
    private let storageOwner: Tensor?

    /// Tensors from this size up reuse freed buffers (`ScratchPool`): a fresh 32 MB buffer costs
    /// thousands of page faults and a kernel zero-fill, more than most elementwise ops on it.
    static let poolThresholdFloats = 256 * 1024

    /// Allocates a tensor, zero-filled unless `zeroed` is false (then the contents are undefined and
    /// the caller must write every element).
    public init(shape: [Int], zeroed: Bool = true, accountant: MemoryAccountant = .shared) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative size in shape \(shapeString(shape))")
        self.shape = shape
        let n = shape.reduce(1, *)
        self.count = n
        self.accountant = accountant
        self.storageOwner = nil
        let bytes = max(n, 1) * MemoryLayout<Float>.stride
        if n >= Tensor.poolThresholdFloats && accountant === MemoryAccountant.shared {
            let (p, cap) = ScratchPool.shared.take(n)   // counted by the pool
            data = p
            pooledCapacity = cap
        } else {
            var raw: UnsafeMutableRawPointer?
            let rc = posix_memalign(&raw, 64, bytes)
            precondition(rc == 0 && raw != nil, "Tensor: out of memory allocating \(formatBytes(bytes))")
            data = raw!.bindMemory(to: Float.self, capacity: max(n, 1))
            pooledCapacity = 0
            accountant.reserveUnchecked(bytes)
        }
        if zeroed { memset(data, 0, bytes) }
    }

    /// Validating initializer: throws on negative sizes or when the allocation passes the budget.
    public static func checked(shape: [Int], op: String, accountant: MemoryAccountant = .shared) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: op, detail: "negative size in shape \(shapeString(shape))")
        }
        var n = 1
        for s in shape {
            let (m, o) = n.multipliedReportingOverflow(by: s)
            guard !o, m <= Int.max / 8 else {
                throw TensorError.invalidArgument(op: op, detail: "shape \(shapeString(shape)) is too large")
            }
            n = m
        }
        if let budget = accountant.budgetBytes, accountant.bytesInUse + n * 4 > budget {
            // Idle pooled buffers count as resident; give them back before refusing.
            ScratchPool.shared.trim()
        }
        if let budget = accountant.budgetBytes, accountant.bytesInUse + n * 4 > budget {
            throw TensorError.overBudget(what: "\(op) tensor \(shapeString(shape))", requestedBytes: n * 4,
                                         inUseBytes: accountant.bytesInUse, budgetBytes: budget)
        }
        return Tensor(shape: shape, accountant: accountant)
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor: \(values.count) values for shape \(shapeString(shape))")
        self.init(shape: shape, zeroed: false)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    public convenience init(shape: [Int], repeating v: Float) {
        self.init(shape: shape, zeroed: false)
        data.update(repeating: v, count: count)
    }

    public static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], values: [v]) }

    /// A view: same storage as `base`, another shape of the same element count.
    private init(view base: Tensor, shape: [Int]) {
        self.shape = shape
        self.count = base.count
        self.data = base.data
        self.accountant = base.accountant
        self.pooledCapacity = 0
        self.storageOwner = base.storageOwner ?? base
    }

    /// The same storage with another shape of equal element count (`-1` infers one axis). Writes through
    /// either tensor are seen by both; use `reshaped` for an independent copy.
    public func viewing(as newShape: [Int]) throws -> Tensor {
        let s = try resolvedShape(newShape)
        if s == shape { return self }
        return Tensor(view: self, shape: s)
    }

    /// Whether two tensors share storage (a view and its base, or two views of one tensor).
    public func sharesStorage(with other: Tensor) -> Bool { data == other.data }

    deinit {
        if storageOwner != nil { return }   // the owner frees the storage
        if pooledCapacity > 0 {
            ScratchPool.shared.give(data, capacity: pooledCapacity)
        } else {
            free(data)
            accountant.release(max(count, 1) * MemoryLayout<Float>.stride)
        }
    }

    public var rank: Int { shape.count }
    public var byteCount: Int { count * MemoryLayout<Float>.stride }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// A new tensor with the same values.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape, zeroed: false)
        t.data.update(from: data, count: count)
        return t
    }

    /// The same values with another shape of equal element count (a copy: tensors never alias).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let t = Tensor(shape: try resolvedShape(newShape), zeroed: false)
        t.data.update(from: data, count: count)
        return t
    }

    /// `newShape` with a `-1` axis inferred, checked against the element count.
    func resolvedShape(_ newShape: [Int]) throws -> [Int] {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", detail: "cannot reshape \(shapeString(shape)) to \(shapeString(newShape))")
            }
            s[i] = count / known
        }
        guard s.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(op: "reshape", detail: "cannot reshape \(shapeString(shape)) (\(count) elements) to \(shapeString(newShape))")
        }
        return s
    }

    public var description: String {
        let preview = (0..<min(count, 6)).map { String(format: "%.4g", data[$0]) }.joined(separator: ", ")
        return "Tensor\(shapeString(shape))[\(preview)\(count > 6 ? ", …" : "")]"
    }

    // MARK: random initialisation

    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout PETRandom) -> Tensor {
        let t = Tensor(shape: shape, zeroed: false)
        for i in 0..<t.count { t.data[i] = rng.uniform(low, high) }
        return t
    }

    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout PETRandom) -> Tensor {
        let t = Tensor(shape: shape, zeroed: false)
        for i in 0..<t.count { t.data[i] = rng.normal(mean: mean, std: std) }
        return t
    }

    // MARK: comparisons used by tests and benchmarks

    /// max |a − b| / max(max |b|, tiny): the relative error used to compare kernels with the
    /// reference; +inf when either tensor holds a non-finite value (Comparison.swift says why).
    public func relativeError(to other: Tensor) -> Float {
        precondition(shape == other.shape, "relativeError: \(shapeString(shape)) vs \(shapeString(other.shape))")
        return PETTensor.relativeError(UnsafeBufferPointer(start: data, count: count),
                                       UnsafeBufferPointer(start: other.data, count: other.count))
    }

    /// max |a − b|; +inf when either tensor holds a non-finite value.
    public func maxAbsDifference(to other: Tensor) -> Float {
        precondition(shape == other.shape, "maxAbsDifference: \(shapeString(shape)) vs \(shapeString(other.shape))")
        return PETTensor.maxAbsDifference(UnsafeBufferPointer(start: data, count: count),
                                          UnsafeBufferPointer(start: other.data, count: other.count))
    }

    public func bitwiseEqual(_ other: Tensor) -> Bool {
        shape == other.shape && memcmp(data, other.data, count * 4) == 0
    }
}

/// Shape of a 5-D convolution tensor, named.
public struct Shape5: Equatable, CustomStringConvertible, Sendable {
    public var n, c, d, h, w: Int
    public init(_ n: Int, _ c: Int, _ d: Int, _ h: Int, _ w: Int) { self.n = n; self.c = c; self.d = d; self.h = h; self.w = w }
    public init(_ s: [Int]) { self.init(s[0], s[1], s[2], s[3], s[4]) }
    public var array: [Int] { [n, c, d, h, w] }
    public var spatial: Int { d * h * w }
    public var description: String { shapeString(array) }
}
