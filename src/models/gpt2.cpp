#include "attnd/models/gpt2.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/core/strings.h"
#include "attnd/models/init.h"

namespace attnd {

// ---- config ---------------------------------------------------------------------------------------

namespace {
// GPT-2's own key, or HF's generic alias for it (GPT2Config.attribute_map).
int64_t get_aliased(const ConfigReader& r, const std::string& key, const std::string& alias,
                    int64_t fallback) {
  const auto& j = r.json();
  auto has = [&](const std::string& k) { return j.contains(k) && !j.at(k).is_null(); };
  if (has(key) && has(alias)) {
    ATTND_CHECK_INPUT(r.get_int(key, 0) == r.get_int(alias, 0), r.where(), ": config keys '", key,
                      "' and '", alias, "' name the same setting but differ (", j.at(key).dump(),
                      " vs ", j.at(alias).dump(), ")");
  }
  return r.get_int_at_least(has(key) || !has(alias) ? key : alias, fallback, 1);
}
}  // namespace

Gpt2Config Gpt2Config::from_json(const nlohmann::json& json) {
  ConfigReader r(json, "gpt2 config");
  Gpt2Config c;
  c.vocab_size = r.get_int_at_least("vocab_size", c.vocab_size, 1);
  c.n_positions = get_aliased(r, "n_positions", "max_position_embeddings", c.n_positions);
  c.n_embd = get_aliased(r, "n_embd", "hidden_size", c.n_embd);
  c.n_layer = get_aliased(r, "n_layer", "num_hidden_layers", c.n_layer);
  c.n_head = get_aliased(r, "n_head", "num_attention_heads", c.n_head);
  c.n_inner = r.get_optional_int("n_inner");
  if (c.n_inner) c.n_inner = r.get_int_at_least("n_inner", 0, 1);
  c.activation_function = r.get_string("activation_function", c.activation_function);
  parse_activation(c.activation_function, "activation_function");
  c.resid_pdrop = r.get_dropout("resid_pdrop", c.resid_pdrop);
  c.embd_pdrop = r.get_dropout("embd_pdrop", c.embd_pdrop);
  c.attn_pdrop = r.get_dropout("attn_pdrop", c.attn_pdrop);
  c.layer_norm_epsilon = r.get_double("layer_norm_epsilon", c.layer_norm_epsilon);
  c.initializer_range = r.get_double("initializer_range", c.initializer_range);
  c.bos_token_id = r.get_int("bos_token_id", c.bos_token_id);
  c.eos_token_id = r.get_int("eos_token_id", c.eos_token_id);
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
  c.labels = LabelMap::from_json(r);
  c.attnd_extra = r.attnd();
  return c;
}

nlohmann::json Gpt2Config::to_json() const {
  nlohmann::json j;
  j["model_type"] = "gpt2";
  j["architectures"] = {"GPT2LMHeadModel"};
  j["vocab_size"] = vocab_size;
  j["n_positions"] = n_positions;
  j["n_embd"] = n_embd;
  j["n_layer"] = n_layer;
  j["n_head"] = n_head;
  j["n_inner"] = n_inner ? nlohmann::json(*n_inner) : nlohmann::json();
  j["activation_function"] = activation_function;
  j["resid_pdrop"] = resid_pdrop;
  j["embd_pdrop"] = embd_pdrop;
  j["attn_pdrop"] = attn_pdrop;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["initializer_range"] = initializer_range;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["scale_attn_weights"] = true;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["reorder_and_upcast_attn"] = false;
  j["tie_word_embeddings"] = true;
  labels.to_json(j);
  j["attnd"] = attnd_extra;
  return j;
}

std::vector<std::string> Gpt2Config::keys() {
  auto k = common_config_keys();
  for (const char* s :
       {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
        "activation_function", "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon",
        "bos_token_id", "eos_token_id", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn", "tie_word_embeddings", "max_position_embeddings",
        "hidden_size", "num_hidden_layers", "num_attention_heads"}) {
    k.emplace_back(s);
  }
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
