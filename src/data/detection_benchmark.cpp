#include "attnd/data/detection_benchmark.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "attnd/core/box.h"
#include "attnd/core/error.h"
#include "attnd/data/sampler.h"

namespace attnd {

void check_detection_benchmark_options(const DetectionBenchmarkOptions& o, int64_t source_items) {
  ATTND_CHECK_INPUT(o.images >= 1 && o.images <= 1000000, "--images must be in [1, 1000000], got ",
                    o.images);
  ATTND_CHECK_INPUT(o.min_side >= 32 && o.min_side <= o.max_side && o.max_side <= 1024,
                    "canvas sides must satisfy 32 <= min_side <= max_side <= 1024, got ",
                    o.min_side, ", ", o.max_side);
  ATTND_CHECK_INPUT(o.min_objects >= 1 && o.min_objects <= o.max_objects && o.max_objects <= 50,
                    "objects per image must satisfy 1 <= min <= max <= 50, got ", o.min_objects,
                    ", ", o.max_objects);
  ATTND_CHECK_INPUT(o.min_scale > 0 && o.min_scale <= o.max_scale &&
                        28 * o.max_scale <= static_cast<double>(o.min_side),
                    "object scales must satisfy 0 < min <= max and fit the smallest canvas, got ",
                    o.min_scale, ", ", o.max_scale);
  ATTND_CHECK_INPUT(o.max_overlap >= 0 && o.max_overlap <= 1, "max_overlap must be in [0, 1], got ",
                    o.max_overlap);
  ATTND_CHECK_INPUT(o.clutter >= 0 && o.clutter <= 50, "clutter must be in [0, 50], got ", o.clutter);
  const int64_t count = o.item_count < 0 ? source_items - o.first_item : o.item_count;
  ATTND_CHECK_INPUT(o.first_item >= 0 && count >= 1 && o.first_item + count <= source_items,
                    "source items [", o.first_item, ", ", o.first_item + count, ") are not inside the ",
                    source_items, " items of the source set");
}

namespace {

// The item scaled to size × size (bilinear), uint8 [size, size].
torch::Tensor scaled_item(const torch::Tensor& item, int64_t size) {
  auto f = item.to(torch::kFloat).reshape({1, 1, item.size(-2), item.size(-1)});
  f = torch::nn::functional::interpolate(
      f, torch::nn::functional::InterpolateFuncOptions()
             .size(std::vector<int64_t>{size, size})
             .mode(torch::kBilinear)
             .align_corners(false));
  return f.reshape({size, size}).round().clamp(0, 255).to(torch::kUInt8);
}

// Tight box [x0, y0, x1, y1) of pixels above the threshold; false when there is none.
bool tight_box(const torch::Tensor& patch, int64_t& x0, int64_t& y0, int64_t& x1, int64_t& y1) {
  auto on = patch.gt(kObjectThreshold);
  auto rows = on.any(1).nonzero(), cols = on.any(0).nonzero();
  if (rows.numel() == 0) return false;
  y0 = rows.min().item<int64_t>();
  y1 = rows.max().item<int64_t>() + 1;
  x0 = cols.min().item<int64_t>();
  x1 = cols.max().item<int64_t>() + 1;
  return true;
}

// Objects are bright on dark: composing with max keeps every object's own pixels.
void paste_max(torch::Tensor& canvas, const torch::Tensor& patch, int64_t x, int64_t y) {
  auto window = canvas.narrow(0, y, patch.size(0)).narrow(1, x, patch.size(1));
  window.copy_(torch::max(window, patch));
}

}  // namespace

DetectionBenchmark make_detection_benchmark(const ImageDataset& source,
                                            const DetectionBenchmarkOptions& o) {
  check_detection_benchmark_options(o, source.size());
  const int64_t count = o.item_count < 0 ? source.size() - o.first_item : o.item_count;
  DetectionBenchmark out;
  const auto& names = source.class_names();
  for (int64_t k = 0; k < source.num_classes(); ++k)
    out.coco.categories.push_back({k + 1, k < static_cast<int64_t>(names.size()) ? names[k]
                                                                                 : "class " + std::to_string(k),
                                   "fashion"});
  int64_t annotation_id = 1;
  for (int64_t n = 0; n < o.images; ++n) {
    std::mt19937_64 rng(mix_seed(o.seed, static_cast<uint64_t>(n)));
    auto uniform_int = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
    const int64_t side = uniform_int(o.min_side, o.max_side);
    // Faint noise background, drawn from this image's own generator.
    torch::Tensor canvas = torch::empty({side, side}, torch::kUInt8);
    auto* px = canvas.data_ptr<uint8_t>();
    for (int64_t i = 0; i < side * side; ++i) px[i] = static_cast<uint8_t>(uniform_int(0, 20));
    const int64_t image_id = o.first_image_id + n;
    std::vector<BoxXYXY> placed;
    const int64_t wanted = uniform_int(o.min_objects, o.max_objects);
    for (int64_t j = 0; j < wanted; ++j) {
      for (int attempt = 0; attempt < 20; ++attempt) {
        const int64_t item = o.first_item + uniform_int(0, count - 1);
        const int64_t size = std::lround(28 * uniform(o.min_scale, o.max_scale));
        auto patch = scaled_item(source.image(item), size);
        int64_t bx0, by0, bx1, by1;
        if (!tight_box(patch, bx0, by0, bx1, by1)) break;
        const int64_t x = uniform_int(0, side - size), y = uniform_int(0, side - size);
        BoxXYXY box{double(x + bx0), double(y + by0), double(x + bx1), double(y + by1)};
        bool fits = true;
        for (const auto& p : placed) fits = fits && iou(box, p) <= o.max_overlap;
        if (!fits) continue;
        paste_max(canvas, patch, x, y);
        placed.push_back(box);
        CocoAnnotation a;
        a.id = annotation_id++;
        a.image_id = image_id;
        a.category_id = source.label(item) + 1;
        a.bbox = to_xywh(box);
        a.area = a.bbox.w * a.bbox.h;
        out.coco.annotations.push_back(a);
        break;
      }
    }
    // Clutter: fragments of other items where they touch no object box.
    const int64_t fragments = o.clutter > 0 ? uniform_int(0, o.clutter) : 0;
    for (int64_t f = 0; f < fragments; ++f) {
      for (int attempt = 0; attempt < 20; ++attempt) {
        const int64_t item = o.first_item + uniform_int(0, count - 1);
        const int64_t size = std::lround(28 * uniform(o.min_scale, o.max_scale));
        auto whole = scaled_item(source.image(item), size);
        const int64_t fw = uniform_int(size / 5, size / 3), fh = uniform_int(size / 5, size / 3);
        auto patch = whole.narrow(0, uniform_int(0, size - fh), fh)
                         .narrow(1, uniform_int(0, size - fw), fw)
                         .contiguous();
        const int64_t x = uniform_int(0, side - fw), y = uniform_int(0, side - fh);
        BoxXYXY box{double(x), double(y), double(x + fw), double(y + fh)};
        bool apart = true;
        for (const auto& p : placed) apart = apart && intersection_area(box, p) <= 0;
        if (!apart) continue;
        paste_max(canvas, patch, x, y);
        break;
      }
    }
    CocoImage im;
    im.id = image_id;
    im.file_name = std::to_string(image_id) + ".png";
    im.width = im.height = side;
    out.coco.images.push_back(im);
    out.images.push_back(canvas.unsqueeze(0));
  }
  return out;
}

}  // namespace attnd
