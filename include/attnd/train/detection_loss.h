// DETR's set loss: each output group (the last decoder layer, each auxiliary layer, each KS-DETR
// teacher) is matched to the ground truth on its own — Hungarian matching (core/hungarian.h) on
//   cost = class_cost · (−p(class), or the focal cost) + bbox_cost · L1(cxcywh) − giou_cost · GIoU
// — and scored with the same loss: class_loss_coefficient · (cross-entropy with "no object"
// weighted by eos_coefficient, or sigmoid focal loss) + bbox_loss_coefficient · L1 +
// giou_loss_coefficient · (1 − GIoU), box terms summed over matched pairs and divided by the
// number of boxes in the batch (at least 1). Groups are added with equal weights.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "attnd/core/hungarian.h"
#include "attnd/core/tensor_map.h"
#include "attnd/models/model.h"

namespace attnd {

struct DetectionLossOptions {
  double class_cost = 1, bbox_cost = 5, giou_cost = 2;
  double class_weight = 1, bbox_weight = 5, giou_weight = 2;
  double eos_coefficient = 0.1;
  bool focal = false;
  double focal_alpha = 0.25, focal_gamma = 2.0;
  bool auxiliary = true;
  // From a detector's config.json (DetrConfig's keys); defaults for missing keys.
  static DetectionLossOptions from_model_config(const nlohmann::json& config);
};

// Corners of (cx, cy, w, h) boxes, [..., 4].
torch::Tensor cxcywh_to_xyxy(const torch::Tensor& boxes);
// Pairwise generalised IoU of corner boxes a [N, 4] and b [M, 4] → [N, M] (core/box.h's giou, on
// tensors and differentiable).
torch::Tensor pairwise_giou(const torch::Tensor& a, const torch::Tensor& b);

// The matching cost [Q, n] of one image: logits [Q, C + 1], boxes [Q, 4] against its targets
// ("boxes" [n, 4] cxcywh, "class_labels" [n]).
torch::Tensor matching_cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                            const TensorMap& target, const DetectionLossOptions& o);
// Per image, the (query, target) pairs of least total cost, sorted by query.
std::vector<std::vector<MatchedPair>> match_queries(const torch::Tensor& logits,
                                                    const torch::Tensor& boxes,
                                                    const std::vector<TensorMap>& targets,
                                                    const DetectionLossOptions& o);

struct DetectionLoss {
  torch::Tensor total;
  std::map<std::string, double> parts;  // "class", "bbox", "giou" of the last layer; per group totals
};
// One group: logits [B, Q, C + 1], boxes [B, Q, 4].
DetectionLoss detection_group_loss(const torch::Tensor& logits, const torch::Tensor& boxes,
                                   const std::vector<TensorMap>& targets,
                                   const DetectionLossOptions& o);
// Every group of a detector's output (the main one, "aux.<i>." when o.auxiliary, "teacher<k>.").
DetectionLoss detection_loss(const ModelOutput& out, const std::vector<TensorMap>& targets,
                             const DetectionLossOptions& o);

}  // namespace attnd
