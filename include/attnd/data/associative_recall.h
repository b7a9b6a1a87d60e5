// Multi-query associative recall (MQAR, Arora et al. 2023 "Zoology"): the synthetic task that
// separates attention from its sub-quadratic replacements. Each sequence first lists key-value
// pairs, then asks for every key again in a random order, each query key followed by its value:
//
//   k1 v1 k2 v2 ... kn vn | kπ1 vπ1 kπ2 vπ2 ... kπn vπn        (length 4n)
//
// The model is scored only on the values of the query half (next-token prediction after each query
// key), which it can only get right by looking the key up in the first half. Keys are drawn
// without replacement from [key_begin, key_begin + num_keys), values (with replacement) from
// [value_begin, value_begin + num_values); token 0 is never used (it is [PAD] in attnd's vocabs).
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "attnd/data/batch.h"

namespace attnd {

struct AssociativeRecallOptions {
  int64_t num_pairs = 16;      // n: the sequence length is 4n
  int64_t vocab_size = 128;    // keys take the lower half of [1, vocab), values the upper half
  int64_t num_examples = 10000;
  uint64_t seed = 0;
};

// All examples generated in the constructor from `seed` (a pure function of the options).
// get() -> Batch{input_ids [B, 4n] long, labels [B, 4n] long}: labels[t] = input_ids[t] at the
// query values and -100 elsewhere, so that language_model_loss (logits at t scored against
// labels[t+1]) scores exactly the recall of each queried value. InputError when the vocabulary
// cannot hold n distinct keys or the options are not positive.
class AssociativeRecallDataset : public Dataset {
 public:
  explicit AssociativeRecallDataset(const AssociativeRecallOptions& options);

  int64_t size() const override { return inputs_.size(0); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  const AssociativeRecallOptions& options() const { return options_; }
  int64_t sequence_length() const { return 4 * options_.num_pairs; }
  const torch::Tensor& inputs() const { return inputs_; }  // long [examples, 4n]
  const torch::Tensor& labels() const { return labels_; }  // long [examples, 4n]

 private:
  AssociativeRecallOptions options_;
  torch::Tensor inputs_, labels_;
};

}  // namespace attnd
