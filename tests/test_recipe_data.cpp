// Recipe data: the associative-recall generator, the tokenizer.json format, the text datasets of
// recipes, language-model evaluation, and reading a run's data settings back.
#include <fstream>
#include <set>

#include "attnd/data/associative_recall.h"
#include "attnd/data/data_dir.h"
#include "attnd/data/tokenizer_json.h"
#include "attnd/data/wordpiece.h"
#include "attnd/methods/linearize.h"
#include "attnd/methods/recipe.h"
#include "attnd/methods/recipe_data.h"
#include "attnd/models/registry.h"
#include "attnd/train/objectives.h"
#include "test_utils.h"

namespace attnd {
namespace {

using test::error_of;
using test::TempDir;

// ---- associative recall --------------------------------------------------------------------------

TEST(AssociativeRecall, QueriesAskForTheValuePairedWithTheirKey) {
  AssociativeRecallOptions o;
  o.num_pairs = 6;
  o.vocab_size = 30;
  o.num_examples = 50;
  AssociativeRecallDataset data(o);
  ASSERT_EQ(data.inputs().sizes(), (std::vector<int64_t>{50, 24}));
  auto in = data.inputs().accessor<int64_t, 2>();
  auto lab = data.labels().accessor<int64_t, 2>();
  const int64_t keys_end = 1 + (30 - 1) / 2;  // keys in [1, 15), values in [15, 30)
  for (int64_t e = 0; e < 50; ++e) {
    std::map<int64_t, int64_t> pairs;
    for (int64_t i = 0; i < 6; ++i) {
      const auto k = in[e][2 * i], v = in[e][2 * i + 1];
      EXPECT_GE(k, 1);
      EXPECT_LT(k, keys_end);
      EXPECT_GE(v, keys_end);
      EXPECT_LT(v, 30);
      EXPECT_TRUE(pairs.emplace(k, v).second) << "keys repeat in example " << e;
      EXPECT_EQ(lab[e][2 * i], -100);
      EXPECT_EQ(lab[e][2 * i + 1], -100);
    }
    std::set<int64_t> asked;
    for (int64_t j = 0; j < 6; ++j) {
      const auto k = in[e][12 + 2 * j], v = in[e][12 + 2 * j + 1];
      ASSERT_TRUE(pairs.count(k)) << "query key " << k << " was never listed";
      EXPECT_EQ(v, pairs[k]);
      EXPECT_EQ(lab[e][12 + 2 * j], -100);
      EXPECT_EQ(lab[e][12 + 2 * j + 1], v);
      asked.insert(k);
    }
    EXPECT_EQ(asked.size(), 6u) << "every key is asked once";
  }
}

TEST(AssociativeRecall, IsAFunctionOfTheSeed) {
  AssociativeRecallOptions o;
  o.num_examples = 20;
  AssociativeRecallDataset a(o), b(o);
  EXPECT_TRUE(torch::equal(a.inputs(), b.inputs()));
  o.seed = 1;
  AssociativeRecallDataset c(o);
  EXPECT_FALSE(torch::equal(a.inputs(), c.inputs()));
  auto batch = a.get({3, 1}, 0);
  EXPECT_TRUE(torch::equal(batch.input.input_ids[0], a.inputs()[3]));
  EXPECT_TRUE(torch::equal(batch.labels[1], a.labels()[1]));
}

TEST(AssociativeRecall, RejectsAVocabularyTooSmallForDistinctKeys) {
  AssociativeRecallOptions o;
  o.num_pairs = 10;
  o.vocab_size = 20;  // 9 keys
  auto message = error_of([&] { AssociativeRecallDataset d(o); });
  EXPECT_NE(message.find("at least 21 tokens"), std::string::npos) << message;
}

// ---- language-model evaluation ---------------------------------------------------------------------

TEST(LanguageModelEvaluation, MatchesAPerTokenLoopOverScoredPositions) {
  torch::manual_seed(0);
  auto model = create_model({{"model_type", "gpt2"}, {"vocab_size", 30}, {"n_positions", 24},
                             {"n_embd", 16}, {"n_layer", 1}, {"n_head", 2},
                             {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"attn_pdrop", 0.0}});
  AssociativeRecallOptions o;
  o.num_pairs = 4;
  o.vocab_size = 30;
  o.num_examples = 7;
  AssociativeRecallDataset data(o);
  auto metrics = evaluate_model(*model, data, 3, torch::kCPU);  // a gpt2: the LM metrics
  // Oracle: one example at a time, one scored position at a time.
  torch::NoGradGuard no_grad;
  double nll = 0;
  int64_t tokens = 0, correct = 0;
  for (int64_t e = 0; e < 7; ++e) {
    auto batch = data.get({e}, 0);
    auto logits = model->forward(batch.input).logits[0];
    for (int64_t t = 1; t < 16; ++t) {
      const auto label = batch.labels[0][t].item<int64_t>();
      if (label == -100) continue;
      auto logp = torch::log_softmax(logits[t - 1], -1);
      nll -= logp[label].item<double>();
      correct += logits[t - 1].argmax().item<int64_t>() == label;
      ++tokens;
    }
  }
  EXPECT_EQ(metrics["tokens"], tokens);
  EXPECT_NEAR(metrics["loss"], nll / tokens, 1e-5);
  EXPECT_NEAR(metrics["perplexity"], std::exp(nll / tokens), 1e-3);
  EXPECT_NEAR(metrics["accuracy"], static_cast<double>(correct) / tokens, 1e-12);
  EXPECT_EQ(selection_metric_for(model->task_kind()), "loss");
  EXPECT_FALSE(selection_higher_is_better(model->task_kind()));
  EXPECT_EQ(selection_metric_for(model_traits("bert").task), "accuracy");
}

// ---- tokenizer.json --------------------------------------------------------------------------------

TEST(TokenizerJson, RoundTripsAVocabAndItsOptions) {
  WordPieceTrainerOptions options;
  options.vocab_size = 80;
  options.tokenizer.lowercase = false;
  options.tokenizer.strip_accents = false;
  const std::vector<std::string> texts = {"The quick brown fox jumps over the lazy dog.",
                                          "Jumping foxes, quick dogs; the end."};
  WordPieceTokenizer original(train_wordpiece(texts, options), options.tokenizer);
  auto json = wordpiece_to_hf_json(original);
  EXPECT_EQ(json["model"]["type"], "WordPiece");
  EXPECT_EQ(json["model"]["vocab"]["[PAD]"], 0);
  EXPECT_EQ(json["normalizer"]["lowercase"], false);
  auto back = wordpiece_from_hf_json(json, "test");
  EXPECT_EQ(back.vocab(), original.vocab());
  EXPECT_FALSE(back.options().lowercase);
  EXPECT_EQ(back.encode("The quick FOX"), original.encode("The quick FOX"));
}

TEST(TokenizerJson, NamesWhatIsWrong) {
  auto json = wordpiece_to_hf_json(WordPieceTokenizer(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"}));
  auto bad_type = json;
  bad_type["model"]["type"] = "BPE";
  EXPECT_NE(error_of([&] { wordpiece_from_hf_json(bad_type, "f.json"); }).find("'BPE'"),
            std::string::npos);
  auto gap = json;
  gap["model"]["vocab"]["a"] = 9;
  auto message = error_of([&] { wordpiece_from_hf_json(gap, "f.json"); });
  EXPECT_NE(message.find("f.json: token 'a' has id 9"), std::string::npos) << message;
  TempDir dir;
  message = error_of([&] { load_checkpoint_tokenizer(dir.path()); });
  EXPECT_NE(message.find("tokenizer.json or vocab.txt"), std::string::npos) << message;
}

// ---- recipes on text ---------------------------------------------------------------------------------

Config text_config(const std::vector<std::string>& overrides) {
  Config c(recipe_schema(false));
  c.apply_override("data.dir=" + test::test_data_dir() + "/" + kSpamAssassinName);
  for (const auto& o : overrides) c.apply_override(o);
  return c;
}

TEST(RecipeData, SpamAssassinSplitsByClassAndCarriesItsTokenizer) {
  SKIP_WITHOUT(kSpamAssassinName);
  auto c = text_config({"data.dataset=spam-assassin", "data.vocab_size=300", "data.max_length=32"});
  auto data = load_recipe_data(c);
  EXPECT_EQ(data.task, DataTask::kTextClassification);
  // 4150 ham + 1896 spam; test = round(0.2 n_c), val = round(0.1 n_c) per class.
  EXPECT_EQ(data.test->size(), 830 + 379);
  EXPECT_EQ(data.val->size(), 415 + 190);
  EXPECT_EQ(data.train->size(), 6046 - 1209 - 605);
  ASSERT_TRUE(data.tokenizer);
  EXPECT_EQ(data.vocab_size, 300);
  auto files = data.checkpoint_files();
  ASSERT_TRUE(files.count("tokenizer.json"));
  EXPECT_EQ(wordpiece_from_hf_json(files["tokenizer.json"], "x").vocab(), data.tokenizer->vocab());
  auto batch = data.train->get({0, 1}, 0);
  EXPECT_LE(batch.input.input_ids.size(1), 32);
  // A BERT without vocab_size takes the data's; a GPT-2 does not fit classification.
  c.apply_override("model.model_type=bert");
  auto bert = build_model(c, data);
  EXPECT_EQ(bert->config_json()["vocab_size"], 300);
  auto message = error_of([&] {
    check_model_fits_data(*create_model({{"model_type", "gpt2"}, {"vocab_size", 300},
                                         {"n_embd", 8}, {"n_layer", 1}, {"n_head", 2}}),
                          data);
  });
  EXPECT_NE(message.find("needs a bert model"), std::string::npos) << message;
}

TEST(RecipeData, AssociativeRecallFeedsALanguageModel) {
  auto c = text_config({"data.dataset=associative-recall", "data.recall_pairs=4",
                        "data.recall_vocab=20", "data.train_examples=64"});
  auto data = load_recipe_data(c);
  EXPECT_EQ(data.task, DataTask::kLanguageModelling);
  EXPECT_EQ(data.train->size(), 64);
  EXPECT_EQ(data.vocab_size, 20);
  EXPECT_TRUE(data.checkpoint_files().empty());
  auto message = error_of([&] {
    check_model_fits_data(*create_model({{"model_type", "gpt2"}, {"vocab_size", 10},
                                         {"n_embd", 8}, {"n_layer", 1}, {"n_head", 2}}),
                          data);
  });
  EXPECT_NE(message.find("vocab_size is 10"), std::string::npos) << message;
}

TEST(RecipeData, UnknownDatasetIsNamed) {
  auto c = text_config({"data.dataset=imagenet"});
  auto message = error_of([&] { load_recipe_data(c); });
  EXPECT_NE(message.find("'imagenet' is not known"), std::string::npos) << message;
}

TEST(RecipeData, AttentionMixerBuildsALinearModelFromScratch) {
  auto c = text_config({"data.dataset=associative-recall", "data.recall_pairs=4",
                        "data.recall_vocab=20", "data.train_examples=8", "model.model_type=gpt2",
                        "model.n_embd=16", "model.n_layer=2", "model.n_head=2",
                        "attention.mixer=linear", "attention.feature_map=taylor"});
  auto data = load_recipe_data(c);
  auto model = build_model(c, data);
  EXPECT_EQ(linearized_layers(*model), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(model->attention(0)->mixer()->spec()["feature_map"], "taylor");
}

// A GPT-2 built for a tokenizer's data carries that tokenizer's end-of-text id ([SEP], which
// ends each document of the token stream), not HF's 50256 (issue 17). The oracle is [SEP]'s
// position in the hand-written vocabulary (not the default 3).
TEST(RecipeData, Gpt2TakesItsEndOfTextIdsFromTheTokenizer) {
  const std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "a", "b", "[MASK]", "[SEP]", "c"};
  RecipeData data;
  data.task = DataTask::kLanguageModelling;
  data.name = "hand";
  data.tokenizer = std::make_shared<WordPieceTokenizer>(vocab);
  data.vocab_size = static_cast<int64_t>(vocab.size());
  auto c = text_config({"model.model_type=gpt2", "model.n_embd=8", "model.n_layer=1",
                        "model.n_head=2", "model.n_positions=8"});
  auto config = build_model(c, data)->config_json();
  EXPECT_EQ(config["vocab_size"], 8);
  EXPECT_EQ(config["bos_token_id"], 6);
  EXPECT_EQ(config["eos_token_id"], 6);
  // A recipe's own ids win; data without a tokenizer (associative recall) leaves them unset.
  c.apply_override("model.eos_token_id=7");
  EXPECT_EQ(build_model(c, data)->config_json()["eos_token_id"], 7);
  auto recall = text_config({"data.dataset=associative-recall", "data.recall_pairs=4",
                             "data.recall_vocab=20", "data.train_examples=8",
                             "model.model_type=gpt2", "model.n_embd=8", "model.n_layer=1",
                             "model.n_head=2"});
  auto plain = build_model(recall, load_recipe_data(recall))->config_json();
  EXPECT_TRUE(plain["bos_token_id"].is_null()) << plain.dump();
  EXPECT_TRUE(plain["eos_token_id"].is_null()) << plain.dump();
}

// ---- a run's data settings -----------------------------------------------------------------------------

TEST(RunConfig, IsFoundAboveTheCheckpointAndYieldsOnlyDataKeys) {
  TempDir dir;
  std::filesystem::create_directories(dir / "run/stage2/best");
  std::ofstream(dir / "run/config.toml")
      << "[data]\ndataset = \"spam-assassin\"\nmax_length = 64\ntest_fraction = 0.25\n"
      << "augment = false\n[linearize]\nfeature_map = \"elu\"\n";
  const auto found = find_run_config(dir / "run/stage2/best");
  EXPECT_EQ(found, std::filesystem::path(dir / "run/config.toml").lexically_normal().string());
  auto overrides = data_overrides_from_run_config(found);
  std::sort(overrides.begin(), overrides.end());
  EXPECT_EQ(overrides, (std::vector<std::string>{"data.augment=false", "data.dataset=spam-assassin",
                                                 "data.max_length=64", "data.test_fraction=0.25"}));
  Config c(recipe_schema(false));
  for (const auto& o : overrides) c.apply_override(o);
  EXPECT_EQ(c.get_int("data.max_length"), 64);
  EXPECT_EQ(find_run_config(dir / "elsewhere"), "");
}

}  // namespace
}  // namespace attnd
