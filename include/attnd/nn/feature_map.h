// Feature maps φ for linear attention: per-head inputs x [B, H, N, Dh] → features [B, H, N, D'].
//
// One registry (make_feature_map) holds every kind; they are different kernels, not rewrites:
//   Hedgehog (learned, per head, identity-initialised W stored as one tensor [H, Dh, Df]):
//     softmax_split  softmax(xW) ⊕ softmax(−xW), each half its own softmax, clamp ≥ 1e-12;
//                    Df = Dh/2 by default, no bias                         (LoLCATs, default)
//     exp            exp(xW+b) ⊕ exp(−xW−b), square W                    (paper listing)
//     softmax_concat softmax([2z, −2z]) as one softmax over 2·Df, z = xW+b, square W   (fla)
//   Baselines:
//     elu 1+ELU(x);  relu relu(x) clamped ≥ 1e-12;  t2r relu(xW+b), learned;
//     performer FAVOR+ positive random features (m = performer_features, fixed seeded Ω);
//     cosformer [relu(x)·sin(πi/2M), relu(x)·cos(πi/2M)] (needs positions i and length M);
//     taylor [1, x/d^¼, vec(xxᵀ)/(√2·√d)] so φ(q)ᵀφ(k) = 1 + qᵀk/√d + (qᵀk)²/2d;
//     exp_t1, exp_t2, exp_t  exp(t·x) with t = 1, 2, options.exp_t (spiky, not monotone).
// A mixer owns two maps (queries and keys): learned maps are per layer, per head, untied.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace attnd {

struct FeatureMapOptions {
  std::string kind = "softmax_split";
  int64_t num_heads = 1;
  int64_t head_dim = 64;
  int64_t feature_dim = 0;  // Df, the width of W; 0 = the kind's default (Dh/2 or Dh)
  int64_t performer_features = 256;  // m
  double exp_t = 1.0;                // t of kind "exp_t"
  uint64_t seed = 0;                 // performer's Ω
};

class FeatureMapImpl : public torch::nn::Module {
 public:
  explicit FeatureMapImpl(FeatureMapOptions options) : options_(std::move(options)) {}

  // x: [B, H, N, Dh] → [B, H, N, output_dim()]. Only cosformer reads positions: token n of x sits
  // at position position_offset + n of a sequence of length sequence_length (0 = offset + N).
  // Queries and keys of one sequence must be given the same length.
  torch::Tensor forward(const torch::Tensor& x, int64_t position_offset = 0,
                        int64_t sequence_length = 0);

  virtual int64_t output_dim() const = 0;
  const std::string& kind() const { return options_.kind; }
  const FeatureMapOptions& options() const { return options_; }
  // Whether every feature is > 0 (clamped or exp-based), or at least ≥ 0: then linear attention
  // weights are ≥ 0. Taylor features can be negative.
  virtual bool positive() const = 0;
  virtual bool nonnegative() const { return positive(); }
  virtual bool uses_positions() const { return false; }

 protected:
  virtual torch::Tensor map(const torch::Tensor& x, int64_t position_offset,
                            int64_t sequence_length) = 0;
  FeatureMapOptions options_;
};
using FeatureMap = std::shared_ptr<FeatureMapImpl>;

// Creates the map options.kind names; throws InputError listing the known names otherwise, or
// when the dimensions do not fit the kind.
FeatureMap make_feature_map(const FeatureMapOptions& options);
std::vector<std::string> feature_map_names();

}  // namespace attnd
