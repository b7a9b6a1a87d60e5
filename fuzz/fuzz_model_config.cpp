// Fuzz target: a model's config.json, read and checked as load_model reads and checks it.
#include "fuzz_targets.h"

ATTND_FUZZ_TARGET("model_config")
