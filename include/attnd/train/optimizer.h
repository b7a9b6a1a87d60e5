// AdamW over named parameters, with no weight decay on biases and norms (1-D tensors), and its
// state as named tensors so a checkpoint can hold it in a safetensors file.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attnd/core/tensor_map.h"

namespace attnd {

struct AdamWConfig {
  double lr = 1e-3;
  double weight_decay = 0.05;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Parameter groups with their own learning rate: a parameter whose name starts with one of
  // these prefixes trains at lr × its factor (the first prefix that matches), e.g. a detector's
  // backbone at 0.1 ("model.backbone_lr_factor" of the recipe).
  std::vector<std::pair<std::string, double>> lr_factors;
};

class NamedAdamW {
 public:
  // Only parameters with requires_grad() are optimised.
  NamedAdamW(const TensorMap& params, const AdamWConfig& config);

  void set_lr(double lr);
  void zero_grad();
  void step();
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  const std::vector<std::string>& names() const { return names_; }
  std::vector<torch::Tensor> parameters() const { return params_; }

  // "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.step" (int64 scalar) for every parameter
  // that has state; empty before the first step.
  TensorMap state() const;
  // Restores state() output; InputError names a missing or misshapen entry.
  void load_state(const TensorMap& state, const std::string& source);

 private:
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<double> group_factors_;  // per param group of optimizer_, × the scheduled lr
};

}  // namespace attnd
