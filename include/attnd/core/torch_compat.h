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

// c10d (train/distributed.cpp): from 2.0 the Gloo and NCCL process groups derive from
// c10d::Backend, which c10d::ProcessGroup wraps; in 1.13 they derive from c10d::ProcessGroup.
#define ATTND_C10D_GROUPS_ARE_BACKENDS ATTND_TORCH_AT_LEAST(2, 0)

#include <sstream>
#include <string>
#include <type_traits>

namespace attnd::compat {
inline const char* torch_version() { return TORCH_VERSION; }

// torch::optim keys its per-parameter state by the TensorImpl's address: as a string in 1.13
// (c10::guts::to_string of the pointer), as the raw pointer in later versions.
template <typename StateMap, typename TensorImplPtr>
typename StateMap::key_type optimizer_state_key(const StateMap&, TensorImplPtr impl) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << static_cast<const void*>(impl);
    return out.str();
  } else {
    return static_cast<Key>(impl);
  }
}
}  // namespace attnd::compat
