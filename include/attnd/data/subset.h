// Views of a dataset through an index list, and deterministic ways to choose the indices.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "attnd/data/batch.h"

namespace attnd {

class SubsetDataset : public Dataset {
 public:
  // Example i of the subset is example indices[i] of `base`. InputError for an index outside
  // the base dataset.
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  int64_t base_index(int64_t i) const;
  const std::vector<int64_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset>& base() const { return base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

// n indices (ascending) whose classes are as balanced as possible: every class gets n / k or
// one more, except a class with fewer examples, which gives all it has and leaves the rest to
// the others. Which examples, and which classes get the extra one, is drawn from `seed`.
// `labels` is a 1-D integer tensor; InputError if n exceeds its length.
std::vector<int64_t> stratified_sample(const torch::Tensor& labels, int64_t n, uint64_t seed);

// A random split of 0..n-1 into (first: n - n_second indices, second: n_second indices), each
// ascending, e.g. (train, validation).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, int64_t n_second,
                                                                    uint64_t seed);

}  // namespace attnd
