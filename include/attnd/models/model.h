// The interface every attnd model implements, and the registry that creates them by name.
//
// Parameter names equal the Hugging Face names of the same model (task-model layout, e.g.
// "vit.encoder.layer.0.attention.attention.query.weight"), so a checkpoint's model.safetensors is
// a file HF can read and an HF file is one attnd can read (through import_hf / export_hf).
//
// What a model *is* — its task, its modality, whether it is causal — is data (ModelTraits), not
// its name: the engine (losses, evaluation, masks, data checks) asks the traits, so a new model
// family is one file plus one registry line, with no string comparison elsewhere.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "attnd/core/model_input.h"
#include "attnd/core/tensor_map.h"
#include "attnd/nn/attention.h"
#include "attnd/nn/mask.h"
#include "attnd/nn/taps.h"

namespace attnd {

struct LabelMap;  // models/blocks.h

// What a model's outputs mean, which picks its loss, evaluation and selection metric
// (train/task_kinds.h).
enum class TaskKind {
  kClassification,  // logits [B, num_labels] against labels [B]
  kLanguageModel,   // logits [B, N, vocab], position t predicts label t+1
  kMaskedPatches,   // masked-image modelling: the model scores its own reconstruction ("loss")
  kDetection,       // class logits [B, Q, C + 1] ("no object" last) and extra "pred_boxes"
                    // [B, Q, 4] (cx, cy, w, h in [0, 1] of the padded input) per query, against
                    // ragged targets; training outputs "aux.<i>." / "teacher<k>." groups of both
};
// Which ModelInput fields a model reads.
enum class Modality { kImage, kText };
// How a classifier turns its token states into one vector.
enum class Pooling { kNone, kCls, kMean };

std::string to_string(TaskKind kind);
std::string to_string(Modality modality);
std::string to_string(Pooling pooling);

// Fixed per model family: registry.cpp lists each family's traits next to its constructor.
struct ModelTraits {
  TaskKind task = TaskKind::kClassification;
  Modality modality = Modality::kImage;
  bool causal = false;  // every attention layer is causal (a decoder-only LM)
};

// What forward returns: the main logits plus named extra outputs (a detector's "pred_boxes", a
// masked autoencoder's "loss" and "mask", per-branch outputs such as "teacher.logits").
struct ModelOutput {
  torch::Tensor logits;
  TensorMap extra;

  bool has(const std::string& name) const { return extra.count(name) > 0; }
  // attnd::Error naming the output and the ones present when it is missing.
  const torch::Tensor& at(const std::string& name) const;
};

// Rows × columns of an image model's patch tokens (after its leading CLS token); 0 × 0 otherwise.
struct PatchGrid {
  int64_t rows = 0, cols = 0;
  bool empty() const { return rows == 0 || cols == 0; }
};

class ModelImpl : public torch::nn::Module {
 public:
  // "vit", "bert", "gpt2", "vit_mae": HF's model_type. For messages and config.json only — the
  // engine decides by traits(), never by this name.
  virtual std::string model_type() const = 0;
  virtual ModelTraits traits() const = 0;
  TaskKind task_kind() const { return traits().task; }
  Modality modality() const { return traits().modality; }
  bool is_causal() const { return traits().causal; }
  // Classifiers: how token states are pooled; kNone for other models.
  virtual Pooling pooling() const { return Pooling::kNone; }
  // Image models: the patch grid of the token sequence (for heatmaps over the image).
  virtual PatchGrid patch_grid() const { return {}; }
  // The mask the model's own attention applies for `input`: its key padding (input.attention_mask)
  // and causality. Losses over attention rows mask the same positions.
  virtual AttentionMask attention_mask(const ModelInput& input) const;

  // The HF config.json of this model (model_type, sizes, id2label...) plus attnd's own keys under
  // "attnd" (e.g. pooling): base_config_json() with "attnd.mixers" set to the spec of every layer
  // whose mixer is not plain softmax ({"<layer>": spec}), which create_model applies again.
  nlohmann::json config_json() const;

  // logits: class logits [B, num_labels] (classifiers), LM logits [B, N, vocab] (language
  // models), predicted pixels per patch (masked autoencoders); extra outputs as the model's
  // header documents.
  virtual ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) = 0;

  // Text models: the input token-embedding table [vocab, hidden] — the parameter itself, so that
  // single rows can be trained (embedding poisoning) or inspected. Undefined for other models.
  virtual torch::Tensor input_embeddings() { return {}; }
  // Classifiers: the vector their head reads, [B, D] (BERT's pooler output), for pictures of
  // what a model represents. InputError for models that have none.
  virtual torch::Tensor pooled_features(const ModelInput& input);

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
  // Loads `tensors` (this model's names) into the parameters and the stored buffers
  // (models/checkpoint_state.h). Every parameter must be present with the right shape and no name
  // may be left over; InputError names the first offender otherwise.
  void load_state(const TensorMap& tensors, const std::string& source);

  // Parameters that are fixed by construction and never trained (e.g. MAE's sin-cos position
  // tables): unfreezing a model leaves them frozen. Names as in named_parameters().
  virtual bool is_fixed_parameter(const std::string& /*name*/) const { return false; }
  // Pre-training models: the model fine-tuning starts from, with `labels` and a fresh head drawn
  // from the global torch RNG (MAE: its encoder as a ViT classifier). Null for other models.
  virtual std::shared_ptr<ModelImpl> downstream_model(const LabelMap& /*labels*/) const {
    return nullptr;
  }
  // Models with parts used only in training (KS-DETR's teacher attentions): the same model without
  // them, sharing nothing — its parameters are exactly those of the plain model. Null for others.
  virtual std::shared_ptr<ModelImpl> inference_model() const { return nullptr; }
  // The names of those training-only branches that produce outputs of their own ("teacher1",
  // "teacher2" for KS-DETR: "<name>.logits", ...), which ModelInput::teacher_branches also runs
  // in evaluation. Empty for other models.
  virtual std::vector<std::string> teacher_branches() const { return {}; }

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
