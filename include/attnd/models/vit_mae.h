// Masked autoencoder (MAE, He et al. 2022) on the ViT backbone, parameter names as HF
// ViTMAEForPreTraining:
//   vit.embeddings.{cls_token, position_embeddings, patch_embeddings.projection.*}
//   vit.encoder.layer.N.*, vit.layernorm.*                      (exactly the ViT encoder's names)
//   decoder.{decoder_embed, mask_token, decoder_pos_embed, decoder_layers.N.*, decoder_norm,
//            decoder_pred}.*
// Position embeddings are fixed 2-D sin-cos tables (as in MAE and HF), stored but not trained.
// Pre-training: a random `mask_ratio` of the patches is dropped, the encoder sees the CLS token and
// the visible patches, the light decoder predicts the pixels of every patch; the loss is the MSE on
// the masked patches, with per-patch normalised targets when norm_pix_loss is set.
#pragma once

#include <nlohmann/json.hpp>

#include "attnd/models/vit.h"

namespace attnd {

struct VitMaeConfig {
  VitConfig encoder;  // the ViT keys (hidden_size, num_hidden_layers, patch_size, labels, ...)
  int64_t decoder_hidden_size = 512;
  int64_t decoder_num_hidden_layers = 8;
  int64_t decoder_num_attention_heads = 16;
  int64_t decoder_intermediate_size = 2048;
  double mask_ratio = 0.75;
  bool norm_pix_loss = false;

  static VitMaeConfig from_json(const nlohmann::json& config);
  nlohmann::json to_json() const;
  static std::vector<std::string> keys();
  // The decoder's blocks as a ViT config (decoder sizes, the encoder's norms and activation).
  VitConfig decoder_blocks() const;
};

// HF ViTMAEDecoder.
struct VitMaeDecoderImpl : torch::nn::Module {
  explicit VitMaeDecoderImpl(const VitMaeConfig& c);
  torch::nn::Linear decoder_embed{nullptr};
  torch::Tensor mask_token, decoder_pos_embed;
  torch::nn::ModuleList decoder_layers{nullptr};
  torch::nn::LayerNorm decoder_norm{nullptr};
  torch::nn::Linear decoder_pred{nullptr};
};
TORCH_MODULE(VitMaeDecoder);

struct MaeOutput {
  torch::Tensor loss;  // scalar: mean squared error over the masked patches
  torch::Tensor pred;  // [B, P, patch²·C] predicted pixels (normalised if norm_pix_loss)
  torch::Tensor mask;  // [B, P] float, 1 = masked (predicted), 0 = visible
};

class VitMaeModelImpl : public ModelImpl {
 public:
  explicit VitMaeModelImpl(const VitMaeConfig& config);

  static constexpr ModelTraits kTraits{TaskKind::kMaskedPatches, Modality::kImage, false};
  std::string model_type() const override { return "vit_mae"; }
  ModelTraits traits() const override { return kTraits; }
  PatchGrid patch_grid() const override;
  nlohmann::json base_config_json() const override { return config_.to_json(); }
  // reconstruct() for a fresh random mask drawn from the global torch RNG: logits = the predicted
  // pixels of every patch, [B, P, patch²·C] (HF ViTMAEForPreTraining's logits); extra "loss"
  // (scalar, the masked-patch MSE) and "mask" ([B, P], 1 = masked).
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  // The sin-cos position tables are fixed, never trained.
  bool is_fixed_parameter(const std::string& name) const override;
  // The encoder as a ViT classifier with a fresh head (vit_from_mae, this model's pooling).
  Model downstream_model(const LabelMap& labels) const override;
  // Masks, encodes, decodes and scores. `noise` [B, P] (optional) fixes the mask: the patches
  // with the smallest noise stay visible (as in MAE and HF).
  MaeOutput reconstruct(const torch::Tensor& pixel_values, Taps* taps = nullptr,
                        const torch::Tensor& noise = {});
  int64_t num_layers() const override { return config_.encoder.num_hidden_layers; }
  Attention attention(int64_t layer) override;

  const VitMaeConfig& config() const { return config_; }
  VitBackbone vit{nullptr};
  VitMaeDecoder decoder{nullptr};

 private:
  VitMaeConfig config_;
};

// [B, C, H, W] → [B, P, patch²·C] in MAE's order (row-major patches, then pixels, then channels).
torch::Tensor patchify(const torch::Tensor& pixel_values, int64_t patch_size);
// The 2-D sin-cos table of MAE: [1, grid² + 1, dim], row 0 (CLS) zero. dim must be a multiple of 4.
torch::Tensor sincos_position_table(int64_t dim, int64_t grid);

// The pre-trained encoder as a ViT classifier (weights shared by copy; a fresh, seeded head) with
// `labels` and `pooling`: the attention-transfer teacher and the start of MAE fine-tuning.
Model vit_from_mae(const VitMaeModelImpl& mae, const LabelMap& labels, const std::string& pooling);

}  // namespace attnd
