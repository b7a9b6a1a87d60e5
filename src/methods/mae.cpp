#include "attnd/methods/mae.h"

#include <torch/torch.h>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"
#include "attnd/io/checkpoint.h"

namespace attnd {

MaeTask::MaeTask(std::shared_ptr<VitMaeModelImpl> model, const Dataset* eval_data,
                 int64_t eval_batch_size, torch::Device device)
    : model_(std::move(model)), eval_data_(eval_data), eval_batch_size_(eval_batch_size),
      device_(device) {}

StepLoss MaeTask::loss(const Batch& batch) {
  auto out = model_->reconstruct(batch.input.pixel_values);
  StepLoss s;
  s.total = out.loss;
  s.parts["mae"] = out.loss.item<double>();
  return s;
}

double mae_loss_on(VitMaeModelImpl& model, const Dataset& data, int64_t batch_size,
                   const torch::Device& device, uint64_t seed) {
  ATTND_CHECK_INPUT(data.size() > 0, "MAE evaluation: the dataset is empty");
  model.eval();
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);  // the trainer reseeds every step, so this does not leak into training
  double total = 0.0, weight = 0.0;
  for (const auto& indices : eval_batches(data.size(), batch_size)) {
    auto batch = data.get(indices, 0).to(device);
    auto out = model.reconstruct(batch.input.pixel_values);
    const double masked = out.mask.sum().item<double>();
    total += out.loss.item<double>() * masked;
    weight += masked;
  }
  return total / weight;
}

Metrics MaeTask::evaluate() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  return {{"loss", mae_loss_on(*model_, *eval_data_, eval_batch_size_, device_, 1234)}};
}

Model export_mae_encoder(const std::string& mae_dir, const std::string& out_dir,
                         const std::vector<std::string>& class_names, const std::string& pooling,
                         uint64_t seed) {
  auto model = load_model(mae_dir);
  auto* mae = dynamic_cast<VitMaeModelImpl*>(model.get());
  ATTND_CHECK_INPUT(mae != nullptr, mae_dir, " is a ", model->model_type(),
                    " checkpoint, not an MAE (vit_mae) one");
  LabelMap labels;
  labels.num_labels = static_cast<int64_t>(class_names.size());
  for (size_t i = 0; i < class_names.size(); ++i) {
    labels.id2label[static_cast<int64_t>(i)] = class_names[i];
    labels.label2id[class_names[i]] = static_cast<int64_t>(i);
  }
  torch::manual_seed(seed);
  auto vit = vit_from_mae(*mae, labels, pooling);
  save_model(out_dir, *vit);
  return vit;
}

}  // namespace attnd
