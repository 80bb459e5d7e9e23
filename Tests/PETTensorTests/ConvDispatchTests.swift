import XCTest
@testable import PETTensor

/// The automatic choice depends on the machine: the implicit-GEMM tile in use (PETGAN_CONV_ISA sets
/// Conv3dImplicitGEMM.isa), OpenBLAS's core (the im2col GEMM rate) and the threads. The dispatch
/// cache is keyed by all three, so a choice made for one is never reused for another.
final class ConvDispatchTests: XCTestCase {
    let d4 = try! ConvGeometry.conv(x: [4, 256, 8, 8, 8], w: [512, 256, 4, 4, 4], params: ConvParams(k: 4, s: 2, p: 1), op: "t")

    func testCacheKeyFollowsISAAndBLASCoreAndThreads() {
        let base = ConvMachine(isa: .avx512, blasCore: "Cooperlake", threads: 2)
        var isa = base; isa.isa = .avx2
        var core = base; core.blasCore = "Haswell"
        var threads = base; threads.threads = 1
        let k = ConvDispatch.cacheKey(d4, role: .correlate, machine: base)
        XCTAssertNotEqual(k, ConvDispatch.cacheKey(d4, role: .correlate, machine: isa), "ISA")
        XCTAssertNotEqual(k, ConvDispatch.cacheKey(d4, role: .correlate, machine: core), "BLAS core")
        XCTAssertNotEqual(k, ConvDispatch.cacheKey(d4, role: .correlate, machine: threads), "threads")
        XCTAssertEqual(k, ConvDispatch.cacheKey(d4, role: .correlate, machine: base))
        XCTAssertTrue(base.blasHasAVX512)
        XCTAssertFalse(core.blasHasAVX512)
        XCTAssertGreaterThan(base.im2colGEMMRate, core.im2colGEMMRate)
    }

    func testCurrentMachineFollowsTheISAOverride() throws {
        // What PETGAN_CONV_ISA sets at start-up (Conv3dImplicitGEMM.environmentISA → isa).
        let saved = Conv3dImplicitGEMM.isa
        defer { Conv3dImplicitGEMM.isa = saved }
        Conv3dImplicitGEMM.isa = .scalar
        XCTAssertEqual(ConvMachine.current.isa, .scalar)
        let scalarKey = ConvDispatch.cacheKey(d4, role: .correlate)
        Conv3dImplicitGEMM.isa = .avx2
        XCTAssertEqual(ConvMachine.current.isa, .avx2)
        XCTAssertNotEqual(ConvDispatch.cacheKey(d4, role: .correlate), scalarKey)
        XCTAssertEqual(ConvMachine.current.blasCore, BLAS.coreName)
    }

    func testChoiceFollowsTheMachineAndIsNotMixedInTheCache() {
        // D4's weight gradient: with the AVX-512 tile, implicit GEMM beats im2col on OpenBLAS's Haswell
        // kernels and loses to its AVX-512 ones (the model's figures; asked in both orders, so a
        // cache keyed by geometry alone would answer the second question with the first's path).
        let haswell = ConvMachine(isa: .avx512, blasCore: "Haswell", threads: 2)
        let cooperlake = ConvMachine(isa: .avx512, blasCore: "Cooperlake", threads: 2)
        for order in [[haswell, cooperlake], [cooperlake, haswell]] {
            for m in order {
                XCTAssertEqual(ConvDispatch.choose(d4, role: .weight, options: .automatic, machine: m),
                               m.blasHasAVX512 ? .im2col : .implicitGEMM, "\(m)")
            }
        }
        // And by ISA on one core: the forward takes the AVX-512 tile, not the AVX2 one.
        XCTAssertEqual(ConvDispatch.choose(d4, role: .correlate, options: .automatic, machine: cooperlake), .implicitGEMM)
        var avx2 = cooperlake; avx2.isa = .avx2
        XCTAssertEqual(ConvDispatch.choose(d4, role: .correlate, options: .automatic, machine: avx2), .im2col)
    }
}
