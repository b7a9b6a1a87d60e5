// Model directories in the Hugging Face layout, written by hand here (names and shapes as
// transformers writes them, not taken from attnd's modules), loaded by load_model and compared
// with forwards written out from the transformers source (hf_reference_forward.h) in float64.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "attnd/core/error.h"
#include "attnd/io/json_file.h"
#include "attnd/io/safetensors.h"
#include "attnd/models/model.h"
#include "attnd/models/model_io.h"
#include "hf_reference_forward.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::error_of;
using test::TempDir;

void expect_contains(const std::string& text, const std::vector<std::string>& phrases) {
  for (const auto& p : phrases)
    EXPECT_NE(text.find(p), std::string::npos) << "'" << p << "' not in: " << text;
}

torch::Tensor weight(std::vector<int64_t> shape) { return torch::randn(shape) * 0.4; }
torch::Tensor norm_gain(int64_t n) { return 1 + torch::randn({n}) * 0.1; }

// ---- BERT: BertForSequenceClassification as transformers saves it -------------------------------

const json kBertConfig = {{"architectures", {"BertForSequenceClassification"}},
                          {"model_type", "bert"},
                          {"vocab_size", 20},
                          {"hidden_size", 8},
                          {"num_hidden_layers", 2},
                          {"num_attention_heads", 2},
                          {"intermediate_size", 12},
                          {"hidden_act", "gelu"},
                          {"max_position_embeddings", 10},
                          {"type_vocab_size", 2},
                          {"layer_norm_eps", 1e-12},
                          {"position_embedding_type", "absolute"},
                          {"id2label", {{"0", "neg"}, {"1", "neu"}, {"2", "pos"}}},
                          {"label2id", {{"neg", 0}, {"neu", 1}, {"pos", 2}}},
                          {"torch_dtype", "float16"},
                          {"transformers_version", "4.40.0"}};

// `legacy_norms`: LayerNorm.gamma / .beta, as files from before transformers 2.x.
TensorMap bert_hf_file(bool legacy_norms) {
  TensorMap t;
  const std::string g = legacy_norms ? ".gamma" : ".weight", b = legacy_norms ? ".beta" : ".bias";
  auto norm = [&](const std::string& name) {
    t[name + g] = norm_gain(8);
    t[name + b] = weight({8}) * 0.2;
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    t[name + ".weight"] = weight({out, in});
    t[name + ".bias"] = weight({out}) * 0.2;
  };
  t["bert.embeddings.word_embeddings.weight"] = weight({20, 8});
  t["bert.embeddings.position_embeddings.weight"] = weight({10, 8});
  t["bert.embeddings.token_type_embeddings.weight"] = weight({2, 8});
  norm("bert.embeddings.LayerNorm");
  t["bert.embeddings.position_ids"] = torch::arange(10).unsqueeze(0);  // a buffer HF saves
  for (int l = 0; l < 2; ++l) {
    const std::string L = "bert.encoder.layer." + std::to_string(l) + ".";
    linear(L + "attention.self.query", 8, 8);
    linear(L + "attention.self.key", 8, 8);
    linear(L + "attention.self.value", 8, 8);
    linear(L + "attention.output.dense", 8, 8);
    norm(L + "attention.output.LayerNorm");
    linear(L + "intermediate.dense", 12, 8);
    linear(L + "output.dense", 8, 12);
    norm(L + "output.LayerNorm");
  }
  linear("bert.pooler.dense", 8, 8);
  linear("classifier", 3, 8);
  return t;
}

TensorMap with_dtype(TensorMap t, torch::ScalarType type) {
  for (auto& kv : t)
    if (kv.second.is_floating_point()) kv.second = kv.second.to(type);
  return t;
}

void write_model_dir(const std::string& dir, const json& config, const TensorMap& tensors) {
  fs::create_directories(dir);
  write_json_file(dir + "/config.json", config);
  write_safetensors(dir + "/model.safetensors", tensors);
}

TEST(HfCheckpoints, BertStoredInEachFloatDtypeLoadsAsFloat32AndMatchesTheTransformersForward) {
  TempDir root;
  torch::manual_seed(1);
  for (const auto type : {torch::kHalf, torch::kBFloat16, torch::kDouble, torch::kFloat}) {
    SCOPED_TRACE(c10::toString(type));
    const TensorMap file = with_dtype(bert_hf_file(/*legacy_norms=*/type == torch::kHalf), type);
    const std::string dir = root / ("bert-" + std::string(c10::toString(type)));
    write_model_dir(dir, kBertConfig, file);
    Model model = load_model(dir);
    model->eval();
    for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
    ModelInput in;
    in.input_ids = torch::tensor({{2, 7, 19, 4, 0, 0}, {2, 3, 3, 11, 12, 5}}, torch::kLong);
    in.token_type_ids = torch::tensor({{0, 0, 1, 1, 0, 0}, {0, 0, 0, 1, 1, 1}}, torch::kLong);
    in.attention_mask = torch::tensor({{1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1}}, torch::kLong);
    const auto logits = model->forward(in).logits;
    EXPECT_EQ(logits.scalar_type(), torch::kFloat);
    // The oracle reads the stored values themselves (F16 / BF16 widen exactly to float).
    TensorMap by_name = file;
    if (type == torch::kHalf) {  // the oracle reads the modern names
      TensorMap renamed;
      for (auto& [name, value] : by_name) {
        std::string n = name;
        if (n.size() > 6 && n.compare(n.size() - 6, 6, ".gamma") == 0) n = n.substr(0, n.size() - 6) + ".weight";
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".beta") == 0) n = n.substr(0, n.size() - 5) + ".bias";
        renamed[n] = value;
      }
      by_name = renamed;
    }
    const auto expected =
        test::bert_logits_by_hand(by_name, {2, 2, 1e-12}, in.input_ids, in.token_type_ids,
                                  in.attention_mask);
    test::expect_close(logits, expected, 2e-5, "logits");
  }
}

TEST(HfCheckpoints, EveryMissingWrongShapedAndUnexpectedTensorIsNamedWithItsExpectedShape) {
  TempDir root;
  torch::manual_seed(2);
  TensorMap file = bert_hf_file(false);
  file.erase("classifier.bias");
  file.erase("bert.encoder.layer.1.output.dense.weight");
  file["bert.pooler.dense.weight"] = weight({8, 7});
  file["bert.encoder.layer.0.crossattention.self.query.weight"] = weight({8, 8});
  write_model_dir(root / "bad", kBertConfig, file);
  const auto msg = error_of([&] { load_model(root / "bad"); });
  expect_contains(msg, {root / "bad/model.safetensors", "4 tensors",
                        "missing tensor 'classifier.bias' (expected shape [3])",
                        "missing tensor 'bert.encoder.layer.1.output.dense.weight' (expected "
                        "shape [8, 12])",
                        "tensor 'bert.pooler.dense.weight' has shape [8, 7], expected [8, 8]",
                        "unexpected tensor 'bert.encoder.layer.0.crossattention.self.query."
                        "weight'"});
}

// ---- GPT-2: the hub's "gpt2" layout ---------------------------------------------------------------

const json kGpt2Config = {{"architectures", {"GPT2LMHeadModel"}},
                          {"model_type", "gpt2"},
                          {"vocab_size", 16},
                          {"n_positions", 8},
                          {"n_ctx", 8},
                          {"n_embd", 8},
                          {"n_layer", 2},
                          {"n_head", 2},
                          {"n_inner", nullptr},
                          {"activation_function", "gelu_new"},
                          {"layer_norm_epsilon", 1e-5},
                          {"bos_token_id", 0},
                          {"eos_token_id", 0}};

// No "transformer." prefix, Conv1D weights [in, out], the causal-mask buffers, the tied lm_head
// saved too (older files).
TensorMap gpt2_hub_file() {
  TensorMap t;
  auto norm = [&](const std::string& name) {
    t[name + ".weight"] = norm_gain(8);
    t[name + ".bias"] = weight({8}) * 0.2;
  };
  auto conv1d = [&](const std::string& name, int64_t in, int64_t out) {
    t[name + ".weight"] = weight({in, out});
    t[name + ".bias"] = weight({out}) * 0.2;
  };
  t["wte.weight"] = weight({16, 8});
  t["wpe.weight"] = weight({8, 8});
  for (int l = 0; l < 2; ++l) {
    const std::string L = "h." + std::to_string(l) + ".";
    norm(L + "ln_1");
    conv1d(L + "attn.c_attn", 8, 24);
    conv1d(L + "attn.c_proj", 8, 8);
    norm(L + "ln_2");
    conv1d(L + "mlp.c_fc", 8, 32);
    conv1d(L + "mlp.c_proj", 32, 8);
    t[L + "attn.bias"] = torch::ones({1, 1, 8, 8}).tril();
    t[L + "attn.masked_bias"] = torch::tensor(-1e4);
  }
  norm("ln_f");
  t["lm_head.weight"] = t["wte.weight"].clone();
  return t;
}

TEST(HfCheckpoints, Gpt2HubFileWithoutPrefixConv1DBuffersAndTiedHeadMatchesTheTransformersForward) {
  TempDir root;
  torch::manual_seed(3);
  for (const auto type : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(type));
    const TensorMap file = with_dtype(gpt2_hub_file(), type);
    const std::string dir = root / ("gpt2-" + std::string(c10::toString(type)));
    write_model_dir(dir, kGpt2Config, file);
    Model model = load_model(dir);
    model->eval();
    const auto ids = torch::tensor({{1, 5, 9, 15, 0, 3, 3, 7}}, torch::kLong);
    ModelInput in;
    in.input_ids = ids;
    const auto expected = test::gpt2_logits_by_hand(file, {2, 2, 1e-5}, ids);
    test::expect_close(model->forward(in).logits, expected, 2e-5, "LM logits");
  }
}

TEST(HfCheckpoints, AShardedGpt2DirectoryLoadsThroughItsIndex) {
  TempDir root;
  torch::manual_seed(4);
  const TensorMap file = gpt2_hub_file();
  TensorMap first, second;
  json weight_map = json::object();
  for (const auto& [name, t] : file) {
    const bool in_first = name.rfind("h.1.", 0) != 0;
    (in_first ? first : second)[name] = t;
    weight_map[name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  const std::string dir = root / "sharded";
  fs::create_directories(dir);
  write_json_file(dir + "/config.json", kGpt2Config);
  write_safetensors(dir + "/model-00001-of-00002.safetensors", first);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", second);
  write_json_file(dir + "/model.safetensors.index.json",
                  json{{"metadata", {{"total_size", 1234}}}, {"weight_map", weight_map}});
  Model model = load_model(dir);
  model->eval();
  const auto ids = torch::tensor({{4, 2, 8}}, torch::kLong);
  ModelInput in;
  in.input_ids = ids;
  test::expect_close(model->forward(in).logits, test::gpt2_logits_by_hand(file, {2, 2, 1e-5}, ids),
                     2e-5, "LM logits");
}

// ---- ViT: ViTForImageClassification, and the ViTModel base layout --------------------------------

const json kVitConfig = {{"architectures", {"ViTForImageClassification"}},
                         {"model_type", "vit"},
                         {"hidden_size", 8},
                         {"num_hidden_layers", 2},
                         {"num_attention_heads", 2},
                         {"intermediate_size", 12},
                         {"hidden_act", "gelu"},
                         {"layer_norm_eps", 1e-12},
                         {"image_size", 8},
                         {"patch_size", 4},
                         {"num_channels", 3},
                         {"qkv_bias", true},
                         {"encoder_stride", 4},
                         {"num_labels", 3}};

TensorMap vit_hf_file() {
  TensorMap t;
  auto norm = [&](const std::string& name) {
    t[name + ".weight"] = norm_gain(8);
    t[name + ".bias"] = weight({8}) * 0.2;
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    t[name + ".weight"] = weight({out, in});
    t[name + ".bias"] = weight({out}) * 0.2;
  };
  t["vit.embeddings.cls_token"] = weight({1, 1, 8});
  t["vit.embeddings.position_embeddings"] = weight({1, 5, 8});  // CLS + 2x2 patches
  t["vit.embeddings.patch_embeddings.projection.weight"] = weight({8, 3, 4, 4}) * 0.5;
  t["vit.embeddings.patch_embeddings.projection.bias"] = weight({8}) * 0.2;
  for (int l = 0; l < 2; ++l) {
    const std::string L = "vit.encoder.layer." + std::to_string(l) + ".";
    norm(L + "layernorm_before");
    linear(L + "attention.attention.query", 8, 8);
    linear(L + "attention.attention.key", 8, 8);
    linear(L + "attention.attention.value", 8, 8);
    linear(L + "attention.output.dense", 8, 8);
    norm(L + "layernorm_after");
    linear(L + "intermediate.dense", 12, 8);
    linear(L + "output.dense", 8, 12);
  }
  norm("vit.layernorm");
  linear("classifier", 3, 8);
  return t;
}

TEST(HfCheckpoints, VitMatchesTheTransformersForwardAndItsPoolerIsDropped) {
  TempDir root;
  torch::manual_seed(8);
  TensorMap file = vit_hf_file();
  file["vit.pooler.dense.weight"] = weight({8, 8});  // a ViTModel pooler the classifier lacks
  file["vit.pooler.dense.bias"] = weight({8});
  write_model_dir(root / "vit", kVitConfig, file);
  Model model = load_model(root / "vit");
  model->eval();
  ModelInput in;
  in.pixel_values = torch::rand({2, 3, 8, 8});
  test::expect_close(model->forward(in).logits,
                     test::vit_logits_by_hand(file, {2, 2, 1e-12}, in.pixel_values, 4), 2e-5,
                     "ViT logits");
}

// ---- saving back -------------------------------------------------------------------------------

// A loaded HF directory saved again is the same layout: the file's names (buffers and the tied
// head left out, legacy names modernised, the task prefix present) with the same values, GPT-2's
// Conv1D weights again [in, out].
TEST(HfCheckpoints, ALoadedDirectorySavesBackInTheHfLayout) {
  TempDir root;
  torch::manual_seed(5);
  const TensorMap bert = bert_hf_file(false);
  const TensorMap gpt2 = gpt2_hub_file();
  const std::pair<std::string, std::pair<json, TensorMap>> cases[] = {
      {"bert", {kBertConfig, bert}}, {"gpt2", {kGpt2Config, gpt2}}};
  for (const auto& [name, given] : cases) {
    SCOPED_TRACE(name);
    write_model_dir(root / name, given.first, given.second);
    Model model = load_model(root / name);
    save_model(root / (name + "-saved"), *model);
    const TensorMap saved = read_safetensors(root / (name + "-saved/model.safetensors")).tensors;
    TensorMap expected;
    for (const auto& [n, t] : given.second) {
      auto ends = [&](const std::string& suffix) {
        return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if (ends(".position_ids") || ends(".attn.bias") || ends(".attn.masked_bias") ||
          n == "lm_head.weight")
        continue;
      expected[name == "gpt2" ? "transformer." + n : n] = t;
    }
    for (const auto& kv : saved) EXPECT_TRUE(expected.count(kv.first)) << "saved " << kv.first;
    ASSERT_EQ(saved.size(), expected.size());
    for (const auto& [n, t] : expected) {
      ASSERT_TRUE(saved.count(n)) << n;
      EXPECT_TRUE(torch::equal(saved.at(n), t)) << n;  // shape and values: Conv1D [in, out]
    }
    const json config = read_json_file(root / (name + "-saved/config.json"));
    EXPECT_EQ(config.at("architectures"), given.first.at("architectures"));
    EXPECT_EQ(config.at("model_type"), given.first.at("model_type"));
  }
}

// ---- what is refused, by name ----------------------------------------------------------------------

// A BertModel directory (no prefix, no head) is named as such beside the missing classifier.
TEST(HfCheckpoints, ABaseModelDirectoryIsNamedBesideItsMissingHead) {
  TempDir root;
  torch::manual_seed(6);
  TensorMap base;
  for (const auto& [name, t] : bert_hf_file(false))
    if (name.rfind("bert.", 0) == 0) base[name.substr(5)] = t;
  json config = kBertConfig;
  config["architectures"] = {"BertModel"};
  write_model_dir(root / "base", config, base);
  expect_contains(error_of([&] { load_model(root / "base"); }),
                  {"2 tensors", "missing tensor 'classifier.weight' (expected shape [3, 8])",
                   "missing tensor 'classifier.bias' (expected shape [3])", "holds a BertModel",
                   "no sequence-classification head"});
}

TEST(HfCheckpoints, APickleOnlyDirectoryIsRefusedNamingTheFileAndTheConversion) {
  TempDir root;
  const std::string dir = root / "pickled";
  fs::create_directories(dir);
  write_json_file(dir + "/config.json", kBertConfig);
  std::ofstream(dir + "/pytorch_model.bin") << "PK\x03\x04 not really a zip";
  for (const std::string& path : {dir, dir + "/pytorch_model.bin"}) {
    SCOPED_TRACE(path);
    expect_contains(error_of([&] { load_model(path); }),
                    {"pytorch_model.bin", "pickle", "arbitrary code", "safetensors",
                     "save_pretrained", "safe_serialization=True"});
  }
  fs::rename(dir + "/pytorch_model.bin", dir + "/pytorch_model.bin.index.json");
  expect_contains(error_of([&] { load_model(dir); }), {"pytorch_model.bin.index.json", "pickle"});
}

TEST(HfCheckpoints, ConfigKeysThatChangeTheArchitectureAreRefusedByName) {
  const json configs[] = {kBertConfig, kGpt2Config, test::tiny_vit_config()};
  const std::pair<const char*, json> refused[] = {
      {"add_cross_attention", true},
      {"is_encoder_decoder", true},
      {"pruned_heads", json::object({{"0", json::array({1})}})},
      {"problem_type", "multi_label_classification"},
      {"problem_type", "regression"}};
  for (const auto& base : configs) {
    for (const auto& [key, value] : refused) {
      json config = base;
      config[key] = value;
      SCOPED_TRACE(base.at("model_type").get<std::string>() + " " + key);
      const auto msg = error_of([&] { create_model(config); });
      expect_contains(msg, {std::string("'") + key + "'"});
      EXPECT_EQ(msg.find("NO EXCEPTION"), std::string::npos);
    }
    // HF's defaults are accepted.
    json defaults = base;
    defaults["add_cross_attention"] = false;
    defaults["is_encoder_decoder"] = false;
    defaults["pruned_heads"] = json::object();
    defaults["problem_type"] = nullptr;
    EXPECT_NO_THROW(create_model(defaults));
  }
  json bert = kBertConfig;
  bert["position_embedding_type"] = "relative_key_query";
  expect_contains(error_of([&] { create_model(bert); }), {"'position_embedding_type'", "relative_key_query"});
  bert = kBertConfig;
  bert["hidden_act"] = "mish";
  expect_contains(error_of([&] { create_model(bert); }), {"hidden_act", "mish"});
  json gpt2 = kGpt2Config;
  gpt2["scale_attn_by_inverse_layer_idx"] = true;
  expect_contains(error_of([&] { create_model(gpt2); }), {"'scale_attn_by_inverse_layer_idx'"});
}

}  // namespace
}  // namespace attnd
