#include "attnd/data/associative_recall.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "attnd/core/error.h"

namespace attnd {

AssociativeRecallDataset::AssociativeRecallDataset(const AssociativeRecallOptions& o)
    : options_(o) {
  ATTND_CHECK_INPUT(o.num_pairs >= 1, "associative recall needs at least one key-value pair, got ",
                    o.num_pairs);
  ATTND_CHECK_INPUT(o.num_examples >= 1, "associative recall needs at least one example, got ",
                    o.num_examples);
  // Token 0 is reserved; keys get the lower half of the rest, values the upper half.
  const int64_t num_keys = (o.vocab_size - 1) / 2;
  const int64_t num_values = o.vocab_size - 1 - num_keys;
  ATTND_CHECK_INPUT(num_keys >= o.num_pairs && num_values >= 1, "associative recall with ",
                    o.num_pairs, " distinct keys needs a vocabulary of at least ",
                    2 * o.num_pairs + 1, " tokens, got ", o.vocab_size);
  const int64_t n = o.num_pairs, length = 4 * n;
  inputs_ = torch::zeros({o.num_examples, length}, torch::kLong);
  labels_ = torch::full({o.num_examples, length}, -100, torch::kLong);
  auto in = inputs_.accessor<int64_t, 2>();
  auto lab = labels_.accessor<int64_t, 2>();
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> keys(static_cast<size_t>(num_keys));
  std::iota(keys.begin(), keys.end(), int64_t{1});
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::uniform_int_distribution<int64_t> value_dist(1 + num_keys, o.vocab_size - 1);
  for (int64_t e = 0; e < o.num_examples; ++e) {
    // The first n of a partial Fisher-Yates shuffle: n distinct keys.
    for (int64_t i = 0; i < n; ++i) {
      std::uniform_int_distribution<int64_t> pick(i, num_keys - 1);
      std::swap(keys[static_cast<size_t>(i)], keys[static_cast<size_t>(pick(rng))]);
    }
    std::vector<int64_t> values(static_cast<size_t>(n));
    for (auto& v : values) v = value_dist(rng);
    for (int64_t i = 0; i < n; ++i) {
      in[e][2 * i] = keys[static_cast<size_t>(i)];
      in[e][2 * i + 1] = values[static_cast<size_t>(i)];
    }
    std::iota(order.begin(), order.end(), int64_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t j = 0; j < n; ++j) {
      const auto i = static_cast<size_t>(order[static_cast<size_t>(j)]);
      const int64_t pos = 2 * n + 2 * j;
      in[e][pos] = keys[i];
      in[e][pos + 1] = values[i];
      lab[e][pos + 1] = values[i];
    }
  }
}

Batch AssociativeRecallDataset::get(const std::vector<int64_t>& indices, uint64_t) const {
  auto idx = torch::tensor(indices, torch::kLong);
  Batch batch;
  batch.input.input_ids = inputs_.index_select(0, idx);
  batch.labels = labels_.index_select(0, idx);
  return batch;
}

}  // namespace attnd
