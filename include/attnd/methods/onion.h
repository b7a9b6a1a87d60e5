// ONION (Qi et al., EMNLP 2021), the test-time baseline of attnd purify. A causal language model
// scores each word of an input by how much the text's perplexity falls when the word is removed;
// words whose suspicion exceeds a threshold are taken for triggers and dropped before the
// classifier — which is not changed — reads the text. The paper uses a pre-trained GPT-2; attnd has
// no pre-trained weights, so purify trains a GPT-2 on the defender's clean set (methods/purify.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "attnd/data/text_dataset.h"
#include "attnd/data/wordpiece.h"
#include "attnd/models/model.h"
#include "attnd/train/progress.h"

namespace attnd {

struct OnionOptions {
  // A word is removed when ppl(text) − ppl(text without the word) > threshold (OpenBackdoor's
  // default bar is 0: any word whose removal makes the text more fluent).
  double threshold = 0;
  // Only the first max_words words are scored (0: all); the rest are kept as they are. purify sets
  // it to the classifier's data.max_length: a word is at least one piece, so later words are never
  // read by the classifier and cost LM passes for nothing.
  int64_t max_words = 0;
  int64_t batch_size = 64;  // LM sequences per forward pass
  int64_t context = 0;      // the LM's positions (n_positions): a text is cut to context − 1 pieces
  // onion_filter's progress (one step per example: each costs an LM pass per scored word).
  std::string label = "ONION";
  Progress::Style progress = Progress::Style::kQuiet;
};

// Perplexity of each text under a causal LM: exp of the mean negative log-likelihood of its
// WordPiece pieces, each predicted from the ones before it, after a leading [SEP] (the document
// boundary the LM was trained with, data/text_batches.h token_stream). Texts are cut to
// options.context − 1 pieces. An empty text has perplexity 1 (nothing to predict).
std::vector<double> perplexities(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                 const std::vector<std::string>& texts, const OnionOptions& options,
                                 const torch::Device& device);

// Suspicion of each of the first max_words words (data/backdoor.h words: runs of non-whitespace):
// ppl(text) − ppl(text without that word).
std::vector<double> onion_suspicion(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                    const std::string& text, const OnionOptions& options,
                                    const torch::Device& device);

// `text` without the words whose suspicion exceeds options.threshold (words joined by single
// spaces), for every example; labels are kept.
std::vector<TextExample> onion_filter(ModelImpl& lm, const WordPieceTokenizer& tokenizer,
                                      const std::vector<TextExample>& examples,
                                      const OnionOptions& options, const torch::Device& device);

}  // namespace attnd
