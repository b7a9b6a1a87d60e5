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
