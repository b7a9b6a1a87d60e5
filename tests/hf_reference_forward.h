// Forward passes of BERT (sequence classification) and GPT-2 (LM head) written out from the
// transformers source, in float64, over the tensors of an HF file by their HF names — an oracle
// that shares no code with attnd's models (no modules, no import_hf: GPT-2's Conv1D weights are
// used in their stored [in, out] layout).
//   BERT: models/bert/modeling_bert.py — BertEmbeddings.forward (word + position + token type,
//   LayerNorm), BertSelfAttention.forward (scores / sqrt(d), additive mask, softmax),
//   BertSelfOutput / BertOutput (LayerNorm(dense(x) + residual): post-LN), BertIntermediate
//   ("gelu" = erf GELU), BertPooler (tanh of the first token), then the classifier.
//   GPT-2: models/gpt2/modeling_gpt2.py — GPT2Block.forward (pre-LN: x + attn(ln_1(x)),
//   x + mlp(ln_2(x))), Conv1D.forward (x @ W + b), GPT2Attention._attn (causal), GPT2MLP
//   ("gelu_new" = tanh GELU), ln_f, lm_head tied to wte.
//   ViT: models/vit/modeling_vit.py — ViTPatchEmbeddings (Conv2d, stride = patch), ViTEmbeddings
//   ([CLS; patches] + position embeddings), ViTLayer.forward (pre-LN: x + attention(
//   layernorm_before(x)), then x + output(intermediate(layernorm_after(x)))), the final layernorm,
//   ViTForImageClassification (classifier of the CLS token).
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "attnd/core/tensor_map.h"

namespace attnd::test {

struct HfSizes {
  int64_t layers = 1;
  int64_t heads = 1;
  double eps = 1e-12;
};

// t[name] in float64; `prefix` is tried first ("bert." / "transformer."), then the bare name.
inline torch::Tensor hf_tensor(const TensorMap& t, const std::string& prefix,
                               const std::string& name) {
  auto it = t.find(prefix + name);
  if (it == t.end()) it = t.find(name);
  if (it == t.end()) throw std::runtime_error("reference forward: no tensor " + name);
  return it->second.to(torch::kDouble);
}

// LayerNorm written out: biased variance, as torch.nn.LayerNorm.
inline torch::Tensor layer_norm_by_hand(const torch::Tensor& x, const torch::Tensor& g,
                                        const torch::Tensor& b, double eps) {
  auto mean = x.mean(-1, true);
  auto var = (x - mean).pow(2).mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * g + b;
}

inline torch::Tensor gelu_erf(const torch::Tensor& x) {
  return 0.5 * x * (1 + torch::erf(x / std::sqrt(2.0)));
}

inline torch::Tensor gelu_tanh(const torch::Tensor& x) {
  return 0.5 * x * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
}

// softmax(q kᵀ / sqrt(d) + mask) v per head; q, k, v [B, N, D]; `key_mask` [B, N] (1 = real,
// may be undefined), `causal`: position i sees keys j <= i.
inline torch::Tensor attention_by_hand(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, int64_t heads,
                                       const torch::Tensor& key_mask, bool causal) {
  const int64_t b = q.size(0), n = q.size(1), d = q.size(2) / heads;
  auto split = [&](const torch::Tensor& x) { return x.view({b, n, heads, d}).transpose(1, 2); };
  auto scores = torch::matmul(split(q), split(k).transpose(-1, -2)) / std::sqrt(double(d));
  if (key_mask.defined())
    scores = scores.masked_fill(key_mask.view({b, 1, 1, n}).eq(0), -1e300);
  if (causal)
    scores = scores.masked_fill(torch::ones({n, n}, torch::kBool).triu(1), -1e300);
  auto ctx = torch::matmul(torch::softmax(scores, -1), split(v));
  return ctx.transpose(1, 2).reshape({b, n, heads * d});
}

inline bool has_hf_tensor(const TensorMap& t, const std::string& prefix, const std::string& name) {
  return t.count(prefix + name) || t.count(name);
}

// attnd's linearized layers as docs/hf-compat.md tells other code to run them (softmax_split):
// φ(x) = [softmax(xW), softmax(−xW)] per head on the unscaled q and k, â = φ(q)φ(k)ᵀ over the
// allowed keys, normalised with ε = 1e-6.
inline torch::Tensor linear_attention_by_hand(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, int64_t heads,
                                              const torch::Tensor& wq, const torch::Tensor& wk,
                                              bool causal) {
  const int64_t b = q.size(0), n = q.size(1), d = q.size(2) / heads;
  auto split = [&](const torch::Tensor& x) { return x.view({b, n, heads, d}).transpose(1, 2); };
  auto phi = [](const torch::Tensor& x, const torch::Tensor& w) {
    const auto z = torch::matmul(x, w);  // [B, H, N, Dh] @ [H, Dh, Df]
    return torch::cat({torch::softmax(z, -1), torch::softmax(-z, -1)}, -1).clamp_min(1e-12);
  };
  auto a = torch::matmul(phi(split(q), wq), phi(split(k), wk).transpose(-1, -2));
  if (causal) a = a.masked_fill(torch::ones({n, n}, torch::kBool).triu(1), 0.0);
  const auto ctx = torch::matmul(a / (a.sum(-1, true) + 1e-6), split(v));
  return ctx.transpose(1, 2).reshape({b, n, heads * d});
}

inline torch::Tensor linear_by_hand(const TensorMap& t, const std::string& prefix,
                                    const std::string& name, const torch::Tensor& x) {
  return torch::matmul(x, hf_tensor(t, prefix, name + ".weight").t()) +
         hf_tensor(t, prefix, name + ".bias");
}

// BertForSequenceClassification logits [B, num_labels] in float64. `mask` may be undefined.
inline torch::Tensor bert_logits_by_hand(const TensorMap& t, const HfSizes& s,
                                         const torch::Tensor& ids, const torch::Tensor& types,
                                         const torch::Tensor& mask) {
  const std::string p = "bert.";
  const int64_t n = ids.size(1);
  auto e = hf_tensor(t, p, "embeddings.word_embeddings.weight").index_select(0, ids.flatten())
               .view({ids.size(0), n, -1});
  e = e + hf_tensor(t, p, "embeddings.position_embeddings.weight").slice(0, 0, n).unsqueeze(0);
  e = e + hf_tensor(t, p, "embeddings.token_type_embeddings.weight")
              .index_select(0, types.flatten()).view_as(e);
  auto ln = [&](const std::string& name, const torch::Tensor& x) {
    return layer_norm_by_hand(x, hf_tensor(t, p, name + ".weight"), hf_tensor(t, p, name + ".bias"),
                              s.eps);
  };
  auto h = ln("embeddings.LayerNorm", e);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string L = "encoder.layer." + std::to_string(l) + ".";
    auto ctx = attention_by_hand(linear_by_hand(t, p, L + "attention.self.query", h),
                                 linear_by_hand(t, p, L + "attention.self.key", h),
                                 linear_by_hand(t, p, L + "attention.self.value", h), s.heads,
                                 mask, false);
    auto a = ln(L + "attention.output.LayerNorm",
                linear_by_hand(t, p, L + "attention.output.dense", ctx) + h);
    auto inner = gelu_erf(linear_by_hand(t, p, L + "intermediate.dense", a));
    h = ln(L + "output.LayerNorm", linear_by_hand(t, p, L + "output.dense", inner) + a);
  }
  auto pooled = torch::tanh(linear_by_hand(t, p, "pooler.dense", h.select(1, 0)));
  return linear_by_hand(t, "", "classifier", pooled);
}

// GPT2LMHeadModel logits [B, N, vocab] in float64; Conv1D weights as stored ([in, out]).
inline torch::Tensor gpt2_logits_by_hand(const TensorMap& t, const HfSizes& s,
                                         const torch::Tensor& ids) {
  const std::string p = "transformer.";
  const int64_t n = ids.size(1);
  auto wte = hf_tensor(t, p, "wte.weight");
  auto h = wte.index_select(0, ids.flatten()).view({ids.size(0), n, -1}) +
           hf_tensor(t, p, "wpe.weight").slice(0, 0, n).unsqueeze(0);
  auto ln = [&](const std::string& name, const torch::Tensor& x) {
    return layer_norm_by_hand(x, hf_tensor(t, p, name + ".weight"), hf_tensor(t, p, name + ".bias"),
                              s.eps);
  };
  auto conv1d = [&](const std::string& name, const torch::Tensor& x) {
    return torch::matmul(x, hf_tensor(t, p, name + ".weight")) + hf_tensor(t, p, name + ".bias");
  };
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string L = "h." + std::to_string(l) + ".";
    auto qkv = conv1d(L + "attn.c_attn", ln(L + "ln_1", h)).chunk(3, -1);
    // A layer attnd linearized carries its feature maps beside the attention weights.
    const std::string maps = L + "attn.mixer.";
    const auto ctx =
        has_hf_tensor(t, p, maps + "q_map.weight")
            ? linear_attention_by_hand(qkv[0], qkv[1], qkv[2], s.heads,
                                       hf_tensor(t, p, maps + "q_map.weight"),
                                       hf_tensor(t, p, maps + "k_map.weight"), true)
            : attention_by_hand(qkv[0], qkv[1], qkv[2], s.heads, {}, true);
    h = h + conv1d(L + "attn.c_proj", ctx);
    h = h + conv1d(L + "mlp.c_proj", gelu_tanh(conv1d(L + "mlp.c_fc", ln(L + "ln_2", h))));
  }
  return torch::matmul(ln("ln_f", h), wte.t());
}

// ViTForImageClassification logits [B, num_labels] in float64; pixels [B, C, S, S], patch p.
inline torch::Tensor vit_logits_by_hand(const TensorMap& t, const HfSizes& s,
                                        const torch::Tensor& pixels, int64_t patch) {
  const std::string p = "vit.";
  const auto x = pixels.to(torch::kDouble);
  const int64_t b = x.size(0), c = x.size(1), rows = x.size(2) / patch, cols = x.size(3) / patch;
  // The convolution with stride = kernel = patch, as one matmul over row-major patches whose
  // values are ordered (channel, row, column) like the kernel's.
  const auto patches = x.view({b, c, rows, patch, cols, patch})
                           .permute({0, 2, 4, 1, 3, 5})
                           .reshape({b, rows * cols, c * patch * patch});
  const auto kernel = hf_tensor(t, p, "embeddings.patch_embeddings.projection.weight");
  auto tokens = torch::matmul(patches, kernel.view({kernel.size(0), -1}).t()) +
                hf_tensor(t, p, "embeddings.patch_embeddings.projection.bias");
  auto h = torch::cat({hf_tensor(t, p, "embeddings.cls_token").expand({b, 1, -1}), tokens}, 1) +
           hf_tensor(t, p, "embeddings.position_embeddings");
  auto ln = [&](const std::string& name, const torch::Tensor& v) {
    return layer_norm_by_hand(v, hf_tensor(t, p, name + ".weight"), hf_tensor(t, p, name + ".bias"),
                              s.eps);
  };
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string L = "encoder.layer." + std::to_string(l) + ".";
    const auto a = ln(L + "layernorm_before", h);
    const auto ctx = attention_by_hand(linear_by_hand(t, p, L + "attention.attention.query", a),
                                       linear_by_hand(t, p, L + "attention.attention.key", a),
                                       linear_by_hand(t, p, L + "attention.attention.value", a),
                                       s.heads, {}, false);
    h = h + linear_by_hand(t, p, L + "attention.output.dense", ctx);
    const auto inner = gelu_erf(linear_by_hand(t, p, L + "intermediate.dense", ln(L + "layernorm_after", h)));
    h = h + linear_by_hand(t, p, L + "output.dense", inner);
  }
  return linear_by_hand(t, "", "classifier", ln("layernorm", h).select(1, 0));
}

}  // namespace attnd::test
