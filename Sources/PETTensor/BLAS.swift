import COpenBLAS
import Foundation

/// The only place that calls OpenBLAS. Row-major single-precision GEMM: C = α·op(A)·op(B) + β·C.
public enum BLAS {
    private static let configured: Void = {
        openblas_set_num_threads(Int32(Parallel.threads))
    }()

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// OpenBLAS's kernel family, e.g. "Cooperlake" or "Zen" (chosen by OPENBLAS_CORETYPE at load time).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C (m×n, leading dimension ldc) = alpha · op(A) (m×k) · op(B) (k×n) + beta · C.
    public static func sgemm(transA: Bool = false, transB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        KernelProfile.measure("sgemm") {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}

extension BLAS {
    /// Complex GEMM on interleaved (re, im) Float pairs, row-major: C = op(A)·op(B) (+ C if accumulate).
    /// `conjTransA`/`conjTransB` apply the conjugate transpose. Dimensions count complex elements.
    public static func cgemm(conjTransA: Bool = false, conjTransB: Bool = false, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             accumulate: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int) {
        var one: (Float, Float) = (1, 0)
        var beta: (Float, Float) = (accumulate ? 1 : 0, 0)
        withUnsafePointer(to: &one) { alphaP in
            withUnsafePointer(to: &beta) { betaP in
                cblas_cgemm(CblasRowMajor, conjTransA ? CblasConjTrans : CblasNoTrans, conjTransB ? CblasConjTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alphaP, a, Int32(lda), b, Int32(ldb), betaP, c, Int32(ldc))
            }
        }
    }

    /// Runs `body` with OpenBLAS limited to one thread, for GEMMs issued from inside our own parallel
    /// workers (never 2 BLAS threads inside 2 workers).
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        let t = threads
        setThreads(1)
        defer { setThreads(t) }
        return try body()
    }
}
