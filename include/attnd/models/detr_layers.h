// The transformer pieces of the DETR detector (models/detr.h): the sine 2-D positional encoding,
// the post-norm encoder and decoder layers (DETR's layout), and KS-DETR's triple attention
// (docs/methods/ks-detr.md) that the last encoder layer runs in training when it is switched on.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "attnd/models/blocks.h"
#include "attnd/nn/attention.h"

namespace attnd {

// DETR's PositionEmbeddingSine (normalize = true, scale 2π, temperature 10000) of a feature-map
// mask [B, H, W] (true = real): y = cumsum of the mask down the rows, x along the columns, each
// divided by its last value (+1e-6) and × 2π; for i < D/2, with t_i = 10000^(2⌊i/2⌋/(D/2)),
// feature i of the y half is sin(y / t_i) (i even) or cos(y / t_i) (i odd), likewise for x.
// Returns [B, H·W, D] (row-major tokens), the y half first. D must be even.
torch::Tensor sine_position_encoding(const torch::Tensor& mask, int64_t dim);
// DAB-DETR's sine embedding of boxes in [0, 1]: boxes [..., 4] (cx, cy, w, h) → [..., 2·dim], the
// blocks in the order (cy, cx, h, w) — the first two as the feature map's (y, x) halves, each
// coordinate c × 2π encoded as sine_position_encoding encodes a normalised position
// (dim / 2 features per coordinate, sin and cos interleaved).
torch::Tensor sine_box_encoding(const torch::Tensor& boxes, int64_t dim);

struct DetrLayerOptions {
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t ffn_dim = 128;
  double dropout = 0.0;
  double attention_dropout = 0.0;
  Activation activation = Activation::kRelu;
};

// Post-norm encoder layer: x = LN(x + SA(x + pos, x + pos, x)); x = LN(x + FFN(x)).
// Names: self_attn.attention.{query,key,value}, self_attn.output.dense, self_attn_layer_norm,
// fc1, fc2, final_layer_norm.
struct DetrEncoderLayerImpl : torch::nn::Module {
  explicit DetrEncoderLayerImpl(const DetrLayerOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pos, const AttentionMask& mask,
                        Taps* taps, const LayerId& layer);
  // What follows the attention: the residual on x, both norms and the FFN, for an attention
  // output `attended` (already output-projected) — shared by KS-DETR's three branches.
  torch::Tensor tail(const torch::Tensor& x, const torch::Tensor& attended);
  Attention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr}, final_layer_norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  Activation activation;
};
TORCH_MODULE(DetrEncoderLayer);

// Post-norm decoder layer: self-attention among the queries (positional queries on q and k),
// cross-attention from the queries to the memory (memory positions on the keys), FFN.
// Names: self_attn.*, self_attn_layer_norm, encoder_attn.*, encoder_attn_layer_norm, fc1, fc2,
// final_layer_norm. Taps: (kDecoder, i) for the self-attention, (kCross, i) for the cross one.
struct DetrDecoderLayerImpl : torch::nn::Module {
  explicit DetrDecoderLayerImpl(const DetrLayerOptions& o);
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& query_pos,
                        const torch::Tensor& memory, const torch::Tensor& memory_pos,
                        const AttentionMask& memory_mask, Taps* taps, int64_t index);
  Attention self_attn{nullptr}, encoder_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr}, encoder_attn_layer_norm{nullptr},
      final_layer_norm{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  Activation activation;
};
TORCH_MODULE(DetrDecoderLayer);

// KS-DETR's teacher-only parameters in the last encoder layer (named "ks" under it): the
// foreground MLP (W_s, b_s) and the teacher projections W_qᵗ, W_kᵗ, W_vᵗ.
struct KsTeacherImpl : torch::nn::Module {
  explicit KsTeacherImpl(int64_t d_model);
  torch::nn::Linear foreground_mlp{nullptr}, query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(KsTeacher);

// The three per-head contexts of triple attention, [B, H, N, Dh] each, before the shared output
// projection: Z1 = A·V (the student), Z2 = Aᵗ·V (teacher 1: better weights, shared values),
// Z3 = A·Vᵗ (teacher 2: shared weights, better values), with
//   Xᵗ = (1 − M)·X + M·ReLU(W_s X + b_s),  A = softmax(q kᵀ/√d + mask) from the layer's own
//   projections of X + P, Aᵗ likewise from the teacher's projections of Xᵗ + P, V = W_v X,
//   Vᵗ = W_vᵗ Xᵗ.
// x, pos: [B, N, D]; foreground: [B, N] (1 = a foreground token).
struct TripleContexts {
  torch::Tensor student, teacher_weights, teacher_values;
};
TripleContexts triple_attention(AttentionImpl& attention, KsTeacherImpl& teacher,
                                const torch::Tensor& x, const torch::Tensor& pos,
                                const torch::Tensor& foreground, const AttentionMask& mask);

}  // namespace attnd
