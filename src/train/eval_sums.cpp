#include "attnd/train/eval_sums.h"

namespace attnd {

EvalSums& EvalSums::operator+=(const EvalSums& other) {
  for (const auto& [key, value] : other.values) values[key] += value;
  return *this;
}

double EvalSums::get(const std::string& key) const {
  auto it = values.find(key);
  return it == values.end() ? 0.0 : it->second;
}

}  // namespace attnd
