// Fuzz target: a TOML recipe against the train/distill schema, then its run.* and train.* values.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("recipe_toml")
