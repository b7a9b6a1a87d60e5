// Training and evaluating a detector: the loss of its output groups (detection_loss.h) and COCO
// box AP over a whole data set (coco_eval.h). AP does not add across shards, so evaluation
// collects every detection first and returns the 12 COCO numbers themselves as its "sums".
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "attnd/data/detection_dataset.h"
#include "attnd/io/coco_json.h"
#include "attnd/train/coco_eval.h"
#include "attnd/train/detection_loss.h"
#include "attnd/train/task.h"

namespace attnd {

struct DetectionOutputOptions {
  bool focal = false;        // scores: sigmoid of the class logits, else softmax without "no object"
  int64_t max_detections = 100;  // per image: the best (query, class) pairs by score
  double min_score = 0.0;    // below this a detection is dropped
};

// COCO detections of one batch in the data set's file pixels: per image, the top
// max_detections (query, class) pairs, boxes scaled by S / scale, clipped to the image.
std::vector<CocoDetection> detections_from_output(const ModelOutput& out, const Batch& batch,
                                                  const DetectionDataset& data,
                                                  const DetectionOutputOptions& o);

// Every detection of `model` on `data` (eval mode, no grad).
std::vector<CocoDetection> predict_detections(ModelImpl& model, const DetectionDataset& data,
                                              int64_t batch_size, const torch::Device& device,
                                              const DetectionOutputOptions& o);

// COCO evaluation of `model` on `data`.
CocoEvalResult evaluate_detector(ModelImpl& model, const DetectionDataset& data,
                                 int64_t batch_size, const torch::Device& device,
                                 const DetectionOutputOptions& o);

// COCO evaluation of `model`'s own detections (key "") and, for a model with training-only
// branches (ModelImpl::teacher_branches: KS-DETR's teachers), of each branch's detections on the
// same images (key: the branch's name). The branches need the ground-truth foreground masks, which
// the data gives; everything runs in eval mode under no grad, so no weight, buffer or dropout
// draw changes, and the model's own result equals evaluate_detector's.
std::map<std::string, CocoEvalResult> evaluate_detector_branches(
    ModelImpl& model, const DetectionDataset& data, int64_t batch_size, const torch::Device& device,
    const DetectionOutputOptions& o);

class DetectionTask : public Task {
 public:
  // The loss options come from the model's config (DetectionLossOptions::from_model_config).
  DetectionTask(Model model, const DetectionDataset* eval_data, int64_t eval_batch_size,
                torch::Device device);
  Model model() const override { return model_; }
  StepLoss loss(const Batch& batch) override;
  // The COCO summary ("AP", "AP50", ...) and, for KS-DETR, each teacher's ("teacher1.AP", ...);
  // the best checkpoint is still chosen by the model's own "AP".
  EvalSums evaluate_sums() override;
  const DetectionLossOptions& loss_options() const { return loss_options_; }

 private:
  Model model_;
  const DetectionDataset* eval_data_;
  int64_t eval_batch_size_;
  torch::Device device_;
  DetectionLossOptions loss_options_;
};

}  // namespace attnd
