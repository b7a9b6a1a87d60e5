// `attnd info DIR` names the Hugging Face architecture of a model directory from config.json and
// the tensor names (headers only), for directories laid out as transformers saves them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "attnd/io/json_file.h"
#include "attnd/io/safetensors.h"
#include "cli_run.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run;
using test::TempDir;

// A directory whose model.safetensors holds `names` (tiny tensors: info reads headers only).
std::string hf_dir(const TempDir& tmp, const std::string& name, const json& config,
                   const std::vector<std::string>& names) {
  const std::string dir = tmp / name;
  fs::create_directories(dir);
  if (!config.is_null()) write_json_file(dir + "/config.json", config);
  TensorMap tensors;
  for (const auto& n : names) tensors[n] = torch::zeros({2});
  write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

json info_json(const std::string& path) {
  const auto r = run("info " + path + " --json");
  EXPECT_EQ(r.code, 0) << r.output;
  return json::parse(r.output).at("architecture");
}

TEST(CliInfo, NamesTheArchitectureOfEachSupportedLayout) {
  TempDir tmp;
  const std::vector<std::string> bert_base = {"embeddings.word_embeddings.weight",
                                              "encoder.layer.0.attention.self.query.weight",
                                              "pooler.dense.weight"};
  std::vector<std::string> bert_task;
  for (const auto& n : bert_base) bert_task.push_back("bert." + n);
  bert_task.push_back("classifier.weight");
  struct Case {
    std::string dir;
    std::string name;
    bool loadable;
  };
  const std::vector<Case> cases = {
      {hf_dir(tmp, "bert-cls", {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}}, bert_task),
       "BertForSequenceClassification", true},
      {hf_dir(tmp, "bert-base", {{"model_type", "bert"}, {"architectures", {"BertModel"}}}, bert_base),
       "BertModel", false},
      {hf_dir(tmp, "bert-mlm", {{"model_type", "bert"}},
              {"bert.embeddings.word_embeddings.weight", "cls.predictions.bias"}),
       "BertForMaskedLM", false},
      // The hub's gpt2: no prefix, no lm_head, declared GPT2LMHeadModel.
      {hf_dir(tmp, "gpt2-hub", {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}},
              {"wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.attn.bias"}),
       "GPT2LMHeadModel", true},
      {hf_dir(tmp, "gpt2-base", {{"model_type", "gpt2"}}, {"wte.weight", "h.0.attn.c_attn.weight"}),
       "GPT2Model", true},
      {hf_dir(tmp, "vit-cls", {{"model_type", "vit"}, {"architectures", {"ViTForImageClassification"}}},
              {"vit.embeddings.patch_embeddings.projection.weight", "classifier.weight"}),
       "ViTForImageClassification", true},
      {hf_dir(tmp, "vit-base", {{"model_type", "vit"}},
              {"embeddings.patch_embeddings.projection.weight", "pooler.dense.weight"}),
       "ViTModel", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir);
    const json a = info_json(c.dir);
    EXPECT_EQ(a.at("name"), c.name);
    EXPECT_EQ(a.at("loadable"), c.loadable);
    const auto text = run("info " + c.dir);
    EXPECT_NE(text.output.find("architecture: " + c.name), std::string::npos) << text.output;
  }
  // Without config.json the family comes from the tensor names; load_model would need a config.
  const json bare = info_json(hf_dir(tmp, "no-config", nullptr, bert_task) + "/model.safetensors");
  EXPECT_EQ(bare.at("name"), "BertForSequenceClassification");
  EXPECT_EQ(bare.at("model_type"), "bert");
  EXPECT_EQ(bare.at("loadable"), false);
  // A family attnd does not implement is named as declared, and said to be unloadable.
  const json t5 = info_json(hf_dir(tmp, "t5", {{"model_type", "t5"}, {"architectures", {"T5ForConditionalGeneration"}}},
                                   {"shared.weight"}));
  EXPECT_EQ(t5.at("name"), "T5ForConditionalGeneration");
  EXPECT_EQ(t5.at("loadable"), false);
  EXPECT_NE(t5.at("note").get<std::string>().find("t5"), std::string::npos);
  // A pickle-only directory: the declared class, and why it does not load.
  const std::string pickled = tmp / "pickled";
  fs::create_directories(pickled);
  write_json_file(pickled + "/config.json", {{"model_type", "bert"}, {"architectures", {"BertModel"}}});
  test::write(pickled + "/pytorch_model.bin", "not read");
  const json pickle = info_json(pickled);
  EXPECT_EQ(pickle.at("name"), "BertModel");
  EXPECT_EQ(pickle.at("loadable"), false);
  EXPECT_NE(pickle.at("note").get<std::string>().find("pytorch_model.bin is a PyTorch pickle"),
            std::string::npos) << pickle;
  // A config that declares one class over the tensors of another says so.
  const json mixed = info_json(hf_dir(tmp, "mixed", {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}},
                                      bert_base));
  EXPECT_EQ(mixed.at("name"), "BertModel");
  EXPECT_NE(mixed.at("note").get<std::string>().find("declares BertForSequenceClassification"),
            std::string::npos);
}

}  // namespace
}  // namespace attnd
