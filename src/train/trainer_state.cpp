#include "attnd/train/trainer_state.h"

#include <limits>

#include "attnd/core/error.h"

namespace attnd {

namespace {

// state[key] as an integer in [min, max]; nlohmann would wrap an unsigned value above INT64_MAX.
int64_t integer_key(const nlohmann::json& state, const char* key, int64_t min, int64_t max,
                    const std::string& file, const char* expected) {
  const auto it = state.find(key);
  const bool ok = it != state.end() && it->is_number_integer() &&
                  !(it->is_number_unsigned() &&
                    it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) &&
                  it->get<int64_t>() >= min && it->get<int64_t>() <= max;
  ATTND_CHECK_INPUT(ok, file, ": key ", key, ": expected ", expected, ", got ",
                    it == state.end() ? std::string("nothing") : it->dump());
  return it->get<int64_t>();
}

}  // namespace

TrainerState trainer_state_from_json(const nlohmann::json& state, const std::string& file) {
  ATTND_CHECK_INPUT(state.is_object(), file, ": expected a JSON object, got ", state.type_name());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  TrainerState out;
  out.step = integer_key(state, "step", 0, kMax, file, "a non-negative integer");
  if (state.contains("optimizer_params"))
    out.optimizer_params =
        integer_key(state, "optimizer_params", 0, kMax, file, "a non-negative integer");
  if (state.contains("best_step")) {
    out.best_step = integer_key(state, "best_step", 0, out.step, file,
                                "an integer in [0, step] (the step of best/)");
    const auto metrics = state.find("best_metrics");
    ATTND_CHECK_INPUT(metrics != state.end() && metrics->is_object(), file,
                      ": key best_metrics: expected an object of numbers (best_step is set), got ",
                      metrics == state.end() ? std::string("nothing") : metrics->type_name());
    for (auto m = metrics->begin(); m != metrics->end(); ++m) {
      ATTND_CHECK_INPUT(m->is_number(), file, ": key best_metrics.", m.key(),
                        ": expected a number, got ", m->dump());
      out.best_metrics[m.key()] = m->get<double>();
    }
  }
  return out;
}

}  // namespace attnd
