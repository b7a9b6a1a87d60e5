// Which Hugging Face architecture a model directory holds, named from its config.json and its
// tensor names (headers only: no tensor is read, no model built), for `attnd info`.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace attnd {

struct HfArchitecture {
  std::string name;        // "BertForSequenceClassification", "GPT2LMHeadModel", ...; "" unknown
  std::string model_type;  // config.json's, else inferred from the tensor names; "" unknown
  std::string declared;    // config.json "architectures"[0]; "" when absent
  bool loadable = false;   // load_model reads it as it is
  std::string note;        // what attnd does with it, or why it cannot load it
};

// `config`: config.json (null when there is none); `tensor_names`: as stored in the file(s).
HfArchitecture hf_architecture(const nlohmann::json& config,
                               const std::vector<std::string>& tensor_names);

}  // namespace attnd
