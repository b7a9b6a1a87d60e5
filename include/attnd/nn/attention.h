// Multi-head attention with a pluggable mixer and taps.
//
// The projections are registered under the Hugging Face names of each model family, so that
// named_parameters() equals the HF state-dict keys:
//   kBert: self.{query,key,value}, output.{dense,LayerNorm}   (HF BertAttention)
//   kVit:  attention.{query,key,value}, output.dense          (HF ViTAttention)
//   kGpt2: c_attn (fused [q|k|v], stored as nn::Linear [3D, D]), c_proj   (HF GPT2Attention)
// The mixer is a child named "mixer"; swapping it never touches the projections.
// LoRA adapters (lora.h), when added, are a child named "lora"; they add their delta to the
// projections' outputs here and never rename the projections' weights.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "attnd/nn/lora.h"
#include "attnd/nn/mask.h"
#include "attnd/nn/mixer.h"
#include "attnd/nn/taps.h"

namespace attnd {

enum class AttentionLayout { kBert, kVit, kGpt2 };

struct AttentionOptions {
  int64_t hidden_size = 64;
  int64_t num_heads = 4;
  bool qkv_bias = true;
  AttentionLayout layout = AttentionLayout::kVit;
  double attention_dropout = 0.0;  // on the probabilities (softmax mixer)
  double output_dropout = 0.0;     // on the projected output
  double layer_norm_eps = 1e-12;   // kBert only: the LayerNorm inside BertSelfOutput
};

// Holds query/key/value under HF's names.
struct QkvProjectionsImpl : torch::nn::Module {
  QkvProjectionsImpl(int64_t dim, bool bias);
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(QkvProjections);

// Holds the output projection (and BERT's post-attention LayerNorm) under HF's names.
struct AttentionOutputImpl : torch::nn::Module {
  AttentionOutputImpl(int64_t dim, bool with_layer_norm, double eps);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: HF's name
};
TORCH_MODULE(AttentionOutput);

// The inputs of one attention call. Self-attention: key_value undefined (keys and values come
// from `query`). Cross-attention (a decoder's queries over an encoder's memory): key_value = the
// memory. Positional terms (DETR's sine or learned embeddings) are added to the inputs of the
// query and key projections only, never to the values' input, and they are optional.
struct AttentionInputs {
  torch::Tensor query;      // [B, Nq, D]
  torch::Tensor key_value;  // [B, Nk, D]; undefined = self-attention
  torch::Tensor query_pos;  // broadcastable to [B, Nq, D]; optional
  torch::Tensor key_pos;    // broadcastable to [B, Nk, D]; optional
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);

  // Self-attention, x: [B, N, D] → [B, N, D]. For kBert the result is LayerNorm(x + out) (HF's
  // BertAttention holds that residual and norm); for the pre-LN layouts it is the projected output
  // before the residual. `layer` addresses this layer in the taps (a plain number = the model's
  // first stack); taps may be null.
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, Taps* taps,
                        const LayerId& layer);
  // The general form: [B, Nq, D] queries over [B, Nk, D] keys/values → [B, Nq, D]. The mask's
  // key padding is over the Nk keys. kBert's residual is the query input (without query_pos).
  torch::Tensor forward(const AttentionInputs& inputs, const AttentionMask& mask, Taps* taps,
                        const LayerId& layer);

  // Per-head projections, [B, H, N, Dh].
  torch::Tensor queries(const torch::Tensor& x);
  torch::Tensor keys(const torch::Tensor& x);
  torch::Tensor values(const torch::Tensor& x);
  // Context [B, H, N, Dh] → merged, output-projected, dropped-out [B, N, D] (no residual).
  torch::Tensor project_output(const torch::Tensor& context);

  void set_mixer(Mixer mixer);
  const Mixer& mixer() const { return mixer_; }
  const AttentionOptions& options() const { return options_; }
  int64_t num_heads() const { return options_.num_heads; }
  int64_t head_dim() const { return options_.hidden_size / options_.num_heads; }

  // LoRA on q/k/v/o (see lora.h; the whole-model functions there call these). add_lora registers
  // the child "lora" (InputError if this layer already has one); merge_lora folds the adapters
  // into the projection weights and unregisters the child (no-op without adapters).
  void add_lora(const LoraOptions& options);
  void merge_lora();
  const LoraAdapters& lora() const { return lora_; }  // null holder without adapters

 private:
  torch::Tensor split_heads(const torch::Tensor& x) const;  // [B, N, D] → [B, H, N, Dh]
  torch::Tensor project(const torch::Tensor& x, int which);  // 0 q, 1 k, 2 v → [B, N, D]
  // Injected attention must be [B, H, Nq, Nk] for these inputs.
  void check_injected_attention(const torch::Tensor& given, int64_t batch, int64_t nq, int64_t nk,
                                const LayerId& layer) const;

  AttentionOptions options_;
  QkvProjections qkv_{nullptr};          // kBert ("self"), kVit ("attention")
  AttentionOutput output_{nullptr};      // kBert, kVit ("output")
  torch::nn::Linear c_attn_{nullptr};    // kGpt2
  torch::nn::Linear c_proj_{nullptr};    // kGpt2
  torch::nn::Dropout output_dropout_{nullptr};
  Mixer mixer_;
  LoraAdapters lora_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace attnd
