// trainer.json, the trainer's record in a checkpoint, read and checked without torch (the fuzz
// target fuzz/fuzz_trainer_json.cpp feeds it any bytes).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "attnd/train/eval_sums.h"

namespace attnd {

struct TrainerState {
  int64_t step = 0;              // steps done
  int64_t optimizer_params = -1;  // parameters with optimizer state; -1: not recorded
  int64_t best_step = -1;         // the step of best/; -1: none yet
  Metrics best_metrics;           // its validation metrics
};

// InputError "<file>: key <k>: expected ..., got ..." for a missing, negative or fractional step,
// an optimizer_params or best_step that is not an integer in range (best_step <= step), and a
// best_step without best_metrics or best_metrics that is not an object of numbers.
TrainerState trainer_state_from_json(const nlohmann::json& state, const std::string& file);

}  // namespace attnd
