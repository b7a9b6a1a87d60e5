#include "attnd/data/image_dataset.h"

#include <sstream>

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "attnd/core/error.h"
#include "attnd/core/parse_number.h"
#include "attnd/data/idx.h"
#include "attnd/data/sampler.h"

namespace attnd {

ImageDataset::ImageDataset(torch::Tensor images, torch::Tensor labels,
                           std::vector<std::string> class_names, std::vector<double> mean,
                           std::vector<double> std)
    : class_names_(std::move(class_names)), mean_(std::move(mean)), std_(std::move(std)) {
  ATTND_CHECK_INPUT(images.defined() && labels.defined(), "ImageDataset needs images and labels");
  ATTND_CHECK_INPUT(images.scalar_type() == torch::kUInt8, "ImageDataset images must be uint8, got ",
                    images.scalar_type());
  if (images.dim() == 3) images = images.unsqueeze(1);
  ATTND_CHECK_INPUT(images.dim() == 4, "ImageDataset images must be [N, C, H, W], got shape ",
                    images.sizes());
  ATTND_CHECK_INPUT(labels.dim() == 1 && labels.size(0) == images.size(0),
                    "ImageDataset labels must be [N] with N = ", images.size(0), ", got shape ",
                    labels.sizes());
  ATTND_CHECK_INPUT(!labels.is_floating_point() && !labels.is_complex(),
                    "ImageDataset labels must be integers, got ", labels.scalar_type());
  images_ = images.to(torch::kCPU).contiguous();
  labels_ = labels.to(torch::kCPU, torch::kLong).contiguous();

  const int64_t n = labels_.size(0);
  const int64_t min_label = n ? labels_.min().item<int64_t>() : 0;
  const int64_t max_label = n ? labels_.max().item<int64_t>() : -1;
  ATTND_CHECK_INPUT(min_label >= 0, "ImageDataset labels must be >= 0, found ", min_label);
  if (class_names_.empty()) {
    num_classes_ = max_label + 1;
  } else {
    num_classes_ = static_cast<int64_t>(class_names_.size());
    ATTND_CHECK_INPUT(max_label < num_classes_, "ImageDataset label ", max_label, " but only ",
                      num_classes_, " class names");
  }

  const auto c = static_cast<size_t>(images_.size(1));
  for (auto* v : {&mean_, &std_}) {
    ATTND_CHECK_INPUT(v->size() == 1 || v->size() == c, "ImageDataset mean/std need 1 or ", c,
                      " values, got ", v->size());
    if (v->size() == 1) v->assign(c, v->front());
  }
  for (double s : std_) ATTND_CHECK_INPUT(s > 0, "ImageDataset std must be positive, got ", s);
}

void ImageDataset::set_augmentation(const Augmentation& augment) {
  ATTND_CHECK_INPUT(augment.crop_pad >= 0, "augmentation crop padding must be >= 0, got ",
                    augment.crop_pad);
  augment_ = augment;
}

void ImageDataset::set_transform(const ImageTransform& transform) {
  ATTND_CHECK_INPUT(transform.noise_std >= 0, "noise std must be >= 0, got ", transform.noise_std);
  transform_ = transform;
}

ImageDataset ImageDataset::with_transform(const ImageTransform& transform) const {
  ImageDataset copy = *this;
  copy.set_transform(transform);
  return copy;
}

torch::Tensor ImageDataset::image(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "image index ", i, " out of range [0, ", size(), ")");
  return images_[i];
}

int64_t ImageDataset::label(int64_t i) const {
  ATTND_CHECK(i >= 0 && i < size(), "label index ", i, " out of range [0, ", size(), ")");
  return labels_[i].item<int64_t>();
}

Batch ImageDataset::get(const std::vector<int64_t>& indices, uint64_t augment_seed) const {
  const int64_t n = size();
  for (int64_t i : indices) ATTND_CHECK(i >= 0 && i < n, "example index ", i, " out of range [0, ", n, ")");
  const auto index = torch::tensor(indices, torch::kLong);
  torch::Tensor raw = images_.index_select(0, index);

  // Fixed transforms on the whole batch; ~x == 255 - x for uint8.
  const int64_t quarters = ((transform_.rotate_quarters % 4) + 4) % 4;
  if (quarters) raw = torch::rot90(raw, quarters, {2, 3});
  if (transform_.invert) raw = raw.bitwise_not();
  raw = raw.contiguous();

  const int64_t batch = raw.size(0), channels = raw.size(1), h = raw.size(2), w = raw.size(3);
  torch::Tensor out = torch::empty({batch, channels, h, w}, torch::kFloat);
  float* dst = out.data_ptr<float>();
  const uint8_t* src = raw.data_ptr<uint8_t>();
  const int64_t pad = augment_.crop_pad;
  const bool noisy = transform_.noise_std > 0;

  for (int64_t b = 0; b < batch; ++b) {
    const auto example = static_cast<uint64_t>(indices[static_cast<size_t>(b)]);
    int64_t dy = pad, dx = pad;  // crop offset inside the padded image; pad = centred = no crop
    bool flip = false;
    if (augment_.enabled()) {
      std::mt19937_64 rng(mix_seed(augment_seed, example));
      if (pad > 0) {
        dy = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(2 * pad + 1)));
        dx = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(2 * pad + 1)));
      }
      if (augment_.horizontal_flip) flip = (rng() >> 63) != 0;
    }
    // Noise belongs to the shifted dataset, not to the step: seeded by the example only.
    std::mt19937_64 noise_rng(mix_seed(mix_seed(transform_.noise_seed, example), 0x6e6f697365ULL));
    const uint8_t* img = src + b * channels * h * w;
    float* o = dst + b * channels * h * w;
    for (int64_t c = 0; c < channels; ++c) {
      const double mean = mean_[static_cast<size_t>(c)], std = std_[static_cast<size_t>(c)];
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          // Output (y, x) is cropped (y, x') with x' flipped, which is padded (y+dy, x'+dx).
          const int64_t sy = y + dy - pad;
          const int64_t sx = (flip ? w - 1 - x : x) + dx - pad;
          const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          double v = inside ? img[(c * h + sy) * w + sx] / 255.0 : 0.0;
          if (noisy) v = std::clamp(v + transform_.noise_std * standard_normal(noise_rng), 0.0, 1.0);
          o[(c * h + y) * w + x] = static_cast<float>((v - mean) / std);
        }
      }
    }
  }

  Batch result;
  result.input.pixel_values = out;
  result.labels = labels_.index_select(0, index);
  return result;
}

torch::Tensor ImageDataset::to_uint8(const torch::Tensor& pixel_values) const {
  ATTND_CHECK(pixel_values.dim() == 3 || pixel_values.dim() == 4,
              "to_uint8 expects [C, H, W] or [B, C, H, W], got ", pixel_values.sizes());
  const auto c = static_cast<int64_t>(mean_.size());
  const auto options = torch::TensorOptions().dtype(torch::kDouble);
  auto mean = torch::tensor(mean_, options).view({c, 1, 1}).to(pixel_values.device());
  auto std = torch::tensor(std_, options).view({c, 1, 1}).to(pixel_values.device());
  auto unit = pixel_values.to(torch::kDouble) * std + mean;
  return (unit * 255.0).round().clamp(0, 255).to(torch::kUInt8);
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

ImageDataset load_fashion_mnist(const std::string& dir, bool train) {
  namespace fs = std::filesystem;
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = (fs::path(dir) / (prefix + "-images-idx3-ubyte.gz")).string();
  const std::string labels_path = (fs::path(dir) / (prefix + "-labels-idx1-ubyte.gz")).string();
  const char* hint =
      "; install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
      "or pass --data-dir";
  std::error_code ec;
  ATTND_CHECK_INPUT(fs::is_directory(dir, ec), "Fashion-MNIST directory not found: ", dir, hint);
  for (const auto& p : {images_path, labels_path})
    ATTND_CHECK_INPUT(fs::is_regular_file(p, ec), "Fashion-MNIST file not found: ", p, hint);

  const IdxArray images = read_idx(images_path, 3);
  const IdxArray labels = read_idx(labels_path, 1);
  const int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  ATTND_CHECK_INPUT(labels.dims[0] == n, "Fashion-MNIST ", images_path, " has ", n, " images but ",
                    labels_path, " has ", labels.dims[0], " labels");
  for (uint8_t l : labels.data)
    ATTND_CHECK_INPUT(l < 10, "Fashion-MNIST ", labels_path, " has label ", int(l),
                      "; expected 0..9");

  torch::Tensor image_tensor = torch::empty({n, 1, h, w}, torch::kUInt8);
  std::memcpy(image_tensor.data_ptr<uint8_t>(), images.data.data(), images.data.size());
  torch::Tensor label_tensor = torch::empty({n}, torch::kUInt8);
  std::memcpy(label_tensor.data_ptr<uint8_t>(), labels.data.data(), labels.data.size());
  return ImageDataset(image_tensor, label_tensor.to(torch::kLong), fashion_mnist_class_names(),
                      {kFashionMnistMean}, {kFashionMnistStd});
}

ImageTransform parse_image_transform(const std::string& spec) {
  ImageTransform t;
  std::stringstream in(spec);
  std::string part;
  while (std::getline(in, part, '+')) {
    if (part == "none") continue;
    if (part == "invert") {
      t.invert = true;
    } else if (part == "rotate90" || part == "rotate180" || part == "rotate270") {
      t.rotate_quarters += std::stoll(part.substr(6)) / 90;
    } else if (part.rfind("noise:", 0) == 0) {
      const auto std_dev = to_double(std::string_view(part).substr(6));
      ATTND_CHECK_INPUT(std_dev && *std_dev >= 0, "image shift '", spec, "': '", part,
                        "' needs a non-negative standard deviation, e.g. noise:0.2");
      t.noise_std = *std_dev;
    } else {
      throw_input_error("image shift '", spec, "': '", part, "' is not known (expected none, "
                        "invert, rotate90, rotate180, rotate270 or noise:<std>, joined by +)");
    }
  }
  return t;
}

}  // namespace attnd
