#include "attnd/models/checkpoint_state.h"

#include <torch/torch.h>

namespace attnd {

TensorMap checkpoint_state(const ModelImpl& model) {
  TensorMap out = model.state();
  for (const auto& item : model.named_buffers(/*recurse=*/true)) out[item.key()] = item.value();
  return out;
}

}  // namespace attnd
