#include "attnd/methods/detect.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "attnd/core/error.h"
#include "attnd/data/image_dataset.h"
#include "attnd/data/sampler.h"
#include "attnd/io/json_file.h"
#include "attnd/models/model_io.h"
#include "attnd/train/distributed.h"
#include "attnd/viz/image.h"

namespace attnd {

namespace fs = std::filesystem;

ConfigSchema detect_recipe_schema() {
  auto s = recipe_schema(false);
  s.add("data.channels", int64_t{1}, "detection: image channels read from the files (1 grey, 3 RGB)")
      .add("data.image_size", int64_t{128}, "detection: the square canvas images are fitted and padded to")
      .add("data.mean", 0.2860, "detection: pixel mean of the normalisation (every channel)")
      .add("data.std", 0.3530, "detection: pixel std of the normalisation")
      .add("data.flip", true, "detection augmentation: horizontal flip with probability 1/2")
      .add("data.scale_min", 0.8, "detection augmentation: smallest rescale factor")
      .add("data.scale_max", 1.2, "detection augmentation: largest rescale factor (never past the canvas)")
      .add("data.crop_probability", 0.3, "detection augmentation: share of images randomly cropped")
      .add("data.crop_min_fraction", 0.6, "detection augmentation: smallest crop side, as a fraction");
  s.add("detect.max_detections", int64_t{100}, "detections kept per image (COCO's maxDets)")
      .add("detect.min_score", 0.0, "detections scored below this are dropped");
  return s;
}

DetectionDataOptions detection_data_options(const Config& c, bool train) {
  DetectionDataOptions o;
  o.channels = c.get_int("data.channels");
  o.image_size = c.get_int("data.image_size");
  o.mean = c.get_double("data.mean");
  o.std = c.get_double("data.std");
  if (train && c.get_bool("data.augment")) {
    o.augment.horizontal_flip = c.get_bool("data.flip");
    o.augment.scale_min = c.get_double("data.scale_min");
    o.augment.scale_max = c.get_double("data.scale_max");
    o.augment.crop_probability = c.get_double("data.crop_probability");
    o.augment.crop_min_fraction = c.get_double("data.crop_min_fraction");
  }
  return o;
}

std::shared_ptr<DetectionDataset> load_detection_split(const std::string& dir, const std::string& split,
                                                       const DetectionDataOptions& options) {
  const auto root = fs::path(dir) / split;
  const auto json = root / "instances.json";
  ATTND_CHECK_INPUT(fs::is_regular_file(json), json.string(), " is missing: data.dir must hold "
                    "{train,val,test}/instances.json and images/ (attnd detect make-data writes them)");
  return std::make_shared<DetectionDataset>(read_coco_instances(json.string()),
                                            (root / "images").string(), options);
}

DetectionOutputOptions detection_output_options(const Config& c, const ModelImpl& model) {
  DetectionOutputOptions o;
  o.focal = DetectionLossOptions::from_model_config(model.config_json()).focal;
  o.max_detections = c.get_int("detect.max_detections");
  o.min_score = c.get_double("detect.min_score");
  ATTND_CHECK_INPUT(o.max_detections >= 1, "detect.max_detections must be >= 1, got ", o.max_detections);
  return o;
}

namespace {

nlohmann::json categories_json(const std::vector<CocoCategory>& categories) {
  auto out = nlohmann::json::array();
  for (const auto& c : categories) out.push_back({{"id", c.id}, {"name", c.name}});
  return out;
}

// The data's categories in class order (ascending id).
std::vector<CocoCategory> class_categories(const DetectionDataset& data) {
  std::map<int64_t, CocoCategory> by_id;
  for (const auto& c : data.coco().categories) by_id[c.id] = c;
  std::vector<CocoCategory> out;
  for (auto id : data.category_ids()) out.push_back(by_id[id]);
  return out;
}

}  // namespace

RecipeResult run_detect_train_recipe(const Config& config, const std::string& resume) {
  trainer_options(config);  // every train.* value is checked before any work
  configure_threads(config.get_int("run.threads"));
  auto dir = config.get_string("data.dir");
  if (dir.empty()) dir = kDefaultDetectionData;
  RecipeData data;
  data.task = DataTask::kDetection;
  data.name = dir;
  auto train = load_detection_split(dir, "train", detection_data_options(config, true));
  auto val = load_detection_split(dir, "val", detection_data_options(config, false));
  auto test = load_detection_split(dir, "test", detection_data_options(config, false));
  ATTND_CHECK_INPUT(train->size() > 0 && val->size() > 0 && test->size() > 0, dir,
                    ": every split needs at least one image");
  data.train = train;
  data.val = val;
  data.test = test;
  const auto categories = class_categories(*train);
  data.extra_checkpoint_files[kCategoriesFile] = categories_json(categories);

  // A fresh [model] takes its classes and channels from the data unless the recipe sets them.
  Config c = config;
  auto table = c.table_json("model");
  if (!table.empty() && c.get_string("run.init").empty()) {
    if (!table.contains("num_labels")) {
      table["num_labels"] = train->num_classes();
      nlohmann::json names = nlohmann::json::object();
      for (size_t i = 0; i < categories.size(); ++i) names[std::to_string(i)] = categories[i].name;
      table["id2label"] = names;
    }
    if (!table.contains("num_channels")) table["num_channels"] = c.get_int("data.channels");
    c.set_table("model", table);
  }
  auto model = build_model(c, data);
  const auto mc = model->config_json();
  ATTND_CHECK_INPUT(mc.value("num_labels", int64_t{0}) == train->num_classes(), "model.num_labels = ",
                    mc.value("num_labels", int64_t{0}), " but ", dir, " has ", train->num_classes(),
                    " categories");
  ATTND_CHECK_INPUT(mc.value("num_channels", int64_t{0}) == c.get_int("data.channels"),
                    "model.num_channels = ", mc.value("num_channels", int64_t{0}),
                    " but data.channels = ", c.get_int("data.channels"));
  const auto device = parse_device(c.get_string("run.device"));
  model->to(device);
  const int64_t eval_batch = c.get_int("train.eval_batch_size");
  DetectionTask task(model, val.get(), eval_batch, device);
  const auto output = detection_output_options(c, *model);
  auto test_fn = [&](const Model& best, const RecipeResult& result) {
    // The model to deploy: the best checkpoint without its training-only parts.
    auto plain = best->inference_model();
    if (is_writer_process())  // data parallel: rank 0 writes
      save_model((fs::path(result.run_dir) / "inference").string(), plain ? *plain : *best, {},
                 {{kCategoriesFile, categories_json(categories)}});
    return coco_metrics(evaluate_detector(*best, *test, eval_batch, device, output));
  };
  return train_and_test(c, task, data, resume, test_fn);
}

std::vector<CocoCategory> checkpoint_categories(const std::string& checkpoint, const ModelImpl& model) {
  const auto dir = fs::is_directory(checkpoint) ? fs::path(checkpoint) : fs::path(checkpoint).parent_path();
  const auto file = dir / kCategoriesFile;
  std::vector<CocoCategory> out;
  if (fs::is_regular_file(file)) {
    const auto j = read_json_file(file.string());
    ATTND_CHECK_INPUT(j.is_array(), file.string(), ": expected an array of {id, name}");
    for (const auto& c : j) {
      ATTND_CHECK_INPUT(c.is_object() && c.contains("id") && c["id"].is_number_integer() &&
                            c.contains("name") && c["name"].is_string(),
                        file.string(), ": expected an array of {id, name}");
      out.push_back({c["id"].get<int64_t>(), c["name"].get<std::string>(), ""});
    }
  } else {
    const auto j = model.config_json();
    const int64_t n = j.value("num_labels", int64_t{0});
    for (int64_t i = 0; i < n; ++i) {
      std::string name = "class " + std::to_string(i);
      if (j.contains("id2label") && j["id2label"].contains(std::to_string(i)))
        name = j["id2label"][std::to_string(i)].get<std::string>();
      out.push_back({i + 1, name, ""});
    }
  }
  const int64_t classes = model.config_json().value("num_labels", int64_t{0});
  ATTND_CHECK_INPUT(static_cast<int64_t>(out.size()) == classes, file.string(), " lists ", out.size(),
                    " categories but the model has ", classes, " classes");
  return out;
}

Config checkpoint_detect_config(const std::string& checkpoint) {
  const auto toml = find_run_config(checkpoint);
  return toml.empty() ? Config(detect_recipe_schema()) : Config::load(detect_recipe_schema(), toml);
}

// ---- make-data ------------------------------------------------------------------------------------

void write_detection_benchmark(const MakeDataOptions& o) {
  const auto fashion = o.fashion_dir.empty() ? std::string(kFashionMnistDir) : o.fashion_dir;
  auto train_items = load_fashion_mnist(fashion, true);
  auto test_items = load_fashion_mnist(fashion, false);
  struct Split {
    const char* name;
    int64_t images;
    const ImageDataset* items;
    int64_t first, count;
  };
  const int64_t val_first = train_items.size() - std::min<int64_t>(5000, train_items.size() / 10);
  const Split splits[] = {{"train", o.train_images, &train_items, 0, val_first},
                          {"val", o.val_images, &train_items, val_first, train_items.size() - val_first},
                          {"test", o.test_images, &test_items, 0, test_items.size()}};
  uint64_t k = 0;
  for (const auto& s : splits) {
    auto b = o.benchmark;
    b.images = s.images;
    b.first_item = s.first;
    b.item_count = s.count;
    b.first_image_id = 1;
    b.seed = mix_seed(o.benchmark.seed, ++k);  // each split its own draws
    auto bench = make_detection_benchmark(*s.items, b);
    const auto root = fs::path(o.out) / s.name;
    fs::create_directories(root / "images");
    for (size_t i = 0; i < bench.images.size(); ++i)
      write_png((root / "images" / bench.coco.images[i].file_name).string(),
                image_from_tensor(bench.images[i]));
    write_coco_instances((root / "instances.json").string(), bench.coco);
  }
}

// ---- predict --------------------------------------------------------------------------------------

namespace {

constexpr Rgb kPalette[] = {{230, 25, 75},  {60, 180, 75},   {255, 225, 25}, {0, 130, 200},
                            {245, 130, 48}, {145, 30, 180},  {70, 240, 240}, {240, 50, 230},
                            {210, 245, 60}, {250, 190, 212}};

}  // namespace

void write_predictions(ModelImpl& model, const DetectionDataset& data,
                       const std::vector<CocoCategory>& categories,
                       const DetectionOutputOptions& output, const PredictOptions& o) {
  ATTND_CHECK_INPUT(o.draw >= 0, "--draw must be >= 0, got ", o.draw);
  const auto device = parse_device(o.device);
  model.to(device);
  auto dets = predict_detections(model, data, o.batch_size, device, output);
  fs::create_directories(o.out);
  write_coco_results((fs::path(o.out) / "results.json").string(), dets);
  std::map<int64_t, std::string> names;
  std::map<int64_t, size_t> colour;
  for (size_t i = 0; i < categories.size(); ++i) {
    names[categories[i].id] = categories[i].name;
    colour[categories[i].id] = i;
  }
  const int64_t n = std::min<int64_t>(o.draw, data.size());
  constexpr int kZoom = 3;  // small images: boxes and labels stay legible
  for (int64_t i = 0; i < n; ++i) {
    const auto& im = data.coco().images[static_cast<size_t>(i)];
    auto picture = upscale_nearest(image_from_tensor(data.sample(i).image), kZoom);
    for (const auto& d : dets) {
      if (d.image_id != im.id || d.score < o.draw_threshold) continue;
      const Rgb c = kPalette[colour[d.category_id] % 10];
      const int x0 = static_cast<int>(d.bbox.x * kZoom), y0 = static_cast<int>(d.bbox.y * kZoom);
      const int x1 = static_cast<int>((d.bbox.x + d.bbox.w) * kZoom);
      const int y1 = static_cast<int>((d.bbox.y + d.bbox.h) * kZoom);
      picture.outline_rect(x0, y0, std::max(x1, x0 + 2), std::max(y1, y0 + 2), c, 2);
      char label[96];
      std::snprintf(label, sizeof label, "%s %.2f", names[d.category_id].c_str(), d.score);
      const int ty = std::max(0, y0 - text_height(label) - 1);
      picture.fill_rect(x0, ty, text_width(label), text_height(label), kBlack);
      draw_text(picture, x0, ty, label, c);
    }
    const auto stem = fs::path(im.file_name).stem().string();
    write_png((fs::path(o.out) / "images" / (stem + ".png")).string(), picture);
  }
}

}  // namespace attnd
