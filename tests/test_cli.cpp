// The attnd binary as a user meets it: exit codes and messages for bad input, and a tiny end-to-end
// train → info → eval → attn → distill → resume on the real Fashion-MNIST (skipped if absent).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "test_utils.h"

namespace {

namespace fs = std::filesystem;

using attnd::test::run;
using attnd::test::write;

bool has_fashion_mnist() {
  return fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

TEST(Cli, VersionNamesLibTorchAndBlas) {
  auto r = run("--version");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("attnd "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("LibTorch "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("BLAS "), std::string::npos) << r.output;
}

// The verbs --help lists under "Subcommands:".
std::set<std::string> help_verbs(const std::string& help) {
  std::set<std::string> verbs;
  std::istringstream in(help.substr(help.find("Subcommands:")));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line) && line.rfind("  ", 0) == 0) {
    std::istringstream words(line);
    std::string verb;
    words >> verb;
    verbs.insert(verb);
  }
  return verbs;
}

// The comma-separated words inside every (...) of text.
std::vector<std::string> parenthesised(const std::string& text) {
  std::vector<std::string> out;
  for (size_t open = text.find('('); open != std::string::npos; open = text.find('(', open + 1)) {
    std::istringstream in(text.substr(open + 1, text.find(')', open) - open - 1));
    for (std::string item; std::getline(in, item, ',');) {
      std::istringstream word(item);
      std::string w;
      word >> w;
      out.push_back(w);
    }
  }
  return out;
}

// The banner, the subcommand list, the cmd_<verb>.cpp files and the architecture page name the
// same verbs, and the banner names no verb that is not there (issue 17). The oracle is the file
// system: one cmd_<verb>.cpp per verb.
TEST(Cli, HelpBannerAndArchitecturePageNameOnlyRegisteredVerbs) {
  const auto r = run("--help");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto verbs = help_verbs(r.output);
  std::set<std::string> files;
  for (const auto& f : fs::directory_iterator(std::string(ATTND_SOURCE_DIR) + "/apps/attnd")) {
    const auto name = f.path().filename().string();
    if (name.rfind("cmd_", 0) == 0 && f.path().extension() == ".cpp")
      files.insert(name.substr(4, name.size() - 8));
  }
  EXPECT_EQ(verbs, files) << r.output;
  const auto banner = r.output.substr(0, r.output.find('\n'));
  const auto banner_verbs = parenthesised(banner);
  EXPECT_GE(banner_verbs.size(), 4u) << banner;
  for (const auto& v : banner_verbs) EXPECT_TRUE(verbs.count(v)) << "'" << v << "' in: " << banner;
  // docs/architecture.md: "apps/attnd/ main.cpp + cmd_<verb>.cpp (train, distill, ...)".
  const auto doc = attnd::test::read(std::string(ATTND_SOURCE_DIR) + "/docs/architecture.md");
  const auto at = doc.find("apps/attnd/ main.cpp + cmd_<verb>.cpp (");
  ASSERT_NE(at, std::string::npos);
  const auto listed = parenthesised(doc.substr(at, doc.find(')', at) - at + 1));
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), verbs);
}

TEST(Cli, UnknownOptionIsAUsageError) {
  auto r = run("train --no-such-option");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(Cli, MissingCheckpointIsNamed) {
  auto r = run("info /nonexistent/checkpoint");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/checkpoint"), std::string::npos) << r.output;
  r = run("eval /nonexistent/checkpoint");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/checkpoint"), std::string::npos) << r.output;
}

TEST(Cli, CorruptCheckpointIsNamedAndNotACrash) {
  attnd::test::TempDir tmp;
  const auto dir = tmp / "ckpt";
  fs::create_directories(dir);
  write(dir + "/config.json", attnd::test::tiny_vit_config().dump());
  write(dir + "/model.safetensors", "this is not a safetensors file at all");
  auto r = run("eval " + dir);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  write(dir + "/config.json", "{ not json");
  r = run("info " + dir);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

TEST(Cli, UnknownRecipeKeySuggestsTheClosestOne) {
  attnd::test::TempDir tmp;
  write(tmp / "r.toml", "[train]\nstep = 10\n");
  auto r = run("train " + (tmp / "r.toml") + " --print-config");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.step"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train.steps"), std::string::npos) << r.output;
  r = run("train --set train.lrr=0.1 --print-config");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.lr"), std::string::npos) << r.output;
  r = run("train --set train.steps=many --print-config");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.steps"), std::string::npos) << r.output;
}

TEST(Cli, ModelTableTypoIsRejected) {
  // Associative recall is generated (no data files), so the run gets as far as the [model] check.
  attnd::test::TempDir tmp;
  write(tmp / "r.toml",
        "[data]\ndataset = \"associative-recall\"\nrecall_pairs = 4\nrecall_vocab = 20\n"
        "train_examples = 64\n"
        "[model]\nmodel_type = \"gpt2\"\nvocab_size = 20\nn_positions = 16\nn_embdd = 16\n"
        "n_layer = 1\nn_head = 1\n"
        "[train]\nsteps = 1\nbatch_size = 8\nwarmup_steps = 0\n");
  auto r = run("train " + (tmp / "r.toml") + " --set run.progress=lines --out " + (tmp / "run"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown key 'model.n_embdd'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'model.n_embd'?"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "run/metrics.jsonl")) << "it trained despite the typo";
}

TEST(Cli, PrintConfigShowsEveryKey) {
  auto r = run("distill --print-config");
  EXPECT_EQ(r.code, 0) << r.output;
  for (const char* key : {"[train]", "lr", "[distill]", "attention_weight", "[data]", "[run]"})
    EXPECT_NE(r.output.find(key), std::string::npos) << key << "\n" << r.output;
}

TEST(Cli, MissingDatasetNamesThePackage) {
  attnd::test::TempDir tmp;
  auto r = run("train --set model.model_type=vit --set data.dir=" + (tmp / "no-data") +
               " --out " + (tmp / "run"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("dataset-fashion-mnist"), std::string::npos) << r.output;
}

TEST(Cli, TrainInfoEvalAttnDistillResumeEndToEnd) {
  if (!has_fashion_mnist()) GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed";
  attnd::test::TempDir tmp;
  const std::string tiny =
      " --set model.model_type=vit --set model.image_size=28 --set model.patch_size=7"
      " --set model.num_channels=1 --set model.hidden_size=16 --set model.num_hidden_layers=2"
      " --set model.num_attention_heads=2 --set model.intermediate_size=32 --set model.num_labels=10"
      " --set train.batch_size=16 --set data.train_examples=200 --set data.val_examples=100"
      " --set train.eval_every=2 --set train.warmup_steps=1 --set run.progress=lines"
      " --set train.eval_batch_size=1000";
  auto r = run("train --set train.steps=4" + tiny + " --out " + (tmp / "teacher"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "teacher/best/model.safetensors"));
  EXPECT_TRUE(fs::exists(tmp / "teacher/config.toml"));
  EXPECT_TRUE(fs::exists(tmp / "teacher/result.json"));
  EXPECT_NE(r.output.find("test: accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("eval @2"), std::string::npos) << r.output;  // not repeated on resume

  r = run("info " + (tmp / "teacher/best"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("vit.encoder.layer.1.attention.attention.query.weight"),
            std::string::npos) << r.output;

  r = run("eval " + (tmp / "teacher/best") + " --json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"accuracy\""), std::string::npos) << r.output;

  r = run("attn " + (tmp / "teacher/best") + " --teacher " + (tmp / "teacher/best") + " --out " +
          (tmp / "maps"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "maps/layer0.png")) << r.output;

  r = run("distill --set train.steps=2" + tiny + " --teacher " + (tmp / "teacher/best") +
          " --out " + (tmp / "student"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("soft_ce"), std::string::npos) << r.output;  // the loss part is logged

  // Resume: a run extended from 4 to 6 steps continues from its step-4 checkpoint. Only steps 5
  // and 6 run: no evaluation at 2 or 4, and metrics.jsonl keeps the first run's lines (with its
  // train line at 4, which a fresh 6-step run would not write) followed by the new ones.
  r = run("train --set train.steps=6" + tiny + " --out " + (tmp / "teacher") + " --resume " +
          (tmp / "teacher/checkpoints/step-0000004"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("6 steps"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("eval @6"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("eval @2"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("eval @4"), std::string::npos) << r.output;
  std::vector<std::string> lines;
  {
    std::ifstream in(tmp / "teacher/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto record = nlohmann::json::parse(line);
      lines.push_back(record.at("split").get<std::string>() + "@" +
                      std::to_string(record.at("step").get<int64_t>()));
    }
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"eval@2", "train@4", "eval@4", "train@6", "eval@6"}));
}

// The demo's table and results.json take their counts from the runs: Fashion-MNIST's training
// split has 60,000 images (the package's idx header) and its test split 10,000.
TEST(Cli, DemoReportsTheCountsItsRunsUsed) {
  if (!has_fashion_mnist()) GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed";
  attnd::test::TempDir tmp;
  auto r = run("demo --teacher-steps 2 --student-steps 2 --labels 50 --threads 1 --progress quiet"
               " --set data.val_examples=100 --set train.batch_size=25 --set model.hidden_size=16"
               " --set model.num_hidden_layers=1 --set model.intermediate_size=32"
               " --set train.eval_every=2 --set train.eval_batch_size=2000 --out " +
               (tmp / "demo"));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(tmp / "demo/results.json");
  const auto results = nlohmann::json::parse(in);
  EXPECT_EQ(results["teacher"]["train_examples"], 60000 - 100);
  EXPECT_EQ(results["scratch"]["train_examples"], 50);
  EXPECT_EQ(results["distilled"]["train_examples"], 50);
  for (const char* stage : {"teacher", "scratch", "distilled"}) {
    EXPECT_EQ(results[stage]["test_examples"], 10000) << stage;
    EXPECT_EQ(results[stage]["steps"], 2) << stage;
  }
  EXPECT_EQ(results["threads"], 1);
  EXPECT_NE(r.output.find("| teacher (ViT, supervised) | 59900 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| student from scratch | 50 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("test split, 10000 images"), std::string::npos) << r.output;
}

TEST(Cli, MaeTransferCopyEvalEnsembleShiftEndToEnd) {
  if (!has_fashion_mnist()) GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed";
  attnd::test::TempDir tmp;
  const std::string sizes =
      " --set model.image_size=28 --set model.patch_size=7 --set model.num_channels=1"
      " --set model.hidden_size=16 --set model.num_hidden_layers=2 --set model.num_attention_heads=2"
      " --set model.intermediate_size=32";
  const std::string small =
      " --set train.batch_size=16 --set data.train_examples=200 --set data.val_examples=100"
      " --set train.eval_every=2 --set train.warmup_steps=1 --set run.progress=lines"
      " --set train.eval_batch_size=1000 --set train.steps=2";
  auto r = run("train --set model.model_type=vit_mae --set model.decoder_hidden_size=16"
               " --set model.decoder_num_hidden_layers=1 --set model.decoder_num_attention_heads=2"
               " --set model.decoder_intermediate_size=32" + sizes + small + " --out " + (tmp / "mae"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("test: loss"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "mae/encoder/model.safetensors")) << r.output;

  const std::string student = " --set model.model_type=vit --set model.num_labels=10" + sizes + small;
  r = run("transfer" + student + " --teacher " + (tmp / "mae/encoder") + " --mode copy --layers first:1 --out " +
          (tmp / "copy"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("eval " + (tmp / "copy/best") + " --json --with " + (tmp / "mae/encoder") +
          " --shift rotate90");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"ensemble_with\""), std::string::npos) << r.output;

  r = run("transfer" + student + " --teacher " + (tmp / "mae/encoder") + " --mode distill --heads 1 --out " +
          (tmp / "distill"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("soft_ce"), std::string::npos) << r.output;

  r = run("transfer" + student + " --teacher " + (tmp / "mae/encoder") + " --layers first:9 --out " +
          (tmp / "bad"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("transfer.layers"), std::string::npos) << r.output;
}

TEST(Cli, LinearizeBothStagesThenEval) {
  if (!has_fashion_mnist()) GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed";
  attnd::test::TempDir tmp;
  const std::string small =
      " --set train.batch_size=16 --set data.train_examples=200 --set data.val_examples=100"
      " --set train.eval_every=2 --set train.warmup_steps=1 --set run.progress=lines"
      " --set train.eval_batch_size=1000 --set train.steps=2";
  auto r = run("train --set model.model_type=vit --set model.image_size=28 --set model.patch_size=7"
               " --set model.num_channels=1 --set model.hidden_size=16 --set model.num_hidden_layers=2"
               " --set model.num_attention_heads=2 --set model.intermediate_size=32"
               " --set model.num_labels=10" + small + " --out " + (tmp / "softmax"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("linearize --from " + (tmp / "softmax/best") + " --feature-map softmax_split" + small +
          " --set linearize.attention_steps=3 --out " + (tmp / "lin"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("recovery"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Spearman"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "lin/report.md"));
  r = run("eval " + (tmp / "lin/model") + " --json");
  EXPECT_EQ(r.code, 0) << r.output;
  // Fidelity against the original, on the split of the linearize run (its config.toml).
  r = run("eval " + (tmp / "lin/model") + " --fidelity --fidelity-examples 50 --teacher " +
          (tmp / "softmax/best"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| layer | CE | KL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data settings from"), std::string::npos) << r.output;
  r = run("eval " + (tmp / "softmax/best") + " --fidelity");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("needs a linearized model"), std::string::npos) << r.output;
  // Stage 2 with LoRA: the saved model is merged (no adapter names, no attnd.lora).
  r = run("linearize --from " + (tmp / "softmax/best") + " --feature-map t2r --finetune lora" +
          small + " --set linearize.attention_steps=2 --out " + (tmp / "lora"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("info " + (tmp / "lora/model"));
  EXPECT_EQ(r.output.find(".lora."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mixer.q_map"), std::string::npos) << r.output;
  r = run("info " + (tmp / "lin/model"));
  EXPECT_NE(r.output.find("mixer.q_map.weight"), std::string::npos) << r.output;
  r = run("linearize --from " + (tmp / "softmax/best") + " --feature-map favor" + small +
          " --out " + (tmp / "bad"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("performer"), std::string::npos) << r.output;
}

TEST(Cli, AssociativeRecallFromScratchWithLinearAttention) {
  attnd::test::TempDir tmp;
  const std::string small =
      " --set data.recall_pairs=4 --set data.recall_vocab=20 --set data.train_examples=64"
      " --set model.vocab_size=20 --set model.n_positions=16 --set model.n_embd=16"
      " --set train.steps=2 --set train.eval_every=2 --set train.batch_size=8"
      " --set train.warmup_steps=1 --set run.progress=lines";
  auto r = run("train " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/recall.toml" + small +
               " --set attention.mixer=linear --set attention.feature_map=taylor --out " +
               (tmp / "recall"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("perplexity"), std::string::npos) << r.output;
  // eval finds the run's data settings (the same generated test split) by itself.
  r = run("eval " + (tmp / "recall/best") + " --fidelity --fidelity-examples 8");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("associative-recall/test"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| 1 |"), std::string::npos) << r.output;
  // Recurrent decoding of the linear model; no tokenizer, so ids in and out.
  r = run("generate " + (tmp / "recall/best") + " --ids \"3 12 4\" --max-new-tokens 5 --greedy");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tokens/s"), std::string::npos) << r.output;
  r = run("generate " + (tmp / "recall/best") + " --prompt \"hello\"");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run("train " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/recall.toml" + small +
          " --set attention.mixer=cubic --out " + (tmp / "bad"));
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(Cli, SpamBertLinearizedWithItsTokenizer) {
  const std::string data = attnd::test::test_data_dir() + "/spam-assassin";
  if (!fs::is_directory(data)) GTEST_SKIP() << data << " is missing: run scripts/fetch-data";
  attnd::test::TempDir tmp;
  const std::string small =
      " --set data.dir=" + data + " --set data.max_length=24 --set train.steps=2"
      " --set train.eval_every=2 --set train.batch_size=8 --set train.warmup_steps=1"
      " --set train.eval_batch_size=256 --set run.progress=lines";
  auto r = run("train " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/bert-spam.toml" +
               small + " --set data.vocab_size=400 --set model.max_position_embeddings=24"
               " --set data.train_examples=64 --out " + (tmp / "bert"));
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "bert/best/tokenizer.json"));
  r = run("linearize " + std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/bert-spam-linearize.toml"
          " --from " + (tmp / "bert/best") + small + " --set data.train_examples=64"
          " --set linearize.attention_steps=2 --mixer hybrid --set linearize.window=4 --out " +
          (tmp / "lin"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "lin/model/tokenizer.json"));
  r = run("eval " + (tmp / "lin/model") + " --json --fidelity --fidelity-examples 16");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"dataset\": \"spam-assassin\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"spearman\""), std::string::npos) << r.output;
  r = run("generate " + (tmp / "lin/model") + " --prompt \"free money\"");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("gpt2"), std::string::npos) << r.output;
}

TEST(Cli, AttackEvalAndPurifyOnAUserTextFile) {
  attnd::test::TempDir tmp;
  {
    std::ofstream train(tmp / "train.csv"), test(tmp / "test.tsv");
    train << "label,text\n";
    test << "label\ttext\n";
    for (int i = 0; i < 80; ++i) {
      const bool pos = i % 2;
      const std::string text = pos ? "good fine day number " + std::to_string(i % 7)
                                   : "bad poor day number " + std::to_string(i % 5);
      train << (pos ? "pos" : "neg") << ",\"" << text << "\"\n";
      if (i < 20) test << (pos ? "pos" : "neg") << "\t" << text << "\n";
    }
  }
  const std::string data =
      " --set data.dataset=text-file --set data.train_file=" + (tmp / "train.csv") +
      " --set data.test_file=" + (tmp / "test.tsv") +
      " --set data.label_names=neg,pos --set data.vocab_size=60 --set data.max_length=12"
      " --set run.progress=quiet --set run.threads=1";
  const std::string model =
      " --set model.model_type=bert --set model.hidden_size=16 --set model.num_hidden_layers=1"
      " --set model.num_attention_heads=2 --set model.intermediate_size=32"
      " --set model.max_position_embeddings=12 --set model.num_labels=2"
      " --set train.steps=6 --set train.batch_size=8 --set train.eval_every=6 --set train.warmup_steps=1";
  auto r = run("attack --attack badnets --rate 0.2" + data + model + " --out " + (tmp / "victim"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("attack: victim"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "victim/triggered_test.jsonl"));
  // eval reports the ASR of the run's attack, and of a given triggered file.
  r = run("eval " + (tmp / "victim/best") + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"asr\""), std::string::npos) << r.output;
  r = run("eval " + (tmp / "victim/best") + " --triggered " + (tmp / "victim/triggered_test.jsonl"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("attack success rate"), std::string::npos) << r.output;
  r = run("eval " + (tmp / "victim/best") + " --triggered " + (tmp / "missing.jsonl"));
  EXPECT_EQ(r.code, 2) << r.output;
  const std::string small = " --set purify.teacher_steps=2 --set train.steps=2 --set train.batch_size=8"
                            " --set run.progress=quiet --set run.threads=1";
  r = run("purify --from " + (tmp / "victim/best") + " --method mbtsad --clean-fraction 0.5" + small +
          " --out " + (tmp / "purified"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("purified"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "purified/report.md"));
  r = run("purify --from " + (tmp / "victim/best") + " --clean-fraction 2" + small + " --out " +
          (tmp / "bad"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("purify.clean_fraction must be in (0, 1]"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
  r = run("purify --from " + (tmp / "victim/best") + " --method prune");
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
