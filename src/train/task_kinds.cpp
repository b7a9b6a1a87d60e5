#include "attnd/train/task_kinds.h"

#include <torch/torch.h>

#include <cmath>
#include <map>

#include "attnd/core/error.h"
#include "attnd/train/detection_loss.h"

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

namespace {

// Position t predicts label t+1: the last position predicts nothing, the first label is no target.
std::pair<torch::Tensor, torch::Tensor> shifted(const torch::Tensor& logits,
                                                const torch::Tensor& labels) {
  const int64_t n = logits.size(1);
  auto pred = logits.narrow(1, 0, n - 1).reshape({-1, logits.size(2)}).to(torch::kFloat);
  auto target = labels.narrow(1, 1, n - 1).reshape({-1});
  return {pred, target};
}

TaskKindInfo classification() {
  TaskKindInfo t;
  t.kind = TaskKind::kClassification;
  t.loss = [](const ModelOutput& out, const Batch& batch, double label_smoothing) {
    return classification_loss(out.logits, batch.labels, label_smoothing);
  };
  t.accumulate = [](const ModelOutput& out, const Batch& batch, EvalSums& sums) {
    const auto n = static_cast<double>(batch.labels.size(0));
    sums.add("loss_sum", classification_loss(out.logits, batch.labels).item<double>() * n);
    sums.add("correct", out.logits.argmax(-1).eq(batch.labels).sum().item<double>());
    sums.add("examples", n);
  };
  t.metrics = [](const EvalSums& sums) -> Metrics {
    const double n = sums.get("examples");
    ATTND_CHECK_INPUT(n > 0, "the evaluation set is empty");
    return {{"accuracy", sums.get("correct") / n}, {"loss", sums.get("loss_sum") / n}};
  };
  t.selection_metric = "accuracy";
  t.higher_is_better = true;
  return t;
}

TaskKindInfo language_model() {
  TaskKindInfo t;
  t.kind = TaskKind::kLanguageModel;
  t.loss = [](const ModelOutput& out, const Batch& batch, double /*label_smoothing*/) {
    return language_model_loss(out.logits, batch.labels);
  };
  t.accumulate = [](const ModelOutput& out, const Batch& batch, EvalSums& sums) {
    auto [pred, target] = shifted(out.logits, batch.labels);
    auto scored = target.ne(-100);
    const int64_t count = scored.sum().item<int64_t>();
    if (count == 0) return;
    auto nll = torch::nn::functional::cross_entropy(
        pred, target,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
    sums.add("nll_sum", nll.item<double>());
    sums.add("correct", pred.argmax(-1).eq(target).logical_and(scored).sum().item<double>());
    sums.add("tokens", static_cast<double>(count));
  };
  t.metrics = [](const EvalSums& sums) -> Metrics {
    const double tokens = sums.get("tokens");
    ATTND_CHECK_INPUT(tokens > 0, "the evaluation set has no scored token (every label is -100)");
    const double loss = sums.get("nll_sum") / tokens;
    return {{"loss", loss},
            {"perplexity", std::exp(loss)},
            {"accuracy", sums.get("correct") / tokens},
            {"tokens", tokens}};
  };
  t.selection_metric = "loss";
  t.higher_is_better = false;
  return t;
}

// The model scores itself: its output carries the masked-patch loss and the mask.
TaskKindInfo masked_patches() {
  TaskKindInfo t;
  t.kind = TaskKind::kMaskedPatches;
  t.loss = [](const ModelOutput& out, const Batch&, double) { return out.at("loss"); };
  t.accumulate = [](const ModelOutput& out, const Batch&, EvalSums& sums) {
    // The loss is a mean over masked patches: weight it by their number to sum across batches.
    const double masked = out.at("mask").sum().item<double>();
    sums.add("loss_sum", out.at("loss").item<double>() * masked);
    sums.add("masked_patches", masked);
  };
  t.metrics = [](const EvalSums& sums) -> Metrics {
    const double masked = sums.get("masked_patches");
    ATTND_CHECK_INPUT(masked > 0, "MAE evaluation: the dataset is empty");
    return {{"loss", sums.get("loss_sum") / masked}};
  };
  t.selection_metric = "loss";
  t.higher_is_better = false;
  return t;
}

// Detectors: DETR's set loss over every output group. AP does not add across batches, so the
// evaluation is DetectionTask's (train/detection_task.h): it collects every detection, runs the
// COCO evaluation and hands over its 12 numbers as the sums, which metrics() passes through.
TaskKindInfo detection() {
  TaskKindInfo t;
  t.kind = TaskKind::kDetection;
  t.loss = [](const ModelOutput& out, const Batch& batch, double) {
    return detection_loss(out, batch.targets, DetectionLossOptions{}).total;
  };
  t.accumulate = [](const ModelOutput&, const Batch&, EvalSums&) {
    throw Error("detection is scored by COCO AP over a whole data set, which does not add up "
                "batch by batch: evaluate with DetectionTask (attnd detect eval)");
  };
  t.metrics = [](const EvalSums& sums) -> Metrics {
    ATTND_CHECK_INPUT(sums.values.count("AP"), "detection evaluation: no COCO summary to report");
    return Metrics(sums.values.begin(), sums.values.end());
  };
  t.selection_metric = "AP";
  t.higher_is_better = true;
  return t;
}

}  // namespace

torch::Tensor language_model_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  ATTND_CHECK(logits.dim() == 3 && labels.dim() == 2, "LM loss needs logits [B, N, V] and labels "
              "[B, N], got ", logits.sizes(), " and ", labels.sizes());
  auto [pred, target] = shifted(logits, labels);
  return torch::nn::functional::cross_entropy(
      pred, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

const TaskKindInfo& task_kind_info(TaskKind kind) {
  static const std::map<TaskKind, TaskKindInfo> table = {
      {TaskKind::kClassification, classification()},
      {TaskKind::kLanguageModel, language_model()},
      {TaskKind::kMaskedPatches, masked_patches()},
      {TaskKind::kDetection, detection()},
  };
  auto it = table.find(kind);
  ATTND_CHECK(it != table.end(), "no training loss or evaluation is defined for ",
              to_string(kind), " models yet");
  return it->second;
}

}  // namespace attnd
