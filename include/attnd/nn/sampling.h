// Choosing the next token from LM logits: greedy, or sampling with temperature, top-k and top-p
// (nucleus), in that order (as HF's generate). Runs on the CPU in float64 with its own seeded
// std::mt19937_64, so the tokens depend only on the logits and the seed: not on torch's global RNG,
// the thread count or the device the model ran on.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <random>
#include <vector>

namespace attnd {

struct SamplingOptions {
  bool greedy = false;       // argmax (first index on ties); the other options are ignored
  double temperature = 1.0;  // ≥ 0; 0 means greedy (the limit T → 0 of softmax(l/T))
  int64_t top_k = 0;         // keep the k largest logits (ties: the lower index); 0 = all
  double top_p = 1.0;        // in (0, 1]: keep the smallest prefix (most likely first) whose
                             // mass is ≥ top_p; 1 = all
  uint64_t seed = 0;
};

// InputError for temperature < 0 (or not finite), top_k < 0, top_p outside (0, 1].
void check_sampling_options(const SamplingOptions& options);

// The distribution a sampler draws from for one row of logits: temperature, then top-k, then
// top-p on the renormalised rest; zero outside the kept tokens, sums to 1. Greedy (or temperature
// 0): one-hot at the argmax. -inf logits get probability 0. Exposed for tests.
std::vector<double> sampling_distribution(const std::vector<double>& logits,
                                          const SamplingOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);  // checks the options
  // logits [B, V] (any device, any float dtype) → next token ids [B], int64 on the CPU.
  torch::Tensor next(const torch::Tensor& logits);
  // One row: a draw from sampling_distribution (inverse CDF with one uniform number).
  int64_t next(const std::vector<double>& logits);
  const SamplingOptions& options() const { return options_; }

 private:
  double uniform();  // in [0, 1), 53 random bits
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace attnd
