#include "attnd/nn/sampling.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attnd/core/error.h"

namespace attnd {

namespace {

bool is_greedy(const SamplingOptions& o) { return o.greedy || o.temperature == 0.0; }

// First index of the largest value; NaN or no finite-or-−inf maximum is a failure of the model.
int64_t argmax(const std::vector<double>& x) {
  int64_t best = 0;
  for (size_t i = 1; i < x.size(); ++i)
    if (x[i] > x[best]) best = static_cast<int64_t>(i);
  return best;
}

void check_logits(const std::vector<double>& logits) {
  ATTND_CHECK_INPUT(!logits.empty(), "sampling: no logits");
  bool any_finite = false;
  for (double l : logits) {
    if (std::isnan(l) || l == INFINITY) throw_error("sampling: the logits contain NaN or +inf");
    any_finite = any_finite || std::isfinite(l);
  }
  if (!any_finite) throw_error("sampling: every logit is -inf");
}

}  // namespace

void check_sampling_options(const SamplingOptions& o) {
  ATTND_CHECK_INPUT(std::isfinite(o.temperature) && o.temperature >= 0,
                    "temperature must be >= 0 (0 = greedy), got ", o.temperature);
  ATTND_CHECK_INPUT(o.top_k >= 0, "top-k must be >= 0 (0 = off), got ", o.top_k);
  ATTND_CHECK_INPUT(o.top_p > 0 && o.top_p <= 1, "top-p must be in (0, 1] (1 = off), got ",
                    o.top_p);
}

std::vector<double> sampling_distribution(const std::vector<double>& logits,
                                          const SamplingOptions& o) {
  check_sampling_options(o);
  check_logits(logits);
  const int64_t v = static_cast<int64_t>(logits.size());
  std::vector<double> prob(logits.size(), 0.0);
  if (is_greedy(o)) {
    prob[argmax(logits)] = 1.0;
    return prob;
  }
  // Shifted by the max before dividing by T: the largest scaled logit is 0, so a tiny T gives
  // very negative values (exp → 0), never inf/inf.
  const double top = logits[argmax(logits)];
  std::vector<double> scaled(logits.size());
  for (int64_t i = 0; i < v; ++i) scaled[i] = (logits[i] - top) / o.temperature;

  // Candidates, most likely first when a filter needs the order (ties: the lower index).
  std::vector<int64_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto before = [&](int64_t a, int64_t b) {
    return scaled[a] > scaled[b] || (scaled[a] == scaled[b] && a < b);
  };
  if (o.top_k > 0 && o.top_k < v) {
    std::partial_sort(idx.begin(), idx.begin() + o.top_k, idx.end(), before);
    idx.resize(o.top_k);
  } else if (o.top_p < 1) {
    std::sort(idx.begin(), idx.end(), before);
  }
  double total = 0;
  for (int64_t i : idx) total += prob[i] = std::exp(scaled[i]);

  if (o.top_p < 1) {
    // Keep a token while the mass of the more likely ones is still < p: the smallest prefix with
    // mass ≥ p (the token that crosses p is kept).
    double kept = 0;
    size_t n = 0;
    for (; n < idx.size() && kept < o.top_p * total; ++n) kept += prob[idx[n]];
    for (size_t j = n; j < idx.size(); ++j) prob[idx[j]] = 0;
    total = kept;
  }
  for (double& p : prob) p /= total;
  return prob;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  check_sampling_options(options);
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int64_t Sampler::next(const std::vector<double>& logits) {
  if (is_greedy(options_)) {
    check_logits(logits);
    return argmax(logits);
  }
  auto prob = sampling_distribution(logits, options_);
  // Inverse CDF; a zero-probability token can never be picked (the sum does not move past it),
  // and rounding at the top end falls back to the last token with mass.
  const double target = uniform();
  double acc = 0;
  int64_t chosen = -1;
  for (size_t i = 0; i < prob.size(); ++i) {
    if (prob[i] <= 0) continue;
    acc += prob[i];
    chosen = static_cast<int64_t>(i);
    if (acc > target) break;
  }
  ATTND_CHECK(chosen >= 0, "empty sampling distribution");
  return chosen;
}

torch::Tensor Sampler::next(const torch::Tensor& logits) {
  ATTND_CHECK_INPUT(logits.dim() == 2 && logits.size(1) > 0,
                    "Sampler::next takes logits [B, V], got ", logits.sizes());
  auto rows = logits.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t b = rows.size(0), v = rows.size(1);
  auto out = torch::empty({b}, torch::kLong);
  const double* data = rows.data_ptr<double>();
  int64_t* ids = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r)
    ids[r] = next(std::vector<double>(data + r * v, data + (r + 1) * v));
  return out;
}

}  // namespace attnd
