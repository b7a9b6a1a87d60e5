#include "attnd/methods/detect_attention.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "attnd/core/error.h"
#include "attnd/train/detection_loss.h"
#include "attnd/viz/heatmap.h"
#include "attnd/viz/image.h"

namespace attnd {

namespace fs = std::filesystem;

std::vector<std::string> write_detection_attention(ModelImpl& model, const DetectionDataset& data,
                                                   int64_t index,
                                                   const std::vector<CocoCategory>& categories,
                                                   const DetectionOutputOptions& output,
                                                   const DetectionAttentionOptions& o) {
  ATTND_CHECK_INPUT(model.task_kind() == TaskKind::kDetection, "this ", model.model_type(),
                    " model is not a detector");
  ATTND_CHECK_INPUT(index >= 0 && index < data.size(), "--index ", index,
                    " is outside the data (0..", data.size() - 1, ")");
  ATTND_CHECK_INPUT(o.queries >= 1, "the number of queries shown must be >= 1, got ", o.queries);
  ATTND_CHECK_INPUT(o.zoom >= 1, "the zoom must be >= 1, got ", o.zoom);
  auto device = model.parameters().front().device();
  auto batch = data.get({index}, 0);
  auto input = batch.input.to(device);
  input.foreground_mask = torch::Tensor();  // inference never sees annotations
  torch::NoGradGuard no_grad;
  model.eval();
  Taps taps;
  taps.record(kRecordProbs);
  auto out = model.forward(input, &taps);
  std::map<int64_t, torch::Tensor> encoder, cross;
  for (const auto& [layer, capture] : taps.captures()) {
    if (!capture.probs.defined()) continue;
    if (layer.stack == Stack::kEncoder) encoder[layer.index] = capture.probs[0].cpu().to(torch::kFloat);
    if (layer.stack == Stack::kCross) cross[layer.index] = capture.probs[0].cpu().to(torch::kFloat);
  }
  ATTND_CHECK(!encoder.empty() && !cross.empty(), "the detector recorded no encoder or no "
              "cross-attention probabilities");
  // The feature map: stride × stride cells of the square canvas.
  const auto canvas = batch.input.pixel_values[0];
  const int64_t side = canvas.size(-1), tokens = encoder.begin()->second.size(-1);
  int64_t rows = 1;
  while (rows * rows < tokens) ++rows;
  ATTND_CHECK(rows * rows == tokens, "the encoder's ", tokens, " tokens are not a square map of "
              "the square canvas");
  const int64_t token = o.token < 0 ? (rows / 2) * rows + rows / 2 : o.token;
  ATTND_CHECK_INPUT(token < tokens, "--token ", o.token, " is outside the ", rows, " × ", rows,
                    " feature map (0..", tokens - 1, ")");

  std::vector<std::string> files =
      write_attention_report((fs::path(o.out) / "encoder").string(), {{"encoder", encoder}}, {}, 0, 0);

  const int zoom = o.zoom;
  const int r = static_cast<int>(rows);
  auto overlay = [&](const torch::Tensor& probs) {  // [tokens] over the canvas
    return cls_attention_overlay(canvas, probs, r, r, zoom);
  };
  std::vector<std::pair<std::string, Image>> panels;
  panels.emplace_back("image", upscale_nearest(image_from_tensor(canvas), zoom));
  // The token's own cell, outlined on its panels.
  const int cell = static_cast<int>(side) * zoom / r;
  const int tx = static_cast<int>(token % rows) * cell, ty = static_cast<int>(token / rows) * cell;
  for (const auto& [layer, probs] : encoder) {
    auto picture = overlay(probs.select(1, token).mean(0));
    picture.outline_rect(tx, ty, tx + cell, ty + cell, Rgb{255, 255, 255}, 1);
    panels.emplace_back("L" + std::to_string(layer) + " token " + std::to_string(token), picture);
  }
  const auto token_file = (fs::path(o.out) / "encoder_token.png").string();
  write_png(token_file, side_by_side(panels));
  files.push_back(token_file);

  // The top queries by their best class score, with their boxes on the canvas.
  const int64_t classes = out.logits.size(-1) - 1;
  auto logits = out.logits[0].cpu().to(torch::kFloat);
  auto scores = output.focal ? torch::sigmoid(logits.narrow(-1, 0, classes))
                             : logits.softmax(-1).narrow(-1, 0, classes);
  auto best = scores.max(-1);
  auto best_score = std::get<0>(best), best_class = std::get<1>(best);
  const int64_t k = std::min<int64_t>(o.queries, best_score.size(0));
  auto top = std::get<1>(best_score.topk(k));
  auto boxes = cxcywh_to_xyxy(out.at("pred_boxes")[0].cpu().to(torch::kFloat)) * double(side * zoom);
  const auto& last = cross.rbegin()->second;  // [H, Q, tokens]
  panels.clear();
  for (int64_t j = 0; j < k; ++j) {
    const int64_t q = top[j].item<int64_t>(), cls = best_class[q].item<int64_t>();
    auto picture = overlay(last.select(1, q).mean(0));
    auto b = boxes[q];
    const int x0 = static_cast<int>(b[0].item<float>()), y0 = static_cast<int>(b[1].item<float>());
    const int x1 = std::max(static_cast<int>(b[2].item<float>()), x0 + 2);
    const int y1 = std::max(static_cast<int>(b[3].item<float>()), y0 + 2);
    picture.outline_rect(x0, y0, x1, y1, Rgb{255, 255, 255}, 1);
    const std::string name = cls < static_cast<int64_t>(categories.size())
                                 ? categories[static_cast<size_t>(cls)].name
                                 : std::to_string(cls);
    char title[128];
    std::snprintf(title, sizeof title, "q%lld %s %.2f", static_cast<long long>(q), name.c_str(),
                  best_score[q].item<double>());
    panels.emplace_back(title, picture);
  }
  const auto cross_file = (fs::path(o.out) / "cross.png").string();
  write_png(cross_file, side_by_side(panels, 12, 1));
  files.push_back(cross_file);
  return files;
}

}  // namespace attnd
