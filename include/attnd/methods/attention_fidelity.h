// How faithfully a linearized model's attention reproduces its softmax original's: per-layer
// cross-entropy, KL, entropies and the rank correlation between qᵀk and the student's weights.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"

namespace attnd {

// Attention fidelity of one layer, averaged over examples, heads and query rows.
struct LayerFidelity {
  int64_t layer = 0;
  double ce = 0, kl = 0;                      // −Σ a log â, Σ a (log a − log â)
  double entropy_teacher = 0, entropy_student = 0;
  double spearman = 0;                        // ρ between qᵀk and â per row (monotonicity)
};
// Teacher = the softmax model, student = its linearized copy; at most max_examples examples.
std::vector<LayerFidelity> attention_fidelity(ModelImpl& teacher, ModelImpl& student,
                                              const Dataset& data, int64_t batch_size,
                                              const torch::Device& device,
                                              int64_t max_examples = 1000);
// Spearman rank correlation per row of x and y [.., N] over the allowed entries (allowed: bool,
// broadcastable; undefined = all), averaged over rows. Ties are broken by position.
torch::Tensor rowwise_spearman(const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& allowed = {});

// The per-layer fidelity as a markdown table and as JSON (report.md, result.json, attnd eval).
std::string fidelity_table(const std::vector<LayerFidelity>& fidelity);
nlohmann::json fidelity_json(const std::vector<LayerFidelity>& fidelity);

}  // namespace attnd
