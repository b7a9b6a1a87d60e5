// GPT-2 language model, parameter names as HF GPT2LMHeadModel:
//   transformer.{wte,wpe}.weight, transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
//   mlp.c_proj}.*, transformer.ln_f.*
// The LM head is tied to wte (logits = ln_f(h) · wteᵀ), so there is no lm_head parameter.
// c_attn/c_proj/c_fc are nn::Linear ([out, in]); HF files store Conv1D [in, out]: import_hf and
// export_hf transpose them.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include <string>

#include "attnd/models/blocks.h"
#include "attnd/models/model.h"

namespace attnd {

struct Gpt2Config {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  compat::optional<int64_t> n_inner;  // null → 4 * n_embd
  std::string activation_function = "gelu_new";
  double resid_pdrop = 0.1;
  double embd_pdrop = 0.1;
  double attn_pdrop = 0.1;
  double layer_norm_epsilon = 1e-5;
  double initializer_range = 0.02;
  // Ids of the vocabulary's begin/end-of-text token, or unset (written as null). Not HF's 50256
  // default: with attnd's own vocabularies that id cannot occur, and transformers' generate()
  // would wait for it. An id outside [0, vocab_size) in a config read is dropped (attnd wrote
  // 50256 whatever the vocabulary before; such files still load, and are written back fixed).
  compat::optional<int64_t> bos_token_id;
  compat::optional<int64_t> eos_token_id;
  LabelMap labels;  // unused by the LM; kept for HF round trips
  nlohmann::json attnd_extra = nlohmann::json::object();

  // Also accepts HF's aliases hidden_size, num_hidden_layers, num_attention_heads,
  // max_position_embeddings for n_embd, n_layer, n_head, n_positions.
  static Gpt2Config from_json(const nlohmann::json& config);
  nlohmann::json to_json() const;
  static std::vector<std::string> keys();
  int64_t inner() const { return n_inner ? *n_inner : 4 * n_embd; }
};

// HF GPT2Block (pre-LN).
struct Gpt2BlockImpl : torch::nn::Module {
  explicit Gpt2BlockImpl(const Gpt2Config& c);
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, Taps* taps,
                        const LayerId& layer);
  torch::nn::LayerNorm ln_1{nullptr};
  Attention attn{nullptr};
  torch::nn::LayerNorm ln_2{nullptr};
  Gpt2Mlp mlp{nullptr};
};
TORCH_MODULE(Gpt2Block);

// HF GPT2Model: wte, wpe, drop, h, ln_f.
struct Gpt2BackboneImpl : torch::nn::Module {
  explicit Gpt2BackboneImpl(const Gpt2Config& c);
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(Gpt2Backbone);

class Gpt2ModelImpl : public ModelImpl {
 public:
  // Builds and initialises (HF _init_weights, global torch RNG) a model.
  explicit Gpt2ModelImpl(const Gpt2Config& config);

  static constexpr ModelTraits kTraits{TaskKind::kLanguageModel, Modality::kText, true};
  std::string model_type() const override { return "gpt2"; }
  ModelTraits traits() const override { return kTraits; }
  nlohmann::json base_config_json() const override { return config_.to_json(); }
  // input_ids [B, N] (+ attention_mask) → LM logits [B, N, vocab_size]. Causal; padded keys
  // (attention_mask 0) are masked too. Positions are 0..N-1 regardless of padding (as HF).
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  // HF's last_hidden_state: ln_f of the last block's output, [B, N, n_embd].
  torch::Tensor encode(const ModelInput& input, Taps* taps = nullptr);
  torch::Tensor input_embeddings() override { return transformer->wte->weight; }
  int64_t num_layers() const override { return config_.n_layer; }
  Attention attention(int64_t layer) override;
  Gpt2Block block(int64_t layer);
  TensorMap import_hf(TensorMap tensors) const override;
  TensorMap export_hf(TensorMap tensors) const override;

  const Gpt2Config& config() const { return config_; }
  Gpt2Backbone transformer{nullptr};

 private:
  Gpt2Config config_;
};

}  // namespace attnd
