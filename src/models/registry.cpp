#include "attnd/models/registry.h"

#include <torch/torch.h>

#include <functional>
#include <map>

#include "attnd/core/error.h"
#include "attnd/core/index_set.h"
#include "attnd/models/attention_copy.h"
#include "attnd/models/bert.h"
#include "attnd/models/detr.h"
#include "attnd/models/gpt2.h"
#include "attnd/models/vit.h"
#include "attnd/models/vit_mae.h"
#include "attnd/models/lora_model.h"
#include "attnd/nn/mixer.h"

namespace attnd {

namespace {
// One line per model family: how to build it from a config, which config keys it reads, and
// what it is (its traits, so that data and tasks can be matched to families without a model).
struct Entry {
  std::function<Model(const nlohmann::json&)> create;
  std::function<void(const nlohmann::json&)> check;  // the config read, no module built
  std::function<std::vector<std::string>()> keys;
  ModelTraits traits;
};

template <typename ModelT, typename ConfigT>
Entry entry() {
  return {[](const nlohmann::json& j) -> Model { return std::make_shared<ModelT>(ConfigT::from_json(j)); },
          [](const nlohmann::json& j) { ConfigT::from_json(j); }, &ConfigT::keys, ModelT::kTraits};
}

const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> entries = {
      {"bert", entry<BertModelImpl, BertConfig>()},
      {"detr", entry<DetrModelImpl, DetrConfig>()},
      {"gpt2", entry<Gpt2ModelImpl, Gpt2Config>()},
      {"vit", entry<VitModelImpl, VitConfig>()},
      {"vit_mae", entry<VitMaeModelImpl, VitMaeConfig>()},
  };
  return entries;
}

std::string join_types(const std::vector<std::string>& types) {
  std::string out;
  for (const auto& t : types) out += (out.empty() ? "" : ", ") + t;
  return out;
}

const Entry& find_entry(const std::string& type) {
  const auto& r = registry();
  auto it = r.find(type);
  if (it == r.end())
    throw_input_error("unknown model_type '", type, "' (known: ", join_types(registered_model_types()), ")");
  return it->second;
}

// The entry of config's model_type; InputError when it is missing or unknown.
const Entry& entry_of(const nlohmann::json& config) {
  ATTND_CHECK_INPUT(config.is_object(), "a model config must be a JSON object, got ",
                    config.type_name());
  auto it = config.find("model_type");
  ATTND_CHECK_INPUT(it != config.end(), "model config has no 'model_type' (one of: ",
                    join_types(registered_model_types()), ")");
  ATTND_CHECK_INPUT(it->is_string(), "config key 'model_type' must be a string, got ",
                    it->type_name());
  return find_entry(it->get<std::string>());
}

bool is_attention_copy(const nlohmann::json& config) {
  auto attnd = config.find("attnd");
  return attnd != config.end() && attnd->is_object() && attnd->contains("attention_copy");
}

}  // namespace

Model create_model(const nlohmann::json& config) {
  const Entry& entry = entry_of(config);
  // A copy-mode attention-transfer student brings its teacher along.
  if (is_attention_copy(config)) return create_attention_copy_model(config);
  auto model = entry.create(config);
  apply_mixers(*model, config);
  apply_lora(*model, config);  // "attnd.lora" (lora.h)
  return model;
}

void check_model_config(const nlohmann::json& config) {
  const Entry& entry = entry_of(config);
  if (!is_attention_copy(config)) return entry.check(config);
  AttentionCopySpec::from_json(config.at("attnd").at("attention_copy"));
  auto student = config;
  student["attnd"].erase("attention_copy");
  entry.check(student);
}

void apply_mixers(ModelImpl& model, const nlohmann::json& config) {
  auto attnd = config.find("attnd");
  if (attnd == config.end() || !attnd->is_object() || !attnd->contains("mixers")) return;
  const auto& mixers = (*attnd)["mixers"];
  ATTND_CHECK_INPUT(mixers.is_object(), "config key 'attnd.mixers' must be an object "
                    "{\"<layer>\": mixer spec}, got ", mixers.type_name());
  for (auto m = mixers.begin(); m != mixers.end(); ++m) {
    const auto layer = parse_index(m.key(), {model.num_layers(), "layer"}, "attnd.mixers");
    model.attention(layer)->set_mixer(make_mixer(m.value()));
  }
}

std::vector<std::string> registered_model_types() {
  std::vector<std::string> out;
  for (const auto& kv : registry()) out.push_back(kv.first);
  return out;
}

std::vector<std::string> model_config_keys(const std::string& model_type) {
  return find_entry(model_type).keys();
}

ModelTraits model_traits(const std::string& model_type) { return find_entry(model_type).traits; }

}  // namespace attnd
