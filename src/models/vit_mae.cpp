#include "attnd/models/vit_mae.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/models/config_fields.h"
#include "attnd/models/init.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
// The MAE's own plain keys, in reading order (the encoder's are VitConfig's).
const std::vector<ConfigField<VitMaeConfig>>& vit_mae_fields() {
  using C = VitMaeConfig;
  static const std::vector<ConfigField<C>> fields = {
      positive_int_field("decoder_hidden_size", &C::decoder_hidden_size),
      positive_int_field("decoder_num_hidden_layers", &C::decoder_num_hidden_layers),
      positive_int_field("decoder_num_attention_heads", &C::decoder_num_attention_heads),
      positive_int_field("decoder_intermediate_size", &C::decoder_intermediate_size),
      double_field("mask_ratio", &C::mask_ratio),  // in (0, 1): checked below
      bool_field("norm_pix_loss", &C::norm_pix_loss),
  };
  return fields;
}
}  // namespace

VitMaeConfig VitMaeConfig::from_json(const nlohmann::json& json) {
  VitMaeConfig c;
  // The encoder reads the same flat JSON: HF's ViTMAEConfig is a ViTConfig plus decoder keys.
  c.encoder = VitConfig::from_json(json);
  ConfigReader r(json, "vit_mae config");
  read_config_fields(r, vit_mae_fields(), c);
  // mask_ratio's open interval (its own message), then checks across fields.
  ATTND_CHECK_INPUT(c.mask_ratio > 0.0 && c.mask_ratio < 1.0,
                    "vit_mae config: mask_ratio must be in (0, 1), got ", c.mask_ratio);
  const double d = static_cast<double>(c.decoder_hidden_size);
  check_parameter_budget("vit_mae config",
                         static_cast<double>(c.decoder_num_hidden_layers) *
                             (4 * d * d + 2 * d * static_cast<double>(c.decoder_intermediate_size)));
  ATTND_CHECK_INPUT(c.decoder_hidden_size % c.decoder_num_attention_heads == 0,
                    "vit_mae config: decoder_hidden_size (", c.decoder_hidden_size,
                    ") must be a multiple of decoder_num_attention_heads (",
                    c.decoder_num_attention_heads, ")");
  ATTND_CHECK_INPUT(c.encoder.hidden_size % 4 == 0 && c.decoder_hidden_size % 4 == 0,
                    "vit_mae config: hidden_size and decoder_hidden_size must be multiples of 4 "
                    "(2-D sin-cos position tables), got ", c.encoder.hidden_size, " and ",
                    c.decoder_hidden_size);
  ATTND_CHECK_INPUT(c.encoder.image_size % c.encoder.patch_size == 0,
                    "vit_mae config: image_size (", c.encoder.image_size,
                    ") must be a multiple of patch_size (", c.encoder.patch_size, ")");
  return c;
}

nlohmann::json VitMaeConfig::to_json() const {
  auto j = encoder.to_json();
  j["model_type"] = "vit_mae";
  j["architectures"] = {"ViTMAEForPreTraining"};
  write_config_fields(vit_mae_fields(), *this, j);
  return j;
}

std::vector<std::string> VitMaeConfig::keys() {
  return with_config_field_keys(VitConfig::keys(), vit_mae_fields());
}

VitConfig VitMaeConfig::decoder_blocks() const {
  VitConfig d = encoder;
  d.hidden_size = decoder_hidden_size;
  d.num_hidden_layers = decoder_num_hidden_layers;
  d.num_attention_heads = decoder_num_attention_heads;
  d.intermediate_size = decoder_intermediate_size;
  return d;
}

// ---- helpers ---------------------------------------------------------------------------------------

torch::Tensor patchify(const torch::Tensor& px, int64_t p) {
  ATTND_CHECK(px.dim() == 4 && px.size(2) % p == 0 && px.size(3) % p == 0,
              "patchify needs [B, C, H, W] with H and W multiples of ", p, ", got ", px.sizes());
  const int64_t b = px.size(0), c = px.size(1), gh = px.size(2) / p, gw = px.size(3) / p;
  // [B, C, gh, p, gw, p] → [B, gh, gw, p, p, C]
  return px.reshape({b, c, gh, p, gw, p}).permute({0, 2, 4, 3, 5, 1}).reshape({b, gh * gw, p * p * c});
}

namespace {
torch::Tensor sincos_1d(int64_t dim, const torch::Tensor& positions) {
  auto omega = torch::arange(dim / 2, torch::kDouble) / static_cast<double>(dim / 2);
  omega = 1.0 / torch::pow(10000.0, omega);
  auto out = torch::outer(positions.to(torch::kDouble), omega);
  return torch::cat({torch::sin(out), torch::cos(out)}, 1);
}
}  // namespace

torch::Tensor sincos_position_table(int64_t dim, int64_t grid) {
  ATTND_CHECK(dim % 4 == 0, "sin-cos position tables need dim % 4 == 0, got ", dim);
  auto idx = torch::arange(grid * grid, torch::kLong);
  auto row = torch::div(idx, grid, "floor"), col = idx.remainder(grid);
  // MAE's order: the first half encodes the column (x), the second the row (y).
  auto table = torch::cat({sincos_1d(dim / 2, col), sincos_1d(dim / 2, row)}, 1);
  table = torch::cat({torch::zeros({1, dim}, torch::kDouble), table}, 0);
  return table.to(torch::kFloat).unsqueeze(0);
}

// ---- modules ---------------------------------------------------------------------------------------

VitMaeDecoderImpl::VitMaeDecoderImpl(const VitMaeConfig& c) {
  const auto d = c.decoder_hidden_size;
  const auto& e = c.encoder;
  decoder_embed = register_module("decoder_embed", torch::nn::Linear(e.hidden_size, d));
  mask_token = register_parameter("mask_token", torch::zeros({1, 1, d}));
  decoder_pos_embed = register_parameter(
      "decoder_pos_embed", sincos_position_table(d, e.image_size / e.patch_size), false);
  decoder_layers = register_module("decoder_layers", torch::nn::ModuleList());
  const auto blocks = c.decoder_blocks();
  for (int64_t i = 0; i < c.decoder_num_hidden_layers; ++i) decoder_layers->push_back(VitLayer(blocks));
  decoder_norm = register_module(
      "decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(e.layer_norm_eps)));
  decoder_pred = register_module(
      "decoder_pred", torch::nn::Linear(d, e.patch_size * e.patch_size * e.num_channels));
}

VitMaeModelImpl::VitMaeModelImpl(const VitMaeConfig& config) : config_(config) {
  vit = register_module("vit", VitBackbone(config.encoder));
  decoder = register_module("decoder", VitMaeDecoder(config));
  InitOptions init;
  init.initializer_range = config.encoder.initializer_range;
  init.truncated = true;
  init_weights(*this, init);
  torch::NoGradGuard no_grad;
  auto& pos = vit->embeddings->position_embeddings;
  pos.copy_(sincos_position_table(config.encoder.hidden_size,
                                  config.encoder.image_size / config.encoder.patch_size));
  pos.set_requires_grad(false);
  trunc_normal_(vit->embeddings->cls_token, 0.0, config.encoder.initializer_range);
  trunc_normal_(decoder->mask_token, 0.0, config.encoder.initializer_range);
}

Attention VitMaeModelImpl::attention(int64_t layer) {
  ATTND_CHECK_INPUT(layer >= 0 && layer < num_layers(), "vit_mae: layer ", layer,
                    " out of range (the encoder has ", num_layers(), " layers)");
  return vit->encoder->layer->ptr<VitLayerImpl>(layer)->attention;
}

MaeOutput VitMaeModelImpl::reconstruct(const torch::Tensor& pixel_values, Taps* taps,
                                       const torch::Tensor& noise_in) {
  const auto& e = config_.encoder;
  ATTND_CHECK_INPUT(pixel_values.dim() == 4 && pixel_values.size(1) == e.num_channels &&
                        pixel_values.size(2) == e.image_size && pixel_values.size(3) == e.image_size,
                    "vit_mae: pixel_values must be [B, ", e.num_channels, ", ", e.image_size, ", ",
                    e.image_size, "], got ", pixel_values.sizes());
  auto weight = vit->embeddings->patch_embeddings->projection->weight;
  auto px = pixel_values.to(weight.scalar_type());
  const int64_t b = px.size(0), p = e.num_patches(), d = e.hidden_size;
  const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(p * (1.0 - config_.mask_ratio)));

  // Random masking: per image, the `keep` patches with the smallest noise stay visible.
  auto noise = noise_in.defined() ? noise_in.to(px.device())
                                  : torch::rand({b, p}, px.options());
  ATTND_CHECK_INPUT(noise.sizes() == torch::IntArrayRef({b, p}), "vit_mae: noise must be [", b,
                    ", ", p, "], got ", noise.sizes());
  auto shuffle = noise.argsort(int64_t{1});
  auto restore = shuffle.argsort(int64_t{1});
  auto kept = shuffle.narrow(1, 0, keep);

  auto& emb = vit->embeddings;
  auto x = emb->patch_embeddings(px) + emb->position_embeddings.narrow(1, 1, p);
  x = x.gather(1, kept.unsqueeze(-1).expand({b, keep, d}));
  auto cls = (emb->cls_token + emb->position_embeddings.narrow(1, 0, 1)).expand({b, 1, d});
  auto h = emb->dropout(torch::cat({cls, x}, 1));
  for (int64_t l = 0; l < num_layers(); ++l) h = vit->encoder->layer->ptr<VitLayerImpl>(l)->forward(h, taps, l);
  h = vit->layernorm(h);

  // Decoder: visible tokens back in place, mask tokens elsewhere.
  auto y = decoder->decoder_embed(h);
  const int64_t dd = config_.decoder_hidden_size;
  auto tokens = torch::cat({y.narrow(1, 1, keep), decoder->mask_token.expand({b, p - keep, dd})}, 1);
  tokens = tokens.gather(1, restore.unsqueeze(-1).expand({b, p, dd}));
  y = torch::cat({y.narrow(1, 0, 1), tokens}, 1) + decoder->decoder_pos_embed;
  for (size_t l = 0; l < decoder->decoder_layers->size(); ++l)
    y = decoder->decoder_layers->ptr<VitLayerImpl>(l)->forward(y, nullptr, static_cast<int64_t>(l));
  auto pred = decoder->decoder_pred(decoder->decoder_norm(y)).narrow(1, 1, p);

  auto mask = torch::ones({b, p}, px.options());
  mask.narrow(1, 0, keep).zero_();
  mask = mask.gather(1, restore);

  auto target = patchify(px, e.patch_size);
  if (config_.norm_pix_loss) {
    auto mean = target.mean(-1, true);
    auto var = target.var(-1, /*unbiased=*/true, /*keepdim=*/true);
    target = (target - mean) / torch::sqrt(var + 1e-6);
  }
  auto per_patch = (pred - target).pow(2).mean(-1);
  MaeOutput out;
  out.loss = (per_patch * mask).sum() / mask.sum();
  out.pred = pred;
  out.mask = mask;
  return out;
}

ModelOutput VitMaeModelImpl::forward(const ModelInput& input, Taps* taps) {
  ATTND_CHECK_INPUT(input.pixel_values.defined(), "vit_mae: the input has no pixel_values");
  auto out = reconstruct(input.pixel_values, taps);
  return {out.pred, {{"loss", out.loss}, {"mask", out.mask}}};
}

PatchGrid VitMaeModelImpl::patch_grid() const {
  const int64_t side = config_.encoder.image_size / config_.encoder.patch_size;
  return {side, side};
}

bool VitMaeModelImpl::is_fixed_parameter(const std::string& name) const {
  return name == "vit.embeddings.position_embeddings" || name == "decoder.decoder_pos_embed";
}

Model VitMaeModelImpl::downstream_model(const LabelMap& labels) const {
  return vit_from_mae(*this, labels, config_.encoder.pooling);
}

Model vit_from_mae(const VitMaeModelImpl& mae, const LabelMap& labels, const std::string& pooling) {
  VitConfig c = mae.config().encoder;
  c.labels = labels;
  c.pooling = pooling;
  auto vit = std::make_shared<VitModelImpl>(c);
  auto source = mae.state();
  auto target = vit->state();
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : target) {
    if (name.rfind("vit.", 0) != 0) continue;  // the classifier stays freshly initialised
    auto it = source.find(name);
    ATTND_CHECK(it != source.end(), "vit_from_mae: the MAE model has no ", name);
    tensor.copy_(it->second);
  }
  return vit;
}

}  // namespace attnd
