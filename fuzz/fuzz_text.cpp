// Fuzz target: JSONL, TSV and CSV example files (the first byte picks the format and the label names).
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("text")
