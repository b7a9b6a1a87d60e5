#include "attnd/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace attnd {

double WarmupCosine::operator()(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps)
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double t = std::clamp(static_cast<double>(step - warmup_steps) / decay_steps, 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * t));
  return peak * (min_ratio + (1.0 - min_ratio) * cosine);
}

}  // namespace attnd
