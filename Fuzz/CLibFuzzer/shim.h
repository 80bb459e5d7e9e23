// libFuzzer's driver (in the runtime that -sanitize=fuzzer links). The fuzz executables call it from
// their own main: SwiftPM links an executable's entry point as <target>_main, so libFuzzer's main()
// cannot be the program's.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
