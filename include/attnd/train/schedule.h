#pragma once

#include <cstdint>

namespace attnd {

// Linear warmup from 0 to peak over `warmup_steps`, then cosine decay to peak·min_ratio at
// `total_steps`. step counts from 0; the value is the learning rate used for that step.
struct WarmupCosine {
  double peak = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_ratio = 0.0;

  double operator()(int64_t step) const;
};

}  // namespace attnd
