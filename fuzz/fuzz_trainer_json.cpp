// Fuzz target: a checkpoint's trainer.json, as a resume reads it.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("trainer_json")
