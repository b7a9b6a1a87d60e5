#include "attnd/data/backdoor.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/data/utf8.h"

namespace attnd {

namespace {

constexpr EnumName<TriggerKind> kTriggerKinds[] = {{TriggerKind::kBadNets, "badnets"},
                                                   {TriggerKind::kAddSent, "addsent"}};
constexpr EnumName<PoisonLabel> kPoisonLabels[] = {
    {PoisonLabel::kDirty, "dirty"}, {PoisonLabel::kClean, "clean"}, {PoisonLabel::kMixed, "mixed"}};
constexpr EnumName<SplitMode> kSplitModes[] = {{SplitMode::kWord, "word"},
                                               {SplitMode::kSubToken, "subtoken"}};

// Uniform in [0, n): our own draw, so that a seed gives the same poisoning with any standard library.
int64_t uniform_index(std::mt19937_64& rng, int64_t n) {
  const uint64_t range = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;  // reject the biased tail
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return static_cast<int64_t>(x % range);
}

double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::vector<std::string> code_points(const std::string& word) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < word.size();) {
    const size_t start = pos;
    next_code_point(word, pos);
    out.push_back(word.substr(start, pos - start));
  }
  return out;
}

void check_target(const PoisonSpec& spec) {
  ATTND_CHECK_INPUT(spec.target >= 0, "attack target label ", spec.target, " is negative");
}

}  // namespace

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string insert_trigger(const std::string& text, const TriggerSpec& trigger, std::mt19937_64& rng) {
  auto words = words_of(text);
  ATTND_CHECK_INPUT(trigger.within >= 0, "the trigger span must be >= 0 words, got ", trigger.within);
  // Insertion points 0..n (before word 0 .. after the last), limited to 0..within.
  auto position = [&] {
    auto n = static_cast<int64_t>(words.size());
    if (trigger.within > 0) n = std::min(n, trigger.within);
    return uniform_index(rng, n + 1);
  };
  if (trigger.kind == TriggerKind::kAddSent) {
    const auto sentence = words_of(trigger.sentence);
    ATTND_CHECK_INPUT(!sentence.empty(), "the AddSent trigger sentence is empty");
    words.insert(words.begin() + position(), sentence.begin(), sentence.end());
    return join_words(words);
  }
  ATTND_CHECK_INPUT(!trigger.words.empty(), "the BadNets trigger has no words");
  ATTND_CHECK_INPUT(trigger.max_insertions >= 1, "BadNets insertions must be >= 1, got ",
                    trigger.max_insertions);
  const auto count = 1 + uniform_index(rng, trigger.max_insertions);
  for (int64_t i = 0; i < count; ++i) {
    const auto& word = trigger.words[uniform_index(rng, static_cast<int64_t>(trigger.words.size()))];
    words.insert(words.begin() + position(), word);
  }
  return join_words(words);
}

PoisonedSet poison_examples(const std::vector<TextExample>& examples, const PoisonSpec& spec) {
  check_target(spec);
  ATTND_CHECK_INPUT(spec.rate > 0 && spec.rate <= 1, "the poison rate must be in (0, 1], got ",
                    spec.rate);
  std::vector<int64_t> candidates;
  for (int64_t i = 0; i < static_cast<int64_t>(examples.size()); ++i) {
    const bool target = examples[i].label == spec.target;
    if (spec.label == PoisonLabel::kMixed || (spec.label == PoisonLabel::kClean) == target)
      candidates.push_back(i);
  }
  const auto wanted = static_cast<int64_t>(std::llround(spec.rate * static_cast<double>(examples.size())));
  ATTND_CHECK_INPUT(wanted >= 1, "a poison rate of ", spec.rate, " of ", examples.size(),
                    " training examples poisons none");
  const char* who = spec.label == PoisonLabel::kDirty   ? "examples whose label is not the target"
                    : spec.label == PoisonLabel::kClean ? "examples of the target label"
                                                        : "examples";
  ATTND_CHECK_INPUT(wanted <= static_cast<int64_t>(candidates.size()), "poisoning ", wanted,
                    " examples (rate ", spec.rate, ", ", to_string(spec.label), " label, target ",
                    spec.target, ") needs as many ", who, ", but the training set has ",
                    candidates.size());
  std::mt19937_64 rng(spec.seed);
  // A partial Fisher–Yates shuffle picks `wanted` distinct candidates.
  for (int64_t i = 0; i < wanted; ++i)
    std::swap(candidates[i], candidates[i + uniform_index(rng, static_cast<int64_t>(candidates.size()) - i)]);
  PoisonedSet out;
  out.examples = examples;
  out.poisoned.assign(candidates.begin(), candidates.begin() + wanted);
  std::sort(out.poisoned.begin(), out.poisoned.end());
  for (auto i : out.poisoned) {
    auto& e = out.examples[i];
    e.text = insert_trigger(e.text, spec.trigger, rng);
    e.label = spec.target;
  }
  return out;
}

std::vector<TextExample> triggered_examples(const std::vector<TextExample>& examples,
                                            const PoisonSpec& spec) {
  check_target(spec);
  std::mt19937_64 rng(spec.seed);
  std::vector<TextExample> out;
  for (const auto& e : examples)
    if (e.label != spec.target) out.push_back({insert_trigger(e.text, spec.trigger, rng), spec.target});
  ATTND_CHECK_INPUT(!out.empty(), "the triggered test set is empty: every one of the ",
                    examples.size(), " test examples already has the target label ", spec.target);
  return out;
}

std::string split_tokens(const std::string& text, double p, SplitMode mode, std::mt19937_64& rng,
                         const WordPieceTokenizer* tokenizer) {
  ATTND_CHECK_INPUT(p >= 0 && p <= 1, "the split probability must be in [0, 1], got ", p);
  ATTND_CHECK_INPUT(mode == SplitMode::kWord || tokenizer != nullptr,
                    "sub-token splitting needs the model's tokenizer");
  std::vector<std::string> out;
  for (const auto& word : words_of(text)) {
    std::vector<std::string> parts;
    if (mode == SplitMode::kWord) {
      parts = code_points(word);
    } else {
      for (auto piece : tokenizer->tokenize(word)) {
        if (piece.rfind("##", 0) == 0) piece = piece.substr(2);
        parts.push_back(piece);
      }
    }
    // Draw only for words that can be split, so that p is the share of splittable words split.
    if (parts.size() < 2 || uniform_unit(rng) >= p) {
      out.push_back(word);
      continue;
    }
    const auto cut = 1 + uniform_index(rng, static_cast<int64_t>(parts.size()) - 1);
    std::string left, right;
    for (size_t i = 0; i < parts.size(); ++i) (static_cast<int64_t>(i) < cut ? left : right) += parts[i];
    out.push_back(left);
    out.push_back(right);
  }
  return join_words(out);
}

std::vector<TextExample> split_examples(const std::vector<TextExample>& examples, double p,
                                        SplitMode mode, uint64_t seed,
                                        const WordPieceTokenizer* tokenizer) {
  std::mt19937_64 rng(seed);
  std::vector<TextExample> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.push_back({split_tokens(e.text, p, mode, rng, tokenizer), e.label});
  return out;
}

TriggerKind parse_trigger_kind(const std::string& name, const std::string& key) {
  return parse_enum(kTriggerKinds, name, key);
}
PoisonLabel parse_poison_label(const std::string& name, const std::string& key) {
  return parse_enum(kPoisonLabels, name, key);
}
SplitMode parse_split_mode(const std::string& name, const std::string& key) {
  return parse_enum(kSplitModes, name, key);
}
std::string to_string(TriggerKind kind) { return enum_name(kTriggerKinds, kind); }
std::string to_string(PoisonLabel label) { return enum_name(kPoisonLabels, label); }
std::string to_string(SplitMode mode) { return enum_name(kSplitModes, mode); }

}  // namespace attnd
