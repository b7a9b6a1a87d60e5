// The interface every attnd model implements, and the registry that creates them by name.
//
// Parameter names equal the Hugging Face names of the same model (task-model layout, e.g.
// "vit.encoder.layer.0.attention.attention.query.weight"), so a checkpoint's model.safetensors is
// a file HF can read and an HF file is one attnd can read (through import_hf / export_hf).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "attnd/core/tensor_map.h"
#include "attnd/nn/attention.h"
#include "attnd/nn/taps.h"

namespace attnd {

// Inputs of any model; each model reads the fields it needs and rejects a missing one.
struct ModelInput {
  torch::Tensor pixel_values;    // [B, C, H, W] float (vit)
  torch::Tensor input_ids;       // [B, N] long (bert, gpt2)
  torch::Tensor attention_mask;  // [B, N], 1 = real token, 0 = padding (optional)
  torch::Tensor token_type_ids;  // [B, N] long (bert, optional)

  ModelInput to(const torch::Device& device) const;
  int64_t batch_size() const;
};

class ModelImpl : public torch::nn::Module {
 public:
  // "vit", "bert", "gpt2": HF's model_type.
  virtual std::string model_type() const = 0;
  // The HF config.json of this model (model_type, sizes, id2label...) plus attnd's own keys under
  // "attnd" (e.g. pooling): base_config_json() with "attnd.mixers" set to the spec of every layer
  // whose mixer is not plain softmax ({"<layer>": spec}), which create_model applies again.
  nlohmann::json config_json() const;

  // Classification logits [B, num_labels] (vit, bert) or LM logits [B, N, vocab] (gpt2).
  virtual torch::Tensor forward(const ModelInput& input, Taps* taps = nullptr) = 0;

  virtual int64_t num_layers() const = 0;
  virtual Attention attention(int64_t layer) = 0;
  int64_t num_heads() { return attention(0)->num_heads(); }

  // Maps tensors read from an HF file to this model's names: adds a missing task prefix, renames
  // LayerNorm.gamma/beta, transposes GPT-2 Conv1D weights, re-ties tied weights, drops buffers HF
  // keeps in the file (attn.bias, position_ids). The default is the identity.
  virtual TensorMap import_hf(TensorMap tensors) const { return tensors; }
  // The inverse, for writing a file HF can read (omits tied weights, transposes Conv1D back).
  virtual TensorMap export_hf(TensorMap tensors) const { return tensors; }

  // Every parameter by name (a copy of the map, tensors shared).
  TensorMap state() const;
  // Loads `tensors` (this model's names) into the parameters. Every parameter must be present with
  // the right shape and no name may be left over; InputError names the first offender otherwise.
  void load_state(const TensorMap& tensors, const std::string& source);

 protected:
  // The model's own config (what its Config struct writes), without the mixers.
  virtual nlohmann::json base_config_json() const = 0;
};
using Model = std::shared_ptr<ModelImpl>;

// Creates a model from an HF config.json (plus attnd keys) by its "model_type". Unknown model
// types and missing or wrong-typed required keys raise InputError naming the key.
Model create_model(const nlohmann::json& config);
std::vector<std::string> registered_model_types();

}  // namespace attnd
