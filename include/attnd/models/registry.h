// What the model registry (create_model / registered_model_types in model.h) knows beyond that.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "attnd/models/model.h"

namespace attnd {

// The config.json keys a model type understands (its HF names, the common ones such as
// num_labels / id2label, and "attnd"), for rejecting typos in a recipe's [model] table. Unknown
// keys in an HF config.json itself are ignored (HF files carry many). InputError for an unknown type.
std::vector<std::string> model_config_keys(const std::string& model_type);
// The traits of a registered model type (what its models' traits() return), without building one.
ModelTraits model_traits(const std::string& model_type);

// The reading half of create_model: model_type and the family's config keys (and an attention-copy
// spec) checked as create_model checks them, without building a module or loading a teacher.
// The fuzz target of config.json drives it.
void check_model_config(const nlohmann::json& config);

// Sets the mixers a config names under "attnd.mixers" ({"<layer>": mixer spec}); create_model
// calls it, so a linearized checkpoint comes back linearized. InputError for a bad layer or spec.
void apply_mixers(ModelImpl& model, const nlohmann::json& config);
// create_model then re-adds the LoRA adapters a config names under "attnd.lora" (apply_lora in
// attnd/models/lora_model.h).

}  // namespace attnd
