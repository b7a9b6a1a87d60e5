#include "attnd/nn/mixer.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/core/suggest.h"
#include "attnd/nn/linear_mixer.h"

namespace attnd {

torch::Tensor scaled_logits(const torch::Tensor& q, const torch::Tensor& k) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return torch::matmul(q, k.transpose(-2, -1)) * scale;
}

torch::Tensor masked_softmax(const torch::Tensor& logits, const AttentionMask& mask) {
  auto add = mask.additive(logits.size(-2), logits.size(-1), logits.scalar_type(),
                           logits.device());
  return torch::softmax(add.defined() ? logits + add : logits, -1);
}

torch::Tensor SoftmaxMixerImpl::forward(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, const AttentionMask& mask,
                                        const MixerTap& tap) {
  auto logits = scaled_logits(q, k);
  auto probs = masked_softmax(logits, mask);
  if (tap.capture) {
    if (tap.want_logits) tap.capture->logits = logits;
    if (tap.want_probs) tap.capture->probs = probs;
  }
  if (dropout_ > 0.0 && is_training()) probs = torch::dropout(probs, dropout_, true);
  return torch::matmul(probs, v);
}

void check_decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const std::string& who, bool one_position) {
  ATTND_CHECK_INPUT(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && q.sizes() == k.sizes() &&
                        v.size(0) == q.size(0) && v.size(1) == q.size(1) &&
                        v.size(2) == q.size(2),
                    who, " decoding: q, k must be [B, H, n, Dk] alike and v [B, H, n, Dv], got ",
                    q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  ATTND_CHECK_INPUT(!one_position || q.size(2) == 1, who,
                    " decode_step takes one position, got ", q.size(2),
                    " (use decode_prefill for several)");
  ATTND_CHECK_INPUT(q.size(2) >= 1, who, " decoding needs at least one position");
}

void check_decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                         const MixerDecodeState& state, const std::string& who) {
  ATTND_CHECK_INPUT(k.defined() && v.defined() && k.dim() == 4 && v.dim() == 4 &&
                        k.size(0) == v.size(0) && k.size(1) == v.size(1) &&
                        k.size(2) == v.size(2) && k.size(2) >= 1,
                    who, " decode_absorb takes k [B, H, n, Dk] and v [B, H, n, Dv] with n >= 1");
  ATTND_CHECK_INPUT(state.tokens() == 0, who, " decode_absorb starts a state; this one holds ",
                    state.tokens(), " positions already");
}

std::unique_ptr<MixerDecodeState> MixerImpl::start_decode() {
  throw_input_error("attention mixer '", kind(), "' has no incremental decoding");
}

torch::Tensor MixerImpl::decode_step(const torch::Tensor&, const torch::Tensor&,
                                     const torch::Tensor&, MixerDecodeState&) {
  throw_input_error("attention mixer '", kind(), "' has no incremental decoding");
}

torch::Tensor MixerImpl::decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind(), false);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < q.size(2); ++i)
    out.push_back(decode_step(q.narrow(2, i, 1), k.narrow(2, i, 1), v.narrow(2, i, 1), state));
  return torch::cat(out, 2);
}

// The new position sees every cached key, itself included: no mask needed.
std::unique_ptr<MixerDecodeState> SoftmaxMixerImpl::start_decode() {
  return std::make_unique<KvCache>();
}

torch::Tensor SoftmaxMixerImpl::decode_step(const torch::Tensor& q, const torch::Tensor& k,
                                            const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind());
  auto& cache = decode_state_as<KvCache>(state, "softmax");
  cache.append(k, v);
  return torch::matmul(torch::softmax(scaled_logits(q, cache.keys()), -1), cache.values());
}

void MixerImpl::decode_absorb(const torch::Tensor&, const torch::Tensor&, MixerDecodeState&) {
  throw_input_error("attention mixer '", kind(), "' has no incremental decoding");
}

void SoftmaxMixerImpl::decode_absorb(const torch::Tensor& k, const torch::Tensor& v,
                                     MixerDecodeState& state) {
  check_decode_absorb(k, v, state, kind());
  decode_state_as<KvCache>(state, "softmax").append(k, v);
}

// Queries sit at the end of the cached keys: AttentionMask's causal convention.
torch::Tensor SoftmaxMixerImpl::decode_prefill(const torch::Tensor& q, const torch::Tensor& k,
                                               const torch::Tensor& v, MixerDecodeState& state) {
  check_decode_step(q, k, v, kind(), false);
  auto& cache = decode_state_as<KvCache>(state, "softmax");
  cache.append(k, v);
  AttentionMask causal;
  causal.causal = true;
  return torch::matmul(masked_softmax(scaled_logits(q, cache.keys()), causal), cache.values());
}

std::vector<std::string> mixer_names() { return {"softmax", "linear", "hybrid"}; }

Mixer make_mixer(const std::string& kind, double dropout) {
  if (kind == "softmax") return std::make_shared<SoftmaxMixerImpl>(dropout);
  ATTND_CHECK_INPUT(kind != "linear" && kind != "hybrid", "attention mixer '", kind,
                    "' needs a spec with its feature map, num_heads and head_dim");
  throw_input_error("unknown attention mixer '", kind, "' (known: softmax, linear, hybrid)");
}

Mixer make_mixer(const nlohmann::json& spec) {
  ATTND_CHECK_INPUT(spec.is_object() && spec.contains("kind") && spec.at("kind").is_string(),
                    "a mixer spec is a JSON object with a string \"kind\" (softmax, linear, ",
                    "hybrid), got ", spec.dump());
  const auto kind = spec.at("kind").get<std::string>();
  if (kind == "linear") return std::make_shared<LinearMixerImpl>(linear_mixer_options(spec));
  if (kind == "hybrid") return std::make_shared<HybridMixerImpl>(hybrid_mixer_options(spec));
  ATTND_CHECK_INPUT(kind == "softmax", "unknown attention mixer '", kind,
                    "' (known: softmax, linear, hybrid)");
  std::vector<std::string> present;
  for (const auto& item : spec.items()) present.push_back(item.key());
  check_known_keys(present, {"kind", "dropout"}, "mixer spec");
  const auto& dropout = spec.contains("dropout") ? spec.at("dropout") : nlohmann::json(0.0);
  ATTND_CHECK_INPUT(dropout.is_number() && dropout.get<double>() >= 0 &&
                        dropout.get<double>() < 1,
                    "mixer spec: dropout must be a number in [0, 1), got ", dropout.dump());
  return make_mixer(kind, dropout.get<double>());
}

}  // namespace attnd
