// Mixers built on feature maps: linear attention (Hedgehog and the baselines) and LoLCATs' hybrid
// of sliding-window softmax and linear attention. Each owns a query map and a key map, registered
// as children "q_map" and "k_map", so that their parameters are "<attention>.mixer.q_map.*".
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "attnd/nn/feature_map.h"
#include "attnd/nn/linear_attention.h"
#include "attnd/nn/mixer.h"

namespace attnd {

struct LinearMixerOptions {
  FeatureMapOptions feature_map;
  int64_t chunk = kLinearAttentionChunk;
  double eps = kLinearAttentionEps;
};

// Non-causal: the O(N) form; causal: the chunked O(N) form; when the tap wants probabilities
// (distillation): the quadratic form, recording â as probs (there are no logits to record).
class LinearMixerImpl : public MixerImpl {
 public:
  explicit LinearMixerImpl(const LinearMixerOptions& options);
  std::string kind() const override { return "linear"; }
  nlohmann::json spec() const override;
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, const MixerTap& tap) override;
  // φ(q), φ(k) as forward uses them (positions for cosformer: queries end where the keys end).
  std::pair<torch::Tensor, torch::Tensor> features(const torch::Tensor& q, const torch::Tensor& k,
                                                   const AttentionMask& mask);
  const LinearMixerOptions& options() const { return options_; }
  // Decoding keeps a LinearDecodeState (S, z): constant memory and time per token. Refused
  // (InputError) for maps that read positions (cosformer), see check_decodable.
  std::unique_ptr<MixerDecodeState> start_decode() override;
  torch::Tensor decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            MixerDecodeState& state) override;
  torch::Tensor decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, MixerDecodeState& state) override;

  FeatureMap q_map, k_map;

 private:
  LinearMixerOptions options_;
};

struct HybridMixerOptions {
  FeatureMapOptions feature_map;
  int64_t window = 64;       // W: softmax over the keys at distance < W
  double gamma_init = 0.1;   // γ at initialisation
  double eps = kLinearAttentionEps;
};

// LoLCATs' hybrid (linear_window_attention_sw.py), computed quadratically. For query n, with
// window keys Wn (causal: n−W < i ≤ n; otherwise |n−i| < W) and the other allowed keys Ln:
//   a_i = exp(s_i − max_{j∈Wn} s_j) for i ∈ Wn,  a_i = γ_h φ(q_n)ᵀφ(k_i) for i ∈ Ln,
//   â_i = a_i / (Σ_j a_j + eps),  y_n = Σ_i â_i v_i,   s = q·kᵀ/√d,  γ_h = sigmoid(gamma_logit[h]).
// As in LoLCATs the window max is not a no-op here: it sets the scale of the softmax part against
// the linear part, and γ learns the balance. (LoLCATs puts its factor on the window part with 1 on
// the linear part; that is the same family, γ = 1/factor.)
class HybridMixerImpl : public MixerImpl {
 public:
  explicit HybridMixerImpl(const HybridMixerOptions& options);
  std::string kind() const override { return "hybrid"; }
  nlohmann::json spec() const override;
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, const MixerTap& tap) override;
  // â [B, H, Nq, Nk]; rows sum to 1 within eps over the allowed keys.
  torch::Tensor weights(const torch::Tensor& q, const torch::Tensor& k, const AttentionMask& mask);
  torch::Tensor gamma() const { return torch::sigmoid(gamma_logit); }  // [H]
  const HybridMixerOptions& options() const { return options_; }
  // Decoding keeps a WindowDecodeState: the last W keys/values for the softmax part (its max is
  // taken over exactly the window keys, as above) and S, z of the keys that left the window, fed
  // one by one as they leave. The same â as weights(), hence exact; constant memory. Refused for
  // maps that read positions (cosformer).
  std::unique_ptr<MixerDecodeState> start_decode() override;
  torch::Tensor decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            MixerDecodeState& state) override;
  torch::Tensor decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, MixerDecodeState& state) override;

  FeatureMap q_map, k_map;
  torch::Tensor gamma_logit;  // [H]

 private:
  HybridMixerOptions options_;
};

// InputError unless `map` can be decoded with a fixed-size state. cosformer cannot: forward()
// gives it the length M of the whole sequence, and its weights cos(π(i−j)/2M) change for every
// earlier pair when M grows by one token, so the logits of a prefix depend on the final length
// and no running sum reproduces them (bounding M by n_positions would decode a different model
// than forward() computes). `mixer` names the mixer kind for the message.
void check_decodable(const FeatureMapImpl& map, const std::string& mixer);

// Options from a mixer spec (the keys spec() writes); InputError for unknown keys or bad values.
LinearMixerOptions linear_mixer_options(const nlohmann::json& spec);
HybridMixerOptions hybrid_mixer_options(const nlohmann::json& spec);

}  // namespace attnd
