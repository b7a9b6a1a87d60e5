#include "attnd/models/model_io.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "attnd/core/error.h"
#include "attnd/io/json_file.h"
#include "attnd/models/checkpoint_state.h"

namespace attnd {

void save_model(const std::string& dir, ModelImpl& model,
                const std::map<std::string, TensorMap>& extra_tensor_files,
                const std::map<std::string, nlohmann::json>& extra_json_files) {
  save_checkpoint(dir, model.config_json(), model.export_hf(checkpoint_state(model)),
                  extra_tensor_files, extra_json_files);
}

Model load_model(const std::string& dir_or_file, const torch::Device& device) {
  const auto files = find_checkpoint_files(dir_or_file);
  nlohmann::json config = read_json_file(files.config);
  Model model;
  try {
    model = create_model(config);
  } catch (const InputError& e) {
    throw_input_error(files.config, ": ", e.what());
  }
  auto tensors = model->import_hf(read_checkpoint_weights(files));
  model->load_state(tensors, files.weights);
  model->to(device);
  return model;
}

}  // namespace attnd
