import XCTest
@testable import PETTensor

/// BLAS.sgemm (blocks of C on our own workers) against a plain triple loop in Double, for every
/// transpose combination, with shapes that take the column split, the row split and the single call,
/// block edges that do not fall on the register tile, padded leading dimensions and β ≠ 0.
final class BLASTests: XCTestCase {
    func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
               b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            out[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * ldc + j]))
        }}
        return out
    }

    func testSplitGEMMEqualsNaive() throws {
        var rng = PETRandom(seed: 5)
        func r(_ n: Int) -> [Float] { (0..<n).map { _ in rng.uniform(-1, 1) } }
        // (m, n, k): column split, row split (n narrow), single call (small), odd sizes everywhere.
        for (m, n, k) in [(37, 1613, 45), (301, 23, 377), (5, 9, 3), (64, 257, 130)] {
            for transA in [false, true] { for transB in [false, true] { for beta: Float in [0, 0.5] {
                let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 5
                let a = r((transA ? k : m) * lda), b = r((transB ? n : k) * ldb), c0 = r(m * ldc)
                let expected = naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: beta, c: c0, ldc: ldc)
                var c = c0
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: pa.baseAddress!, lda: lda,
                               b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
                }}}
                var got: [Float] = [], want: [Float] = []
                for i in 0..<m { for j in 0..<n { got.append(c[i * ldc + j]); want.append(expected[i * ldc + j]) } }
                let worst = maxAbsDifference(got, want)
                XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
                // Padding columns of C are untouched.
                for i in 0..<m { for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j]) } }
            }}}
        }
    }
}
