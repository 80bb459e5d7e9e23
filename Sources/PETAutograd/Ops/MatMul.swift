import Foundation
import PETTensor

// a: (M, K) or (K, M) if transA   b: (K, N) or (N, K) if transB   →   (M, N)
// One primitive with transpose flags: every gradient of a matmul is again a matmul with flags.

/// op(a) · op(b) with op = transpose when the flag is set (2-D operands).
public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) throws -> Variable {
    guard a.rank == 2, b.rank == 2 else {
        throw TensorError.shapeMismatch(op: "matmul", detail: "operands \(shapeString(a.shape)) and \(shapeString(b.shape)) must be 2-D")
    }
    let m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1]
    let kb = transposeB ? b.shape[1] : b.shape[0], n = transposeB ? b.shape[0] : b.shape[1]
    guard k == kb else {
        throw TensorError.shapeMismatch(op: "matmul", detail: "\(shapeString(a.shape))\(transposeA ? "ᵀ" : "") · \(shapeString(b.shape))\(transposeB ? "ᵀ" : ""): inner sizes \(k) and \(kb) differ")
    }
    let y = Tensor(shape: [m, n])
    BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
               a: a.value.data, lda: a.shape[1], b: b.value.data, ldb: b.shape[1], c: y.data, ldc: n)
    return record(y, op: "matmul", inputs: [a, b]) { _, g, needs in
        // d op(a) = g · op(b)ᵀ,  d op(b) = op(a)ᵀ · g
        let ga: Variable? = !needs[0] ? nil :
            (transposeA ? try matmul(b, g, transposeA: transposeB, transposeB: true)
                        : try matmul(g, b, transposeA: false, transposeB: !transposeB))
        let gb: Variable? = !needs[1] ? nil :
            (transposeB ? try matmul(g, a, transposeA: true, transposeB: transposeA)
                        : try matmul(a, g, transposeA: !transposeA, transposeB: false))
        return [ga, gb]
    }
}

/// x: (N, in)  weight: (out, in)  bias: (out)  →  (N, out), PyTorch's F.linear.
public func linear(_ x: Variable, weight: Variable, bias: Variable? = nil) throws -> Variable {
    guard x.rank == 2, weight.rank == 2, x.shape[1] == weight.shape[1] else {
        throw TensorError.shapeMismatch(op: "linear", detail: "input \(shapeString(x.shape)) does not fit weight \(shapeString(weight.shape)) (out, in)")
    }
    let y = try matmul(x, weight, transposeB: true)
    guard let b = bias else { return y }
    guard b.shape == [weight.shape[0]] else {
        throw TensorError.shapeMismatch(op: "linear", detail: "bias \(shapeString(b.shape)) but weight \(shapeString(weight.shape))")
    }
    return try y + b
}
