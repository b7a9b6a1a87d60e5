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
  torch::Tensor out;
  if (options_.layout == AttentionLayout::kGpt2) {
    const int64_t d = options_.hidden_size;
    auto w = c_attn_->weight.narrow(0, which * d, d);
    auto b = c_attn_->bias.defined() ? c_attn_->bias.narrow(0, which * d, d) : torch::Tensor();
    out = torch::nn::functional::linear(x, w, b);
  } else {
    out = which == 0 ? qkv_->query(x) : which == 1 ? qkv_->key(x) : qkv_->value(x);
  }
  // LoRA: for GPT-2 this is the delta of this third of c_attn's output only.
  if (lora_ && lora_->adapter(which)) out = out + lora_->adapter(which).ptr()->forward(x);
  return out;
}

torch::Tensor AttentionImpl::queries(const torch::Tensor& x) { return split_heads(project(x, 0)); }
torch::Tensor AttentionImpl::keys(const torch::Tensor& x) { return split_heads(project(x, 1)); }
torch::Tensor AttentionImpl::values(const torch::Tensor& x) { return split_heads(project(x, 2)); }

torch::Tensor AttentionImpl::project_output(const torch::Tensor& context) {
  auto merged = context.transpose(1, 2).contiguous().view(
      {context.size(0), context.size(2), options_.hidden_size});
  auto out = options_.layout == AttentionLayout::kGpt2 ? c_proj_(merged) : output_->dense(merged);
  if (lora_ && lora_->adapter(3)) out = out + lora_->adapter(3).ptr()->forward(merged);
  return output_dropout_(out);
}

void AttentionImpl::add_lora(const LoraOptions& options) {
  ATTND_CHECK_INPUT(!lora_, "this attention layer already has LoRA adapters");
  const auto& w = options_.layout == AttentionLayout::kGpt2 ? c_proj_->weight : output_->dense->weight;
  lora_ = register_module("lora", LoraAdapters(options_.hidden_size, options,
                                               w.options().requires_grad(false)));
  lora_->train(is_training());
}

void AttentionImpl::merge_lora() {
  if (!lora_) return;
  torch::NoGradGuard no_grad;
  const int64_t d = options_.hidden_size;
  const bool gpt2 = options_.layout == AttentionLayout::kGpt2;
  for (int which = 0; which < 4; ++which) {
    const auto& adapter = lora_->adapter(which);
    if (!adapter) continue;
    // The [D, D] weight this adapter belongs to (a view into c_attn for GPT-2's q/k/v).
    torch::Tensor w;
    if (which == 3) {
      w = gpt2 ? c_proj_->weight : output_->dense->weight;
    } else if (gpt2) {
      w = c_attn_->weight.narrow(0, which * d, d);
    } else {
      w = which == 0 ? qkv_->query->weight : which == 1 ? qkv_->key->weight : qkv_->value->weight;
    }
    w.add_(adapter->delta_weight().to(w.dtype()));
  }
  unregister_module("lora");
  lora_ = nullptr;
}

namespace {

// Takes the tensor injected for `which` if any (checked against the shape this layer would make),
// otherwise computes it from `x` ([B, N, D] → [B, H, N, Dh]).
template <typename Compute>
torch::Tensor projection_or_injected(const Taps* taps, const LayerId& layer, Projection which,
                                     const torch::Tensor& x, int64_t heads, int64_t head_dim,
                                     Compute compute) {
  const torch::Tensor* given = taps ? taps->injected_projection(layer, which) : nullptr;
  if (!given) return compute(x);
  static const char* names[] = {"queries", "keys", "values"};
  ATTND_CHECK_INPUT(given->dim() == 4 && given->size(0) == x.size(0) && given->size(1) == heads &&
                        given->size(2) == x.size(1) && given->size(3) == head_dim,
                    "injected ", names[static_cast<int>(which)], " for layer ", to_string(layer),
                    " must be [", x.size(0), ", ", heads, ", ", x.size(1), ", ", head_dim,
                    "], got ", given->sizes());
  return *given;
}

torch::Tensor with_position(const torch::Tensor& x, const torch::Tensor& pos) {
  return pos.defined() ? x + pos : x;
}

}  // namespace

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionMask& mask,
                                     Taps* taps, const LayerId& layer) {
  AttentionInputs inputs;
  inputs.query = x;
  return forward(inputs, mask, taps, layer);
}

torch::Tensor AttentionImpl::forward(const AttentionInputs& inputs, const AttentionMask& mask,
                                     Taps* taps, const LayerId& layer) {
  const auto& x = inputs.query;
  const bool self = !inputs.key_value.defined();
  const auto& memory = self ? x : inputs.key_value;
  const int64_t d = options_.hidden_size;
  ATTND_CHECK(x.dim() == 3 && x.size(2) == d, "attention input must be [B, N, ", d, "], got ",
              x.sizes());
  ATTND_CHECK(memory.dim() == 3 && memory.size(0) == x.size(0) && memory.size(2) == d,
              "cross-attention keys/values must be [", x.size(0), ", Nk, ", d, "], got ",
              memory.sizes());
  // Inputs of the query and key projections (values never take the positional terms).
  const auto query_in = with_position(x, inputs.query_pos);
  const auto key_in = with_position(memory, inputs.key_pos);
  const int64_t batch = x.size(0), nq = x.size(1), nk = memory.size(1);

  const torch::Tensor* inject_probs = taps ? taps->injected_probs(layer) : nullptr;
  const torch::Tensor* inject_logits = taps ? taps->injected_logits(layer) : nullptr;
  auto wants = [&](Record what) { return taps && taps->wants(layer, what); };
  const bool want_logits = wants(kRecordLogits);
  const bool want_probs = wants(kRecordProbs);
  LayerCapture* capture =
      (want_logits || want_probs || wants(kRecordHeadOutputs) || wants(kRecordQueries) ||
       wants(kRecordKeys) || wants(kRecordValues))
          ? &taps->capture(layer)
          : nullptr;
  const int64_t h = options_.num_heads, dh = head_dim();
  auto compute_q = [this](const torch::Tensor& in) { return queries(in); };
  auto compute_k = [this](const torch::Tensor& in) { return keys(in); };
  auto compute_v = [this](const torch::Tensor& in) { return values(in); };

  auto v = projection_or_injected(taps, layer, Projection::kValue, memory, h, dh, compute_v);
  if (capture && wants(kRecordValues)) capture->values = v;
  const std::vector<int64_t> no_heads;
  const auto& heads = inject_logits ? taps->injected_heads(layer) : no_heads;
  torch::Tensor context;
  if (inject_probs || (inject_logits && heads.empty())) {
    // Attention from outside (attention copy): this layer's own queries and keys are not computed.
    const auto& given = inject_probs ? *inject_probs : *inject_logits;
    check_injected_attention(given, batch, nq, nk, layer);
    auto probs = inject_probs ? given : masked_softmax(given, mask);
    if (capture) {
      if (want_logits && inject_logits) capture->logits = given;
      if (want_probs) capture->probs = probs;
    }
    context = torch::matmul(probs.to(v.scalar_type()), v);
  } else {
    auto q = projection_or_injected(taps, layer, Projection::kQuery, query_in, h, dh, compute_q);
    auto k = projection_or_injected(taps, layer, Projection::kKey, key_in, h, dh, compute_k);
    if (capture && wants(kRecordQueries)) capture->queries = q;
    if (capture && wants(kRecordKeys)) capture->keys = k;
    if (inject_logits) {
      // Some heads copied, the rest compute their own logits.
      check_injected_attention(*inject_logits, batch, nq, nk, layer);
      auto head_mask = torch::zeros({1, h, 1, 1}, torch::kBool);
      for (int64_t i : heads) {
        ATTND_CHECK_INPUT(i >= 0 && i < h, "injected head ", i, " out of range (layer ",
                          to_string(layer), " has ", h, " heads)");
        head_mask[0][i] = true;
      }
      auto logits = torch::where(head_mask.to(x.device()), inject_logits->to(q.scalar_type()),
                                 scaled_logits(q, k));
      auto probs = masked_softmax(logits, mask);
      if (capture) {
        if (want_logits) capture->logits = logits;
        if (want_probs) capture->probs = probs;
      }
      context = torch::matmul(probs, v);
    } else {
      MixerTap tap{want_logits, want_probs, capture};
      context = mixer_->forward(q, k, v, mask, tap);
    }
  }
  if (capture && wants(kRecordHeadOutputs)) capture->head_outputs = context;

  auto out = project_output(context);
  if (options_.layout == AttentionLayout::kBert) out = output_->LayerNorm(out + x);
  return out;
}

void AttentionImpl::check_injected_attention(const torch::Tensor& given, int64_t batch,
                                             int64_t nq, int64_t nk, const LayerId& layer) const {
  ATTND_CHECK_INPUT(given.dim() == 4 && given.size(0) == batch &&
                        given.size(1) == options_.num_heads && given.size(2) == nq &&
                        given.size(3) == nk,
                    "injected attention for layer ", to_string(layer), " must be [", batch, ", ",
                    options_.num_heads, ", ", nq, ", ", nk, "], got ", given.sizes());
}

}  // namespace attnd
