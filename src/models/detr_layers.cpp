#include "attnd/models/detr_layers.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/nn/mixer.h"

namespace attnd {

torch::Tensor sine_position_encoding(const torch::Tensor& mask, int64_t dim) {
  ATTND_CHECK(mask.dim() == 3 && dim % 2 == 0 && dim >= 2, "sine encoding needs a mask [B, H, W] "
              "and an even width, got ", mask.sizes(), " and ", dim);
  const int64_t half = dim / 2;
  constexpr double kScale = 2 * M_PI, kEps = 1e-6, kTemperature = 10000.0;
  auto m = mask.to(torch::kFloat);
  auto y = m.cumsum(1), x = m.cumsum(2);
  y = y / (y.narrow(1, y.size(1) - 1, 1) + kEps) * kScale;
  x = x / (x.narrow(2, x.size(2) - 1, 1) + kEps) * kScale;
  auto i = torch::arange(half, m.options());
  auto t = torch::pow(kTemperature, 2 * torch::floor(i / 2) / static_cast<double>(half));
  auto encode = [&](const torch::Tensor& coord) {  // [B, H, W] → [B, H, W, half], sin/cos interleaved
    auto a = coord.unsqueeze(-1) / t;
    auto even = torch::arange(0, half, 2, torch::kLong).to(m.device());
    auto odd = torch::arange(1, half, 2, torch::kLong).to(m.device());
    auto sin = a.index_select(-1, even).sin(), cos = a.index_select(-1, odd).cos();
    // Interleave back: feature 2j is sin, 2j + 1 is cos.
    auto out = torch::empty_like(a);
    out.index_copy_(-1, even, sin);
    out.index_copy_(-1, odd, cos);
    return out;
  };
  auto pos = torch::cat({encode(y), encode(x)}, -1);
  return pos.flatten(1, 2);
}

torch::Tensor sine_box_encoding(const torch::Tensor& boxes, int64_t dim) {
  ATTND_CHECK(boxes.size(-1) == 4 && dim % 2 == 0 && dim >= 2, "sine box encoding needs boxes "
              "[..., 4] and an even width, got ", boxes.sizes(), " and ", dim);
  const int64_t half = dim / 2;
  constexpr double kScale = 2 * M_PI, kTemperature = 10000.0;
  auto i = torch::arange(half, boxes.options());
  auto t = torch::pow(kTemperature, 2 * torch::floor(i / 2) / static_cast<double>(half));
  auto even = torch::arange(0, half, 2, torch::kLong).to(boxes.device());
  auto odd = torch::arange(1, half, 2, torch::kLong).to(boxes.device());
  auto encode = [&](const torch::Tensor& coord) {
    auto a = (coord * kScale).unsqueeze(-1) / t;
    auto out = torch::empty_like(a);
    out.index_copy_(-1, even, a.index_select(-1, even).sin());
    out.index_copy_(-1, odd, a.index_select(-1, odd).cos());
    return out;
  };
  return torch::cat({encode(boxes.select(-1, 1)), encode(boxes.select(-1, 0)),
                     encode(boxes.select(-1, 3)), encode(boxes.select(-1, 2))}, -1);
}

namespace {
AttentionOptions attention_options(const DetrLayerOptions& o) {
  AttentionOptions a;
  a.hidden_size = o.d_model;
  a.num_heads = o.heads;
  a.layout = AttentionLayout::kVit;
  a.attention_dropout = o.attention_dropout;
  return a;
}
torch::nn::LayerNorm layer_norm(int64_t d) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5));
}
}  // namespace

DetrEncoderLayerImpl::DetrEncoderLayerImpl(const DetrLayerOptions& o) : activation(o.activation) {
  self_attn = register_module("self_attn", Attention(attention_options(o)));
  self_attn_layer_norm = register_module("self_attn_layer_norm", layer_norm(o.d_model));
  fc1 = register_module("fc1", torch::nn::Linear(o.d_model, o.ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(o.ffn_dim, o.d_model));
  final_layer_norm = register_module("final_layer_norm", layer_norm(o.d_model));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
}

torch::Tensor DetrEncoderLayerImpl::tail(const torch::Tensor& x, const torch::Tensor& attended) {
  auto h = self_attn_layer_norm(x + dropout(attended));
  auto f = fc2(dropout(activate(fc1(h), activation)));
  return final_layer_norm(h + dropout(f));
}

torch::Tensor DetrEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& pos,
                                            const AttentionMask& mask, Taps* taps,
                                            const LayerId& layer) {
  AttentionInputs in;
  in.query = x;
  in.query_pos = pos;
  in.key_pos = pos;
  auto out = tail(x, self_attn->forward(in, mask, taps, layer));
  record_hidden(taps, layer, out);
  return out;
}

DetrDecoderLayerImpl::DetrDecoderLayerImpl(const DetrLayerOptions& o) : activation(o.activation) {
  self_attn = register_module("self_attn", Attention(attention_options(o)));
  self_attn_layer_norm = register_module("self_attn_layer_norm", layer_norm(o.d_model));
  encoder_attn = register_module("encoder_attn", Attention(attention_options(o)));
  encoder_attn_layer_norm = register_module("encoder_attn_layer_norm", layer_norm(o.d_model));
  fc1 = register_module("fc1", torch::nn::Linear(o.d_model, o.ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(o.ffn_dim, o.d_model));
  final_layer_norm = register_module("final_layer_norm", layer_norm(o.d_model));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
}

torch::Tensor DetrDecoderLayerImpl::forward(const torch::Tensor& tgt, const torch::Tensor& query_pos,
                                            const torch::Tensor& memory,
                                            const torch::Tensor& memory_pos,
                                            const AttentionMask& memory_mask, Taps* taps,
                                            int64_t index) {
  AttentionInputs self;
  self.query = tgt;
  self.query_pos = query_pos;
  self.key_pos = query_pos;
  auto h = self_attn_layer_norm(
      tgt + dropout(self_attn->forward(self, AttentionMask{}, taps, {Stack::kDecoder, index})));
  AttentionInputs cross;
  cross.query = h;
  cross.key_value = memory;
  cross.query_pos = query_pos;
  cross.key_pos = memory_pos;
  h = encoder_attn_layer_norm(
      h + dropout(encoder_attn->forward(cross, memory_mask, taps, {Stack::kCross, index})));
  auto out = final_layer_norm(h + dropout(fc2(dropout(activate(fc1(h), activation)))));
  record_hidden(taps, {Stack::kDecoder, index}, out);
  return out;
}

KsTeacherImpl::KsTeacherImpl(int64_t d) {
  foreground_mlp = register_module("foreground_mlp", torch::nn::Linear(d, d));
  query = register_module("query", torch::nn::Linear(d, d));
  key = register_module("key", torch::nn::Linear(d, d));
  value = register_module("value", torch::nn::Linear(d, d));
}

TripleContexts triple_attention(AttentionImpl& attention, KsTeacherImpl& teacher,
                                const torch::Tensor& x, const torch::Tensor& pos,
                                const torch::Tensor& foreground, const AttentionMask& mask) {
  const int64_t b = x.size(0), n = x.size(1), h = attention.num_heads(), dh = attention.head_dim();
  auto split = [&](const torch::Tensor& t) { return t.view({b, n, h, dh}).transpose(1, 2); };
  auto m = foreground.to(x.scalar_type()).unsqueeze(-1);
  auto xt = (1 - m) * x + m * torch::relu(teacher.foreground_mlp(x));
  auto q = attention.queries(x + pos), k = attention.keys(x + pos), v = attention.values(x);
  auto qt = split(teacher.query(xt + pos)), kt = split(teacher.key(xt + pos));
  auto vt = split(teacher.value(xt));
  auto a = masked_softmax(scaled_logits(q, k), mask);
  auto at = masked_softmax(scaled_logits(qt, kt), mask);
  return {torch::matmul(a, v), torch::matmul(at, v), torch::matmul(a, vt)};
}

}  // namespace attnd
