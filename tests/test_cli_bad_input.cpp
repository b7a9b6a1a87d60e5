// Bad input as a user meets it (issue 12): every case is run through the attnd binary and must give
// its exit code and a message naming the key or file, never a crash, a hang or a damaged run.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "attnd/io/safetensors.h"
#include "cli_run.h"
#include "test_utils.h"

namespace {

namespace fs = std::filesystem;
using attnd::test::read;
using attnd::test::run;
using attnd::test::write;

// A 1-layer GPT-2 on generated associative recall: a run takes about a second.
const std::string kRecall = std::string(ATTND_SOURCE_DIR) + "/recipes/hedgehog/recall.toml";
const std::string kSmall =
    " --set data.recall_pairs=4 --set data.recall_vocab=20 --set data.train_examples=64"
    " --set model.vocab_size=20 --set model.n_positions=16 --set model.n_embd=16"
    " --set model.n_layer=1 --set train.steps=2 --set train.eval_every=2 --set train.batch_size=8"
    " --set train.warmup_steps=1 --set train.eval_batch_size=64 --set run.progress=quiet"
    " --set run.threads=1";

std::string train(const std::string& out, const std::string& extra = "") {
  return "train " + kRecall + kSmall + extra + " --out " + out;
}

std::string head(const std::string& text) { return text.substr(0, 600); }

// One finished run shared by the cases that need a checkpoint.
class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new attnd::test::TempDir;
    run_dir_ = *tmp_ / "run";
    const auto r = run(train(run_dir_));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  // A copy of the shared run to damage.
  static std::string copy_run(const std::string& name) {
    const auto dir = *tmp_ / name;
    fs::copy(run_dir_, dir, fs::copy_options::recursive);
    return dir;
  }
  static std::string step_checkpoint(const std::string& run) {
    return run + "/checkpoints/step-0000002";
  }

  static attnd::test::TempDir* tmp_;
  static std::string run_dir_;
};
attnd::test::TempDir* BadInput::tmp_ = nullptr;
std::string BadInput::run_dir_;

struct ValueCase {
  std::string set;       // what --set gives
  std::string fragment;  // in the message
};

// Each value is refused by name with its allowed range before anything is written.
TEST_F(BadInput, TrainValuesAreRefusedByNameBeforeAnyWrite) {
  const std::vector<ValueCase> cases = {
      {"train.batch_size=0", "train.batch_size = 0 is out of range: expected an integer >= 1"},
      {"train.batch_size=-1", "train.batch_size = -1 is out of range"},
      {"train.eval_batch_size=0", "train.eval_batch_size = 0 is out of range"},
      {"train.warmup_steps=-1", "train.warmup_steps = -1 is out of range: expected an integer >= 0"},
      {"train.eval_every=-1", "train.eval_every = -1 is out of range"},
      {"train.save_every=-1", "train.save_every = -1 is out of range"},
      {"train.keep_checkpoints=0", "train.keep_checkpoints = 0 is out of range: expected an integer >= 1"},
      {"train.log_every=0", "train.log_every = 0 is out of range"},
      {"train.clip_grad_norm=-1", "train.clip_grad_norm = -1 is out of range"},
      {"train.label_smoothing=1", "train.label_smoothing = 1 is out of range: expected a number in [0, 1)"},
      {"train.label_smoothing=-0.1", "train.label_smoothing = -0.1 is out of range"},
      {"train.min_lr_ratio=1.5", "train.min_lr_ratio = 1.5 is out of range: expected a number in [0, 1]"},
      {"train.weight_decay=-0.1", "train.weight_decay = -0.1 is out of range"},
      {"train.beta1=1", "train.beta1 = 1 is out of range: expected a number in [0, 1)"},
      {"train.beta2=-0.1", "train.beta2 = -0.1 is out of range"},
      {"train.lr=0", "train.lr = 0 is out of range: expected a finite number > 0"},
      {"train.lr=-1", "train.lr = -1 is out of range"},
      {"train.lr=inf", "train.lr = inf is out of range"},
      // Finite as a double, infinite as the float32 the update runs in.
      {"train.lr=1e39", "train.lr = 1e+39 is out of range: expected a finite number > 0"},
      {"model.layer_norm_epsilon=0", "config key 'layer_norm_epsilon' must be a finite number > 0"},
      {"model.n_embd=1000000", "parameters, over the limit of"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto out = *tmp_ / ("values-" + std::to_string(n++));
    const auto r = run(train(out, " --set " + c.set));
    EXPECT_EQ(r.code, 2) << c.set << "\n" << head(r.output);
    EXPECT_NE(r.output.find(c.fragment), std::string::npos) << c.set << "\n" << head(r.output);
    EXPECT_FALSE(fs::exists(out)) << c.set << ": a refused run created its directory";
  }
}

// A tiny BERT on a user's CSV: the data has two classes and a trained tokenizer.
std::string text_train(const std::string& csv, const std::string& out, const std::string& extra) {
  return "train --set data.dataset=text-file --set data.train_file=" + csv +
         " --set data.label_names=neg,pos --set data.vocab_size=40 --set data.max_length=8"
         " --set model.model_type=bert --set model.hidden_size=8 --set model.num_hidden_layers=1"
         " --set model.num_attention_heads=1 --set model.intermediate_size=8"
         " --set model.max_position_embeddings=8 --set train.batch_size=4 --set train.eval_every=1"
         " --set train.warmup_steps=0 --set run.progress=quiet --set run.threads=1" + extra +
         " --out " + out;
}

TEST_F(BadInput, TextRunNumLabelsAndTokenizerAreChecked) {
  std::string rows = "label,text\n";
  for (int i = 0; i < 40; ++i)
    rows += std::string(i % 2 ? "pos,good day " : "neg,bad day ") + std::to_string(i % 5) + "\n";
  const auto csv = *tmp_ / "labels.csv";
  write(csv, rows);
  auto r = run(text_train(csv, *tmp_ / "labels", " --set model.num_labels=1 --set train.steps=1"));
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("model.num_labels = 1 is smaller than the 2 classes"), std::string::npos)
      << head(r.output);

  const auto dir = *tmp_ / "text";
  r = run(text_train(csv, dir, " --set model.num_labels=2 --set train.steps=1"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto tokenizer = dir + "/checkpoints/step-0000001/tokenizer.json";
  ASSERT_TRUE(fs::exists(tokenizer));
  for (const std::string content : {"", "{}"}) {
    write(tokenizer, content);
    r = run(text_train(csv, dir, " --set model.num_labels=2 --set train.steps=2 --resume " + dir));
    EXPECT_EQ(r.code, 2) << head(r.output);
    EXPECT_NE(r.output.find("tokenizer.json"), std::string::npos) << head(r.output);
  }
}

TEST_F(BadInput, EvalBatchSizeMustBePositive) {
  for (const std::string size : {"0", "-1"}) {
    const auto r = run("eval " + run_dir_ + "/best --batch-size " + size);
    EXPECT_EQ(r.code, 2) << head(r.output);
    EXPECT_NE(r.output.find("--batch-size"), std::string::npos) << head(r.output);
  }
}

TEST_F(BadInput, OutThatIsAFileIsRefused) {
  write(*tmp_ / "a-file", "x");
  const auto r = run(train(*tmp_ / "a-file"));
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("exists and is not a directory"), std::string::npos) << head(r.output);
  EXPECT_EQ(read(*tmp_ / "a-file"), "x");
}

// A header nested 70,000 deep overflowed nlohmann's recursion (SIGSEGV); the same for config.json.
TEST_F(BadInput, DeepAndOverflowingJsonIsAnInputError) {
  const std::string deep = std::string(70000, '[') + std::string(70000, ']');
  const auto ckpt = copy_run("deep") + "/best";
  const std::string weights = read(ckpt + "/model.safetensors");
  const std::string config = read(ckpt + "/config.json");

  struct Case {
    std::string file, content, fragment;
  };
  const std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":" + deep + ",\"data_offsets\":[0,0]}}";
  auto with_length = [](const std::string& h) {
    std::string out(8, '\0');
    uint64_t n = h.size();
    std::memcpy(out.data(), &n, 8);
    return out + h;
  };
  const std::vector<Case> cases = {
      {"model.safetensors", with_length(header), "JSON nests deeper than 512 levels"},
      {"model.safetensors", with_length("\xEF\xBB\xBF{}"), "byte-order mark"},
      {"model.safetensors",
       with_length("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,0]}}"),
       "key path w.shape[0]: the number 1e400 overflows a double"},
      {"config.json", "{\"model_type\":\"gpt2\",\"x\":" + deep + "}", "JSON nests deeper than 512"},
      {"config.json", "{\"model_type\":\"gpt2\",\"n_embd\":1e400}",
       "key path n_embd: the number 1e400 overflows a double"},
      {"config.json", "", "config.json:1:1: invalid JSON"},
  };
  for (const auto& c : cases) {
    write(ckpt + "/model.safetensors", weights);
    write(ckpt + "/config.json", config);
    write(ckpt + "/" + c.file, c.content);
    for (const std::string verb : {"info ", "eval "}) {
      const auto r = run(verb + ckpt);
      EXPECT_EQ(r.code, 2) << verb << c.file << " " << c.fragment << "\n" << head(r.output);
      EXPECT_NE(r.output.find(c.fragment), std::string::npos) << verb << "\n" << head(r.output);
      EXPECT_NE(r.output.find(c.file), std::string::npos) << head(r.output);
    }
  }
}

// Relabelling F32 bytes as I32 keeps every size valid; loading must refuse the dtype.
TEST_F(BadInput, IntegerDtypeForAWeightIsRefused) {
  const auto ckpt = copy_run("dtype") + "/best";
  std::string bytes = read(ckpt + "/model.safetensors");
  const auto at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"I32\"");
  write(ckpt + "/model.safetensors", bytes);
  const auto r = run("eval " + ckpt);
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("has dtype Int, expected Float"), std::string::npos) << head(r.output);
}

TEST_F(BadInput, IdxHeaderLargerThanItsFileIsRefusedBeforeAllocating) {
  const auto dir = *tmp_ / "idx";
  fs::create_directories(dir);
  // gzopen reads a file that is not gzip as it is: a 16-byte header declaring 4 GB of images.
  const std::string header("\x00\x00\x08\x03\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00", 16);
  for (const char* name : {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"})
    write(dir + "/" + name, header);
  for (const char* name : {"train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    write(dir + "/" + name, std::string("\x00\x00\x08\x01\x00\x00\x00\x00", 8));
  const auto r = run("eval " + run_dir_ + "/best --data fashion-mnist --data-dir " + dir);
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("declares 4294967296 data bytes"), std::string::npos) << head(r.output);
}

// A fresh run into a directory holding another run is refused; --overwrite replaces that run.
TEST_F(BadInput, FreshRunIntoAnotherRunNeedsOverwrite) {
  const auto dir = copy_run("occupied");
  const std::string config = read(dir + "/config.toml");
  auto r = run(train(dir));
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("is not empty (it holds another run)"), std::string::npos) << head(r.output);
  EXPECT_EQ(read(dir + "/config.toml"), config);
  fs::create_directories(dir + "/checkpoints/step-0000099");
  write(dir + "/checkpoints/step-0000099/trainer.json", "{\"step\": 99}");
  r = run(train(dir, " --overwrite"));
  EXPECT_EQ(r.code, 0) << head(r.output);
  EXPECT_FALSE(fs::exists(dir + "/checkpoints/step-0000099")) << "the old run's checkpoint was kept";
  EXPECT_TRUE(fs::exists(dir + "/checkpoints/step-0000002"));
}

// transfer, linearize and purify refuse a non-empty --out as train does; --overwrite replaces the
// run (transfer, linearize: trained here on the shared run's GPT-2 as teacher / source).
TEST_F(BadInput, OtherVerbsRefuseAnOccupiedRunDirectory) {
  const std::string source = run_dir_ + "/best";
  const std::string recall_data =
      " --set data.dataset=associative-recall --set data.recall_pairs=4 --set data.recall_vocab=20"
      " --set data.train_examples=64 --set train.steps=2 --set train.eval_every=2"
      " --set train.batch_size=8 --set train.warmup_steps=1 --set train.eval_batch_size=64"
      " --set run.progress=quiet --set run.threads=1";
  struct Verb {
    std::string name, command;
    bool trains;  // with --overwrite it runs to the end
  };
  const std::vector<Verb> verbs = {
      {"transfer", "transfer " + kRecall + kSmall + " --teacher " + source, true},
      {"linearize", "linearize --from " + source + recall_data + " --set linearize.attention_steps=2",
       true},
      // purify validates its inputs before it looks at the directory (test_purify checks the
      // refusal itself): this GPT-2 is refused, and even with --overwrite nothing is deleted.
      {"purify", "purify --from " + source, false},
  };
  const std::string other = "# another run\n";
  for (const auto& v : verbs) {
    const auto dir = *tmp_ / ("occupied-" + v.name);
    fs::create_directories(dir + "/stage1");
    write(dir + "/config.toml", other);
    auto r = run(v.command + " --out " + dir);
    EXPECT_EQ(r.code, 2) << v.name << "\n" << head(r.output);
    const std::string refusal = v.trains ? "' is not empty (it holds another run); continue it with --resume"
                                         : "needs a text classifier";
    EXPECT_NE(r.output.find(refusal), std::string::npos) << v.name << "\n" << head(r.output);
    EXPECT_EQ(read(dir + "/config.toml"), other) << v.name;
    r = run(v.command + " --out " + dir + " --overwrite");
    if (!v.trains) {
      EXPECT_EQ(r.code, 2) << v.name << "\n" << head(r.output);
      EXPECT_EQ(read(dir + "/config.toml"), other) << v.name << ": a refused --overwrite deleted the run";
    }
    EXPECT_EQ(r.output.find("is not empty"), std::string::npos) << v.name << "\n" << head(r.output);
    if (v.trains) {
      EXPECT_EQ(r.code, 0) << v.name << "\n" << head(r.output);
      EXPECT_NE(read(dir + "/config.toml"), other) << v.name << ": config.toml not replaced";
    }
  }
}

// A number is the whole argument or an error naming the argument (issue 17): std::stoll read
// "12abc" as 12.
TEST_F(BadInput, NumbersWithTrailingCharactersAreRefusedByName) {
  const std::string best = run_dir_ + "/best";
  const struct {
    std::string args, fragment;
  } cases[] = {
      {"attn " + best + " --input-ids 12abc --out " + (*tmp_ / "attn"),
       "--input-ids: '12abc' is not a token id"},
      {"attn " + best + " --input-ids 1,2x --out " + (*tmp_ / "attn"), "--input-ids: '2x' is not"},
      {"generate " + best + " --ids '3 17x' --max-new-tokens 1", "--ids: '17x' is not a token id"},
      {"distill " + kRecall + kSmall + " --teacher " + best + " --set distill.layer_map=0:1x --out " +
           (*tmp_ / "distill"),
       "distill.layer_map = '0:1x': '1x' is not a non-negative integer"},
      {train(*tmp_ / "factors", " --set 'train.lr_factors=[\"transformer.=0.5x\"]'"),
       "train.lr_factors: 'transformer.=0.5x' is not"},
  };
  for (const auto& c : cases) {
    const auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << head(r.output);
    EXPECT_NE(r.output.find(c.fragment), std::string::npos) << c.args << "\n" << head(r.output);
  }
  EXPECT_FALSE(fs::exists(fs::path(*tmp_ / "distill") / "config.toml"));
}

TEST_F(BadInput, RejectedResumeLeavesTheRunUntouched) {
  const auto dir = copy_run("rejected");
  const std::string config = read(dir + "/config.toml");
  const std::string metrics = read(dir + "/metrics.jsonl");
  const auto r = run(train(dir, " --set train.batch_size=0 --set data.split_seed=7 --resume " + dir));
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("train.batch_size = 0"), std::string::npos) << head(r.output);
  EXPECT_EQ(read(dir + "/config.toml"), config);
  EXPECT_EQ(read(dir + "/metrics.jsonl"), metrics);
}

TEST_F(BadInput, ResumeIntoAnotherRunDirectoryIsRefusedUpFront) {
  const auto r = run(train(*tmp_ / "elsewhere", " --set train.steps=3 --resume " +
                                                    step_checkpoint(run_dir_)));
  EXPECT_EQ(r.code, 2) << head(r.output);
  EXPECT_NE(r.output.find("the checkpoint belongs to the run in"), std::string::npos) << head(r.output);
  EXPECT_FALSE(fs::exists(*tmp_ / "elsewhere"));
}

// Damaged files of the checkpoint a run resumes from.
TEST_F(BadInput, DamagedResumeCheckpointIsRefused) {
  struct Case {
    std::string file, content, fragment;
  };
  const std::vector<Case> cases = {
      {"trainer.json", "{\"seed\": 0}", "trainer.json: key step: expected a non-negative integer, got nothing"},
      {"trainer.json", "{\"step\": -1}", "key step: expected a non-negative integer, got -1"},
      {"trainer.json", "{\"step\": 1.5}", "key step: expected a non-negative integer, got 1.5"},
      {"trainer.json", "{\"step\": 1e400}", "key path step: the number 1e400 overflows"},
      {"config.json", "", "config.json:1:1: invalid JSON"},
      {"config.json", "[]", "config.json: expected a model config"},
      {"trainer.json", "{\"step\": 2, \"best_step\": 2}", "trainer.json: key best_metrics: expected an object of numbers"},
      {"optimizer.safetensors", "garbage", "optimizer.safetensors: file is 7 bytes, too small"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto dir = copy_run("damaged-" + std::to_string(n++));
    const std::string config = read(dir + "/config.toml");
    write(step_checkpoint(dir) + "/" + c.file, c.content);
    // Another split seed: a config.toml rewritten before the check would differ.
    const auto r = run(train(dir, " --set train.steps=3 --set data.split_seed=7 --resume " + dir));
    EXPECT_EQ(r.code, 2) << c.file << " " << c.content << "\n" << head(r.output);
    EXPECT_NE(r.output.find(c.fragment), std::string::npos) << c.content << "\n" << head(r.output);
    EXPECT_EQ(read(dir + "/config.toml"), config) << c.file << " " << c.content
                                                  << ": config.toml was rewritten";
  }
}

TEST_F(BadInput, OptimizerStateWithoutItsKeysIsRefused) {
  for (const bool rename : {false, true}) {
    const auto dir = copy_run(rename ? "optimizer-renamed" : "optimizer-missing");
    const auto file = step_checkpoint(dir) + "/optimizer.safetensors";
    auto state = attnd::read_safetensors(file).tensors;
    ASSERT_GT(state.size(), 3u);
    const auto first = state.begin()->first;  // "<param>.exp_avg": drop or rename its three keys
    const auto param = first.substr(0, first.rfind(".exp_avg"));
    for (const char* field : {".exp_avg", ".exp_avg_sq", ".step"}) {
      auto t = state.at(param + field);
      state.erase(param + field);
      if (rename) state["other." + param + field] = t;
    }
    attnd::write_safetensors(file, state);
    const std::string config = read(dir + "/config.toml");
    const auto r = run(train(dir, " --set train.steps=3 --set data.split_seed=7 --resume " + dir));
    EXPECT_EQ(r.code, 2) << head(r.output);
    EXPECT_EQ(read(dir + "/config.toml"), config) << "config.toml was rewritten";
    EXPECT_NE(r.output.find(rename ? "belongs to no trainable parameter"
                                   : "but trainer.json (key optimizer_params) says"),
              std::string::npos)
        << head(r.output);
  }
}

}  // namespace
