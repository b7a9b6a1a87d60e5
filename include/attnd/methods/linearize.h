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
#include "attnd/methods/recipe.h"
#include "attnd/train/task.h"

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
// The layers whose mixer is not softmax.
std::vector<int64_t> linearized_layers(ModelImpl& model);

// Student attention weights [B, H, N, N] of a linearized layer for the given (teacher) q and k.
torch::Tensor student_attention_weights(ModelImpl& student, int64_t layer, const torch::Tensor& q,
                                        const torch::Tensor& k, const AttentionMask& mask);

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
