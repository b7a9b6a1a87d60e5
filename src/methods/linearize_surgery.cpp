#include "attnd/methods/linearize_surgery.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/nn/linear_attention.h"
#include "attnd/nn/linear_mixer.h"
#include "attnd/nn/mixer.h"

namespace attnd {

void linearize(ModelImpl& model, const LinearizeSpec& spec) {
  ATTND_CHECK_INPUT(spec.mixer == "linear" || spec.mixer == "hybrid", "linearize.mixer = '",
                    spec.mixer, "' (expected linear or hybrid)");
  std::vector<int64_t> layers = spec.layers;
  if (layers.empty())
    for (int64_t l = 0; l < model.num_layers(); ++l) layers.push_back(l);
  for (auto l : layers) {
    ATTND_CHECK_INPUT(l >= 0 && l < model.num_layers(), "linearize: layer ", l,
                      " out of range (the model has ", model.num_layers(), " layers)");
    auto attention = model.attention(l);
    nlohmann::json mixer = {{"kind", spec.mixer},
                            {"feature_map", spec.feature_map},
                            {"num_heads", attention->num_heads()},
                            {"head_dim", attention->head_dim()},
                            {"feature_dim", spec.feature_dim},
                            {"seed", spec.seed + static_cast<uint64_t>(l)}};
    if (spec.mixer == "hybrid") mixer["window"] = spec.window;
    auto made = make_mixer(mixer);
    auto params = attention->parameters();
    if (!params.empty()) made->to(params.front().device());
    attention->set_mixer(made);
  }
}

static bool under_mixer(const std::string& name) {
  return name.find(".mixer.") != std::string::npos || name.rfind("mixer.", 0) == 0;
}

int64_t freeze_all_but_mixers(ModelImpl& model) {
  int64_t trainable = 0;
  for (auto& p : model.named_parameters(true)) {
    const bool keep = under_mixer(p.key());
    p.value().set_requires_grad(keep);
    trainable += keep ? p.value().numel() : 0;
  }
  return trainable;
}

void unfreeze_all(ModelImpl& model) {
  for (auto& p : model.named_parameters(true)) {
    // Fixed tables (MAE position tables; Performer's Ω is a buffer) stay as they were made.
    if (model.is_fixed_parameter(p.key())) continue;
    p.value().set_requires_grad(true);
  }
}

int64_t mixer_parameter_count(ModelImpl& model) {
  int64_t count = 0;
  for (const auto& p : model.named_parameters(true))
    if (under_mixer(p.key())) count += p.value().numel();
  return count;
}

std::vector<int64_t> linearized_layers(ModelImpl& model) {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < model.num_layers(); ++l)
    if (model.attention(l)->mixer()->kind() != "softmax") out.push_back(l);
  return out;
}

torch::Tensor student_attention_weights(ModelImpl& student, int64_t layer, const torch::Tensor& q,
                                        const torch::Tensor& k, const AttentionMask& mask) {
  const auto& mixer = student.attention(layer)->mixer();
  if (auto* linear = dynamic_cast<LinearMixerImpl*>(mixer.get())) {
    auto [fq, fk] = linear->features(q, k, mask);
    return linear_attention_weights(fq, fk, mask, linear->options().eps);
  }
  if (auto* hybrid = dynamic_cast<HybridMixerImpl*>(mixer.get())) return hybrid->weights(q, k, mask);
  throw_input_error("layer ", layer, " has a '", mixer->kind(), "' mixer: only linear and hybrid "
                    "layers have feature maps to train");
}

AttentionMask mask_of(const ModelImpl& model, const Batch& batch) {
  return model.attention_mask(batch.input);
}

}  // namespace attnd
