// A batch of model inputs with targets, and the dataset interface the trainer draws from.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "attnd/core/model_input.h"
#include "attnd/core/tensor_map.h"

namespace attnd {

struct Batch {
  ModelInput input;
  // Dense targets, one row per example: [B] long class ids, or [B, N] long token ids (language
  // models; -100 = ignore). Undefined when the targets are ragged.
  torch::Tensor labels;
  // Ragged targets, one map per example, for targets whose shape differs between examples (a
  // detector's "boxes" [n_i, 4] and "class_labels" [n_i]). Empty when `labels` says it all.
  std::vector<TensorMap> targets;

  Batch to(const torch::Device& device) const;
  // Examples in the batch: from the inputs (labels may be undefined).
  int64_t size() const;
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
