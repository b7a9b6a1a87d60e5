// Image files in (PNG, JPEG, BMP, ... through stb_image), for users' own detection data.
#pragma once

#include <torch/types.h>

#include <string>

namespace attnd {

// uint8 [channels, H, W]; channels 1 (grey: stb's luminance, exact for grey RGB files) or 3.
// InputError naming the file when it is missing or not an image stb_image can read.
torch::Tensor read_image_file(const std::string& path, int channels);

}  // namespace attnd
