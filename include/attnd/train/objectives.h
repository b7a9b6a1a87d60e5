// Task losses and metrics shared by supervised training and distillation.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "attnd/data/batch.h"
#include "attnd/models/model.h"
#include "attnd/train/task.h"

namespace attnd {

// Mean cross-entropy of class logits [B, C] against labels [B], with optional label smoothing.
torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  double label_smoothing = 0.0);
// Next-token cross-entropy of LM logits [B, N, V] against labels [B, N] (shifted inside: position
// t predicts label t+1; -100 is ignored).
torch::Tensor language_model_loss(const torch::Tensor& logits, const torch::Tensor& labels);
// The task loss a model type implies: classification for vit/bert, LM for gpt2.
torch::Tensor task_loss(const std::string& model_type, const torch::Tensor& logits,
                        const torch::Tensor& labels, double label_smoothing = 0.0);

// Accuracy and mean loss of a classifier over a whole dataset (eval mode, no grad, in order).
Metrics evaluate_classifier(ModelImpl& model, const Dataset& data, int64_t batch_size,
                            const torch::Device& device);
// A language model over a whole dataset (eval mode, no grad, in order): loss = mean next-token
// cross-entropy over every scored token (labels != -100, shifted as in language_model_loss),
// perplexity = exp(loss), accuracy = share of scored tokens whose argmax is right, tokens = count.
Metrics evaluate_language_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                const torch::Device& device);
// evaluate_language_model for gpt2, evaluate_classifier otherwise.
Metrics evaluate_model(ModelImpl& model, const Dataset& data, int64_t batch_size,
                       const torch::Device& device);
// What picks the best checkpoint of a model type's supervised training: accuracy for
// classifiers, loss (lower wins) for language models.
std::string selection_metric_for(const std::string& model_type);
bool selection_higher_is_better(const std::string& model_type);

// Class probabilities [N, C] for a whole dataset (eval mode, no grad, in order): for ensembles.
torch::Tensor predict_probabilities(ModelImpl& model, const Dataset& data, int64_t batch_size,
                                    const torch::Device& device);

// Accuracy and loss (NLL) of the mean of the members' class probabilities (an ensemble).
Metrics evaluate_ensemble(const std::vector<Model>& members, const Dataset& data,
                          int64_t batch_size, const torch::Device& device);

// Plain supervised training of one model.
class SupervisedTask : public Task {
 public:
  SupervisedTask(Model model, const Dataset* eval_data, int64_t eval_batch_size,
                 torch::Device device, double label_smoothing = 0.0);
  Model model() override { return model_; }
  StepLoss loss(const Batch& batch) override;
  Metrics evaluate() override;
  std::string selection_metric() const override;
  bool higher_is_better() const override;

 private:
  Model model_;
  const Dataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
  double label_smoothing_;
};

}  // namespace attnd
