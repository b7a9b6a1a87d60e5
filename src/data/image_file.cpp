#include "attnd/data/image_file.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>

#include "attnd/core/error.h"

// The one definition of stb_image in attnd (stb_image_write lives in viz/image.cpp).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace attnd {

torch::Tensor read_image_file(const std::string& path, int channels) {
  ATTND_CHECK_INPUT(channels == 1 || channels == 3, "image channels must be 1 or 3, got ", channels);
  ATTND_CHECK_INPUT(std::filesystem::is_regular_file(path), path, ": no such image file");
  int w = 0, h = 0, n = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &n, channels);
  ATTND_CHECK_INPUT(data != nullptr, path, ": not a readable image (", stbi_failure_reason(), ")");
  auto hwc = torch::empty({h, w, channels}, torch::kUInt8);
  std::memcpy(hwc.data_ptr<uint8_t>(), data, static_cast<size_t>(w) * h * channels);
  stbi_image_free(data);
  return hwc.permute({2, 0, 1}).contiguous();
}

}  // namespace attnd
