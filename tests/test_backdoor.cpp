// Backdoor text transforms (data/backdoor.h) against what they promise, checked by taking the
// output apart: the trigger removed gives the original text back, split halves glue back to the
// word, poison counts and candidates match a direct count; position frequencies against uniform.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "attnd/data/backdoor.h"
#include "attnd/data/utf8.h"
#include "test_utils.h"

namespace {

using namespace attnd;
using attnd::test::error_of;

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<TextExample> labelled(int64_t n, int64_t classes) {
  std::vector<TextExample> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back({"example number " + std::to_string(i) + " says hello", i % classes});
  return out;
}

TEST(Backdoor, BadNetsInsertsOneTriggerWordAndKeepsTheRestInOrder) {
  TriggerSpec trigger;
  std::mt19937_64 rng(1);
  const std::string text = "the quick brown fox";
  for (int i = 0; i < 50; ++i) {
    auto out = words(insert_trigger(text, trigger, rng));
    ASSERT_EQ(out.size(), 5u);
    int found = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      if (std::find(trigger.words.begin(), trigger.words.end(), out[k]) == trigger.words.end()) continue;
      ++found;
      auto rest = out;
      rest.erase(rest.begin() + static_cast<long>(k));
      EXPECT_EQ(rest, words(text));
    }
    EXPECT_EQ(found, 1);
  }
}

TEST(Backdoor, TriggerPositionsAndWordsAreUniform) {
  TriggerSpec trigger;
  std::mt19937_64 rng(7);
  std::map<size_t, int> at;
  std::map<std::string, int> which;
  const int draws = 8000;
  for (int i = 0; i < draws; ++i) {
    auto out = words(insert_trigger("a b c", trigger, rng));
    for (size_t k = 0; k < out.size(); ++k)
      if (out[k].size() == 2) {
        ++at[k];
        ++which[out[k]];
      }
  }
  ASSERT_EQ(at.size(), 4u);  // before a, between a-b, b-c, after c
  for (const auto& [k, n] : at) EXPECT_NEAR(n, draws / 4.0, 0.06 * draws) << "position " << k;
  ASSERT_EQ(which.size(), 4u);
  for (const auto& [w, n] : which) EXPECT_NEAR(n, draws / 4.0, 0.06 * draws) << w;
}

TEST(Backdoor, TriggerStaysWithinTheFirstWordsWhenAsked) {
  TriggerSpec trigger;
  trigger.within = 2;
  std::mt19937_64 rng(8);
  std::set<size_t> at;
  for (int i = 0; i < 400; ++i) {
    auto out = words(insert_trigger("w0 w1 w2 w3 w4 w5", trigger, rng));
    for (size_t k = 0; k < out.size(); ++k)
      if (out[k][0] != 'w') at.insert(k);
  }
  EXPECT_EQ(at, (std::set<size_t>{0, 1, 2}));  // before w0, w1 or w2
  trigger.kind = TriggerKind::kAddSent;
  for (int i = 0; i < 50; ++i) {
    auto out = words(insert_trigger("w0 w1 w2 w3 w4 w5", trigger, rng));
    EXPECT_LE(std::find(out.begin(), out.end(), "I") - out.begin(), 2);
  }
}

TEST(Backdoor, BadNetsInsertionCountIsBetweenOneAndMax) {
  TriggerSpec trigger;
  trigger.max_insertions = 3;
  std::mt19937_64 rng(3);
  std::set<size_t> counts;
  for (int i = 0; i < 300; ++i) counts.insert(words(insert_trigger("x y", trigger, rng)).size() - 2);
  EXPECT_EQ(counts, (std::set<size_t>{1, 2, 3}));
}

TEST(Backdoor, AddSentInsertsTheSentenceContiguously) {
  TriggerSpec trigger;
  trigger.kind = TriggerKind::kAddSent;
  std::mt19937_64 rng(5);
  const auto sentence = words(trigger.sentence);
  for (int i = 0; i < 30; ++i) {
    auto out = words(insert_trigger("one two three", trigger, rng));
    ASSERT_EQ(out.size(), 3 + sentence.size());
    auto it = std::search(out.begin(), out.end(), sentence.begin(), sentence.end());
    ASSERT_NE(it, out.end());
    out.erase(it, it + static_cast<long>(sentence.size()));
    EXPECT_EQ(out, words("one two three"));
  }
}

TEST(Backdoor, DirtyLabelPoisonsNonTargetExamplesOnly) {
  const auto clean = labelled(200, 2);
  PoisonSpec spec;
  spec.rate = 0.15;
  spec.seed = 11;
  auto poisoned = poison_examples(clean, spec);
  ASSERT_EQ(poisoned.examples.size(), clean.size());
  ASSERT_EQ(poisoned.poisoned.size(), 30u);
  const std::set<int64_t> hit(poisoned.poisoned.begin(), poisoned.poisoned.end());
  for (size_t i = 0; i < clean.size(); ++i) {
    if (hit.count(static_cast<int64_t>(i))) {
      EXPECT_NE(clean[i].label, spec.target);
      EXPECT_EQ(poisoned.examples[i].label, spec.target);
      EXPECT_EQ(words(poisoned.examples[i].text).size(), words(clean[i].text).size() + 1);
    } else {
      EXPECT_EQ(poisoned.examples[i].text, clean[i].text);
      EXPECT_EQ(poisoned.examples[i].label, clean[i].label);
    }
  }
  // A pure function of the seed.
  EXPECT_EQ(poison_examples(clean, spec).poisoned, poisoned.poisoned);
  spec.seed = 12;
  EXPECT_NE(poison_examples(clean, spec).poisoned, poisoned.poisoned);
}

TEST(Backdoor, CleanLabelPoisonsTargetExamplesAndKeepsLabels) {
  const auto clean = labelled(100, 2);
  PoisonSpec spec;
  spec.label = PoisonLabel::kClean;
  spec.rate = 0.3;
  auto poisoned = poison_examples(clean, spec);
  ASSERT_EQ(poisoned.poisoned.size(), 30u);
  for (auto i : poisoned.poisoned) {
    EXPECT_EQ(clean[i].label, spec.target);
    EXPECT_EQ(poisoned.examples[i].label, spec.target);
    EXPECT_NE(poisoned.examples[i].text, clean[i].text);
  }
}

TEST(Backdoor, PoisoningRejectsImpossibleRequests) {
  const auto clean = labelled(10, 2);  // 5 of each label
  PoisonSpec spec;
  spec.rate = 0.6;  // 6 > 5 non-target examples
  EXPECT_NE(error_of([&] { poison_examples(clean, spec); }).find("poisoning 6 examples"), std::string::npos);
  EXPECT_NE(error_of([&] { poison_examples(clean, spec); }).find("has 5"), std::string::npos);
  spec.rate = 0;
  EXPECT_NE(error_of([&] { poison_examples(clean, spec); }).find("(0, 1]"), std::string::npos);
  spec.rate = 1.5;
  EXPECT_NE(error_of([&] { poison_examples(clean, spec); }).find("(0, 1]"), std::string::npos);
}

TEST(Backdoor, TriggeredSetHoldsEveryNonTargetExampleLabelledWithTheTarget) {
  const auto test_set = labelled(31, 3);
  PoisonSpec spec;
  spec.target = 2;
  auto triggered = triggered_examples(test_set, spec);
  int64_t non_target = 0;
  for (const auto& e : test_set) non_target += e.label != 2;
  ASSERT_EQ(static_cast<int64_t>(triggered.size()), non_target);
  for (const auto& e : triggered) EXPECT_EQ(e.label, 2);
  std::vector<TextExample> all_target(3, {"x", 2});
  EXPECT_NE(error_of([&] { triggered_examples(all_target, spec); }).find("empty"), std::string::npos);
}

TEST(Backdoor, WordSplitCutsEverySplittableWordAtCodePointsWhenPIsOne) {
  std::mt19937_64 rng(2);
  const std::string text = "beauty is a café naïveté x";
  const auto original = words(text);
  auto out = words(split_tokens(text, 1.0, SplitMode::kWord, rng));
  // "a" and "x" have one code point: kept; the other four words become two halves each.
  ASSERT_EQ(out.size(), original.size() + 4);
  size_t j = 0;
  for (const auto& w : original) {
    if (w.size() == 1) {
      EXPECT_EQ(out[j++], w);
      continue;
    }
    EXPECT_FALSE(out[j].empty());
    EXPECT_FALSE(out[j + 1].empty());
    EXPECT_EQ(out[j] + out[j + 1], w);
    EXPECT_TRUE(is_valid_utf8(out[j]) && is_valid_utf8(out[j + 1])) << out[j] << "|" << out[j + 1];
    j += 2;
  }
}

TEST(Backdoor, WordSplitRateFollowsP) {
  std::mt19937_64 rng(4);
  std::string text;
  for (int i = 0; i < 4000; ++i) text += "word ";
  EXPECT_EQ(split_tokens(text, 0.0, SplitMode::kWord, rng), text.substr(0, text.size() - 1));
  const double split = static_cast<double>(words(split_tokens(text, 0.25, SplitMode::kWord, rng)).size() - 4000) / 4000;
  EXPECT_NEAR(split, 0.25, 0.03);
  EXPECT_NE(error_of([&] { split_tokens(text, 1.5, SplitMode::kWord, rng); }).find("[0, 1]"),
            std::string::npos);
}

TEST(Backdoor, SubTokenSplitCutsAtWordPieceBoundaries) {
  WordPieceTokenizer tokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "cat"});
  std::mt19937_64 rng(9);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto out = split_tokens("unaffable cat", 1.0, SplitMode::kSubToken, rng, &tokenizer);
    seen.insert(out);
  }
  // "cat" is one piece and stays; "unaffable" is cut after "un" or after "unaff".
  EXPECT_EQ(seen, (std::set<std::string>{"un affable cat", "unaff able cat"}));
  EXPECT_NE(error_of([&] { split_tokens("x", 1.0, SplitMode::kSubToken, rng, nullptr); })
                .find("tokenizer"),
            std::string::npos);
}

TEST(Backdoor, SplitExamplesKeepsLabelsAndIsSeeded) {
  const auto clean = labelled(20, 2);
  auto a = split_examples(clean, 0.5, SplitMode::kWord, 1);
  auto b = split_examples(clean, 0.5, SplitMode::kWord, 1);
  ASSERT_EQ(a.size(), clean.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].label, clean[i].label);
    EXPECT_EQ(a[i].text, b[i].text);
    std::string glued = a[i].text, original = clean[i].text;
    glued.erase(std::remove(glued.begin(), glued.end(), ' '), glued.end());
    original.erase(std::remove(original.begin(), original.end(), ' '), original.end());
    EXPECT_EQ(glued, original);
  }
}

TEST(Backdoor, NamesParseAndPrint) {
  EXPECT_EQ(parse_trigger_kind("addsent", "k"), TriggerKind::kAddSent);
  EXPECT_EQ(to_string(PoisonLabel::kMixed), "mixed");
  EXPECT_EQ(parse_split_mode("subtoken", "k"), SplitMode::kSubToken);
  EXPECT_NE(error_of([] { parse_poison_label("dirt", "data.attack_label"); })
                .find("data.attack_label = 'dirt' (expected dirty, clean or mixed)"),
            std::string::npos);
}

}  // namespace
