#include "attnd/models/model_io.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "attnd/core/error.h"
#include "attnd/io/json_file.h"
#include "attnd/models/checkpoint_state.h"
#include "attnd/models/hf_architecture.h"

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
  const TensorMap stored = read_checkpoint_weights(files);
  try {
    model->load_state(model->import_hf(stored), files.weights);
  } catch (const InputError& e) {
    // A file of another class of the family (BertModel for BertForSequenceClassification...):
    // say which, beside the tensors that do not fit.
    std::vector<std::string> names;
    for (const auto& kv : stored) names.push_back(kv.first);
    const auto architecture = hf_architecture(config, names);
    if (architecture.loadable || architecture.name.empty()) throw;
    throw InputError(std::string(e.what()) + "\n(" + files.weights + " holds a " +
                     architecture.name + ": " + architecture.note + ")");
  }
  model->to(device);
  return model;
}

}  // namespace attnd
