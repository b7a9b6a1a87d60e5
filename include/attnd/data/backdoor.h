// Text backdoors and the token splitting that MBTSAD uses against them — pure text transforms, no
// model. Conventions follow OpenBackdoor: a trigger is inserted at uniformly random word positions;
// poisoned copies replace their originals in the training set; the triggered test set holds the
// non-target test examples with the trigger, all labelled with the target (so ASR = accuracy on it).
//
// "Words" are runs of non-whitespace; a changed text has its words joined by single spaces.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attnd/data/text_dataset.h"
#include "attnd/data/wordpiece.h"

namespace attnd {

enum class TriggerKind {
  kBadNets,  // rare words (cf, mn, bb, tq) inserted 1..max_insertions times
  kAddSent,  // one fixed sentence inserted once
};

struct TriggerSpec {
  TriggerKind kind = TriggerKind::kBadNets;
  std::vector<std::string> words = {"cf", "mn", "bb", "tq"};
  int64_t max_insertions = 1;  // BadNets: the count is uniform in 1..max_insertions
  std::string sentence = "I watch this 3D movie";
  // Positions are drawn among the first `within` words (0: anywhere). A model that truncates its
  // input (data.max_length) only sees a trigger inserted where it reads.
  int64_t within = 0;
};

// Which examples are poisoned and what label they get.
enum class PoisonLabel {
  kDirty,  // non-target examples, relabelled to the target
  kClean,  // target-class examples only, label unchanged
  kMixed,  // any example, relabelled to the target
};

struct PoisonSpec {
  TriggerSpec trigger;
  int64_t target = 1;
  double rate = 0.1;  // poisoned examples = round(rate · training examples)
  PoisonLabel label = PoisonLabel::kDirty;
  uint64_t seed = 0;
};

// The words of a text (runs of non-whitespace) and their join by single spaces.
std::vector<std::string> words_of(const std::string& text);
std::string join_words(const std::vector<std::string>& words);

// `text` with the trigger inserted at random word positions (before the first word, between two,
// or after the last; each position equally likely; with trigger.within = k > 0 only the positions
// before word k + 1 are drawn).
std::string insert_trigger(const std::string& text, const TriggerSpec& trigger, std::mt19937_64& rng);

struct PoisonedSet {
  std::vector<TextExample> examples;  // the training set with the poisoned copies in place
  std::vector<int64_t> poisoned;      // their indices, ascending
};

// The training set of a data-poisoning attack: round(rate · n) examples drawn (from the candidates
// that spec.label allows) without replacement from spec.seed. InputError for a rate outside
// (0, 1], a negative target, or fewer candidates than needed (naming both counts).
PoisonedSet poison_examples(const std::vector<TextExample>& examples, const PoisonSpec& spec);

// The triggered test set: every example whose label is not the target, with the trigger inserted
// (drawn from spec.seed), labelled spec.target. InputError when no example is left.
std::vector<TextExample> triggered_examples(const std::vector<TextExample>& examples,
                                            const PoisonSpec& spec);

enum class SplitMode {
  kWord,      // w → w[:k] + " " + w[k:], k uniform in 1..|w|−1 (code points)
  kSubToken,  // a word of ≥ 2 WordPiece pieces is cut at a uniformly chosen piece boundary
};

// MBTSAD's token splitting: each word that can be split (≥ 2 code points, or ≥ 2 pieces in
// sub-token mode) is split with probability p. kSubToken needs the tokenizer (InputError
// otherwise); its pieces are written without "##", so the halves are new words. InputError for p
// outside [0, 1].
std::string split_tokens(const std::string& text, double p, SplitMode mode, std::mt19937_64& rng,
                         const WordPieceTokenizer* tokenizer = nullptr);

// split_tokens over a set, labels unchanged, drawn from `seed`.
std::vector<TextExample> split_examples(const std::vector<TextExample>& examples, double p,
                                        SplitMode mode, uint64_t seed,
                                        const WordPieceTokenizer* tokenizer = nullptr);

// Names for recipes and messages: "badnets" | "addsent"; "dirty" | "clean" | "mixed";
// "word" | "subtoken". parse_* throw InputError naming `key` and the choices.
TriggerKind parse_trigger_kind(const std::string& name, const std::string& key);
PoisonLabel parse_poison_label(const std::string& name, const std::string& key);
SplitMode parse_split_mode(const std::string& name, const std::string& key);
std::string to_string(TriggerKind kind);
std::string to_string(PoisonLabel label);
std::string to_string(SplitMode mode);

}  // namespace attnd
