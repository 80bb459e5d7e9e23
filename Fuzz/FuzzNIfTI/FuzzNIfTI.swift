// libFuzzer target: FuzzTargets.nifti (Fuzz/PETFuzzing). Built only with PETGAN_FUZZ=1 and
// -sanitize=fuzzer,address (make fuzz / make fuzz-smoke); takes libFuzzer's options and corpus folders.
import CLibFuzzer
import Foundation
import PETFuzzing

@main
struct FuzzNIfTI {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            _ = FuzzTargets.nifti(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        exit(status)
    }
}
