#include "attnd/models/detr.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/models/config_fields.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
const std::vector<ConfigField<DetrConfig>>& detr_fields() {
  using C = DetrConfig;
  static const std::vector<ConfigField<C>> fields = {
      positive_int_field("num_channels", &C::num_channels),
      positive_int_field("backbone_width", &C::backbone_width),
      positive_int_field("backbone_stages", &C::backbone_stages),
      positive_int_field("d_model", &C::d_model),
      positive_int_field("encoder_layers", &C::encoder_layers),
      positive_int_field("decoder_layers", &C::decoder_layers),
      positive_int_field("encoder_attention_heads", &C::encoder_attention_heads),
      positive_int_field("decoder_attention_heads", &C::decoder_attention_heads),
      positive_int_field("encoder_ffn_dim", &C::encoder_ffn_dim),
      positive_int_field("decoder_ffn_dim", &C::decoder_ffn_dim),
      dropout_field("dropout", &C::dropout),
      dropout_field("attention_dropout", &C::attention_dropout),
      activation_field("activation_function", &C::activation_function),
      positive_int_field("num_queries", &C::num_queries),
      bool_field("auxiliary_loss", &C::auxiliary_loss),
      double_field("class_cost", &C::class_cost),
      double_field("bbox_cost", &C::bbox_cost),
      double_field("giou_cost", &C::giou_cost),
      double_field("class_loss_coefficient", &C::class_loss_coefficient),
      double_field("bbox_loss_coefficient", &C::bbox_loss_coefficient),
      double_field("giou_loss_coefficient", &C::giou_loss_coefficient),
      double_field("eos_coefficient", &C::eos_coefficient),
      bool_field("use_focal_loss", &C::use_focal_loss),
      double_field("focal_alpha", &C::focal_alpha),
      bool_field("query_anchors", &C::query_anchors),
      bool_field("anchor_query_pos", &C::anchor_query_pos),
      bool_field("two_stage", &C::two_stage),
      bool_field("ks_triple_attention", &C::ks_triple_attention),
  };
  return fields;
}
}  // namespace

DetrConfig DetrConfig::from_json(const nlohmann::json& json) {
  ConfigReader r(json, "detr config");
  DetrConfig c;
  read_config_fields(r, detr_fields(), c);
  ATTND_CHECK_INPUT(c.num_channels == 1 || c.num_channels == 3,
                    "detr config: num_channels must be 1 or 3, got ", c.num_channels);
  ATTND_CHECK_INPUT(c.backbone_stages <= 6, "detr config: backbone_stages must be <= 6, got ",
                    c.backbone_stages);
  ATTND_CHECK_INPUT(c.d_model % 2 == 0 && c.d_model % c.encoder_attention_heads == 0 &&
                        c.d_model % c.decoder_attention_heads == 0,
                    "detr config: d_model (", c.d_model, ") must be even and a multiple of "
                    "encoder_attention_heads and decoder_attention_heads");
  for (double v : {c.class_cost, c.bbox_cost, c.giou_cost, c.class_loss_coefficient,
                   c.bbox_loss_coefficient, c.giou_loss_coefficient, c.eos_coefficient})
    ATTND_CHECK_INPUT(std::isfinite(v) && v >= 0, "detr config: matching costs and loss "
                      "coefficients must be finite and >= 0, got ", v);
  ATTND_CHECK_INPUT(!c.anchor_query_pos || c.query_anchors, "detr config: anchor_query_pos needs "
                    "query_anchors = true (the positional queries are computed from the anchors)");
  ATTND_CHECK_INPUT(!c.two_stage || c.anchor_query_pos, "detr config: two_stage needs "
                    "anchor_query_pos = true (the selected proposals are the queries' anchors)");
  ATTND_CHECK_INPUT(c.focal_alpha > 0 && c.focal_alpha < 1, "detr config: focal_alpha must be in "
                    "(0, 1), got ", c.focal_alpha);
  const double d = double(c.d_model), w = double(c.backbone_width);
  check_parameter_budget("detr config",
                         w * w * std::pow(4.0, double(c.backbone_stages)) * 18 +
                             double(c.encoder_layers + c.decoder_layers) *
                                 (8 * d * d + 2 * d * double(c.encoder_ffn_dim + c.decoder_ffn_dim)) +
                             d * double(c.num_queries));
  c.labels = LabelMap::from_json(r);
  return c;
}

nlohmann::json DetrConfig::to_json() const {
  nlohmann::json j;
  j["model_type"] = "detr";
  j["architectures"] = {"DetrForObjectDetection"};
  write_config_fields(detr_fields(), *this, j);
  labels.to_json(j);
  return j;
}

std::vector<std::string> DetrConfig::keys() {
  return with_config_field_keys(common_config_keys(), detr_fields());
}

// ---- modules --------------------------------------------------------------------------------------

DetrConvStageImpl::DetrConvStageImpl(int64_t in, int64_t out) {
  auto conv = [](int64_t i, int64_t o, int64_t stride) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, o, 3).stride(stride).padding(1).bias(false));
  };
  const int64_t groups = out % 8 == 0 ? 8 : 1;
  conv1 = register_module("conv1", conv(in, out, 2));
  norm1 = register_module("norm1", torch::nn::GroupNorm(groups, out));
  conv2 = register_module("conv2", conv(out, out, 1));
  norm2 = register_module("norm2", torch::nn::GroupNorm(groups, out));
}

torch::Tensor DetrConvStageImpl::forward(const torch::Tensor& x) {
  return torch::relu(norm2(conv2(torch::relu(norm1(conv1(x))))));
}

DetrMlpImpl::DetrMlpImpl(int64_t d, int64_t out, int64_t n, int64_t in) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i)
    layers->push_back(torch::nn::Linear(i == 0 && in > 0 ? in : d, i + 1 == n ? out : d));
}

torch::Tensor DetrMlpImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers[i]->as<torch::nn::Linear>()->forward(x);
    if (i + 1 < layers->size()) x = torch::relu(x);
  }
  return x;
}

DetrModelImpl::DetrModelImpl(const DetrConfig& c) : config_(c) {
  const int64_t d = c.d_model;
  auto backbone = register_module("backbone", std::make_shared<torch::nn::Module>());
  backbone_stages = backbone->register_module("stages", torch::nn::ModuleList());
  int64_t channels = c.num_channels;
  for (int64_t i = 0; i < c.backbone_stages; ++i) {
    const int64_t out = c.backbone_width << std::min<int64_t>(i, 3);
    backbone_stages->push_back(DetrConvStage(channels, out));
    channels = out;
  }
  input_projection = register_module("input_projection",
                                     torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, d, 1)));
  if (c.anchor_query_pos)
    query_pos_head = register_module("query_pos_head", DetrMlp(d, d, 2, 2 * d));
  else
    query_position_embeddings =
        register_parameter("query_position_embeddings", torch::randn({c.num_queries, d}));
  if (c.query_anchors && !c.two_stage) {
    // Anchors in inverse-sigmoid space: centres spread uniformly, sides 0.1 of the image.
    auto centres = torch::rand({c.num_queries, 2}).clamp(0.01, 0.99);
    auto sides = torch::full({c.num_queries, 2}, 0.1);
    auto boxes = torch::cat({centres, sides}, 1);
    query_anchors = register_parameter("query_anchors", torch::log(boxes / (1 - boxes)));
  }
  DetrLayerOptions enc{d, c.encoder_attention_heads, c.encoder_ffn_dim, c.dropout,
                       c.attention_dropout, parse_activation(c.activation_function, "activation_function")};
  DetrLayerOptions dec = enc;
  dec.heads = c.decoder_attention_heads;
  dec.ffn_dim = c.decoder_ffn_dim;
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  encoder_layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.encoder_layers; ++i) encoder_layers->push_back(DetrEncoderLayer(enc));
  if (c.ks_triple_attention)
    ks = encoder_layers[c.encoder_layers - 1]->register_module("ks", KsTeacher(d));
  auto decoder = register_module("decoder", std::make_shared<torch::nn::Module>());
  decoder_layers = decoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.decoder_layers; ++i) decoder_layers->push_back(DetrDecoderLayer(dec));
  decoder_layernorm = decoder->register_module(
      "layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)));
  class_labels_classifier =
      register_module("class_labels_classifier", torch::nn::Linear(d, c.labels.num_labels + 1));
  bbox_predictor = register_module("bbox_predictor", DetrMlp(d, 4, 3));
  if (c.two_stage) {
    enc_output = register_module("enc_output", torch::nn::Linear(d, d));
    enc_output_norm = register_module(
        "enc_output_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)));
    enc_class = register_module("enc_class", torch::nn::Linear(d, c.labels.num_labels + 1));
    enc_bbox = register_module("enc_bbox", DetrMlp(d, 4, 3));
  }
  torch::NoGradGuard no_grad;
  if (enc_bbox) {  // every token starts by proposing its own cell box
    auto l = enc_bbox->layers[2]->as<torch::nn::Linear>();
    l->weight.zero_();
    l->bias.zero_();
    if (c.use_focal_loss) enc_class->bias.fill_(-std::log((1 - 0.01) / 0.01));
  }
  // The last box layer starts at zero: every query starts at its anchor (or the image centre).
  auto last = bbox_predictor->layers[2]->as<torch::nn::Linear>();
  last->weight.zero_();
  last->bias.zero_();
  // Focal loss: class probabilities start at 0.01 so the many background queries do not swamp
  // the first steps (RetinaNet's prior).
  if (c.use_focal_loss) class_labels_classifier->bias.fill_(-std::log((1 - 0.01) / 0.01));
}

Attention DetrModelImpl::attention(int64_t layer) {
  ATTND_CHECK_INPUT(layer >= 0 && layer < config_.encoder_layers, "layer ", layer,
                    " out of range: the encoder has ", config_.encoder_layers, " layers");
  return encoder_layers[layer]->as<DetrEncoderLayer>()->self_attn;
}

DetrModelImpl::Encoded DetrModelImpl::embed(const ModelInput& input) {
  const auto& pixels = input.pixel_values;
  ATTND_CHECK_INPUT(pixels.defined() && pixels.dim() == 4 && pixels.size(1) == config_.num_channels,
                    "detr: pixel_values must be [B, ", config_.num_channels, ", H, W], got ",
                    pixels.defined() ? pixels.sizes() : c10::IntArrayRef{});
  auto f = pixels;
  for (size_t i = 0; i < backbone_stages->size(); ++i)
    f = backbone_stages[i]->as<DetrConvStage>()->forward(f);
  f = input_projection(f);
  Encoded e;
  e.rows = f.size(2);
  e.cols = f.size(3);
  e.tokens = f.flatten(2).transpose(1, 2);  // [B, h·w, D]
  torch::Tensor mask;
  if (input.pixel_mask.defined()) {
    // DETR: the pixel mask resized (nearest) to the feature map.
    mask = torch::nn::functional::interpolate(
               input.pixel_mask.to(torch::kFloat).unsqueeze(1),
               torch::nn::functional::InterpolateFuncOptions()
                   .size(std::vector<int64_t>{e.rows, e.cols})
                   .mode(torch::kNearest))
               .squeeze(1)
               .gt(0.5);
  } else {
    mask = torch::ones({f.size(0), e.rows, e.cols}, torch::dtype(torch::kBool).device(f.device()));
  }
  e.pos = sine_position_encoding(mask, config_.d_model).to(e.tokens.scalar_type());
  e.valid = mask.flatten(1);
  return e;
}

torch::Tensor DetrModelImpl::foreground_tokens(const torch::Tensor& foreground_mask, const Encoded& e) {
  auto m = torch::nn::functional::interpolate(
      foreground_mask.to(torch::kFloat).unsqueeze(1),
      torch::nn::functional::InterpolateFuncOptions()
          .size(std::vector<int64_t>{e.rows, e.cols})
          .mode(torch::kBilinear)
          .align_corners(true));
  return m.flatten(1).gt(0).logical_and(e.valid).to(torch::kFloat);
}

torch::Tensor DetrModelImpl::query_positions(const torch::Tensor& anchors, int64_t batch) {
  if (!query_pos_head) return query_position_embeddings.unsqueeze(0).expand({batch, -1, -1});
  auto pos = query_pos_head(sine_box_encoding(torch::sigmoid(anchors), config_.d_model));
  return pos.dim() == 2 ? pos.unsqueeze(0).expand({batch, -1, -1}) : pos;
}

torch::Tensor DetrModelImpl::propose(ModelOutput& out, const torch::Tensor& memory, const Encoded& e) {
  const int64_t b = memory.size(0), rows = e.rows, cols = e.cols;
  auto h = enc_output_norm(enc_output(memory));
  auto logits = enc_class(h);
  // Each token's cell: centre of its feature cell, sides of two cells, in canvas fractions.
  auto opts = memory.options();
  auto ys = (torch::arange(rows, opts) + 0.5) / double(rows);
  auto xs = (torch::arange(cols, opts) + 0.5) / double(cols);
  auto grid = torch::meshgrid({ys, xs}, "ij");
  auto cell = torch::stack({grid[1].flatten(), grid[0].flatten(),
                            torch::full({rows * cols}, 2.0 / double(cols), opts),
                            torch::full({rows * cols}, 2.0 / double(rows), opts)}, -1)
                  .clamp(1e-3, 1 - 1e-3);
  auto raw = enc_bbox(h) + torch::log(cell / (1 - cell)).unsqueeze(0);
  out.extra["enc.logits"] = logits;
  out.extra["enc.pred_boxes"] = torch::sigmoid(raw);
  // The best proposals by their best class score; padded tokens are never chosen.
  const int64_t classes = logits.size(-1) - 1;
  auto score = config_.use_focal_loss ? logits.narrow(-1, 0, classes).amax(-1)
                                      : logits.softmax(-1).narrow(-1, 0, classes).amax(-1);
  score = score.detach().masked_fill(e.valid.logical_not(), -1e9);
  const int64_t k = std::min<int64_t>(config_.num_queries, score.size(1));
  auto top = std::get<1>(score.topk(k, 1));
  auto anchors = raw.detach().gather(1, top.unsqueeze(-1).expand({b, k, 4}));
  if (k < config_.num_queries)  // a map smaller than the query count: the rest at the centre
    anchors = torch::cat({anchors, torch::zeros({b, config_.num_queries - k, 4}, opts)}, 1);
  return anchors;
}

std::vector<torch::Tensor> DetrModelImpl::decode(const torch::Tensor& memory, const Encoded& e,
                                                 const torch::Tensor& anchors, Taps* taps,
                                                 bool all_layers) {
  const int64_t b = memory.size(0);
  auto query_pos = query_positions(anchors, b);
  auto tgt = torch::zeros_like(query_pos);
  AttentionMask memory_mask;
  memory_mask.key_padding = e.valid;
  std::vector<torch::Tensor> outs;
  for (size_t i = 0; i < decoder_layers->size(); ++i) {
    tgt = decoder_layers[i]->as<DetrDecoderLayer>()->forward(tgt, query_pos, memory, e.pos,
                                                             memory_mask, taps, static_cast<int64_t>(i));
    if (all_layers || i + 1 == decoder_layers->size()) outs.push_back(decoder_layernorm(tgt));
  }
  return outs;
}

void DetrModelImpl::add_heads(ModelOutput& out, const std::string& prefix, const torch::Tensor& h,
                              const torch::Tensor& anchors) {
  auto logits = class_labels_classifier(h);
  auto raw = bbox_predictor(h);
  if (anchors.defined()) raw = raw + (anchors.dim() == 2 ? anchors.unsqueeze(0) : anchors);
  auto boxes = torch::sigmoid(raw);
  if (prefix.empty()) {
    out.logits = logits;
    out.extra["pred_boxes"] = boxes;
  } else {
    out.extra[prefix + "logits"] = logits;
    out.extra[prefix + "pred_boxes"] = boxes;
  }
}

ModelOutput DetrModelImpl::forward(const ModelInput& input, Taps* taps) {
  auto e = embed(input);
  AttentionMask mask;
  mask.key_padding = e.valid;
  auto x = e.tokens;
  const int64_t last = config_.encoder_layers - 1;
  for (int64_t i = 0; i < last; ++i)
    x = encoder_layers[i]->as<DetrEncoderLayer>()->forward(x, e.pos, mask, taps, i);
  auto layer = encoder_layers[last]->as<DetrEncoderLayer>();
  // KS-DETR: the teachers run only with annotations, in training or when asked for (to score
  // them); inference is the plain layer (the teachers' parameters are never read).
  const bool ks_branches = ks && input.foreground_mask.defined() &&
                           (is_training() || input.teacher_branches);
  ModelOutput out;
  const bool aux = is_training() && config_.auxiliary_loss;
  if (!ks_branches) {
    x = layer->forward(x, e.pos, mask, taps, last);
  } else {
    auto z = triple_attention(*layer->self_attn, *ks, x, e.pos,
                              foreground_tokens(input.foreground_mask, e), mask);
    auto memory_of = [&](const torch::Tensor& context) {
      return layer->tail(x, layer->self_attn->project_output(context));
    };
    auto t1 = memory_of(z.teacher_weights), t2 = memory_of(z.teacher_values);
    // Evaluation: the student through the plain layer, so that its outputs are bit for bit those
    // of an evaluation without teachers.
    if (is_training()) {
      x = memory_of(z.student);
      record_hidden(taps, last, x);
    } else {
      x = layer->forward(x, e.pos, mask, taps, last);
    }
    // Each teacher: the same decoder, queries (two-stage: the student's proposals) and heads,
    // supervised on their last layer only.
    auto anchors = enc_class ? propose(out, x, e) : query_anchors;
    add_heads(out, "teacher1.", decode(t1, e, anchors, nullptr, false).back(), anchors);
    add_heads(out, "teacher2.", decode(t2, e, anchors, nullptr, false).back(), anchors);
    finish(out, x, e, anchors, taps, aux);
    return out;
  }
  finish(out, x, e, enc_class ? propose(out, x, e) : query_anchors, taps, aux);
  return out;
}

void DetrModelImpl::finish(ModelOutput& out, const torch::Tensor& memory, const Encoded& e,
                           const torch::Tensor& anchors, Taps* taps, bool aux) {
  auto hs = decode(memory, e, anchors, taps, aux);
  add_heads(out, "", hs.back(), anchors);
  for (size_t i = 0; i + 1 < hs.size(); ++i)
    add_heads(out, "aux." + std::to_string(i) + ".", hs[i], anchors);
}

std::vector<std::string> DetrModelImpl::teacher_branches() const {
  if (!config_.ks_triple_attention) return {};
  return {"teacher1", "teacher2"};
}

std::shared_ptr<ModelImpl> DetrModelImpl::inference_model() const {
  if (!config_.ks_triple_attention) return nullptr;
  auto plain = config_;
  plain.ks_triple_attention = false;
  auto model = std::make_shared<DetrModelImpl>(plain);
  TensorMap kept;
  for (const auto& [name, t] : state())
    if (name.find(".ks.") == std::string::npos) kept[name] = t.detach().clone();
  model->load_state(kept, "the KS-DETR model without its teachers");
  model->to(class_labels_classifier->weight.device());
  model->train(is_training());
  return model;
}

}  // namespace attnd
