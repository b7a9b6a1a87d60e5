// LoRA adapters on the attention projections (Hu et al. 2021), for Hedgehog's stage 2 and any
// parameter-efficient finetune: W x + b  becomes  W x + b + scale · B A dropout(x), scale = α / r.
//
// Why the adapters live in the attention module (AttentionImpl) and not in the projections:
// the projections are plain nn::Linear registered under Hugging Face names (self.query,
// attention.value, output.dense, c_attn, c_proj...), and named_parameters() must stay equal to the
// HF state-dict keys; wrapping a Linear would rename its weight. GPT-2 also fuses q, k and v into
// one c_attn [3D, D], so "adapt q" means "add a delta to the first third of c_attn's output", which
// only the attention module (which already splits c_attn by thirds) can do.
//
// Parameter names: the adapters are a child "lora" of the attention module, one child per target
// ("q", "k", "v", "o" = the output projection), each holding A [r, D] and B [D, r]:
//   bert: bert.encoder.layer.N.attention.lora.{q,k,v,o}.{A,B}
//   vit:  vit.encoder.layer.N.attention.lora.{q,k,v,o}.{A,B}
//   gpt2: transformer.h.N.attn.lora.{q,k,v,o}.{A,B}
// No HF name contains ".lora.", so they cannot collide. A is Kaiming-uniform (a = √5, as PEFT),
// B is zero, so a freshly adapted model computes exactly what the base model computes.
//
// The whole-model operations (add_lora, merge_lora, apply_lora...) are in models/lora_model.h.
//
// Persistence: ModelImpl::config_json() writes "attnd.lora" = {rank, alpha, targets, dropout,
// layers} while adapters are present, and create_model re-adds them (apply_lora) before the
// weights load, so checkpoints saved mid-finetune load again. merge_lora() folds B A into the base
// weights and removes the adapters: the model is then a plain model under plain HF names.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace attnd {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;
  std::vector<std::string> targets = {"q", "v"};  // any of q, k, v, o
  double dropout = 0.0;                           // on the adapter's input (training only)

  double scale() const { return alpha / static_cast<double>(rank); }
};

// "q,v", "q, k, v, o", "all" (= q,k,v,o) → targets in the canonical order q, k, v, o. InputError
// naming an unknown target and the allowed ones, or for an empty list.
std::vector<std::string> parse_lora_targets(const std::string& list);
// InputError unless rank >= 1, alpha > 0, 0 <= dropout < 1 and targets are known and non-empty.
void check_lora_options(const LoraOptions& options);
// {"rank": 8, "alpha": 16, "targets": ["q","v"] or "q,v" or "all", "dropout": 0}; missing keys
// keep their defaults, unknown keys are rejected ("layers" is allowed and ignored: apply_lora
// reads it). Checked with check_lora_options.
LoraOptions lora_options_from_json(const nlohmann::json& json);
nlohmann::json to_json(const LoraOptions& options);  // {rank, alpha, targets, dropout}

// One adapter for a [out, in] projection: forward(x) = scale · dropout(x) Aᵀ Bᵀ.
struct LoraAdapterImpl : torch::nn::Module {
  LoraAdapterImpl(int64_t in, int64_t out, const LoraOptions& options,
                  const torch::TensorOptions& tensor_options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor delta_weight() const;  // scale · B A, [out, in]: what merging adds to W

  torch::Tensor A, B;  // [r, in], [out, r]
  double scale;
  torch::nn::Dropout dropout{nullptr};  // null when options.dropout == 0
};
TORCH_MODULE(LoraAdapter);

// The adapters of one attention module: children named after their targets. All four
// projections are [D, D] in every layout (GPT-2's q/k/v being thirds of c_attn).
struct LoraAdaptersImpl : torch::nn::Module {
  LoraAdaptersImpl(int64_t dim, const LoraOptions& options,
                   const torch::TensorOptions& tensor_options);
  // 0 q, 1 k, 2 v, 3 o; a null holder where that projection is not a target.
  const LoraAdapter& adapter(int which) const { return adapters_.at(which); }

  LoraOptions options;

 private:
  std::vector<LoraAdapter> adapters_;
};
TORCH_MODULE(LoraAdapters);

}  // namespace attnd
