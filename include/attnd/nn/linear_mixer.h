// Mixers built on feature maps: linear attention (Hedgehog and the baselines) and LoLCATs' hybrid
// of sliding-window softmax and linear attention. Each owns a query map and a key map, registered
// as children "q_map" and "k_map", so that their parameters are "<attention>.mixer.q_map.*".
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "attnd/core/tensor_map.h"
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
  void decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                     MixerDecodeState& state) override;

  FeatureMap q_map, k_map;

 private:
  LinearMixerOptions options_;
};

struct HybridMixerOptions {
  FeatureMapOptions feature_map;
  int64_t window = 64;  // W: softmax over the keys at distance < W
  // LoLCATs' names and defaults (init_window_factor as in its *_w01 configs: σ = 0.1 on the window).
  double init_window_factor = -2.1972245773362196;  // θ at initialisation, logit(0.1)
  bool affine_attention_factors = false;            // linear part weighted 1 − σ(θ), not 1
  double eps = kLinearAttentionEps;
};

// LoLCATs' hybrid (linear_window_attention_sw.py, hybrid_attention_quadratic) in its own
// parameterisation, so its weights import as they are. For query n, with window keys Wn (causal:
// n−W < i ≤ n; otherwise |n−i| < W) and the other allowed keys Ln:
//   a_i = σ(θ_h) exp(s_i − max_{j∈Wn} s_j) for i ∈ Wn,   a_i = λ_h φ(q_n)ᵀφ(k_i) for i ∈ Ln,
//   λ_h = 1 − σ(θ_h) if affine_attention_factors else 1,
//   â_i = a_i / (Σ_j a_j + eps),  y_n = Σ_i â_i v_i,  s = q·kᵀ/√d,  θ = window_factors [H].
// LoLCATs stores θ as `window_factors` [1, H, 1, 1] (reshape to [H]) and has no eps (eps = 0 is
// exact). The window max is not a no-op: it sets the scale of the softmax part against the linear
// part, and θ learns the balance: the linear part weighs λ/σ(θ) ∈ (1, ∞) against the window (LoLCATs'
// default) or e^{−θ} ∈ (0, ∞) (affine).
// Checkpoints written before attnd took this form (spec key gamma_init, parameter gamma_logit g:
// a_i = γ φᵀφ with γ = σ(g) and 1 on the window) load as the affine form with θ = −log σ(g), the
// same weights (â up to eps·(1/σ(θ) − 1)): hybrid_mixer_options and upgrade_hybrid_tensors.
class HybridMixerImpl : public MixerImpl {
 public:
  explicit HybridMixerImpl(const HybridMixerOptions& options);
  std::string kind() const override { return "hybrid"; }
  nlohmann::json spec() const override;
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const AttentionMask& mask, const MixerTap& tap) override;
  // â [B, H, Nq, Nk]; rows sum to 1 within eps over the allowed keys.
  torch::Tensor weights(const torch::Tensor& q, const torch::Tensor& k, const AttentionMask& mask);
  // The factors on the two parts, [H] each: σ(θ) on the window, λ on the linear part.
  torch::Tensor window_factor() const { return torch::sigmoid(window_factors); }
  torch::Tensor linear_factor() const;
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
  void decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                     MixerDecodeState& state) override;

  FeatureMap q_map, k_map;
  torch::Tensor window_factors;  // θ [H], LoLCATs' name

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

// A model's tensors with every pre-LoLCATs-form `<prefix>mixer.gamma_logit` g replaced by
// `<prefix>mixer.window_factors` θ = −log σ(g) (see HybridMixerImpl); other tensors unchanged.
TensorMap upgrade_hybrid_tensors(TensorMap tensors);

}  // namespace attnd
