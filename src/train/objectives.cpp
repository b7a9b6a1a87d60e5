#include "attnd/train/objectives.h"

#include <torch/torch.h>

#include <cmath>

#include "attnd/core/error.h"

namespace attnd {

torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  double label_smoothing) {
  ATTND_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
              "classification loss needs logits [B, C] and labels [B], got ", logits.sizes(),
              " and ", labels.sizes());
  auto logp = torch::log_softmax(logits.to(torch::kFloat), -1);
  auto nll = -logp.gather(1, labels.unsqueeze(1)).squeeze(1);
  if (label_smoothing <= 0.0) return nll.mean();
  auto uniform = -logp.mean(-1);
  return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean();
}

torch::Tensor language_model_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  ATTND_CHECK(logits.dim() == 3 && labels.dim() == 2, "LM loss needs logits [B, N, V] and labels "
              "[B, N], got ", logits.sizes(), " and ", labels.sizes());
  const int64_t n = logits.size(1);
  auto pred = logits.narrow(1, 0, n - 1).reshape({-1, logits.size(2)});
  auto target = labels.narrow(1, 1, n - 1).reshape({-1});
  return torch::nn::functional::cross_entropy(
      pred.to(torch::kFloat), target,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

torch::Tensor task_loss(const std::string& model_type, const torch::Tensor& logits,
                        const torch::Tensor& labels, double label_smoothing) {
  if (model_type == "gpt2") return language_model_loss(logits, labels);
  return classification_loss(logits, labels, label_smoothing);
}

Metrics evaluate_classifier(ModelImpl& model, const Dataset& data, int64_t batch_size,
                            const torch::Device& device) {
  ATTND_CHECK_INPUT(data.size() > 0, "the evaluation set is empty");
  torch::NoGradGuard no_grad;
  model.eval();
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < std::min(data.size(), begin + batch_size); ++i) idx.push_back(i);
    auto batch = data.get(idx, 0).to(device);
    auto logits = model.forward(batch.input);
    loss_sum += classification_loss(logits, batch.labels).item<double>() * idx.size();
    correct += logits.argmax(-1).eq(batch.labels).sum().item<int64_t>();
  }
  return {{"accuracy", static_cast<double>(correct) / data.size()},
          {"loss", loss_sum / data.size()}};
}

Metrics evaluate_language_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                const torch::Device& device) {
  ATTND_CHECK_INPUT(data.size() > 0, "the evaluation set is empty");
  torch::NoGradGuard no_grad;
  model.eval();
  double loss_sum = 0.0;
  int64_t correct = 0, tokens = 0;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < std::min(data.size(), begin + batch_size); ++i) idx.push_back(i);
    auto batch = data.get(idx, 0).to(device);
    auto logits = model.forward(batch.input);
    const int64_t n = logits.size(1);
    auto pred = logits.narrow(1, 0, n - 1).reshape({-1, logits.size(2)}).to(torch::kFloat);
    auto target = batch.labels.narrow(1, 1, n - 1).reshape({-1});
    auto scored = target.ne(-100);
    const int64_t count = scored.sum().item<int64_t>();
    if (count == 0) continue;
    auto nll = torch::nn::functional::cross_entropy(
        pred, target,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
    loss_sum += nll.item<double>();
    correct += pred.argmax(-1).eq(target).logical_and(scored).sum().item<int64_t>();
    tokens += count;
  }
  ATTND_CHECK_INPUT(tokens > 0, "the evaluation set has no scored token (every label is -100)");
  const double loss = loss_sum / static_cast<double>(tokens);
  return {{"loss", loss},
          {"perplexity", std::exp(loss)},
          {"accuracy", static_cast<double>(correct) / static_cast<double>(tokens)},
          {"tokens", static_cast<double>(tokens)}};
}

Metrics evaluate_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device) {
  if (model.model_type() == "gpt2") return evaluate_language_model(model, data, batch_size, device);
  return evaluate_classifier(model, data, batch_size, device);
}

std::string selection_metric_for(const std::string& model_type) {
  return model_type == "gpt2" ? "loss" : "accuracy";
}

bool selection_higher_is_better(const std::string& model_type) { return model_type != "gpt2"; }

torch::Tensor predict_probabilities(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                    const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < std::min(data.size(), begin + batch_size); ++i) idx.push_back(i);
    auto batch = data.get(idx, 0).to(device);
    parts.push_back(torch::softmax(model.forward(batch.input).to(torch::kFloat), -1).cpu());
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
  auto logits = model_->forward(batch.input);
  auto loss = task_loss(model_->model_type(), logits, batch.labels, label_smoothing_);
  return {loss, {{"task", loss.item<double>()}}};
}

Metrics SupervisedTask::evaluate() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  return evaluate_model(*model_, *eval_data_, eval_batch_size_, device_);
}

std::string SupervisedTask::selection_metric() const {
  return selection_metric_for(model_->model_type());
}

bool SupervisedTask::higher_is_better() const {
  return selection_higher_is_better(model_->model_type());
}

}  // namespace attnd
