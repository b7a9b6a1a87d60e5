// Incremental decoding of the feature-map mixers (linear, hybrid): fixed-size states, exact
// against their forward() (same sums, summed in another order).
#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/nn/decode_state.h"
#include "attnd/nn/linear_mixer.h"

namespace attnd {

void check_decodable(const FeatureMapImpl& map, const std::string& mixer) {
  ATTND_CHECK_INPUT(!map.uses_positions(), "feature map '", map.kind(), "' of the ", mixer,
                    " mixer cannot be decoded incrementally: its weights depend on the length of "
                    "the whole sequence, which grows with every generated token, so no "
                    "fixed-size state reproduces the model's forward (use a map without "
                    "positions, e.g. softmax_split)");
}

// ---- linear -----------------------------------------------------------------------------------

std::unique_ptr<MixerDecodeState> LinearMixerImpl::start_decode() {
  check_decodable(*q_map, kind());
  check_decodable(*k_map, kind());
  return std::make_unique<LinearDecodeState>(options_.eps);
}

torch::Tensor LinearMixerImpl::decode_step(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind());
  auto& st = decode_state_as<LinearDecodeState>(state, "linear");
  return st.step(q_map->forward(q), k_map->forward(k), v);
}

// From an empty state: the chunked causal form (as forward()), then S, z in one matmul. After
// earlier positions: LinearAttentionState's step with n tokens (quadratic in n, exact).
torch::Tensor LinearMixerImpl::decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind(), false);
  auto& st = decode_state_as<LinearDecodeState>(state, "linear");
  auto fq = q_map->forward(q), fk = k_map->forward(k);
  if (st.tokens() > 0) return st.step(fq, fk, v);
  auto y = linear_attention_causal_chunked(fq, fk, v, {}, options_.chunk, options_.eps);
  st.absorb(fk, v);
  return y;
}

void LinearMixerImpl::decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                                    MixerDecodeState& state) {
  check_decode_absorb(k, v, state, kind());
  decode_state_as<LinearDecodeState>(state, "linear").absorb(k_map->forward(k), v);
}

// ---- hybrid -----------------------------------------------------------------------------------

std::unique_ptr<MixerDecodeState> HybridMixerImpl::start_decode() {
  check_decodable(*q_map, kind());
  check_decodable(*k_map, kind());
  return std::make_unique<WindowDecodeState>(options_.window, k_map->output_dim());
}

// y = (σ Σ_{i∈W} e_i v_i + λ φ(q)ᵀS) / (σ Σ_{i∈W} e_i + λ φ(q)ᵀz + eps), e_i = exp(s_i − max_W s),
// σ = σ(θ) and λ the linear factor:
// weights() for the last row, with the linear sums over the keys that left the window.
torch::Tensor HybridMixerImpl::decode_step(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind());
  auto& st = decode_state_as<WindowDecodeState>(state, "hybrid");
  auto left = st.push(k, v);
  if (left.first.defined()) st.absorb(k_map->forward(left.first), left.second);
  auto s = scaled_logits(q, st.window_keys());  // [B, H, 1, min(t, W)]
  auto e = torch::exp(s - s.amax(-1, true));
  auto fq = q_map->forward(q);
  auto wf = window_factor().to(q.scalar_type()).view({1, -1, 1, 1});
  auto lf = linear_factor().to(q.scalar_type()).view({1, -1, 1, 1});
  auto num = wf * torch::matmul(e, st.window_values()) + lf * torch::matmul(fq, st.S());
  auto den = wf * e.sum(-1, true) + lf * torch::matmul(fq, st.z().unsqueeze(-1)) + options_.eps;
  return num / den;
}

// From an empty state: forward() for the outputs, then the window gets the last W positions and
// the linear sums the ones before. After earlier positions: step by step.
torch::Tensor HybridMixerImpl::decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind(), false);
  auto& st = decode_state_as<WindowDecodeState>(state, "hybrid");
  if (st.tokens() > 0) return MixerImpl::decode_prefill(q, k, v, state);
  AttentionMask causal;
  causal.causal = true;
  auto y = forward(q, k, v, causal, MixerTap{});
  const int64_t left = st.fill(k, v);
  if (left > 0) st.absorb(k_map->forward(k.narrow(2, 0, left)), v.narrow(2, 0, left));
  return y;
}

// As decode_prefill's state, without its outputs.
void HybridMixerImpl::decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                                    MixerDecodeState& state) {
  check_decode_absorb(k, v, state, kind());
  auto& st = decode_state_as<WindowDecodeState>(state, "hybrid");
  const int64_t left = st.fill(k, v);
  if (left > 0) st.absorb(k_map->forward(k.narrow(2, 0, left)), v.narrow(2, 0, left));
}

}  // namespace attnd
