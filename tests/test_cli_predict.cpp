// `attnd predict`: tiny models saved here, their outputs compared with forwards written out from
// the transformers source (hf_reference_forward.h) over the saved model.safetensors, on token ids
// worked out by hand from a ten-token vocabulary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "attnd/io/safetensors.h"
#include "attnd/models/model.h"
#include "attnd/models/model_io.h"
#include "attnd/viz/image.h"
#include "cli_run.h"
#include "hf_reference_forward.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run;
using test::TempDir;

// [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 the=5 good=6 bad=7 movie=8 plot=9
const char* const kVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ngood\nbad\nmovie\nplot\n";

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(test::read(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

torch::Tensor as_tensor(const json& values) {
  return torch::tensor(values.get<std::vector<double>>(), torch::kDouble);
}

// A model with weights moved away from their initialisation, saved with the vocabulary.
void save_tiny(const std::string& dir, const json& config) {
  torch::manual_seed(7);
  Model model = create_model(config);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn(p.sizes()) * 0.3);
  }
  save_model(dir, *model);
  test::write(dir + "/vocab.txt", kVocab);
}

const json kBert = {{"model_type", "bert"},         {"vocab_size", 10},
                    {"hidden_size", 8},             {"num_hidden_layers", 2},
                    {"num_attention_heads", 2},     {"intermediate_size", 12},
                    {"max_position_embeddings", 16}, {"type_vocab_size", 2},
                    {"id2label", {{"0", "neg"}, {"1", "neu"}, {"2", "pos"}}}};

TEST(CliPredict, ClassifierLogitsProbabilitiesAndLabelsMatchTheTransformersForward) {
  TempDir tmp;
  const std::string model = tmp / "bert";
  save_tiny(model, kBert);
  test::write(tmp / "in.jsonl",
              "{\"text\": \"the good movie\", \"label\": \"pos\"}\n"
              "\n"
              "{\"text\": \"Bad plot\"}\n"
              "{\"text\": \"the good, bad\", \"label\": 0}\n");
  const auto r = run("predict " + model + " --input " + tmp / "in.jsonl" + " --out " +
                     tmp / "out.jsonl" + " --batch-size 2");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_jsonl(tmp / "out.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  const TensorMap file = read_safetensors(model + "/model.safetensors").tensors;
  const std::vector<std::vector<int64_t>> ids = {
      {2, 5, 6, 8, 3}, {2, 7, 9, 3}, {2, 5, 6, 1, 7, 3}};  // "," is [UNK]
  const std::vector<std::string> names = {"neg", "neu", "pos"};
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(i);
    const auto input = torch::tensor(ids[i], torch::kLong).unsqueeze(0);
    const auto expected =
        test::bert_logits_by_hand(file, {2, 2, 1e-12}, input, torch::zeros_like(input), {})[0];
    const auto& line = lines[i];
    EXPECT_EQ(line.at("index"), i);
    test::expect_close(as_tensor(line.at("logits")), expected, 2e-5, "logits");
    test::expect_close(as_tensor(line.at("probs")), torch::softmax(expected, 0), 2e-6, "probs");
    const int64_t best = expected.argmax().item<int64_t>();
    EXPECT_EQ(line.at("label_id"), best);
    EXPECT_EQ(line.at("label"), names[size_t(best)]);
  }
  EXPECT_EQ(lines[0].at("true_label"), "pos");
  EXPECT_EQ(lines[0].at("correct"), lines[0].at("label") == "pos");
  EXPECT_FALSE(lines[1].contains("true_label"));  // no label in the input
  EXPECT_EQ(lines[2].at("true_label"), "neg");
  EXPECT_EQ(lines[1].at("text"), "Bad plot");
  // In float64 the same file matches the float64 oracle to rounding.
  ASSERT_EQ(run("predict " + model + " --input " + tmp / "in.jsonl" + " --out " +
                tmp / "out64.jsonl" + " --dtype float64").code, 0);
  const auto lines64 = read_jsonl(tmp / "out64.jsonl");
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto input = torch::tensor(ids[i], torch::kLong).unsqueeze(0);
    test::expect_close(as_tensor(lines64[i].at("logits")),
                       test::bert_logits_by_hand(file, {2, 2, 1e-12}, input,
                                                 torch::zeros_like(input), {})[0],
                       1e-9, "float64 logits");
  }
}

TEST(CliPredict, LanguageModelTopKPerTokenAndLogLikelihoodMatchTheTransformersForward) {
  TempDir tmp;
  const std::string model = tmp / "gpt2";
  save_tiny(model, {{"model_type", "gpt2"}, {"vocab_size", 10}, {"n_positions", 8},
                    {"n_embd", 8}, {"n_layer", 2}, {"n_head", 2}});
  test::write(tmp / "in.txt", "the good movie\nbad plot the\n");
  const auto r = run("predict " + model + " --input " + tmp / "in.txt" + " --out " +
                     tmp / "out.jsonl" + " --top-k 3 --full-logits");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_jsonl(tmp / "out.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  const TensorMap file = read_safetensors(model + "/model.safetensors").tensors;
  const std::vector<std::vector<int64_t>> ids = {{5, 6, 8}, {7, 9, 5}};
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(i);
    const auto logits = test::gpt2_logits_by_hand(
        file, {2, 2, 1e-5}, torch::tensor(ids[i], torch::kLong).unsqueeze(0))[0];
    const auto log_probs = torch::log_softmax(logits, -1);
    const auto& tokens = lines[i].at("tokens");
    ASSERT_EQ(tokens.size(), ids[i].size());
    double log_likelihood = 0;
    for (size_t t = 0; t < ids[i].size(); ++t) {
      const auto& token = tokens[t];
      EXPECT_EQ(token.at("id"), ids[i][t]);
      test::expect_close(as_tensor(token.at("logits")), logits[int64_t(t)], 2e-5, "logits");
      const auto top = log_probs[int64_t(t)].topk(3);
      EXPECT_EQ(token.at("next_top_ids").get<std::vector<int64_t>>(),
                (std::vector<int64_t>(std::get<1>(top).data_ptr<int64_t>(),
                                      std::get<1>(top).data_ptr<int64_t>() + 3)));
      test::expect_close(as_tensor(token.at("next_top_probs")), std::get<0>(top).exp(), 2e-6,
                         "top-k probabilities");
      if (t + 1 < ids[i].size()) {
        const double lp = log_probs[int64_t(t)][ids[i][t + 1]].item<double>();
        EXPECT_NEAR(token.at("next_log_prob").get<double>(), lp, 2e-5);
        log_likelihood += lp;
      } else {
        EXPECT_FALSE(token.contains("next_log_prob"));
      }
    }
    EXPECT_NEAR(lines[i].at("log_likelihood").get<double>(), log_likelihood, 5e-5);
  }
  // Without --full-logits the file stays small: no logits rows.
  ASSERT_EQ(run("predict " + model + " --input " + tmp / "in.txt" + " --out " + tmp / "small.jsonl").code, 0);
  EXPECT_FALSE(read_jsonl(tmp / "small.jsonl")[0].at("tokens")[0].contains("logits"));
}

// A linearized GPT-2 (layer 0 linear attention with Hedgehog feature maps, layer 1 softmax), run as
// docs/hf-compat.md tells other code to run it.
TEST(CliPredict, ALinearizedLanguageModelMatchesTheDocumentedLinearAttention) {
  TempDir tmp;
  const std::string model = tmp / "hedgehog";
  save_tiny(model, {{"model_type", "gpt2"}, {"vocab_size", 10}, {"n_positions", 8}, {"n_embd", 8},
                    {"n_layer", 2}, {"n_head", 2},
                    {"attnd", {{"mixers", {{"0", {{"kind", "linear"}, {"feature_map", "softmax_split"},
                                                  {"num_heads", 2}, {"head_dim", 4}}}}}}}});
  const TensorMap file = read_safetensors(model + "/model.safetensors").tensors;
  ASSERT_TRUE(file.count("transformer.h.0.attn.mixer.q_map.weight"));
  ASSERT_FALSE(file.count("transformer.h.1.attn.mixer.q_map.weight"));
  test::write(tmp / "in.txt", "the good movie bad plot\n");
  ASSERT_EQ(run("predict " + model + " --input " + tmp / "in.txt" + " --out " + tmp / "out.jsonl" +
                " --full-logits --dtype float64").code, 0);
  const auto tokens = read_jsonl(tmp / "out.jsonl").at(0).at("tokens");
  const auto expected = test::gpt2_logits_by_hand(
      file, {2, 2, 1e-5}, torch::tensor({5, 6, 8, 7, 9}, torch::kLong).unsqueeze(0))[0];
  ASSERT_EQ(tokens.size(), 5u);
  for (int64_t t = 0; t < 5; ++t)
    test::expect_close(as_tensor(tokens[size_t(t)].at("logits")), expected[t], 1e-9, "logits");
}

TEST(CliPredict, ImageClassifierReadsAListOfImageFiles) {
  TempDir tmp;
  const std::string model = tmp / "vit";
  save_tiny(model, test::tiny_vit_config(1, 3));
  std::vector<torch::Tensor> pixels;
  for (int k = 0; k < 2; ++k) {
    Image image(8, 8);
    auto grey = torch::randint(0, 256, {8, 8}, torch::kLong);
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const auto v = static_cast<uint8_t>(grey[y][x].item<int64_t>());
        image.set(x, y, {v, v, v});
      }
    write_png(tmp / ("img" + std::to_string(k) + ".png"), image);
    pixels.push_back(grey.to(torch::kFloat).unsqueeze(0) / 255.0);
  }
  test::write(tmp / "images.txt", "img0.png\nimg1.png\n");
  const auto r = run("predict " + model + " --input " + tmp / "images.txt" + " --out " +
                     tmp / "out.jsonl");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto lines = read_jsonl(tmp / "out.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  Model loaded = load_model(model);
  loaded->eval();
  ModelInput input;
  input.pixel_values = torch::stack(pixels);
  const auto expected = loaded->forward(input).logits;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(lines[i].at("image"), "img" + std::to_string(i) + ".png");
    test::expect_close(as_tensor(lines[i].at("logits")), expected[int64_t(i)], 1e-5, "logits");
  }
  // A picture of another size is named, with the size the model reads.
  Image big(9, 8);
  write_png(tmp / "big.png", big);
  test::write(tmp / "bad.txt", "img0.png\nbig.png\n");
  const auto bad = run("predict " + model + " --input " + tmp / "bad.txt" + " --out " +
                       tmp / "bad.jsonl");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find(tmp / "bad.txt:2"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("8x8"), std::string::npos) << bad.output;
}

TEST(CliPredict, BadInputExitsTwoNamingFileAndLineAndWritesNothing) {
  TempDir tmp;
  const std::string model = tmp / "bert";
  save_tiny(model, kBert);
  const std::string out = tmp / "out.jsonl";
  auto predict = [&](const std::string& name, const std::string& content) {
    test::write(tmp / name, content);
    return run("predict " + model + " --input " + tmp / name + " --out " + out);
  };
  auto r = predict("a.jsonl", "{\"text\": \"good\"}\n{\"text\": \"bad\"\n");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(tmp / "a.jsonl:2"), std::string::npos) << r.output;
  r = predict("b.jsonl", "{\"text\": \"good\", \"label\": \"great\"}\n");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(tmp / "b.jsonl:1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("great"), std::string::npos) << r.output;
  r = predict("c.xml", "<text/>");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("c.xml"), std::string::npos) << r.output;
  r = run("predict " + tmp / "nowhere" + " --input " + tmp / "a.jsonl" + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // No temporary file is left either.
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find("out.jsonl"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace attnd
