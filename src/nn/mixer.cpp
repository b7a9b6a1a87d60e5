#include "attnd/nn/mixer.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"

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

Mixer make_mixer(const std::string& kind, double dropout) {
  if (kind == "softmax") return std::make_shared<SoftmaxMixerImpl>(dropout);
  throw_input_error("unknown attention mixer '", kind, "' (known: softmax)");
}

}  // namespace attnd
