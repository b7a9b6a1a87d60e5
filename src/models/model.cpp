#include "attnd/models/model.h"

#include <torch/torch.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/models/lora_model.h"
#include "attnd/nn/linear_mixer.h"

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

// Buffers too (checkpoint_state.h): each one present is checked and copied; a missing one keeps
// the value the model was built with (recomputed from its seed) and is named in a note.
void ModelImpl::load_state(const TensorMap& given, const std::string& source) {
  torch::NoGradGuard no_grad;
  // Hybrid mixers saved before attnd took LoLCATs' parameterisation (linear_mixer.h).
  const TensorMap tensors = upgrade_hybrid_tensors(given);
  std::set<std::string> seen;
  std::vector<std::string> regenerated;
  for (auto& item : named_buffers(/*recurse=*/true)) {
    auto it = tensors.find(item.key());
    if (it == tensors.end()) {
      regenerated.push_back(item.key());
      continue;
    }
    ATTND_CHECK_INPUT(it->second.sizes() == item.value().sizes() && it->second.is_floating_point(),
                      source, ": tensor '", item.key(), "' has shape ", it->second.sizes(),
                      " and dtype ", it->second.scalar_type(), ", expected ", item.value().sizes(),
                      " ", item.value().scalar_type());
    item.value().copy_(it->second);
    seen.insert(item.key());
  }
  if (!regenerated.empty()) {
    // Not an error: these checkpoints load as they always did, from the seed.
    std::fprintf(stderr,
                 "attnd: note: %s has no '%s'%s (written before attnd stored its fixed buffers): "
                 "recomputed from the seed, which reproduces the saved model only on the "
                 "LibTorch/LAPACK that wrote it; saving the model again stores them\n",
                 source.c_str(), regenerated.front().c_str(),
                 regenerated.size() > 1
                     ? (" and " + std::to_string(regenerated.size() - 1) + " more").c_str()
                     : "");
  }
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
                      "' (not a parameter or buffer of this ", model_type(), " model)");
  }
}

}  // namespace attnd
