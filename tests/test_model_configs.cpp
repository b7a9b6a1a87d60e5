// Each model's config: the JSON to_json writes (checkpoints and Hugging Face files depend on it,
// so it is spelled out here key by key), from_json(to_json(c)) field by field, keys() against
// what to_json writes, and bad values rejected with the key named.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "attnd/core/error.h"
#include "attnd/models/bert.h"
#include "attnd/models/blocks.h"
#include "attnd/models/gpt2.h"
#include "attnd/models/vit.h"
#include "attnd/models/vit_mae.h"
#include "test_utils.h"

namespace attnd {
namespace {

using json = nlohmann::json;
using Keys = std::set<std::string>;

LabelMap labels_of(const std::vector<std::string>& names) {
  LabelMap labels;
  labels.num_labels = static_cast<int64_t>(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    labels.id2label[static_cast<int64_t>(i)] = names[i];
    labels.label2id[names[i]] = static_cast<int64_t>(i);
  }
  return labels;
}

Keys key_set(const std::vector<std::string>& keys) { return Keys(keys.begin(), keys.end()); }

Keys json_keys(const json& j) {
  Keys out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

// keys() is what to_json writes, the common keys, and `read_only` (keys from_json accepts but
// never writes); no key is listed twice.
void expect_keys(const std::vector<std::string>& keys, const json& written, const Keys& read_only) {
  EXPECT_EQ(key_set(keys).size(), keys.size()) << "keys() lists a key twice";
  Keys expected = json_keys(written);
  const auto common = common_config_keys();
  expected.insert(common.begin(), common.end());
  expected.insert(read_only.begin(), read_only.end());
  EXPECT_EQ(key_set(keys), expected);
}

// Every key of `written` whose value from_json reads: replaced by a value of the wrong JSON type,
// it is rejected with an InputError naming it.
void expect_wrong_types_named(const json& written, const std::function<void(const json&)>& parse) {
  const Keys not_read = {"model_type", "architectures", "label2id"};  // ignored on reading
  for (auto it = written.begin(); it != written.end(); ++it) {
    if (not_read.count(it.key())) continue;
    json bad = written;
    bad[it.key()] = json::array({1});
    const auto msg = test::error_of([&] { parse(bad); });
    EXPECT_NE(msg.find("'" + it.key() + "'"), std::string::npos) << it.key() << ": " << msg;
  }
}

// from_json(config + {key: value}) fails with exactly `message`.
template <class Config>
void expect_rejected(json config, const std::string& key, const json& value,
                     const std::string& message) {
  config[key] = value;
  EXPECT_EQ(test::error_of([&] { Config::from_json(config); }), message) << key;
}

// ---- ViT ---------------------------------------------------------------------------------------

VitConfig odd_vit() {
  VitConfig c;
  c.hidden_size = 24;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.intermediate_size = 40;
  c.hidden_act = "relu";
  c.hidden_dropout_prob = 0.25;
  c.attention_probs_dropout_prob = 0.125;
  c.initializer_range = 0.03;
  c.layer_norm_eps = 1e-6;
  c.image_size = 32;
  c.patch_size = 8;
  c.num_channels = 1;
  c.qkv_bias = false;
  c.encoder_stride = 8;
  c.labels = labels_of({"a", "b", "c"});
  c.pooling = "mean";
  c.attnd_extra = {{"note", "kept"}};
  return c;
}

json odd_vit_json() {
  return {{"model_type", "vit"},
          {"architectures", {"ViTForImageClassification"}},
          {"hidden_size", 24},
          {"num_hidden_layers", 3},
          {"num_attention_heads", 4},
          {"intermediate_size", 40},
          {"hidden_act", "relu"},
          {"hidden_dropout_prob", 0.25},
          {"attention_probs_dropout_prob", 0.125},
          {"initializer_range", 0.03},
          {"layer_norm_eps", 1e-6},
          {"image_size", 32},
          {"patch_size", 8},
          {"num_channels", 1},
          {"qkv_bias", false},
          {"encoder_stride", 8},
          {"num_labels", 3},
          {"id2label", {{"0", "a"}, {"1", "b"}, {"2", "c"}}},
          {"label2id", {{"a", 0}, {"b", 1}, {"c", 2}}},
          {"attnd", {{"note", "kept"}, {"pooling", "mean"}}}};
}

void expect_odd_vit(const VitConfig& c) {
  EXPECT_EQ(c.hidden_size, 24);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.intermediate_size, 40);
  EXPECT_EQ(c.hidden_act, "relu");
  EXPECT_EQ(c.hidden_dropout_prob, 0.25);
  EXPECT_EQ(c.attention_probs_dropout_prob, 0.125);
  EXPECT_EQ(c.initializer_range, 0.03);
  EXPECT_EQ(c.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.image_size, 32);
  EXPECT_EQ(c.patch_size, 8);
  EXPECT_EQ(c.num_channels, 1);
  EXPECT_EQ(c.qkv_bias, false);
  EXPECT_EQ(c.encoder_stride, 8);
  EXPECT_EQ(c.labels.num_labels, 3);
  EXPECT_EQ(c.labels.id2label, (std::map<int64_t, std::string>{{0, "a"}, {1, "b"}, {2, "c"}}));
  EXPECT_EQ(c.labels.label2id, (std::map<std::string, int64_t>{{"a", 0}, {"b", 1}, {"c", 2}}));
  EXPECT_EQ(c.pooling, "mean");
  EXPECT_EQ(c.attnd_extra, json({{"note", "kept"}}));  // pooling is a field, not an extra
}

TEST(ModelConfigs, VitJsonRoundTripAndKeys) {
  const json j = odd_vit().to_json();
  EXPECT_EQ(j, odd_vit_json());
  const auto back = VitConfig::from_json(j);
  expect_odd_vit(back);
  EXPECT_EQ(back.to_json(), j);
  expect_keys(VitConfig::keys(), j, {});
  expect_keys(VitConfig::keys(), VitConfig().to_json(), {});
}

TEST(ModelConfigs, VitBadValuesNameTheKey) {
  const json j = odd_vit_json();
  expect_wrong_types_named(j, [](const json& c) { VitConfig::from_json(c); });
  expect_rejected<VitConfig>(j, "hidden_size", 0,
                             "vit config: config key 'hidden_size' must be at least 1, got 0");
  expect_rejected<VitConfig>(j, "attention_probs_dropout_prob", 1.0,
                             "vit config: config key 'attention_probs_dropout_prob' must be a "
                             "probability in [0, 1), got 1");
  expect_rejected<VitConfig>(j, "qkv_bias", "no",
                             "vit config: config key 'qkv_bias' must be a boolean, got string "
                             "\"no\"");
  expect_rejected<VitConfig>(j, "num_channels", 1.5,
                             "vit config: config key 'num_channels' must be an integer, got "
                             "number 1.5");
  expect_rejected<VitConfig>(j, "hidden_act", "gelu_fast",
                             "config key 'hidden_act': unknown activation 'gelu_fast' (known: "
                             "gelu, gelu_new, gelu_pytorch_tanh, relu, silu, swish)");
  expect_rejected<VitConfig>(j, "patch_size", 64,
                             "vit config: patch_size (64) must not exceed image_size (32)");
  // A key that went through a float (TOML, Python) is still an integer; null is the default.
  json k = j;
  k["hidden_size"] = 24.0;
  k["encoder_stride"] = nullptr;
  const auto c = VitConfig::from_json(k);
  EXPECT_EQ(c.hidden_size, 24);
  EXPECT_EQ(c.encoder_stride, VitConfig().encoder_stride);
}

// ---- BERT --------------------------------------------------------------------------------------

BertConfig odd_bert() {
  BertConfig c;
  c.vocab_size = 100;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.hidden_act = "gelu_new";
  c.hidden_dropout_prob = 0.2;
  c.attention_probs_dropout_prob = 0.3;
  c.max_position_embeddings = 64;
  c.type_vocab_size = 1;
  c.initializer_range = 0.01;
  c.layer_norm_eps = 1e-5;
  c.pad_token_id = 3;
  c.classifier_dropout = 0.4;
  c.labels = labels_of({"ham", "spam"});
  c.attnd_extra = {{"lora", {{"rank", 2}}}};
  return c;
}

json odd_bert_json() {
  return {{"model_type", "bert"},
          {"architectures", {"BertForSequenceClassification"}},
          {"vocab_size", 100},
          {"hidden_size", 32},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"intermediate_size", 64},
          {"hidden_act", "gelu_new"},
          {"hidden_dropout_prob", 0.2},
          {"attention_probs_dropout_prob", 0.3},
          {"max_position_embeddings", 64},
          {"type_vocab_size", 1},
          {"initializer_range", 0.01},
          {"layer_norm_eps", 1e-5},
          {"pad_token_id", 3},
          {"position_embedding_type", "absolute"},
          {"classifier_dropout", 0.4},
          {"num_labels", 2},
          {"id2label", {{"0", "ham"}, {"1", "spam"}}},
          {"label2id", {{"ham", 0}, {"spam", 1}}},
          {"attnd", {{"lora", {{"rank", 2}}}}}};
}

TEST(ModelConfigs, BertJsonRoundTripAndKeys) {
  const json j = odd_bert().to_json();
  EXPECT_EQ(j, odd_bert_json());
  const auto c = BertConfig::from_json(j);
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.intermediate_size, 64);
  EXPECT_EQ(c.hidden_act, "gelu_new");
  EXPECT_EQ(c.hidden_dropout_prob, 0.2);
  EXPECT_EQ(c.attention_probs_dropout_prob, 0.3);
  EXPECT_EQ(c.max_position_embeddings, 64);
  EXPECT_EQ(c.type_vocab_size, 1);
  EXPECT_EQ(c.initializer_range, 0.01);
  EXPECT_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.pad_token_id, 3);
  ASSERT_TRUE(c.classifier_dropout.has_value());
  EXPECT_EQ(*c.classifier_dropout, 0.4);
  EXPECT_EQ(c.labels.id2label, (std::map<int64_t, std::string>{{0, "ham"}, {1, "spam"}}));
  EXPECT_EQ(c.attnd_extra, json({{"lora", {{"rank", 2}}}}));
  EXPECT_EQ(c.to_json(), j);
  // Unset classifier_dropout is written as null and read back as unset.
  auto unset = odd_bert();
  unset.classifier_dropout.reset();
  const json u = unset.to_json();
  EXPECT_TRUE(u.at("classifier_dropout").is_null());
  EXPECT_FALSE(BertConfig::from_json(u).classifier_dropout.has_value());
  expect_keys(BertConfig::keys(), j, {"is_decoder"});
}

TEST(ModelConfigs, BertBadValuesNameTheKey) {
  const json j = odd_bert_json();
  expect_wrong_types_named(j, [](const json& c) { BertConfig::from_json(c); });
  expect_rejected<BertConfig>(j, "type_vocab_size", -2,
                              "bert config: config key 'type_vocab_size' must be at least 1, got "
                              "-2");
  expect_rejected<BertConfig>(j, "classifier_dropout", 1.5,
                              "bert config: config key 'classifier_dropout' must be a probability "
                              "in [0, 1), got 1.5");
  expect_rejected<BertConfig>(j, "pad_token_id", 100,
                              "bert config: config key 'pad_token_id' must be in [0, vocab_size "
                              "= 100), got 100");
  expect_rejected<BertConfig>(j, "position_embedding_type", "relative_key",
                              "bert config: config key 'position_embedding_type' must be "
                              "\"absolute\" (the only kind attnd implements), got \"relative_key\"");
  expect_rejected<BertConfig>(j, "is_decoder", true,
                              "bert config: config key 'is_decoder' must be false (attnd's bert "
                              "is an encoder)");
  expect_rejected<BertConfig>(j, "is_decoder", "no",
                              "bert config: config key 'is_decoder' must be a boolean, got string "
                              "\"no\"");
}

// ---- GPT-2 -------------------------------------------------------------------------------------

Gpt2Config odd_gpt2() {
  Gpt2Config c;
  c.vocab_size = 50;
  c.n_positions = 16;
  c.n_embd = 32;
  c.n_layer = 3;
  c.n_head = 4;
  c.n_inner = 48;
  c.activation_function = "gelu";
  c.resid_pdrop = 0.0;
  c.embd_pdrop = 0.05;
  c.attn_pdrop = 0.15;
  c.layer_norm_epsilon = 1e-6;
  c.initializer_range = 0.05;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.labels = labels_of({"LABEL_0", "LABEL_1"});
  return c;
}

json odd_gpt2_json() {
  return {{"model_type", "gpt2"},
          {"architectures", {"GPT2LMHeadModel"}},
          {"vocab_size", 50},
          {"n_positions", 16},
          {"n_embd", 32},
          {"n_layer", 3},
          {"n_head", 4},
          {"n_inner", 48},
          {"activation_function", "gelu"},
          {"resid_pdrop", 0.0},
          {"embd_pdrop", 0.05},
          {"attn_pdrop", 0.15},
          {"layer_norm_epsilon", 1e-6},
          {"initializer_range", 0.05},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"scale_attn_weights", true},
          {"scale_attn_by_inverse_layer_idx", false},
          {"reorder_and_upcast_attn", false},
          {"tie_word_embeddings", true},
          {"num_labels", 2},
          {"id2label", {{"0", "LABEL_0"}, {"1", "LABEL_1"}}},
          {"label2id", {{"LABEL_0", 0}, {"LABEL_1", 1}}},
          {"attnd", json::object()}};
}

// HF's GPT-2 default (50256) names no token of a small vocabulary: the defaults write no ids,
// ids inside the vocabulary round-trip, and an id outside it (attnd's old configs) is dropped on
// reading and written back as null (issue 17).
TEST(ModelConfigs, Gpt2TokenIdsAreInsideTheVocabularyOrNone) {
  Gpt2Config fresh;
  fresh.vocab_size = 2000;
  EXPECT_TRUE(fresh.to_json().at("bos_token_id").is_null());
  EXPECT_TRUE(fresh.to_json().at("eos_token_id").is_null());
  json old = odd_gpt2_json();
  old["vocab_size"] = 2000;
  old["bos_token_id"] = 50256;
  old["eos_token_id"] = 1999;  // the last id is still inside
  const auto c = Gpt2Config::from_json(old);
  EXPECT_FALSE(c.bos_token_id.has_value());
  ASSERT_TRUE(c.eos_token_id.has_value());
  EXPECT_EQ(*c.eos_token_id, 1999);
  EXPECT_TRUE(c.to_json().at("bos_token_id").is_null());
  old["eos_token_id"] = 2000;  // one past the end
  EXPECT_FALSE(Gpt2Config::from_json(old).eos_token_id.has_value());
  old["bos_token_id"] = "1";
  EXPECT_THROW(Gpt2Config::from_json(old), InputError);  // still type-checked
}

TEST(ModelConfigs, Gpt2JsonRoundTripAndKeys) {
  const json j = odd_gpt2().to_json();
  EXPECT_EQ(j, odd_gpt2_json());
  const auto c = Gpt2Config::from_json(j);
  EXPECT_EQ(c.vocab_size, 50);
  EXPECT_EQ(c.n_positions, 16);
  EXPECT_EQ(c.n_embd, 32);
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_head, 4);
  ASSERT_TRUE(c.n_inner.has_value());
  EXPECT_EQ(*c.n_inner, 48);
  EXPECT_EQ(c.activation_function, "gelu");
  EXPECT_EQ(c.resid_pdrop, 0.0);
  EXPECT_EQ(c.embd_pdrop, 0.05);
  EXPECT_EQ(c.attn_pdrop, 0.15);
  EXPECT_EQ(c.layer_norm_epsilon, 1e-6);
  EXPECT_EQ(c.initializer_range, 0.05);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.labels.num_labels, 2);
  EXPECT_EQ(c.to_json(), j);
  auto unset = odd_gpt2();
  unset.n_inner.reset();
  EXPECT_TRUE(unset.to_json().at("n_inner").is_null());
  EXPECT_FALSE(Gpt2Config::from_json(unset.to_json()).n_inner.has_value());
  // HF's generic names are read (never written: to_json keeps GPT-2's own).
  expect_keys(Gpt2Config::keys(), j,
              {"max_position_embeddings", "hidden_size", "num_hidden_layers",
               "num_attention_heads"});
  const auto aliased = Gpt2Config::from_json({{"max_position_embeddings", 8}, {"hidden_size", 12},
                                              {"num_hidden_layers", 1}, {"num_attention_heads", 3},
                                              {"n_embd", 12}});
  EXPECT_EQ(aliased.n_positions, 8);
  EXPECT_EQ(aliased.n_embd, 12);
  EXPECT_EQ(aliased.n_layer, 1);
  EXPECT_EQ(aliased.n_head, 3);
  EXPECT_EQ(json_keys(aliased.to_json()), json_keys(j));
}

TEST(ModelConfigs, Gpt2BadValuesNameTheKey) {
  const json j = odd_gpt2_json();
  expect_wrong_types_named(j, [](const json& c) { Gpt2Config::from_json(c); });
  expect_rejected<Gpt2Config>(j, "n_inner", 0,
                              "gpt2 config: config key 'n_inner' must be at least 1, got 0");
  expect_rejected<Gpt2Config>(j, "embd_pdrop", -0.5,
                              "gpt2 config: config key 'embd_pdrop' must be a probability in "
                              "[0, 1), got -0.5");
  expect_rejected<Gpt2Config>(j, "activation_function", "mish",
                              "config key 'activation_function': unknown activation 'mish' "
                              "(known: gelu, gelu_new, gelu_pytorch_tanh, relu, silu, swish)");
  expect_rejected<Gpt2Config>(j, "hidden_size", 64,
                              "gpt2 config: config keys 'n_embd' and 'hidden_size' name the same "
                              "setting but differ (32 vs 64)");
  expect_rejected<Gpt2Config>(j, "tie_word_embeddings", false,
                              "gpt2 config: config key 'tie_word_embeddings' must be true "
                              "(attnd's GPT-2 head is tied to wte)");
  json alias_only = j;
  alias_only.erase("n_layer");
  expect_rejected<Gpt2Config>(alias_only, "num_hidden_layers", 0,
                              "gpt2 config: config key 'num_hidden_layers' must be at least 1, "
                              "got 0");
  expect_rejected<Gpt2Config>(j, "n_head", 5,
                              "gpt2 config: n_embd (32) must be a multiple of n_head (5)");
}

// ---- ViT MAE -----------------------------------------------------------------------------------

VitMaeConfig odd_vit_mae() {
  VitMaeConfig c;
  c.encoder.hidden_size = 32;
  c.encoder.num_hidden_layers = 2;
  c.encoder.num_attention_heads = 4;
  c.encoder.intermediate_size = 48;
  c.encoder.image_size = 16;
  c.encoder.patch_size = 4;
  c.encoder.num_channels = 1;
  c.encoder.labels = labels_of({"x", "y"});
  c.decoder_hidden_size = 16;
  c.decoder_num_hidden_layers = 2;
  c.decoder_num_attention_heads = 2;
  c.decoder_intermediate_size = 24;
  c.mask_ratio = 0.5;
  c.norm_pix_loss = true;
  return c;
}

json odd_vit_mae_json() {
  return {{"model_type", "vit_mae"},
          {"architectures", {"ViTMAEForPreTraining"}},
          {"hidden_size", 32},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"intermediate_size", 48},
          {"hidden_act", "gelu"},
          {"hidden_dropout_prob", 0.0},
          {"attention_probs_dropout_prob", 0.0},
          {"initializer_range", 0.02},
          {"layer_norm_eps", 1e-12},
          {"image_size", 16},
          {"patch_size", 4},
          {"num_channels", 1},
          {"qkv_bias", true},
          {"encoder_stride", 16},
          {"num_labels", 2},
          {"id2label", {{"0", "x"}, {"1", "y"}}},
          {"label2id", {{"x", 0}, {"y", 1}}},
          {"attnd", {{"pooling", "cls"}}},
          {"decoder_hidden_size", 16},
          {"decoder_num_hidden_layers", 2},
          {"decoder_num_attention_heads", 2},
          {"decoder_intermediate_size", 24},
          {"mask_ratio", 0.5},
          {"norm_pix_loss", true}};
}

TEST(ModelConfigs, VitMaeJsonRoundTripAndKeys) {
  const json j = odd_vit_mae().to_json();
  EXPECT_EQ(j, odd_vit_mae_json());
  const auto c = VitMaeConfig::from_json(j);
  EXPECT_EQ(c.encoder.hidden_size, 32);
  EXPECT_EQ(c.encoder.num_hidden_layers, 2);
  EXPECT_EQ(c.encoder.num_attention_heads, 4);
  EXPECT_EQ(c.encoder.intermediate_size, 48);
  EXPECT_EQ(c.encoder.image_size, 16);
  EXPECT_EQ(c.encoder.patch_size, 4);
  EXPECT_EQ(c.encoder.num_channels, 1);
  EXPECT_EQ(c.encoder.labels.id2label, (std::map<int64_t, std::string>{{0, "x"}, {1, "y"}}));
  EXPECT_EQ(c.decoder_hidden_size, 16);
  EXPECT_EQ(c.decoder_num_hidden_layers, 2);
  EXPECT_EQ(c.decoder_num_attention_heads, 2);
  EXPECT_EQ(c.decoder_intermediate_size, 24);
  EXPECT_EQ(c.mask_ratio, 0.5);
  EXPECT_EQ(c.norm_pix_loss, true);
  EXPECT_EQ(c.to_json(), j);
  expect_keys(VitMaeConfig::keys(), j, {});
}

TEST(ModelConfigs, VitMaeBadValuesNameTheKey) {
  const json j = odd_vit_mae_json();
  expect_wrong_types_named(j, [](const json& c) { VitMaeConfig::from_json(c); });
  expect_rejected<VitMaeConfig>(j, "decoder_num_hidden_layers", 0,
                                "vit_mae config: config key 'decoder_num_hidden_layers' must be "
                                "at least 1, got 0");
  expect_rejected<VitMaeConfig>(j, "mask_ratio", 1.0,
                                "vit_mae config: mask_ratio must be in (0, 1), got 1");
  expect_rejected<VitMaeConfig>(j, "norm_pix_loss", 1,
                                "vit_mae config: config key 'norm_pix_loss' must be a boolean, "
                                "got number 1");
  // The encoder's keys are the ViT's, with the ViT's messages.
  expect_rejected<VitMaeConfig>(j, "num_hidden_layers", 0,
                                "vit config: config key 'num_hidden_layers' must be at least 1, "
                                "got 0");
  expect_rejected<VitMaeConfig>(j, "decoder_num_attention_heads", 3,
                                "vit_mae config: decoder_hidden_size (16) must be a multiple of "
                                "decoder_num_attention_heads (3)");
}

}  // namespace
}  // namespace attnd
