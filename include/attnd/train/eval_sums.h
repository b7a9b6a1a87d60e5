// Evaluation results, and the sums they are derived from.
#pragma once

#include <map>
#include <string>

namespace attnd {

// Evaluation results by name ("accuracy", "loss", ...).
using Metrics = std::map<std::string, double>;

// Sums and counts over evaluated examples ("loss_sum", "correct", "examples", ...). Adding the
// sums of disjoint shards gives the sums of their union — a ratio such as an accuracy or a mean
// loss would not add — so metrics are derived from sums only once the whole set is summed.
struct EvalSums {
  std::map<std::string, double> values;

  EvalSums& operator+=(const EvalSums& other);
  void add(const std::string& key, double value) { values[key] += value; }
  // 0 when the key was never added.
  double get(const std::string& key) const;
};

}  // namespace attnd
