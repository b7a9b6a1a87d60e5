// One table entry per task kind (models/model.h's TaskKind): the training loss, the evaluation —
// as sums that add across shards, then metrics — and the metric that picks the best checkpoint.
// Supervised training, distillation and `attnd eval` all go through it, so a model family needs
// only to declare its task kind in its traits.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/train/eval_sums.h"

namespace attnd {

// Mean cross-entropy of class logits [B, C] against labels [B], with optional label smoothing.
torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  double label_smoothing = 0.0);
// Next-token cross-entropy of LM logits [B, N, V] against labels [B, N] (shifted inside: position
// t predicts label t+1; -100 is ignored).
torch::Tensor language_model_loss(const torch::Tensor& logits, const torch::Tensor& labels);

struct TaskKindInfo {
  TaskKind kind = TaskKind::kClassification;
  // The training loss of one batch (label_smoothing applies to classification only).
  std::function<torch::Tensor(const ModelOutput&, const Batch&, double label_smoothing)> loss;
  // Adds one evaluation batch's sums to `sums`.
  std::function<void(const ModelOutput&, const Batch&, EvalSums& sums)> accumulate;
  // The metrics of a whole evaluation set from its summed totals. InputError when the sums hold
  // nothing to score (an empty set, a language-model set whose labels are all -100).
  std::function<Metrics(const EvalSums&)> metrics;
  std::string selection_metric;  // a key of metrics()
  bool higher_is_better = true;
};

// The entry of `kind`; attnd::Error for a kind no model family has brought a loss for yet.
const TaskKindInfo& task_kind_info(TaskKind kind);

// The global torch RNG is seeded with this before each evaluation, so that a model that draws
// random numbers when evaluated (a masked autoencoder's masks) scores the same every time.
inline constexpr uint64_t kEvaluationSeed = 1234;

}  // namespace attnd
