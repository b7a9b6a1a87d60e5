// `attnd linearize`: Hedgehog (Zhang et al., ICLR 2024) — turn a trained softmax model into a
// linear-attention one whose learned feature maps mimic the softmax weights.
//   Stage 1 (attention mimicry): every base weight frozen, only the feature maps train, with the
//   soft cross-entropy between the teacher's softmax rows and the student's linear rows, all layers
//   in one pass, each layer fed the teacher's input (optional LoLCATs output MSE).
//   Stage 2: finetune the converted model on its task.
#pragma once

#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/methods/attention_fidelity.h"
#include "attnd/methods/linearize_surgery.h"
#include "attnd/methods/recipe.h"
#include "attnd/train/task.h"

namespace attnd {

struct MimicryOptions {
  double attention_weight = 1.0;  // soft CE between teacher and student rows
  double output_weight = 0.0;     // LoLCATs: MSE of the per-head outputs (they use 1000)
};

// Stage 1. The teacher (the softmax original) runs under NoGradGuard recording q, k, (v) and its
// probabilities; the student's feature maps are applied to the teacher's q and k — which is
// exactly "each layer fed the teacher's input", as the projections are shared and frozen — so the
// student's own trunk never runs. Evaluation: mean CE over layers on the eval data (lower wins).
class AttentionMimicryTask : public Task {
 public:
  AttentionMimicryTask(Model teacher, Model student, MimicryOptions options,
                       const Dataset* eval_data, int64_t eval_batch_size, torch::Device device);
  Model model() const override { return student_; }
  StepLoss loss(const Batch& batch) override;
  EvalSums evaluate_sums() override;
  Metrics metrics_from(const EvalSums& sums) const override;
  std::string selection_metric() const override { return "attn_ce"; }
  bool higher_is_better() const override { return false; }

 private:
  Model teacher_, student_;
  MimicryOptions options_;
  const Dataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
};

// How much of the original's task metric the converted model keeps: accuracy ratio for
// classifiers, original / converted perplexity for language models (both 1 = fully recovered).
double task_recovery(const Metrics& teacher, const Metrics& student);
// "softmax original: ...; converted: ... (recovery ...%)".
std::string describe_recovery(const Metrics& teacher, const Metrics& student);

// recipe_schema(false) plus linearize.* (mixer, feature_map, stages, stage-1 steps and lr, ...).
ConfigSchema linearize_schema();
struct LinearizeResult {
  std::string run_dir;
  Metrics teacher_test, student_test;         // the softmax original and the converted model
  std::vector<LayerFidelity> fidelity;
  bool stage1_skipped = false;                // the feature map has no parameters
};
// The softmax checkpoint is run.init. Writes <run>/stage1, <run>/stage2 (trainer runs),
// <run>/model (the converted checkpoint), result.json and report.md.
LinearizeResult run_linearize_recipe(const Config& config, const std::string& resume = "");

}  // namespace attnd
