// COCO detection files: an instances JSON (images, box annotations, categories — a user's own data
// set, or the one `attnd detect make-data` writes) and a results JSON (a flat array of scored
// boxes, what `attnd detect predict` writes and COCO evaluation reads). Reading checks everything
// the evaluation and the data loader rely on; every problem is an InputError naming the file and
// the JSON path, e.g. "instances.json: annotations[3].bbox: expected 4 numbers, got 3". Keys attnd
// does not use (segmentation, info, licenses, ...) are accepted and dropped.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attnd/core/box.h"

namespace attnd {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;          // relative to the images folder
  int64_t width = 0, height = 0;  // pixels, > 0
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
  std::string supercategory;  // optional in the file; "" when absent
};

struct CocoAnnotation {
  int64_t id = 0;
  int64_t image_id = 0;
  int64_t category_id = 0;
  BoxXYWH bbox;  // pixels, w and h ≥ 0
  // COCO's `area` (the object's segmentation area in COCO itself); it decides the small / medium /
  // large split of the ground truth. Optional in the file: bbox w·h when absent.
  double area = 0;
  bool iscrowd = false;  // optional in the file (0 / 1 or a boolean); false when absent
};

struct CocoDataset {
  std::vector<CocoImage> images;
  std::vector<CocoAnnotation> annotations;
  std::vector<CocoCategory> categories;
};

// One scored box of a results file.
struct CocoDetection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  BoxXYWH bbox;  // pixels, w and h ≥ 0
  double score = 0;
};

// `what` names the source in error messages (the file's path). Ids must be integers (a float with
// an integral value, as some writers produce, is taken); image, annotation and category ids must
// be unique, and an annotation must name a known image and category.
CocoDataset parse_coco_instances(const nlohmann::json& doc, const std::string& what);
CocoDataset read_coco_instances(const std::string& path);
nlohmann::json coco_instances_json(const CocoDataset& dataset);
void write_coco_instances(const std::string& path, const CocoDataset& dataset);

// A results file is a JSON array of {image_id, category_id, bbox, score} (an empty array is a model
// that found nothing). Extra keys are dropped.
std::vector<CocoDetection> parse_coco_results(const nlohmann::json& doc, const std::string& what);
std::vector<CocoDetection> read_coco_results(const std::string& path);
nlohmann::json coco_results_json(const std::vector<CocoDetection>& detections);
void write_coco_results(const std::string& path, const std::vector<CocoDetection>& detections);

// InputError "<what>: [i].image_id: 7 is not the id of any image of <dataset_what>" (likewise for
// category_id): results scored against a data set must be about its images and categories.
void check_results_fit(const std::vector<CocoDetection>& detections, const std::string& what,
                       const CocoDataset& dataset, const std::string& dataset_what);

}  // namespace attnd
