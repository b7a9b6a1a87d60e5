#include "attnd/nn/attention.h"

#include <torch/torch.h>

#include "attnd/core/error.h"

namespace attnd {

QkvProjectionsImpl::QkvProjectionsImpl(int64_t dim, bool bias) {
  auto opts = torch::nn::LinearOptions(dim, dim).bias(bias);
  query = register_module("query", torch::nn::Linear(opts));
  key = register_module("key", torch::nn::Linear(opts));
  value = register_module("value", torch::nn::Linear(opts));
}

AttentionOutputImpl::AttentionOutputImpl(int64_t dim, bool with_layer_norm, double eps) {
  dense = register_module("dense", torch::nn::Linear(dim, dim));
  if (with_layer_norm) {
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps)));
  }
}

AttentionImpl::AttentionImpl(const AttentionOptions& options) : options_(options) {
  const int64_t d = options.hidden_size;
  ATTND_CHECK_INPUT(options.num_heads > 0 && d % options.num_heads == 0, "hidden_size (", d,
                    ") must be a positive multiple of num_attention_heads (", options.num_heads,
                    ")");
  switch (options.layout) {
    case AttentionLayout::kBert:
      qkv_ = register_module("self", QkvProjections(d, options.qkv_bias));
      output_ = register_module("output", AttentionOutput(d, true, options.layer_norm_eps));
      break;
    case AttentionLayout::kVit:
      qkv_ = register_module("attention", QkvProjections(d, options.qkv_bias));
      output_ = register_module("output", AttentionOutput(d, false, 0.0));
      break;
    case AttentionLayout::kGpt2:
      c_attn_ = register_module(
          "c_attn", torch::nn::Linear(torch::nn::LinearOptions(d, 3 * d).bias(options.qkv_bias)));
      c_proj_ = register_module("c_proj", torch::nn::Linear(d, d));
      break;
  }
  output_dropout_ = register_module("output_dropout", torch::nn::Dropout(options.output_dropout));
  mixer_ = register_module("mixer", make_mixer("softmax", options.attention_dropout));
}

void AttentionImpl::set_mixer(Mixer mixer) {
  ATTND_CHECK(mixer != nullptr, "set_mixer needs a mixer");
  mixer_ = replace_module("mixer", std::move(mixer));
}

torch::Tensor AttentionImpl::split_heads(const torch::Tensor& x) const {
  return x.view({x.size(0), x.size(1), options_.num_heads, head_dim()}).transpose(1, 2);
}

torch::Tensor AttentionImpl::project(const torch::Tensor& x, int which) {
  if (options_.layout == AttentionLayout::kGpt2) {
    const int64_t d = options_.hidden_size;
    auto w = c_attn_->weight.narrow(0, which * d, d);
    auto b = c_attn_->bias.defined() ? c_attn_->bias.narrow(0, which * d, d) : torch::Tensor();
    return torch::nn::functional::linear(x, w, b);
  }
  switch (which) {
    case 0: return qkv_->query(x);
    case 1: return qkv_->key(x);
    default: return qkv_->value(x);
  }
}

torch::Tensor AttentionImpl::queries(const torch::Tensor& x) { return split_heads(project(x, 0)); }
torch::Tensor AttentionImpl::keys(const torch::Tensor& x) { return split_heads(project(x, 1)); }
torch::Tensor AttentionImpl::values(const torch::Tensor& x) { return split_heads(project(x, 2)); }

torch::Tensor AttentionImpl::project_output(const torch::Tensor& context) {
  auto merged = context.transpose(1, 2).contiguous().view(
      {context.size(0), context.size(2), options_.hidden_size});
  auto out = options_.layout == AttentionLayout::kGpt2 ? c_proj_(merged) : output_->dense(merged);
  return output_dropout_(out);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionMask& mask,
                                     Taps* taps, int64_t layer) {
  ATTND_CHECK(x.dim() == 3 && x.size(2) == options_.hidden_size,
              "attention input must be [B, N, ", options_.hidden_size, "], got ", x.sizes());
  const torch::Tensor* inject_probs = taps ? taps->injected_probs(layer) : nullptr;
  const torch::Tensor* inject_logits = taps ? taps->injected_logits(layer) : nullptr;
  const bool want_logits = taps && taps->wants(layer, kRecordLogits);
  const bool want_probs = taps && taps->wants(layer, kRecordProbs);
  LayerCapture* capture = (want_logits || want_probs || (taps && taps->wants(layer, kRecordHeadOutputs)))
                              ? &taps->capture(layer)
                              : nullptr;

  auto v = values(x);
  torch::Tensor context;
  if (inject_probs || inject_logits) {
    // Attention from outside (attention copy): this layer's own queries and keys are not computed.
    const auto& given = inject_probs ? *inject_probs : *inject_logits;
    ATTND_CHECK_INPUT(given.dim() == 4 && given.size(0) == x.size(0) &&
                          given.size(1) == options_.num_heads && given.size(2) == x.size(1) &&
                          given.size(3) == x.size(1),
                      "injected attention for layer ", layer, " must be [", x.size(0), ", ",
                      options_.num_heads, ", ", x.size(1), ", ", x.size(1), "], got ",
                      given.sizes());
    auto probs = inject_probs ? given : masked_softmax(given, mask);
    if (capture) {
      if (want_logits && inject_logits) capture->logits = given;
      if (want_probs) capture->probs = probs;
    }
    context = torch::matmul(probs.to(v.scalar_type()), v);
  } else {
    MixerTap tap{want_logits, want_probs, capture};
    context = mixer_->forward(queries(x), keys(x), v, mask, tap);
  }
  if (capture && taps->wants(layer, kRecordHeadOutputs)) capture->head_outputs = context;

  auto out = project_output(context);
  if (options_.layout == AttentionLayout::kBert) out = output_->LayerNorm(out + x);
  return out;
}

}  // namespace attnd
