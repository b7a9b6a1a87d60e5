#include "attnd/models/lora_model.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <set>

#include "attnd/core/error.h"

namespace attnd {

std::vector<int64_t> lora_layers(ModelImpl& model) {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < model.num_layers(); ++l)
    if (model.attention(l)->lora()) out.push_back(l);
  return out;
}

bool has_lora(ModelImpl& model) { return !lora_layers(model).empty(); }

LoraOptions lora_options(ModelImpl& model) {
  auto layers = lora_layers(model);
  ATTND_CHECK_INPUT(!layers.empty(), "this ", model.model_type(), " model has no LoRA adapters");
  return model.attention(layers.front())->lora()->options;
}

int64_t add_lora(ModelImpl& model, const LoraOptions& options, const std::vector<int64_t>& layers) {
  check_lora_options(options);
  ATTND_CHECK_INPUT(!has_lora(model), "this model already has LoRA adapters (merge_lora them "
                    "first; adapters are added once)");
  std::vector<int64_t> chosen = layers;
  if (chosen.empty())
    for (int64_t l = 0; l < model.num_layers(); ++l) chosen.push_back(l);
  std::set<int64_t> seen;
  for (auto l : chosen) {
    ATTND_CHECK_INPUT(l >= 0 && l < model.num_layers(), "LoRA: layer ", l,
                      " out of range (the model has ", model.num_layers(), " layers)");
    ATTND_CHECK_INPUT(seen.insert(l).second, "LoRA: layer ", l, " given twice");
  }
  int64_t added = 0;
  for (auto l : chosen) {
    auto attention = model.attention(l);
    attention->add_lora(options);
    for (const auto& p : attention->lora()->parameters()) added += p.numel();
  }
  return added;
}

nlohmann::json lora_config(ModelImpl& model) {
  auto layers = lora_layers(model);
  if (layers.empty()) return nullptr;
  auto j = to_json(model.attention(layers.front())->lora()->options);
  j["layers"] = layers;
  return j;
}

void apply_lora(ModelImpl& model, const nlohmann::json& config) {
  auto attnd = config.find("attnd");
  if (attnd == config.end() || !attnd->is_object() || !attnd->contains("lora")) return;
  const auto& j = (*attnd)["lora"];
  try {
    auto options = lora_options_from_json(j);
    std::vector<int64_t> layers;
    if (j.contains("layers")) {
      ATTND_CHECK_INPUT(j["layers"].is_array() && !j["layers"].empty(),
                        "'layers' must be a non-empty list of layer indices, got ",
                        j["layers"].dump());
      for (const auto& l : j["layers"]) {
        ATTND_CHECK_INPUT(l.is_number_integer(), "'layers' must hold integers, got ", l.dump());
        layers.push_back(l.get<int64_t>());
      }
    }
    add_lora(model, options, layers);
  } catch (const InputError& e) {
    throw_input_error("config key 'attnd.lora': ", e.what());
  }
}

int64_t freeze_all_but_lora(ModelImpl& model, bool also_mixers) {
  std::set<const void*> adapter_params;
  for (auto l : lora_layers(model))
    for (const auto& p : model.attention(l)->lora()->parameters())
      adapter_params.insert(p.unsafeGetTensorImpl());
  auto under_mixer = [](const std::string& name) {
    return name.rfind("mixer.", 0) == 0 || name.find(".mixer.") != std::string::npos;
  };
  int64_t trainable = 0;
  for (auto& p : model.named_parameters(/*recurse=*/true)) {
    const bool keep = adapter_params.count(p.value().unsafeGetTensorImpl()) ||
                      (also_mixers && under_mixer(p.key()));
    p.value().set_requires_grad(keep);
    trainable += keep ? p.value().numel() : 0;
  }
  return trainable;
}

void merge_lora(ModelImpl& model) {
  for (auto l : lora_layers(model)) model.attention(l)->merge_lora();
}

}  // namespace attnd
