// Fuzz target: a WordPiece tokenizer.json, loaded and used once.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("tokenizer_json")
