// attnd detect: DETR-style object detection, with KS-DETR triple attention as a recipe option.
//   make-data  the Fashion-MNIST detection benchmark, written as COCO (images + instances.json)
//   train      a detector from a recipe (recipes/detect/), best by validation AP
//   eval       COCO box AP of a checkpoint (or of a results JSON) on a COCO data set
//   predict    COCO results JSON plus pictures with boxes, labels and scores drawn
#include <filesystem>
#include <iostream>

#include "attnd/core/error.h"
#include "attnd/data/image_file.h"
#include "attnd/methods/detect.h"
#include "attnd/models/model_io.h"
#include "commands.h"
#include "recipe_options.h"
#include "report.h"

namespace attnd::cli {

namespace fs = std::filesystem;

namespace {

// Where a checkpoint's images come from: --images (+ --annotations), else a split of --data,
// else that split of the data set the checkpoint's run trained on.
struct DataChoice {
  std::string data, split = "test", images, annotations;
  int64_t batch_size = 32;
  std::string device = "cpu";
};

void add_data_choice(CLI::App& cmd, DataChoice& d) {
  cmd.add_option("--data", d.data, "a detection data set folder ({train,val,test}/instances.json "
                 "+ images/); default: the checkpoint's run's data.dir");
  cmd.add_option("--split", d.split, "the split of --data")->capture_default_str()
      ->check(CLI::IsMember({"train", "val", "test"}));
  cmd.add_option("--images", d.images, "an images folder instead of a data set split");
  cmd.add_option("--annotations", d.annotations, "its COCO instances JSON (predict: optional, "
                 "else every PNG/JPEG/BMP in --images)");
  cmd.add_option("--batch-size", d.batch_size, "images per forward pass")->capture_default_str();
  cmd.add_option("--device", d.device, "cpu | cuda | cuda:N")->capture_default_str();
}

// Every image file of a folder, ids 1..n in name order, with the checkpoint's categories.
CocoDataset folder_dataset(const std::string& images, const std::vector<CocoCategory>& categories,
                           int channels) {
  ATTND_CHECK_INPUT(fs::is_directory(images), "--images ", images, ": no such folder");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(images)) {
    auto ext = e.path().extension().string();
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp"))
      files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  ATTND_CHECK_INPUT(!files.empty(), "--images ", images, " holds no PNG, JPEG or BMP file");
  CocoDataset d;
  d.categories = categories;
  for (size_t i = 0; i < files.size(); ++i) {
    auto t = read_image_file((fs::path(images) / files[i]).string(), channels);
    d.images.push_back({static_cast<int64_t>(i + 1), files[i], t.size(2), t.size(1)});
  }
  return d;
}

std::shared_ptr<DetectionDataset> checkpoint_data(const std::string& checkpoint, const DataChoice& d,
                                                  const ModelImpl& model, bool annotations_optional) {
  const auto config = checkpoint_detect_config(checkpoint);
  const auto options = detection_data_options(config, false);
  if (!d.images.empty()) {
    if (d.annotations.empty()) {
      ATTND_CHECK_INPUT(annotations_optional, "--images needs --annotations (a COCO instances JSON) "
                        "to be scored");
      return std::make_shared<DetectionDataset>(
          folder_dataset(d.images, checkpoint_categories(checkpoint, model),
                         static_cast<int>(options.channels)),
          d.images, options);
    }
    return std::make_shared<DetectionDataset>(read_coco_instances(d.annotations), d.images, options);
  }
  ATTND_CHECK_INPUT(d.annotations.empty(), "--annotations goes with --images");
  auto dir = d.data.empty() ? config.get_string("data.dir") : d.data;
  if (dir.empty()) dir = kDefaultDetectionData;
  return load_detection_split(dir, d.split, options);
}

// The data set's categories must be the ones the model predicts.
void check_categories(const DetectionDataset& data, const std::vector<CocoCategory>& predicted) {
  ATTND_CHECK_INPUT(static_cast<int64_t>(predicted.size()) == data.num_classes(),
                    "the data set has ", data.num_classes(), " categories, the model predicts ",
                    predicted.size());
  for (size_t i = 0; i < predicted.size(); ++i)
    ATTND_CHECK_INPUT(predicted[i].id == data.category_ids()[i], "category ", i, " of the model has id ",
                      predicted[i].id, " but the data set's has id ", data.category_ids()[i]);
}

void add_make_data(CLI::App& detect) {
  auto o = std::make_shared<MakeDataOptions>();
  auto* cmd = detect.add_subcommand("make-data", "write the Fashion-MNIST detection benchmark as "
                                    "COCO: <out>/{train,val,test}/{instances.json,images/}");
  cmd->add_option("--out", o->out, "output folder")->capture_default_str();
  cmd->add_option("--fashion-dir", o->fashion_dir, "Fashion-MNIST IDX files (default " +
                  std::string(kFashionMnistDir) + ")");
  cmd->add_option("--train", o->train_images, "training images")->capture_default_str();
  cmd->add_option("--val", o->val_images, "validation images")->capture_default_str();
  cmd->add_option("--test", o->test_images, "test images")->capture_default_str();
  auto& b = o->benchmark;
  cmd->add_option("--seed", b.seed, "seed of every draw")->capture_default_str();
  cmd->add_option("--min-side", b.min_side, "smallest canvas side, pixels")->capture_default_str();
  cmd->add_option("--max-side", b.max_side, "largest canvas side, pixels")->capture_default_str();
  cmd->add_option("--max-objects", b.max_objects, "objects per image, 1..n")->capture_default_str();
  cmd->add_option("--min-scale", b.min_scale, "smallest object scale (28 px items)")->capture_default_str();
  cmd->add_option("--max-scale", b.max_scale, "largest object scale")->capture_default_str();
  cmd->add_option("--max-overlap", b.max_overlap, "largest IoU between two objects")->capture_default_str();
  cmd->add_option("--clutter", b.clutter, "unlabelled fragments per image, 0..n")->capture_default_str();
  cmd->footer("Example: attnd detect make-data --out data/detect-fashion --train 4000");
  cmd->callback([o]() {
    for (auto n : {o->train_images, o->val_images, o->test_images})
      ATTND_CHECK_INPUT(n >= 1, "--train, --val and --test must be >= 1, got ", n);
    write_detection_benchmark(*o);
    std::cout << "detect make-data: " << o->train_images << " train, " << o->val_images << " val, "
              << o->test_images << " test images in " << o->out << "\n";
  });
}

void add_train(CLI::App& detect) {
  auto options = std::make_shared<RecipeOptions>();
  auto* cmd = detect.add_subcommand("train", "train a detector from a recipe (best checkpoint by "
                                    "validation AP; <run>/inference is the model to deploy)");
  add_recipe_options(*cmd, *options);
  add_overwrite_flag(*cmd, *options);
  add_key_flag(*cmd, *options, "--data", "data.dir", "the detection data set folder");
  cmd->footer("Example: attnd detect train recipes/detect/tiny.toml\n"
              "         attnd detect train recipes/detect/ks.toml --set run.seed=1");
  cmd->callback([options]() {
    Config config(detect_recipe_schema());
    if (!resolve_recipe(*options, detect_recipe_schema(), config)) return;
    auto result = run_detect_train_recipe(config, options->resume);
    print_recipe_result(std::cout, "detect train", result);
  });
}

void add_eval(CLI::App& detect) {
  struct Options {
    std::string checkpoint, results;
    DataChoice data;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = detect.add_subcommand("eval", "COCO box AP/AR of a checkpoint (or of a results JSON "
                                    "with --results) on a COCO data set");
  cmd->add_option("checkpoint", o->checkpoint, "a detector checkpoint directory (not needed with --results)");
  cmd->add_option("--results", o->results, "score this COCO results JSON against --annotations instead");
  add_data_choice(*cmd, o->data);
  cmd->footer("Example: attnd detect eval runs/detect-tiny/inference --split test");
  cmd->callback([o]() {
    if (!o->results.empty()) {
      ATTND_CHECK_INPUT(!o->data.annotations.empty(), "--results needs --annotations");
      const auto gt = read_coco_instances(o->data.annotations);
      const auto dets = read_coco_results(o->results);
      check_results_fit(dets, o->results, gt, o->data.annotations);
      std::cout << format_coco_summary(evaluate_coco(gt, dets));
      return;
    }
    ATTND_CHECK_INPUT(!o->checkpoint.empty(), "give a checkpoint directory (or --results)");
    const auto device = parse_device(o->data.device);
    auto model = load_model(o->checkpoint, device);
    auto data = checkpoint_data(o->checkpoint, o->data, *model, false);
    check_categories(*data, checkpoint_categories(o->checkpoint, *model));
    const auto config = checkpoint_detect_config(o->checkpoint);
    auto result = evaluate_detector(*model, *data, o->data.batch_size, device,
                                    detection_output_options(config, *model));
    std::cout << format_coco_summary(result);
  });
}

void add_predict(CLI::App& detect) {
  struct Options {
    std::string checkpoint;
    DataChoice data;
    PredictOptions predict;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = detect.add_subcommand("predict", "detect objects: <out>/results.json (COCO results) "
                                    "and <out>/images/*.png with boxes, labels and scores");
  cmd->add_option("checkpoint", o->checkpoint, "a detector checkpoint directory")->required();
  add_data_choice(*cmd, o->data);
  cmd->add_option("--out", o->predict.out, "output folder")->capture_default_str();
  cmd->add_option("--draw", o->predict.draw, "pictures drawn (the first n images)")->capture_default_str();
  cmd->add_option("--threshold", o->predict.draw_threshold, "boxes drawn from this score")->capture_default_str();
  cmd->footer("Example: attnd detect predict runs/detect-tiny/inference --images my-images/ --out preds");
  cmd->callback([o]() {
    const auto device = parse_device(o->data.device);
    auto model = load_model(o->checkpoint, device);
    const auto categories = checkpoint_categories(o->checkpoint, *model);
    auto data = checkpoint_data(o->checkpoint, o->data, *model, true);
    check_categories(*data, categories);
    o->predict.batch_size = o->data.batch_size;
    o->predict.device = o->data.device;
    const auto config = checkpoint_detect_config(o->checkpoint);
    write_predictions(*model, *data, categories, detection_output_options(config, *model), o->predict);
    std::cout << "detect predict: " << data->size() << " images, results in "
              << (fs::path(o->predict.out) / "results.json").string() << ", pictures in "
              << (fs::path(o->predict.out) / "images").string() << "\n";
  });
}

}  // namespace

void add_detect_command(CLI::App& app) {
  auto* detect = app.add_subcommand("detect", "object detection: DETR with KS-DETR triple "
                                    "attention (make-data, train, eval, predict)");
  detect->require_subcommand(1);
  add_make_data(*detect);
  add_train(*detect);
  add_eval(*detect);
  add_predict(*detect);
}

}  // namespace attnd::cli
