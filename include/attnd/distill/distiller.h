// The generic distillation task: a frozen teacher and a student see the same batch; the loss is
// task_weight · task loss + Σ weight · loss(teacher layer t, student layer s) over a list of terms.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "attnd/train/task.h"

namespace attnd {

enum class DistillLoss {
  kAttnSoftCE, kAttnKL, kAttnMSE,  // attention probabilities, head by head
  kHiddenMSE,                      // the blocks' hidden states
  kHiddenAttention,                // NAD: the hidden states' per-token energy (losses.h)
};

// "soft_ce" | "kl" | "mse" (attention), "hidden_mse", "nad"; otherwise InputError naming `key` (where the
// name came from) and the names.
DistillLoss parse_distill_loss(const std::string& name,
                               const std::string& key = "distillation loss");
std::string to_string(DistillLoss loss);

struct LossTerm {
  DistillLoss kind = DistillLoss::kAttnSoftCE;
  int64_t student_layer = 0;
  int64_t teacher_layer = 0;
  double weight = 1.0;
  std::vector<int64_t> heads;  // attention terms: the heads compared (same index in both); empty = all
};

struct DistillSpec {
  std::vector<LossTerm> terms;
  double task_weight = 1.0;
  double label_smoothing = 0.0;
};

// Student→teacher layer pairs. spec: "auto" (same depth: i↔i; otherwise student layer i ↔ teacher
// layer round(i·(Lt−1)/(Ls−1))) or an explicit list "0:0,1:2,3:5". The last `skip_last` student
// layers are left out (attention transfer leaves the last layers free).
std::vector<std::pair<int64_t, int64_t>> parse_layer_map(const std::string& spec,
                                                         int64_t student_layers,
                                                         int64_t teacher_layers,
                                                         int64_t skip_last = 0);

class DistillTask : public Task {
 public:
  // teacher_ref (a checkpoint path) is written into the student's checkpoint config.
  DistillTask(Model teacher, Model student, DistillSpec spec, const Dataset* eval_data,
              int64_t eval_batch_size, torch::Device device, std::string teacher_ref = "");

  Model model() const override { return student_; }
  nlohmann::json checkpoint_config() override;
  StepLoss loss(const Batch& batch) override;
  EvalSums evaluate_sums() override;
  std::optional<EvalSums> evaluate_shard_sums(int64_t shard, int64_t shards) override;

  const DistillSpec& spec() const { return spec_; }

 private:
  Model teacher_, student_;
  DistillSpec spec_;
  const Dataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
  std::string teacher_ref_;
};

}  // namespace attnd
