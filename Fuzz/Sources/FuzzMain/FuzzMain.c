// SwiftPM links each executable with `--defsym main=<Target>_main`, so libFuzzer's own
// main() is never used. These entry points start libFuzzer the same way it would,
// through LLVMFuzzerRunDriver, with the target's LLVMFuzzerTestOneInput.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#define FUZZ_MAIN(name) \
    int name##_main(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }

FUZZ_MAIN(EngineFuzz)
FUZZ_MAIN(SocketFuzz)
FUZZ_MAIN(JSONFuzz)
FUZZ_MAIN(FormCookieFuzz)
FUZZ_MAIN(JWTFuzz)
