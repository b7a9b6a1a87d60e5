#include "attnd/models/model.h"

#include <torch/torch.h>

#include <cstdio>
#include <set>
#include <sstream>
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

namespace {
// At most this many problems are listed in one error; the count says how many more there are.
constexpr size_t kMaxListedProblems = 20;

std::string problems_message(const std::string& source, const std::string& model_type,
                             const std::vector<std::string>& problems) {
  std::string msg = source + ": " + std::to_string(problems.size()) + " tensor" +
                    (problems.size() == 1 ? "" : "s") + " do not fit this " + model_type +
                    " model:";
  for (size_t i = 0; i < problems.size() && i < kMaxListedProblems; ++i)
    msg += "\n  " + problems[i];
  if (problems.size() > kMaxListedProblems)
    msg += "\n  ... and " + std::to_string(problems.size() - kMaxListedProblems) + " more";
  return msg;
}
}  // namespace

// Buffers too (checkpoint_state.h): each one present is checked and copied; a missing one keeps
// the value the model was built with (recomputed from its seed) and is named in a note. Every
// tensor is checked before any is copied, and every problem is named at once (a user converting
// a file wants the whole list, not one name per try).
void ModelImpl::load_state(const TensorMap& given, const std::string& source) {
  torch::NoGradGuard no_grad;
  // Hybrid mixers saved before attnd took LoLCATs' parameterisation (linear_mixer.h).
  const TensorMap tensors = upgrade_hybrid_tensors(given);
  std::set<std::string> seen;
  std::vector<std::string> regenerated, problems;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // {destination, source}
  for (auto& item : named_buffers(/*recurse=*/true)) {
    auto it = tensors.find(item.key());
    if (it == tensors.end()) {
      regenerated.push_back(item.key());
      continue;
    }
    seen.insert(item.key());
    if (it->second.sizes() != item.value().sizes() || !it->second.is_floating_point()) {
      std::ostringstream p;
      p << "tensor '" << item.key() << "' has shape " << it->second.sizes() << " and dtype "
        << it->second.scalar_type() << ", expected " << item.value().sizes() << " "
        << item.value().scalar_type();
      problems.push_back(p.str());
      continue;
    }
    copies.emplace_back(item.value(), it->second);
  }
  for (auto& item : named_parameters(/*recurse=*/true)) {
    auto it = tensors.find(item.key());
    std::ostringstream p;
    if (it == tensors.end()) {
      p << "missing tensor '" << item.key() << "' (expected shape " << item.value().sizes() << ")";
      problems.push_back(p.str());
      continue;
    }
    seen.insert(item.key());
    if (it->second.sizes() != item.value().sizes()) {
      p << "tensor '" << item.key() << "' has shape " << it->second.sizes() << ", expected "
        << item.value().sizes();
      problems.push_back(p.str());
      continue;
    }
    // copy_ would silently convert integer bits into weights (an F32 file relabelled I32); a
    // floating-point file of another width (F16, BF16, F64) is a conversion and is allowed: the
    // model computes in its own dtype (float32).
    if (it->second.is_floating_point() != item.value().is_floating_point()) {
      p << "tensor '" << item.key() << "' has dtype " << it->second.scalar_type() << ", expected "
        << item.value().scalar_type()
        << " (a floating-point dtype; integer and bool tensors are not weights)";
      problems.push_back(p.str());
      continue;
    }
    copies.emplace_back(item.value(), it->second);
  }
  for (const auto& kv : tensors) {
    if (!seen.count(kv.first))
      problems.push_back("unexpected tensor '" + kv.first + "' (shape " +
                         c10::str(kv.second.sizes()) + "; not a parameter or buffer of this " +
                         model_type() + " model)");
  }
  if (!problems.empty()) throw InputError(problems_message(source, model_type(), problems));
  for (auto& [destination, value] : copies) destination.copy_(value);
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
}

}  // namespace attnd
