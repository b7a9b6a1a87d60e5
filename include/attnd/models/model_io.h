// Models to and from checkpoint directories: the model-aware layer over io/checkpoint.h (which
// knows only files, tensors and JSON).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include <map>
#include <string>

#include "attnd/core/tensor_map.h"
#include "attnd/io/checkpoint.h"
#include "attnd/models/model.h"

namespace attnd {

// save_checkpoint(dir, model.config_json(), model.export_hf(checkpoint_state(model)), ...): every
// parameter and stored buffer (models/checkpoint_state.h).
void save_model(const std::string& dir, ModelImpl& model,
                const std::map<std::string, TensorMap>& extra_tensor_files = {},
                const std::map<std::string, nlohmann::json>& extra_json_files = {});

// Accepts what find_checkpoint_files accepts. Creates the model from config.json, maps the
// tensors through import_hf and loads them (every parameter required, none left over), then moves
// the model to `device`.
Model load_model(const std::string& dir_or_file, const torch::Device& device = torch::kCPU);

}  // namespace attnd
