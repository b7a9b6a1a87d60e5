// Every difference between the LibTorch versions attnd supports (1.13 ... 2.x) is guarded here,
// and only here. Debian's 1.13.1 says 1.13.0 in version.h: compare major/minor only.
#pragma once

#include <torch/version.h>

#define ATTND_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||        \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

#if ATTND_TORCH_AT_LEAST(2, 1)
#include <optional>
namespace attnd::compat {
template <typename T>
using optional = std::optional<T>;
}
#else
#include <c10/util/Optional.h>
namespace attnd::compat {
template <typename T>
using optional = c10::optional<T>;
}
#endif

namespace attnd::compat {
inline const char* torch_version() { return TORCH_VERSION; }
}  // namespace attnd::compat
