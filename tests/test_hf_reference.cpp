// attnd's logits against Hugging Face transformers' own, for the small random models that
// tools/hf_reference.py writes (config.json + model.safetensors + reference.json per model) into
// data/hf-reference (or $ATTND_DATA_DIR/hf-reference). Skipped, saying so, where the files are
// absent: writing them needs the transformers Python package, which attnd's machines lack.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "attnd/io/json_file.h"
#include "attnd/models/model.h"
#include "attnd/models/model_io.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Nested JSON numbers → a tensor of `type` (shape from the nesting).
torch::Tensor tensor_of(const json& j, torch::ScalarType type) {
  std::vector<int64_t> shape;
  for (const json* level = &j; level->is_array(); level = &level->front()) {
    shape.push_back(static_cast<int64_t>(level->size()));
    if (level->empty()) break;
  }
  std::vector<double> flat;
  std::function<void(const json&)> walk = [&](const json& v) {
    if (v.is_array())
      for (const auto& x : v) walk(x);
    else
      flat.push_back(v.get<double>());
  };
  walk(j);
  return torch::tensor(flat, torch::kDouble).view(shape).to(type);
}

void compare_with_transformers(const std::string& name) {
  const std::string dir = test::test_data_dir() + "/hf-reference/" + name;
  if (!fs::is_regular_file(dir + "/reference.json"))
    GTEST_SKIP() << dir << "/reference.json is absent: run tools/hf_reference.py where the "
                 << "transformers package is installed and copy its output to "
                 << test::test_data_dir() << "/hf-reference";
  const json reference = read_json_file(dir + "/reference.json");
  const json& inputs = reference.at("inputs");
  ModelInput input;
  for (const char* key : {"input_ids", "token_type_ids", "attention_mask"}) {
    if (!inputs.contains(key)) continue;
    const auto t = tensor_of(inputs.at(key), torch::kLong);
    if (std::string(key) == "input_ids") input.input_ids = t;
    if (std::string(key) == "token_type_ids") input.token_type_ids = t;
    if (std::string(key) == "attention_mask") input.attention_mask = t;
  }
  if (inputs.contains("pixel_values"))
    input.pixel_values = tensor_of(inputs.at("pixel_values"), torch::kFloat);
  Model model = load_model(dir);
  model->eval();
  const auto logits = model->forward(input).logits.to(torch::kDouble);
  const auto expected = tensor_of(reference.at("logits"), torch::kDouble);
  ASSERT_EQ(logits.sizes(), expected.sizes()) << reference.at("architecture");
  // float32 on both sides, different summation orders: a few ulps of the logits' scale.
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  test::expect_close(logits, expected, 1e-4 * scale,
                     name + " (" + reference.at("architecture").get<std::string>() + ", transformers " +
                         reference.value("transformers_version", "?") + ")");
}

TEST(HfReference, BertForSequenceClassification) { compare_with_transformers("bert"); }
TEST(HfReference, BertStoredInFloat16) { compare_with_transformers("bert-f16"); }
TEST(HfReference, Gpt2LMHeadModel) { compare_with_transformers("gpt2"); }
TEST(HfReference, Gpt2ModelWithoutPrefix) { compare_with_transformers("gpt2-base"); }
TEST(HfReference, ViTForImageClassification) { compare_with_transformers("vit"); }

}  // namespace
}  // namespace attnd
