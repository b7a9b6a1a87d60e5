// ViT for image classification, parameter names as HF ViTForImageClassification:
//   vit.embeddings.{cls_token, position_embeddings, patch_embeddings.projection.*}
//   vit.encoder.layer.N.{attention.attention.{query,key,value}, attention.output.dense,
//                        intermediate.dense, output.dense, layernorm_before, layernorm_after}.*
//   vit.layernorm.*, classifier.*
// Pre-LN blocks; pooling "cls" (HF: classifier(layernorm(h)[:, 0])) or "mean" (attention-transfer
// paper: classifier(layernorm(mean of the patch tokens, CLS excluded))).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

#include <string>

#include "attnd/models/blocks.h"
#include "attnd/models/model.h"

namespace attnd {

struct VitConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.0;
  double attention_probs_dropout_prob = 0.0;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t num_channels = 3;
  bool qkv_bias = true;
  int64_t encoder_stride = 16;  // unused here (masked image modelling); kept for HF round trips
  LabelMap labels;
  std::string pooling = "cls";  // attnd.pooling: "cls" | "mean"
  nlohmann::json attnd_extra = nlohmann::json::object();  // other "attnd" keys, kept verbatim

  // HF config.json → config (HF defaults for missing keys; unknown keys ignored).
  static VitConfig from_json(const nlohmann::json& config);
  nlohmann::json to_json() const;
  static std::vector<std::string> keys();  // the keys from_json understands
  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

// HF ViTPatchEmbeddings: "projection" Conv2d(C, D, kernel = stride = patch).
struct VitPatchEmbeddingsImpl : torch::nn::Module {
  explicit VitPatchEmbeddingsImpl(const VitConfig& c);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // → [B, P, D]
  torch::nn::Conv2d projection{nullptr};
};
TORCH_MODULE(VitPatchEmbeddings);

// HF ViTEmbeddings: cls_token [1, 1, D], position_embeddings [1, P + 1, D], patch_embeddings.
struct VitEmbeddingsImpl : torch::nn::Module {
  explicit VitEmbeddingsImpl(const VitConfig& c);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // → [B, P + 1, D]
  torch::Tensor cls_token, position_embeddings;
  VitPatchEmbeddings patch_embeddings{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(VitEmbeddings);

// HF ViTLayer (pre-LN).
struct VitLayerImpl : torch::nn::Module {
  explicit VitLayerImpl(const VitConfig& c);
  torch::Tensor forward(const torch::Tensor& x, Taps* taps, const LayerId& layer);
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  FeedForwardOutput output{nullptr};
  torch::nn::LayerNorm layernorm_before{nullptr}, layernorm_after{nullptr};
};
TORCH_MODULE(VitLayer);

// HF ViTEncoder: "layer" list.
struct VitEncoderImpl : torch::nn::Module {
  explicit VitEncoderImpl(const VitConfig& c);
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(VitEncoder);

// HF ViTModel without pooler: embeddings, encoder, layernorm.
struct VitBackboneImpl : torch::nn::Module {
  explicit VitBackboneImpl(const VitConfig& c);
  VitEmbeddings embeddings{nullptr};
  VitEncoder encoder{nullptr};
  torch::nn::LayerNorm layernorm{nullptr};
};
TORCH_MODULE(VitBackbone);

class VitModelImpl : public ModelImpl {
 public:
  // Builds and initialises (HF _init_weights, global torch RNG) a model.
  explicit VitModelImpl(const VitConfig& config);

  static constexpr ModelTraits kTraits{TaskKind::kClassification, Modality::kImage, false};
  std::string model_type() const override { return "vit"; }
  ModelTraits traits() const override { return kTraits; }
  Pooling pooling() const override;
  PatchGrid patch_grid() const override;
  nlohmann::json base_config_json() const override { return config_.to_json(); }
  // pixel_values [B, C, H, W] → logits [B, num_labels].
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  // HF's last_hidden_state: vit.layernorm of the last block's output, [B, P + 1, D] (row 0 = CLS).
  torch::Tensor encode(const ModelInput& input, Taps* taps = nullptr);
  int64_t num_layers() const override { return config_.num_hidden_layers; }
  Attention attention(int64_t layer) override;
  VitLayer block(int64_t layer);
  TensorMap import_hf(TensorMap tensors) const override;
  TensorMap export_hf(TensorMap tensors) const override;

  const VitConfig& config() const { return config_; }
  VitBackbone vit{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  torch::Tensor trunk(const ModelInput& input, Taps* taps);  // last block's output, before layernorm
  VitConfig config_;
};

}  // namespace attnd
