// Detection augmentation that keeps the boxes right: horizontal flip, rescale, crop. Each step
// transforms the pixels and the boxes together; a box cropped to nothing is dropped with its label.
// The random policy draws every choice from (seed, example index), so a resumed run sees the same
// pixels.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace attnd {

// One image with its boxes: image uint8 [C, H, W]; boxes float [n, 4] corners (x0, y0, x1, y1)
// in pixels of this image; labels long [n].
struct DetectionSample {
  torch::Tensor image;
  torch::Tensor boxes;
  torch::Tensor labels;
  int64_t width() const { return image.size(2); }
  int64_t height() const { return image.size(1); }
};

// Mirror left–right: x ↦ W − x, so a box (x0, x1) becomes (W − x1, W − x0).
DetectionSample flip_horizontal(const DetectionSample& s);
// Bilinear resize to width × height (half-pixel centres); boxes scale by width / W and height / H.
DetectionSample resize(const DetectionSample& s, int64_t width, int64_t height);
// The window [x, x + w) × [y, y + h) (inside the image): boxes shift by (−x, −y) and are clipped
// to the window; a box left narrower or lower than `min_size` pixels is dropped.
DetectionSample crop(const DetectionSample& s, int64_t x, int64_t y, int64_t w, int64_t h,
                     double min_size = 1.0);

struct DetectionAugmentation {
  bool horizontal_flip = false;  // with probability 1/2
  double scale_min = 1.0;        // resize by a factor drawn uniformly in [scale_min, scale_max]
  double scale_max = 1.0;
  double crop_probability = 0.0;  // then crop a window of sides ≥ crop_min_fraction of the image
  double crop_min_fraction = 0.6;
  bool enabled() const {
    return horizontal_flip || scale_min != 1.0 || scale_max != 1.0 || crop_probability > 0;
  }
};
// InputError naming the data.* key of a bad value.
void check_detection_augmentation(const DetectionAugmentation& a);

// Crop, then flip, then rescale, each drawn from (seed, index); the result is never larger than
// max_size on either side (the canvas the batch is padded to).
DetectionSample augment_detection(const DetectionSample& s, const DetectionAugmentation& a,
                                  uint64_t seed, int64_t index, int64_t max_size);

}  // namespace attnd
