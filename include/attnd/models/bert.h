// BERT for sequence classification, parameter names as HF BertForSequenceClassification:
//   bert.embeddings.{word,position,token_type}_embeddings.weight, bert.embeddings.LayerNorm.*
//   bert.encoder.layer.N.{attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
//                         intermediate.dense, output.{dense,LayerNorm}}.*
//   bert.pooler.dense.*, classifier.*
// Post-LN blocks; logits = classifier(dropout(tanh(pooler.dense(h[:, 0])))).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include <string>

#include "attnd/models/blocks.h"
#include "attnd/models/model.h"

namespace attnd {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  compat::optional<double> classifier_dropout;  // null → hidden_dropout_prob
  LabelMap labels;
  nlohmann::json attnd_extra = nlohmann::json::object();  // "attnd" keys, kept verbatim

  static BertConfig from_json(const nlohmann::json& config);
  nlohmann::json to_json() const;
  static std::vector<std::string> keys();
};

// HF BertEmbeddings.
struct BertEmbeddingsImpl : torch::nn::Module {
  explicit BertEmbeddingsImpl(const BertConfig& c);
  // input_ids [B, N], token_type_ids [B, N] or undefined (zeros) → [B, N, D].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr},
      token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: HF's name
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

// HF BertLayer (post-LN).
struct BertLayerImpl : torch::nn::Module {
  explicit BertLayerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& mask, Taps* taps,
                        const LayerId& layer);
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  FeedForwardOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

struct BertEncoderImpl : torch::nn::Module {
  explicit BertEncoderImpl(const BertConfig& c);
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertEncoder);

// HF BertPooler: "dense" + tanh on token 0.
struct BertPoolerImpl : torch::nn::Module {
  explicit BertPoolerImpl(int64_t hidden);
  torch::Tensor forward(const torch::Tensor& h);
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

// HF BertModel: embeddings, encoder, pooler.
struct BertBackboneImpl : torch::nn::Module {
  explicit BertBackboneImpl(const BertConfig& c);
  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};
};
TORCH_MODULE(BertBackbone);

class BertModelImpl : public ModelImpl {
 public:
  // Builds and initialises (HF _init_weights, global torch RNG) a model.
  explicit BertModelImpl(const BertConfig& config);

  static constexpr ModelTraits kTraits{TaskKind::kClassification, Modality::kText, false};
  std::string model_type() const override { return "bert"; }
  ModelTraits traits() const override { return kTraits; }
  Pooling pooling() const override { return Pooling::kCls; }  // HF's pooler: tanh(dense(h[:, 0]))
  nlohmann::json base_config_json() const override { return config_.to_json(); }
  // input_ids [B, N] (+ attention_mask, token_type_ids) → logits [B, num_labels].
  ModelOutput forward(const ModelInput& input, Taps* taps = nullptr) override;
  // The last layer's output [B, N, D] (HF last_hidden_state).
  torch::Tensor encode(const ModelInput& input, Taps* taps = nullptr);
  torch::Tensor input_embeddings() override;
  torch::Tensor pooled_features(const ModelInput& input) override;  // HF pooler_output
  int64_t num_layers() const override { return config_.num_hidden_layers; }
  Attention attention(int64_t layer) override;
  BertLayer block(int64_t layer);
  TensorMap import_hf(TensorMap tensors) const override;
  TensorMap export_hf(TensorMap tensors) const override;

  const BertConfig& config() const { return config_; }
  BertBackbone bert{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  BertConfig config_;
};

}  // namespace attnd
