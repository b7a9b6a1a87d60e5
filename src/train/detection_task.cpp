#include "attnd/train/detection_task.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"

namespace attnd {

std::vector<CocoDetection> detections_from_output(const ModelOutput& out, const Batch& batch,
                                                  const DetectionDataset& data,
                                                  const DetectionOutputOptions& o) {
  const int64_t classes = out.logits.size(-1) - 1;
  auto logits = out.logits.to(torch::kCPU, torch::kFloat);
  auto scores = o.focal ? torch::sigmoid(logits.narrow(-1, 0, classes))
                        : logits.softmax(-1).narrow(-1, 0, classes);
  auto boxes = cxcywh_to_xyxy(out.at("pred_boxes").to(torch::kCPU, torch::kFloat));
  const double side = static_cast<double>(data.options().image_size);
  std::map<int64_t, const CocoImage*> images;
  for (const auto& im : data.coco().images) images[im.id] = &im;
  std::vector<CocoDetection> dets;
  auto box = boxes.contiguous();
  auto box_at = box.accessor<float, 3>();
  for (int64_t i = 0; i < logits.size(0); ++i) {
    const auto& t = batch.targets[static_cast<size_t>(i)];
    const int64_t image_id = t.at("image_id").item<int64_t>();
    const double scale = t.at("scale").item<double>();
    const CocoImage& im = *images.at(image_id);
    auto flat = scores[i].reshape({-1});
    const int64_t k = std::min<int64_t>(o.max_detections, flat.numel());
    auto top = flat.topk(k);
    auto values = std::get<0>(top).contiguous(), index = std::get<1>(top).contiguous();
    const float* value_at = values.data_ptr<float>();
    const int64_t* index_at = index.data_ptr<int64_t>();
    for (int64_t j = 0; j < k; ++j) {
      const double score = value_at[j];
      if (score < o.min_score) continue;
      const int64_t query = index_at[j] / classes, cls = index_at[j] % classes;
      auto px = [&](int c, double limit) {
        return std::clamp(double(box_at[i][query][c]) * side / scale, 0.0, limit);
      };
      const double x0 = px(0, double(im.width)), y0 = px(1, double(im.height));
      const double x1 = px(2, double(im.width)), y1 = px(3, double(im.height));
      CocoDetection d;
      d.image_id = image_id;
      d.category_id = data.category_ids()[static_cast<size_t>(cls)];
      d.bbox = {x0, y0, x1 - x0, y1 - y0};
      d.score = score;
      dets.push_back(d);
    }
  }
  return dets;
}

std::vector<CocoDetection> predict_detections(ModelImpl& model, const DetectionDataset& data,
                                              int64_t batch_size, const torch::Device& device,
                                              const DetectionOutputOptions& o) {
  ATTND_CHECK_INPUT(batch_size > 0, "the evaluation batch size must be positive, got ", batch_size);
  ATTND_CHECK_INPUT(model.task_kind() == TaskKind::kDetection, "this ", model.model_type(),
                    " model is a ", to_string(model.task_kind()), " model, not a detector");
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<CocoDetection> all;
  for (const auto& idx : eval_batches(data.size(), batch_size)) {
    auto batch = data.get(idx, 0);
    auto input = batch.input.to(device);
    input.foreground_mask = torch::Tensor();  // inference never sees annotations
    auto dets = detections_from_output(model.forward(input), batch, data, o);
    all.insert(all.end(), dets.begin(), dets.end());
  }
  return all;
}

CocoEvalResult evaluate_detector(ModelImpl& model, const DetectionDataset& data,
                                 int64_t batch_size, const torch::Device& device,
                                 const DetectionOutputOptions& o) {
  return evaluate_coco(data.coco(), predict_detections(model, data, batch_size, device, o));
}

std::map<std::string, CocoEvalResult> evaluate_detector_branches(
    ModelImpl& model, const DetectionDataset& data, int64_t batch_size, const torch::Device& device,
    const DetectionOutputOptions& o) {
  const auto branches = model.teacher_branches();
  if (branches.empty()) return {{"", evaluate_detector(model, data, batch_size, device, o)}};
  ATTND_CHECK_INPUT(batch_size > 0, "the evaluation batch size must be positive, got ", batch_size);
  torch::NoGradGuard no_grad;
  model.eval();
  std::map<std::string, std::vector<CocoDetection>> dets;
  for (const auto& idx : eval_batches(data.size(), batch_size)) {
    auto batch = data.get(idx, 0);
    auto input = batch.input.to(device);
    ATTND_CHECK(input.foreground_mask.defined(), "the detection data gave no foreground masks");
    input.teacher_branches = true;
    auto out = model.forward(input);
    auto add = [&](const std::string& branch, const ModelOutput& branch_out) {
      auto d = detections_from_output(branch_out, batch, data, o);
      dets[branch].insert(dets[branch].end(), d.begin(), d.end());
    };
    add("", out);
    for (const auto& b : branches)
      add(b, ModelOutput{out.at(b + ".logits"), {{"pred_boxes", out.at(b + ".pred_boxes")}}});
  }
  std::map<std::string, CocoEvalResult> results;
  for (const auto& b : branches) results[b] = evaluate_coco(data.coco(), dets[b]);
  results[""] = evaluate_coco(data.coco(), dets[""]);
  return results;
}

DetectionTask::DetectionTask(Model model, const DetectionDataset* eval_data, int64_t eval_batch_size,
                             torch::Device device)
    : model_(std::move(model)),
      eval_data_(eval_data),
      eval_batch_size_(eval_batch_size),
      device_(device),
      loss_options_(DetectionLossOptions::from_model_config(model_->config_json())) {
  ATTND_CHECK_INPUT(model_->task_kind() == TaskKind::kDetection, "detection training needs a "
                    "detector; this ", model_->model_type(), " model is a ",
                    to_string(model_->task_kind()), " model");
}

StepLoss DetectionTask::loss(const Batch& batch) {
  auto l = detection_loss(model_->forward(batch.input), batch.targets, loss_options_);
  return {l.total, l.parts};
}

EvalSums DetectionTask::evaluate_sums() {
  ATTND_CHECK(eval_data_ != nullptr, "no evaluation data was given");
  ATTND_CHECK_INPUT(eval_data_->size() > 0, "the evaluation set is empty");
  DetectionOutputOptions o;
  o.focal = loss_options_.focal;
  EvalSums sums;
  for (const auto& [branch, result] :
       evaluate_detector_branches(*model_, *eval_data_, eval_batch_size_, device_, o))
    for (const auto& [name, value] : coco_metrics(result))
      sums.values[branch.empty() ? name : branch + "." + name] = value;
  return sums;
}

}  // namespace attnd
