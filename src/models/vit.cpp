#include "attnd/models/vit.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/models/config_fields.h"
#include "attnd/models/init.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
// Every plain key of config.json, in reading order.
const std::vector<ConfigField<VitConfig>>& vit_fields() {
  using C = VitConfig;
  static const std::vector<ConfigField<C>> fields = {
      positive_int_field("hidden_size", &C::hidden_size),
      positive_int_field("num_hidden_layers", &C::num_hidden_layers),
      positive_int_field("num_attention_heads", &C::num_attention_heads),
      positive_int_field("intermediate_size", &C::intermediate_size),
      activation_field("hidden_act", &C::hidden_act),
      dropout_field("hidden_dropout_prob", &C::hidden_dropout_prob),
      dropout_field("attention_probs_dropout_prob", &C::attention_probs_dropout_prob),
      double_field("initializer_range", &C::initializer_range),
      positive_double_field("layer_norm_eps", &C::layer_norm_eps),
      positive_int_field("image_size", &C::image_size),
      positive_int_field("patch_size", &C::patch_size),
      positive_int_field("num_channels", &C::num_channels),
      bool_field("qkv_bias", &C::qkv_bias),
      int_field("encoder_stride", &C::encoder_stride),
  };
  return fields;
}
}  // namespace

VitConfig VitConfig::from_json(const nlohmann::json& json) {
  ConfigReader r(json, "vit config");
  VitConfig c;
  read_config_fields(r, vit_fields(), c);
  // Checks across fields.
  ATTND_CHECK_INPUT(c.patch_size <= c.image_size, "vit config: patch_size (", c.patch_size,
                    ") must not exceed image_size (", c.image_size, ")");
  ATTND_CHECK_INPUT(c.hidden_size % c.num_attention_heads == 0, "vit config: hidden_size (",
                    c.hidden_size, ") must be a multiple of num_attention_heads (",
                    c.num_attention_heads, ")");
  const double h = static_cast<double>(c.hidden_size);
  const double patches = std::pow(static_cast<double>(c.image_size / c.patch_size), 2);
  check_parameter_budget(
      "vit config",
      h * (patches + static_cast<double>(c.num_channels) * std::pow(double(c.patch_size), 2)) +
          static_cast<double>(c.num_hidden_layers) *
              (4 * h * h + 2 * h * static_cast<double>(c.intermediate_size)));
  // Labels are three HF keys kept consistent; pooling is attnd's own key inside "attnd".
  check_common_config_keys(r);
  c.labels = LabelMap::from_json(r);
  c.attnd_extra = r.attnd();
  auto pooling = c.attnd_extra.find("pooling");
  if (pooling != c.attnd_extra.end()) {
    ATTND_CHECK_INPUT(pooling->is_string(), "vit config: config key 'attnd.pooling' must be a "
                      "string (\"cls\" or \"mean\"), got ", pooling->type_name());
    c.pooling = pooling->get<std::string>();
    ATTND_CHECK_INPUT(c.pooling == "cls" || c.pooling == "mean",
                      "vit config: config key 'attnd.pooling' must be \"cls\" or \"mean\", got \"",
                      c.pooling, "\"");
    c.attnd_extra.erase(pooling);
  }
  return c;
}

nlohmann::json VitConfig::to_json() const {
  nlohmann::json j;
  j["model_type"] = "vit";
  j["architectures"] = {"ViTForImageClassification"};
  write_config_fields(vit_fields(), *this, j);
  labels.to_json(j);
  nlohmann::json a = attnd_extra;
  a["pooling"] = pooling;
  j["attnd"] = a;
  return j;
}

std::vector<std::string> VitConfig::keys() {
  return with_config_field_keys(common_config_keys(), vit_fields());
}

// ---- modules ---------------------------------------------------------------------------------------

VitPatchEmbeddingsImpl::VitPatchEmbeddingsImpl(const VitConfig& c) {
  projection = register_module(
      "projection", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.num_channels, c.hidden_size,
                                                               c.patch_size)
                                          .stride(c.patch_size)));
}

torch::Tensor VitPatchEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  return projection(pixel_values).flatten(2).transpose(1, 2);
}

VitEmbeddingsImpl::VitEmbeddingsImpl(const VitConfig& c) {
  // Registration order = HF's named_parameters order (own parameters before children).
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, c.hidden_size}));
  position_embeddings =
      register_parameter("position_embeddings", torch::zeros({1, c.num_patches() + 1, c.hidden_size}));
  patch_embeddings = register_module("patch_embeddings", VitPatchEmbeddings(c));
  dropout = register_module("dropout", torch::nn::Dropout(c.hidden_dropout_prob));
}

torch::Tensor VitEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  auto patches = patch_embeddings(pixel_values);
  auto cls = cls_token.expand({patches.size(0), -1, -1});
  return dropout(torch::cat({cls, patches}, 1) + position_embeddings);
}

VitLayerImpl::VitLayerImpl(const VitConfig& c) {
  AttentionOptions ao;
  ao.hidden_size = c.hidden_size;
  ao.num_heads = c.num_attention_heads;
  ao.qkv_bias = c.qkv_bias;
  ao.layout = AttentionLayout::kVit;
  ao.attention_dropout = c.attention_probs_dropout_prob;
  ao.output_dropout = c.hidden_dropout_prob;
  const auto act = parse_activation(c.hidden_act, "hidden_act");
  auto ln = torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
  attention = register_module("attention", Attention(ao));
  intermediate = register_module("intermediate", Intermediate(c.hidden_size, c.intermediate_size, act));
  output = register_module("output", FeedForwardOutput(c.intermediate_size, c.hidden_size,
                                                       c.hidden_dropout_prob, false, 0.0));
  layernorm_before = register_module("layernorm_before", torch::nn::LayerNorm(ln));
  layernorm_after = register_module("layernorm_after", torch::nn::LayerNorm(ln));
}

torch::Tensor VitLayerImpl::forward(const torch::Tensor& x, Taps* taps, const LayerId& layer) {
  auto h = attention->forward(layernorm_before(x), AttentionMask{}, taps, layer) + x;
  return output(intermediate(layernorm_after(h)), h);
}

VitEncoderImpl::VitEncoderImpl(const VitConfig& c) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(VitLayer(c));
}

VitBackboneImpl::VitBackboneImpl(const VitConfig& c) {
  embeddings = register_module("embeddings", VitEmbeddings(c));
  encoder = register_module("encoder", VitEncoder(c));
  layernorm = register_module(
      "layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

// ---- model -----------------------------------------------------------------------------------------

VitModelImpl::VitModelImpl(const VitConfig& config) : config_(config) {
  vit = register_module("vit", VitBackbone(config));
  classifier = register_module("classifier", torch::nn::Linear(config.hidden_size,
                                                               config.labels.num_labels));
  InitOptions init;
  init.initializer_range = config.initializer_range;
  init.truncated = true;
  init_weights(*this, init);
  trunc_normal_(vit->embeddings->cls_token, 0.0, config.initializer_range);
  trunc_normal_(vit->embeddings->position_embeddings, 0.0, config.initializer_range);
}

VitLayer VitModelImpl::block(int64_t layer) {
  ATTND_CHECK_INPUT(layer >= 0 && layer < num_layers(), "vit: layer ", layer,
                    " out of range (the model has ", num_layers(), " layers)");
  return VitLayer(vit->encoder->layer->ptr<VitLayerImpl>(layer));
}

Attention VitModelImpl::attention(int64_t layer) { return block(layer)->attention; }

torch::Tensor VitModelImpl::trunk(const ModelInput& input, Taps* taps) {
  const auto& px = input.pixel_values;
  ATTND_CHECK_INPUT(px.defined(), "vit: the input has no pixel_values");
  ATTND_CHECK_INPUT(px.dim() == 4 && px.size(1) == config_.num_channels &&
                        px.size(2) == config_.image_size && px.size(3) == config_.image_size,
                    "vit: pixel_values must be [B, ", config_.num_channels, ", ",
                    config_.image_size, ", ", config_.image_size, "], got ", px.sizes());
  auto weight = vit->embeddings->patch_embeddings->projection->weight;
  auto h = vit->embeddings(px.to(weight.scalar_type()));
  for (int64_t l = 0; l < num_layers(); ++l) {
    h = vit->encoder->layer->ptr<VitLayerImpl>(l)->forward(h, taps, l);
    record_hidden(taps, l, h);
  }
  return h;
}

torch::Tensor VitModelImpl::encode(const ModelInput& input, Taps* taps) {
  return vit->layernorm(trunk(input, taps));
}

ModelOutput VitModelImpl::forward(const ModelInput& input, Taps* taps) {
  auto h = trunk(input, taps);
  auto pooled = pooling() == Pooling::kMean ? h.narrow(1, 1, h.size(1) - 1).mean(1)
                                            : h.select(1, 0);
  // LayerNorm is per token, so normalising the pooled row equals pooling the normalised rows for
  // "cls" (HF's order) and is the paper's order for "mean".
  return {classifier(vit->layernorm(pooled)), {}};
}

Pooling VitModelImpl::pooling() const {
  return config_.pooling == "mean" ? Pooling::kMean : Pooling::kCls;
}

PatchGrid VitModelImpl::patch_grid() const {
  const int64_t side = config_.image_size / config_.patch_size;
  return {side, side};
}

TensorMap VitModelImpl::import_hf(TensorMap tensors) const {
  tensors = rename_old_layer_norm(std::move(tensors));
  // A base ViTModel file has no "vit." prefix and may carry the pooler that
  // ViTForImageClassification does not have (HF ignores it too).
  tensors = add_missing_prefix(std::move(tensors), "vit.", {"classifier."});
  return drop_names(std::move(tensors), {}, {"vit.pooler."});
}

TensorMap VitModelImpl::export_hf(TensorMap tensors) const { return tensors; }

}  // namespace attnd
