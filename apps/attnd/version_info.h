#pragma once

#include <string>

namespace attnd::cli {
// attnd's version, LibTorch's, the live BLAS library and thread counts, one per line.
std::string version_text();
}  // namespace attnd::cli
