// libFuzzer's entry for programs with their own main (LLVM 13+), from compiler-rt's
// FuzzerInterface.h. Only declared: kftray-fuzz calls it only when built with -sanitize=fuzzer,
// which links the runtime that defines it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
