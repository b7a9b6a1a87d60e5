// MAE pre-training as a trainer Task, and the export of its encoder as a ViT classifier (the
// attention-transfer teacher and the start of MAE fine-tuning).
#pragma once

#include <memory>
#include <string>

#include "attnd/models/vit_mae.h"
#include "attnd/train/task.h"

namespace attnd {

// Loss: the masked-patch MSE of VitMaeModelImpl::reconstruct (labels unused). Evaluation: the same
// loss on the held-out images with a fixed mask per evaluation, so evaluations are comparable.
class MaeTask : public Task {
 public:
  MaeTask(std::shared_ptr<VitMaeModelImpl> model, const Dataset* eval_data, int64_t eval_batch_size,
          torch::Device device);
  Model model() override { return model_; }
  StepLoss loss(const Batch& batch) override;
  Metrics evaluate() override;
  std::string selection_metric() const override { return "loss"; }
  bool higher_is_better() const override { return false; }

 private:
  std::shared_ptr<VitMaeModelImpl> model_;
  const Dataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
};

// The mean masked-patch loss of `model` over `data`, masks drawn from `seed`.
double mae_loss_on(VitMaeModelImpl& model, const Dataset& data, int64_t batch_size,
                   const torch::Device& device, uint64_t seed);

// Writes the encoder of the MAE checkpoint at `mae_dir` as a ViT classification checkpoint at
// `out_dir` with these class names and pooling ("cls" | "mean"); the head is freshly initialised
// from `seed`. Returns the written model.
Model export_mae_encoder(const std::string& mae_dir, const std::string& out_dir,
                         const std::vector<std::string>& class_names, const std::string& pooling,
                         uint64_t seed);

}  // namespace attnd
