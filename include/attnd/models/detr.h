// DETR for object detection (Carion et al. 2020), small enough for a CPU: a CNN backbone, a 1×1
// input projection, the sine 2-D positional encoding, a post-norm transformer encoder and decoder
// (cross-attention from learned object queries to the encoder's memory), and per query a class
// head (num_labels + 1 with "no object" last) and a box head (cx, cy, w, h through a sigmoid,
// relative to the padded input). Optional: anchor boxes per query (DAB-DETR's box prior, the
// head predicting offsets in inverse-sigmoid space) and KS-DETR's triple attention in the last
// encoder layer (models/detr_layers.h), which runs only in training.
//
// Parameter names (HF DetrForObjectDetection's shape; the attention modules are attnd's, with
// ViT-style projection names):
//   backbone.stages.N.{conv1,norm1,conv2,norm2}.*, input_projection.*, query_position_embeddings
//   (or, with anchor_query_pos, query_pos_head.layers.{0,1}.*), [query_anchors], encoder.layers.N.*, [encoder.layers.<last>.ks.*], decoder.layers.N.*,
//   decoder.layernorm.*, class_labels_classifier.*, bbox_predictor.layers.{0,1,2}.*
//
// forward → logits [B, Q, C + 1] and extra "pred_boxes" [B, Q, 4] of the last decoder layer; in
// training also "aux.<i>.logits" / "aux.<i>.pred_boxes" for the earlier decoder layers
// (auxiliary_loss) and, with KS, "teacher1.*" (shared values, teacher weights) and "teacher2.*"
// (shared weights, teacher values): the last decoder layer run on each teacher's memory. With
// ModelInput::teacher_branches and a foreground mask, the teachers' outputs come in evaluation
// too (eval-mode layers, no aux outputs), the student's being exactly its plain evaluation.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/normalization.h>

#include <string>
#include <vector>

#include "attnd/models/blocks.h"
#include "attnd/models/detr_layers.h"
#include "attnd/models/model.h"

namespace attnd {

struct DetrConfig {
  int64_t num_channels = 1;
  int64_t backbone_width = 32;   // channels of the first stage, doubled at each next one
  int64_t backbone_stages = 4;   // each halves the resolution (stride 2^stages)
  int64_t d_model = 64;
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 2;
  int64_t encoder_attention_heads = 4;
  int64_t decoder_attention_heads = 4;
  int64_t encoder_ffn_dim = 128;
  int64_t decoder_ffn_dim = 128;
  double dropout = 0.0;
  double attention_dropout = 0.0;
  std::string activation_function = "relu";
  int64_t num_queries = 20;
  // The loss (HF DetrConfig's keys; read by train/detection_loss.h).
  bool auxiliary_loss = true;
  double class_cost = 1.0, bbox_cost = 5.0, giou_cost = 2.0;
  double class_loss_coefficient = 1.0, bbox_loss_coefficient = 5.0, giou_loss_coefficient = 2.0;
  double eos_coefficient = 0.1;  // weight of "no object" in the cross-entropy
  bool use_focal_loss = false;   // sigmoid focal loss over the C classes instead
  double focal_alpha = 0.25;
  bool query_anchors = false;        // a learned anchor box per query (box prior)
  // DAB-DETR's positional queries: MLP(sine(anchor)) instead of learned embeddings, so that
  // each query's cross-attention starts looking at its anchor (needs query_anchors).
  bool anchor_query_pos = false;
  // Two-stage (Deformable DETR / DINO's query selection): every encoder token proposes a box
  // (class and box heads on the memory, the box relative to the token's cell) under its own set
  // loss ("enc.*" outputs), and the decoder's anchors are the num_queries best proposals
  // (detached) instead of learned ones. Needs query_anchors and anchor_query_pos.
  bool two_stage = false;
  bool ks_triple_attention = false;  // KS-DETR's teachers in the last encoder layer (training)
  LabelMap labels;

  static DetrConfig from_json(const nlohmann::json& config);
  nlohmann::json to_json() const;
  static std::vector<std::string> keys();
  int64_t stride() const { return int64_t{1} << backbone_stages; }
};

// One backbone stage: conv 3×3 stride 2 → GroupNorm → ReLU → conv 3×3 → GroupNorm → ReLU.
// (GroupNorm, not BatchNorm: no running statistics outside the parameters.)
struct DetrConvStageImpl : torch::nn::Module {
  DetrConvStageImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(DetrConvStage);

// DETR's box head: Linear → ReLU → Linear → ReLU → Linear(4), named layers.{0,1,2}.
struct DetrMlpImpl : torch::nn::Module {
  DetrMlpImpl(int64_t d, int64_t out, int64_t layers, int64_t in = 0);  // in: 0 = d
  torch::Tensor forward(torch::Tensor x);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(DetrMlp);

class DetrModelImpl : public ModelImpl {
 public:
  explicit DetrModelImpl(const DetrConfig& config);

  static constexpr ModelTraits kTraits{TaskKind::kDetection, Modality::kImage, false};
  std::string model_type() const override { return "detr"; }
  ModelTraits traits() const override { return kTraits; }
  nlohmann::json base_config_json() const override { return config_.to_json(); }
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  int64_t num_layers() const override { return config_.encoder_layers; }
  Attention attention(int64_t layer) override;  // encoder self-attention
  std::shared_ptr<ModelImpl> inference_model() const override;
  std::vector<std::string> teacher_branches() const override;  // KS: teacher1, teacher2
  const DetrConfig& config() const { return config_; }

  // The memory [B, N, D], its positions and its key padding, of the encoder's input.
  struct Encoded {
    torch::Tensor tokens, pos, valid;  // valid: [B, N] bool
    int64_t rows = 0, cols = 0;
  };
  Encoded embed(const ModelInput& input);
  // The foreground tokens [B, N] of a pixel mask (bilinear, align_corners, > 0, never padding).
  static torch::Tensor foreground_tokens(const torch::Tensor& foreground_mask, const Encoded& e);

  torch::nn::ModuleList backbone_stages{nullptr};
  torch::nn::Conv2d input_projection{nullptr};
  torch::Tensor query_position_embeddings, query_anchors;
  torch::nn::ModuleList encoder_layers{nullptr}, decoder_layers{nullptr};
  torch::nn::LayerNorm decoder_layernorm{nullptr};
  torch::nn::Linear class_labels_classifier{nullptr};
  DetrMlp bbox_predictor{nullptr};
  DetrMlp query_pos_head{nullptr};  // anchor_query_pos: sine(anchor) [Q, 2D] → [Q, D]
  // two_stage: enc_output (Linear + LayerNorm) → enc_class / enc_bbox on every memory token.
  torch::nn::Linear enc_output{nullptr}, enc_class{nullptr};
  torch::nn::LayerNorm enc_output_norm{nullptr};
  DetrMlp enc_bbox{nullptr};
  KsTeacher ks{nullptr};  // registered under the last encoder layer as "ks"

 private:
  // The per-layer decoder outputs (after the decoder's final norm) for one memory.
  std::vector<torch::Tensor> decode(const torch::Tensor& memory, const Encoded& e,
                                    const torch::Tensor& anchors, Taps* taps, bool all_layers);
  // The positional queries [B, Q, D] of anchors [B, Q, 4] in inverse-sigmoid space (undefined:
  // the learned embeddings).
  torch::Tensor query_positions(const torch::Tensor& anchors, int64_t batch);
  // two_stage: adds "enc.logits" / "enc.pred_boxes" of every token to `out` and returns the
  // selected anchors [B, Q, 4] (inverse-sigmoid space, detached).
  torch::Tensor propose(ModelOutput& out, const torch::Tensor& memory, const Encoded& e);
  void add_heads(ModelOutput& out, const std::string& prefix, const torch::Tensor& h,
                 const torch::Tensor& anchors);
  // The student's decoder and heads: the main outputs and (aux) "aux.<i>.*".
  void finish(ModelOutput& out, const torch::Tensor& memory, const Encoded& e,
              const torch::Tensor& anchors, Taps* taps, bool aux);
  DetrConfig config_;
};

}  // namespace attnd
