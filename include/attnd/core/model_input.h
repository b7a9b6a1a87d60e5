// What a model reads: the input tensors of one batch. It sits in core/ because both data/ (which
// makes it) and models/ (which reads it) need it, and data/ must not depend on models/.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace attnd {

// Inputs of any model; each model reads the fields its modality needs and rejects a missing one.
struct ModelInput {
  torch::Tensor pixel_values;    // [B, C, H, W] float (image models)
  torch::Tensor input_ids;       // [B, N] long (text models)
  torch::Tensor attention_mask;  // [B, N], 1 = real token, 0 = padding (optional)
  torch::Tensor token_type_ids;  // [B, N] long (bert, optional)
  // Detectors: images padded to one size carry which pixels are real, [B, H, W] bool (optional:
  // undefined = every pixel is real).
  torch::Tensor pixel_mask;
  // Detectors in training: 1 inside a ground-truth box, [B, H, W] float — KS-DETR's teachers see
  // it; every model ignores it in evaluation (inference never needs annotations).
  torch::Tensor foreground_mask;
  // Models with training-only branches (ModelImpl::teacher_branches): run them in evaluation
  // too, under their "<branch>." outputs, to score each branch (needs foreground_mask). The
  // model's main outputs stay those of its plain evaluation.
  bool teacher_branches = false;

  ModelInput to(const torch::Device& device) const;
  int64_t batch_size() const;
};

}  // namespace attnd
