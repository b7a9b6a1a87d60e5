// What the trainer trains. A Task turns a batch into a loss and knows how to evaluate itself;
// the Trainer owns everything else (optimiser, schedule, checkpoints, metrics, progress).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/train/eval_sums.h"
#include "attnd/train/task_kinds.h"

namespace attnd {

struct StepLoss {
  torch::Tensor total;                   // the scalar that is backpropagated
  std::map<std::string, double> parts;   // named components for the log (e.g. task, attn)
};

class Task {
 public:
  virtual ~Task() = default;
  // The model whose parameters are trained and saved (the student, when distilling).
  virtual Model model() const = 0;
  // The config.json written with each checkpoint (the model's, plus task keys such as a teacher).
  virtual nlohmann::json checkpoint_config() { return model()->config_json(); }
  // Training-mode loss of one (micro-)batch already on the device.
  virtual StepLoss loss(const Batch& batch) = 0;
  // Evaluation on the task's held-out data, as sums that add across shards (eval_sums.h); leaves
  // the model in eval mode.
  virtual EvalSums evaluate_sums() = 0;
  // Data parallel: the sums over shard `shard` of `shards` of the held-out data, the shards being
  // disjoint, non-empty and together the whole set, so the ranks' results add up to
  // evaluate_sums(). std::nullopt (the default) when the task cannot split its evaluation: every
  // rank then evaluates the whole set.
  virtual std::optional<EvalSums> evaluate_shard_sums(int64_t /*shard*/, int64_t /*shards*/) {
    return std::nullopt;
  }
  // The metrics of summed evaluation results (the whole held-out set's); by default those of
  // the model's task kind (task_kinds.h).
  virtual Metrics metrics_from(const EvalSums& sums) const {
    return task_kind_info(model()->task_kind()).metrics(sums);
  }
  Metrics evaluate() { return metrics_from(evaluate_sums()); }
  // The metric that picks the best checkpoint, and whether larger is better; by default the
  // model's task kind's.
  virtual std::string selection_metric() const {
    return task_kind_info(model()->task_kind()).selection_metric;
  }
  virtual bool higher_is_better() const {
    return task_kind_info(model()->task_kind()).higher_is_better;
  }
};

}  // namespace attnd
