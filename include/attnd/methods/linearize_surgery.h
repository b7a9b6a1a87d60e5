// Model surgery for linear attention: swapping a trained model's softmax mixers for linear or
// hybrid ones, freezing for stage 1 (attention mimicry) and unfreezing for stage 2, and the
// attention weights of a linearized layer for given queries and keys.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/nn/mask.h"

namespace attnd {

struct LinearizeSpec {
  std::string mixer = "linear";            // linear | hybrid (LoLCATs sliding window + linear)
  std::string feature_map = "softmax_split";
  int64_t feature_dim = 0;                 // 0: the feature map's default
  int64_t window = 64;                     // hybrid only
  std::vector<int64_t> layers;             // empty: every layer
  uint64_t seed = 0;                       // random feature maps (performer)
};

// Replaces the mixers of spec.layers by linear (or hybrid) ones; the projections are untouched.
void linearize(ModelImpl& model, const LinearizeSpec& spec);
// Stage 1: only parameters under a "mixer" child keep requires_grad. Returns how many do.
int64_t freeze_all_but_mixers(ModelImpl& model);
void unfreeze_all(ModelImpl& model);
// How many parameter elements live under a "mixer" child (0: fixed feature maps only).
int64_t mixer_parameter_count(ModelImpl& model);
// The layers whose mixer is not softmax.
std::vector<int64_t> linearized_layers(ModelImpl& model);

// Student attention weights [B, H, N, N] of a linearized layer for the given (teacher) q and k.
torch::Tensor student_attention_weights(ModelImpl& student, int64_t layer, const torch::Tensor& q,
                                        const torch::Tensor& k, const AttentionMask& mask);

// The mask `model` applies to `batch` (its padding; causal for language models), for computing
// a student's weights outside its own forward.
AttentionMask mask_of(const ModelImpl& model, const Batch& batch);

}  // namespace attnd
