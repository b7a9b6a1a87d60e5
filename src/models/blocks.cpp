#include "attnd/models/blocks.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/core/strings.h"

namespace attnd {

// ---- activations ---------------------------------------------------------------------------------

Activation parse_activation(const std::string& name, const std::string& key) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  std::string known;
  for (const auto& n : activation_names()) known += (known.empty() ? "" : ", ") + n;
  throw_input_error("config key '", key, "': unknown activation '", name, "' (known: ", known,
                    ")");
}

std::vector<std::string> activation_names() {
  return {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish"};
}

torch::Tensor activate(const torch::Tensor& x, Activation act) {
  switch (act) {
    case Activation::kGelu: return torch::gelu(x);
    case Activation::kGeluTanh: return torch::gelu(x, "tanh");
    case Activation::kRelu: return torch::relu(x);
    case Activation::kSilu: return torch::silu(x);
  }
  ATTND_CHECK(false, "unhandled activation");
}

// ---- feed-forward submodules ---------------------------------------------------------------------

IntermediateImpl::IntermediateImpl(int64_t in, int64_t out, Activation act_) : act(act_) {
  dense = register_module("dense", torch::nn::Linear(in, out));
}

torch::Tensor IntermediateImpl::forward(const torch::Tensor& x) { return activate(dense(x), act); }

FeedForwardOutputImpl::FeedForwardOutputImpl(int64_t in, int64_t out, double p,
                                             bool with_layer_norm, double eps) {
  dense = register_module("dense", torch::nn::Linear(in, out));
  if (with_layer_norm) {
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({out}).eps(eps)));
  }
  dropout = register_module("dropout", torch::nn::Dropout(p));
}

torch::Tensor FeedForwardOutputImpl::forward(const torch::Tensor& h, const torch::Tensor& residual) {
  auto out = dropout(dense(h)) + residual;
  return LayerNorm ? LayerNorm(out) : out;
}

Gpt2MlpImpl::Gpt2MlpImpl(int64_t dim, int64_t inner, Activation act_, double p) : act(act_) {
  c_fc = register_module("c_fc", torch::nn::Linear(dim, inner));
  c_proj = register_module("c_proj", torch::nn::Linear(inner, dim));
  dropout = register_module("dropout", torch::nn::Dropout(p));
}

torch::Tensor Gpt2MlpImpl::forward(const torch::Tensor& x) {
  return dropout(c_proj(activate(c_fc(x), act)));
}

void record_hidden(Taps* taps, const LayerId& layer, const torch::Tensor& hidden) {
  if (taps && taps->wants(layer, kRecordHidden)) taps->capture(layer).hidden = hidden;
}

void check_token_ids(const torch::Tensor& ids, int64_t vocab_size, int64_t max_positions,
                     const char* who) {
  ATTND_CHECK_INPUT(ids.defined(), who, ": the input has no input_ids");
  ATTND_CHECK_INPUT(ids.dim() == 2 && ids.size(1) >= 1, who, ": input_ids must be [B, N], got ",
                    ids.sizes());
  ATTND_CHECK_INPUT(ids.scalar_type() == torch::kLong, who, ": input_ids must be int64, got ",
                    ids.scalar_type());
  ATTND_CHECK_INPUT(ids.size(1) <= max_positions, who, ": sequence length ", ids.size(1),
                    " exceeds the model's ", max_positions, " positions");
  // An out-of-range id would be a device-side assert on a GPU: check it here (one sync).
  if (ids.numel() > 0) {
    auto bad = torch::logical_or(ids < 0, ids >= vocab_size).any().item<bool>();
    if (bad) {
      throw_input_error(who, ": input_ids must be in [0, ", vocab_size, "), got values in [",
                        ids.min().item<int64_t>(), ", ", ids.max().item<int64_t>(), "]");
    }
  }
}

AttentionMask padding_mask(const torch::Tensor& attention_mask, const torch::Tensor& input_ids,
                           bool causal) {
  AttentionMask mask;
  mask.causal = causal;
  if (attention_mask.defined()) {
    ATTND_CHECK_INPUT(attention_mask.sizes() == input_ids.sizes(), "attention_mask must be ",
                      input_ids.sizes(), " like input_ids, got ", attention_mask.sizes());
    mask.key_padding = attention_mask;
  }
  return mask;
}

// ---- config.json reading -------------------------------------------------------------------------

ConfigReader::ConfigReader(const nlohmann::json& config, std::string where)
    : config_(config), where_(std::move(where)) {
  ATTND_CHECK_INPUT(config_.is_object(), where_, ": a model config must be a JSON object, got ",
                    config_.type_name());
}

const nlohmann::json* ConfigReader::find(const std::string& key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::wrong_type(const std::string& key, const char* expected) const {
  throw_input_error(where_, ": config key '", key, "' must be ", expected, ", got ",
                    config_.at(key).type_name(), " ", config_.at(key).dump());
}

int64_t ConfigReader::get_int(const std::string& key, int64_t fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (v->is_number_integer()) return v->get<int64_t>();
  // 12.0 is an integer that went through a float somewhere (TOML, Python): accept it.
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  wrong_type(key, "an integer");
}

int64_t ConfigReader::get_int_at_least(const std::string& key, int64_t fallback,
                                       int64_t minimum) const {
  int64_t v = get_int(key, fallback);
  ATTND_CHECK_INPUT(v >= minimum, where_, ": config key '", key, "' must be at least ", minimum,
                    ", got ", v);
  return v;
}

double ConfigReader::get_double(const std::string& key, double fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) wrong_type(key, "a number");
  return v->get<double>();
}

double ConfigReader::get_dropout(const std::string& key, double fallback) const {
  double p = get_double(key, fallback);
  ATTND_CHECK_INPUT(p >= 0.0 && p < 1.0, where_, ": config key '", key,
                    "' must be a probability in [0, 1), got ", p);
  return p;
}

bool ConfigReader::get_bool(const std::string& key, bool fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) wrong_type(key, "a boolean");
  return v->get<bool>();
}

std::string ConfigReader::get_string(const std::string& key, const std::string& fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) wrong_type(key, "a string");
  return v->get<std::string>();
}

compat::optional<int64_t> ConfigReader::get_optional_int(const std::string& key) const {
  if (!find(key)) return {};
  return get_int(key, 0);
}

compat::optional<double> ConfigReader::get_optional_double(const std::string& key) const {
  if (!find(key)) return {};
  return get_double(key, 0.0);
}

nlohmann::json ConfigReader::attnd() const {
  const auto* v = find("attnd");
  if (!v) return nlohmann::json::object();
  if (!v->is_object()) wrong_type("attnd", "an object");
  return *v;
}

namespace {
constexpr int64_t kMaxLabels = int64_t{1} << 20;  // ImageNet-21k has 21,843 classes
}  // namespace

LabelMap LabelMap::from_json(const ConfigReader& reader) {
  LabelMap labels;
  const auto& j = reader.json();
  std::map<int64_t, std::string> given;
  auto it = j.find("id2label");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      throw_input_error(reader.where(), ": config key 'id2label' must be an object {\"0\": "
                        "\"name\", ...}, got ", it->type_name());
    }
    for (const auto& kv : it->items()) {
      const int64_t id = to_int64(kv.key()).value_or(-1);
      ATTND_CHECK_INPUT(id >= 0, reader.where(), ": config key 'id2label' has key '", kv.key(),
                        "', expected a non-negative integer");
      ATTND_CHECK_INPUT(kv.value().is_string(), reader.where(), ": config key 'id2label' entry '",
                        kv.key(), "' must be a string, got ", kv.value().type_name());
      given[id] = kv.value().get<std::string>();
    }
  }
  auto num = reader.get_optional_int("num_labels");
  if (num) {
    ATTND_CHECK_INPUT(*num >= 1, reader.where(), ": config key 'num_labels' must be at least 1, got ",
                      *num);
    // A label name is made for each class: 10^9 classes would take minutes and gigabytes.
    ATTND_CHECK_INPUT(*num <= kMaxLabels, reader.where(), ": config key 'num_labels' must be at "
                      "most ", kMaxLabels, ", got ", *num);
    labels.num_labels = *num;
  } else if (!given.empty()) {
    labels.num_labels = static_cast<int64_t>(given.size());
  }
  const bool given_fits = static_cast<int64_t>(given.size()) == labels.num_labels &&
                          given.rbegin()->first == labels.num_labels - 1;
  if (given_fits) {
    labels.id2label = given;
  } else {
    for (int64_t i = 0; i < labels.num_labels; ++i) labels.id2label[i] = "LABEL_" + std::to_string(i);
  }
  for (const auto& kv : labels.id2label) labels.label2id[kv.second] = kv.first;
  return labels;
}

void LabelMap::to_json(nlohmann::json& out) const {
  out["num_labels"] = num_labels;
  nlohmann::json id2 = nlohmann::json::object(), toid = nlohmann::json::object();
  for (const auto& kv : id2label) {
    id2[std::to_string(kv.first)] = kv.second;
    toid[kv.second] = kv.first;
  }
  out["id2label"] = id2;
  out["label2id"] = toid;
}

std::vector<std::string> common_config_keys() {
  return {"model_type", "architectures", "num_labels", "id2label", "label2id", "attnd",
          "initializer_range", "torch_dtype", "transformers_version", "problem_type",
          "add_cross_attention", "is_encoder_decoder", "pruned_heads"};
}

void check_common_config_keys(const ConfigReader& r) {
  ATTND_CHECK_INPUT(!r.get_bool("add_cross_attention", false), r.where(),
                    ": config key 'add_cross_attention' must be false (attnd's layers have no "
                    "cross-attention to an encoder)");
  ATTND_CHECK_INPUT(!r.get_bool("is_encoder_decoder", false), r.where(),
                    ": config key 'is_encoder_decoder' must be false (not an encoder-decoder "
                    "model attnd implements)");
  const auto& j = r.json();
  if (j.contains("pruned_heads") && !j.at("pruned_heads").is_null()) {
    const auto& pruned = j.at("pruned_heads");
    ATTND_CHECK_INPUT(pruned.is_object(), r.where(), ": config key 'pruned_heads' must be an "
                      "object {\"<layer>\": [heads]}, got ", pruned.type_name());
    ATTND_CHECK_INPUT(pruned.empty(), r.where(), ": config key 'pruned_heads' is ", pruned.dump(),
                      "; attnd does not implement pruned heads (every layer has all its heads)");
  }
  const auto problem = r.get_string("problem_type", "single_label_classification");
  ATTND_CHECK_INPUT(problem == "single_label_classification", r.where(),
                    ": config key 'problem_type' must be \"single_label_classification\" (attnd's "
                    "heads are softmax classifiers), got \"", problem, "\"");
}

// ---- HF name mapping -----------------------------------------------------------------------------

TensorMap rename_old_layer_norm(TensorMap tensors) {
  TensorMap out;
  for (auto& kv : tensors) {
    std::string name = kv.first;
    if (ends_with(name, ".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
    else if (ends_with(name, ".beta")) name = name.substr(0, name.size() - 5) + ".bias";
    ATTND_CHECK_INPUT(!out.count(name), "tensor '", kv.first, "' and '", name,
                      "' name the same parameter");
    out[name] = kv.second;
  }
  return out;
}

TensorMap add_missing_prefix(TensorMap tensors, const std::string& prefix,
                             const std::vector<std::string>& heads) {
  TensorMap out;
  for (auto& kv : tensors) {
    bool keep = starts_with(kv.first, prefix);
    for (const auto& h : heads) keep = keep || starts_with(kv.first, h);
    std::string name = keep ? kv.first : prefix + kv.first;
    ATTND_CHECK_INPUT(!out.count(name), "tensor '", kv.first, "' and '", name,
                      "' name the same parameter");
    out[name] = kv.second;
  }
  return out;
}

TensorMap drop_names(TensorMap tensors, const std::vector<std::string>& suffixes,
                     const std::vector<std::string>& prefixes) {
  TensorMap out;
  for (auto& kv : tensors) {
    bool drop = false;
    for (const auto& s : suffixes) drop = drop || ends_with(kv.first, s);
    for (const auto& p : prefixes) drop = drop || starts_with(kv.first, p);
    if (!drop) out.insert(kv);
  }
  return out;
}

}  // namespace attnd
