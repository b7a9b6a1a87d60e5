#include "attnd/models/model.h"

#include <torch/torch.h>

#include <set>

#include "attnd/core/error.h"
#include "attnd/nn/lora.h"

namespace attnd {

ModelInput ModelInput::to(const torch::Device& device) const {
  ModelInput out;
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  out.pixel_values = move(pixel_values);
  out.input_ids = move(input_ids);
  out.attention_mask = move(attention_mask);
  out.token_type_ids = move(token_type_ids);
  return out;
}

int64_t ModelInput::batch_size() const {
  if (pixel_values.defined()) return pixel_values.size(0);
  if (input_ids.defined()) return input_ids.size(0);
  return 0;
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
    item.value().copy_(it->second);
    seen.insert(item.key());
  }
  for (const auto& kv : tensors) {
    ATTND_CHECK_INPUT(seen.count(kv.first), source, ": unexpected tensor '", kv.first,
                      "' (not a parameter of this ", model_type(), " model)");
  }
}

}  // namespace attnd
