// A batch of model inputs with labels, and the dataset interface the trainer draws from.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "attnd/models/model.h"

namespace attnd {

struct Batch {
  ModelInput input;
  torch::Tensor labels;  // [B] long class ids, or [B, N] long token ids (LM; -100 = ignore)

  Batch to(const torch::Device& device) const { return {input.to(device), labels.to(device)}; }
  int64_t size() const { return labels.size(0); }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The examples at `indices`, stacked. `augment_seed` seeds any random augmentation, so that the
  // same (indices, seed) gives the same batch: resumed runs see exactly the same data.
  virtual Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const = 0;
};

}  // namespace attnd
