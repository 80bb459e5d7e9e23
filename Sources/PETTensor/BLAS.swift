import COpenBLAS
import Foundation

/// The only place that calls OpenBLAS. Row-major single-precision GEMM: C = α·op(A)·op(B) + β·C.
public enum BLAS {
    /// How a GEMM uses the cores. `ownThreads` (default): OpenBLAS runs single-threaded and large GEMMs
    /// are cut into column (or row) blocks run by our `Parallel` workers. OpenBLAS's own threads
    /// busy-wait (sched_yield) for ~0.1 s after every call; they steal a core from our vol2col,
    /// col2vol and elementwise loops between GEMMs, and when the machine is shared a descheduled BLAS
    /// thread stalls every call (a 64³ DCGAN step went from 3.9 s to 70 s with two builds running).
    /// `openblas`: OpenBLAS's own threading (PETGAN_GEMM=openblas).
    public enum Threading: String, Sendable { case ownThreads, openblas }
    nonisolated(unsafe) public private(set) static var threading: Threading =
        ProcessInfo.processInfo.environment["PETGAN_GEMM"] == "openblas" ? .openblas : .ownThreads

    private static let configured: Void = {
        openblas_set_num_threads(Int32(threading == .openblas ? Parallel.threads : 1))
    }()

    /// OpenBLAS's own thread count (1 unless the threading mode is `openblas`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(threading == .openblas ? n : 1)) }

    public static func setThreading(_ t: Threading) {
        threading = t
        openblas_set_num_threads(Int32(t == .openblas ? Parallel.threads : 1))
    }

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
            let workers = threading == .ownThreads ? Parallel.threads : 1
            // Blocks of C: columns when C is wide enough, else rows; small products run in one call.
            let flops = 2.0 * Double(m) * Double(n) * Double(k)
            let byColumns = n >= 128 * workers, byRows = !byColumns && m >= 64 * workers
            if workers <= 1 || flops < 4e6 || !(byColumns || byRows) {
                cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
                return
            }
            let total = byColumns ? n : m, align = byColumns ? 16 : 8
            Parallel.forEach(workers) { w in
                // Block edges on multiples of the kernel's register tile.
                let lo = min(total, (total * w / workers + align - 1) / align * align)
                let hi = w == workers - 1 ? total : min(total, (total * (w + 1) / workers + align - 1) / align * align)
                if lo >= hi { return }
                if byColumns {
                    let bb = transB ? b + lo * ldb : b + lo
                    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                                Int32(m), Int32(hi - lo), Int32(k), alpha, a, Int32(lda), bb, Int32(ldb), beta, c + lo, Int32(ldc))
                } else {
                    let aa = transA ? a + lo : a + lo * lda
                    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                                Int32(hi - lo), Int32(n), Int32(k), alpha, aa, Int32(lda), b, Int32(ldb), beta, c + lo * ldc, Int32(ldc))
                }
            }
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
        if threading == .ownThreads { return try body() }   // OpenBLAS is single-threaded already
        let t = threads
        setThreads(1)
        defer { setThreads(t) }
        return try body()
    }
}

extension BLAS {
    /// One sgemm on the calling thread, never cut into blocks for the `Parallel` workers: for
    /// products issued from inside a worker (the Winograd path's 64 per-task GEMMs), where blocking
    /// would nest parallel loops.
    public static func sgemmOnCallingThread(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        if m == 0 || n == 0 || k == 0 { return sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) }
        KernelProfile.measure("sgemm") {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
