#pragma once

#include <torch/types.h>

#include <map>
#include <string>

namespace attnd {
// Named tensors in name order: a state dict, a safetensors file's content.
using TensorMap = std::map<std::string, torch::Tensor>;
}  // namespace attnd
