#include "attnd/data/subset.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"

namespace attnd {

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  ATTND_CHECK(base_ != nullptr, "SubsetDataset of a null dataset");
  const int64_t n = base_->size();
  for (int64_t i : indices_)
    ATTND_CHECK_INPUT(i >= 0 && i < n, "subset index ", i, " is outside the dataset (", n,
                      " examples)");
}

int64_t SubsetDataset::base_index(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "subset index ", i, " out of range [0, ", size(), ")");
  return indices_[static_cast<size_t>(i)];
}

Batch SubsetDataset::get(const std::vector<int64_t>& indices, uint64_t augment_seed) const {
  std::vector<int64_t> mapped;
  mapped.reserve(indices.size());
  for (int64_t i : indices) mapped.push_back(base_index(i));
  return base_->get(mapped, augment_seed);
}

std::vector<int64_t> stratified_sample(const torch::Tensor& labels, int64_t n, uint64_t seed) {
  ATTND_CHECK_INPUT(labels.dim() == 1, "stratified_sample needs 1-D labels, got shape ",
                    labels.sizes());
  const torch::Tensor flat = labels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t total = flat.size(0);
  ATTND_CHECK_INPUT(n >= 0 && n <= total, "cannot sample ", n, " examples from ", total);

  // Examples of each class, in index order (std::map: classes in ascending label order).
  std::map<int64_t, std::vector<int64_t>> by_class;
  const int64_t* data = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < total; ++i) by_class[data[i]].push_back(i);
  std::vector<std::vector<int64_t>*> classes;
  for (auto& [label, members] : by_class) classes.push_back(&members);
  const size_t k = classes.size();

  // Water-filling: share what is left equally among the classes that still have examples.
  std::vector<int64_t> quota(k, 0);
  int64_t remaining = n;
  std::mt19937_64 rng(mix_seed(seed, 0));
  while (remaining > 0) {
    std::vector<int64_t> open;
    for (size_t c = 0; c < k; ++c)
      if (quota[c] < static_cast<int64_t>(classes[c]->size())) open.push_back(static_cast<int64_t>(c));
    const int64_t share = remaining / static_cast<int64_t>(open.size());
    if (share == 0) {
      // Fewer left than open classes: a random few get one more.
      fisher_yates(open, rng);
      for (int64_t r = 0; r < remaining; ++r) ++quota[static_cast<size_t>(open[static_cast<size_t>(r)])];
      break;
    }
    for (int64_t c : open) {
      const auto idx = static_cast<size_t>(c);
      const int64_t add = std::min(share, static_cast<int64_t>(classes[idx]->size()) - quota[idx]);
      quota[idx] += add;
      remaining -= add;
    }
  }

  std::vector<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(n));
  for (size_t c = 0; c < k; ++c) {
    std::vector<int64_t> members = *classes[c];
    std::mt19937_64 class_rng(mix_seed(seed, c + 1));
    fisher_yates(members, class_rng);
    chosen.insert(chosen.end(), members.begin(), members.begin() + quota[c]);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, int64_t n_second,
                                                                    uint64_t seed) {
  ATTND_CHECK_INPUT(n >= 0 && n_second >= 0 && n_second <= n, "cannot split ", n_second,
                    " examples off a set of ", n);
  std::vector<int64_t> order = random_permutation(n, seed);
  std::vector<int64_t> second(order.begin(), order.begin() + n_second);
  std::vector<int64_t> first(order.begin() + n_second, order.end());
  std::sort(first.begin(), first.end());
  std::sort(second.begin(), second.end());
  return {std::move(first), std::move(second)};
}

}  // namespace attnd
