// Peak RSS as benchmarks report it: /proc/self/status fields, parsed whatever their width.
import XCTest
@testable import PETTensor

final class ResidentMemoryTests: XCTestCase {
    func testStatusFieldsParseAtEveryWidth() {
        // The kernel writes "VmHWM:\t%8lu kB": below 10 GB the value is space-padded after the tab,
        // from 10 GB on the tab alone separates it (the 1 mm WGAN-GP step's 15 GB read as 0 MB).
        let status = "Name:\tpetgan\nVmPeak:\t16777216 kB\nVmHWM:\t15728808 kB\nVmRSS:\t  353304 kB\nVmSwap:\t       0 kB\n"
        XCTAssertEqual(statusKilobytes(status, field: "VmHWM"), 15_728_808)
        XCTAssertEqual(statusKilobytes(status, field: "VmRSS"), 353_304)
        XCTAssertEqual(statusKilobytes(status, field: "VmSwap"), 0)
        XCTAssertNil(statusKilobytes(status, field: "VmData"))
        XCTAssertNil(statusKilobytes("VmHWM:\tlots kB\n", field: "VmHWM"))
        // This process: a live reading, at least what a touched 64 MB buffer holds.
        let n = 16 << 20
        let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { p.deallocate() }
        p.initialize(repeating: 1, count: n)
        XCTAssertGreaterThanOrEqual(peakResidentBytes(), n * 4)
        XCTAssertGreaterThanOrEqual(currentResidentBytes(), n * 4)
        XCTAssertEqual(p[n - 1], 1)
    }

    /// glibc accepts the fixed mmap threshold `petgan` sets at start-up, and a buffer above it is then
    /// mapped on its own. (Whether a buffer is mapped also depends on the free space the heap already
    /// has, which in a test process is whatever earlier tests left, so the effect across training
    /// steps is measured in a fresh process by `bench hierarchical`'s peak RSS, docs/training.md.
    /// Checked in a fresh C process: without the call a 4 MB buffer allocated after a 4 MB free came
    /// from the heap, with it from its own mapping.)
    func testTheFixedMmapThresholdIsAccepted() throws {
        XCTAssertTrue(ResidentMemory.useFixedMmapThreshold())
        let before = ResidentMemory.mappedBufferCount
        // Larger than glibc's largest dynamic threshold (32 MB) and than any free heap chunk here is
        // likely to be: mapped whatever the history.
        let n = (256 << 20) / 4
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n)
        XCTAssertEqual(ResidentMemory.mappedBufferCount, before + 1)
        a.deallocate()
        XCTAssertEqual(ResidentMemory.mappedBufferCount, before)
    }
}
