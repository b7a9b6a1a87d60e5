#include "attnd/train/objectives.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"

namespace attnd {

torch::Tensor task_loss(const ModelImpl& model, const ModelOutput& output, const Batch& batch,
                        double label_smoothing) {
  return task_kind_info(model.task_kind()).loss(output, batch, label_smoothing);
}

EvalSums evaluate_sums(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device, const std::vector<int64_t>& indices) {
  ATTND_CHECK_INPUT(batch_size > 0, "the evaluation batch size must be positive, got ",
                    batch_size);
  const auto& kind = task_kind_info(model.task_kind());
  torch::NoGradGuard no_grad;
  model.eval();
  torch::manual_seed(kEvaluationSeed);  // the trainer reseeds every step: nothing leaks into training
  EvalSums sums;
  auto add_batch = [&](const std::vector<int64_t>& idx) {
    auto batch = data.get(idx, 0).to(device);
    kind.accumulate(model.forward(batch.input), batch, sums);
  };
  if (indices.empty()) {
    for (const auto& idx : eval_batches(data.size(), batch_size)) add_batch(idx);
  } else {
    for (size_t begin = 0; begin < indices.size(); begin += static_cast<size_t>(batch_size)) {
      const auto end = std::min(indices.size(), begin + static_cast<size_t>(batch_size));
      add_batch({indices.begin() + static_cast<std::ptrdiff_t>(begin),
                 indices.begin() + static_cast<std::ptrdiff_t>(end)});
    }
  }
  return sums;
}

std::optional<std::vector<int64_t>> evaluation_shard(int64_t n, int64_t batch_size, int64_t shard,
                                                     int64_t shards) {
  ATTND_CHECK(shards >= 1 && shard >= 0 && shard < shards, "shard ", shard, " of ", shards);
  const auto batches = eval_batches(n, batch_size);
  if (static_cast<int64_t>(batches.size()) < shards) return std::nullopt;
  std::vector<int64_t> indices;
  for (size_t i = static_cast<size_t>(shard); i < batches.size(); i += static_cast<size_t>(shards))
    indices.insert(indices.end(), batches[i].begin(), batches[i].end());
  return indices;
}

Metrics evaluate_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device) {
  ATTND_CHECK_INPUT(data.size() > 0, "the evaluation set is empty");
  return task_kind_info(model.task_kind()).metrics(evaluate_sums(model, data, batch_size, device));
}

const std::string& selection_metric_for(TaskKind kind) {
  return task_kind_info(kind).selection_metric;
}

bool selection_higher_is_better(TaskKind kind) { return task_kind_info(kind).higher_is_better; }

torch::Tensor predict_probabilities(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                    const torch::Device& device) {
  ATTND_CHECK_INPUT(model.task_kind() == TaskKind::kClassification, "class probabilities need a "
                    "classifier; this ", model.model_type(), " model is a ",
                    to_string(model.task_kind()), " model");
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<torch::Tensor> parts;
  for (const auto& idx : eval_batches(data.size(), batch_size)) {
    auto batch = data.get(idx, 0).to(device);
    parts.push_back(torch::softmax(model.forward(batch.input).logits.to(torch::kFloat), -1).cpu());
  }
  return torch::cat(parts);
}

Metrics evaluate_ensemble(const std::vector<Model>& members, const Dataset& data,
                          int64_t batch_size, const torch::Device& device) {
  ATTND_CHECK_INPUT(!members.empty(), "an ensemble needs at least one model");
  ATTND_CHECK_INPUT(data.size() > 0, "evaluation: the dataset is empty");
  torch::Tensor mean;
  for (const auto& m : members) {
    auto p = predict_probabilities(*m, data, batch_size, device);
    ATTND_CHECK_INPUT(!mean.defined() || p.sizes() == mean.sizes(), "ensemble members disagree on "
                      "the number of classes: ", p.size(1), " vs ", mean.size(1));
    mean = mean.defined() ? mean + p : p;
  }
  mean = mean / static_cast<double>(members.size());
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  auto labels = data.get(all, 0).labels.cpu();
  auto accuracy = mean.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
  auto nll = -mean.gather(1, labels.unsqueeze(1)).clamp_min(1e-12).log().mean().item<double>();
  return {{"accuracy", accuracy}, {"loss", nll}};
}

SupervisedTask::SupervisedTask(Model model, const Dataset* eval_data, int64_t eval_batch_size,
                               torch::Device device, double label_smoothing)
    : model_(std::move(model)), eval_data_(eval_data), eval_batch_size_(eval_batch_size),
      device_(device), label_smoothing_(label_smoothing) {}

StepLoss SupervisedTask::loss(const Batch& batch) {
  auto loss = task_loss(*model_, model_->forward(batch.input), batch, label_smoothing_);
  return {loss, {{"task", loss.item<double>()}}};
}

EvalSums SupervisedTask::evaluate_sums() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  ATTND_CHECK_INPUT(eval_data_->size() > 0, "the evaluation set is empty");
  return attnd::evaluate_sums(*model_, *eval_data_, eval_batch_size_, device_);
}

std::optional<EvalSums> SupervisedTask::evaluate_shard_sums(int64_t shard, int64_t shards) {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  const auto indices = evaluation_shard(eval_data_->size(), eval_batch_size_, shard, shards);
  if (!indices) return std::nullopt;
  return attnd::evaluate_sums(*model_, *eval_data_, eval_batch_size_, device_, *indices);
}

}  // namespace attnd
