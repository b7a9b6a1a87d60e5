#include "attnd/models/gpt2.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/models/config_fields.h"
#include "attnd/models/init.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
// Every plain key of config.json, in reading order.
const std::vector<ConfigField<Gpt2Config>>& gpt2_fields() {
  using C = Gpt2Config;
  static const std::vector<ConfigField<C>> fields = {
      positive_int_field("vocab_size", &C::vocab_size),
      positive_int_field("n_positions", &C::n_positions),
      positive_int_field("n_embd", &C::n_embd),
      positive_int_field("n_layer", &C::n_layer),
      positive_int_field("n_head", &C::n_head),
      optional_positive_int_field("n_inner", &C::n_inner),
      activation_field("activation_function", &C::activation_function),
      dropout_field("resid_pdrop", &C::resid_pdrop),
      dropout_field("embd_pdrop", &C::embd_pdrop),
      dropout_field("attn_pdrop", &C::attn_pdrop),
      positive_double_field("layer_norm_epsilon", &C::layer_norm_epsilon),
      double_field("initializer_range", &C::initializer_range),
  };
  return fields;
}

// The special-token ids: not table rows, because their range depends on vocab_size.
const char* const kTokenIdKeys[] = {"bos_token_id", "eos_token_id"};
compat::optional<int64_t> Gpt2Config::* const kTokenIdMembers[] = {&Gpt2Config::bos_token_id,
                                                                   &Gpt2Config::eos_token_id};

// Keys HF configs carry that attnd accepts with one value only (not fields: nothing to store).
const char* const kFixedKeys[] = {"scale_attn_weights", "scale_attn_by_inverse_layer_idx",
                                  "reorder_and_upcast_attn", "tie_word_embeddings"};

// HF's generic names for four GPT-2 keys (GPT2Config.attribute_map): {GPT-2's key, alias}. Not
// table rows: two keys for one field, written back under GPT-2's own key only.
const std::pair<const char*, const char*> kAliases[] = {
    {"n_positions", "max_position_embeddings"},
    {"n_embd", "hidden_size"},
    {"n_layer", "num_hidden_layers"},
    {"n_head", "num_attention_heads"}};

// The config with each alias given alone copied to GPT-2's own key (checked under the alias's
// name first, so errors name the key the user wrote); when both are given they must agree.
nlohmann::json resolve_aliases(const ConfigReader& r) {
  nlohmann::json out = r.json();
  auto has = [&](const char* k) { return out.contains(k) && !out.at(k).is_null(); };
  for (const auto& [key, alias] : kAliases) {
    if (has(key) && has(alias)) {
      ATTND_CHECK_INPUT(r.get_int(key, 0) == r.get_int(alias, 0), r.where(), ": config keys '",
                        key, "' and '", alias, "' name the same setting but differ (",
                        out.at(key).dump(), " vs ", out.at(alias).dump(), ")");
    } else if (has(alias)) {
      r.get_int_at_least(alias, 0, 1);
      out[key] = out.at(alias);
    }
  }
  return out;
}
}  // namespace

Gpt2Config Gpt2Config::from_json(const nlohmann::json& json) {
  const nlohmann::json resolved = resolve_aliases(ConfigReader(json, "gpt2 config"));
  ConfigReader r(resolved, "gpt2 config");
  Gpt2Config c;
  read_config_fields(r, gpt2_fields(), c);
  // The fixed keys, then a check across fields.
  ATTND_CHECK_INPUT(r.get_bool("scale_attn_weights", true),
                    "gpt2 config: config key 'scale_attn_weights' must be true (attnd always scales "
                    "by 1/sqrt(head_dim))");
  ATTND_CHECK_INPUT(!r.get_bool("scale_attn_by_inverse_layer_idx", false),
                    "gpt2 config: config key 'scale_attn_by_inverse_layer_idx' must be false (not "
                    "implemented)");
  ATTND_CHECK_INPUT(r.get_bool("tie_word_embeddings", true),
                    "gpt2 config: config key 'tie_word_embeddings' must be true (attnd's GPT-2 "
                    "head is tied to wte)");
  r.get_bool("reorder_and_upcast_attn", false);  // type check only: numerics, not architecture
  ATTND_CHECK_INPUT(c.n_embd % c.n_head == 0, "gpt2 config: n_embd (", c.n_embd,
                    ") must be a multiple of n_head (", c.n_head, ")");
  const double h = static_cast<double>(c.n_embd);
  const double inner = c.n_inner ? static_cast<double>(*c.n_inner) : 4 * h;
  check_parameter_budget("gpt2 config",
                         // Summed in double: int64 sizes near 2^63 would overflow.
                         h * (static_cast<double>(c.vocab_size) + static_cast<double>(c.n_positions)) +
                             static_cast<double>(c.n_layer) * (4 * h * h + 2 * h * inner));
  for (size_t i = 0; i < std::size(kTokenIdKeys); ++i) {
    const char* key = kTokenIdKeys[i];
    if (!r.json().contains(key) || r.json().at(key).is_null()) continue;
    const int64_t id = r.get_int(key, -1);  // checks that it is an integer
    if (id >= 0 && id < c.vocab_size) c.*kTokenIdMembers[i] = id;
  }
  // Labels are three HF keys kept consistent; "attnd" is kept verbatim.
  check_common_config_keys(r);
  c.labels = LabelMap::from_json(r);
  c.attnd_extra = r.attnd();
  return c;
}

nlohmann::json Gpt2Config::to_json() const {
  nlohmann::json j;
  j["model_type"] = "gpt2";
  j["architectures"] = {"GPT2LMHeadModel"};
  write_config_fields(gpt2_fields(), *this, j);
  for (size_t i = 0; i < std::size(kTokenIdKeys); ++i) {
    const auto& id = this->*kTokenIdMembers[i];
    j[kTokenIdKeys[i]] = id ? nlohmann::json(*id) : nlohmann::json(nullptr);
  }
  // The fixed keys, with the one value attnd implements.
  j["scale_attn_weights"] = true;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["reorder_and_upcast_attn"] = false;
  j["tie_word_embeddings"] = true;
  labels.to_json(j);
  j["attnd"] = attnd_extra;
  return j;
}

std::vector<std::string> Gpt2Config::keys() {
  auto k = with_config_field_keys(common_config_keys(), gpt2_fields());
  k.insert(k.end(), std::begin(kFixedKeys), std::end(kFixedKeys));
  k.insert(k.end(), std::begin(kTokenIdKeys), std::end(kTokenIdKeys));
  for (const auto& alias : kAliases) k.emplace_back(alias.second);
  return k;
}

// ---- modules ---------------------------------------------------------------------------------------

Gpt2BlockImpl::Gpt2BlockImpl(const Gpt2Config& c) {
  AttentionOptions ao;
  ao.hidden_size = c.n_embd;
  ao.num_heads = c.n_head;
  ao.qkv_bias = true;
  ao.layout = AttentionLayout::kGpt2;
  ao.attention_dropout = c.attn_pdrop;
  ao.output_dropout = c.resid_pdrop;
  auto ln = torch::nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_epsilon);
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(ln));
  attn = register_module("attn", Attention(ao));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", Gpt2Mlp(c.n_embd, c.inner(),
                                       parse_activation(c.activation_function, "activation_function"),
                                       c.resid_pdrop));
}

torch::Tensor Gpt2BlockImpl::forward(const torch::Tensor& x, const AttentionMask& mask, Taps* taps,
                                     const LayerId& layer) {
  auto h = x + attn->forward(ln_1(x), mask, taps, layer);
  return h + mlp(ln_2(h));
}

Gpt2BackboneImpl::Gpt2BackboneImpl(const Gpt2Config& c) {
  wte = register_module("wte", torch::nn::Embedding(c.vocab_size, c.n_embd));
  wpe = register_module("wpe", torch::nn::Embedding(c.n_positions, c.n_embd));
  drop = register_module("drop", torch::nn::Dropout(c.embd_pdrop));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(Gpt2Block(c));
  ln_f = register_module(
      "ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_epsilon)));
}

// ---- model -----------------------------------------------------------------------------------------

Gpt2ModelImpl::Gpt2ModelImpl(const Gpt2Config& config) : config_(config) {
  transformer = register_module("transformer", Gpt2Backbone(config));
  InitOptions init;
  init.initializer_range = config.initializer_range;
  init.scaled_c_proj_layers = config.n_layer;
  init_weights(*this, init);
}

Gpt2Block Gpt2ModelImpl::block(int64_t layer) {
  ATTND_CHECK_INPUT(layer >= 0 && layer < num_layers(), "gpt2: layer ", layer,
                    " out of range (the model has ", num_layers(), " layers)");
  return Gpt2Block(transformer->h->ptr<Gpt2BlockImpl>(layer));
}

Attention Gpt2ModelImpl::attention(int64_t layer) { return block(layer)->attn; }

torch::Tensor Gpt2ModelImpl::encode(const ModelInput& input, Taps* taps) {
  check_token_ids(input.input_ids, config_.vocab_size, config_.n_positions, "gpt2");
  const auto& ids = input.input_ids;
  const auto mask = padding_mask(input.attention_mask, ids, /*causal=*/true);
  auto positions = torch::arange(ids.size(1), ids.options()).unsqueeze(0);
  auto h = transformer->drop(transformer->wte(ids) + transformer->wpe(positions));
  for (int64_t l = 0; l < num_layers(); ++l) {
    h = transformer->h->ptr<Gpt2BlockImpl>(l)->forward(h, mask, taps, l);
    record_hidden(taps, l, h);
  }
  return transformer->ln_f(h);
}

ModelOutput Gpt2ModelImpl::forward(const ModelInput& input, Taps* taps) {
  // Tied head: the LM logits are the final hidden states against every token embedding.
  return {torch::matmul(encode(input, taps), transformer->wte->weight.t()), {}};
}

namespace {
// HF's Conv1D layers of GPT-2, stored [in, out] in HF files.
bool is_conv1d_weight(const std::string& name) {
  if (!starts_with(name, "transformer.h.")) return false;
  for (const char* s : {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight",
                        ".mlp.c_proj.weight"}) {
    if (ends_with(name, s)) return true;
  }
  return false;
}

TensorMap transpose_conv1d(TensorMap tensors) {
  for (auto& kv : tensors) {
    if (is_conv1d_weight(kv.first)) {
      ATTND_CHECK_INPUT(kv.second.dim() == 2, "tensor '", kv.first, "' must be 2-D, got ",
                        kv.second.sizes());
      kv.second = kv.second.t().contiguous();
    }
  }
  return tensors;
}
}  // namespace

TensorMap Gpt2ModelImpl::import_hf(TensorMap tensors) const {
  tensors = rename_old_layer_norm(std::move(tensors));
  tensors = add_missing_prefix(std::move(tensors), "transformer.", {"lm_head."});
  // Causal-mask buffers older HF versions saved.
  tensors = drop_names(std::move(tensors), {".attn.bias", ".attn.masked_bias"}, {});
  auto head = tensors.find("lm_head.weight");
  if (head != tensors.end()) {
    auto wte = tensors.find("transformer.wte.weight");
    if (wte == tensors.end()) {
      tensors["transformer.wte.weight"] = head->second;
    } else {
      ATTND_CHECK_INPUT(head->second.sizes() == wte->second.sizes() &&
                            torch::equal(head->second, wte->second.to(head->second.scalar_type())),
                        "lm_head.weight differs from transformer.wte.weight: attnd's GPT-2 needs "
                        "the LM head tied to the token embeddings");
    }
    tensors.erase("lm_head.weight");
  }
  return transpose_conv1d(std::move(tensors));
}

TensorMap Gpt2ModelImpl::export_hf(TensorMap tensors) const {
  // The tied lm_head is not a parameter here, so there is nothing to omit.
  return transpose_conv1d(std::move(tensors));
}

}  // namespace attnd
