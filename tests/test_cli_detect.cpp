// attnd detect through the binary: make-data → train (KS) → resume → eval → predict, the saved
// inference model, and bad input refused with exit 2 and a message naming what is wrong.
#include <filesystem>

#include "attnd/data/image_dataset.h"
#include "attnd/io/json_file.h"
#include "attnd/models/model_io.h"
#include "cli_run.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;

// A detector small enough to train a few steps in a second or two.
const char* kTinyModel =
    " --set model.backbone_width=8 --set model.backbone_stages=3 --set model.d_model=16"
    " --set model.encoder_layers=1 --set model.decoder_layers=1 --set model.encoder_ffn_dim=16"
    " --set model.decoder_ffn_dim=16 --set model.encoder_attention_heads=2"
    " --set model.decoder_attention_heads=2 --set model.num_queries=4"
    " --set model.ks_triple_attention=true --set data.image_size=64 --set run.threads=1"
    " --set train.batch_size=4 --set train.eval_batch_size=8 --set train.warmup_steps=1"
    " --set run.progress=quiet";

TEST(CliDetect, MakeDataTrainResumeEvalPredict) {
  if (!fs::is_directory(kFashionMnistDir)) GTEST_SKIP() << kFashionMnistDir << " missing";
  test::TempDir tmp;
  const auto data = tmp / "data";
  auto made = test::run("detect make-data --out " + data + " --train 12 --val 4 --test 4 "
                        "--min-side 48 --max-side 64 --max-scale 1.5 --max-objects 3");
  ASSERT_EQ(made.code, 0) << made.output;
  ASSERT_TRUE(fs::is_regular_file(data + "/test/instances.json"));

  const std::string recipe = std::string(ATTND_SOURCE_DIR) + "/recipes/detect/tiny.toml";
  const std::string base = "detect train " + recipe + " --data " + data + kTinyModel;
  auto part = test::run(base + " --set train.steps=4 --set train.eval_every=2 --set train.save_every=1"
                        " --out " + (tmp / "a"));
  ASSERT_EQ(part.code, 0) << part.output;
  // Resuming from the step-3 checkpoint retrains step 4 onto the same weights.
  const auto step4 = load_model(tmp / "a/checkpoints/step-0000004")->state();
  auto resumed = test::run(base + " --set train.steps=4 --set train.eval_every=2 --set train.save_every=1"
                           " --out " + (tmp / "a") + " --resume " + (tmp / "a/checkpoints/step-0000003"));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  const auto again = load_model(tmp / "a/checkpoints/step-0000004")->state();
  for (const auto& [name, t] : step4) EXPECT_TRUE(torch::equal(t, again.at(name))) << name;

  // <run>/inference: no teacher parameters, the categories file beside it.
  auto inference = load_model(tmp / "a/inference");
  for (const auto& [name, t] : inference->state()) EXPECT_EQ(name.find(".ks."), std::string::npos) << name;
  EXPECT_TRUE(fs::is_regular_file(tmp / "a/inference/categories.json"));
  const auto result = read_json_file(tmp / "a/result.json");
  EXPECT_TRUE(result["test"].contains("AP")) << result.dump();

  auto eval = test::run("detect eval " + (tmp / "a/inference") + " --split val");
  ASSERT_EQ(eval.code, 0) << eval.output;
  EXPECT_NE(eval.output.find("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]"),
            std::string::npos) << eval.output;
  auto pred = test::run("detect predict " + (tmp / "a/inference") + " --draw 2 --out " + (tmp / "p"));
  ASSERT_EQ(pred.code, 0) << pred.output;
  EXPECT_TRUE(fs::is_regular_file(tmp / "p/images/1.png"));
  EXPECT_TRUE(fs::is_regular_file(tmp / "p/images/2.png"));
  EXPECT_FALSE(fs::exists(tmp / "p/images/3.png"));
  // The results file scores the same as eval does on the model.
  auto rescored = test::run("detect eval --results " + (tmp / "p/results.json") + " --annotations " +
                            data + "/test/instances.json");
  ASSERT_EQ(rescored.code, 0) << rescored.output;
  auto direct = test::run("detect eval " + (tmp / "a/inference"));
  EXPECT_EQ(rescored.output, direct.output);
  // The generic attnd eval scores a detector as attnd detect eval does (the run's detection data
  // keys, e.g. data.channels, are not read as classifier data keys).
  auto generic = test::run("eval " + (tmp / "a/inference") + " --json");
  ASSERT_EQ(generic.code, 0) << generic.output;
  const auto j = nlohmann::json::parse(generic.output.substr(generic.output.find('{')));
  const auto expected = read_json_file(tmp / "a/result.json")["test"];
  EXPECT_NEAR(j.at("AP").get<double>(), expected.at("AP").get<double>(), 1e-6) << generic.output;
  EXPECT_EQ(j.at("examples").get<int64_t>(), 4);

  // attnd attn on the detector: a test example of its run's data, and an image file.
  auto attn = test::run("attn " + (tmp / "a/inference") + " --index 1 --queries 2 --out " + (tmp / "attn"));
  ASSERT_EQ(attn.code, 0) << attn.output;
  for (const char* f : {"encoder/layer0.png", "encoder/grid.png", "encoder_token.png", "cross.png"})
    EXPECT_TRUE(fs::is_regular_file(tmp / (std::string("attn/") + f))) << f << "\n" << attn.output;
  auto on_file = test::run("attn " + (tmp / "a/inference") + " --image " + data +
                           "/test/images/1.png --out " + (tmp / "attn-file"));
  ASSERT_EQ(on_file.code, 0) << on_file.output;
  EXPECT_TRUE(fs::is_regular_file(tmp / "attn-file/cross.png")) << on_file.output;

  // Bad input: exit 2 with a message naming it.
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> bad = {
      {"detect make-data --out " + (tmp / "x") + " --val 0", "--train, --val and --test must be >= 1"},
      {"detect train " + recipe + " --data " + (tmp / "none"), "instances.json is missing"},
      {base + " --set model.num_labels=3 --out " + (tmp / "c"), "model.num_labels = 3 but"},
      {base + " --set data.scale_min=0 --out " + (tmp / "c"), "data.scale_min"},
      {base + " --set train.lr_factors='[\"backbone.=x\"]' --out " + (tmp / "c"), "train.lr_factors"},
      {"detect eval " + (tmp / "a/inference") + " --images " + data + "/test/images", "--images needs --annotations"},
      {"detect eval --results " + (tmp / "p/results.json"), "--results needs --annotations"},
      {"detect predict " + (tmp / "nowhere"), "does not exist"},
      {"eval " + (tmp / "a/inference") + " --shift invert", "this checkpoint is a detector: --shift"},
      {"eval " + (tmp / "a/inference") + " --set data.max_length=3", "this checkpoint is a detector: --set"},
      {"attn " + (tmp / "a/inference") + " --token 100000 --out " + (tmp / "attn"), "--token 100000 is outside"},
      {"attn " + (tmp / "a/inference") + " --input-ids 1,2 --out " + (tmp / "attn"), "--input-ids is for text models"},
      {"attn " + (tmp / "a/inference") + " --image " + (tmp / "none.png"), "no such image file"},
  };
  for (const auto& c : bad) {
    auto r = test::run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace attnd
