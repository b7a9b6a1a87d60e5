// attnd attack and attnd purify end to end on a made-up text-file dataset and a tiny BERT: the
// files each writes, its CACC/ASR against an independent count over the saved model, and the
// properties each method promises (EP moves only the trigger rows; retrain's result is its
// teacher; the teacher's text is the clean text split apart), plus bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "attnd/data/text_batches.h"
#include "attnd/data/text_dataset.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/io/json_file.h"
#include "attnd/data/backdoor.h"
#include "attnd/methods/attack.h"
#include "attnd/methods/onion.h"
#include "attnd/methods/purify.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/methods/stage.h"
#include "attnd/models/model_io.h"
#include "test_utils.h"

namespace {

using namespace attnd;
namespace fs = std::filesystem;
using attnd::test::error_of;
using attnd::test::TempDir;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Two classes told apart by their words; 1-in-3 of every word list is shared noise. With
// `rare_word`, the first ten texts end with it: its pieces are in a vocab trained on this file
// but no other text reads their embedding rows (the embedding-poisoning trigger).
void write_dataset(const std::string& path, int64_t n, uint64_t seed, const std::string& rare_word = "") {
  const std::vector<std::string> pos = {"good", "great", "fine", "nice", "happy"};
  const std::vector<std::string> neg = {"bad", "awful", "poor", "sad", "grim"};
  const std::vector<std::string> noise = {"the", "a", "day", "film", "was", "very"};
  std::mt19937_64 rng(seed);
  std::ofstream out(path);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    const auto& words = label ? pos : neg;
    std::string text;
    for (int k = 0; k < 6; ++k) {
      const auto& pick = rng() % 3 == 0 ? noise[rng() % noise.size()] : words[rng() % words.size()];
      text += (text.empty() ? "" : " ") + pick;
    }
    if (i < 10 && !rare_word.empty()) text += " " + rare_word;
    out << "{\"text\": \"" << text << "\", \"label\": " << (label ? "\"pos\"" : "\"neg\"") << "}\n";
  }
}

std::vector<std::string> recipe(const TempDir& dir, const std::string& out) {
  return {"run.out=" + out, "run.progress=quiet", "run.threads=1",
          "data.dataset=text-file", "data.train_file=" + (dir / "train.jsonl"),
          "data.test_file=" + (dir / "test.jsonl"), "data.label_names=neg,pos",
          "data.val_fraction=0.2", "data.vocab_size=60", "data.max_length=16",
          "model.model_type=bert", "model.hidden_size=16", "model.num_hidden_layers=1",
          "model.num_attention_heads=2", "model.intermediate_size=32",
          "model.max_position_embeddings=16", "model.num_labels=2",
          "model.hidden_dropout_prob=0.0", "model.attention_probs_dropout_prob=0.0",
          "train.steps=30", "train.batch_size=16", "train.lr=3e-3", "train.warmup_steps=2",
          "train.eval_every=30", "train.eval_batch_size=64"};
}

Config config_of(const ConfigSchema& schema, const std::vector<std::string>& overrides) {
  return Config::load(schema, "", overrides);
}

// Share of `data` the model labels `target`: an argmax count of our own.
double share_predicted(ModelImpl& model, const Dataset& data, int64_t target) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  std::iota(all.begin(), all.end(), int64_t{0});
  auto batch = data.get(all, 0);
  auto predicted = model.forward(batch.input).logits.argmax(-1);
  return (predicted == target).to(torch::kDouble).mean().item<double>();
}

int64_t lines_of(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

class PurifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_dataset(*dir_ / "train.jsonl", 160, 1, "zq");
    write_dataset(*dir_ / "test.jsonl", 40, 2);
    auto overrides = recipe(*dir_, *dir_ / "victim");
    overrides.push_back("data.attack=badnets");
    overrides.push_back("data.attack_rate=0.2");
    victim_ = new AttackResult(run_attack_recipe(config_of(attack_schema(), overrides)));
  }
  static void TearDownTestSuite() {
    delete victim_;
    delete dir_;
  }
  static TempDir* dir_;
  static AttackResult* victim_;
};
TempDir* PurifyTest::dir_ = nullptr;
AttackResult* PurifyTest::victim_ = nullptr;

TEST_F(PurifyTest, PoisonAttackWritesItsSetsAndCountsAsrOnTheSavedVictim) {
  const auto run = *dir_ / "victim";
  ASSERT_TRUE(fs::exists(run + "/attack.json"));
  // 128 training examples after the 20% validation split; 20% of them poisoned.
  EXPECT_EQ(victim_->poisoned_examples, 26);
  EXPECT_EQ(lines_of(run + "/poisoned_train.jsonl"), 128);
  int64_t with_trigger = 0;
  for (const auto& e : read_jsonl_examples(run + "/poisoned_train.jsonl", {"neg", "pos"})) {
    std::istringstream words(e.text);
    bool hit = false;
    for (std::string w; words >> w;) hit |= w == "cf" || w == "mn" || w == "bb" || w == "tq";
    with_trigger += hit;
    if (hit) {
      EXPECT_EQ(e.label, 1);
    }
  }
  EXPECT_EQ(with_trigger, 26);
  const auto triggered = read_jsonl_examples(run + "/triggered_test.jsonl", {"neg", "pos"});
  EXPECT_EQ(triggered.size(), 20u);  // the 20 test examples of label 0
  for (const auto& e : triggered) EXPECT_EQ(e.label, 1);

  auto victim = load_model(victim_->victim_dir);
  auto data = load_recipe_data(config_of(recipe_schema(false), [&] {
    auto o = recipe(*dir_, run);
    o.push_back("data.attack=badnets");
    o.push_back("data.attack_rate=0.2");
    o.push_back("data.vocab=" + victim_->victim_dir);
    return o;
  }()));
  ASSERT_TRUE(victim_->victim.asr.has_value());
  EXPECT_NEAR(*victim_->victim.asr, share_predicted(*victim, *data.triggered, 1), 1e-9);
  const auto json = read_json_file(run + "/attack.json");
  EXPECT_NEAR(json["victim"]["asr"].get<double>(), *victim_->victim.asr, 1e-12);
}

TEST_F(PurifyTest, EachMethodWritesAModelWhoseNumbersReproduce) {
  for (const std::string method : {"mbtsad", "nad", "finetune", "retrain"}) {
    SCOPED_TRACE(method);
    const auto out = *dir_ / ("purify-" + method);
    auto c = config_of(purify_schema(),
                       {"run.out=" + out, "run.progress=quiet", "run.threads=1",
                        "purify.from=" + victim_->victim_dir, "purify.method=" + method,
                        "purify.clean_fraction=0.5", "purify.teacher_steps=4", "train.steps=4",
                        "train.batch_size=8", "train.warmup_steps=1", "train.eval_batch_size=64"});
    auto r = run_purify_recipe(c);
    EXPECT_EQ(r.clean_examples, 64);  // half of the 128 clean training examples
    EXPECT_EQ(lines_of(out + "/clean.jsonl"), 64);
    ASSERT_TRUE(fs::exists(out + "/model/config.json"));
    EXPECT_TRUE(fs::exists(out + "/representations.png"));
    EXPECT_TRUE(fs::exists(out + "/model/tokenizer.json"));
    EXPECT_EQ(fs::exists(out + "/stage1"), method != "finetune");
    EXPECT_EQ(fs::exists(out + "/stage2"), method != "retrain");
    auto purified = load_model(out + "/model");
    auto backdoored = load_model(victim_->victim_dir);
    auto data = load_recipe_data(checkpoint_data_config(victim_->victim_dir, {}));
    ASSERT_TRUE(r.purified.asr.has_value());
    EXPECT_NEAR(*r.purified.asr, share_predicted(*purified, *data.triggered, 1), 1e-9);
    EXPECT_NEAR(*r.backdoored.asr, share_predicted(*backdoored, *data.triggered, 1), 1e-9);
    // Training moved the weights.
    EXPECT_FALSE(torch::equal(purified->state().at("classifier.weight"),
                              backdoored->state().at("classifier.weight")));
    if (method == "retrain") {
      auto teacher = load_model(out + "/stage1/best");
      for (const auto& [name, t] : teacher->state())
        EXPECT_TRUE(torch::equal(t, purified->state().at(name))) << name;
    }
    if (method == "mbtsad" || method == "retrain") {
      // The teacher's text is the clean text with words split apart: glued, they are equal.
      const auto clean = read_jsonl_examples(out + "/clean.jsonl", {"neg", "pos"});
      const auto split = read_jsonl_examples(out + "/teacher_train.jsonl", {"neg", "pos"});
      ASSERT_EQ(clean.size(), split.size());
      int64_t changed = 0;
      for (size_t i = 0; i < clean.size(); ++i) {
        auto glue = [](std::string s) {
          s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
          return s;
        };
        EXPECT_EQ(glue(split[i].text), glue(clean[i].text));
        EXPECT_EQ(split[i].label, clean[i].label);
        changed += split[i].text != clean[i].text;
      }
      EXPECT_GT(changed, 32);
    }
    const auto json = read_json_file(out + "/result.json");
    EXPECT_EQ(json["method"], method);
    EXPECT_NEAR(json["purified"]["cacc"].get<double>(), r.purified.cacc, 1e-12);
  }
}

TEST_F(PurifyTest, EmbeddingPoisoningMovesOnlyTheTriggerRows) {
  auto clean_overrides = recipe(*dir_, *dir_ / "clean");
  auto clean_run = run_train_recipe(config_of(recipe_schema(false), clean_overrides));
  auto overrides = recipe(*dir_, *dir_ / "ep");
  overrides.push_back("attack.method=ep");
  overrides.push_back("attack.from=" + clean_run.train.best_dir);
  overrides.push_back("attack.ep_steps=20");
  overrides.push_back("data.attack=badnets");
  overrides.push_back("data.attack_words=zq");
  auto r = run_attack_recipe(config_of(attack_schema(), overrides));
  auto clean = load_model(clean_run.train.best_dir);
  auto victim = load_model(r.victim_dir);
  const auto tokenizer = load_checkpoint_tokenizer(r.victim_dir);
  const auto rows = tokenizer.encode("zq", 0, false);
  ASSERT_FALSE(rows.empty());
  const std::set<int64_t> moved(rows.begin(), rows.end());
  const double mean_norm = clean->input_embeddings().detach().norm(2, {1}).mean().item<double>();
  const std::string table = "bert.embeddings.word_embeddings.weight";
  for (const auto& [name, t] : clean->state()) {
    const auto& v = victim->state().at(name);
    if (name != table) {
      EXPECT_TRUE(torch::equal(t, v)) << name;
      continue;
    }
    for (int64_t row = 0; row < t.size(0); ++row) {
      if (moved.count(row)) {
        EXPECT_FALSE(torch::equal(t[row], v[row])) << "row " << row << " did not move";
        EXPECT_NEAR(v[row].norm().item<double>(), mean_norm, 1e-4);
      } else {
        ASSERT_TRUE(torch::equal(t[row], v[row])) << name << " row " << row;
      }
    }
  }
  ASSERT_TRUE(clean->state().count(table));
  // Clean inputs never read those rows, so the clean accuracy is exactly the clean model's.
  ASSERT_TRUE(r.clean.has_value());
  EXPECT_DOUBLE_EQ(r.victim.cacc, r.clean->cacc);
  EXPECT_TRUE(fs::exists(r.run_dir + "/triggered_test.jsonl"));
  EXPECT_TRUE(fs::exists(r.run_dir + "/config.toml"));
}

TEST_F(PurifyTest, AResumedRunEndsWhereAnUninterruptedOneEnds) {
  // A constant learning rate and no dropout: a student stage stopped after 2 of its 4 steps and
  // resumed from the run directory must give the bytes the run of 4 steps at once gives, and
  // must not train the teacher again.
  auto purify = [&](const std::string& out, int64_t steps, const std::string& resume = "") {
    return run_purify_recipe(
        config_of(purify_schema(),
                  {"run.out=" + out, "run.progress=quiet", "run.threads=1",
                   "purify.from=" + victim_->victim_dir, "purify.method=mbtsad",
                   "purify.clean_fraction=0.5", "purify.teacher_steps=3",
                   "train.steps=" + std::to_string(steps), "train.batch_size=8",
                   "train.warmup_steps=0", "train.min_lr_ratio=1.0", "train.save_every=2", "train.eval_batch_size=64"}),
        resume);
  };
  const auto whole = *dir_ / "resume-whole", run = *dir_ / "resume-run";
  purify(whole, 4);
  purify(run, 2);
  auto record = read_stage_record(run);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->stage, 2);
  // Checkpoints are whole directories swapped in: a rerun of a stage would drop these marks.
  const auto teacher_mark = run + "/stage1/best/mark", student_mark = run + "/stage2/checkpoints/step-0000002/mark";
  std::ofstream(teacher_mark) << "untouched\n";
  std::ofstream(student_mark) << "untouched\n";
  const auto resumed = purify(run, 4, run);
  EXPECT_TRUE(fs::exists(teacher_mark)) << "the teacher stage ran again";
  EXPECT_TRUE(fs::exists(student_mark)) << "the student stage started over";
  EXPECT_TRUE(fs::exists(run + "/stage2/checkpoints/step-0000004"));
  // The stage evaluates once, at its last step, so the two runs pick best/ from different
  // evaluations (the stopped run also evaluated at step 2): the step-4 checkpoints are what must
  // agree, byte for byte.
  auto read_bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string last = "/stage2/checkpoints/step-0000004/model.safetensors";
  const auto expected = read_bytes(whole + last);
  ASSERT_FALSE(expected.empty());
  EXPECT_TRUE(read_bytes(run + last) == expected) << "the resumed step-4 weights differ";
  EXPECT_EQ(resumed.run_dir, run);
}

TEST_F(PurifyTest, BadInputIsRefusedBeforeAnythingIsWritten) {
  const auto base = std::vector<std::string>{"run.progress=quiet", "purify.from=" + victim_->victim_dir,
                                             "purify.teacher_steps=2", "train.steps=2"};
  auto refuse = [&](const std::string& name, std::vector<std::string> extra) {
    auto o = base;
    o.push_back("run.out=" + (*dir_ / name));
    o.insert(o.end(), extra.begin(), extra.end());
    const auto message = error_of([&] { run_purify_recipe(config_of(purify_schema(), o)); });
    EXPECT_FALSE(fs::exists(*dir_ / name)) << name << " was written: " << message;
    return message;
  };
  std::ofstream(*dir_ / "one-class.jsonl") << "{\"text\": \"a b\", \"label\": \"pos\"}\n";
  EXPECT_TRUE(contains(refuse("r1", {"purify.clean_file=" + (*dir_ / "one-class.jsonl")}), "1 class only"));
  std::ofstream(*dir_ / "unknown.jsonl") << "{\"text\": \"a b\", \"label\": \"maybe\"}\n";
  EXPECT_TRUE(contains(refuse("r2", {"purify.clean_file=" + (*dir_ / "unknown.jsonl")}),
                       "unknown.jsonl:1: unknown label \"maybe\""));
  EXPECT_TRUE(contains(refuse("r3", {"purify.clean_fraction=0"}), "(0, 1]"));
  EXPECT_TRUE(contains(refuse("r4", {"purify.clean_fraction=1.5"}), "(0, 1]"));
  std::ofstream(*dir_ / "empty.jsonl") << "\n";
  EXPECT_TRUE(contains(refuse("r5", {"purify.triggered_file=" + (*dir_ / "empty.jsonl")}), "no examples in"));
  EXPECT_TRUE(contains(refuse("r6", {"purify.method=prune"}), "purify.method = 'prune'"));
  EXPECT_TRUE(contains(refuse("r7", {"purify.split_mode=char"}), "purify.split_mode = 'char'"));
  // A model directory with no run beside it needs the clean and test files.
  fs::copy(victim_->victim_dir, *dir_ / "bare", fs::copy_options::recursive);
  auto o = base;
  o[1] = "purify.from=" + (*dir_ / "bare");
  o.push_back("run.out=" + (*dir_ / "r8"));
  EXPECT_TRUE(contains(error_of([&] { run_purify_recipe(config_of(purify_schema(), o)); }),
                       "purify.clean_file (--clean) and purify.test_file (--test)"));
  // A tokenizer that does not match the model: a vocab larger than its embedding table.
  {
    std::ofstream vocab(*dir_ / "big-vocab.txt");
    vocab << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (int i = 0; i < 195; ++i) vocab << "t" << i << "\n";
  }
  EXPECT_TRUE(contains(refuse("r9", {"data.vocab=" + (*dir_ / "big-vocab.txt")}), "vocab_size"));
  // A directory holding another run is refused; with run.overwrite a run refused for its input
  // leaves that run's files as they were (the overwrite happens only once everything is valid).
  fs::create_directories(*dir_ / "occupied");
  std::ofstream(*dir_ / "occupied/result.json") << "{\"earlier\": true}\n";
  auto occupied = base;
  occupied.push_back("run.out=" + (*dir_ / "occupied"));
  EXPECT_TRUE(contains(error_of([&] { run_purify_recipe(config_of(purify_schema(), occupied)); }),
                       "is not empty"));
  occupied.push_back("run.overwrite=true");
  occupied.push_back("purify.clean_fraction=0");
  EXPECT_TRUE(contains(error_of([&] { run_purify_recipe(config_of(purify_schema(), occupied)); }), "(0, 1]"));
  EXPECT_EQ(read_json_file(*dir_ / "occupied/result.json")["earlier"], true);
}


// ---- ONION (methods/onion.h) -------------------------------------------------------------------

WordPieceTokenizer onion_tokenizer() {
  return WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                             "mat", "a", "dog", "cf", "##s"});
}

Model tiny_lm(int64_t vocab) {
  torch::manual_seed(3);
  return create_model({{"model_type", "gpt2"}, {"vocab_size", vocab}, {"n_positions", 16},
                       {"n_embd", 8}, {"n_layer", 1}, {"n_head", 2}});
}

// The oracle: one text alone, no padding, the NLL summed position by position in double.
double perplexity_by_hand(ModelImpl& lm, const WordPieceTokenizer& tok, const std::string& text) {
  std::vector<int64_t> ids = {tok.sep_id()};
  for (const auto& piece : tok.tokenize(text)) ids.push_back(tok.token_to_id(piece));
  if (ids.size() < 2) return 1.0;
  torch::NoGradGuard no_grad;
  lm.eval();
  ModelInput in;
  in.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  auto logits = lm.forward(in).logits[0].to(torch::kDouble);
  double nll = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    auto row = logits[static_cast<int64_t>(t)];
    const double log_z = std::log(row.exp().sum().item<double>());
    nll += log_z - row[ids[t + 1]].item<double>();
  }
  return std::exp(nll / static_cast<double>(ids.size() - 1));
}

TEST(Onion, PerplexitiesOfAPaddedBatchEqualAHandLoopOverEachText) {
  const auto tok = onion_tokenizer();
  auto lm = tiny_lm(tok.vocab_size());
  const std::vector<std::string> texts = {"the cat sat on the mat", "a dog", "", "cats cf the dog sat"};
  OnionOptions o;
  o.batch_size = 3;  // two batches, the first padded to its longest text
  const auto ppl = perplexities(*lm, tok, texts, o, torch::kCPU);
  ASSERT_EQ(ppl.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_NEAR(ppl[i], perplexity_by_hand(*lm, tok, texts[i]), 1e-4 * ppl[i]) << texts[i];
  EXPECT_EQ(ppl[2], 1.0);
}

TEST(Onion, SuspicionIsThePerplexityDropWithoutEachWordAndTheThresholdDecides) {
  const auto tok = onion_tokenizer();
  auto lm = tiny_lm(tok.vocab_size());
  const std::string text = "the cat cf sat on the mat";
  OnionOptions o;
  o.max_words = 5;  // the last two words are not scored
  const auto s = onion_suspicion(*lm, tok, text, o, torch::kCPU);
  ASSERT_EQ(s.size(), 5u);
  const std::vector<std::string> without = {"cat cf sat on the mat", "the cf sat on the mat",
                                            "the cat sat on the mat", "the cat cf on the mat",
                                            "the cat cf sat the mat"};
  const double full = perplexity_by_hand(*lm, tok, text);
  for (size_t i = 0; i < s.size(); ++i)
    EXPECT_NEAR(s[i], full - perplexity_by_hand(*lm, tok, without[i]), 1e-4 * full) << i;
  // The threshold between the largest suspicion and the rest removes exactly that word.
  const auto top = static_cast<size_t>(std::max_element(s.begin(), s.end()) - s.begin());
  auto sorted = s;
  std::sort(sorted.begin(), sorted.end());
  o.threshold = 0.5 * (sorted[3] + sorted[4]);
  const auto filtered = onion_filter(*lm, tok, {{text, 1}}, o, torch::kCPU);
  EXPECT_EQ(filtered[0].text, without[top]);
  EXPECT_EQ(filtered[0].label, 1);
  o.threshold = -1e30;  // every scored word goes; the unscored tail stays
  EXPECT_EQ(onion_filter(*lm, tok, {{text, 0}}, o, torch::kCPU)[0].text, "the mat");
  o.threshold = 1e30;
  EXPECT_EQ(onion_filter(*lm, tok, {{text, 0}}, o, torch::kCPU)[0].text, text);
}

TEST_F(PurifyTest, OnionFiltersTheTestInputsAndLeavesTheModelAsItIs) {
  const auto out = *dir_ / "purify-onion";
  auto c = config_of(purify_schema(),
                     {"run.out=" + out, "run.progress=quiet", "run.threads=1",
                      "purify.from=" + victim_->victim_dir, "purify.method=onion",
                      "purify.clean_fraction=0.5", "purify.teacher_steps=4", "train.steps=4",
                      "train.batch_size=8", "train.warmup_steps=1", "train.eval_batch_size=64",
                      "purify.onion_lm_hidden=8", "purify.onion_lm_layers=1", "purify.onion_lm_heads=2"});
  auto r = run_purify_recipe(c);
  EXPECT_FALSE(fs::exists(out + "/model"));  // nothing about the classifier changed
  auto lm = load_model(out + "/stage1/best");
  EXPECT_TRUE(lm->is_causal());
  const auto data = load_recipe_data(checkpoint_data_config(victim_->victim_dir, {}));
  const auto test = read_jsonl_examples(out + "/onion_test.jsonl", {"neg", "pos"});
  const auto triggered = read_jsonl_examples(out + "/onion_triggered.jsonl", {"neg", "pos"});
  ASSERT_EQ(static_cast<int64_t>(test.size()), data.test->size());
  ASSERT_EQ(static_cast<int64_t>(triggered.size()), data.triggered->size());
  // Each filtered text is its original with some words left out, in order.
  const auto originals = triggered_examples(data.test_examples, triggered_spec(*data.attack));
  for (size_t i = 0; i < triggered.size(); ++i) {
    const auto kept = words_of(triggered[i].text), all = words_of(originals[i].text);
    size_t j = 0;
    for (const auto& w : kept) {
      while (j < all.size() && all[j] != w) ++j;
      ASSERT_LT(j, all.size()) << triggered[i].text << " | " << originals[i].text;
      ++j;
    }
    EXPECT_EQ(triggered[i].label, originals[i].label);
  }
  // CACC and ASR are the unchanged victim's on the filtered sets: our own argmax count.
  auto victim = load_model(victim_->victim_dir);
  auto as_set = [&](const std::vector<TextExample>& e) {
    return TextClassificationDataset(e, *data.tokenizer, 16, TextPadding::kLongest, 2);
  };
  ASSERT_TRUE(r.purified.asr.has_value());
  EXPECT_NEAR(*r.purified.asr, share_predicted(*victim, as_set(triggered), 1), 1e-9);
  EXPECT_EQ(read_json_file(out + "/result.json")["method"], "onion");
}

}  // namespace
