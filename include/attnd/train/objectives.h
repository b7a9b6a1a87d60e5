// Evaluation over whole datasets and plain supervised training, through the task-kind table
// (task_kinds.h): what a model's traits say it is decides its loss and its metrics.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/train/task.h"
#include "attnd/train/task_kinds.h"

namespace attnd {

// The task loss of a model's output for a batch, by the model's task kind.
torch::Tensor task_loss(const ModelImpl& model, const ModelOutput& output, const Batch& batch,
                        double label_smoothing = 0.0);

// The evaluation sums of `model` over the examples `indices` of `data` (all when empty), in order,
// in eval mode without grad, after seeding the global RNG with kEvaluationSeed. Sums of disjoint
// index sets add up to the sums of their union.
EvalSums evaluate_sums(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device, const std::vector<int64_t>& indices = {});
// Data parallel: the examples of evaluation shard `shard` of `shards` over n examples, as whole
// batches of eval_batches(n, batch_size) (batch i goes to shard i % shards), so a shard's sums are
// those of the one-process batches it holds. std::nullopt when there are fewer batches than
// shards (some shard would be empty).
std::optional<std::vector<int64_t>> evaluation_shard(int64_t n, int64_t batch_size, int64_t shard,
                                                     int64_t shards);
// The metrics of `model` over a whole dataset, by its task kind: classifiers accuracy and mean
// loss; language models loss = mean next-token cross-entropy over every scored token (labels !=
// -100), perplexity = exp(loss), accuracy = share of scored tokens whose argmax is right, tokens;
// masked autoencoders the mean masked-patch loss (masks from kEvaluationSeed).
Metrics evaluate_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device);
// What picks the best checkpoint of a task kind's supervised training: accuracy for
// classifiers, loss (lower wins) for language models and masked autoencoders.
const std::string& selection_metric_for(TaskKind kind);
bool selection_higher_is_better(TaskKind kind);

// Class probabilities [N, C] for a whole dataset (eval mode, no grad, in order): for ensembles.
// InputError unless the model is a classifier.
torch::Tensor predict_probabilities(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                    const torch::Device& device);

// Accuracy and loss (NLL) of the mean of the members' class probabilities (an ensemble).
Metrics evaluate_ensemble(const std::vector<Model>& members, const Dataset& data,
                          int64_t batch_size, const torch::Device& device);

// Plain supervised training of one model, with the loss and evaluation of its task kind.
class SupervisedTask : public Task {
 public:
  SupervisedTask(Model model, const Dataset* eval_data, int64_t eval_batch_size,
                 torch::Device device, double label_smoothing = 0.0);
  Model model() const override { return model_; }
  StepLoss loss(const Batch& batch) override;
  EvalSums evaluate_sums() override;
  std::optional<EvalSums> evaluate_shard_sums(int64_t shard, int64_t shards) override;

 private:
  Model model_;
  const Dataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
  double label_smoothing_;
};

}  // namespace attnd
