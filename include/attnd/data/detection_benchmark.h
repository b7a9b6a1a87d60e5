// The detection benchmark of `attnd detect make-data`: real Fashion-MNIST items composed onto
// canvases, annotated as COCO. Deterministic: the same options give the same pixels and boxes.
//
// Each canvas is a square of a side drawn in [min_side, max_side] with a faint noise background.
// It receives 1..max_objects items, each drawn from items [first_item, first_item + item_count)
// of the source set, scaled by a factor in [min_scale, max_scale] and placed at random where its
// box overlaps no placed box by more than max_overlap IoU (a few tries, then it is left out). An
// object's box is the tight box of its pixels brighter than kObjectThreshold. Then up to `clutter`
// unlabelled fragments (a random patch of another item) go where they touch no box.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "attnd/data/image_dataset.h"
#include "attnd/io/coco_json.h"

namespace attnd {

inline constexpr int kObjectThreshold = 24;  // of 255: fainter pixels do not stretch a box

struct DetectionBenchmarkOptions {
  int64_t images = 1000;
  int64_t min_side = 96, max_side = 128;
  int64_t min_objects = 1, max_objects = 6;
  double min_scale = 0.6, max_scale = 2.0;
  double max_overlap = 0.2;  // IoU between object boxes
  int64_t clutter = 3;       // fragments per canvas, 0..clutter
  int64_t first_item = 0;    // the source items used
  int64_t item_count = -1;   // -1: all from first_item on
  int64_t first_image_id = 1;
  uint64_t seed = 0;
};
// InputError naming the option of a bad value.
void check_detection_benchmark_options(const DetectionBenchmarkOptions& o, int64_t source_items);

struct DetectionBenchmark {
  CocoDataset coco;                  // categories: the source's classes, ids 1..K
  std::vector<torch::Tensor> images;  // uint8 [1, side, side], in coco.images order
};

DetectionBenchmark make_detection_benchmark(const ImageDataset& source,
                                            const DetectionBenchmarkOptions& options);

}  // namespace attnd
