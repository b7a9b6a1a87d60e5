// attnd detect: DETR-style detection with optional KS-DETR triple attention
// (docs/methods/ks-detr.md). A detection data set is a folder with one sub-folder per split,
//   <data.dir>/{train,val,test}/instances.json   COCO instances
//   <data.dir>/{train,val,test}/images/          the image files the JSON names
// which `attnd detect make-data` writes from Fashion-MNIST and users can lay out for their own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attnd/core/config.h"
#include "attnd/data/detection_benchmark.h"
#include "attnd/data/detection_dataset.h"
#include "attnd/methods/recipe.h"
#include "attnd/train/coco_eval.h"
#include "attnd/train/detection_task.h"

namespace attnd {

inline constexpr const char* kDefaultDetectionData = "data/detect-fashion";
inline constexpr const char* kCategoriesFile = "categories.json";

// recipe_schema plus the detection data keys (data.channels, data.image_size, data.flip, ...) and
// detect.* (output options).
ConfigSchema detect_recipe_schema();
// data.* → dataset options; `train` adds the augmentation (when data.augment).
DetectionDataOptions detection_data_options(const Config& config, bool train);
// <dir>/<split>/instances.json with <dir>/<split>/images.
std::shared_ptr<DetectionDataset> load_detection_split(const std::string& dir,
                                                       const std::string& split,
                                                       const DetectionDataOptions& options);
DetectionOutputOptions detection_output_options(const Config& config, const ModelImpl& model);

// Trains [model] on data.dir's train split (best by val AP), reports test AP, and writes
// <run>/inference: the best model without training-only parts (KS teachers), the model to deploy.
RecipeResult run_detect_train_recipe(const Config& config, const std::string& resume = "");

// The categories a checkpoint predicts, in class order (its categories.json; ids 1..C named by
// id2label when it has none).
std::vector<CocoCategory> checkpoint_categories(const std::string& checkpoint, const ModelImpl& model);
// The detection recipe a checkpoint was trained with (its run's config.toml), or the defaults.
Config checkpoint_detect_config(const std::string& checkpoint);

// make-data: writes <out>/{train,val,test} from Fashion-MNIST in `fashion_dir` (train and val from
// its training items 0..54999 and 55000..59999, test from its test items). Returns image counts.
struct MakeDataOptions {
  std::string out = kDefaultDetectionData;
  std::string fashion_dir;
  int64_t train_images = 4000, val_images = 500, test_images = 1000;
  DetectionBenchmarkOptions benchmark;  // images, items and ids are set per split
};
void write_detection_benchmark(const MakeDataOptions& options);

// predict: results JSON and pictures with boxes, labels and scores drawn (the first `draw`
// images; score >= draw_threshold).
struct PredictOptions {
  std::string out = "predictions";
  int64_t draw = 16;
  double draw_threshold = 0.3;
  int64_t batch_size = 32;
  std::string device = "cpu";
};
void write_predictions(ModelImpl& model, const DetectionDataset& data,
                       const std::vector<CocoCategory>& categories,
                       const DetectionOutputOptions& output, const PredictOptions& options);

}  // namespace attnd
