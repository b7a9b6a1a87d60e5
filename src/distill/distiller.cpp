#include "attnd/distill/distiller.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/enum_names.h"
#include "attnd/core/error.h"
#include "attnd/core/index_set.h"
#include "attnd/distill/losses.h"
#include "attnd/train/objectives.h"

namespace attnd {

namespace {
constexpr EnumName<DistillLoss> kDistillLosses[] = {{DistillLoss::kAttnSoftCE, "soft_ce"},
                                                    {DistillLoss::kAttnKL, "kl"},
                                                    {DistillLoss::kAttnMSE, "mse"},
                                                    {DistillLoss::kHiddenMSE, "hidden_mse"},
                                                    {DistillLoss::kHiddenAttention, "nad"}};

bool on_hidden_states(DistillLoss kind) {
  return kind == DistillLoss::kHiddenMSE || kind == DistillLoss::kHiddenAttention;
}
}  // namespace

DistillLoss parse_distill_loss(const std::string& name, const std::string& key) {
  return parse_enum(kDistillLosses, name, key);
}

std::string to_string(DistillLoss loss) { return enum_name(kDistillLosses, loss); }

std::vector<std::pair<int64_t, int64_t>> parse_layer_map(const std::string& spec,
                                                         int64_t student_layers,
                                                         int64_t teacher_layers,
                                                         int64_t skip_last) {
  ATTND_CHECK_INPUT(skip_last >= 0 && skip_last <= student_layers, "distill.skip_last = ",
                    skip_last, " must be between 0 and the student's ", student_layers, " layers");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  if (spec.empty() || spec == "auto") {
    for (int64_t s = 0; s < student_layers; ++s) {
      int64_t t = s;
      if (student_layers != teacher_layers) {
        t = student_layers == 1 ? teacher_layers - 1
                                : std::llround(static_cast<double>(s) * (teacher_layers - 1) /
                                               (student_layers - 1));
      }
      pairs.emplace_back(s, t);
    }
  } else {
    pairs = parse_index_pairs(spec, {student_layers, "student layer"},
                              {teacher_layers, "teacher layer"}, "distill.layer_map");
  }
  std::vector<std::pair<int64_t, int64_t>> kept;
  for (const auto& p : pairs)
    if (p.first < student_layers - skip_last) kept.push_back(p);
  return kept;
}

DistillTask::DistillTask(Model teacher, Model student, DistillSpec spec, const Dataset* eval_data,
                         int64_t eval_batch_size, torch::Device device, std::string teacher_ref)
    : teacher_(std::move(teacher)), student_(std::move(student)), spec_(std::move(spec)),
      eval_data_(eval_data), eval_batch_size_(eval_batch_size), device_(device),
      teacher_ref_(std::move(teacher_ref)) {
  // Both see the same batch, so they must read the same kind of input.
  ATTND_CHECK_INPUT(teacher_->modality() == student_->modality(), "the teacher (a ",
                    teacher_->model_type(), " model) reads ", to_string(teacher_->modality()),
                    " inputs but the student (a ", student_->model_type(), " model) reads ",
                    to_string(student_->modality()), " inputs");
  for (const auto& term : spec_.terms) {
    ATTND_CHECK_INPUT(term.student_layer < student_->num_layers() &&
                          term.teacher_layer < teacher_->num_layers(),
                      "distillation term pairs student layer ", term.student_layer,
                      " with teacher layer ", term.teacher_layer, ", beyond the models' depth");
    if (!on_hidden_states(term.kind)) {
      ATTND_CHECK_INPUT(teacher_->num_heads() == student_->num_heads(),
                        "attention distillation pairs heads one to one: the teacher has ",
                        teacher_->num_heads(), " heads, the student ", student_->num_heads());
      for (auto h : term.heads)
        ATTND_CHECK_INPUT(h >= 0 && h < student_->num_heads(), "distillation head ", h,
                          " out of range (the models have ", student_->num_heads(), " heads)");
    }
  }
  teacher_->to(device_);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

nlohmann::json DistillTask::checkpoint_config() {
  auto config = student_->config_json();
  if (!teacher_ref_.empty()) config["attnd"]["distilled_from"] = teacher_ref_;
  return config;
}

StepLoss DistillTask::loss(const Batch& batch) {
  Taps teacher_taps, student_taps;
  for (const auto& term : spec_.terms) {
    if (on_hidden_states(term.kind)) {
      teacher_taps.record(kRecordHidden, {term.teacher_layer});
      student_taps.record(kRecordHidden, {term.student_layer});
    } else {
      teacher_taps.record(kRecordProbs, {term.teacher_layer});
      student_taps.record(kRecordLogits | kRecordProbs, {term.student_layer});
    }
  }
  {
    torch::NoGradGuard no_grad;  // not InferenceMode: the recorded tensors feed a student loss
    teacher_->eval();
    teacher_->forward(batch.input, &teacher_taps);
  }
  auto output = student_->forward(batch.input, &student_taps);
  auto task = task_loss(*student_, output, batch, spec_.label_smoothing);

  const auto mask = student_->attention_mask(batch.input);
  StepLoss out;
  out.total = spec_.task_weight * task;
  out.parts["task"] = task.item<double>();
  for (const auto& term : spec_.terms) {
    auto t = teacher_taps.at(term.teacher_layer);
    auto s = student_taps.at(term.student_layer);
    if (!term.heads.empty() && !on_hidden_states(term.kind)) {
      auto index = torch::tensor(term.heads, torch::kLong).to(t.probs.device());
      t.probs = t.probs.index_select(1, index);
      if (s.logits.defined()) s.logits = s.logits.index_select(1, index);
      if (s.probs.defined()) s.probs = s.probs.index_select(1, index);
    }
    torch::Tensor value;
    switch (term.kind) {
      case DistillLoss::kAttnSoftCE:
        value = s.logits.defined() ? attention_soft_ce(t.probs, s.logits, mask)
                                   : attention_soft_ce_from_probs(t.probs, s.probs, mask);
        break;
      case DistillLoss::kAttnKL:
        ATTND_CHECK_INPUT(s.logits.defined(), "the KL attention loss needs student logits; layer ",
                          term.student_layer, "'s mixer has none (use soft_ce)");
        value = attention_kl(t.probs, s.logits, mask);
        break;
      case DistillLoss::kAttnMSE:
        value = attention_mse(t.probs, s.probs, mask);
        break;
      case DistillLoss::kHiddenMSE:
        ATTND_CHECK_INPUT(t.hidden.size(-1) == s.hidden.size(-1),
                          "hidden-state distillation needs equal hidden sizes: teacher ",
                          t.hidden.size(-1), ", student ", s.hidden.size(-1));
        value = hidden_mse(t.hidden, s.hidden, batch.input.attention_mask);
        break;
      case DistillLoss::kHiddenAttention:
        value = hidden_attention_mse(t.hidden, s.hidden, batch.input.attention_mask);
        break;
    }
    out.total = out.total + term.weight * value;
    out.parts[to_string(term.kind)] += value.item<double>();
  }
  return out;
}

EvalSums DistillTask::evaluate_sums() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  ATTND_CHECK_INPUT(eval_data_->size() > 0, "the evaluation set is empty");
  return attnd::evaluate_sums(*student_, *eval_data_, eval_batch_size_, device_);
}

std::optional<EvalSums> DistillTask::evaluate_shard_sums(int64_t shard, int64_t shards) {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  const auto indices = evaluation_shard(eval_data_->size(), eval_batch_size_, shard, shards);
  if (!indices) return std::nullopt;
  return attnd::evaluate_sums(*student_, *eval_data_, eval_batch_size_, device_, *indices);
}

}  // namespace attnd
