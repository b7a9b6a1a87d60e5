#include "attnd/train/detection_loss.h"

#include <torch/torch.h>

#include <algorithm>

#include "attnd/core/error.h"

namespace attnd {

DetectionLossOptions DetectionLossOptions::from_model_config(const nlohmann::json& c) {
  DetectionLossOptions o;
  auto num = [&](const char* key, double fallback) {
    return c.contains(key) && c[key].is_number() ? c[key].get<double>() : fallback;
  };
  auto flag = [&](const char* key, bool fallback) {
    return c.contains(key) && c[key].is_boolean() ? c[key].get<bool>() : fallback;
  };
  o.class_cost = num("class_cost", o.class_cost);
  o.bbox_cost = num("bbox_cost", o.bbox_cost);
  o.giou_cost = num("giou_cost", o.giou_cost);
  o.class_weight = num("class_loss_coefficient", o.class_weight);
  o.bbox_weight = num("bbox_loss_coefficient", o.bbox_weight);
  o.giou_weight = num("giou_loss_coefficient", o.giou_weight);
  o.eos_coefficient = num("eos_coefficient", o.eos_coefficient);
  o.focal = flag("use_focal_loss", o.focal);
  o.focal_alpha = num("focal_alpha", o.focal_alpha);
  o.auxiliary = flag("auxiliary_loss", o.auxiliary);
  return o;
}

torch::Tensor cxcywh_to_xyxy(const torch::Tensor& b) {
  auto cx = b.select(-1, 0), cy = b.select(-1, 1), w = b.select(-1, 2), h = b.select(-1, 3);
  return torch::stack({cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2}, -1);
}

torch::Tensor pairwise_giou(const torch::Tensor& a, const torch::Tensor& b) {
  auto area = [](const torch::Tensor& t) {
    return (t.select(1, 2) - t.select(1, 0)).clamp_min(0) * (t.select(1, 3) - t.select(1, 1)).clamp_min(0);
  };
  auto aa = area(a).unsqueeze(1), ab = area(b).unsqueeze(0);
  auto lt = torch::max(a.unsqueeze(1).narrow(2, 0, 2), b.unsqueeze(0).narrow(2, 0, 2));
  auto rb = torch::min(a.unsqueeze(1).narrow(2, 2, 2), b.unsqueeze(0).narrow(2, 2, 2));
  auto wh = (rb - lt).clamp_min(0);
  auto inter = wh.select(2, 0) * wh.select(2, 1);
  auto uni = aa + ab - inter;
  auto elt = torch::min(a.unsqueeze(1).narrow(2, 0, 2), b.unsqueeze(0).narrow(2, 0, 2));
  auto erb = torch::max(a.unsqueeze(1).narrow(2, 2, 2), b.unsqueeze(0).narrow(2, 2, 2));
  auto ewh = (erb - elt).clamp_min(0);
  auto enclosing = ewh.select(2, 0) * ewh.select(2, 1);
  // Degenerate pairs (a zero union or enclosing box) give 0, as core/box.h's giou.
  auto iou = torch::where(uni > 0, inter / uni.clamp_min(1e-12), torch::zeros_like(uni));
  auto penalty = torch::where(enclosing > 0, (enclosing - uni) / enclosing.clamp_min(1e-12),
                              torch::zeros_like(enclosing));
  return torch::where(enclosing > 0, iou - penalty, torch::zeros_like(enclosing));
}

namespace {

const torch::Tensor& target_boxes(const TensorMap& t) {
  auto it = t.find("boxes");
  ATTND_CHECK(it != t.end(), "a detection target needs \"boxes\"");
  return it->second;
}
const torch::Tensor& target_labels(const TensorMap& t) {
  auto it = t.find("class_labels");
  ATTND_CHECK(it != t.end(), "a detection target needs \"class_labels\"");
  return it->second;
}

// Sigmoid focal loss, summed: α·(1−p)^γ·(−log p) on positives, (1−α)·p^γ·(−log(1−p)) on negatives.
torch::Tensor focal_loss_sum(const torch::Tensor& logits, const torch::Tensor& onehot, double alpha,
                             double gamma) {
  auto p = torch::sigmoid(logits);
  auto ce = torch::binary_cross_entropy_with_logits(logits, onehot, {}, {}, at::Reduction::None);
  auto p_t = p * onehot + (1 - p) * (1 - onehot);
  auto loss = ce * torch::pow(1 - p_t, gamma);
  auto alpha_t = alpha * onehot + (1 - alpha) * (1 - onehot);
  return (alpha_t * loss).sum();
}

}  // namespace

torch::Tensor matching_cost(const torch::Tensor& logits, const torch::Tensor& boxes,
                            const TensorMap& target, const DetectionLossOptions& o) {
  const auto& tb = target_boxes(target);
  const auto& tl = target_labels(target);
  const int64_t classes = logits.size(-1) - 1;
  torch::Tensor class_cost;
  if (o.focal) {
    auto p = torch::sigmoid(logits.narrow(-1, 0, classes)).index_select(1, tl);
    auto neg = (1 - o.focal_alpha) * torch::pow(p, o.focal_gamma) * -torch::log(1 - p + 1e-8);
    auto pos = o.focal_alpha * torch::pow(1 - p, o.focal_gamma) * -torch::log(p + 1e-8);
    class_cost = pos - neg;
  } else {
    class_cost = -logits.softmax(-1).index_select(1, tl);
  }
  auto l1 = torch::cdist(boxes, tb, 1.0);
  auto giou = pairwise_giou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(tb));
  return o.class_cost * class_cost + o.bbox_cost * l1 - o.giou_cost * giou;
}

std::vector<std::vector<MatchedPair>> match_queries(const torch::Tensor& logits,
                                                    const torch::Tensor& boxes,
                                                    const std::vector<TensorMap>& targets,
                                                    const DetectionLossOptions& o) {
  ATTND_CHECK(logits.dim() == 3 && boxes.dim() == 3 && logits.size(0) == boxes.size(0) &&
                  static_cast<size_t>(logits.size(0)) == targets.size(),
              "matching needs logits [B, Q, C+1], boxes [B, Q, 4] and B targets, got ",
              logits.sizes(), ", ", boxes.sizes(), " and ", targets.size());
  torch::NoGradGuard no_grad;
  std::vector<std::vector<MatchedPair>> out(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const int64_t n = target_boxes(targets[i]).size(0);
    if (n == 0) continue;
    auto cost = matching_cost(logits[i].to(torch::kFloat), boxes[i].to(torch::kFloat), targets[i], o)
                    .to(torch::kCPU, torch::kDouble)
                    .contiguous();
    out[i] = min_cost_assignment(cost.data_ptr<double>(), cost.size(0), cost.size(1));
  }
  return out;
}

DetectionLoss detection_group_loss(const torch::Tensor& logits_in, const torch::Tensor& boxes_in,
                                   const std::vector<TensorMap>& targets,
                                   const DetectionLossOptions& o) {
  auto logits = logits_in.to(torch::kFloat), boxes = boxes_in.to(torch::kFloat);
  const auto pairs = match_queries(logits, boxes, targets, o);
  const int64_t b = logits.size(0), q = logits.size(1), classes = logits.size(2) - 1;
  const auto device = logits.device();
  // The matched queries' targets; every other query is "no object".
  auto target_class = torch::full({b, q}, classes, torch::dtype(torch::kLong).device(device));
  std::vector<torch::Tensor> matched_pred, matched_gt;
  double num_boxes = 0;
  for (int64_t i = 0; i < b; ++i) {
    const auto& t = targets[static_cast<size_t>(i)];
    num_boxes += static_cast<double>(target_boxes(t).size(0));
    if (pairs[i].empty()) continue;
    std::vector<int64_t> rows, cols;
    for (const auto& p : pairs[i]) {
      rows.push_back(p.row);
      cols.push_back(p.col);
    }
    auto r = torch::tensor(rows, torch::kLong).to(device), c = torch::tensor(cols, torch::kLong).to(device);
    target_class[i].index_put_({r}, target_labels(t).to(device).index_select(0, c));
    matched_pred.push_back(boxes[i].index_select(0, r));
    matched_gt.push_back(target_boxes(t).to(device, torch::kFloat).index_select(0, c));
  }
  num_boxes = std::max(num_boxes, 1.0);
  torch::Tensor class_loss;
  if (o.focal) {
    auto onehot = torch::one_hot(target_class, classes + 1).narrow(-1, 0, classes).to(torch::kFloat);
    class_loss = focal_loss_sum(logits.narrow(-1, 0, classes), onehot, o.focal_alpha, o.focal_gamma) /
                 num_boxes;
  } else {
    auto weight = torch::ones({classes + 1}, logits.options());
    weight[classes] = o.eos_coefficient;
    class_loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, classes + 1}), target_class.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().weight(weight));
  }
  torch::Tensor l1 = torch::zeros({}, logits.options()), giou = torch::zeros({}, logits.options());
  if (!matched_pred.empty()) {
    auto p = torch::cat(matched_pred), g = torch::cat(matched_gt);
    l1 = (p - g).abs().sum() / num_boxes;
    giou = (1 - pairwise_giou(cxcywh_to_xyxy(p), cxcywh_to_xyxy(g)).diagonal()).sum() / num_boxes;
  }
  DetectionLoss out;
  out.total = o.class_weight * class_loss + o.bbox_weight * l1 + o.giou_weight * giou;
  out.parts = {{"class", class_loss.item<double>()},
               {"bbox", l1.item<double>()},
               {"giou", giou.item<double>()}};
  return out;
}

DetectionLoss detection_loss(const ModelOutput& out, const std::vector<TensorMap>& targets,
                             const DetectionLossOptions& o) {
  auto main = detection_group_loss(out.logits, out.at("pred_boxes"), targets, o);
  DetectionLoss total = main;
  auto add_group = [&](const std::string& prefix) {
    auto g = detection_group_loss(out.at(prefix + "logits"), out.at(prefix + "pred_boxes"), targets, o);
    total.total = total.total + g.total;
    total.parts[prefix.substr(0, prefix.size() - 1)] = g.total.item<double>();
  };
  if (o.auxiliary)
    for (int i = 0; out.has("aux." + std::to_string(i) + ".logits"); ++i)
      add_group("aux." + std::to_string(i) + ".");
  if (out.has("enc.logits")) add_group("enc.");  // two-stage: every token's proposal
  for (const char* teacher : {"teacher1.", "teacher2."})
    if (out.has(std::string(teacher) + "logits")) add_group(teacher);
  return total;
}

}  // namespace attnd
