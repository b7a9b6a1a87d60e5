// A COCO detection data set served as batches: images (from files through stb_image, or given in
// memory), each scaled down to fit a square canvas if larger, augmented (detection_augment.h),
// normalised and padded to the canvas at the bottom right.
//
// Batch layout (what the detector and the detection loss read):
//   input.pixel_values     float [B, C, S, S], normalised, 0 in the padding
//   input.pixel_mask       bool  [B, S, S], true on real pixels
//   input.foreground_mask  float [B, S, S], 1 on the integer pixels [⌊x0⌋, ⌈x1⌉) × [⌊y0⌋, ⌈y1⌉)
//                          of every box (KS-DETR's cue; padding is never foreground)
//   targets[i]: "boxes" float [n, 4] (cx, cy, w, h) divided by S; "class_labels" long [n] (the
//               index of the category in id order); "image_id" long [1]; "scale" float [1]
//               (input pixels per original pixel, to map predictions back to the file's pixels)
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "attnd/data/batch.h"
#include "attnd/data/detection_augment.h"
#include "attnd/io/coco_json.h"

namespace attnd {

struct DetectionDataOptions {
  int64_t channels = 1;     // 1: grey, 3: RGB
  int64_t image_size = 128;  // S: the canvas side
  double mean = 0.2860;     // normalisation of every channel (Fashion-MNIST's by default)
  double std = 0.3530;
  DetectionAugmentation augment;  // training only
};

class DetectionDataset : public Dataset {
 public:
  // Reads every image of `coco` from `images_dir`/<file_name>; an image whose size differs from
  // the one the JSON states is an InputError naming both.
  DetectionDataset(CocoDataset coco, const std::string& images_dir, DetectionDataOptions options);
  // Images given in memory, uint8 [C, H, W], in the order of coco.images.
  DetectionDataset(CocoDataset coco, std::vector<torch::Tensor> images, DetectionDataOptions options);

  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  // Example i as stored (before fitting and augmentation), boxes as corners in file pixels;
  // crowd annotations are left out (they are only for evaluation).
  DetectionSample sample(int64_t i) const;
  const CocoDataset& coco() const { return coco_; }
  const DetectionDataOptions& options() const { return options_; }
  void set_augmentation(const DetectionAugmentation& augment);
  int64_t num_classes() const { return static_cast<int64_t>(category_ids_.size()); }
  const std::vector<int64_t>& category_ids() const { return category_ids_; }  // class index → id
  std::vector<std::string> class_names() const;

 private:
  void index_annotations();
  CocoDataset coco_;
  std::vector<torch::Tensor> images_;
  DetectionDataOptions options_;
  std::vector<int64_t> category_ids_;
  std::vector<std::vector<size_t>> annotations_of_;  // per image, non-crowd annotation indices
};

// The foreground mask of corner boxes [n, 4] on an h × w canvas (see the batch layout above).
torch::Tensor box_foreground_mask(const torch::Tensor& boxes_xyxy, int64_t height, int64_t width);

}  // namespace attnd
