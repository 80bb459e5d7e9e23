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
}
