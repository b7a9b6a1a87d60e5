// Image classification data: uint8 images [N, C, H, W] with class labels, served as normalised
// float batches, with optional seeded augmentation and fixed distribution-shift transforms.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnd/data/batch.h"

namespace attnd {

// Random augmentation for training, drawn per example from (augment_seed, example index): the
// same (indices, seed) always gives the same pixels, whatever the batch composition.
struct Augmentation {
  int64_t crop_pad = 0;  // > 0: zero-pad each side by this many pixels, then crop back at random
  bool horizontal_flip = false;  // flip left-right with probability 1/2 (after the crop)
  bool enabled() const { return crop_pad > 0 || horizontal_flip; }
};

// A fixed transform of every example, for distribution-shift evaluation. Applied before
// augmentation, in this order: rotate, invert, (augmentation), noise, normalisation.
struct ImageTransform {
  int64_t rotate_quarters = 0;  // rotate counter-clockwise by k * 90 degrees (torch.rot90)
  bool invert = false;          // pixel -> 255 - pixel
  double noise_std = 0.0;       // additive Gaussian noise on the [0, 1] scale, clamped to [0, 1]
  uint64_t noise_seed = 0;      // example i's noise depends only on (noise_seed, i)
  bool identity() const { return rotate_quarters % 4 == 0 && !invert && noise_std == 0.0; }
};

// "none", "invert", "rotate90" | "rotate180" | "rotate270", "noise:<std>" (on the [0, 1] scale),
// or several joined by '+' ("invert+noise:0.2"). InputError names the part it cannot read.
ImageTransform parse_image_transform(const std::string& spec);

class ImageDataset : public Dataset {
 public:
  // images: uint8 [N, C, H, W] (or [N, H, W], read as C = 1); labels: integer [N]. class_names
  // may be empty (then the number of classes is max label + 1); otherwise every label must index
  // it. mean / std: per channel, or one value for all. InputError for inconsistent inputs.
  ImageDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> class_names,
               std::vector<double> mean, std::vector<double> std);

  int64_t size() const override { return images_.size(0); }
  // Batch{input.pixel_values: float [B, C, H', W'] normalised, labels: long [B]} on the CPU.
  // H' x W' is H x W, or W x H after an odd number of quarter turns.
  Batch get(const std::vector<int64_t>& indices, uint64_t augment_seed) const override;

  void set_augmentation(const Augmentation& augment);
  const Augmentation& augmentation() const { return augment_; }
  void set_transform(const ImageTransform& transform);
  const ImageTransform& transform() const { return transform_; }
  // A copy sharing the pixel data, with another transform (e.g. a shifted test set).
  ImageDataset with_transform(const ImageTransform& transform) const;

  // Raw uint8 [C, H, W] of example i (no transform, no augmentation), for visualisation.
  torch::Tensor image(int64_t i) const;
  int64_t label(int64_t i) const;
  const torch::Tensor& images() const { return images_; }  // uint8 [N, C, H, W]
  const torch::Tensor& labels() const { return labels_; }  // long [N]
  const std::vector<std::string>& class_names() const { return class_names_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t channels() const { return images_.size(1); }
  int64_t height() const { return images_.size(2); }
  int64_t width() const { return images_.size(3); }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& std() const { return std_; }

  // Undoes the normalisation: float [B, C, H, W] or [C, H, W] -> uint8, for pictures.
  torch::Tensor to_uint8(const torch::Tensor& pixel_values) const;

 private:
  torch::Tensor images_;  // uint8 [N, C, H, W], contiguous, CPU
  torch::Tensor labels_;  // long [N], CPU
  std::vector<std::string> class_names_;
  int64_t num_classes_ = 0;
  std::vector<double> mean_, std_;  // one per channel
  Augmentation augment_;
  ImageTransform transform_;
};

// Fashion-MNIST (Debian package dataset-fashion-mnist).
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;
const std::vector<std::string>& fashion_mnist_class_names();

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `dir`: 60000 training or 10000
// test images, 1 x 28 x 28. A missing directory or file is an InputError that says to install
// the Debian package dataset-fashion-mnist or pass --data-dir.
ImageDataset load_fashion_mnist(const std::string& dir, bool train);

}  // namespace attnd
