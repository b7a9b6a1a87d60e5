#include "attnd/models/bert.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/models/config_fields.h"
#include "attnd/models/init.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
// Every plain key of config.json, in reading order.
const std::vector<ConfigField<BertConfig>>& bert_fields() {
  using C = BertConfig;
  static const std::vector<ConfigField<C>> fields = {
      positive_int_field("vocab_size", &C::vocab_size),
      positive_int_field("hidden_size", &C::hidden_size),
      positive_int_field("num_hidden_layers", &C::num_hidden_layers),
      positive_int_field("num_attention_heads", &C::num_attention_heads),
      positive_int_field("intermediate_size", &C::intermediate_size),
      activation_field("hidden_act", &C::hidden_act),
      dropout_field("hidden_dropout_prob", &C::hidden_dropout_prob),
      dropout_field("attention_probs_dropout_prob", &C::attention_probs_dropout_prob),
      positive_int_field("max_position_embeddings", &C::max_position_embeddings),
      positive_int_field("type_vocab_size", &C::type_vocab_size),
      double_field("initializer_range", &C::initializer_range),
      positive_double_field("layer_norm_eps", &C::layer_norm_eps),
      int_field("pad_token_id", &C::pad_token_id),  // range checked against vocab_size below
      optional_dropout_field("classifier_dropout", &C::classifier_dropout),
  };
  return fields;
}

// Keys HF configs carry that attnd accepts with one value only (not fields: nothing to store).
const char* const kFixedKeys[] = {"position_embedding_type", "is_decoder"};
}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& json) {
  ConfigReader r(json, "bert config");
  BertConfig c;
  read_config_fields(r, bert_fields(), c);
  // The checks a table row cannot express: a range that depends on another field, keys with one
  // accepted value, a divisibility.
  ATTND_CHECK_INPUT(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size,
                    "bert config: config key 'pad_token_id' must be in [0, vocab_size = ",
                    c.vocab_size, "), got ", c.pad_token_id);
  const auto position_type = r.get_string("position_embedding_type", "absolute");
  ATTND_CHECK_INPUT(position_type == "absolute",
                    "bert config: config key 'position_embedding_type' must be \"absolute\" (the "
                    "only kind attnd implements), got \"", position_type, "\"");
  ATTND_CHECK_INPUT(!r.get_bool("is_decoder", false),
                    "bert config: config key 'is_decoder' must be false (attnd's bert is an encoder)");
  ATTND_CHECK_INPUT(c.hidden_size % c.num_attention_heads == 0, "bert config: hidden_size (",
                    c.hidden_size, ") must be a multiple of num_attention_heads (",
                    c.num_attention_heads, ")");
  const double h = static_cast<double>(c.hidden_size);
  check_parameter_budget("bert config",
                         // Summed in double: int64 sizes near 2^63 would overflow.
                         h * (static_cast<double>(c.vocab_size) +
                              static_cast<double>(c.max_position_embeddings) +
                              static_cast<double>(c.type_vocab_size)) +
                             static_cast<double>(c.num_hidden_layers) *
                                 (4 * h * h + 2 * h * static_cast<double>(c.intermediate_size)));
  // Labels are three HF keys kept consistent; "attnd" is kept verbatim.
  check_common_config_keys(r);
  c.labels = LabelMap::from_json(r);
  c.attnd_extra = r.attnd();
  return c;
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json j;
  j["model_type"] = "bert";
  j["architectures"] = {"BertForSequenceClassification"};
  write_config_fields(bert_fields(), *this, j);
  j["position_embedding_type"] = "absolute";  // is_decoder is not written: HF's default is false
  labels.to_json(j);
  j["attnd"] = attnd_extra;
  return j;
}

std::vector<std::string> BertConfig::keys() {
  auto k = with_config_field_keys(common_config_keys(), bert_fields());
  k.insert(k.end(), std::begin(kFixedKeys), std::end(kFixedKeys));
  return k;
}

// ---- modules ---------------------------------------------------------------------------------------

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module(
      "word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)
                                                  .padding_idx(c.pad_token_id)));
  position_embeddings = register_module(
      "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module(
      "token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  dropout = register_module("dropout", torch::nn::Dropout(c.hidden_dropout_prob));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  const int64_t n = input_ids.size(1);
  auto positions = torch::arange(n, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  auto types = token_type_ids.defined() ? token_type_ids : torch::zeros_like(input_ids);
  auto h = word_embeddings(input_ids) + token_type_embeddings(types) + position_embeddings(positions);
  return dropout(LayerNorm(h));
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) {
  AttentionOptions ao;
  ao.hidden_size = c.hidden_size;
  ao.num_heads = c.num_attention_heads;
  ao.qkv_bias = true;
  ao.layout = AttentionLayout::kBert;
  ao.attention_dropout = c.attention_probs_dropout_prob;
  ao.output_dropout = c.hidden_dropout_prob;
  ao.layer_norm_eps = c.layer_norm_eps;
  attention = register_module("attention", Attention(ao));
  intermediate = register_module(
      "intermediate",
      Intermediate(c.hidden_size, c.intermediate_size, parse_activation(c.hidden_act, "hidden_act")));
  output = register_module("output", FeedForwardOutput(c.intermediate_size, c.hidden_size,
                                                       c.hidden_dropout_prob, true, c.layer_norm_eps));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const AttentionMask& mask, Taps* taps,
                                     const LayerId& layer) {
  auto h = attention->forward(x, mask, taps, layer);  // LayerNorm(x + attention) already
  return output(intermediate(h), h);
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& c) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(BertLayer(c));
}

BertPoolerImpl::BertPoolerImpl(int64_t hidden) {
  dense = register_module("dense", torch::nn::Linear(hidden, hidden));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& h) { return torch::tanh(dense(h.select(1, 0))); }

BertBackboneImpl::BertBackboneImpl(const BertConfig& c) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  encoder = register_module("encoder", BertEncoder(c));
  pooler = register_module("pooler", BertPooler(c.hidden_size));
}

// ---- model -----------------------------------------------------------------------------------------

BertModelImpl::BertModelImpl(const BertConfig& config) : config_(config) {
  bert = register_module("bert", BertBackbone(config));
  dropout = register_module(
      "dropout", torch::nn::Dropout(config.classifier_dropout ? *config.classifier_dropout
                                                              : config.hidden_dropout_prob));
  classifier = register_module("classifier",
                               torch::nn::Linear(config.hidden_size, config.labels.num_labels));
  InitOptions init;
  init.initializer_range = config.initializer_range;
  init_weights(*this, init);
}

BertLayer BertModelImpl::block(int64_t layer) {
  ATTND_CHECK_INPUT(layer >= 0 && layer < num_layers(), "bert: layer ", layer,
                    " out of range (the model has ", num_layers(), " layers)");
  return BertLayer(bert->encoder->layer->ptr<BertLayerImpl>(layer));
}

Attention BertModelImpl::attention(int64_t layer) { return block(layer)->attention; }

torch::Tensor BertModelImpl::encode(const ModelInput& input, Taps* taps) {
  check_token_ids(input.input_ids, config_.vocab_size, config_.max_position_embeddings, "bert");
  if (input.token_type_ids.defined()) {
    const auto& types = input.token_type_ids;
    ATTND_CHECK_INPUT(types.sizes() == input.input_ids.sizes() && types.scalar_type() == torch::kLong,
                      "bert: token_type_ids must be int64 ", input.input_ids.sizes(),
                      " like input_ids, got ", types.scalar_type(), " ", types.sizes());
    ATTND_CHECK_INPUT(!torch::logical_or(types < 0, types >= config_.type_vocab_size).any().item<bool>(),
                      "bert: token_type_ids must be in [0, ", config_.type_vocab_size, ")");
  }
  const auto mask = padding_mask(input.attention_mask, input.input_ids, /*causal=*/false);
  auto h = bert->embeddings(input.input_ids, input.token_type_ids);
  for (int64_t l = 0; l < num_layers(); ++l) {
    h = bert->encoder->layer->ptr<BertLayerImpl>(l)->forward(h, mask, taps, l);
    record_hidden(taps, l, h);
  }
  return h;
}

ModelOutput BertModelImpl::forward(const ModelInput& input, Taps* taps) {
  return {classifier(dropout(bert->pooler(encode(input, taps)))), {}};
}

torch::Tensor BertModelImpl::input_embeddings() { return bert->embeddings->word_embeddings->weight; }

torch::Tensor BertModelImpl::pooled_features(const ModelInput& input) {
  return bert->pooler(encode(input));
}

TensorMap BertModelImpl::import_hf(TensorMap tensors) const {
  tensors = rename_old_layer_norm(std::move(tensors));
  tensors = add_missing_prefix(std::move(tensors), "bert.", {"classifier.", "cls."});
  // Buffers HF may keep in the file, and BertForPreTraining's heads (MLM, NSP), which a sequence
  // classifier does not have (HF drops them too when loading a pre-trained file).
  return drop_names(std::move(tensors), {".position_ids", "embeddings.token_type_ids"}, {"cls."});
}

TensorMap BertModelImpl::export_hf(TensorMap tensors) const { return tensors; }

}  // namespace attnd
