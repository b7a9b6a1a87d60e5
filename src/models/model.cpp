#include "attnd/models/model.h"

#include <torch/torch.h>

#include <set>

#include "attnd/core/error.h"
#include "attnd/models/lora_model.h"

namespace attnd {

std::string to_string(TaskKind kind) {
  switch (kind) {
    case TaskKind::kClassification: return "classification";
    case TaskKind::kLanguageModel: return "language model";
    case TaskKind::kMaskedPatches: return "masked-patch modelling";
    case TaskKind::kDetection: return "detection";
  }
  return "?";
}

std::string to_string(Modality modality) {
  return modality == Modality::kImage ? "image" : "text";
}

std::string to_string(Pooling pooling) {
  switch (pooling) {
    case Pooling::kNone: return "none";
    case Pooling::kCls: return "cls";
    case Pooling::kMean: return "mean";
  }
  return "?";
}

const torch::Tensor& ModelOutput::at(const std::string& name) const {
  auto it = extra.find(name);
  if (it == extra.end()) {
    std::string present;
    for (const auto& kv : extra) present += (present.empty() ? "" : ", ") + kv.first;
    throw_error("the model output has no '", name, "' (it has: ",
                present.empty() ? std::string("logits only") : "logits, " + present, ")");
  }
  return it->second;
}

AttentionMask ModelImpl::attention_mask(const ModelInput& input) const {
  AttentionMask mask;
  mask.key_padding = input.attention_mask;
  mask.causal = is_causal();
  return mask;
}

torch::Tensor ModelImpl::pooled_features(const ModelInput& /*input*/) {
  throw_input_error("a ", model_type(), " model has no pooled representation (only classifiers "
                    "with a pooler have one)");
}

nlohmann::json ModelImpl::config_json() const {
  auto config = base_config_json();
  if (config.contains("attnd") && config["attnd"].is_object()) {
    config["attnd"].erase("mixers");
    config["attnd"].erase("lora");
  }
  // attention() is non-const only because it hands out a module holder.
  auto& self = const_cast<ModelImpl&>(*this);
  nlohmann::json mixers = nlohmann::json::object();
  for (int64_t l = 0; l < num_layers(); ++l) {
    const auto& mixer = self.attention(l)->mixer();
    if (mixer->kind() != "softmax") mixers[std::to_string(l)] = mixer->spec();
  }
  if (!mixers.empty()) config["attnd"]["mixers"] = mixers;
  // LoRA adapters (lora.h), re-added by create_model (apply_lora) before the weights load.
  auto lora = lora_config(self);
  if (!lora.is_null()) config["attnd"]["lora"] = lora;
  return config;
}

TensorMap ModelImpl::state() const {
  TensorMap out;
  for (const auto& item : named_parameters(/*recurse=*/true)) out[item.key()] = item.value();
  return out;
}

void ModelImpl::load_state(const TensorMap& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::set<std::string> seen;
  for (auto& item : named_parameters(/*recurse=*/true)) {
    auto it = tensors.find(item.key());
    ATTND_CHECK_INPUT(it != tensors.end(), source, ": missing tensor '", item.key(),
                      "' (expected shape ", item.value().sizes(), ")");
    ATTND_CHECK_INPUT(it->second.sizes() == item.value().sizes(), source, ": tensor '",
                      item.key(), "' has shape ", it->second.sizes(), ", expected ",
                      item.value().sizes());
    // copy_ would silently convert integer bits into weights (an F32 file relabelled I32); a
    // floating-point file of another width (F16, BF16) is a conversion and is allowed.
    ATTND_CHECK_INPUT(it->second.is_floating_point() == item.value().is_floating_point(), source,
                      ": tensor '", item.key(), "' has dtype ", it->second.scalar_type(),
                      ", expected ", item.value().scalar_type(),
                      " (a floating-point dtype; integer and bool tensors are not weights)");
    item.value().copy_(it->second);
    seen.insert(item.key());
  }
  for (const auto& kv : tensors) {
    ATTND_CHECK_INPUT(seen.count(kv.first), source, ": unexpected tensor '", kv.first,
                      "' (not a parameter of this ", model_type(), " model)");
  }
}

}  // namespace attnd
