#include "version_info.h"

#include <dlfcn.h>
#include <link.h>
#include <torch/torch.h>

#include <cstdlib>
#include <sstream>

#include "attnd/core/torch_compat.h"

namespace attnd::cli {

namespace {
// The file behind the libblas.so.3 LibTorch calls (Debian's alternatives pick reference BLAS or
// OpenBLAS; the difference is ~16x on matmuls).
std::string live_blas() {
  std::string found;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libblas") != std::string::npos || name.find("openblas") != std::string::npos ||
            name.find("libmkl") != std::string::npos) {
          auto* out = static_cast<std::string*>(data);
          char resolved[4096];
          if (realpath(name.c_str(), resolved)) name = resolved;
          if (out->find(name) == std::string::npos) *out += (out->empty() ? "" : ", ") + name;
        }
        return 0;
      },
      &found);
  if (found.empty()) return "not loaded";
  if (found.find("openblas") != std::string::npos) return "OpenBLAS (" + found + ")";
  if (found.find("blas/libblas") != std::string::npos)
    return "reference BLAS (" + found + ") -- slow: install libopenblas0-pthread";
  return found;
}
}  // namespace

std::string version_text() {
  std::ostringstream out;
  out << "attnd " << ATTND_VERSION << "\n";
  out << "LibTorch " << compat::torch_version() << " (CUDA "
      << (torch::cuda::is_available() ? "available, " + std::to_string(torch::cuda::device_count()) +
                                            " device(s)"
                                      : std::string("not available"))
      << ")\n";
  out << "BLAS " << live_blas() << "\n";
  const char* openblas_threads = std::getenv("OPENBLAS_NUM_THREADS");
  out << "threads: torch intra-op " << at::get_num_threads() << ", inter-op "
      << at::get_num_interop_threads() << ", OPENBLAS_NUM_THREADS "
      << (openblas_threads ? openblas_threads : "unset") << "\n";
  return out.str();
}

}  // namespace attnd::cli
