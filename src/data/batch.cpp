#include "attnd/data/batch.h"

namespace attnd {

Batch Batch::to(const torch::Device& device) const {
  Batch out;
  out.input = input.to(device);
  if (labels.defined()) out.labels = labels.to(device);
  out.targets.reserve(targets.size());
  for (const auto& example : targets) {
    TensorMap moved;
    for (const auto& [name, t] : example) moved[name] = t.to(device);
    out.targets.push_back(std::move(moved));
  }
  return out;
}

int64_t Batch::size() const {
  const int64_t n = input.batch_size();
  if (n > 0) return n;
  if (labels.defined()) return labels.size(0);
  return static_cast<int64_t>(targets.size());
}

}  // namespace attnd
