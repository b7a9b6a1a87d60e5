#include "attnd/data/detection_augment.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "attnd/core/error.h"
#include "attnd/data/sampler.h"

namespace attnd {

DetectionSample flip_horizontal(const DetectionSample& s) {
  DetectionSample out = s;
  out.image = s.image.flip({2});
  if (s.boxes.numel() > 0) {
    const double w = static_cast<double>(s.width());
    out.boxes = torch::stack({w - s.boxes.select(1, 2), s.boxes.select(1, 1),
                              w - s.boxes.select(1, 0), s.boxes.select(1, 3)}, 1);
  }
  return out;
}

DetectionSample resize(const DetectionSample& s, int64_t width, int64_t height) {
  ATTND_CHECK(width > 0 && height > 0, "resize to ", width, "x", height);
  DetectionSample out = s;
  auto img = s.image.to(torch::kFloat).unsqueeze(0);
  img = torch::nn::functional::interpolate(
      img, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{height, width})
               .mode(torch::kBilinear)
               .align_corners(false));
  out.image = img.squeeze(0).round().clamp(0, 255).to(torch::kUInt8);
  if (s.boxes.numel() > 0) {
    const double sx = static_cast<double>(width) / s.width();
    const double sy = static_cast<double>(height) / s.height();
    out.boxes = s.boxes * torch::tensor({sx, sy, sx, sy}, torch::kFloat);
  }
  return out;
}

DetectionSample crop(const DetectionSample& s, int64_t x, int64_t y, int64_t w, int64_t h,
                     double min_size) {
  ATTND_CHECK(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= s.width() && y + h <= s.height(),
              "crop window ", x, ",", y, " ", w, "x", h, " outside a ", s.width(), "x", s.height(),
              " image");
  DetectionSample out;
  out.image = s.image.narrow(1, y, h).narrow(2, x, w).contiguous();
  if (s.boxes.numel() == 0) {
    out.boxes = s.boxes;
    out.labels = s.labels;
    return out;
  }
  auto b = s.boxes - torch::tensor({double(x), double(y), double(x), double(y)}, torch::kFloat);
  auto x0 = b.select(1, 0).clamp(0, w), x1 = b.select(1, 2).clamp(0, w);
  auto y0 = b.select(1, 1).clamp(0, h), y1 = b.select(1, 3).clamp(0, h);
  auto clipped = torch::stack({x0, y0, x1, y1}, 1);
  auto keep = ((x1 - x0) >= min_size).logical_and((y1 - y0) >= min_size);
  out.boxes = clipped.index({keep});
  out.labels = s.labels.index({keep});
  return out;
}

void check_detection_augmentation(const DetectionAugmentation& a) {
  ATTND_CHECK_INPUT(std::isfinite(a.scale_min) && std::isfinite(a.scale_max) && a.scale_min > 0 &&
                        a.scale_min <= a.scale_max && a.scale_max <= 4,
                    "data.scale_min / data.scale_max = ", a.scale_min, " / ", a.scale_max,
                    ": expected 0 < scale_min <= scale_max <= 4");
  ATTND_CHECK_INPUT(a.crop_probability >= 0 && a.crop_probability <= 1,
                    "data.crop_probability = ", a.crop_probability, ": expected a number in [0, 1]");
  ATTND_CHECK_INPUT(a.crop_min_fraction > 0 && a.crop_min_fraction <= 1,
                    "data.crop_min_fraction = ", a.crop_min_fraction, ": expected (0, 1]");
}

DetectionSample augment_detection(const DetectionSample& s, const DetectionAugmentation& a,
                                  uint64_t seed, int64_t index, int64_t max_size) {
  std::mt19937_64 rng(mix_seed(seed, static_cast<uint64_t>(index)));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  DetectionSample out = s;
  if (a.crop_probability > 0 && unit(rng) < a.crop_probability) {
    const double fw = a.crop_min_fraction + (1 - a.crop_min_fraction) * unit(rng);
    const double fh = a.crop_min_fraction + (1 - a.crop_min_fraction) * unit(rng);
    const int64_t w = std::max<int64_t>(1, std::lround(fw * out.width()));
    const int64_t h = std::max<int64_t>(1, std::lround(fh * out.height()));
    const int64_t x = std::llround(unit(rng) * (out.width() - w));
    const int64_t y = std::llround(unit(rng) * (out.height() - h));
    out = crop(out, x, y, w, h);
  }
  if (a.horizontal_flip && unit(rng) < 0.5) out = flip_horizontal(out);
  double scale = a.scale_min + (a.scale_max - a.scale_min) * unit(rng);
  // Never past the canvas: the batch pads every image to max_size × max_size.
  scale = std::min(scale, static_cast<double>(max_size) / std::max(out.width(), out.height()));
  if (scale != 1.0) {
    const int64_t w = std::max<int64_t>(1, std::min<int64_t>(max_size, std::lround(out.width() * scale)));
    const int64_t h = std::max<int64_t>(1, std::min<int64_t>(max_size, std::lround(out.height() * scale)));
    if (w != out.width() || h != out.height()) out = resize(out, w, h);
  }
  return out;
}

}  // namespace attnd
