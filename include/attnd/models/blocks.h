// Pieces shared by the transformer models: activations by HF name, the feed-forward submodules
// under HF's names, and a reader for HF config.json values that names the offending key.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attnd/core/tensor_map.h"
#include "attnd/core/torch_compat.h"
#include "attnd/nn/mask.h"
#include "attnd/nn/taps.h"

namespace attnd {

// ---- activations ---------------------------------------------------------------------------------

enum class Activation {
  kGelu,      // "gelu": exact (erf) GELU
  kGeluTanh,  // "gelu_new", "gelu_pytorch_tanh": tanh approximation
  kRelu,      // "relu"
  kSilu,      // "silu", "swish"
};

// Parses an HF activation name; `key` is the config key it came from (for the error message).
Activation parse_activation(const std::string& name, const std::string& key);
torch::Tensor activate(const torch::Tensor& x, Activation act);
std::vector<std::string> activation_names();

// ---- feed-forward submodules (HF names) -----------------------------------------------------------

// HF ViTIntermediate / BertIntermediate: "dense" then the activation.
struct IntermediateImpl : torch::nn::Module {
  IntermediateImpl(int64_t in, int64_t out, Activation act);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear dense{nullptr};
  Activation act;
};
TORCH_MODULE(Intermediate);

// HF ViTOutput (no LayerNorm): dropout(dense(h)) + residual.
// HF BertOutput (with LayerNorm): LayerNorm(dropout(dense(h)) + residual).
struct FeedForwardOutputImpl : torch::nn::Module {
  FeedForwardOutputImpl(int64_t in, int64_t out, double dropout, bool with_layer_norm, double eps);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& residual);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: HF's name
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(FeedForwardOutput);

// HF GPT2MLP: dropout(c_proj(act(c_fc(x)))). c_fc/c_proj are nn::Linear ([out, in]); HF files store
// Conv1D [in, out] and are transposed by import_hf.
struct Gpt2MlpImpl : torch::nn::Module {
  Gpt2MlpImpl(int64_t dim, int64_t inner, Activation act, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
  Activation act;
};
TORCH_MODULE(Gpt2Mlp);

// Records `hidden` as layer `layer`'s hidden state when the taps ask for it.
void record_hidden(Taps* taps, const LayerId& layer, const torch::Tensor& hidden);

// Checks input_ids [B, N] (int64, ids in [0, vocab), N <= max_positions); `who` names the model.
// Out-of-range ids are caught here (one host sync) rather than as a device-side assert.
void check_token_ids(const torch::Tensor& input_ids, int64_t vocab_size, int64_t max_positions,
                     const char* who);

// Padding mask from an optional ModelInput::attention_mask [B, N] (checked against input_ids).
AttentionMask padding_mask(const torch::Tensor& attention_mask, const torch::Tensor& input_ids,
                           bool causal);

// ---- config.json reading --------------------------------------------------------------------------

// Reads typed values of an HF config.json. A missing (or null) key gives the default; a value of the
// wrong type raises InputError naming the key and the expected type. `where` prefixes messages
// (e.g. "vit config").
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, std::string where);

  int64_t get_int(const std::string& key, int64_t fallback) const;
  // Like get_int but the value must be >= minimum.
  int64_t get_int_at_least(const std::string& key, int64_t fallback, int64_t minimum) const;
  double get_double(const std::string& key, double fallback) const;
  // A probability in [0, 1).
  double get_dropout(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // null or missing → nullopt.
  compat::optional<int64_t> get_optional_int(const std::string& key) const;
  compat::optional<double> get_optional_double(const std::string& key) const;
  // The "attnd" object (empty object if missing); InputError if it is not an object.
  nlohmann::json attnd() const;
  const nlohmann::json& json() const { return config_; }
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json* find(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* expected) const;
  const nlohmann::json& config_;
  std::string where_;
};

// Class labels as HF keeps them: num_labels, id2label {"0": "LABEL_0"}, label2id.
struct LabelMap {
  int64_t num_labels = 2;
  std::map<int64_t, std::string> id2label;
  std::map<std::string, int64_t> label2id;

  // num_labels from "num_labels", else the size of "id2label", else 2. When both are given and
  // disagree, num_labels wins and the labels become LABEL_i (what HF does when num_labels is set
  // on a pre-trained config: a new head).
  static LabelMap from_json(const ConfigReader& reader);
  // Writes num_labels, id2label and label2id into `out`.
  void to_json(nlohmann::json& out) const;
};

// The keys every model's config understands besides its own (model_type, labels, "attnd", ...).
std::vector<std::string> common_config_keys();
// HF's PretrainedConfig keys that change the architecture or what the head means
// (add_cross_attention, is_encoder_decoder, pruned_heads, problem_type): accepted only with the
// value attnd implements, else InputError naming the key — never silently ignored.
void check_common_config_keys(const ConfigReader& reader);

// ---- HF file name mapping helpers -----------------------------------------------------------------

// Renames old "*.gamma" / "*.beta" LayerNorm names to ".weight" / ".bias".
TensorMap rename_old_layer_norm(TensorMap tensors);
// Adds `prefix` to every name that does not start with it and is not a head (starts with one of
// `heads`).
TensorMap add_missing_prefix(TensorMap tensors, const std::string& prefix,
                             const std::vector<std::string>& heads);
// Drops every name that ends with one of `suffixes` or starts with one of `prefixes`.
TensorMap drop_names(TensorMap tensors, const std::vector<std::string>& suffixes,
                     const std::vector<std::string>& prefixes);

}  // namespace attnd
