// Fuzz target: safetensors files: the header's rules, then every tensor copied out; and the header-only reader.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("safetensors")
