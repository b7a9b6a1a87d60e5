// Fuzz target: IDX files (Fashion-MNIST), gzip or plain.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("idx")
