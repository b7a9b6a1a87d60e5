#include "attnd/data/detection_dataset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "attnd/core/error.h"
#include "attnd/data/image_file.h"

namespace attnd {

DetectionDataset::DetectionDataset(CocoDataset coco, const std::string& images_dir,
                                   DetectionDataOptions options)
    : coco_(std::move(coco)), options_(options) {
  ATTND_CHECK_INPUT(std::filesystem::is_directory(images_dir), images_dir,
                    ": the images folder does not exist");
  images_.reserve(coco_.images.size());
  for (const auto& im : coco_.images) {
    const auto path = (std::filesystem::path(images_dir) / im.file_name).string();
    auto t = read_image_file(path, static_cast<int>(options_.channels));
    ATTND_CHECK_INPUT(t.size(1) == im.height && t.size(2) == im.width, path, " is ", t.size(2),
                      "x", t.size(1), " pixels but the instances JSON says ", im.width, "x",
                      im.height, " (image id ", im.id, ")");
    images_.push_back(t);
  }
  index_annotations();
}

DetectionDataset::DetectionDataset(CocoDataset coco, std::vector<torch::Tensor> images,
                                   DetectionDataOptions options)
    : coco_(std::move(coco)), images_(std::move(images)), options_(options) {
  ATTND_CHECK(images_.size() == coco_.images.size(), images_.size(), " images for ",
              coco_.images.size(), " COCO images");
  for (size_t i = 0; i < images_.size(); ++i)
    ATTND_CHECK(images_[i].dim() == 3 && images_[i].size(0) == options_.channels &&
                    images_[i].size(1) == coco_.images[i].height &&
                    images_[i].size(2) == coco_.images[i].width,
                "image ", i, " is ", images_[i].sizes(), ", the JSON says ",
                coco_.images[i].width, "x", coco_.images[i].height);
  index_annotations();
}

void DetectionDataset::index_annotations() {
  ATTND_CHECK_INPUT(options_.channels == 1 || options_.channels == 3,
                    "data.channels must be 1 or 3, got ", options_.channels);
  ATTND_CHECK_INPUT(options_.image_size >= 16 && options_.image_size <= 2048,
                    "data.image_size must be in [16, 2048], got ", options_.image_size);
  ATTND_CHECK_INPUT(options_.std > 0, "data.std must be > 0, got ", options_.std);
  check_detection_augmentation(options_.augment);
  ATTND_CHECK_INPUT(!coco_.categories.empty(), "the instances JSON has no categories");
  for (const auto& c : coco_.categories) category_ids_.push_back(c.id);
  std::sort(category_ids_.begin(), category_ids_.end());
  std::map<int64_t, size_t> image_index;
  for (size_t i = 0; i < coco_.images.size(); ++i) image_index[coco_.images[i].id] = i;
  annotations_of_.assign(coco_.images.size(), {});
  for (size_t a = 0; a < coco_.annotations.size(); ++a) {
    const auto& ann = coco_.annotations[a];
    if (ann.iscrowd || ann.bbox.w <= 0 || ann.bbox.h <= 0) continue;
    annotations_of_[image_index.at(ann.image_id)].push_back(a);
  }
}

void DetectionDataset::set_augmentation(const DetectionAugmentation& augment) {
  check_detection_augmentation(augment);
  options_.augment = augment;
}

std::vector<std::string> DetectionDataset::class_names() const {
  std::map<int64_t, std::string> names;
  for (const auto& c : coco_.categories) names[c.id] = c.name;
  std::vector<std::string> out;
  for (auto id : category_ids_) out.push_back(names[id]);
  return out;
}

DetectionSample DetectionDataset::sample(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "example ", i, " of ", size());
  const auto& list = annotations_of_[static_cast<size_t>(i)];
  auto boxes = torch::zeros({static_cast<int64_t>(list.size()), 4}, torch::kFloat);
  auto labels = torch::zeros({static_cast<int64_t>(list.size())}, torch::kLong);
  for (size_t j = 0; j < list.size(); ++j) {
    const auto& ann = coco_.annotations[list[j]];
    const auto b = ann.bbox;
    boxes[j] = torch::tensor({b.x, b.y, b.x + b.w, b.y + b.h}, torch::kFloat);
    auto it = std::lower_bound(category_ids_.begin(), category_ids_.end(), ann.category_id);
    labels[j] = static_cast<int64_t>(it - category_ids_.begin());
  }
  return {images_[static_cast<size_t>(i)], boxes, labels};
}

torch::Tensor box_foreground_mask(const torch::Tensor& boxes, int64_t height, int64_t width) {
  auto mask = torch::zeros({height, width}, torch::kFloat);
  auto b = boxes.to(torch::kDouble).contiguous();
  for (int64_t j = 0; j < b.size(0); ++j) {
    const int64_t x0 = std::clamp<int64_t>(std::floor(b[j][0].item<double>()), 0, width);
    const int64_t y0 = std::clamp<int64_t>(std::floor(b[j][1].item<double>()), 0, height);
    const int64_t x1 = std::clamp<int64_t>(std::ceil(b[j][2].item<double>()), 0, width);
    const int64_t y1 = std::clamp<int64_t>(std::ceil(b[j][3].item<double>()), 0, height);
    if (x1 > x0 && y1 > y0) mask.narrow(0, y0, y1 - y0).narrow(1, x0, x1 - x0).fill_(1.0);
  }
  return mask;
}

Batch DetectionDataset::get(const std::vector<int64_t>& indices, uint64_t augment_seed) const {
  const int64_t s = options_.image_size, c = options_.channels, n = static_cast<int64_t>(indices.size());
  Batch batch;
  auto pixels = torch::zeros({n, c, s, s}, torch::kFloat);
  auto valid = torch::zeros({n, s, s}, torch::kBool);
  auto foreground = torch::zeros({n, s, s}, torch::kFloat);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = indices[static_cast<size_t>(k)];
    auto sample = this->sample(i);
    // Fit to the canvas: a larger image is scaled down, keeping its aspect ratio.
    double scale = 1.0;
    const int64_t longest = std::max(sample.width(), sample.height());
    if (longest > s) {
      scale = static_cast<double>(s) / longest;
      sample = resize(sample, std::max<int64_t>(1, std::lround(sample.width() * scale)),
                      std::max<int64_t>(1, std::lround(sample.height() * scale)));
    }
    if (options_.augment.enabled()) sample = augment_detection(sample, options_.augment, augment_seed, i, s);
    const int64_t h = sample.height(), w = sample.width();
    pixels[k].narrow(1, 0, h).narrow(2, 0, w).copy_(
        (sample.image.to(torch::kFloat) / 255.0 - options_.mean) / options_.std);
    valid[k].narrow(0, 0, h).narrow(1, 0, w).fill_(true);
    foreground[k].narrow(0, 0, h).narrow(1, 0, w).copy_(box_foreground_mask(sample.boxes, h, w));
    auto b = sample.boxes;
    auto cxcywh = b.numel() == 0
                      ? torch::zeros({0, 4}, torch::kFloat)
                      : torch::stack({(b.select(1, 0) + b.select(1, 2)) / 2,
                                      (b.select(1, 1) + b.select(1, 3)) / 2,
                                      b.select(1, 2) - b.select(1, 0), b.select(1, 3) - b.select(1, 1)},
                                     1) / static_cast<double>(s);
    TensorMap t;
    t["boxes"] = cxcywh.to(torch::kFloat);
    t["class_labels"] = sample.labels;
    t["image_id"] = torch::tensor({coco_.images[static_cast<size_t>(i)].id}, torch::kLong);
    t["scale"] = torch::tensor({static_cast<float>(scale)}, torch::kFloat);
    batch.targets.push_back(std::move(t));
  }
  batch.input.pixel_values = pixels;
  batch.input.pixel_mask = valid;
  batch.input.foreground_mask = foreground;
  return batch;
}

}  // namespace attnd
