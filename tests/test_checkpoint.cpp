// Checkpoint directories and JSON files: round trips, crash-safe replacement, and the errors a
// user sees for missing or corrupt checkpoints.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "attnd/core/error.h"
#include "attnd/models/model_io.h"
#include "attnd/io/json_file.h"
#include "attnd/io/safetensors.h"
#include "attnd/models/model.h"
#include "test_utils.h"

namespace attnd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::TempDir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// Every regular file under `dir` (relative path → bytes).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_bytes(e.path());
  return out;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void expect_input_error(const std::function<void()>& fn, const std::vector<std::string>& phrases) {
  try {
    fn();
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    for (const auto& p : phrases)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: "
                                                                   << e.what();
  }
}

const json kConfig = {{"model_type", "toy"}, {"hidden_size", 4}, {"id2label", {{"0", "a"}}}};

TensorMap model_tensors(float v) {
  return {{"w", torch::full({2, 3}, v)}, {"b", torch::arange(3, torch::kLong)}};
}

void expect_same_tensors(const TensorMap& expected, const TensorMap& actual) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    EXPECT_EQ(actual.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(actual.at(name), t)) << name;
  }
}

// ---- json_file -------------------------------------------------------------------------------

TEST(JsonFile, WritesPrettyJsonWithNewline) {
  TempDir dir;
  write_json_file(dir / "a.json", json{{"b", 1}, {"a", json::array({1, 2})}});
  EXPECT_EQ(read_bytes(dir / "a.json"), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1\n}\n");
  EXPECT_EQ(read_json_file(dir / "a.json"), (json{{"b", 1}, {"a", json::array({1, 2})}}));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.json"});  // no temp file left
}

TEST(JsonFile, ErrorsNameTheFileAndPosition) {
  TempDir dir;
  expect_input_error([&] { read_json_file(dir / "missing.json"); },
                     {"cannot open '" + (dir / "missing.json") + "'"});
  write_bytes(dir / "bad.json", "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  // Line 3, column 8 is the ']' (1-based).
  expect_input_error([&] { read_json_file(dir / "bad.json"); },
                     {dir / "bad.json:3:8: invalid JSON", "unexpected ']'"});
  expect_input_error([&] { read_json_file(dir.path()); }, {"is a directory"});
}

// ---- save / load -----------------------------------------------------------------------------

TEST(Checkpoint, SaveAndLoadRoundTrip) {
  TempDir root;
  const std::string dir = root / "run/checkpoints/step-10";  // parents are created
  const TensorMap optimizer = {{"w.exp_avg", torch::randn({2, 3})}, {"step", torch::ones({})}};
  const json trainer = {{"step", 10}, {"best", 0.5}};
  save_checkpoint(dir, kConfig, model_tensors(1.5), {{"optimizer", optimizer}},
                  {{"trainer", trainer}});

  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"config.json", "model.safetensors",
                                                     "optimizer.safetensors", "trainer.json"}));
  EXPECT_EQ(names_in(root / "run/checkpoints"), std::vector<std::string>{"step-10"});
  EXPECT_EQ(read_bytes(dir + "/config.json"), kConfig.dump(2) + "\n");
  EXPECT_EQ(read_json_file(dir + "/config.json"), kConfig);
  expect_same_tensors(model_tensors(1.5), load_checkpoint_model_tensors(dir));
  expect_same_tensors(model_tensors(1.5), read_safetensors(dir + "/model.safetensors").tensors);
  expect_same_tensors(optimizer, load_checkpoint_tensors(dir, "optimizer"));
  expect_same_tensors(optimizer, load_checkpoint_tensors(dir, "optimizer.safetensors"));
  EXPECT_EQ(load_checkpoint_json(dir, "trainer"), trainer);
  EXPECT_TRUE(is_checkpoint_dir(dir));
  EXPECT_FALSE(is_checkpoint_dir(root.path()));
  EXPECT_TRUE(checkpoint_has_file(dir, "trainer.json"));
  EXPECT_FALSE(checkpoint_has_file(dir, "nope.json"));
  // Readable by others (mkdtemp/mkstemp make private files).
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::others_read, fs::perms::others_read);
  EXPECT_EQ(fs::status(dir + "/model.safetensors").permissions() & fs::perms::others_read,
            fs::perms::others_read);

  expect_input_error([&] { load_checkpoint_tensors(dir, "ema"); },
                     {"has no ema.safetensors", dir + "/ema.safetensors"});
  expect_input_error([&] { load_checkpoint_json(dir, "state"); }, {dir + "/state.json"});
}

TEST(Checkpoint, OverwriteReplacesCompletely) {
  TempDir root;
  const std::string dir = root / "ckpt";
  save_checkpoint(dir, kConfig, model_tensors(1), {{"optimizer", model_tensors(9)}},
                  {{"trainer", json{{"step", 1}}}});
  json config2 = kConfig;
  config2["hidden_size"] = 8;
  save_checkpoint(dir + "/", config2, model_tensors(2));  // trailing slash is the same dir

  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"config.json", "model.safetensors"}));
  EXPECT_EQ(read_json_file(dir + "/config.json"), config2);
  expect_same_tensors(model_tensors(2), load_checkpoint_model_tensors(dir));
  EXPECT_EQ(names_in(root.path()), std::vector<std::string>{"ckpt"});  // no .tmp-* / .old-*
}

TEST(Checkpoint, FailureMidwayLeavesPreviousCheckpointByteIdentical) {
  TempDir root;
  const std::string dir = root / "ckpt";
  save_checkpoint(dir, kConfig, model_tensors(1), {{"optimizer", model_tensors(3)}},
                  {{"trainer", json{{"step", 1}}}});
  const auto before = snapshot(dir);
  ASSERT_EQ(before.size(), 4u);

  // The model file and config are written before the bad extra file fails.
  EXPECT_THROW(save_checkpoint(dir, kConfig, model_tensors(2),
                               {{"optimizer", {{"m", torch::ones({2})}, {"v", torch::Tensor()}}}}),
               InputError);
  EXPECT_EQ(snapshot(dir), before);
  EXPECT_EQ(names_in(root.path()), std::vector<std::string>{"ckpt"});

  // Errors caught before anything is written.
  EXPECT_THROW(save_checkpoint(dir, kConfig, model_tensors(2), {}, {{"config", json{}}}),
               InputError);
  EXPECT_THROW(save_checkpoint(dir, kConfig, model_tensors(2), {{"model", {}}}), InputError);
  EXPECT_THROW(save_checkpoint(dir, kConfig, model_tensors(2), {{"../x", {}}}), InputError);
  EXPECT_THROW(save_checkpoint(dir, json::array(), model_tensors(2)), InputError);
  EXPECT_EQ(snapshot(dir), before);
  EXPECT_EQ(names_in(root.path()), std::vector<std::string>{"ckpt"});
}

TEST(Checkpoint, TwoRenameFallbackReplacesDirectory) {
  TempDir root;
  const std::string target = root / "ckpt";
  fs::create_directories(target);
  write_bytes(target + "/old.txt", "old");
  fs::create_directories(root / "staged");
  write_bytes(root / "staged/new.txt", "new");
  detail::replace_directory(root / "staged", target, /*use_exchange=*/false);
  EXPECT_EQ(names_in(target), std::vector<std::string>{"new.txt"});
  EXPECT_EQ(names_in(root.path()), std::vector<std::string>{"ckpt"});
  // With nothing at the target, a plain rename.
  fs::create_directories(root / "staged2");
  detail::replace_directory(root / "staged2", root / "fresh", false);
  EXPECT_TRUE(fs::is_directory(root / "fresh"));
  // A rename that fails (staged missing) restores the previous directory.
  EXPECT_THROW(detail::replace_directory(root / "nope", target, false), Error);
  EXPECT_EQ(names_in(target), std::vector<std::string>{"new.txt"});
  EXPECT_EQ(names_in(root.path()), (std::vector<std::string>{"ckpt", "fresh"}));
}

TEST(Checkpoint, RefusesToReplaceSomethingElse) {
  TempDir root;
  fs::create_directories(root / "notes");
  write_bytes(root / "notes/todo.txt", "keep me");
  expect_input_error([&] { save_checkpoint(root / "notes", kConfig, model_tensors(1)); },
                     {"refusing to replace", root / "notes"});
  EXPECT_EQ(read_bytes(root / "notes/todo.txt"), "keep me");
  write_bytes(root / "file", "x");
  expect_input_error([&] { save_checkpoint(root / "file", kConfig, model_tensors(1)); },
                     {"not a directory"});
  EXPECT_EQ(read_bytes(root / "file"), "x");
  // An empty directory is fine.
  fs::create_directories(root / "empty");
  save_checkpoint(root / "empty", kConfig, model_tensors(1));
  EXPECT_TRUE(is_checkpoint_dir(root / "empty"));
}

// ---- load_model errors -----------------------------------------------------------------------

TEST(LoadModel, MissingDirectory) {
  TempDir root;
  expect_input_error([&] { load_model(root / "nope"); },
                     {root / "nope", "does not exist",
                      "expected a checkpoint directory with config.json and model.safetensors"});
}

TEST(LoadModel, MissingConfig) {
  TempDir root;
  write_safetensors(root / "ckpt/model.safetensors", model_tensors(1));
  expect_input_error([&] { load_model(root / "ckpt"); },
                     {root / "ckpt", "has no config.json", "expected a checkpoint directory"});
  expect_input_error([&] { load_model(root / "ckpt/model.safetensors"); },
                     {"has no config.json"});
}

TEST(LoadModel, MissingWeights) {
  TempDir root;
  write_json_file(root / "ckpt/config.json", test::tiny_vit_config(1));
  expect_input_error([&] { load_model(root / "ckpt"); },
                     {root / "ckpt", "has no model.safetensors"});
}

TEST(LoadModel, CorruptWeights) {
  TempDir root;
  write_json_file(root / "ckpt/config.json", test::tiny_vit_config(1));
  write_bytes(root / "ckpt/model.safetensors", "this is not a safetensors file at all");
  expect_input_error([&] { load_model(root / "ckpt"); }, {root / "ckpt/model.safetensors"});
}

TEST(LoadModel, BadConfigNamesTheFile) {
  TempDir root;
  write_json_file(root / "ckpt/config.json", json{{"model_type", "resnet"}});
  write_safetensors(root / "ckpt/model.safetensors", model_tensors(1));
  expect_input_error([&] { load_model(root / "ckpt"); },
                     {root / "ckpt/config.json", "resnet"});
}

// ---- with a real model -----------------------------------------------------------------------

const json kTinyVit = {{"model_type", "vit"},       {"hidden_size", 16},
                       {"num_hidden_layers", 1},    {"num_attention_heads", 2},
                       {"intermediate_size", 32},   {"image_size", 8},
                       {"patch_size", 4},           {"num_channels", 1},
                       {"num_labels", 3}};

TEST(LoadModel, SaveModelLoadModelRoundTrip) {
  TempDir root;
  torch::manual_seed(0);
  Model model = create_model(kTinyVit);
  {
    // Move every weight away from what a fresh model (same seed) would have, so equal outputs
    // below can only come from the loaded file.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn(p.sizes()) * 0.1);
  }
  model->eval();
  ModelInput input;
  input.pixel_values = torch::randn({2, 1, 8, 8});
  torch::Tensor expected = model->forward(input).logits;

  save_model(root / "ckpt", *model, {}, {{"trainer", json{{"step", 3}}}});
  EXPECT_TRUE(is_checkpoint_dir(root / "ckpt"));

  torch::manual_seed(0);
  Model fresh = create_model(kTinyVit);
  fresh->eval();
  ASSERT_FALSE(torch::allclose(fresh->forward(input).logits, expected));

  for (const std::string& path : {root / "ckpt", root / "ckpt/model.safetensors"}) {
    Model loaded = load_model(path);
    loaded->eval();
    EXPECT_EQ(loaded->model_type(), "vit");
    EXPECT_TRUE(torch::equal(loaded->forward(input).logits, expected)) << path;
  }

  // Sharded: split model.safetensors into two shards plus an index.
  TensorMap all = read_safetensors(root / "ckpt/model.safetensors").tensors;
  TensorMap first, second;
  json weight_map = json::object();
  size_t i = 0;
  for (const auto& [name, t] : all) {
    const bool one = i++ < all.size() / 2;
    (one ? first : second)[name] = t;
    weight_map[name] = one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  fs::create_directories(root / "sharded");
  fs::copy_file(root / "ckpt/config.json", root / "sharded/config.json");
  write_safetensors(root / "sharded/model-00001-of-00002.safetensors", first);
  write_safetensors(root / "sharded/model-00002-of-00002.safetensors", second);
  write_json_file(root / "sharded/model.safetensors.index.json", json{{"weight_map", weight_map}});
  Model sharded = load_model(root / "sharded");
  sharded->eval();
  EXPECT_TRUE(torch::equal(sharded->forward(input).logits, expected));

  // A file that lacks a parameter is refused, naming the file.
  all.erase(all.begin());
  write_safetensors(root / "ckpt/model.safetensors", all);
  expect_input_error([&] { load_model(root / "ckpt"); },
                     {root / "ckpt/model.safetensors", "missing tensor"});
}

}  // namespace
}  // namespace attnd
